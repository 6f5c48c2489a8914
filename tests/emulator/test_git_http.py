"""A developer clones the emulated openstack/ironic and pushes with plain git (HTTP and SSH)."""

from __future__ import annotations

import asyncio
import gzip
import os
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from driverci.emulator.git.receive import upload_change
from driverci.emulator.git.store import GitStore
from driverci.emulator.server import EmulatorServer
from driverci.emulator.state.journal import EmulatorState
from driverci.emulator.state.model import Account, EmulatorEvent

PROJECT = "openstack/ironic"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@dataclass
class GitResult:
    status: int
    stdout: str
    stderr: str


async def http_get(url: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.read()


def remote_lines(result: GitResult) -> list[str]:
    """What the server printed, as git shows it (without its padding)."""
    return [line.rstrip() for line in result.stderr.splitlines()]


@dataclass
class Emulator:
    state: EmulatorState
    git: GitStore
    url: str
    alice: Account
    base: str
    home: Path
    events: list[EmulatorEvent]
    server: EmulatorServer
    extra_env: dict[str, str] = field(default_factory=dict)

    def push_url(self, password: str = "alice-secret") -> str:
        return self.url.replace("http://", f"http://alice:{password}@") + f"/a/{PROJECT}"

    async def run(self, *args: str, cwd: Path | None = None) -> GitResult:
        """Run the git CLI as the developer would (async: the server shares this loop)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(
            HOME=str(self.home),
            GIT_CONFIG_NOSYSTEM="1",
            GIT_TERMINAL_PROMPT="0",
            GIT_AUTHOR_NAME="Alice Example",
            GIT_AUTHOR_EMAIL="alice@example.org",
            GIT_COMMITTER_NAME="Alice Example",
            GIT_COMMITTER_EMAIL="alice@example.org",
        )
        env.update(self.extra_env)
        process = await asyncio.create_subprocess_exec(
            "git",
            *args,
            cwd=cwd or self.home,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        assert process.returncode is not None
        return GitResult(process.returncode, out.decode(), err.decode())

    async def clone(self, name: str = "ironic") -> Path:
        result = await self.run("clone", "--quiet", f"{self.url}/{PROJECT}", name)
        assert result.status == 0, result.stderr
        return self.home / name

    async def install_commit_msg_hook(self, checkout: Path) -> None:
        status, script = await http_get(f"{self.url}/tools/hooks/commit-msg")
        assert status == 200
        hook = checkout / ".git" / "hooks" / "commit-msg"
        hook.write_bytes(script)
        hook.chmod(0o755)

    async def commit(self, checkout: Path, path: str, content: str, *commit_args: str) -> str:
        target = checkout / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        assert (await self.run("add", path, cwd=checkout)).status == 0
        result = await self.run("commit", "--quiet", *commit_args, cwd=checkout)
        assert result.status == 0, result.stderr
        return (await self.run("rev-parse", "HEAD", cwd=checkout)).stdout.strip()


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[Emulator]:
    state = EmulatorState(tmp_path / "state", clock=lambda: START)
    alice = state.add_account(
        "alice", "Alice Example", email="alice@example.org", http_password="alice-secret"
    )
    state.create_project(PROJECT)
    server = EmulatorServer(state)
    await server.start()
    git: GitStore = server.git
    base = await git.create_commit(
        PROJECT,
        None,
        {"README.rst": b"Ironic\n", "ironic/conductor/manager.py": b"import os\n"},
        "Initial commit",
        alice,
        START,
    )
    await git.update_ref(PROJECT, "refs/heads/master", base)
    state.set_branch(PROJECT, "master", base)
    events: list[EmulatorEvent] = []
    state.add_listener(events.append)
    home = tmp_path / "home"
    home.mkdir()
    try:
        yield Emulator(state, git, server.http_url, alice, base, home, events, server)
    finally:
        await server.stop()
        state.close()


async def test_push_creates_a_change_and_amending_adds_a_patch_set(emulator: Emulator) -> None:
    checkout = await emulator.clone()
    await emulator.install_commit_msg_hook(checkout)
    refs_at_event: list[str] = []

    def ref_exists_when_announced(event: EmulatorEvent) -> None:
        if event.type == "patchset-created":
            # A CI fetches as soon as it sees the event: the ref must already be there.
            ref = emulator.state.changes[event.change_number or 0].current.ref
            repo = emulator.git.repo_path(PROJECT)
            found = subprocess.run(
                ["git", f"--git-dir={repo}", "rev-parse", "--verify", ref],
                capture_output=True,
                text=True,
                check=False,
            )
            refs_at_event.append(found.stdout.strip())

    emulator.state.add_listener(ref_exists_when_announced)
    first = await emulator.commit(
        checkout, "ironic/drivers/modules/acme.py", "ACME = 1\n", "-m", "Add the acme driver"
    )
    pushed = await emulator.run("push", emulator.push_url(), "HEAD:refs/for/master", cwd=checkout)

    assert pushed.status == 0, pushed.stderr
    assert "remote: SUCCESS" in remote_lines(pushed)
    new_change = f"remote:   {emulator.url}/c/{PROJECT}/+/1 Add the acme driver [NEW]"
    assert new_change in remote_lines(pushed)
    change = emulator.state.get_change(1)
    assert (change.project, change.branch, change.subject) == (
        PROJECT,
        "master",
        "Add the acme driver",
    )
    assert change.change_id.startswith("I") and len(change.change_id) == 41
    assert change.owner_id == emulator.alice.account_id
    patch_set = change.current
    assert (patch_set.number, patch_set.revision, patch_set.parents) == (1, first, [emulator.base])
    assert [(f.path, f.status, f.lines_inserted) for f in patch_set.files] == [
        ("ironic/drivers/modules/acme.py", "A", 1)
    ]
    assert refs_at_event == [first]

    second = await emulator.commit(
        checkout, "ironic/drivers/modules/acme.py", "ACME = 2\n", "--amend", "--no-edit"
    )
    pushed = await emulator.run("push", emulator.push_url(), "HEAD:refs/for/master", cwd=checkout)

    assert pushed.status == 0, pushed.stderr
    assert f"remote:   {emulator.url}/c/{PROJECT}/+/1 Add the acme driver" in remote_lines(pushed)
    assert len(emulator.state.changes) == 1
    assert [ps.revision for ps in change.patch_sets] == [first, second]
    assert refs_at_event == [first, second]
    created = [e for e in emulator.events if e.type == "patchset-created"]
    assert [(e.change_number, e.patch_set) for e in created] == [(1, 1), (1, 2)]
    # Nothing of the magic ref is left behind: the next push looks new again.
    listing = await emulator.run("ls-remote", f"{emulator.url}/{PROJECT}")
    assert "refs/for/" not in listing.stdout
    assert f"{first}\trefs/changes/01/1/1" in listing.stdout
    assert f"{second}\trefs/changes/01/1/2" in listing.stdout


async def test_a_ci_fetches_a_patch_set_ref_anonymously(emulator: Emulator) -> None:
    change, patch_set = await upload_change(
        emulator.state,
        emulator.git,
        PROJECT,
        "master",
        {"ironic/drivers/modules/redfish/boot.py": b"BOOT = True\n"},
        "Fix redfish boot",
        emulator.alice,
    )
    checkout = await emulator.clone("ci")
    fetched = await emulator.run("fetch", f"{emulator.url}/{PROJECT}", patch_set.ref, cwd=checkout)
    assert fetched.status == 0, fetched.stderr
    head = await emulator.run("rev-parse", "FETCH_HEAD", cwd=checkout)
    assert head.stdout.strip() == patch_set.revision
    assert (checkout / "README.rst").exists()
    assert patch_set.ref == "refs/changes/01/1/1" and change.number == 1


async def test_upload_change_matches_what_a_push_records(emulator: Emulator) -> None:
    checkout = await emulator.clone()
    await emulator.install_commit_msg_hook(checkout)
    await emulator.commit(checkout, "doc/source/index.rst", "Docs\n", "-m", "Document it")
    pushed = await emulator.run("push", emulator.push_url(), "HEAD:refs/for/master", cwd=checkout)
    assert pushed.status == 0, pushed.stderr

    _, uploaded = await upload_change(
        emulator.state,
        emulator.git,
        PROJECT,
        "master",
        {"doc/source/index.rst": b"Docs\n"},
        "Document it",
        emulator.alice,
    )

    by_push = emulator.state.get_change(1).current
    assert uploaded.files == by_push.files
    assert (uploaded.parents, uploaded.uploader_id) == (by_push.parents, by_push.uploader_id)
    assert uploaded.ref == "refs/changes/02/2/1"
    created = [e.change_number for e in emulator.events if e.type == "patchset-created"]
    assert created == [1, 2]


async def test_commit_without_change_id_is_rejected_like_gerrit(emulator: Emulator) -> None:
    checkout = await emulator.clone()
    sha = await emulator.commit(checkout, "setup.cfg", "[metadata]\n", "-m", "No hook here")

    pushed = await emulator.run("push", emulator.push_url(), "HEAD:refs/for/master", cwd=checkout)

    assert pushed.status != 0
    assert f"remote: ERROR: commit {sha[:7]}: missing Change-Id in message footer" in pushed.stderr
    assert "[remote rejected] HEAD -> refs/for/master" in pushed.stderr
    assert "/tools/hooks/commit-msg" in pushed.stderr
    assert emulator.state.changes == {}
    assert await emulator.git.list_refs(PROJECT, "refs/for/") == {}


async def test_pushing_the_same_commit_twice_says_no_new_changes(emulator: Emulator) -> None:
    checkout = await emulator.clone()
    await emulator.install_commit_msg_hook(checkout)
    await emulator.commit(checkout, "tox.ini", "[tox]\n", "-m", "Tune tox")
    first = await emulator.run("push", emulator.push_url(), "HEAD:refs/for/master", cwd=checkout)
    assert first.status == 0, first.stderr

    again = await emulator.run("push", emulator.push_url(), "HEAD:refs/for/master", cwd=checkout)

    assert again.status != 0
    assert "no new changes" in again.stderr
    assert len(emulator.state.get_change(1).patch_sets) == 1


async def test_topic_and_wip_travel_in_the_magic_ref(emulator: Emulator) -> None:
    checkout = await emulator.clone()
    await emulator.install_commit_msg_hook(checkout)
    await emulator.commit(checkout, "ironic/api/app.py", "APP = 1\n", "-m", "Rework the API")

    pushed = await emulator.run(
        "push", emulator.push_url(), "HEAD:refs/for/master%topic=api-rework,wip", cwd=checkout
    )

    assert pushed.status == 0, pushed.stderr
    change = emulator.state.get_change(1)
    assert (change.topic, change.wip) == ("api-rework", True)
    assert "[NEW] [WIP]" in pushed.stderr


async def test_push_needs_valid_credentials(emulator: Emulator) -> None:
    checkout = await emulator.clone()
    await emulator.install_commit_msg_hook(checkout)
    await emulator.commit(checkout, "README.rst", "Changed\n", "-m", "Reword the README")

    anonymous = await emulator.run(
        "push", f"{emulator.url}/{PROJECT}", "HEAD:refs/for/master", cwd=checkout
    )
    wrong = await emulator.run(
        "push", emulator.push_url("guess"), "HEAD:refs/for/master", cwd=checkout
    )

    assert anonymous.status != 0 and "terminal prompts disabled" in anonymous.stderr
    assert wrong.status != 0 and "Authentication failed" in wrong.stderr
    assert emulator.state.changes == {}


async def test_only_admins_push_straight_to_a_branch(emulator: Emulator) -> None:
    checkout = await emulator.clone()
    sha = await emulator.commit(checkout, "README.rst", "Direct\n", "-m", "Direct push")

    refused = await emulator.run(
        "push", emulator.push_url(), "HEAD:refs/heads/master", cwd=checkout
    )
    assert refused.status != 0
    assert "prohibited by Gerrit" in refused.stderr

    emulator.alice.is_admin = True
    allowed = await emulator.run(
        "push", emulator.push_url(), "HEAD:refs/heads/master", cwd=checkout
    )
    assert allowed.status == 0, allowed.stderr
    assert emulator.state.get_project(PROJECT).branches["master"].revision == sha
    assert await emulator.git.branch_tip(PROJECT, "master") == sha


async def test_gzip_encoded_fetch_negotiation_is_understood(emulator: Emulator) -> None:
    def pkt(line: str) -> bytes:
        return f"{len(line) + 4:04x}{line}".encode()

    request = pkt(f"want {emulator.base} side-band-64k\n") + b"0000" + pkt("done\n")
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{emulator.url}/{PROJECT}.git/git-upload-pack",
            data=gzip.compress(request),
            headers={
                "Content-Type": "application/x-git-upload-pack-request",
                "Content-Encoding": "gzip",
            },
        ) as response,
    ):
        body = await response.read()
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/x-git-upload-pack-result"
    assert body.startswith(b"0008NAK\n") and b"PACK" in body


async def test_unknown_project_and_commit_msg_hook(emulator: Emulator) -> None:
    missing = await emulator.run("clone", f"{emulator.url}/openstack/nova", "nova")
    assert missing.status != 0 and "not found" in missing.stderr
    status, hook = await http_get(f"{emulator.url}/tools/hooks/commit-msg")
    assert status == 200
    assert hook.startswith(b"#!/bin/sh") and b"Change-Id" in hook


async def test_git_over_ssh_clones_and_pushes_like_git_review(
    emulator: Emulator, tmp_path: Path
) -> None:
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    emulator.state.update_account("alice", add_ssh_keys=[key.with_suffix(".pub").read_text()])
    port = emulator.server.ssh_port
    ssh = (
        f"ssh -i {key} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no"
        " -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
    )
    url = f"ssh://alice@127.0.0.1:{port}/{PROJECT}"
    emulator.extra_env["GIT_SSH_COMMAND"] = ssh

    cloned = await emulator.run("clone", "--quiet", url, "over-ssh")
    assert cloned.status == 0, cloned.stderr
    checkout = emulator.home / "over-ssh"
    await emulator.install_commit_msg_hook(checkout)
    sha = await emulator.commit(checkout, "ironic/common/ssh.py", "SSH = 1\n", "-m", "Use SSH")
    pushed = await emulator.run("push", url, "HEAD:refs/for/master", cwd=checkout)

    assert pushed.status == 0, pushed.stderr
    assert "remote: SUCCESS" in remote_lines(pushed)
    change = emulator.state.get_change(1)
    assert change.current.revision == sha
    fetched = await emulator.run("fetch", url, change.current.ref, cwd=checkout)
    assert fetched.status == 0, fetched.stderr


async def test_a_large_push_streams_through_http(emulator: Emulator) -> None:
    checkout = await emulator.clone()
    await emulator.install_commit_msg_hook(checkout)
    blob = checkout / "ironic" / "tests" / "fixtures.bin"
    blob.parent.mkdir(parents=True)
    blob.write_bytes(os.urandom(3 * 1024 * 1024))  # above git's 1 MiB postBuffer: chunked
    assert (await emulator.run("add", ".", cwd=checkout)).status == 0
    await emulator.run("commit", "--quiet", "-m", "Add fixtures", cwd=checkout)

    pushed = await emulator.run("push", emulator.push_url(), "HEAD:refs/for/master", cwd=checkout)

    assert pushed.status == 0, pushed.stderr
    [added] = emulator.state.get_change(1).current.files
    assert (added.path, added.binary, added.size) == ("ironic/tests/fixtures.bin", True, 3 << 20)
