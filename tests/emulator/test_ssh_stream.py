"""``gerrit stream-events`` as a CI listens to it: live events, filters, and back-pressure."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from driverci.emulator.git.store import GitStore
from driverci.emulator.ssh.server import SSHServerHandle, start_ssh_server
from driverci.emulator.state.journal import EmulatorState
from driverci.emulator.state.model import Account, Change, EmulatorEvent, FileChange

IRONIC = "openstack/ironic"
BASE = "1" * 40


@dataclass
class Gerrit:
    state: EmulatorState
    server: SSHServerHandle
    key: asyncssh.SSHKey
    owner: Account
    ci: Account

    async def stream(
        self, command: str = "gerrit stream-events", window: int = 2 * 1024 * 1024
    ) -> tuple[asyncssh.SSHClientConnection, asyncssh.SSHClientProcess[str]]:
        conn = await asyncssh.connect(
            "127.0.0.1",
            self.server.port,
            username="acme-ci",
            client_keys=[self.key],
            known_hosts=None,
        )
        process = await conn.create_process(command, window=window, max_pktsize=16384)
        await self.wait_for_subscribers(1)
        return conn, process

    async def wait_for_subscribers(self, count: int) -> None:
        hub = self.server._hub
        for _ in range(200):
            if hub.subscriber_count >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("stream-events never subscribed")


@pytest.fixture
async def gerrit(tmp_path: Path) -> AsyncIterator[Gerrit]:
    state = EmulatorState(tmp_path / "state", web_url="http://review.test")
    key = asyncssh.generate_private_key("ssh-ed25519")
    owner = state.add_account("alice", "Alice Developer", "alice@example.com")
    ci = state.add_account(
        "acme-ci",
        "Acme Ironic CI",
        "ci@acme.test",
        ssh_keys=[key.export_public_key("openssh").decode()],
        tags=["SERVICE_USER"],  # Service Users may stream events, as on real Gerrit
    )
    state.create_project(IRONIC, voters={"Verified": ["zuul"]})
    state.set_branch(IRONIC, "master", BASE)
    server = await start_ssh_server(
        state, GitStore(tmp_path / "git"), "127.0.0.1", 0, tmp_path / "host_key"
    )
    try:
        yield Gerrit(state, server, key, owner, ci)
    finally:
        await server.close()
        state.close()


def upload(gerrit: Gerrit, index: int) -> Change:
    revision = f"{index:040x}"
    change, _ = gerrit.state.upload_patch_set(
        IRONIC,
        "master",
        f"I{revision}",
        revision,
        [BASE],
        f"Change {index}\n\nChange-Id: I{revision}\n",
        [FileChange("ironic/conductor/manager.py", "M", 3, 1)],
        gerrit.owner,
    )
    return change


async def read_event(process: asyncssh.SSHClientProcess[str], timeout: float = 5) -> dict[str, Any]:
    line = await asyncio.wait_for(process.stdout.readline(), timeout)
    event: dict[str, Any] = json.loads(line)
    return event


async def read_until_quiet(
    process: asyncssh.SSHClientProcess[str], quiet: float = 0.5
) -> list[dict[str, Any]]:
    events = []
    while True:
        try:
            events.append(await read_event(process, quiet))
        except TimeoutError:
            return events


async def test_a_new_patch_set_and_a_review_reach_the_stream(gerrit: Gerrit) -> None:
    conn, process = await gerrit.stream()
    async with conn:
        change = upload(gerrit, 1)
        ref_updated = await read_event(process)
        created = await read_event(process)
        assert ref_updated["type"] == "ref-updated"
        assert ref_updated["refUpdate"]["refName"] == "refs/changes/01/1/1"
        assert created["type"] == "patchset-created"
        assert created["change"]["number"] == 1
        assert created["patchSet"]["revision"] == change.current.revision
        assert created["uploader"]["username"] == "alice"

        gerrit.state.post_review(change, change.current, gerrit.ci, "Build succeeded.")
        comment = await read_event(process)
        assert comment["type"] == "comment-added"
        assert comment["author"] == {
            "name": "Acme Ironic CI",
            "email": "ci@acme.test",
            "username": "acme-ci",
        }
        assert comment["comment"] == "Patch Set 1:\n\nBuild succeeded."
        # The CI may not vote Verified on ironic: only the labels it may vote, at "0".
        assert {a["type"]: a["value"] for a in comment["approvals"]} == {
            "Code-Review": "0",
            "Workflow": "0",
        }


async def test_approval_values_are_strings_with_old_values(gerrit: Gerrit) -> None:
    change = upload(gerrit, 1)
    conn, process = await gerrit.stream("gerrit stream-events -s comment-added")
    async with conn:
        gerrit.state.post_review(change, change.current, gerrit.owner, "", {"Code-Review": -1})
        event = await read_event(process)
        by_label = {a["type"]: a for a in event["approvals"]}
        assert by_label["Code-Review"] == {
            "type": "Code-Review",
            "description": "Code-Review",
            "value": "-1",
            "oldValue": "0",
        }


async def test_subscribing_to_types_filters_the_stream(gerrit: Gerrit) -> None:
    conn, process = await gerrit.stream(
        "gerrit stream-events -s comment-added --subscribe change-abandoned"
    )
    async with conn:
        change = upload(gerrit, 1)  # ref-updated and patchset-created: filtered out
        gerrit.state.post_review(change, change.current, gerrit.ci, "Starting check jobs.")
        gerrit.state.abandon_change(change, gerrit.owner, "Duplicate")
        assert (await read_event(process))["type"] == "comment-added"
        abandoned = await read_event(process)
        assert abandoned["type"] == "change-abandoned"
        assert abandoned["reason"] == "Duplicate"
        assert abandoned["abandoner"]["username"] == "alice"


async def test_a_slow_reader_gets_dropped_output_and_the_stream_goes_on(gerrit: Gerrit) -> None:
    change = upload(gerrit, 1)
    # A small window: the client stops granting window once its buffer is full.
    conn, process = await gerrit.stream(window=16 * 1024)
    async with conn:
        for index in range(1000):
            gerrit.state.emit(
                EmulatorEvent(
                    "patchset-created",
                    datetime.now(UTC),
                    project=IRONIC,
                    change_number=change.number,
                    patch_set=1,
                    account_id=gerrit.owner.account_id,
                    extra={"index": index},
                )
            )
            if index % 50 == 0:
                await asyncio.sleep(0)  # let the writer fill the channel meanwhile
        events = await read_until_quiet(process)
        types = [event["type"] for event in events]
        assert "dropped-output" in types
        assert isinstance(events[types.index("dropped-output")]["eventCreatedOn"], int)
        assert types.count("patchset-created") < 1000

        gerrit.state.post_review(change, change.current, gerrit.owner, "Still listening?")
        later = await read_event(process)
        assert later["type"] == "comment-added"
        assert later["comment"].endswith("Still listening?")


async def test_disconnecting_removes_the_listener(gerrit: Gerrit) -> None:
    conn, _ = await gerrit.stream()
    conn.close()
    await conn.wait_closed()
    for _ in range(200):
        if gerrit.server._hub.subscriber_count == 0:
            break
        await asyncio.sleep(0.01)
    assert gerrit.server._hub.subscriber_count == 0
    assert gerrit.state._listeners == []
    upload(gerrit, 2)  # no listener left to fail


async def test_many_events_stream_fast_to_a_fast_reader(gerrit: Gerrit) -> None:
    change = upload(gerrit, 1)
    conn, process = await gerrit.stream()
    async with conn:
        count = 2000
        started = asyncio.get_running_loop().time()

        async def produce() -> None:
            for _ in range(count):
                gerrit.state.post_review(change, change.current, gerrit.ci, "recheck")
                await asyncio.sleep(0)

        producer = asyncio.create_task(produce())
        received = 0
        while received < count:
            event = await read_event(process)
            assert event["type"] == "comment-added"
            received += 1
        await producer
        elapsed = asyncio.get_running_loop().time() - started
        print(f"stream-events: {count} events in {elapsed:.2f}s = {count / elapsed:.0f}/s")
        assert received == count
