"""Git over the emulated Gerrit's SSH port, driven by the real git and OpenSSH clients."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncssh
import pytest
from aiohttp import web

from driverci.emulator.git.http import add_git_routes
from driverci.emulator.git.receive import upload_change
from driverci.emulator.git.store import GitStore
from driverci.emulator.ssh.server import SSHServerHandle, start_ssh_server
from driverci.emulator.state.journal import EmulatorState

IRONIC = "openstack/ironic"
CHANGE_ID = "I" + "5" * 40

pytestmark = pytest.mark.skipif(
    shutil.which("git") is None or shutil.which("ssh") is None, reason="needs git and ssh"
)


@dataclass
class Gerrit:
    state: EmulatorState
    git: GitStore
    ssh: SSHServerHandle
    env: dict[str, str]

    def url(self, project: str = IRONIC) -> str:
        return f"ssh://alice@127.0.0.1:{self.ssh.port}/{project}"

    async def run_git(self, *args: str, cwd: Path) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            "git",
            *args,
            cwd=cwd,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        return await process.wait(), output.decode()


@pytest.fixture
async def gerrit(tmp_path: Path) -> AsyncIterator[Gerrit]:
    key = asyncssh.generate_private_key("ssh-ed25519")
    key_path = tmp_path / "id_ed25519"
    key.write_private_key(str(key_path))
    key_path.chmod(0o600)
    state = EmulatorState(tmp_path / "state")
    alice = state.add_account(
        "alice", "Alice Developer", "alice@example.com", ssh_keys=[key.export_public_key().decode()]
    )
    git = GitStore(tmp_path / "git")
    app = web.Application()
    add_git_routes(app, state, git)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.web_url = f"http://127.0.0.1:{port}"
    state.create_project(IRONIC)
    at = datetime(2026, 1, 5, tzinfo=UTC)
    base = await git.create_commit(
        IRONIC, None, {"README.rst": b"Ironic\n"}, "Initial commit", alice, at
    )
    await git.update_ref(IRONIC, "refs/heads/master", base)
    state.set_branch(IRONIC, "master", base, at=at)
    ssh = await start_ssh_server(state, git, "127.0.0.1", 0, tmp_path / "host_key")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Alice Developer",
        "GIT_AUTHOR_EMAIL": "alice@example.com",
        "GIT_COMMITTER_NAME": "Alice Developer",
        "GIT_COMMITTER_EMAIL": "alice@example.com",
        "GIT_SSH_COMMAND": (
            f"ssh -i {key_path} -o IdentitiesOnly=yes -o BatchMode=yes "
            "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
        ),
    }
    try:
        yield Gerrit(state, git, ssh, env)
    finally:
        await ssh.close()
        await runner.cleanup()
        state.close()


async def test_clone_and_fetch_a_change_ref_over_ssh(gerrit: Gerrit, tmp_path: Path) -> None:
    alice = gerrit.state.account_by_username("alice")
    assert alice is not None
    change, patch_set = await upload_change(
        gerrit.state,
        gerrit.git,
        IRONIC,
        "master",
        {"ironic/drivers/modules/redfish/boot.py": b"# boot\n"},
        "Fix redfish boot",
        alice,
    )
    status, output = await gerrit.run_git("clone", gerrit.url(), "ironic", cwd=tmp_path)
    assert status == 0, output
    assert (tmp_path / "ironic" / "README.rst").read_text() == "Ironic\n"
    work = tmp_path / "ironic"
    status, output = await gerrit.run_git("fetch", "origin", patch_set.ref, cwd=work)
    assert status == 0, output
    status, head = await gerrit.run_git("rev-parse", "FETCH_HEAD", cwd=work)
    assert head.strip() == patch_set.revision
    # The protocol v0 way (no GIT_PROTOCOL) and a ".git" suffix work too.
    status, output = await gerrit.run_git(
        "-c", "protocol.version=0", "ls-remote", gerrit.url(IRONIC + ".git"), cwd=tmp_path
    )
    assert status == 0, output
    assert f"{patch_set.revision}\t{patch_set.ref}" in output
    assert change.number == 1


async def test_git_speaks_protocol_v2_over_ssh(gerrit: Gerrit, tmp_path: Path) -> None:
    gerrit.env["GIT_TRACE_PACKET"] = "1"
    status, output = await gerrit.run_git(
        "-c", "protocol.version=2", "ls-remote", gerrit.url(), cwd=tmp_path
    )
    assert status == 0, output
    assert "ls-remote< version 2" in output
    assert "refs/heads/master" in output


async def test_push_for_review_over_ssh_creates_a_change(gerrit: Gerrit, tmp_path: Path) -> None:
    status, output = await gerrit.run_git("clone", gerrit.url(), "ironic", cwd=tmp_path)
    assert status == 0, output
    work = tmp_path / "ironic"
    (work / "ironic").mkdir()
    (work / "ironic" / "conductor.py").write_text("print('hi')\n")
    await gerrit.run_git("add", ".", cwd=work)
    message = f"Add conductor\n\nChange-Id: {CHANGE_ID}\n"
    status, output = await gerrit.run_git("commit", "-q", "-m", message, cwd=work)
    assert status == 0, output
    status, output = await gerrit.run_git("push", "origin", "HEAD:refs/for/master", cwd=work)
    assert status == 0, output
    [change] = gerrit.state.changes.values()
    assert change.change_id == CHANGE_ID
    assert change.subject == "Add conductor"
    assert [f.path for f in change.current.files] == ["ironic/conductor.py"]


async def test_an_unknown_project_is_refused(gerrit: Gerrit, tmp_path: Path) -> None:
    status, output = await gerrit.run_git("ls-remote", gerrit.url("no/such"), cwd=tmp_path)
    assert status != 0
    assert "not found" in output
