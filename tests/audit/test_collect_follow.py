"""``audit collect --follow``: after the backfill, a new change and a CI's comment on it reach
the store from the event stream, without another collect run."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import select

from driverci.audit.intake.collect import RestCollector
from driverci.audit.intake.follow import StoreFollower
from driverci.audit.intake.ingest import Ingestor
from driverci.gerrit.rest import GerritRestClient
from driverci.gerrit.stream import GerritEventStream
from driverci.registry.loader import load_registry
from driverci.store.models import Change, ReviewMessage
from world import PROJECT, GerritWorld, wait_until


def _stored_messages(world: GerritWorld, number: int, author: str) -> list[str]:
    with world.store.transaction() as session:
        return list(
            session.scalars(
                select(ReviewMessage.message)
                .join(Change, Change.id == ReviewMessage.change_pk)
                .where(Change.number == number, ReviewMessage.author_username == author)
            )
        )


async def test_follow_keeps_the_store_current_from_the_event_stream(world: GerritWorld) -> None:
    registry = load_registry()
    async with GerritRestClient(world.url) as client:
        collector = RestCollector(Ingestor(world.store, registry), client, PROJECT)
        await collector.run()  # the backfill: nothing yet
        stream = GerritEventStream(
            "127.0.0.1",
            world.ssh_port,
            "sandbox-redfish-ci",
            world.tmp / "ci_key",
            verify_host_key=False,
            rest_client=client,
        )
        seen: list[str] = []
        follower = StoreFollower({PROJECT: collector}, stream)
        task = asyncio.create_task(follower.run(on_event=lambda e, _c: seen.append(e.type)))
        try:
            await wait_until(lambda: stream.stats.connects > 0, 20, "the stream to connect")
            change, _ = await world.push({"ironic/drivers/redfish.py": b"# v2\n"}, "Fix redfish")
            world.comment(
                change,
                "Build succeeded (check pipeline).\n\n"
                "- redfish-tempest http://logs.example.org/1/ : SUCCESS in 1h 02m 03s\n",
                author="sandbox-redfish-ci",
            )
            await wait_until(
                lambda: bool(_stored_messages(world, change.number, "sandbox-redfish-ci")),
                20,
                "the CI comment to reach the store",
            )
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert "patchset-created" in seen and "comment-added" in seen
    assert follower.stats.refreshed >= 2
    stored = _stored_messages(world, change.number, "sandbox-redfish-ci")
    assert any("redfish-tempest" in text for text in stored)
