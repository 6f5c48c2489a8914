"""What evaluating a CI yields (its figures) and what it needs to know of the CI (its rules).

Plain dataclasses shared by :mod:`driverci.audit.evaluate.criteria` (which fills them) and
everything that reads them (verdicts, reports, the dashboard).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from driverci.audit.evaluate.facts import PatchSetFact, Window

Key = tuple[int, int]


@dataclass(frozen=True)
class CiRules:
    """What the policy and registry say about one CI, reduced to what evaluation needs."""

    account: str
    name: str
    drivers: tuple[str, ...]
    started: date
    deadline_hours: Callable[[datetime], float]
    # True when this CI must test the patch set (project, branch rule, exclusions).
    must_test: Callable[[PatchSetFact], bool]
    retention_days: int = 30
    rubber_stamp_min_sample: int = 50
    #: Comments allowed on one patch set between two rechecks (infra: one).
    max_comments_per_patch_set: int = 1
    #: The CI's result comments (``ResultFact.message_pk``) without the wiki link the policy
    #: requires (empty when it requires none): see ``load.WikiLinkRule``.
    unlinked_comments: frozenset[int] = frozenset()
    # Two CIs whose rules carry the same signature must test the same patch sets, so a caller
    # evaluating many CIs may filter the project's patch sets once per signature.
    must_test_signature: Hashable = None
    #: The upstream CI (registry kind ``upstream``): the reference accuracy is measured against,
    #: whose links the judge does not probe.
    reference: bool = False


@dataclass(frozen=True)
class UpstreamResult:
    result: str
    all_jobs_failed: bool = False


@dataclass
class Latency:
    p50: float | None = None
    p95: float | None = None
    max: float | None = None


@dataclass
class Artifacts:
    checked: int = 0
    available: int = 0
    standard: int = 0
    retained_checked: int = 0
    retained: int = 0
    missing: dict[str, int] = field(default_factory=dict)
    #: Whether any of the CI's results in the window carries a result link: True once a link
    #: was probed, None when nobody looked (the store is asked only over a report's window).
    links_posted: bool | None = None


@dataclass
class Accuracy:
    false_failures: int = 0
    false_failure_base: int = 0  # patch sets merged as-is that upstream passed and we rated
    recheck_flips: int = 0
    rubber_stamp: bool = False
    rubber_stamp_successes: int = 0  # SUCCESS where upstream could not even install
    rated: int = 0  # patch sets with a decisive result from the CI and one from upstream
    upstream_failures: int = 0  # of those, how many upstream failed
    revision_mismatch: int = 0
    driver_mismatch: int = 0
    manifests_checked: int = 0  # probed links whose manifest named a revision or driver to check


@dataclass
class CiEvaluation:
    account: str
    name: str
    drivers: tuple[str, ...]
    window: Window
    expected: int = 0
    reported: int = 0
    pending: int = 0
    missed: list[Key] = field(default_factory=list)
    on_time: int = 0
    answered: int = 0
    deadline_hours: float = 0.0
    latency_hours: Latency = field(default_factory=Latency)
    late: list[tuple[int, int, float]] = field(default_factory=list)
    artifacts: Artifacts = field(default_factory=Artifacts)
    accuracy: Accuracy = field(default_factory=Accuracy)
    results: int = 0
    successes: int = 0
    failures: int = 0
    unparseable: int = 0
    #: Conduct: comments beyond the policy's limit per patch set with no recheck between, and
    #: comments without the link to the CI's wiki page the policy requires.
    duplicates: int = 0
    without_wiki_link: int = 0
    last_report: datetime | None = None
    last_success: datetime | None = None
    reference: bool = False  # see CiRules.reference
    #: Every latency in hours, sorted (what latency_hours summarises).
    latencies: list[float] = field(default_factory=list, repr=False)

    @property
    def coverage(self) -> float | None:
        return self.reported / self.expected if self.expected else None

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.answered if self.answered else None


def percentile(sorted_values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(share * len(sorted_values)))
    return sorted_values[rank - 1]
