"""Change operations of the emulator's state: uploads, reviews and the change lifecycle.

A mixin of :class:`driverci.emulator.state.journal.EmulatorState`: each method validates like
Gerrit, then commits one journalled operation (see :mod:`driverci.emulator.state.operations`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from driverci.emulator.state.model import LABEL_VALUES, Account, Change, FileChange, PatchSet
from driverci.errors import DriverCIError

if TYPE_CHECKING:
    from driverci.emulator.state.model import EmulatorEvent, Project


class EmulatorError(DriverCIError):
    """A request the emulated Gerrit refuses; ``status`` is the HTTP status Gerrit would send."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def iso(at: datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat()


class ChangeOperations:
    """Uploads, reviews, merge/abandon/restore, WIP and hashtags."""

    # Provided by EmulatorState.
    changes: dict[int, Change]
    next_change_number: int
    now: Callable[[], datetime]
    commit: Callable[[dict[str, Any]], list[EmulatorEvent]]
    get_project: Callable[[str], Project]
    open_change_for: Callable[[str, str, str], Change | None]

    # -- changes ---------------------------------------------------------------------------

    def upload_patch_set(
        self,
        project: str,
        branch: str,
        change_id: str,
        revision: str,
        parents: list[str],
        commit_message: str,
        files: list[FileChange],
        uploader: Account,
        at: datetime | None = None,
        author: Account | None = None,
        kind: str = "REWORK",
        topic: str | None = None,
        wip: bool = False,
    ) -> tuple[Change, PatchSet]:
        """A push to refs/for/<branch>: a new change, or a new patch set of an open one."""
        proj = self.get_project(project)
        if branch not in proj.branches:
            raise EmulatorError(400, f"branch {branch} not found")
        existing = self.open_change_for(project, branch, change_id)
        if existing is not None and any(ps.revision == revision for ps in existing.patch_sets):
            raise EmulatorError(409, "no new changes")
        number = existing.number if existing else self.next_change_number
        self.commit(
            {
                "op": "patch_set",
                "number": number,
                "project": project,
                "branch": branch,
                "change_id": change_id,
                "revision": revision,
                "parents": parents,
                "commit_message": commit_message,
                "files": [vars(f) for f in files],
                "uploader_id": uploader.account_id,
                "author_id": (author or uploader).account_id,
                "at": iso(at or self.now()),
                "kind": kind,
                "topic": topic,
                "wip": wip,
            }
        )
        change = self.changes[number]
        return change, change.current

    def post_review(
        self,
        change: Change,
        patch_set: PatchSet,
        account: Account,
        message: str = "",
        labels: dict[str, int] | None = None,
        tag: str | None = None,
        at: datetime | None = None,
    ) -> dict[str, int]:
        """POST .../review: a message and votes; returns the labels applied."""
        labels = dict(labels or {})
        project = self.get_project(change.project)
        for label, value in labels.items():
            allowed = LABEL_VALUES.get(label)
            if allowed is None:
                raise EmulatorError(400, f'label "{label}" is not a configured label')
            if value not in allowed:
                raise EmulatorError(400, f'label "{label}": {value} is not a valid value')
            if value != 0 and not project.may_vote(label, account):
                raise EmulatorError(403, f'Applying label "{label}": {value} is restricted')
            if patch_set is not change.current and value != 0:
                raise EmulatorError(
                    409,
                    f"cannot set labels on patch set {patch_set.number}: "
                    "it is not the current patch set",
                )
        if not change.is_open and labels:
            raise EmulatorError(409, f"change {change.number} is closed")
        self.commit(
            {
                "op": "review",
                "number": change.number,
                "patch_set": patch_set.number,
                "account_id": account.account_id,
                "message": message,
                "labels": labels,
                "tag": tag,
                "at": iso(at or self.now()),
            }
        )
        return labels

    def merge_change(
        self,
        change: Change,
        submitter: Account,
        at: datetime | None = None,
        new_rev: str | None = None,
    ) -> None:
        if not change.is_open:
            raise EmulatorError(409, f"change is {change.status.lower()}")
        self.commit(
            {
                "op": "merge",
                "number": change.number,
                "account_id": submitter.account_id,
                "at": iso(at or self.now()),
                "new_rev": new_rev or change.current.revision,
            }
        )

    def abandon_change(
        self, change: Change, account: Account, reason: str = "", at: datetime | None = None
    ) -> None:
        if not change.is_open:
            raise EmulatorError(409, f"change is {change.status.lower()}")
        self.commit(
            {
                "op": "abandon",
                "number": change.number,
                "account_id": account.account_id,
                "reason": reason,
                "at": iso(at or self.now()),
            }
        )

    def restore_change(
        self, change: Change, account: Account, reason: str = "", at: datetime | None = None
    ) -> None:
        if change.status != "ABANDONED":
            raise EmulatorError(409, f"change is {change.status.lower()}")
        self.commit(
            {
                "op": "restore",
                "number": change.number,
                "account_id": account.account_id,
                "reason": reason,
                "at": iso(at or self.now()),
            }
        )

    def set_work_in_progress(
        self, change: Change, account: Account, wip: bool, at: datetime | None = None
    ) -> None:
        self.commit(
            {
                "op": "wip",
                "number": change.number,
                "account_id": account.account_id,
                "wip": wip,
                "at": iso(at or self.now()),
            }
        )

    def set_hashtags(
        self,
        change: Change,
        account: Account,
        add: Iterable[str] = (),
        remove: Iterable[str] = (),
        at: datetime | None = None,
    ) -> list[str]:
        self.commit(
            {
                "op": "hashtags",
                "number": change.number,
                "account_id": account.account_id,
                "add": sorted(set(add)),
                "remove": sorted(set(remove)),
                "at": iso(at or self.now()),
            }
        )
        return list(change.hashtags)
