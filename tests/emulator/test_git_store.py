"""The emulator's git store reads commits and diffs as Gerrit reports them; footers as Gerrit."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from driverci.emulator.git.magic_refs import find_change_id, normalize_project, parse_magic_ref
from driverci.emulator.git.receive import upload_change
from driverci.emulator.git.store import GitError, GitStore
from driverci.emulator.state.journal import EmulatorError, EmulatorState
from driverci.emulator.state.model import Account, FileChange

PROJECT = "openstack/ironic"
AT = datetime(2026, 2, 1, 12, 30, tzinfo=UTC)
BOB = Account(account_id=1000001, username="bob", name="Bob Builder", email="bob@example.org")
CHANGE_ID = "I" + "ab" * 20


@pytest.fixture
async def store(tmp_path: Path) -> GitStore:
    git = GitStore(tmp_path / "git")
    await git.ensure_repo(PROJECT)
    return git


async def test_a_repository_per_project_with_its_gerrit_config(store: GitStore) -> None:
    path = store.repo_path(PROJECT)
    assert path == store.root / "openstack" / "ironic.git"
    assert (path / "hooks" / "pre-receive").stat().st_mode & 0o111
    config = (await store.run_git(PROJECT, "config", "--list")).decode()
    assert "http.receivepack=true" in config
    assert "uploadpack.allowanysha1inwant=true" in config
    assert await store.ensure_repo(PROJECT) == path  # idempotent
    with pytest.raises(GitError, match="invalid project name"):
        store.repo_path("../escape")


async def test_commit_info_reads_what_create_commit_wrote(store: GitStore) -> None:
    root = await store.create_commit(PROJECT, None, {"a.txt": b"a\n"}, "Root", BOB, AT)
    child = await store.create_commit(
        PROJECT, root, {"b.txt": b"b\n"}, "Child\n\nBody.\n\nChange-Id: " + CHANGE_ID, BOB, AT
    )

    info = await store.commit_info(PROJECT, child)

    assert info.parents == [root]
    assert (info.author_name, info.author_email, info.author_time) == (
        "Bob Builder",
        "bob@example.org",
        AT,
    )
    assert info.message == f"Child\n\nBody.\n\nChange-Id: {CHANGE_ID}\n"
    with pytest.raises(GitError, match="failed"):
        await store.commit_info(PROJECT, "0" * 40)


async def test_diff_files_reports_gerrit_statuses_counts_and_sizes(store: GitStore) -> None:
    module = b"".join(f"line {i}\n".encode() for i in range(40))
    base = await store.create_commit(
        PROJECT,
        None,
        {"setup.cfg": b"[metadata]\nname = ironic\n", "gone.txt": b"bye\n", "old.py": module},
        "Base",
        BOB,
        AT,
    )
    change = await store.create_commit(
        PROJECT,
        base,
        {
            "setup.cfg": b"[metadata]\nname = ironic\nsummary = x\nauthor = y\n",
            "gone.txt": None,
            "old.py": None,
            "new.py": module + b"extra\n",
            "logo.png": b"\x89PNG\x00\x01\x02",
        },
        "Change",
        BOB,
        AT,
    )

    files = {f.path: f for f in await store.diff_files(PROJECT, base, change)}

    assert files["setup.cfg"] == FileChange("setup.cfg", "M", 2, 0, None, 48, 23, False)
    assert files["gone.txt"] == FileChange("gone.txt", "D", 0, 1, None, 0, -4, False)
    assert files["new.py"].status == "R" and files["new.py"].old_path == "old.py"
    assert (files["new.py"].lines_inserted, files["new.py"].size_delta) == (1, 6)
    assert files["logo.png"] == FileChange("logo.png", "A", 0, 0, None, 7, 7, True)
    assert await store.diff_files(PROJECT, None, base) == [
        FileChange("gone.txt", "A", 1, 0, None, 4, 4, False),
        FileChange("old.py", "A", 40, 0, None, len(module), len(module), False),
        FileChange("setup.cfg", "A", 2, 0, None, 25, 25, False),
    ]


async def test_refs_are_written_read_and_deleted(store: GitStore) -> None:
    sha = await store.create_commit(PROJECT, None, {"a": b"1"}, "One", BOB, AT)
    await store.update_ref(PROJECT, "refs/heads/master", sha)
    assert await store.branch_tip(PROJECT, "master") == sha
    assert await store.list_refs(PROJECT, "refs/heads/") == {"refs/heads/master": sha}
    await store.delete_ref(PROJECT, "refs/heads/master")
    assert await store.branch_tip(PROJECT, "master") is None


async def test_upload_change_creates_changes_and_patch_sets(
    tmp_path: Path, store: GitStore
) -> None:
    state = EmulatorState(tmp_path / "state", clock=lambda: AT)
    bob = state.add_account("bob", "Bob Builder", email="bob@example.org")
    state.create_project(PROJECT)
    base = await store.create_commit(PROJECT, None, {"README.rst": b"x\n"}, "Base", bob, AT)
    await store.update_ref(PROJECT, "refs/heads/master", base)
    state.set_branch(PROJECT, "master", base)

    change, first = await upload_change(
        state, store, PROJECT, "master", {"ironic/a.py": b"A\n"}, "Add a", bob
    )
    same, second = await upload_change(
        state,
        store,
        PROJECT,
        "master",
        {"ironic/a.py": b"B\n"},
        "Add a",
        bob,
        change_id=change.change_id,
    )

    assert same is change and (first.number, second.number) == (1, 2)
    assert await store.resolve(PROJECT, "refs/changes/01/1/2") == second.revision
    assert second.files[0].status == "A" and second.author_id == bob.account_id
    with pytest.raises(EmulatorError, match="branch nope not found"):
        await upload_change(state, store, PROJECT, "nope", {"x": b""}, "X", bob, parent=base)
    state.close()


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (f"Fix it\n\nChange-Id: {CHANGE_ID}\n", (CHANGE_ID, None)),
        (f"Fix it\n\nBody\n\nSigned-off-by: a <a@b>\nChange-Id: {CHANGE_ID}", (CHANGE_ID, None)),
        ("Fix it\n\nNo footer here\n", (None, "missing Change-Id in message footer")),
        (f"Fix it\n\nChange-Id: {CHANGE_ID}\n\nMore text\n", (None, "missing Change-Id in")),
        (f"Change-Id: {CHANGE_ID}\n", (None, "missing subject; Change-Id must be in")),
        ("Fix it\n\nChange-Id: I123\n", (None, "invalid Change-Id line format in")),
        (
            f"Fix it\n\nChange-Id: {CHANGE_ID}\nChange-Id: {CHANGE_ID}\n",
            (None, "multiple Change-Id lines in message footer"),
        ),
    ],
)
def test_change_id_must_be_in_the_footer(
    message: str, expected: tuple[str | None, str | None]
) -> None:
    change_id, problem = find_change_id(message)
    assert change_id == expected[0]
    assert (problem or "").startswith(expected[1] or "")
    assert (problem is None) == (expected[1] is None)


def test_magic_ref_options_and_project_paths() -> None:
    branch, options = parse_magic_ref("refs/for/stable/2025.2%topic=fix,wip,t=ci", ["hashtag=x"])
    assert branch == "stable/2025.2"
    assert (options.topic, options.wip, options.hashtags) == ("fix", True, ["ci", "x"])
    assert parse_magic_ref("refs/for/master%ready")[1].wip is False
    assert parse_magic_ref("refs/for/master")[1].wip is None
    assert normalize_project("'/openstack/ironic.git'") == PROJECT
