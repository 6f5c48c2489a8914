"""The judge: load facts, evaluate every CI (registered or not), give verdicts, milestones and
voting recommendations, and rate every driver. One call builds the whole report."""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from driverci.audit.evaluate.conduct import WikiLinkRule, load_unlinked
from driverci.audit.evaluate.criteria import (
    CiEvaluation,
    CiRules,
    PatchSetIndex,
    UpstreamResult,
    evaluate_indexed,
)
from driverci.audit.evaluate.facts import PatchSetFact, Window
from driverci.audit.evaluate.load import ProjectFacts, load_facts, upstream_results
from driverci.audit.evaluate.parallel import map_in_processes
from driverci.audit.evaluate.verdict import RELIABLE, Verdict, judge_ci, judge_driver
from driverci.audit.govern.milestones import Activity, milestones_for, voting_recommendation
from driverci.audit.govern.report import AuditReport, DriverReport, SystemReport
from driverci.gctools import cyclic_gc_paused
from driverci.policy.schema import Policy
from driverci.registry.schema import CISystem, Registry
from driverci.store.db import Store

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

Key = tuple[int, int]
ZERO = timedelta(0)


class Judge:
    """Evaluates a project's CIs from what the store holds."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        policy: Policy,
        now: datetime | None = None,
        processes: int = 1,
    ) -> None:
        self.store = store
        self.registry = registry
        self.policy = policy
        self.now = now or datetime.now(UTC)
        # CIs evaluated in this many processes when the facts are many (forked after the
        # load; see driverci.audit.evaluate.parallel). 1 in servers, which must not fork.
        self.processes = processes
        self._deadlines: dict[date, float] = {}
        # Every CI asks for the deadline at each patch set's creation: remember each moment.
        self._deadline_at: dict[datetime, float] = {}

    def _deadline_hours(self, at: datetime) -> float:
        """The policy's deadline, computed once per UTC day (it changes only by date)."""
        hours = self._deadline_at.get(at)
        if hours is not None:
            return hours
        day = (at if at.utcoffset() == ZERO else at.astimezone(UTC)).date()
        hours = self._deadlines.get(day)
        if hours is None:
            hours = self._deadlines[day] = self.policy.deadline_hours(at)
        self._deadline_at[at] = hours
        return hours

    def default_window(self) -> Window:
        return Window(self.now - timedelta(days=self.policy.window_days), self.now)

    def report(self, window: Window | None = None) -> AuditReport:
        return self.report_and_facts(window)[0]

    def report_and_facts(self, window: Window | None = None) -> tuple[AuditReport, ProjectFacts]:
        """The report, and the facts it was built from (patch sets from before the window
        included, as far back as voting looks: see :meth:`ProjectFacts.created_since`)."""
        with cyclic_gc_paused():
            return self._report(window or self.default_window())

    def _report(self, window: Window) -> tuple[AuditReport, ProjectFacts]:
        # Patch sets from before the window are loaded too: voting looks further back.
        lookback = timedelta(days=max(self.policy.voting.min_days_reliable, 0))
        with self.store.transaction() as session:
            facts = load_facts(
                session,
                self.registry.project,
                self.registry.sandbox_project,
                window.start - lookback,
                window.end,
                needs_name=self.registry.is_unregistered,
                links_since=window.start,
            )
            self.load_conduct(session, facts, window.start - lookback, window.end)
        upstream: dict[Key, UpstreamResult] = {}
        for upstream_ci in self.registry.ci_systems:
            if upstream_ci.kind == "upstream":
                upstream.update(upstream_results(facts.results.get(upstream_ci.account, [])))
        excluded_by_default = {ps.key: self.policy.is_excluded(ps.files) for ps in facts.patch_sets}
        # Indexed once per kind of rules: most CIs must test the same patch sets.
        indexes: dict[Hashable, PatchSetIndex] = {}
        accounts = [ci.account for ci in self.registry.ci_systems]
        accounts += sorted(a for a in facts.results if self.registry.ci_by_account(a) is None)

        def evaluate(chunk: list[str]) -> list[SystemReport | None]:
            return [
                self._system_report(account, window, facts, upstream, excluded_by_default, indexes)
                for account in chunk
            ]

        reports = map_in_processes(
            accounts, evaluate, self.processes, lambda a: len(facts.results.get(a, ()))
        )
        systems = [report for report in reports if report is not None]
        report = AuditReport(
            self.registry.project,
            self.now,
            window.start,
            window.end,
            systems,
            self._drivers(systems),
        )
        return report, facts

    def load_conduct(
        self, session: Session, facts: ProjectFacts, since: datetime, until: datetime
    ) -> None:
        """Add to ``facts`` the comments posted in [since, until) without a required link."""
        rule = self.wiki_link_rule()
        if rule is not None:
            facts.unlinked = load_unlinked(session, self.registry.project, since, until, rule)

    def wiki_link_rule(self) -> WikiLinkRule | None:
        """What a comment must link to (policy ``comments``), None when no link is required."""
        comments = self.policy.comments
        if not comments.require_wiki_link:
            return None
        return WikiLinkRule(
            links=tuple(comments.wiki_links),
            pages={ci.account: ci.wiki for ci in self.registry.ci_systems if ci.wiki},
            exempt=frozenset(
                ci.account for ci in self.registry.ci_systems if ci.kind == "upstream"
            ),
        )

    def _system_report(
        self,
        account: str,
        window: Window,
        facts: ProjectFacts,
        upstream: dict[Key, UpstreamResult],
        excluded_by_default: dict[Key, bool],
        indexes: dict[Hashable, PatchSetIndex],
    ) -> SystemReport | None:
        """One CI's figures, verdict, milestones and voting (None: a registered CI with
        nothing to report)."""
        ci = self.registry.ci_by_account(account)
        if ci is not None and not self._relevant(ci, facts, window):
            return None
        rules = self.rules_for(ci, account, facts, excluded_by_default)
        index = indexes.get(rules.must_test_signature)
        if index is None:
            index = PatchSetIndex.build(
                filter(rules.must_test, facts.patch_sets),
                self._deadline_hours,
                upstream,
                facts.rechecks,
            )
            indexes[rules.must_test_signature] = index
        ev = self._evaluate(rules, window, facts, index, facts.links_posted.get(account))
        verdict = judge_ci(ev, self.policy, self.now)
        first_seen, sandbox, first_result = facts.activity.get(account, (None, None, None))
        # The spec's milestones are for third-party CIs; upstream Zuul is the reference.
        milestones = (
            []
            if ci is not None and ci.kind == "upstream"
            else milestones_for(
                ci, Activity(first_seen, sandbox, first_result), self.policy, self.now.date()
            )
        )
        voting = voting_recommendation(
            ci,
            verdict.verdict,
            self._reliable_since(rules, verdict, facts, index),
            self.policy,
            self.now,
        )
        return SystemReport(ev, verdict, ci is not None, milestones, voting)

    def _relevant(self, ci: CISystem, facts: ProjectFacts, window: Window) -> bool:
        """Report a registered CI if it is active in the window or has posted anything."""
        if ci.account in facts.results or ci.account in facts.activity:
            return True
        return ci.active_on(window.end.date()) and ci.stopped is None and bool(ci.drivers)

    def rules_for(
        self,
        ci: CISystem | None,
        account: str,
        facts: ProjectFacts,
        excluded_by_default: dict[Key, bool],
    ) -> CiRules:
        """What policy and registry ask of ``account`` (``ci`` None: an unregistered CI)."""
        policy = self.policy
        started = (
            ci.started
            if ci and ci.started
            else facts.activity.get(account, (None,))[0] or date(1970, 1, 1)
        )
        extra = ci.exclusion_patterns if ci else ()
        branch_created = dict(facts.branch_created)
        for branch, day in self.registry.branch_created.items():
            branch_created[branch] = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
        known_started = ci.started if ci else started
        required: dict[str, bool] = {}  # branch -> must this CI test it (once per branch)

        def must_test(ps: PatchSetFact) -> bool:
            branch_ok = required.get(ps.branch)
            if branch_ok is None:
                branch_ok = required[ps.branch] = policy.branch_required(
                    ps.branch, branch_created.get(ps.branch), known_started
                )
            if not branch_ok or excluded_by_default[ps.key]:
                return False
            return not (extra and policy.is_excluded(ps.files, extra))

        return CiRules(
            account=account,
            name=ci.name if ci else facts.names.get(account, account),
            drivers=tuple(ci.drivers) if ci else (),
            started=started,
            deadline_hours=self._deadline_hours,
            must_test=must_test,
            retention_days=policy.artifacts.retention_days,
            rubber_stamp_min_sample=policy.thresholds.rubber_stamp_min_sample,
            max_comments_per_patch_set=policy.comments.max_per_patch_set,
            unlinked_comments=facts.unlinked.get(account, frozenset()),
            must_test_signature=(known_started, tuple(extra)),
            reference=ci is not None and ci.kind == "upstream",
        )

    def _evaluate(
        self,
        rules: CiRules,
        window: Window,
        facts: ProjectFacts,
        index: PatchSetIndex,
        links_posted: bool | None = None,
    ) -> CiEvaluation:
        """``links_posted`` is known for the report's window only (see
        :attr:`ProjectFacts.links_posted`); earlier windows count their probes alone."""
        return evaluate_indexed(
            rules,
            window,
            self.now,
            index,
            facts.results.get(rules.account, []),
            facts.rechecks,
            facts.probes.get(rules.account, []),
            links_posted,
        )

    def _reliable_since(
        self,
        rules: CiRules,
        verdict: Verdict,
        facts: ProjectFacts,
        index: PatchSetIndex,
    ) -> datetime | None:
        """Start of the longest run of reliable windows ending now (None when not reliable).

        An earlier window counts only if every criterion was assessed in it too: its result
        links must have been probed (``audit probe --since``), as a vote needs evidence."""
        if verdict.verdict != RELIABLE:
            return None
        step = timedelta(days=self.policy.window_days)
        since = self.now - step
        limit = self.now - timedelta(days=self.policy.voting.min_days_reliable)
        while since > limit:
            window = Window(since - step, since)
            ev = self._evaluate(rules, window, facts, index)
            if not ev.expected or judge_ci(ev, self.policy, since).verdict != RELIABLE:
                break
            since -= step
        return since

    def _drivers(self, systems: list[SystemReport]) -> list[DriverReport]:
        verdict_of: dict[str, str] = {s.evaluation.account: s.verdict.verdict for s in systems}
        drivers = []
        for driver in self.registry.drivers:
            cis = self.registry.ci_for_driver(driver.name)
            verdicts = [verdict_of[ci.account] for ci in cis if ci.account in verdict_of]
            drivers.append(
                DriverReport(
                    driver.name,
                    driver.status,
                    judge_driver(driver.status, verdicts),
                    [ci.name for ci in cis],
                    [c.email or c.name for c in driver.contacts],
                )
            )
        return drivers


ProgressFn = Callable[[str, int, int], None]
