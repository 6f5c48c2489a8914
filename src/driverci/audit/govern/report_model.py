"""What the judge's report holds: per CI its figures, verdict, milestones and voting advice,
per driver its verdict. Rendered by :mod:`driverci.audit.govern.report`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from driverci.audit.evaluate.criteria import CiEvaluation
from driverci.audit.evaluate.verdict import Verdict


@dataclass
class MilestoneStatus:
    key: str
    name: str
    state: str  # met, missed, pending
    due: str | None = None
    met_on: str | None = None


@dataclass
class SystemReport:
    evaluation: CiEvaluation
    verdict: Verdict
    registered: bool = True
    milestones: list[MilestoneStatus] = field(default_factory=list)
    voting: dict[str, Any] = field(default_factory=dict)


@dataclass
class DriverReport:
    name: str
    status: str
    verdict: str
    ci: list[str]
    contacts: list[str] = field(default_factory=list)


@dataclass
class AuditReport:
    project: str
    generated: datetime
    window_start: datetime
    window_end: datetime
    systems: list[SystemReport]
    drivers: list[DriverReport]
