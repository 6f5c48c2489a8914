"""Turn a CI's evaluation into a verdict (reliable, at_risk, unreliable) with reasons a
person can act on, and a driver's status into supported / at_risk / unsupported."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from driverci.audit.evaluate.criteria import CiEvaluation
from driverci.policy.schema import Policy

RELIABLE = "reliable"
AT_RISK = "at_risk"
UNRELIABLE = "unreliable"
_RANK = {RELIABLE: 0, AT_RISK: 1, UNRELIABLE: 2}


@dataclass
class Verdict:
    verdict: str
    reasons: list[str]


def _pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def _worse(current: str, candidate: str) -> str:
    return candidate if _RANK[candidate] > _RANK[current] else current


def _grade(value: float, limit: float, margin: float, higher_is_better: bool = True) -> str:
    ok = value >= limit if higher_is_better else value <= limit
    if ok:
        return RELIABLE
    near = value >= limit - margin if higher_is_better else value <= limit + margin
    return AT_RISK if near else UNRELIABLE


def judge_ci(ev: CiEvaluation, policy: Policy, now: datetime) -> Verdict:
    limits = policy.thresholds
    margin = limits.at_risk_margin
    verdict = RELIABLE
    reasons: list[str] = []

    def flag(grade: str, reason: str) -> None:
        nonlocal verdict
        if grade != RELIABLE:
            verdict = _worse(verdict, grade)
            reasons.append(reason)

    if ev.results == 0 and ev.expected > 0:
        flag(
            UNRELIABLE,
            f"no result posted in the window on any of {ev.expected} patch sets it must test",
        )
    coverage = ev.coverage
    if coverage is not None and ev.results:
        oldest = min(ev.missed)[0] if ev.missed else None
        flag(
            _grade(coverage, limits.coverage_min, margin),
            f"coverage {_pct(coverage)} ({ev.reported} of {ev.expected}) is under "
            f"{_pct(limits.coverage_min)}; {len(ev.missed)} patch sets missed"
            + (f", e.g. change {oldest}" if oldest else ""),
        )
    rate = ev.on_time_rate
    if rate is not None:
        p95 = ev.latency_hours.p95
        flag(
            _grade(rate, limits.on_time_min, margin),
            f"on time {_pct(rate)} ({ev.on_time} of {ev.answered}) is under "
            f"{_pct(limits.on_time_min)} within the {ev.deadline_hours:g} h deadline"
            + (f"; p95 latency {p95:.1f} h" if p95 is not None else ""),
        )
    art = ev.artifacts
    if art.checked:
        available = art.available / art.checked
        flag(
            _grade(available, limits.artifacts_available_min, margin),
            f"artifacts available for {_pct(available)} of {art.checked} result links, "
            f"under {_pct(limits.artifacts_available_min)}",
        )
        if art.available:
            standard = art.standard / art.available
            top_missing = max(art.missing, key=lambda k: art.missing[k]) if art.missing else ""
            flag(
                _grade(standard, limits.standard_min, margin),
                f"standard artifacts in {_pct(standard)} of available links, under "
                f"{_pct(limits.standard_min)}"
                + (f" (missing: {top_missing})" if top_missing else ""),
            )
        if art.retained_checked:
            retained = art.retained / art.retained_checked
            flag(
                _grade(retained, limits.retained_min, margin),
                f"artifacts retained for {_pct(retained)} of {art.retained_checked} links "
                f"(infra asks {policy.artifacts.retention_days} days), under "
                f"{_pct(limits.retained_min)}",
            )
    acc = ev.accuracy
    if acc.false_failure_base:
        share = acc.false_failures / acc.false_failure_base
        flag(
            _grade(share, limits.false_failure_max, margin, higher_is_better=False),
            f"false failures on {_pct(share)} ({acc.false_failures} of "
            f"{acc.false_failure_base}) of patch sets that merged unchanged with upstream "
            f"passing, over {_pct(limits.false_failure_max)}",
        )
    if acc.revision_mismatch:
        flag(
            UNRELIABLE,
            f"{acc.revision_mismatch} result(s) tested another revision than the "
            "patch set's (artifact manifests)",
        )
    if acc.driver_mismatch:
        flag(
            UNRELIABLE,
            f"{acc.driver_mismatch} result(s) tested another driver than "
            f"{', '.join(ev.drivers)} (artifact manifests)",
        )
    if acc.rubber_stamp:
        flag(
            UNRELIABLE,
            f"results look rubber-stamped: {ev.successes} SUCCESS and no FAILURE "
            "while upstream failed on some of the same patch sets",
        )
    _liveness(ev, policy, now, flag)
    if ev.expected < limits.min_sample and verdict == RELIABLE and ev.expected:
        verdict = AT_RISK
        reasons.append(
            f"only {ev.expected} patch sets to judge in the window (fewer than {limits.min_sample})"
        )
    # Conduct (infra's rules for every CI account): reported, but not held against the
    # verdict, which measures the spec's criteria; infra itself disables misbehaving accounts.
    if ev.duplicates:
        allowed = policy.comments.max_per_patch_set
        reasons.append(
            f"{ev.duplicates} duplicate comment(s) on a patch set without a recheck (policy "
            f"allows {allowed} per patch set)"
        )
    if ev.without_wiki_link:
        reasons.append(
            f"{ev.without_wiki_link} of {ev.results} comment(s) without a link to the CI's "
            "wiki page (policy comments.require_wiki_link)"
        )
    if ev.unparseable:
        reasons.append(f"{ev.unparseable} comment(s) whose result could not be read")
    return Verdict(verdict, reasons)


def _liveness(
    ev: CiEvaluation, policy: Policy, now: datetime, flag: Callable[[str, str], None]
) -> None:
    live = policy.liveness
    horizon = min(now, ev.window.end)
    if live.max_days_without_report is not None:
        if ev.last_report is None:
            if ev.expected:
                flag(live.verdict_on_violation, "has never reported")
        else:
            idle = (horizon - ev.last_report).days
            if idle > live.max_days_without_report:
                flag(
                    live.verdict_on_violation,
                    f"silent for {idle} days (last report {ev.last_report:%Y-%m-%d}), more "
                    f"than {live.max_days_without_report}",
                )
    if live.max_days_without_success is not None and ev.expected:
        last = ev.last_success
        days_since = (horizon - last).days if last else None
        if days_since is None or days_since > live.max_days_without_success:
            when = f"since {last:%Y-%m-%d}" if last else "ever"
            flag(
                live.verdict_on_violation,
                f"no success {when}, more than {live.max_days_without_success} days",
            )


def judge_driver(status: str, ci_verdicts: Sequence[str]) -> str:
    """supported: a reliable CI covers it; at_risk: the best covering CI is at risk."""
    if status == "removed":
        return "removed"
    if RELIABLE in ci_verdicts:
        return "supported"
    if AT_RISK in ci_verdicts:
        return AT_RISK
    return "unsupported"
