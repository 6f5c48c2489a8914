"""Measure one CI against the spec's criteria: coverage, timeliness, artifacts, accuracy,
liveness and conduct. A pure function of facts; nothing here reads the store or the network.

Every figure but the artifact ones (from probes) and the summaries (latency percentiles,
rubber stamp: :func:`finish`) is a sum over patch sets, so evaluating one patch set's facts
alone gives its share; :class:`~driverci.audit.live.judge.LiveJudge` keeps figures current that way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from driverci.audit.evaluate.facts import PatchSetFact, ProbeFact, RecheckFact, ResultFact, Window
from driverci.audit.evaluate.figures import (
    Accuracy,
    Artifacts,
    CiEvaluation,
    CiRules,
    Key,
    Latency,
    UpstreamResult,
    percentile,
)
from driverci.audit.evaluate.measure import PatchSetIndex, count_results, measure

__all__ = [
    "Accuracy",
    "Artifacts",
    "CiEvaluation",
    "CiRules",
    "Key",
    "Latency",
    "PatchSetIndex",
    "UpstreamResult",
    "evaluate_ci",
    "evaluate_indexed",
    "finish",
    "manifest_checks",
    "measure_artifacts",
    "percentile",
]


def evaluate_ci(
    rules: CiRules,
    window: Window,
    now: datetime,
    patch_sets: Iterable[PatchSetFact],
    results: Sequence[ResultFact],
    upstream: Mapping[Key, UpstreamResult],
    rechecks: Mapping[Key, Sequence[RecheckFact]],
    probes: Sequence[ProbeFact],
    links_posted: bool | None = None,
) -> CiEvaluation:
    """Evaluate one CI over ``window``; ``results`` are this CI's comments (any time).

    ``links_posted``: whether any of its results in the window carries a result link, when
    known (see :attr:`Artifacts.links_posted`); it tells "posts no links" from "not probed"."""
    lower, end = _bounds(rules, window)
    must_test = rules.must_test
    index = PatchSetIndex.build(
        (ps for ps in patch_sets if lower <= ps.created < end and must_test(ps)),
        rules.deadline_hours,
        upstream,
        rechecks,
    )
    return evaluate_indexed(rules, window, now, index, results, rechecks, probes, links_posted)


def evaluate_indexed(
    rules: CiRules,
    window: Window,
    now: datetime,
    index: PatchSetIndex,
    results: Sequence[ResultFact],
    rechecks: Mapping[Key, Sequence[RecheckFact]],
    probes: Sequence[ProbeFact],
    links_posted: bool | None = None,
) -> CiEvaluation:
    """:func:`evaluate_ci` over an index of the patch sets the CI must test (any window:
    ``rules.must_test`` is not asked again), built with ``rules.deadline_hours`` and the same
    upstream verdicts and ``rechecks``."""
    ev = CiEvaluation(rules.account, rules.name, rules.drivers, window, reference=rules.reference)
    horizon = min(now, window.end)
    ev.deadline_hours = rules.deadline_hours(horizon)
    by_key = count_results(ev, results, rechecks, window, rules)
    rows = index.between(*_bounds(rules, window))
    measure(ev, rules, rows, by_key, horizon)
    if probes:
        expected = {row[0]: row[-1] for row in rows}
        manifest_checks(ev.accuracy, rules, expected, probes)
    measure_artifacts(ev, probes, rules, links_posted)
    finish(ev, rules)
    return ev


def _bounds(rules: CiRules, window: Window) -> tuple[datetime, datetime]:
    """Patch sets created in [lower, end) count: in the window, after the CI started."""
    started = datetime.combine(rules.started, datetime.min.time(), tzinfo=window.start.tzinfo)
    return max(window.start, started), window.end


def finish(ev: CiEvaluation, rules: CiRules) -> None:
    """The figures that are not sums over patch sets: latency percentiles and rubber stamp."""
    latencies = ev.latencies
    ev.latency_hours = Latency(
        percentile(latencies, 0.5),
        percentile(latencies, 0.95),
        latencies[-1] if latencies else None,
    )
    acc = ev.accuracy
    never_fails = ev.failures == 0 and ev.successes >= rules.rubber_stamp_min_sample
    upstream_fails = acc.rated > 0 and acc.upstream_failures / acc.rated >= 0.05
    acc.rubber_stamp = (never_fails and upstream_fails) or acc.rubber_stamp_successes >= 3


def manifest_checks(
    acc: Accuracy,
    rules: CiRules,
    expected: Mapping[Key, PatchSetFact],
    probes: Sequence[ProbeFact],
) -> None:
    """Whether artifact manifests name the patch set's revision and the CI's driver."""
    seen_urls: set[str] = set()
    for probe in probes:
        if probe.url in seen_urls or (probe.change, probe.patch_set) not in expected:
            continue
        seen_urls.add(probe.url)
        ps = expected[(probe.change, probe.patch_set)]
        checks_driver = bool(probe.manifest_driver and rules.drivers)
        acc.manifests_checked += bool(probe.manifest_revision) or checks_driver
        # A patch set rebuilt from its upload message has no known revision ("").
        if probe.manifest_revision and ps.revision and probe.manifest_revision != ps.revision:
            acc.revision_mismatch += 1
        if checks_driver and probe.manifest_driver not in rules.drivers:
            acc.driver_mismatch += 1


def measure_artifacts(
    ev: CiEvaluation,
    probes: Sequence[ProbeFact],
    rules: CiRules,
    links_posted: bool | None = None,
) -> None:
    """Availability, standard contents and retention of the CI's probed result links."""
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
    # A probed link was posted; otherwise only the caller's look at the store can tell.
    art.links_posted = True if art.checked else links_posted
