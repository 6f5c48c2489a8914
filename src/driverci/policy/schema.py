"""The policy's schema: every rule of the spec as data, every number changeable.

The rule logic (deadline in force, branch rule, exclusions, recheck) is in
:mod:`driverci.policy.rules`; :class:`Policy` exposes it as methods.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from functools import cached_property
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from driverci.policy import rules

Fraction = float  # a share between 0 and 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_regex(pattern: str) -> str:
    try:
        re.compile(pattern.replace(rules.CI_PLACEHOLDER, "CI"))
    except re.error as err:
        raise ValueError(f"invalid regular expression {pattern!r}: {err}") from None
    return pattern


#: A regular expression, checked when the file loads (``{ci}`` allowed in recheck patterns).
Regex = Annotated[str, AfterValidator(_check_regex)]


class Deadline(_Strict):
    """From ``effective_from`` (UTC day) on, results are due within ``hours`` of the trigger."""

    effective_from: dt.date
    hours: float = Field(gt=0)
    note: str | None = None


class BranchRule(_Strict):
    always: list[str] = Field(default_factory=lambda: ["master"])
    #: Branches matching this are required when created after the CI started (None: never).
    stable_pattern: Regex | None = "^stable/"
    required_if_created_after_ci_start: bool = True
    #: Whether a matching branch whose creation time (or the CI's start) is unknown is required.
    required_when_unknown: bool = False


class Exclusions(_Strict):
    #: Regexes (re.search on the path) of files that cannot affect any driver.
    default: list[Regex] = Field(default_factory=list)
    #: Gerrit's magic files, never counted as changed files.
    ignored_files: list[str] = Field(
        default_factory=lambda: ["/COMMIT_MSG", "/MERGE_LIST", "/PATCHSET_LEVEL"]
    )


class Thresholds(_Strict):
    coverage_min: Fraction = Field(default=0.95, ge=0, le=1)
    on_time_min: Fraction = Field(default=0.90, ge=0, le=1)
    artifacts_available_min: Fraction = Field(default=0.95, ge=0, le=1)
    standard_min: Fraction = Field(default=0.90, ge=0, le=1)
    retained_min: Fraction = Field(default=0.90, ge=0, le=1)
    false_failure_max: Fraction = Field(default=0.10, ge=0, le=1)
    #: A figure within this margin of its limit makes the CI at_risk rather than unreliable.
    at_risk_margin: Fraction = Field(default=0.05, ge=0, le=1)
    #: Fewer expected patch sets than this in the window: no verdict beyond at_risk.
    min_sample: int = Field(default=20, ge=0)
    #: All-SUCCESS over at least this many results is flagged as a possible rubber stamp.
    rubber_stamp_min_sample: int = Field(default=100, ge=1)


class Liveness(_Strict):
    max_days_without_report: int | None = Field(default=7, ge=1)
    #: Cinder: no success within two weeks makes the driver unsupported (None: not checked).
    max_days_without_success: int | None = Field(default=None, ge=1)
    verdict_on_violation: Literal["at_risk", "unreliable"] = "unreliable"


class ArtifactProbe(_Strict):
    timeout_s: float = Field(default=10.0, gt=0)
    max_bytes: int = Field(default=2_000_000, gt=0)
    max_redirects: int = Field(default=5, ge=0)
    #: Allow private, loopback and link-local targets (tests against a local emulator).
    allow_private: bool = False


class Artifacts(_Strict):
    retention_days: int = Field(default=30, ge=1)
    probe: ArtifactProbe = Field(default_factory=lambda: ArtifactProbe())
    #: What "standard format" means, by evidence kind: regexes over the artifact listing/text.
    standard_evidence: dict[str, list[Regex]] = Field(default_factory=dict)


class Comments(_Strict):
    """Infra's conduct rules for a CI account's comments (findings, not verdicts)."""

    #: Comments a CI may leave on one patch set between two rechecks (infra: one).
    max_per_patch_set: int = Field(default=1, ge=1)
    #: Every comment must link to the CI's wiki page (infra: "All comments from your CI
    #: system must contain a link to the wiki page for your CI system").
    require_wiki_link: bool = True
    #: What counts as that link besides the CI's own registry ``wiki``: text any of which a
    #: comment contains (case-insensitive; written without the URL's scheme). The default is
    #: the ThirdPartySystems page under which every CI's page lives, which infra's example
    #: configuration links to itself.
    wiki_links: list[str] = Field(
        default_factory=lambda: ["wiki.openstack.org/wiki/ThirdPartySystems"]
    )
    #: Infra's naming rule for new accounts; a registered name without it is a warning.
    ci_name_suffix: str = Field(default=" CI", min_length=1)


class Recheck(_Strict):
    #: Regexes searched in a human comment; ``{ci}`` stands for the CI's name or account.
    patterns: list[Regex] = Field(default_factory=list)


class VotingRule(_Strict):
    #: Whether the project grants Verified votes to third-party CIs at all.
    grants_allowed: bool = True
    min_days_reliable: int = Field(default=90, ge=0)
    withdraw_when: Literal["at_risk", "unreliable"] = "unreliable"


#: What the judge can see of a CI that shows a milestone met: its account and a contact in
#: the registry (intent), a comment on the sandbox project, a result on the project.
MilestoneEvidence = Literal["intent", "sandbox", "per_patch"]
MILESTONE_EVIDENCE: tuple[MilestoneEvidence, ...] = ("intent", "sandbox", "per_patch")


class Milestone(_Strict):
    """A project's deadline for its CIs (Ironic's Mitaka-2 intent, Neutron's Icehouse-2 ...)."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    #: The spec's calendar date (None when the project sets none).
    date: dt.date | None = None
    #: For a CI that started after the dates above: due this many days after ``started``.
    days_after_start: int | None = Field(default=None, ge=0)
    description: str = ""
    #: What shows it met; by default the key itself, which must then be one of
    #: MILESTONE_EVIDENCE (so a project may name its milestones after its own cycle).
    evidence: MilestoneEvidence | None = None

    @model_validator(mode="after")
    def _evidence_known(self) -> Milestone:
        if self.evidence is None and self.key not in MILESTONE_EVIDENCE:
            raise ValueError(
                f"milestone {self.key!r} needs evidence: one of {', '.join(MILESTONE_EVIDENCE)}"
            )
        return self

    @property
    def met_by(self) -> MilestoneEvidence:
        """The evidence that meets this milestone."""
        if self.evidence is not None:
            return self.evidence
        # The validator above guarantees the key is one of the evidence names.
        return next(item for item in MILESTONE_EVIDENCE if item == self.key)


class ComplianceCheck(_Strict):
    """A dated review of every CI (Cinder's final check at milestone 3, fixes until RC1)."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    date: dt.date | None = None
    grace_days: int = Field(default=0, ge=0)
    consequence: str = ""
    description: str = ""


class Deprecation(_Strict):
    notice_period_days: int = Field(default=30, ge=0)
    removal_after_cycles: int = Field(default=1, ge=0)
    cycle_days: int = Field(default=182, ge=1)
    reinstate_when_reliable: bool = True
    deprecation_note_section: str = "deprecations"
    removal_note_section: str = "upgrade"


class Policy(_Strict):
    name: str
    project: str
    sandbox_project: str | None = None
    description: str = ""
    window_days: int = Field(default=30, ge=1)
    deadlines: list[Deadline] = Field(default_factory=list)
    branches: BranchRule = Field(default_factory=lambda: BranchRule())
    exclusions: Exclusions = Field(default_factory=lambda: Exclusions())
    thresholds: Thresholds = Field(default_factory=lambda: Thresholds())
    liveness: Liveness = Field(default_factory=lambda: Liveness())
    artifacts: Artifacts = Field(default_factory=lambda: Artifacts())
    comments: Comments = Field(default_factory=lambda: Comments())
    recheck: Recheck = Field(default_factory=lambda: Recheck())
    voting: VotingRule = Field(default_factory=lambda: VotingRule())
    milestones: list[Milestone] = Field(default_factory=list)
    compliance_checks: list[ComplianceCheck] = Field(default_factory=list)
    deprecation: Deprecation = Field(default_factory=lambda: Deprecation())

    @model_validator(mode="after")
    def _ordered_and_unique(self) -> Policy:
        days = [item.effective_from for item in self.deadlines]
        if days != sorted(days) or len(set(days)) != len(days):
            raise ValueError("deadlines must be in increasing effective_from order")
        keys = [item.key for item in self.milestones]
        if len(set(keys)) != len(keys):
            raise ValueError("milestone keys must be unique")
        return self

    @cached_property
    def _exclusion_matcher(self) -> rules.ExclusionMatcher:
        return rules.ExclusionMatcher(self.exclusions.default, self.exclusions.ignored_files)

    def deadline_hours(self, at: dt.datetime) -> float:
        """Hours allowed to report on a patch set created (or rechecked) at ``at``."""
        return rules.deadline_hours(
            [(item.effective_from, item.hours) for item in self.deadlines], at
        )

    def branch_required(
        self, branch: str, branch_created: dt.datetime | None, ci_started: dt.date | None
    ) -> bool:
        """Must a CI that started on ``ci_started`` test changes to ``branch``?"""
        rule = self.branches
        return rules.branch_required(
            branch,
            branch_created,
            ci_started,
            always=rule.always,
            stable_pattern=rule.stable_pattern,
            only_if_created_after_start=rule.required_if_created_after_ci_start,
            when_unknown=rule.required_when_unknown,
        )

    def is_excluded(self, files: Iterable[str], extra_patterns: Iterable[str] = ()) -> bool:
        """True only when every changed file is irrelevant (default + ``extra_patterns``)."""
        return self._exclusion_matcher.is_excluded(files, tuple(extra_patterns))

    def recheck_regexes(self, ci_name: str, account: str | None = None) -> list[re.Pattern[str]]:
        return rules.recheck_regexes(self.recheck.patterns, ci_name, account)

    def is_recheck(self, comment: str, ci_name: str, account: str | None = None) -> bool:
        """Does a human ``comment`` ask this CI (by name or account) to test again?"""
        return any(regex.search(comment) for regex in self.recheck_regexes(ci_name, account))

    def milestone(self, key: str) -> Milestone | None:
        return next((item for item in self.milestones if item.key == key), None)

    def milestone_due(self, key: str, ci_started: dt.date | None) -> dt.date | None:
        """When milestone ``key`` is due for a CI that started on ``ci_started``.

        The spec's date, or for a CI that started later, ``started + days_after_start``
        (whichever is later). None when the milestone has no date at all.
        """
        item = self.milestone(key)
        if item is None:
            raise KeyError(f"no milestone {key!r} in policy {self.name!r}")
        relative = (
            ci_started + dt.timedelta(days=item.days_after_start)
            if ci_started is not None and item.days_after_start is not None
            else None
        )
        candidates = [day for day in (item.date, relative) if day is not None]
        return max(candidates) if candidates else None
