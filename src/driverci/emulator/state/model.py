"""The emulator's in-memory picture of a Gerrit server: accounts, projects, changes.

Plain dataclasses, no I/O. :mod:`driverci.emulator.state.journal` mutates them (and journals every
mutation); the REST, SSH and git front ends render them into Gerrit's wire formats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

ZERO_SHA = "0" * 40

# Labels the emulator knows, with the values Gerrit shows for them (LabelInfo.values).
LABEL_VALUES: dict[str, dict[int, str]] = {
    "Verified": {
        -2: "Fails",
        -1: "Doesn't seem to work",
        0: "No score",
        1: "Works for me",
        2: "Verified",
    },
    "Code-Review": {
        -2: "This shall not be merged",
        -1: "This patch needs further work before it can be merged",
        0: "No score",
        1: "Looks good to me, but someone else must approve",
        2: "Looks good to me, approved",
    },
    "Workflow": {-1: "Work in progress", 0: "Ready for reviews", 1: "Approved"},
}


def change_ref(number: int, patch_set: int) -> str:
    """``refs/changes/<last two digits>/<change>/<patch set>``, as Gerrit names it."""
    return f"refs/changes/{number % 100:02d}/{number}/{patch_set}"


@dataclass
class Account:
    account_id: int
    username: str
    name: str
    email: str | None = None
    http_password: str | None = None
    ssh_keys: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    is_admin: bool = False

    @property
    def may_stream_events(self) -> bool:
        """Gerrit grants Stream Events to Service Users (tag SERVICE_USER) and Administrators."""
        return self.is_admin or "SERVICE_USER" in self.tags


@dataclass
class Branch:
    name: str  # short name, e.g. "master" or "stable/2025.2"
    created: datetime
    revision: str


@dataclass
class Project:
    name: str
    created: datetime
    description: str = ""
    head: str = "refs/heads/master"
    branches: dict[str, Branch] = field(default_factory=dict)
    # label -> usernames allowed to vote on it; ["*"] means every registered account.
    # A label missing here may be voted on by anyone.
    voters: dict[str, list[str]] = field(default_factory=dict)

    def may_vote(self, label: str, account: Account) -> bool:
        allowed = self.voters.get(label)
        if allowed is None or "*" in allowed or account.is_admin:
            return True
        return account.username in allowed


@dataclass
class FileChange:
    path: str
    status: str = "M"  # A, M, D, R, C, W as in Gerrit's FileInfo (M is omitted on the wire)
    lines_inserted: int = 0
    lines_deleted: int = 0
    old_path: str | None = None
    size: int = 0
    size_delta: int = 0
    binary: bool = False


@dataclass
class PatchSet:
    number: int
    revision: str
    parents: list[str]
    uploader_id: int
    author_id: int
    created: datetime
    commit_message: str
    files: list[FileChange] = field(default_factory=list)
    kind: str = "REWORK"
    ref: str = ""

    @property
    def insertions(self) -> int:
        return sum(f.lines_inserted for f in self.files)

    @property
    def deletions(self) -> int:
        return sum(f.lines_deleted for f in self.files)


@dataclass
class Message:
    id: str
    author_id: int | None
    date: datetime
    message: str
    tag: str | None
    revision_number: int | None


@dataclass
class Approval:
    label: str
    value: int
    account_id: int
    date: datetime
    patch_set: int
    tag: str | None = None


@dataclass
class Change:
    number: int
    project: str
    branch: str
    change_id: str
    subject: str
    owner_id: int
    created: datetime
    updated: datetime
    status: str = "NEW"  # NEW, MERGED, ABANDONED
    topic: str | None = None
    hashtags: list[str] = field(default_factory=list)
    wip: bool = False
    submitted: datetime | None = None
    submitter_id: int | None = None
    patch_sets: list[PatchSet] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    # (label, account id) -> the account's current vote on the current patch set
    approvals: dict[tuple[str, int], Approval] = field(default_factory=dict)
    reviewer_ids: set[int] = field(default_factory=set)
    cc_ids: set[int] = field(default_factory=set)
    commenter_ids: set[int] = field(default_factory=set)

    @property
    def current(self) -> PatchSet:
        return self.patch_sets[-1]

    @property
    def is_open(self) -> bool:
        return self.status == "NEW"

    def patch_set(self, number: int) -> PatchSet | None:
        if 1 <= number <= len(self.patch_sets):
            return self.patch_sets[number - 1]
        return None

    def find_revision(self, revision_id: str) -> PatchSet | None:
        """Resolve a Gerrit revision id: current, a patch set number, or a (short) sha1."""
        if revision_id == "current":
            return self.current
        if revision_id.isdigit() and len(revision_id) < 6:
            return self.patch_set(int(revision_id))
        if len(revision_id) >= 4:
            matches = [ps for ps in self.patch_sets if ps.revision.startswith(revision_id)]
            if len(matches) == 1:
                return matches[0]
        return None


@dataclass
class EmulatorEvent:
    """Something that happened, for the SSH stream (rendered there into Gerrit's JSON)."""

    type: str
    created: datetime
    project: str | None = None
    change_number: int | None = None
    patch_set: int | None = None
    account_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
