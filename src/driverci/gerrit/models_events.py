"""Typed ``gerrit stream-events`` events, their parsers and their deduplication keys.

Every event keeps the decoded wire object in ``raw`` (the judge stores raw payloads). Unknown
types become :class:`UnknownEvent` and never raise; a known type missing the object it is about
(e.g. a patchset-created without ``change``) raises PayloadError with one line saying where.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field, ValidationError

from driverci.errors import PayloadError
from driverci.gerrit.models_base import GerritModel, GerritTime, describe_validation_error
from driverci.gerrit.models_stream import (
    RefUpdate,
    StreamAccount,
    StreamApproval,
    StreamChange,
    StreamPatchSet,
)

DedupKey = tuple[str | int, ...]


class GerritEvent(GerritModel):
    """Base of all events: ``type`` and ``eventCreatedOn`` (absent only in hand-made stubs)."""

    type: str
    event_created_on: GerritTime | None = Field(default=None, alias="eventCreatedOn")
    # Not on the wire: the decoded JSON object, and whether catch-up made this event up.
    raw: dict[str, Any] = Field(default_factory=dict, exclude=True)
    synthesized: bool = Field(default=False, exclude=True)

    @property
    def dedup_key(self) -> DedupKey:
        """Type plus a hash of the payload without its time: equal for the same announcement."""
        payload = {key: value for key, value in self.raw.items() if key != "eventCreatedOn"}
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return (self.type, hashlib.sha1(canonical.encode()).hexdigest())


class ChangeEvent(GerritEvent):
    """An event about a change (Gerrit's ChangeEvent); 2.x lacks top-level project/refName."""

    change: StreamChange
    project: str | None = None
    ref_name: str | None = Field(default=None, alias="refName")

    @property
    def project_name(self) -> str:
        """The project, from the envelope (3.x) or the change attribute (2.x)."""
        return self.project or self.change.project


class PatchSetEvent(ChangeEvent):
    """A change event about one patch set."""

    patch_set: StreamPatchSet = Field(alias="patchSet")


class PatchsetCreatedEvent(PatchSetEvent):
    """A new patch set was uploaded."""

    uploader: StreamAccount | None = None

    @property
    def dedup_key(self) -> DedupKey:
        return (self.type, self.project_name, self.change.number, self.patch_set.number)


class CommentAddedEvent(PatchSetEvent):
    """A review message (with votes) was posted; ``comment`` is the whole message text."""

    author: StreamAccount | None = None
    approvals: list[StreamApproval] = Field(default_factory=list)
    comment: str = ""

    # The last element of the key is the event time in whole seconds; the deduplicator treats
    # keys that differ only by this much as the same comment (live vs. REST clocks differ).
    TIME_TOLERANCE_SECONDS: ClassVar[int] = 2

    @property
    def dedup_key(self) -> DedupKey:
        author = self.author.identity if self.author else ""
        digest = hashlib.sha1(self.comment.encode()).hexdigest()
        moment = round(self.event_created_on.timestamp()) if self.event_created_on else 0
        return (self.type, self.change.number, self.patch_set.number, author, digest, moment)

    def vote(self, label: str) -> int | None:
        """The author's value on ``label`` as this event reports it, if any."""
        for approval in self.approvals:
            if approval.type == label:
                return approval.value
        return None


class _ChangeStateEvent(PatchSetEvent):
    """merged / abandoned / restored: one of each per change and patch set."""

    @property
    def dedup_key(self) -> DedupKey:
        return (self.type, self.change.number, self.patch_set.number)


class ChangeMergedEvent(_ChangeStateEvent):
    """The change was submitted; ``new_rev`` is the branch tip after the merge."""

    submitter: StreamAccount | None = None
    new_rev: str | None = Field(default=None, alias="newRev")


class ChangeAbandonedEvent(_ChangeStateEvent):
    """The change was abandoned."""

    abandoner: StreamAccount | None = None
    reason: str | None = None


class ChangeRestoredEvent(_ChangeStateEvent):
    """An abandoned change was restored."""

    restorer: StreamAccount | None = None
    reason: str | None = None


class WipStateChangedEvent(PatchSetEvent):
    """Work-in-progress was set or cleared; ``change.wip`` says which."""

    changer: StreamAccount | None = None


class ReviewerAddedEvent(PatchSetEvent):
    """A reviewer was added to the change."""

    reviewer: StreamAccount | None = None
    adder: StreamAccount | None = None


class HashtagsChangedEvent(ChangeEvent):
    """Hashtags were edited (no patchSet on this event)."""

    editor: StreamAccount | None = None
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    hashtags: list[str] = Field(default_factory=list)


class TopicChangedEvent(ChangeEvent):
    """The topic was changed; the new one is ``change.topic``."""

    changer: StreamAccount | None = None
    old_topic: str | None = Field(default=None, alias="oldTopic")


class RefUpdatedEvent(GerritEvent):
    """A ref moved (branch push, or ``refs/changes/..`` for a new patch set)."""

    submitter: StreamAccount | None = None
    ref_update: RefUpdate = Field(alias="refUpdate")


class ProjectCreatedEvent(GerritEvent):
    """A project was created (the wire says ``headName``, not the documented ``projectHead``)."""

    project_name: str = Field(alias="projectName")
    head_name: str | None = Field(default=None, alias="headName")


class DroppedOutputEvent(GerritEvent):
    """Gerrit's queue for this connection overflowed: events were lost, re-sync over REST."""


class UnknownEvent(GerritEvent):
    """Any event type driverci does not model; ``raw`` holds everything."""


EVENT_TYPES: dict[str, type[GerritEvent]] = {
    "patchset-created": PatchsetCreatedEvent,
    "comment-added": CommentAddedEvent,
    "change-merged": ChangeMergedEvent,
    "change-abandoned": ChangeAbandonedEvent,
    "change-restored": ChangeRestoredEvent,
    "wip-state-changed": WipStateChangedEvent,
    "reviewer-added": ReviewerAddedEvent,
    "hashtags-changed": HashtagsChangedEvent,
    "topic-changed": TopicChangedEvent,
    "ref-updated": RefUpdatedEvent,
    "project-created": ProjectCreatedEvent,
    "dropped-output": DroppedOutputEvent,
}


def parse_event(obj: Any, where: str = "event") -> GerritEvent:
    """Build the typed event for a decoded stream object; unknown types give UnknownEvent."""
    if not isinstance(obj, dict):
        raise PayloadError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise PayloadError(f"{where}: event has no string field 'type'")
    event_class = EVENT_TYPES.get(kind, UnknownEvent)
    try:
        event = event_class.model_validate(obj)
    except ValidationError as exc:
        raise PayloadError(f"{where}: {kind} event: {describe_validation_error(exc)}") from None
    event.raw = obj
    return event


def parse_event_line(line: str | bytes, where: str = "stream line") -> GerritEvent:
    """Parse one line of ``gerrit stream-events`` output (JSON text, str or bytes)."""
    try:
        obj = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PayloadError(f"{where}: invalid JSON: {exc}") from None
    return parse_event(obj, where)


def event_time(event: GerritEvent, default: datetime) -> datetime:
    """The event's time, or ``default`` for stubs without ``eventCreatedOn``."""
    return event.event_created_on if event.event_created_on is not None else default
