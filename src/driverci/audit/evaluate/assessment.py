"""Each of the spec's four criteria (coverage, timeliness, artifacts, accuracy) for one CI:
met, not met, or not assessed, with the reason, and for a criterion not assessed the command
that would assess it. A criterion passes only on evidence: no patch set to test, no link
probed, nothing to compare results with is "not assessed", never "met" (docs/judge.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

from driverci.audit.evaluate.figures import CiEvaluation
from driverci.policy.schema import Policy

RELIABLE = "reliable"
#: Nothing found wrong, but not every criterion assessed: not reliable, and nothing is
#: proposed or sent against it (docs/judge.md, "Verdicts").
UNPROVEN = "unproven"
AT_RISK = "at_risk"
UNRELIABLE = "unreliable"
RANK = {RELIABLE: 0, UNPROVEN: 1, AT_RISK: 2, UNRELIABLE: 3}

MET = "met"
NOT_MET = "not_met"
NOT_ASSESSED = "not_assessed"
CRITERIA = ("coverage", "timeliness", "artifacts", "accuracy")

COLLECT = "driverci audit collect"
PROBE = "driverci audit probe"


@dataclass(frozen=True)
class Criterion:
    """One criterion's state for one CI, as the report's ``criteria`` field shows it."""

    state: str  # met, not_met or not_assessed
    reason: str  # the figures behind a met or not met, or why it could not be assessed
    assess_with: str | None = None  # the command that would assess it (not assessed only)

    def describe(self, name: str) -> str:
        """One line, e.g. "artifacts not assessed: no result link probed yet; run `...`"."""
        state = self.state.replace("_", " ")
        run = f"; run `{self.assess_with}`" if self.assess_with else ""
        return f"{name} {state}: {self.reason}{run}"


@dataclass
class Check:
    """What assessing one criterion found: the worst grade, the findings a person must act on
    (the verdict's reasons) and the figures that passed."""

    grade: str = RELIABLE
    findings: list[str] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)
    unassessed: Criterion | None = None
    #: Not met although no finding of its own: another criterion's finding says why.
    failed_quietly: str | None = None

    def judge(self, grade: str, finding: str, figures: str) -> None:
        if grade == RELIABLE:
            self.passed.append(figures)
            return
        if RANK[grade] > RANK[self.grade]:
            self.grade = grade
        self.findings.append(finding)

    def criterion(self) -> Criterion:
        if self.findings:
            return Criterion(NOT_MET, "; ".join(self.findings))
        if self.failed_quietly:
            return Criterion(NOT_MET, self.failed_quietly)
        if self.unassessed is not None:
            return self.unassessed
        return Criterion(MET, "; ".join(self.passed))


def pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def grade(value: float, limit: float, margin: float, higher_is_better: bool = True) -> str:
    ok = value >= limit if higher_is_better else value <= limit
    if ok:
        return RELIABLE
    near = value >= limit - margin if higher_is_better else value <= limit + margin
    return AT_RISK if near else UNRELIABLE


def assess(ev: CiEvaluation, policy: Policy) -> dict[str, Check]:
    """The four criteria, in the order the spec lists them."""
    return {
        "coverage": _coverage(ev, policy),
        "timeliness": _timeliness(ev, policy),
        "artifacts": _artifacts(ev, policy),
        "accuracy": _accuracy(ev, policy),
    }


def _nothing_to_test(ev: CiEvaluation) -> Criterion:
    if ev.pending:
        why = (
            f"none of the {ev.pending} patch sets it must test is past its "
            f"{ev.deadline_hours:g} h deadline yet"
        )
    else:
        why = (
            "the window holds no patch set it must test (none uploaded since it started, "
            "or all excluded)"
        )
    return Criterion(NOT_ASSESSED, why, COLLECT)


def _coverage(ev: CiEvaluation, policy: Policy) -> Check:
    check = Check()
    if not ev.expected:
        check.unassessed = _nothing_to_test(ev)
        return check
    limits = policy.thresholds
    if not ev.results:
        check.judge(
            UNRELIABLE,
            f"no result posted in the window on any of {ev.expected} patch sets it must test",
            "",
        )
        return check
    coverage = ev.reported / ev.expected
    oldest = min(ev.missed)[0] if ev.missed else None
    check.judge(
        grade(coverage, limits.coverage_min, limits.at_risk_margin),
        f"coverage {pct(coverage)} ({ev.reported} of {ev.expected}) is under "
        f"{pct(limits.coverage_min)}; {len(ev.missed)} patch sets missed"
        + (f", e.g. change {oldest}" if oldest else ""),
        f"coverage {pct(coverage)} ({ev.reported} of {ev.expected}), at least "
        f"{pct(limits.coverage_min)}",
    )
    return check


def _timeliness(ev: CiEvaluation, policy: Policy) -> Check:
    check = Check()
    if not ev.expected:
        check.unassessed = _nothing_to_test(ev)
        return check
    rate = ev.on_time_rate
    if rate is None:
        # Every patch set it had to test went unanswered: coverage's finding says so.
        check.failed_quietly = f"no result to time on any of the {ev.expected} patch sets"
        return check
    limits = policy.thresholds
    p95 = ev.latency_hours.p95
    check.judge(
        grade(rate, limits.on_time_min, limits.at_risk_margin),
        f"on time {pct(rate)} ({ev.on_time} of {ev.answered}) is under "
        f"{pct(limits.on_time_min)} within the {ev.deadline_hours:g} h deadline"
        + (f"; p95 latency {p95:.1f} h" if p95 is not None else ""),
        f"on time {pct(rate)} ({ev.on_time} of {ev.answered}) within the "
        f"{ev.deadline_hours:g} h deadline, at least {pct(limits.on_time_min)}",
    )
    return check


def _artifacts(ev: CiEvaluation, policy: Policy) -> Check:
    check = Check()
    art = ev.artifacts
    if not art.checked:
        if ev.reference:
            why = "the judge does not probe the upstream CI's links (audit probe skips it)"
            check.unassessed = Criterion(NOT_ASSESSED, why)
        elif art.links_posted is False and ev.results:
            check.judge(
                UNRELIABLE,
                f"posts no result links: none of its {ev.results} results in the window "
                "links to logs the judge can read",
                "",
            )
        elif not ev.results:
            check.unassessed = Criterion(
                NOT_ASSESSED, "no result posted in the window, so no result link to probe", COLLECT
            )
        else:
            check.unassessed = Criterion(NOT_ASSESSED, "no result link probed yet", PROBE)
        return check
    limits = policy.thresholds
    margin = limits.at_risk_margin
    available = art.available / art.checked
    check.judge(
        grade(available, limits.artifacts_available_min, margin),
        f"artifacts available for {pct(available)} of {art.checked} result links, "
        f"under {pct(limits.artifacts_available_min)}",
        f"artifacts available for {pct(available)} of {art.checked} result links",
    )
    if art.available:
        standard = art.standard / art.available
        top_missing = max(art.missing, key=lambda k: art.missing[k]) if art.missing else ""
        check.judge(
            grade(standard, limits.standard_min, margin),
            f"standard artifacts in {pct(standard)} of available links, under "
            f"{pct(limits.standard_min)}" + (f" (missing: {top_missing})" if top_missing else ""),
            f"standard artifacts in {pct(standard)} of available links",
        )
    if art.retained_checked:
        retained = art.retained / art.retained_checked
        check.judge(
            grade(retained, limits.retained_min, margin),
            f"artifacts retained for {pct(retained)} of {art.retained_checked} links "
            f"(infra asks {policy.artifacts.retention_days} days), under "
            f"{pct(limits.retained_min)}",
            f"artifacts retained for {pct(retained)} of {art.retained_checked} links",
        )
    return check


def _accuracy(ev: CiEvaluation, policy: Policy) -> Check:
    check = Check()
    acc = ev.accuracy
    limits = policy.thresholds
    if acc.false_failure_base:
        share = acc.false_failures / acc.false_failure_base
        check.judge(
            grade(share, limits.false_failure_max, limits.at_risk_margin, higher_is_better=False),
            f"false failures on {pct(share)} ({acc.false_failures} of "
            f"{acc.false_failure_base}) of patch sets that merged unchanged with upstream "
            f"passing, over {pct(limits.false_failure_max)}",
            f"false failures on {pct(share)} ({acc.false_failures} of "
            f"{acc.false_failure_base}) of patch sets that merged unchanged with upstream passing",
        )
    if acc.manifests_checked:
        check.judge(
            UNRELIABLE if acc.revision_mismatch else RELIABLE,
            f"{acc.revision_mismatch} result(s) tested another revision than the "
            "patch set's (artifact manifests)",
            f"artifact manifests of {acc.manifests_checked} result(s) checked against the "
            "patch set's revision and the CI's driver",
        )
        if acc.driver_mismatch:
            check.judge(
                UNRELIABLE,
                f"{acc.driver_mismatch} result(s) tested another driver than "
                f"{', '.join(ev.drivers)} (artifact manifests)",
                "",
            )
    if acc.rubber_stamp:
        check.judge(
            UNRELIABLE,
            f"results look rubber-stamped: {ev.successes} SUCCESS and no FAILURE "
            "while upstream failed on some of the same patch sets",
            "",
        )
    if not (acc.false_failure_base or acc.manifests_checked):
        # Only a known-good patch set (merged unchanged, upstream passing) can show a false
        # failure, and only a manifest shows what was tested: without either, nothing was
        # compared.
        if acc.rated:
            why = (
                f"none of the {acc.rated} patch sets it shares with upstream merged unchanged "
                "with upstream passing, and no probed link has a manifest to check"
            )
        else:
            why = (
                "nothing to compare its results with: no patch set it rated has upstream's "
                "verdict, and no probed link has a manifest to check"
            )
        # Probing may find manifests; otherwise only newer facts (merges, upstream) can help.
        unprobed = ev.results and not ev.artifacts.checked and not ev.reference
        check.unassessed = Criterion(NOT_ASSESSED, why, PROBE if unprobed else COLLECT)
    return check
