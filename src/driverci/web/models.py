"""Response models of the JSON API (/api/v1/); the HTML pages render the same objects."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

#: Cell states of the grid and the change page, with what each means (the legend).
STATES: dict[str, str] = {
    "success": "reported SUCCESS within the deadline",
    "failure": "reported FAILURE within the deadline",
    "unknown": "reported, but its result could not be read",
    "late": "reported after the deadline",
    "missing": "deadline passed, no result",
    "pending": "deadline not yet passed, no result yet",
    "excluded": "not expected (policy, exclusion, branch or start date)",
}


class WindowInfo(BaseModel):
    project: str
    start: dt.datetime
    end: dt.datetime
    days: int


class Milestone(BaseModel):
    key: str
    name: str
    state: str = Field(description="met, met_late, missed or pending")
    due: str | None = None
    met_on: str | None = None


class VotingAdvice(BaseModel):
    allowed: bool
    recommendation: str = Field(description="grant, keep, withdraw, not_yet or none")
    reason: str


class CriterionInfo(BaseModel):
    """One of the four criteria for one CI, as the report's ``criteria`` field has it."""

    state: str = Field(description="met, not_met or not_assessed")
    reason: str = Field(description="the figures behind it, or why it could not be assessed")
    assess_with: str | None = Field(
        default=None, description="the command that would assess it (not_assessed only)"
    )


VERDICTS = "reliable, unproven (not every criterion assessed), at_risk or unreliable"


class OverviewRow(BaseModel):
    """One driver and one CI that tests it (driver None: a CI testing no listed driver)."""

    driver: str | None
    driver_status: str | None
    driver_verdict: str | None
    account: str
    ci: str
    registered: bool
    verdict: str = Field(description=VERDICTS)
    criteria: dict[str, CriterionInfo] = Field(
        description="coverage, timeliness, artifacts, accuracy"
    )
    expected: int
    reported: int
    coverage: float | None = Field(description="share 0..1 of expected patch sets reported")
    on_time_rate: float | None = Field(description="share 0..1 of results within the deadline")
    deadline_hours: float
    latency_p95_hours: float | None
    artifacts_checked: int
    artifacts_available: float | None = Field(description="share 0..1 of probed links alive")
    accuracy_flags: list[str]
    last_report: dt.datetime | None
    milestones: list[Milestone]
    voting: VotingAdvice
    reasons: list[str]


class Overview(BaseModel):
    window: WindowInfo
    projects: list[str]
    verdict_counts: dict[str, int]
    rows: list[OverviewRow]


class GridColumn(BaseModel):
    account: str
    name: str
    verdict: str


class GridCell(BaseModel):
    account: str
    state: str = Field(description="one of: " + ", ".join(STATES))
    result: str | None = None
    posted: dt.datetime | None = None
    deadline: dt.datetime
    latency_hours: float | None = None
    log_url: str | None = None
    reason: str | None = Field(default=None, description="why it is not expected")


class GridRow(BaseModel):
    change: int
    patch_set: int
    branch: str
    subject: str
    created: dt.datetime
    gerrit_url: str
    cells: list[GridCell]


class Grid(BaseModel):
    window: WindowInfo
    legend: dict[str, str]
    columns: list[GridColumn]
    rows: list[GridRow]


class HistogramBin(BaseModel):
    start_hours: float
    end_hours: float | None = Field(description="None: the open last bin (and later)")
    count: int


class WeekPoint(BaseModel):
    week_start: dt.date
    expected: int
    reported: int
    coverage: float | None
    answered: int
    on_time: int
    on_time_rate: float | None


class ProbePoint(BaseModel):
    day: dt.date
    checked: int
    available: int
    share: float = Field(description="share 0..1 of links found available that day")


class MissedPatchSet(BaseModel):
    change: int
    patch_set: int
    branch: str
    created: dt.datetime
    gerrit_url: str


class ContactInfo(BaseModel):
    name: str
    email: str | None = None
    irc: str | None = None


class NoteInfo(BaseModel):
    date: dt.date
    by: str
    text: str
    contact: str | None = None


class ExclusionInfo(BaseModel):
    pattern: str
    approved_by: str
    date: dt.date
    reason: str | None = None


class VotingRecord(BaseModel):
    allowed: bool
    approved_by: str | None = None
    date: dt.date | None = None
    reference: str | None = None


class CiDetail(BaseModel):
    window: WindowInfo
    account: str
    name: str
    registered: bool
    kind: str
    drivers: list[str]
    wiki: str | None
    verdict: str = Field(description=VERDICTS)
    reasons: list[str]
    criteria: dict[str, CriterionInfo] = Field(
        description="coverage, timeliness, artifacts, accuracy"
    )
    expected: int
    reported: int
    pending: int
    coverage: float | None
    on_time: int
    answered: int
    on_time_rate: float | None
    deadline_hours: float
    latency_p50_hours: float | None
    latency_p95_hours: float | None
    latency_max_hours: float | None
    latency_histogram: list[HistogramBin]
    weekly: list[WeekPoint]
    missed_total: int
    missed: list[MissedPatchSet]
    artifacts_checked: int
    artifacts_available: int
    artifacts_standard: int
    probe_history: list[ProbePoint]
    accuracy_flags: list[str]
    last_report: dt.datetime | None
    last_success: dt.datetime | None
    contacts: list[ContactInfo]
    notes: list[NoteInfo]
    exclusions: list[ExclusionInfo]
    voting_record: VotingRecord
    voting: VotingAdvice
    milestones: list[Milestone]


class ChangeCi(BaseModel):
    account: str
    name: str
    verdict: str
    state: str = Field(description="one of: " + ", ".join(STATES))
    result: str | None = None
    posted: dt.datetime | None = None
    asked: dt.datetime = Field(description="upload, or the last recheck that asked for a rerun")
    deadline: dt.datetime
    hours_left: float | None = Field(description="hours until the deadline (pending only)")
    log_url: str | None = None
    reason: str | None = None


class ChangeDetail(BaseModel):
    number: int
    project: str
    branch: str
    subject: str
    status: str
    patch_set: int
    revision: str
    created: dt.datetime
    owner: str | None
    files: list[str]
    gerrit_url: str
    now: dt.datetime
    waiting_for: int = Field(description="CIs still pending on the current patch set")
    next_deadline: dt.datetime | None
    cis: list[ChangeCi]


class CiRef(BaseModel):
    account: str
    name: str
    verdict: str | None


class DriverInfo(BaseModel):
    name: str
    kind: str
    description: str | None
    maintainer: str
    status: str = Field(description="supported, deprecated or removed")
    verdict: str = Field(
        description="the judge's: supported, unproven, at_risk, unsupported or removed"
    )
    since: str | None = Field(description="release of the current status, when known")
    deprecated_in: str | None
    removed_in: str | None
    new_location: str | None
    ci: list[CiRef]
    contacts: list[str]


class Drivers(BaseModel):
    window: WindowInfo
    counts: dict[str, int]
    drivers: list[DriverInfo]


class AdminResult(BaseModel):
    account: str
    action: str
    registry: str = Field(description="the registry file written")
    by: str
    date: dt.date
