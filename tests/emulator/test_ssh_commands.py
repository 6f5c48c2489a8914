"""The emulated Gerrit SSH daemon as a CI sees it: log in with a key, ask, query, review."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncssh
import pytest

from driverci.emulator.git.store import GitStore
from driverci.emulator.ssh.options import split_command_line
from driverci.emulator.ssh.server import SSHServerHandle, start_ssh_server
from driverci.emulator.state.journal import EmulatorState
from driverci.emulator.state.model import Account, FileChange

IRONIC = "openstack/ironic"
BASE = "1" * 40
REVISION = "a1b2c3d4" * 5


@dataclass
class Gerrit:
    state: EmulatorState
    server: SSHServerHandle
    keys: dict[str, asyncssh.SSHKey]

    async def connect(
        self, username: str, key: asyncssh.SSHKey | None = None
    ) -> asyncssh.SSHClientConnection:
        return await asyncssh.connect(
            "127.0.0.1",
            self.server.port,
            username=username,
            client_keys=[key or self.keys[username]],
            known_hosts=None,
        )

    async def run(
        self, username: str, command: str, stdin: str | None = None
    ) -> asyncssh.SSHCompletedProcess:
        conn = await self.connect(username)
        try:
            return await conn.run(command, input=stdin, check=False)
        finally:
            conn.close()
            await conn.wait_closed()


def _key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


def _public(key: asyncssh.SSHKey) -> str:
    return key.export_public_key("openssh").decode().strip() + " someone@laptop"


@pytest.fixture
async def gerrit(tmp_path: Path) -> AsyncIterator[Gerrit]:
    state = EmulatorState(tmp_path / "state", web_url="http://review.test")
    keys = {name: _key() for name in ("alice", "acme-ci", "zuul")}
    state.add_account(
        "alice", "Alice Developer", "alice@example.com", ssh_keys=[_public(keys["alice"])]
    )
    state.add_account("acme-ci", "Acme Ironic CI", ssh_keys=[_public(keys["acme-ci"])])
    state.add_account("zuul", "Zuul", "zuul@example.com", ssh_keys=[_public(keys["zuul"])])
    at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    state.create_project(IRONIC, at=at, voters={"Verified": ["zuul"]}, description="Bare metal")
    state.create_project("opendev/ci-sandbox", at=at)
    state.set_branch(IRONIC, "master", BASE, at=at)
    server = await start_ssh_server(
        state, GitStore(tmp_path / "git"), "127.0.0.1", 0, tmp_path / "ssh_host_ed25519_key"
    )
    try:
        yield Gerrit(state, server, keys)
    finally:
        await server.close()
        state.close()


def upload(
    state: EmulatorState,
    owner: Account,
    subject: str = "Fix the redfish boot",
    revision: str = REVISION,
) -> None:
    state.upload_patch_set(
        IRONIC,
        "master",
        "I" + revision[:40],
        revision,
        [BASE],
        f"{subject}\n\nChange-Id: I{revision[:40]}\n",
        [
            FileChange("ironic/drivers/modules/redfish/boot.py", "M", 12, 3),
            FileChange("releasenotes/notes/fix-boot-1234.yaml", "A", 4, 0),
        ],
        owner,
        at=datetime(2026, 1, 6, 10, 0, tzinfo=UTC),
    )


async def test_version_answers_like_gerrit_3(gerrit: Gerrit) -> None:
    result = await gerrit.run("alice", "gerrit version")
    assert result.exit_status == 0
    assert result.stdout == "gerrit version 3.10.2\n"


async def test_a_key_not_registered_for_the_account_is_refused(gerrit: Gerrit) -> None:
    with pytest.raises(asyncssh.PermissionDenied):
        await gerrit.connect("alice", _key())
    with pytest.raises(asyncssh.PermissionDenied):
        await gerrit.connect("alice", gerrit.keys["zuul"])  # zuul's key is not alice's
    with pytest.raises(asyncssh.PermissionDenied):
        await gerrit.connect("nobody", gerrit.keys["alice"])


async def test_host_key_survives_a_restart(gerrit: Gerrit, tmp_path: Path) -> None:
    second = await start_ssh_server(
        gerrit.state, GitStore(tmp_path / "git"), "127.0.0.1", 0, tmp_path / "ssh_host_ed25519_key"
    )
    try:
        assert second.host_public_key == gerrit.server.host_public_key
    finally:
        await second.close()


async def test_unknown_commands_fail_as_gerrit_says(gerrit: Gerrit) -> None:
    result = await gerrit.run("alice", "gerrit frobnicate")
    assert result.exit_status == 1
    assert result.stderr == "fatal: gerrit: frobnicate: not found\n"
    result = await gerrit.run("alice", "rm -rf /")
    assert result.exit_status == 1
    assert "not found" in str(result.stderr)


async def test_ls_projects_lists_every_project(gerrit: Gerrit) -> None:
    result = await gerrit.run("alice", "gerrit ls-projects")
    assert result.stdout == "opendev/ci-sandbox\nopenstack/ironic\n"
    listing = json.loads(
        str((await gerrit.run("alice", "gerrit ls-projects --format json -d")).stdout)
    )
    assert listing[IRONIC] == {
        "id": "openstack%2Fironic",
        "state": "ACTIVE",
        "description": "Bare metal",
    }


async def test_query_prints_changes_and_a_stats_line(gerrit: Gerrit) -> None:
    alice = gerrit.state.account_by_username("alice")
    assert alice is not None
    upload(gerrit.state, alice)
    upload(gerrit.state, alice, "Second change", "b" * 40)
    command = (
        "gerrit query --format=JSON --patch-sets --files --comments"
        f" project:{IRONIC} status:open limit:1"
    )
    result = await gerrit.run("acme-ci", command)
    assert result.exit_status == 0, result.stderr
    lines = [json.loads(line) for line in str(result.stdout).splitlines()]
    change, stats = lines
    assert change["subject"] == "Second change"  # newest first
    assert change["number"] == 2 and change["open"] is True and change["hashtags"] == []
    assert change["url"] == f"http://review.test/c/{IRONIC}/+/2"
    assert change["comments"][0]["message"] == "Uploaded patch set 1."
    [patch_set] = change["patchSets"]
    assert patch_set["ref"] == "refs/changes/02/2/1"
    files = {f["file"]: f for f in patch_set["files"]}
    assert files["ironic/drivers/modules/redfish/boot.py"] == {
        "file": "ironic/drivers/modules/redfish/boot.py",
        "type": "MODIFIED",
        "insertions": 12,
        "deletions": -3,
    }
    assert "/COMMIT_MSG" in files
    assert stats["type"] == "stats" and stats["rowCount"] == 1 and stats["moreChanges"] is True
    assert isinstance(stats["runTimeMilliseconds"], int)


async def test_query_splits_the_command_line_as_gerrit_not_as_a_shell(gerrit: Gerrit) -> None:
    """gerritlib sends ``gerrit query --format json project:openstack/ironic"`` with an unmatched
    quote; real Gerrit drops it (CommandFactoryProvider.split), so must the emulator."""
    alice = gerrit.state.account_by_username("alice")
    assert alice is not None
    upload(gerrit.state, alice)
    for command in (
        f'gerrit query --format json project:{IRONIC}"',
        f"gerrit query --format json 'project:{IRONIC}' status:open",
        f'gerrit query --format json "project:{IRONIC} status:open"',
        "gerrit query --format json project:openstack\\/ironic",
    ):
        result = await gerrit.run("alice", command)
        assert result.exit_status == 0, (command, result.stderr)
        change, stats = [json.loads(line) for line in str(result.stdout).splitlines()]
        assert change["project"] == IRONIC, command
        assert stats["rowCount"] == 1


def test_command_line_split_follows_gerrit() -> None:
    assert split_command_line('a "b c" d') == ["a", "b c", "d"]
    assert split_command_line("a 'b \\c' d") == ["a", "b \\c", "d"]
    assert split_command_line('a "it\'s" \'say "hi"\'') == ["a", "it's", 'say "hi"']
    assert split_command_line('q project:x"') == ["q", "project:x"]
    assert split_command_line("a\\ b\tc  \\") == ["a b", "c", "\\"]
    assert split_command_line("") == []


async def test_query_with_a_bad_query_prints_an_error_record(gerrit: Gerrit) -> None:
    result = await gerrit.run("alice", "gerrit query --format=JSON frobnicate:yes")
    assert json.loads(str(result.stdout))["type"] == "error"


async def test_review_posts_a_comment_that_the_change_shows(gerrit: Gerrit) -> None:
    alice = gerrit.state.account_by_username("alice")
    assert alice is not None
    upload(gerrit.state, alice)
    message = (
        "Build succeeded (check pipeline).\n\n"
        "- ironic-tempest-redfish https://ci.acme.test/1 : SUCCESS in 1h 02m 03s"
    )
    result = await gerrit.run(
        "acme-ci", f"gerrit review --message '{message}' --tag autogenerated:zuul:check 1,1"
    )
    assert result.exit_status == 0, result.stderr
    last = gerrit.state.changes[1].messages[-1]
    assert last.message == "Patch Set 1:\n\n" + message
    assert last.tag == "autogenerated:zuul:check"


async def test_review_by_commit_sha_with_a_permitted_vote(gerrit: Gerrit) -> None:
    alice = gerrit.state.account_by_username("alice")
    assert alice is not None
    upload(gerrit.state, alice)
    result = await gerrit.run(
        "zuul", f"gerrit review --verified +1 -m 'Build succeeded.' {REVISION[:10]}"
    )
    assert result.exit_status == 0, result.stderr
    votes = {(a.label, a.value) for a in gerrit.state.changes[1].approvals.values()}
    assert votes == {("Verified", 1)}


async def test_review_refuses_a_verified_vote_the_account_may_not_cast(gerrit: Gerrit) -> None:
    alice = gerrit.state.account_by_username("alice")
    assert alice is not None
    upload(gerrit.state, alice)
    result = await gerrit.run("acme-ci", "gerrit review --verified 1 -m 'Build succeeded.' 1,1")
    assert result.exit_status == 1
    assert result.stderr == (
        'error: fatal: Applying label "Verified": 1 is restricted\n'
        "fatal: one or more reviews failed; review output above\n"
    )
    assert gerrit.state.changes[1].messages[-1].message == "Uploaded patch set 1."


async def test_review_json_reads_a_review_input_from_stdin(gerrit: Gerrit) -> None:
    alice = gerrit.state.account_by_username("alice")
    assert alice is not None
    upload(gerrit.state, alice)
    review = {
        "message": "Build failed.",
        "labels": {"Verified": -1},
        "tag": "autogenerated:zuul:check",
    }
    result = await gerrit.run("zuul", "gerrit review --json 1,1", stdin=json.dumps(review))
    assert result.exit_status == 0, result.stderr
    assert (
        gerrit.state.changes[1].messages[-1].message == "Patch Set 1: Verified-1\n\nBuild failed."
    )


async def test_review_of_a_missing_patch_set_says_so(gerrit: Gerrit) -> None:
    result = await gerrit.run("zuul", "gerrit review -m hi 99,1")
    assert result.exit_status == 1
    assert result.stderr == 'fatal: "99,1" no such patch set\n'


async def test_review_can_abandon_and_restore(gerrit: Gerrit) -> None:
    alice = gerrit.state.account_by_username("alice")
    assert alice is not None
    upload(gerrit.state, alice)
    assert (
        await gerrit.run("alice", "gerrit review --abandon -m 'Duplicate' 1,1")
    ).exit_status == 0
    assert gerrit.state.changes[1].status == "ABANDONED"
    assert (await gerrit.run("alice", "gerrit review --restore 1,1")).exit_status == 0
    assert gerrit.state.changes[1].status == "NEW"


async def test_query_current_patch_set_shows_votes_with_who_and_when(gerrit: Gerrit) -> None:
    alice = gerrit.state.account_by_username("alice")
    zuul = gerrit.state.account_by_username("zuul")
    assert alice is not None and zuul is not None
    upload(gerrit.state, alice)
    change = gerrit.state.changes[1]
    gerrit.state.post_review(change, change.current, zuul, "Build succeeded.", {"Verified": 1})
    result = await gerrit.run("alice", "gerrit query --format json --current-patch-set change:1")
    record = json.loads(str(result.stdout).splitlines()[0])
    [vote] = record["currentPatchSet"]["approvals"]
    assert vote["type"] == "Verified" and vote["value"] == "1"
    assert vote["by"]["username"] == "zuul" and isinstance(vote["grantedOn"], int)


async def test_query_pages_with_start(gerrit: Gerrit) -> None:
    alice = gerrit.state.account_by_username("alice")
    assert alice is not None
    for index in range(3):
        upload(gerrit.state, alice, f"Change {index}", f"{index + 1:x}" * 40)
    result = await gerrit.run("alice", "gerrit query --format=JSON -S 2 limit:2 status:open")
    lines = [json.loads(line) for line in str(result.stdout).splitlines()]
    assert [line.get("number") for line in lines[:-1]] == [1]
    assert lines[-1]["rowCount"] == 1 and lines[-1]["moreChanges"] is False


async def test_query_text_format_is_gerrits_indented_form(gerrit: Gerrit) -> None:
    alice = gerrit.state.account_by_username("alice")
    assert alice is not None
    upload(gerrit.state, alice)
    result = await gerrit.run("alice", "gerrit query change:1")
    text = str(result.stdout)
    assert text.startswith(f"change I{REVISION}\n  project: openstack/ironic\n")
    assert "  owner:\n    name: Alice Developer\n" in text
    assert "\ntype: stats\nrowCount: 1\n" in text
