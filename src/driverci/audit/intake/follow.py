"""Keep the store current from Gerrit's event stream (``driverci audit collect --follow``).

Each relevant event makes the collector fetch that change again over REST and store it, so
the store always holds whole changes (the event is only a hint of what changed). The stream
client reconnects and catches up by itself; right after it first connects, one incremental
REST pass closes the gap between the backfill and the first event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from driverci.audit.intake.collect import RestCollector
from driverci.audit.intake.ingest import IngestCounts
from driverci.gerrit.models_events import ChangeEvent, GerritEvent
from driverci.gerrit.stream import GerritEventStream

log = logging.getLogger(__name__)

OnEvent = Callable[[ChangeEvent, IngestCounts], None]


@dataclass
class FollowStats:
    events: int = 0
    refreshed: int = 0
    messages_new: int = 0


class StoreFollower:
    """Refreshes a change in the store on every event that can change its facts."""

    RELEVANT = frozenset(
        {
            "patchset-created",
            "comment-added",
            "change-merged",
            "change-abandoned",
            "change-restored",
        }
    )
    CONNECT_POLL = 0.05  # seconds between looks at whether the stream has connected

    def __init__(self, collectors: Mapping[str, RestCollector], stream: GerritEventStream) -> None:
        self.collectors = dict(collectors)
        self.stream = stream
        self.stats = FollowStats()

    async def run(self, on_event: OnEvent | None = None) -> None:
        """Follow until cancelled (Ctrl-C) or the stream gives up (GerritUnreachable)."""
        queue: asyncio.Queue[GerritEvent] = asyncio.Queue()

        async def pump() -> None:
            async for event in self.stream.events():
                queue.put_nowait(event)

        pump_task = asyncio.create_task(pump())
        try:
            await self._close_gap(pump_task)
            while True:
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait(
                    {getter, pump_task}, return_when=asyncio.FIRST_COMPLETED
                )
                if getter not in done:
                    getter.cancel()
                    pump_task.result()  # raises what ended the stream
                    return
                await self.handle(getter.result(), on_event)
        finally:
            pump_task.cancel()
            await asyncio.gather(pump_task, return_exceptions=True)
            await self.stream.aclose()

    async def _close_gap(self, pump_task: asyncio.Task[None]) -> None:
        """Once connected, fetch what changed since the backfill (events queue meanwhile)."""
        while self.stream.stats.connects == 0 and not pump_task.done():
            await asyncio.sleep(self.CONNECT_POLL)
        if pump_task.done():
            pump_task.result()
            return
        for project, collector in self.collectors.items():
            summary = await collector.run()
            log.info("follow: caught up %s after connecting: %s", project, summary)

    async def handle(self, event: GerritEvent, on_event: OnEvent | None = None) -> None:
        """Refresh the change an event is about (ignoring other projects and event types)."""
        if event.type not in self.RELEVANT or not isinstance(event, ChangeEvent):
            return
        collector = self.collectors.get(event.project_name)
        if collector is None:
            return
        self.stats.events += 1
        number = event.change.number
        counts = await collector.refresh_change(number)
        self.stats.refreshed += 1
        self.stats.messages_new += counts.messages_new
        log.info(
            "follow: %s on %s change %d: %d new messages",
            event.type,
            event.project_name,
            number,
            counts.messages_new,
        )
        if on_event is not None:
            on_event(event, counts)
