"""Measure one CI against the spec's criteria: coverage, timeliness, artifacts, accuracy,
liveness and conduct. A pure function of facts; nothing here reads the store or the network.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from driverci.audit.facts import PatchSetFact, ProbeFact, RecheckFact, ResultFact, Window

Key = tuple[int, int]
_DECISIVE = frozenset({"SUCCESS", "FAILURE"})


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


@dataclass
class Accuracy:
    false_failures: int = 0
    false_failure_base: int = 0  # patch sets merged as-is that upstream passed and we rated
    recheck_flips: int = 0
    rubber_stamp: bool = False
    rubber_stamp_successes: int = 0  # SUCCESS where upstream could not even install
    revision_mismatch: int = 0
    driver_mismatch: int = 0


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
    duplicates: int = 0
    last_report: datetime | None = None
    last_success: datetime | None = None

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


def evaluate_ci(
    rules: CiRules,
    window: Window,
    now: datetime,
    patch_sets: Iterable[PatchSetFact],
    results: Sequence[ResultFact],
    upstream: Mapping[Key, UpstreamResult],
    rechecks: Mapping[Key, Sequence[RecheckFact]],
    probes: Sequence[ProbeFact],
) -> CiEvaluation:
    """Evaluate one CI over ``window``; ``results`` are this CI's comments (any time)."""
    ev = CiEvaluation(rules.account, rules.name, rules.drivers, window)
    horizon = min(now, window.end)
    ev.deadline_hours = rules.deadline_hours(horizon)
    started = datetime.combine(rules.started, datetime.min.time(), tzinfo=window.start.tzinfo)
    deadline_hours = rules.deadline_hours
    # Hot loops over a year of patch sets: locals, no property calls, no Window.__contains__.
    end = window.end
    by_key: dict[Key, list[ResultFact]] = {}
    for result in results:
        if result.posted < end:
            key = (result.change, result.patch_set)
            items = by_key.get(key)
            if items is None:
                by_key[key] = [result]
            else:
                items.append(result)
    for items in by_key.values():
        if len(items) > 1:
            items.sort(key=_posted)

    lower = max(window.start, started)
    must_test = rules.must_test
    expected = [ps for ps in patch_sets if lower <= ps.created < end and must_test(ps)]
    expected.sort(key=_created)
    latencies: list[float] = []
    for ps in expected:
        key = (ps.change, ps.patch_set)
        created = ps.created
        deadline = deadline_hours(created)
        reports = by_key.get(key, ())
        first = None
        for report in reports:
            if report.posted >= created:
                first = report
                break
        if first is None:
            if created + timedelta(hours=deadline) > horizon:
                ev.pending += 1
            else:
                ev.expected += 1
                ev.missed.append(key)
            continue
        ev.expected += 1
        ev.reported += 1
        _time_request(ev, ps, created, first, deadline, latencies)
        for recheck in rechecks.get(key, ()):
            if recheck.target not in (None, rules.name, rules.account):
                continue
            answer = next((r for r in reports if r.posted > recheck.posted), None)
            if answer is not None:
                _time_request(
                    ev, ps, recheck.posted, answer, deadline_hours(recheck.posted), latencies
                )
    latencies.sort()
    ev.latency_hours = Latency(
        percentile(latencies, 0.5),
        percentile(latencies, 0.95),
        latencies[-1] if latencies else None,
    )
    expected_by_key = {(ps.change, ps.patch_set): ps for ps in expected}
    _conduct(ev, by_key, rechecks, window, rules)
    _accuracy(ev, rules, by_key, upstream, expected_by_key, probes)
    _artifacts(ev, probes, rules)
    return ev


def _posted(result: ResultFact) -> datetime:
    return result.posted


def _created(ps: PatchSetFact) -> datetime:
    return ps.created


def _time_request(
    ev: CiEvaluation,
    ps: PatchSetFact,
    asked: datetime,
    answer: ResultFact,
    deadline: float,
    latencies: list[float],
) -> None:
    hours = (answer.posted - asked).total_seconds() / 3600
    latencies.append(hours)
    ev.answered += 1
    if hours <= deadline:
        ev.on_time += 1
    else:
        ev.late.append((ps.change, ps.patch_set, round(hours, 2)))


def _conduct(
    ev: CiEvaluation,
    by_key: Mapping[Key, list[ResultFact]],
    rechecks: Mapping[Key, Sequence[RecheckFact]],
    window: Window,
    rules: CiRules,
) -> None:
    start = window.start
    last_report = ev.last_report
    last_success = ev.last_success
    targets = (None, rules.name, rules.account)
    for key, items in by_key.items():
        # by_key holds only results posted before the window's end.
        for result in items:
            posted = result.posted
            if posted >= start:
                ev.results += 1
                ev.unparseable += not result.parseable
                ev.successes += result.result == "SUCCESS"
                ev.failures += result.result == "FAILURE"
            if last_report is None or posted > last_report:
                last_report = posted
            if result.result == "SUCCESS" and (last_success is None or posted > last_success):
                last_success = posted
        if len(items) < 2:
            continue
        # One comment per patch set unless retriggered: a second comment with no recheck
        # (for everyone or for this CI) between the two is a duplicate.
        asks = sorted(r.posted for r in rechecks.get(key, ()) if r.target in targets)
        for earlier, later in itertools.pairwise(items):
            if later.posted in window and not any(earlier.posted < a < later.posted for a in asks):
                ev.duplicates += 1
    ev.last_report = last_report
    ev.last_success = last_success


def _accuracy(
    ev: CiEvaluation,
    rules: CiRules,
    by_key: Mapping[Key, list[ResultFact]],
    upstream: Mapping[Key, UpstreamResult],
    expected: Mapping[Key, PatchSetFact],
    probes: Sequence[ProbeFact],
) -> None:
    acc = ev.accuracy
    upstream_failures = 0
    rated = 0
    for key, items in by_key.items():
        ps = expected.get(key)
        if ps is None:
            continue
        outcomes = {r.result for r in items} & _DECISIVE
        if len(outcomes) > 1:
            acc.recheck_flips += 1
        up = upstream.get(key)
        if up is None or not outcomes:
            continue
        rated += 1
        upstream_failures += up.result == "FAILURE"
        if ps.merged_as_is and up.result == "SUCCESS":
            acc.false_failure_base += 1
            if items[0].result == "FAILURE":
                acc.false_failures += 1
        if up.all_jobs_failed and "SUCCESS" in outcomes:
            acc.rubber_stamp_successes += 1
    seen_urls: set[str] = set()
    for probe in probes:
        if probe.url in seen_urls or (probe.change, probe.patch_set) not in expected:
            continue
        seen_urls.add(probe.url)
        ps = expected[(probe.change, probe.patch_set)]
        if probe.manifest_revision and probe.manifest_revision != ps.revision:
            acc.revision_mismatch += 1
        if probe.manifest_driver and rules.drivers and probe.manifest_driver not in rules.drivers:
            acc.driver_mismatch += 1
    never_fails = ev.failures == 0 and ev.successes >= rules.rubber_stamp_min_sample
    upstream_fails = rated > 0 and upstream_failures / rated >= 0.05
    acc.rubber_stamp = (never_fails and upstream_fails) or acc.rubber_stamp_successes >= 3


def _artifacts(ev: CiEvaluation, probes: Sequence[ProbeFact], rules: CiRules) -> None:
    art = ev.artifacts
    latest: dict[str, ProbeFact] = {}
    for probe in probes:
        if probe.posted in ev.window:
            current = latest.get(probe.url)
            if current is None or probe.checked_at > current.checked_at:
                latest[probe.url] = probe
    retention = timedelta(days=rules.retention_days)
    for probe in latest.values():
        art.checked += 1
        art.available += probe.available
        art.standard += probe.available and probe.standard
        for item in probe.missing:
            art.missing[item] = art.missing.get(item, 0) + 1
        # Retention can only be judged on links old enough; a dead young link is not
        # "retained" either way, so it counts against retention only once it is old.
        if probe.checked_at - probe.posted >= retention or not probe.available:
            art.retained_checked += 1
            art.retained += probe.available
