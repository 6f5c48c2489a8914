"""Page data for one CI: its figures, latency histogram, weekly trend, missed patch sets,
link rot, reasons, contacts, milestones and voting."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, timedelta

from driverci.audit.evaluate.criteria import evaluate_ci
from driverci.audit.evaluate.facts import Window
from driverci.web.data import Analysis
from driverci.web.models import (
    CiDetail,
    ContactInfo,
    ExclusionInfo,
    HistogramBin,
    MissedPatchSet,
    NoteInfo,
    ProbePoint,
    VotingRecord,
    WeekPoint,
)
from driverci.web.views import accuracy_flags, criteria, milestones, voting, window_info


class CiPageLimits:
    """Tunables of the CI page."""

    MISSED_SHOWN = 200
    #: Histogram bins of one hour up to this many deadlines; later results share one bin.
    HISTOGRAM_DEADLINES = 3
    HISTOGRAM_MAX_BINS = 48
    WEEK = timedelta(days=7)


def first_result_latencies(analysis: Analysis, account: str) -> list[float]:
    """Hours from upload to the CI's first result, on the patch sets it must test."""
    rules = analysis.rules(account)
    results = analysis.results_by_key.get(account, {})
    hours: list[float] = []
    for ps in analysis.facts.patch_sets:
        if ps.created not in analysis.window or ps.created.date() < rules.started:
            continue
        if not rules.must_test(ps):
            continue
        first = next((r for r in results.get(ps.key, ()) if r.posted >= ps.created), None)
        if first is not None:
            hours.append((first.posted - ps.created).total_seconds() / 3600)
    return hours


def histogram(latencies: list[float], deadline_hours: float) -> list[HistogramBin]:
    limit = CiPageLimits
    top = min(
        limit.HISTOGRAM_MAX_BINS,
        max(1, math.ceil(deadline_hours * limit.HISTOGRAM_DEADLINES)),
    )
    counts = [0] * (top + 1)
    for value in latencies:
        counts[min(top, max(0, int(value)))] += 1
    bins = [HistogramBin(start_hours=i, end_hours=i + 1, count=counts[i]) for i in range(top)]
    bins.append(HistogramBin(start_hours=top, end_hours=None, count=counts[top]))
    return bins


def weekly(analysis: Analysis, account: str) -> list[WeekPoint]:
    """Coverage and on-time rate per week of the window, by the judge's own evaluation."""
    rules = analysis.rules(account)
    results = analysis.facts.results.get(account, [])
    points = []
    start = analysis.window.start
    while start < analysis.window.end:
        end = min(start + CiPageLimits.WEEK, analysis.window.end)
        ev = evaluate_ci(
            rules,
            Window(start, end),
            analysis.now,
            analysis.facts.patch_sets,
            results,
            {},
            analysis.facts.rechecks,
            [],
        )
        points.append(
            WeekPoint(
                week_start=start.date(),
                expected=ev.expected,
                reported=ev.reported,
                coverage=ev.coverage,
                answered=ev.answered,
                on_time=ev.on_time,
                on_time_rate=ev.on_time_rate,
            )
        )
        start = end
    return points


def probe_history(analysis: Analysis, account: str) -> list[ProbePoint]:
    """Per day of probing: how many of this CI's result links were still available."""
    checked: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for probe in analysis.facts.probes.get(account, []):
        day = checked[probe.checked_at.date()]
        day[0] += 1
        day[1] += probe.available
    return [
        ProbePoint(day=day, checked=total, available=alive, share=alive / total)
        for day, (total, alive) in sorted(checked.items())
    ]


def missed(analysis: Analysis, keys: list[tuple[int, int]]) -> list[MissedPatchSet]:
    items = []
    for change, patch_set in keys[: CiPageLimits.MISSED_SHOWN]:
        ps = analysis.patch_sets.get((change, patch_set))
        items.append(
            MissedPatchSet(
                change=change,
                patch_set=patch_set,
                branch=ps.branch if ps else "",
                created=ps.created if ps else analysis.window.start,
                gerrit_url=analysis.change_url(change, patch_set),
            )
        )
    return items


def ci_detail(analysis: Analysis, account: str) -> CiDetail | None:
    """One CI's page, computed once per analysis (the weekly evaluation is the costly part)."""
    cached = analysis.pages.get(("ci", account))
    if isinstance(cached, CiDetail):
        return cached
    detail = _ci_detail(analysis, account)
    if detail is not None:
        analysis.pages[("ci", account)] = detail
    return detail


def _ci_detail(analysis: Analysis, account: str) -> CiDetail | None:
    item = analysis.systems.get(account)
    if item is None:
        return None
    ev = item.evaluation
    ci = analysis.registry.ci_by_account(account)
    art = ev.artifacts
    return CiDetail(
        window=window_info(analysis),
        account=account,
        name=ev.name,
        registered=item.registered,
        kind=ci.kind if ci else "unregistered",
        drivers=list(ev.drivers),
        wiki=ci.wiki if ci else None,
        verdict=item.verdict.verdict,
        reasons=item.verdict.reasons,
        criteria=criteria(item),
        expected=ev.expected,
        reported=ev.reported,
        pending=ev.pending,
        coverage=ev.coverage,
        on_time=ev.on_time,
        answered=ev.answered,
        on_time_rate=ev.on_time_rate,
        deadline_hours=ev.deadline_hours,
        latency_p50_hours=ev.latency_hours.p50,
        latency_p95_hours=ev.latency_hours.p95,
        latency_max_hours=ev.latency_hours.max,
        latency_histogram=histogram(first_result_latencies(analysis, account), ev.deadline_hours),
        weekly=weekly(analysis, account),
        missed_total=len(ev.missed),
        missed=missed(analysis, sorted(ev.missed, reverse=True)),
        artifacts_checked=art.checked,
        artifacts_available=art.available,
        artifacts_standard=art.standard,
        probe_history=probe_history(analysis, account),
        accuracy_flags=accuracy_flags(item),
        last_report=ev.last_report,
        last_success=ev.last_success,
        contacts=[ContactInfo(name=c.name, email=c.email, irc=c.irc) for c in ci.contacts]
        if ci
        else [],
        notes=[NoteInfo(**n.model_dump()) for n in ci.notes] if ci else [],
        exclusions=[ExclusionInfo(**e.model_dump()) for e in ci.approved_exclusions] if ci else [],
        voting_record=VotingRecord(**ci.voting.model_dump()) if ci else VotingRecord(allowed=False),
        voting=voting(item),
        milestones=milestones(item),
    )
