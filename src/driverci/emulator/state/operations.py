"""How each journalled operation changes the emulator's state, and the events it causes.

Operations are plain JSON objects (``{"op": "review", ...}``) with every id and timestamp
already resolved, so applying the journal again rebuilds the same state.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from driverci.emulator.state.model import (
    ZERO_SHA,
    Account,
    Approval,
    Branch,
    Change,
    EmulatorEvent,
    FileChange,
    Message,
    PatchSet,
    Project,
    change_ref,
)
from driverci.emulator.state.tables import StateTables, message_id

Op = dict[str, Any]
Events = list[EmulatorEvent]


def apply(state: StateTables, op: Op) -> Events:
    handler = _HANDLERS.get(op.get("op", ""))
    if handler is None:
        raise ValueError(f"unknown emulator operation {op.get('op')!r}")
    return handler(state, op)


def _at(op: Op) -> datetime:
    return datetime.fromisoformat(op["at"])


def _add_message(
    change: Change,
    author_id: int | None,
    at: datetime,
    text: str,
    tag: str | None,
    revision_number: int | None,
) -> Message:
    message = Message(
        id=message_id(change.number, len(change.messages), at),
        author_id=author_id,
        date=at,
        message=text,
        tag=tag,
        revision_number=revision_number,
    )
    change.messages.append(message)
    if author_id is not None:
        change.commenter_ids.add(author_id)
    change.updated = max(change.updated, at)
    return message


def _account(state: StateTables, op: Op) -> Events:
    account = Account(
        account_id=op["account_id"],
        username=op["username"],
        name=op["name"],
        email=op.get("email"),
        http_password=op.get("http_password"),
        ssh_keys=list(op.get("ssh_keys", [])),
        tags=list(op.get("tags", [])),
        is_admin=bool(op.get("is_admin")),
    )
    state.accounts[account.account_id] = account
    state._by_username[account.username] = account
    state.next_account_id = max(state.next_account_id, account.account_id + 1)
    return []


def _account_update(state: StateTables, op: Op) -> Events:
    account = state.accounts[op["account_id"]]
    if op.get("http_password") is not None:
        account.http_password = op["http_password"]
    for key in op.get("add_ssh_keys", []):
        if key not in account.ssh_keys:
            account.ssh_keys.append(key)
    if op.get("name"):
        account.name = op["name"]
    if op.get("email"):
        account.email = op["email"]
    return []


def _project(state: StateTables, op: Op) -> Events:
    project = Project(
        name=op["name"],
        created=_at(op),
        voters=dict(op.get("voters", {})),
        description=op.get("description", ""),
    )
    state.projects[project.name] = project
    return [
        EmulatorEvent(
            "project-created", _at(op), project=project.name, extra={"headName": project.head}
        )
    ]


def _branch(state: StateTables, op: Op) -> Events:
    project = state.projects[op["project"]]
    name = op["branch"]
    existing = project.branches.get(name)
    old_rev = existing.revision if existing else ZERO_SHA
    if existing is None:
        project.branches[name] = Branch(name=name, created=_at(op), revision=op["revision"])
    else:
        existing.revision = op["revision"]
    return [
        EmulatorEvent(
            "ref-updated",
            _at(op),
            project=project.name,
            account_id=op.get("submitter_id"),
            extra={
                "refUpdate": {
                    "oldRev": old_rev,
                    "newRev": op["revision"],
                    "refName": f"refs/heads/{name}",
                    "project": project.name,
                }
            },
        )
    ]


def _patch_set(state: StateTables, op: Op) -> Events:
    at = _at(op)
    number = op["number"]
    change = state.changes.get(number)
    if change is None:
        subject = op["commit_message"].split("\n", 1)[0]
        change = Change(
            number=number,
            project=op["project"],
            branch=op["branch"],
            change_id=op["change_id"],
            subject=subject,
            owner_id=op["uploader_id"],
            created=at,
            updated=at,
            topic=op.get("topic"),
            wip=bool(op.get("wip")),
        )
        state.changes[number] = change
        state._open_by_key[(change.project, change.branch, change.change_id)] = number
        state.next_change_number = max(state.next_change_number, number + 1)
    else:
        change.subject = op["commit_message"].split("\n", 1)[0]
        # Votes are per patch set: a new patch set starts with none (no sticky labels here).
        change.approvals.clear()
    ps_number = len(change.patch_sets) + 1
    patch_set = PatchSet(
        number=ps_number,
        revision=op["revision"],
        parents=list(op["parents"]),
        uploader_id=op["uploader_id"],
        author_id=op["author_id"],
        created=at,
        commit_message=op["commit_message"],
        files=[FileChange(**f) for f in op["files"]],
        kind=op.get("kind", "REWORK"),
        ref=change_ref(number, ps_number),
    )
    change.patch_sets.append(patch_set)
    text = f"Uploaded patch set {ps_number}."
    _add_message(change, op["uploader_id"], at, text, "autogenerated:gerrit:newPatchSet", ps_number)
    common = {"project": change.project, "change_number": number, "patch_set": ps_number}
    return [
        EmulatorEvent(
            "ref-updated",
            at,
            project=change.project,
            account_id=op["uploader_id"],
            extra={
                "refUpdate": {
                    "oldRev": ZERO_SHA,
                    "newRev": patch_set.revision,
                    "refName": patch_set.ref,
                    "project": change.project,
                }
            },
        ),
        EmulatorEvent("patchset-created", at, account_id=op["uploader_id"], **common),
    ]


def _label_summary(labels: dict[str, int], previous: dict[str, int]) -> str:
    parts = []
    for label, value in labels.items():
        if value == 0:
            if previous.get(label, 0) != 0:
                parts.append(f"-{label}")
        else:
            parts.append(f"{label}{value:+d}")
    return " ".join(parts)


def _review(state: StateTables, op: Op) -> Events:
    at = _at(op)
    change = state.changes[op["number"]]
    account_id = op["account_id"]
    ps_number = op["patch_set"]
    labels: dict[str, int] = op.get("labels", {})
    previous = {label: a.value for (label, acc), a in change.approvals.items() if acc == account_id}
    header = f"Patch Set {ps_number}:"
    summary = _label_summary(labels, previous)
    if summary:
        header += " " + summary
    body = op.get("message") or ""
    text = header + ("\n\n" + body if body else "")
    _add_message(change, account_id, at, text, op.get("tag"), ps_number)
    for label, value in labels.items():
        change.approvals[(label, account_id)] = Approval(
            label, value, account_id, at, ps_number, op.get("tag")
        )
    if labels:
        change.reviewer_ids.add(account_id)
        change.cc_ids.discard(account_id)
    elif account_id not in change.reviewer_ids and account_id != change.owner_id:
        change.cc_ids.add(account_id)
    approvals = []
    for (label, acc), approval in change.approvals.items():
        if acc != account_id:
            continue
        item: dict[str, Any] = {"type": label, "description": label, "value": str(approval.value)}
        if label in labels and previous.get(label, 0) != labels[label]:
            item["oldValue"] = str(previous.get(label, 0))
        approvals.append(item)
    return [
        EmulatorEvent(
            "comment-added",
            at,
            project=change.project,
            change_number=change.number,
            patch_set=ps_number,
            account_id=account_id,
            extra={"comment": text, "approvals": approvals},
        )
    ]


def _lifecycle_event(
    kind: str, change: Change, op: Op, at: datetime, extra: dict[str, Any] | None = None
) -> EmulatorEvent:
    """An event about the change as a whole, carried on its current patch set."""
    return EmulatorEvent(
        kind,
        at,
        project=change.project,
        change_number=change.number,
        patch_set=change.current.number,
        account_id=op["account_id"],
        extra=extra or {},
    )


def _close(change: Change, state: StateTables, status: str, at: datetime) -> None:
    change.status = status
    change.updated = at
    state._open_by_key.pop((change.project, change.branch, change.change_id), None)


def _merge(state: StateTables, op: Op) -> Events:
    at = _at(op)
    change = state.changes[op["number"]]
    _close(change, state, "MERGED", at)
    change.submitted = at
    change.submitter_id = op["account_id"]
    submitter = state.accounts[op["account_id"]]
    _add_message(
        change,
        op["account_id"],
        at,
        f"Change has been successfully merged by {submitter.name}",
        "autogenerated:gerrit:merged",
        change.current.number,
    )
    return [_lifecycle_event("change-merged", change, op, at, {"newRev": op["new_rev"]})]


def _abandon(state: StateTables, op: Op) -> Events:
    at = _at(op)
    change = state.changes[op["number"]]
    _close(change, state, "ABANDONED", at)
    text = "Abandoned" + (f"\n\n{op['reason']}" if op.get("reason") else "")
    _add_message(
        change, op["account_id"], at, text, "autogenerated:gerrit:abandon", change.current.number
    )
    return [_lifecycle_event("change-abandoned", change, op, at, {"reason": op.get("reason", "")})]


def _restore(state: StateTables, op: Op) -> Events:
    at = _at(op)
    change = state.changes[op["number"]]
    change.status = "NEW"
    change.updated = at
    state._open_by_key[(change.project, change.branch, change.change_id)] = change.number
    text = "Restored" + (f"\n\n{op['reason']}" if op.get("reason") else "")
    _add_message(
        change, op["account_id"], at, text, "autogenerated:gerrit:restore", change.current.number
    )
    return [_lifecycle_event("change-restored", change, op, at, {"reason": op.get("reason", "")})]


def _wip(state: StateTables, op: Op) -> Events:
    at = _at(op)
    change = state.changes[op["number"]]
    change.wip = bool(op["wip"])
    tag = (
        "autogenerated:gerrit:setWorkInProgress"
        if change.wip
        else "autogenerated:gerrit:setReadyForReview"
    )
    text = "Set Work In Progress" if change.wip else "Set Ready For Review"
    _add_message(change, op["account_id"], at, text, tag, change.current.number)
    return [_lifecycle_event("wip-state-changed", change, op, at)]


def _hashtags(state: StateTables, op: Op) -> Events:
    at = _at(op)
    change = state.changes[op["number"]]
    tags = [t for t in change.hashtags if t not in op["remove"]]
    tags += [t for t in op["add"] if t not in tags]
    change.hashtags = tags
    change.updated = at
    return [
        EmulatorEvent(
            "hashtags-changed",
            at,
            project=change.project,
            change_number=change.number,
            account_id=op["account_id"],
            extra={"added": op["add"], "removed": op["remove"], "hashtags": list(tags)},
        )
    ]


_HANDLERS: dict[str, Callable[[StateTables, Op], Events]] = {
    "account": _account,
    "account_update": _account_update,
    "project": _project,
    "branch": _branch,
    "patch_set": _patch_set,
    "review": _review,
    "merge": _merge,
    "abandon": _abandon,
    "restore": _restore,
    "wip": _wip,
    "hashtags": _hashtags,
}
