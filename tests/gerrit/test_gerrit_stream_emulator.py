"""driverci's stream client against the real emulator: no event lost, none repeated.

A CI listens with :class:`GerritEventStream` (catching up over the emulator's REST API) while
Gerrit announces a burst of patch sets. Twice things go wrong in the middle of the burst: the
server cuts the SSH connection, or the CI reads so slowly that Gerrit's per-connection queue
of 128 overflows and it sends ``dropped-output``. Either way the CI must be handed every
patch set's patchset-created exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

from driverci.emulator.ssh.server import SSHServerHandle
from driverci.emulator.state.model import FileChange
from driverci.gerrit.models import DroppedOutputEvent, GerritEvent, PatchsetCreatedEvent
from driverci.gerrit.rest import GerritRestClient
from driverci.gerrit.stream import GerritEventStream
from world import PROJECT, GerritWorld, wait_until

PatchSetKey = tuple[int, int]  # (change number, patch set number)


class QuickStream(GerritEventStream):
    """The real client with reconnect waits short enough for a test."""

    BACKOFF_BASE = 0.05
    BACKOFF_MAX = 0.2
    CATCH_UP_MARGIN = timedelta(seconds=5)


class SmallQueueStream(QuickStream):
    """A client that stops reading the SSH channel soon when its consumer stalls."""

    QUEUE_SIZE = 16


def ssh_server(world: GerritWorld) -> SSHServerHandle:
    # Tests use the SSH handle to cut connections and watch dropped events.
    handle: SSHServerHandle = world.server.ssh
    return handle


@dataclass
class Consumer:
    """A CI's loop over the stream; ``gate`` cleared makes it stop taking events."""

    stream: GerritEventStream
    events: list[GerritEvent] = field(default_factory=list)
    gate: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.gate.set()
        self._task = asyncio.create_task(self._consume())

    async def _consume(self) -> None:
        async for event in self.stream.events():
            self.events.append(event)
            await self.gate.wait()

    def created(self) -> Counter[PatchSetKey]:
        return Counter(
            (event.change.number, event.patch_set.number)
            for event in self.events
            if isinstance(event, PatchsetCreatedEvent)
        )

    async def stop(self) -> None:
        await self.stream.aclose()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def listening(
    world: GerritWorld, stream_class: type[GerritEventStream] = QuickStream
) -> AsyncIterator[Consumer]:
    handle = ssh_server(world)
    async with GerritRestClient(world.url) as rest:
        stream = stream_class(
            "127.0.0.1",
            world.ssh_port,
            "sandbox-redfish-ci",
            world.tmp / "ci_key",
            verify_host_key=False,
            rest_client=rest,
            project=PROJECT,
        )
        consumer = Consumer(stream)
        try:
            await wait_until(lambda: handle.stream_subscribers > 0, 10, "the stream to subscribe")
            yield consumer
        finally:
            await consumer.stop()


class Burst:
    """Uploads patch sets straight into the emulator's state (fake commits, for speed)."""

    FILES = [FileChange("ironic/drivers/modules/redfish/power.py", "M", 2, 1)]

    def __init__(self, world: GerritWorld) -> None:
        self.world = world
        self.base = world.state.get_project(PROJECT).branches["master"].revision
        self.uploaded: list[PatchSetKey] = []

    def upload(self, count: int) -> None:
        for _ in range(count):
            index = len(self.uploaded) + 1
            revision = f"{0xB0000000 + index:040x}"
            change, patch_set = self.world.state.upload_patch_set(
                PROJECT,
                "master",
                f"I{revision}",
                revision,
                [self.base],
                f"Burst change {index}\n\nChange-Id: I{revision}\n",
                self.FILES,
                self.world.accounts["alice"],
            )
            self.uploaded.append((change.number, patch_set.number))

    async def upload_paced(self, count: int, chunk: int = 20) -> None:
        """``count`` uploads, letting the event loop deliver after every ``chunk``."""
        for start in range(0, count, chunk):
            self.upload(min(chunk, count - start))
            await asyncio.sleep(0.005)


def assert_each_once(consumer: Consumer, burst: Burst) -> None:
    created = consumer.created()
    assert set(created) == set(burst.uploaded), "patch sets missing or unexpected"
    repeated = {key: n for key, n in created.items() if n > 1}
    assert not repeated, f"patch sets yielded more than once: {repeated}"


async def test_a_connection_cut_mid_burst_loses_and_repeats_nothing(world: GerritWorld) -> None:
    burst = Burst(world)
    async with listening(world) as consumer:
        await burst.upload_paced(250)
        await wait_until(lambda: len(consumer.created()) >= 100, 10, "live events before the cut")

        cut = await ssh_server(world).disconnect_all()
        assert cut >= 1
        # Announced while the CI is disconnected: only the catch-up can bring these.
        burst.upload(30)
        await burst.upload_paced(220)
        assert len(burst.uploaded) == 500

        await wait_until(
            lambda: set(consumer.created()) >= set(burst.uploaded), 20, "all 500 patch sets"
        )
        await asyncio.sleep(0.3)  # anything repeated late would show up now
        assert_each_once(consumer, burst)
        stats = consumer.stream.stats
        assert stats.reconnects >= 1
        assert stats.catch_ups >= 1
        assert stats.catch_up_events >= 30
        assert stats.duplicates_suppressed >= 1  # the catch-up overlapped what came live


async def test_a_slow_reader_gets_dropped_output_and_still_every_event(
    world: GerritWorld,
) -> None:
    burst = Burst(world)
    async with listening(world, SmallQueueStream) as consumer:
        await burst.upload_paced(10)
        await wait_until(lambda: len(consumer.created()) == 10, 10, "the first events")

        # The CI stalls: its queue fills, the SSH window (2 MiB, some 2,400 events) fills,
        # flow control stops the server's writer and Gerrit's queue of 128 overflows.
        consumer.gate.clear()
        server = ssh_server(world)
        while server.stream_dropped_events < 200:
            # 40 uploads are 80 events: a fast reader's queue never overflows on these.
            await burst.upload_paced(40, chunk=40)
            assert len(burst.uploaded) < 10_000, "the server never dropped an event"
        await burst.upload_paced(100)  # and more after the overflow, still dropped
        assert len(burst.uploaded) > 1000
        consumer.gate.set()

        await wait_until(
            lambda: set(consumer.created()) >= set(burst.uploaded), 20, "every patch set"
        )
        await asyncio.sleep(0.3)
        assert_each_once(consumer, burst)
        stats = consumer.stream.stats
        assert stats.dropped_outputs >= 1
        assert any(isinstance(event, DroppedOutputEvent) for event in consumer.events)
        assert stats.catch_ups >= 1
        assert stats.catch_up_events >= 1
        assert stats.reconnects == 0  # the connection stayed up; the catch-up filled the gap
