"""What a notification is: one notice about one CI, and the errors of delivering it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from driverci.audit.govern.report import MilestoneStatus
from driverci.errors import DriverCIError


class NotificationError(DriverCIError):
    """A notification could not be delivered (the message names the server or URL)."""


class NotDelivered(NotificationError):
    """Some notices failed; ``sent`` holds those delivered, ``failed`` the others."""

    def __init__(self, message: str, sent: list[SentNotice], failed: list[SentNotice]) -> None:
        super().__init__(message)
        self.sent = sent
        self.failed = failed


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class SentNotice:
    """One notice about one CI: what changed, to whom, and how it was delivered."""

    project: str
    account: str
    name: str
    previous: str | None
    verdict: str
    #: unreliable, at_risk, recovered, or milestone (only a milestone was missed).
    event: str
    reasons: list[str]
    missed_milestones: list[MilestoneStatus]
    since: datetime
    window_start: datetime
    window_end: datetime
    links: dict[str, str]
    recipients: list[str]
    subject: str = ""
    body: str = ""
    mailed: bool = False
    webhook_status: int | None = None
    errors: list[str] = field(default_factory=list)

    def payload(self) -> dict[str, Any]:
        """The webhook's JSON document (docs/notifications.md)."""
        return {
            "project": self.project,
            "account": self.account,
            "name": self.name,
            "event": self.event,
            "previous": self.previous,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "missed_milestones": [
                {"key": m.key, "name": m.name, "due": m.due} for m in self.missed_milestones
            ],
            "since": _iso(self.since),
            "window": {"start": _iso(self.window_start), "end": _iso(self.window_end)},
            "links": dict(self.links),
            "recipients": list(self.recipients),
        }
