"""``gerrit stream-events``: one shared renderer, a bounded queue per connection.

Gerrit's ``sshd/commands/StreamEvents.java`` gives every connection a queue of 128 events
taken in batches of 32 (each event is written and flushed on its own here); when a slow
reader lets the queue fill, new events are dropped and the next write is a
``dropped-output`` event, after which the client must re-sync over REST.
:class:`EventStreamQueue` does the same on asyncio: the writer awaits the channel's drain,
so SSH flow control from a reader that stops reading stalls it and the queue fills.

:class:`StreamHub` renders each state event once (only when a connection wants it) and
hands the same bytes to every subscribed connection, so many readers cost one rendering.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

from driverci.emulator.ssh.stream_render import dropped_output_line, event_line
from driverci.emulator.state.journal import EmulatorState
from driverci.emulator.state.model import EmulatorEvent

log = logging.getLogger(__name__)


class EventStreamQueue:
    """Events waiting for one ``stream-events`` connection, written by :meth:`run`."""

    MAX_EVENTS = 128
    BATCH_SIZE = 32
    #: Pause between events written back to back (none before an event that comes alone,
    #: none under a burst).
    EVENT_GAP_SECONDS = 0.005

    def __init__(
        self,
        write: Callable[[bytes], None],
        drain: Callable[[], Awaitable[None]],
        clock: Callable[[], datetime],
        subscribed_types: Iterable[str] = (),
        label: str = "",
    ) -> None:
        self._write = write
        self._drain = drain
        self._clock = clock
        self.subscribed_types = frozenset(subscribed_types)
        self.label = label
        self._queue: deque[bytes] = deque()
        self._dropped = False
        self._wake = asyncio.Event()
        self.dropped_count = 0

    def wants(self, event_type: str) -> bool:
        return not self.subscribed_types or event_type in self.subscribed_types

    def offer(self, line: bytes) -> None:
        """Queue one rendered event; when the queue is full, drop it and remember that."""
        if len(self._queue) >= self.MAX_EVENTS:
            if not self._dropped:
                log.warning("stream-events %s: queue full, dropping events", self.label)
            self._dropped = True
            self.dropped_count += 1
        else:
            self._queue.append(line)
        self._wake.set()

    async def run(self) -> None:
        """Write queued events until cancelled or the channel fails (the error propagates)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue or self._dropped:
                batch: list[bytes] = []
                if self._dropped:
                    # As Gerrit: the marker is created when written, before the next batch.
                    batch.append(dropped_output_line(self._clock()))
                    self._dropped = False
                for _ in range(min(self.BATCH_SIZE, len(self._queue))):
                    batch.append(self._queue.popleft())
                # One channel write per event, each flushed on its own, and events that
                # follow one another at once a moment apart, as Gerrit's (posted by
                # different threads) come: a client that reads a line per wake-up of the
                # channel (gerritlib's poll + readline over paramiko) would otherwise leave
                # the second event of a push unread until the next one arrives.
                # Under a burst (a backlog of a batch or more) events go out at full speed,
                # as Gerrit's do when its queue fills.
                for index, line in enumerate(batch):
                    if index and len(batch) - index + len(self._queue) < self.BATCH_SIZE:
                        await asyncio.sleep(self.EVENT_GAP_SECONDS)
                    self._write(line)
                    await self._drain()


class StreamHub:
    """Listens on the state while any connection streams, rendering each event once."""

    def __init__(self, state: EmulatorState) -> None:
        self._state = state
        self._queues: list[EventStreamQueue] = []
        self._listening = False

    def subscribe(self, queue: EventStreamQueue) -> None:
        self._queues.append(queue)
        if not self._listening:
            self._state.add_listener(self._on_event)
            self._listening = True

    def unsubscribe(self, queue: EventStreamQueue) -> None:
        if queue in self._queues:
            self._queues.remove(queue)
        if not self._queues:
            self.close()

    def close(self) -> None:
        if self._listening:
            self._state.remove_listener(self._on_event)
            self._listening = False

    @property
    def subscriber_count(self) -> int:
        return len(self._queues)

    @property
    def dropped_count(self) -> int:
        """Events dropped so far by the connections still streaming (their queues were full)."""
        return sum(queue.dropped_count for queue in self._queues)

    def _on_event(self, event: EmulatorEvent) -> None:
        wanting = [queue for queue in self._queues if queue.wants(event.type)]
        if not wanting:
            return
        try:
            line = event_line(self._state, event)
        except (KeyError, TypeError, ValueError) as exc:
            # A listener must never fail the state mutation that called it.
            log.error(
                "cannot render %s event (change %s) for stream-events: %r",
                event.type,
                event.change_number,
                exc,
            )
            return
        for queue in wanting:
            queue.offer(line)
