"""Gerrit 3.x ``stream-events`` JSON: the attribute schemas and Gson's way of writing them.

Field order follows Gerrit's Java classes as Gson writes them (a subclass's fields first, then
``patchSet``, then ChangeEvent's ``change, project, refName, changeKey``, then ``type`` and
``eventCreatedOn``), so a captured line and an emulated one look alike. The same attribute
builders serve ``gerrit query`` (see :mod:`driverci.emulator.ssh.query`).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from driverci.emulator.state.model import LABEL_VALUES, Account, Change, EmulatorEvent, PatchSet

if TYPE_CHECKING:
    from driverci.emulator.state.journal import EmulatorState

JsonObject = dict[str, Any]

# Gson's HTML-safe escaping (GsonBuilder without disableHtmlEscaping) plus the two line
# separators JavaScript cannot hold in string literals, which Gson escapes too.
_GSON_ESCAPES = str.maketrans(
    {
        "<": "\\u003c",
        ">": "\\u003e",
        "&": "\\u0026",
        "=": "\\u003d",
        "'": "\\u0027",
        "\u2028": "\\u2028",
        "\u2029": "\\u2029",
    }
)

# The account attribute each event type names after what the account did.
_ACTOR_FIELD: dict[str, str] = {
    "patchset-created": "uploader",
    "comment-added": "author",
    "change-merged": "submitter",
    "change-abandoned": "abandoner",
    "change-restored": "restorer",
    "wip-state-changed": "changer",
    "private-state-changed": "changer",
    "topic-changed": "changer",
    "hashtags-changed": "editor",
    "reviewer-added": "adder",
    "reviewer-deleted": "remover",
    "vote-deleted": "remover",
    "change-deleted": "deleter",
    "ref-updated": "submitter",
}

# ChangeEvents that are not PatchSetEvents carry no ``patchSet``.
_NO_PATCH_SET = frozenset({"hashtags-changed", "topic-changed", "change-deleted"})

# Fields a type-specific event adds, in Gson order, copied from ``event.extra``.
_EXTRA_FIELDS: dict[str, tuple[str, ...]] = {
    "change-merged": ("newRev",),
    "change-abandoned": ("reason",),
    "change-restored": ("reason",),
    "topic-changed": ("oldTopic",),
}


def gson_dumps(value: Any) -> str:
    """Serialize like Gerrit's Gson: compact, UTF-8, ``= ' & < >`` as ``\\u00XX``."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).translate(_GSON_ESCAPES)


def epoch(at: datetime) -> int:
    """Gerrit 3.x timestamps in stream and query JSON: whole seconds since the epoch."""
    return int(at.timestamp())


def account_attribute(account: Account | None) -> JsonObject:
    """``{name, email, username}``, each left out when the account has none."""
    if account is None:
        return {}
    attribute: JsonObject = {}
    if account.name:
        attribute["name"] = account.name
    if account.email:
        attribute["email"] = account.email
    if account.username:
        attribute["username"] = account.username
    return attribute


def account_by_id(state: EmulatorState, account_id: int | None) -> JsonObject:
    return account_attribute(state.accounts.get(account_id) if account_id is not None else None)


def change_url(state: EmulatorState, change: Change) -> str:
    return f"{state.web_url}/c/{change.project}/+/{change.number}"


def change_attribute(state: EmulatorState, change: Change, with_message: bool = True) -> JsonObject:
    """The ChangeAttribute events carry (query adds more via ``ssh_query``)."""
    attribute: JsonObject = {"project": change.project, "branch": change.branch}
    if change.topic:
        attribute["topic"] = change.topic
    attribute["id"] = change.change_id
    attribute["number"] = change.number
    attribute["subject"] = change.subject
    attribute["owner"] = account_by_id(state, change.owner_id)
    attribute["url"] = change_url(state, change)
    if with_message and change.patch_sets:
        attribute["commitMessage"] = change.current.commit_message
    if change.hashtags:
        # EventFactory.asChangeAttribute(change, notes) sets them only when there are some.
        attribute["hashtags"] = sorted(change.hashtags)
    attribute["createdOn"] = epoch(change.created)
    attribute["status"] = change.status
    if change.wip:
        attribute["wip"] = True
    return attribute


def patch_set_attribute(
    state: EmulatorState, patch_set: PatchSet, extra: JsonObject | None = None
) -> JsonObject:
    """PatchSetAttribute; ``extra`` (approvals, comments, files) goes before the sizes."""
    attribute: JsonObject = {
        "number": patch_set.number,
        "revision": patch_set.revision,
        "parents": list(patch_set.parents),
        "ref": patch_set.ref,
        "uploader": account_by_id(state, patch_set.uploader_id),
        "createdOn": epoch(patch_set.created),
        "author": account_by_id(state, patch_set.author_id),
        "kind": patch_set.kind,
    }
    if extra:
        attribute.update(extra)
    attribute["sizeInsertions"] = patch_set.insertions
    attribute["sizeDeletions"] = patch_set.deletions
    return attribute


def comment_approvals(
    state: EmulatorState, change: Change, event: EmulatorEvent
) -> list[JsonObject]:
    """The author's value on every label they may vote on, as Gerrit's comment-added lists them.

    Gerrit sends ``"0"`` for permitted labels the review did not touch (the real capture
    shows all three labels at "0" on a vote-less Zuul comment); values are strings. Nobody
    may vote on a closed change, so there only the votes given are listed.
    """
    given = {item["type"]: item for item in event.extra.get("approvals", [])}
    author = state.accounts.get(event.account_id) if event.account_id is not None else None
    project = state.projects.get(change.project)
    approvals: list[JsonObject] = []
    for label in LABEL_VALUES:
        item = given.pop(label, None)
        if item is None:
            if author is None or project is None or not change.is_open:
                continue
            if not project.may_vote(label, author):
                continue
            item = {"type": label, "description": label, "value": "0"}
        approvals.append(_approval_with_string_values(item))
    # Labels the emulator does not know come last, as given.
    approvals.extend(_approval_with_string_values(item) for item in given.values())
    return approvals


def _approval_with_string_values(item: JsonObject) -> JsonObject:
    approval = dict(item)
    for key in ("value", "oldValue"):
        if key in approval:
            approval[key] = str(approval[key])
    return approval


def render_event(state: EmulatorState, event: EmulatorEvent) -> JsonObject:
    """One EmulatorEvent as the JSON object Gerrit 3.x writes on the stream."""
    rendered: JsonObject = {}
    kind = event.type
    if kind == "project-created":
        rendered["projectName"] = event.project
        rendered["headName"] = event.extra.get("headName", "refs/heads/master")
    elif kind == "ref-updated":
        if event.account_id is not None:
            rendered["submitter"] = account_by_id(state, event.account_id)
        rendered["refUpdate"] = event.extra["refUpdate"]
    elif kind == "dropped-output":
        pass
    elif event.change_number is not None and event.change_number in state.changes:
        _render_change_event(state, event, state.changes[event.change_number], rendered)
    else:
        # An event the emulator has no schema for: pass its extra fields through.
        rendered.update(event.extra)
    rendered["type"] = kind
    rendered["eventCreatedOn"] = epoch(event.created)
    return rendered


def _render_change_event(
    state: EmulatorState, event: EmulatorEvent, change: Change, rendered: JsonObject
) -> None:
    kind = event.type
    actor_field = _ACTOR_FIELD.get(kind)
    if actor_field is not None and event.account_id is not None:
        rendered[actor_field] = account_by_id(state, event.account_id)
    if kind == "comment-added":
        approvals = comment_approvals(state, change, event)
        if approvals:
            rendered["approvals"] = approvals
        rendered["comment"] = event.extra.get("comment", "")
    elif kind == "hashtags-changed":
        # StreamEventsApiListener.hashtagArray: empty lists become null and are left out.
        for key in ("added", "removed", "hashtags"):
            if event.extra.get(key):
                rendered[key] = list(event.extra[key])
    for key in _EXTRA_FIELDS.get(kind, ()):
        if key in event.extra:
            rendered[key] = event.extra[key]
    if kind not in _NO_PATCH_SET:
        patch_set = change.patch_set(event.patch_set) if event.patch_set else change.current
        if patch_set is not None:
            rendered["patchSet"] = patch_set_attribute(state, patch_set)
    rendered["change"] = change_attribute(state, change)
    rendered["project"] = change.project
    rendered["refName"] = f"refs/heads/{change.branch}"
    rendered["changeKey"] = {"id": change.change_id}


def event_line(state: EmulatorState, event: EmulatorEvent) -> bytes:
    """The bytes one event takes on the wire, newline included."""
    return (gson_dumps(render_event(state, event)) + "\n").encode("utf-8")


def dropped_output_line(at: datetime) -> bytes:
    return (gson_dumps({"type": "dropped-output", "eventCreatedOn": epoch(at)}) + "\n").encode()
