"""Turn a CI's evaluation into a verdict (reliable, unproven, at_risk, unreliable) with
reasons a person can act on and the state of each criterion, and a driver's status into
supported / unproven / at_risk / unsupported."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from driverci.audit.evaluate.assessment import (
    AT_RISK,
    NOT_ASSESSED,
    RANK,
    RELIABLE,
    UNPROVEN,
    UNRELIABLE,
    Criterion,
    assess,
)
from driverci.audit.evaluate.criteria import CiEvaluation
from driverci.policy.schema import Policy

__all__ = [
    "AT_RISK",
    "RELIABLE",
    "UNPROVEN",
    "UNRELIABLE",
    "Verdict",
    "judge_ci",
    "judge_driver",
]


@dataclass
class Verdict:
    verdict: str
    reasons: list[str]
    #: coverage, timeliness, artifacts, accuracy: met, not met or not assessed, and why.
    criteria: dict[str, Criterion] = field(default_factory=dict)

    def not_assessed(self) -> list[str]:
        """The criteria not assessed, each as one line naming the command that would."""
        return [c.describe(name) for name, c in self.criteria.items() if c.state == NOT_ASSESSED]


def _worse(current: str, candidate: str) -> str:
    return candidate if RANK[candidate] > RANK[current] else current


def judge_ci(ev: CiEvaluation, policy: Policy, now: datetime) -> Verdict:
    limits = policy.thresholds
    verdict = RELIABLE
    reasons: list[str] = []

    def flag(grade: str, reason: str) -> None:
        nonlocal verdict
        if grade != RELIABLE:
            verdict = _worse(verdict, grade)
            reasons.append(reason)

    checks = assess(ev, policy)
    for check in checks.values():
        verdict = _worse(verdict, check.grade)
        reasons.extend(check.findings)
    criteria = {name: check.criterion() for name, check in checks.items()}
    _liveness(ev, policy, now, flag)
    if ev.expected < limits.min_sample and verdict == RELIABLE and ev.expected:
        verdict = AT_RISK
        reasons.append(
            f"only {ev.expected} patch sets to judge in the window (fewer than {limits.min_sample})"
        )
    # Nothing found wrong is not proof of reliability. The upstream CI is the reference the
    # others are measured against: the judge never probes its links, so that alone cannot
    # make it (and every driver it tests) unproven; any other gap in evidence does.
    unassessed = [
        (name, criterion)
        for name, criterion in criteria.items()
        if criterion.state == NOT_ASSESSED and not (ev.reference and name == "artifacts")
    ]
    if verdict == RELIABLE and unassessed:
        verdict = UNPROVEN
        reasons.extend(criterion.describe(name) for name, criterion in unassessed)
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
    return Verdict(verdict, reasons, criteria)


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
    """supported: a reliable CI covers it; unproven: the best covering CI is unproven (nothing
    found wrong, not every criterion assessed); at_risk: the best one is at risk."""
    if status == "removed":
        return "removed"
    if RELIABLE in ci_verdicts:
        return "supported"
    if UNPROVEN in ci_verdicts:
        return UNPROVEN
    if AT_RISK in ci_verdicts:
        return AT_RISK
    return "unsupported"
