"""The shared story fixture itself: a push shows up on the stream and over REST."""

from __future__ import annotations

import asyncio

import asyncssh

from driverci.gerrit.models import PatchsetCreatedEvent, parse_event_line
from driverci.gerrit.rest import GerritRestClient
from world import PROJECT, GerritWorld


async def test_a_pushed_change_is_announced_and_queryable(world: GerritWorld) -> None:
    async with asyncssh.connect(
        "127.0.0.1",
        world.ssh_port,
        username="sandbox-redfish-ci",
        client_keys=[world.ci_key],
        known_hosts=None,
    ) as conn:
        process = await conn.create_process("gerrit stream-events -s patchset-created")
        await asyncio.sleep(0.2)
        change, patch_set = await world.push(
            {
                "ironic/drivers/modules/redfish/power.py": (
                    b"def get_power_state():\n    return 'off'\n"
                )
            },
            "Fix redfish power state",
        )
        line = await asyncio.wait_for(process.stdout.readline(), 10)
        process.close()
    event = parse_event_line(line)
    assert isinstance(event, PatchsetCreatedEvent)
    assert event.change.number == change.number
    assert event.patch_set.revision == patch_set.revision
    async with GerritRestClient(world.url) as client:
        found = await client.query_changes(
            f"project:{PROJECT} status:open", options=("CURRENT_REVISION", "CURRENT_FILES")
        )
    assert [c.number for c in found] == [change.number]
    revision = found[0].revisions[patch_set.revision]
    assert list(revision.files) == ["ironic/drivers/modules/redfish/power.py"]
