"""The story of issue 2: a developer pushes to the emulated Gerrit as to the real one.

Alice clones openstack/ironic over HTTP with the real git, installs Gerrit's commit-msg hook
from the server, fixes a Redfish driver file and pushes it to refs/for/master. A third-party
CI listening with driverci's own stream client sees patchset-created for that commit, and a
REST query finds the change with that revision and exactly the edited file. The CI then
amends the commit and pushes it over SSH, as git-review does: a second patch set.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from driverci.emulator.ssh.server import SSHServerHandle
from driverci.gerrit.models import GerritEvent, PatchsetCreatedEvent
from driverci.gerrit.rest import GerritRestClient
from driverci.gerrit.stream import GerritEventStream
from world import PROJECT, GerritWorld, wait_until

pytestmark = pytest.mark.skipif(
    shutil.which("git") is None or shutil.which("ssh") is None, reason="needs git and ssh"
)

DRIVER_FILE = "ironic/drivers/modules/redfish/power.py"


class QuickStream(GerritEventStream):
    """driverci's stream client with reconnect waits short enough for a test."""

    BACKOFF_BASE = 0.05
    BACKOFF_MAX = 0.2
    CATCH_UP_MARGIN = timedelta(seconds=5)


def ssh_server(world: GerritWorld) -> SSHServerHandle:
    # Tests use the SSH handle to wait for subscribers and to cut connections.
    handle: SSHServerHandle = world.server.ssh
    return handle


class Listener:
    """A CI's view of the stream: every event it was handed, gathered by a background task."""

    def __init__(self, stream: GerritEventStream) -> None:
        self.stream = stream
        self.events: list[GerritEvent] = []
        self._task = asyncio.create_task(self._consume())

    async def _consume(self) -> None:
        async for event in self.stream.events():
            self.events.append(event)

    def patch_sets_created(self, number: int) -> list[PatchsetCreatedEvent]:
        return [
            event
            for event in self.events
            if isinstance(event, PatchsetCreatedEvent) and event.change.number == number
        ]

    async def stop(self) -> None:
        await self.stream.aclose()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def ci_listening(world: GerritWorld) -> AsyncIterator[Listener]:
    """sandbox-redfish-ci streaming events with its key, catching up over REST."""
    handle = ssh_server(world)
    before = handle.stream_subscribers
    async with GerritRestClient(world.url) as rest:
        stream = QuickStream(
            "127.0.0.1",
            world.ssh_port,
            "sandbox-redfish-ci",
            world.tmp / "ci_key",
            verify_host_key=False,
            rest_client=rest,
            project=PROJECT,
        )
        listener = Listener(stream)
        try:
            await wait_until(
                lambda: handle.stream_subscribers > before, 10, "the CI's stream to subscribe"
            )
            yield listener
        finally:
            await listener.stop()


class Workspace:
    """A developer's clone, driven by the real git CLI (asynchronously: the emulator shares
    this event loop, so a blocking git call would deadlock it)."""

    def __init__(self, path: Path, env: dict[str, str]) -> None:
        self.path = path
        self.env = env

    async def git(self, *args: str, cwd: Path | None = None) -> str:
        process = await asyncio.create_subprocess_exec(
            "git",
            *args,
            cwd=cwd or self.path,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), 60)
        text = output.decode(errors="replace")
        assert process.returncode == 0, f"git {' '.join(args)} failed:\n{text}"
        return text

    async def head(self) -> str:
        return (await self.git("rev-parse", "HEAD")).strip()


async def clone_with_hook(world: GerritWorld) -> Workspace:
    env = {
        **os.environ,
        "HOME": str(world.tmp / "home"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
    }
    (world.tmp / "home").mkdir(exist_ok=True)
    workspace = Workspace(world.tmp / "ironic", env)
    await workspace.git("clone", f"{world.url}/{PROJECT}", str(workspace.path), cwd=world.tmp)
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{world.url}/tools/hooks/commit-msg")
    assert response.status_code == 200
    hook = workspace.path / ".git" / "hooks" / "commit-msg"
    hook.write_bytes(response.content)
    hook.chmod(0o755)
    return workspace


async def test_a_pushed_change_reaches_the_stream_and_the_rest_api(world: GerritWorld) -> None:
    workspace = await clone_with_hook(world)
    assert (workspace.path / DRIVER_FILE).read_text().startswith("def get_power_state")

    # Alice fixes the Redfish power driver and commits; the hook adds a Change-Id.
    (workspace.path / DRIVER_FILE).write_text("def get_power_state():\n    return 'off'\n")
    await workspace.git("commit", "-a", "-m", "Fix Redfish power state")
    message = await workspace.git("log", "-1", "--format=%B")
    assert "Change-Id: I" in message
    first_sha = await workspace.head()

    async with ci_listening(world) as listener:
        pushed = await workspace.git(
            "push",
            f"http://alice:alice-secret@127.0.0.1:{world.server.http_port}/a/{PROJECT}",
            "HEAD:refs/for/master",
        )
        assert "New Changes" in pushed or "/c/openstack/ironic/+/" in pushed
        change = next(iter(world.state.changes.values()))
        await wait_until(
            lambda: bool(listener.patch_sets_created(change.number)), 10, "patchset-created"
        )
        [created] = listener.patch_sets_created(change.number)
        assert created.project_name == PROJECT
        assert created.patch_set.number == 1
        assert created.patch_set.revision == first_sha
        assert created.uploader is not None and created.uploader.username == "alice"

        async with GerritRestClient(world.url) as rest:
            found = await rest.query_changes(
                f"project:{PROJECT} status:open", options=("CURRENT_REVISION", "CURRENT_FILES")
            )
        assert [c.number for c in found] == [change.number]
        assert found[0].current_revision == first_sha
        assert list(found[0].revisions[first_sha].files) == [DRIVER_FILE]
        assert found[0].subject == "Fix Redfish power state"

        # The CI amends the commit and pushes over SSH, as git-review would: patch set 2.
        (workspace.path / DRIVER_FILE).write_text("def get_power_state():\n    return 'unknown'\n")
        await workspace.git("commit", "-a", "--amend", "--no-edit")
        second_sha = await workspace.head()
        assert second_sha != first_sha
        workspace.env["GIT_SSH_COMMAND"] = (
            f"ssh -i {world.tmp / 'ci_key'} -o IdentitiesOnly=yes -o BatchMode=yes"
            " -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
        )
        await workspace.git(
            "push",
            f"ssh://sandbox-redfish-ci@127.0.0.1:{world.ssh_port}/{PROJECT}",
            "HEAD:refs/for/master",
        )
        await wait_until(
            lambda: len(listener.patch_sets_created(change.number)) == 2,
            10,
            "patchset-created for patch set 2",
        )
        second = listener.patch_sets_created(change.number)[1]
        assert second.patch_set.number == 2
        assert second.patch_set.revision == second_sha
        assert second.uploader is not None
        assert second.uploader.username == "sandbox-redfish-ci"

    assert len(world.state.changes) == 1
    assert [ps.revision for ps in change.patch_sets] == [first_sha, second_sha]
    async with GerritRestClient(world.url) as rest:
        current = await rest.get_change(change.number, ("CURRENT_REVISION", "CURRENT_FILES"))
    assert current.current_revision == second_sha
    assert list(current.revisions[second_sha].files) == [DRIVER_FILE]
