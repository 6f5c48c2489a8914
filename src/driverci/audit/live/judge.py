"""Live (incremental) evaluation: load a project's facts once, apply new facts as they arrive,
and re-evaluate one CI in milliseconds (``audit collect --follow``, the dashboard).

What a full report recomputes for every CI on every run is kept here between evaluations:
the facts grouped by CI, the upstream verdict per patch set, which patch sets each CI must
test (the policy's branch and exclusion rules, computed once per patch set and CI), and each
evaluated CI's figures (:class:`~driverci.audit.live.ledger.CiLedger`: a new fact changes
only its patch set's share). The figures are those of :class:`~driverci.audit.engine.Judge`:
the same pure :func:`~driverci.audit.evaluate.criteria.evaluate_ci` runs on the same facts.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from driverci.audit.engine import Judge
from driverci.audit.evaluate.criteria import CiEvaluation, CiRules, UpstreamResult, evaluate_ci
from driverci.audit.evaluate.facts import PatchSetFact, ProbeFact, RecheckFact, ResultFact, Window
from driverci.audit.evaluate.load import load_facts, upstream_results
from driverci.audit.evaluate.verdict import Verdict, judge_ci
from driverci.audit.live.ledger import CiLedger
from driverci.policy.schema import Policy
from driverci.registry.schema import Registry
from driverci.store.db import Store

log = logging.getLogger(__name__)

Key = tuple[int, int]
Fact = PatchSetFact | ResultFact | RecheckFact | ProbeFact


class LiveJudge:
    """A project's facts in memory, kept current by :meth:`apply`; :meth:`evaluate` is cheap."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        policy: Policy,
        window: Window | None = None,
        now: datetime | None = None,
    ) -> None:
        self.judge = Judge(store, registry, policy, now)
        self.registry = registry
        self.policy = policy
        self.window = window or self.judge.default_window()
        lookback = timedelta(days=max(policy.voting.min_days_reliable, 0))
        with store.transaction() as session:
            facts = load_facts(
                session,
                registry.project,
                registry.sandbox_project,
                self.window.start - lookback,
                self.window.end,
                needs_name=registry.is_unregistered,
                links_since=self.window.start,
            )
            self.judge.load_conduct(
                session, facts, self.window.start - lookback, self.window.end
            )
        self.facts = facts
        self._patch_sets: dict[Key, PatchSetFact] = {ps.key: ps for ps in facts.patch_sets}
        self._excluded = {key: policy.is_excluded(ps.files) for key, ps in self._patch_sets.items()}
        self._upstream_accounts = {
            ci.account for ci in registry.ci_systems if ci.kind == "upstream"
        }
        self._upstream: dict[Key, UpstreamResult] = {}
        self._upstream_posted: dict[Key, datetime] = {}
        for account in sorted(self._upstream_accounts & set(facts.results)):
            for result in sorted(facts.results[account], key=lambda r: r.posted):
                self._note_upstream(result)
        # Per CI: its rules, and its figures kept current (built on its first evaluation).
        self._rules: dict[str, CiRules] = {}
        self._ledgers: dict[str, CiLedger] = {}

    @property
    def now(self) -> datetime:
        return self.judge.now

    # -- applying new facts -------------------------------------------------------------------

    def apply(self, fact: Fact) -> None:
        """Add one new fact: a patch set (or its new state, e.g. merged), a CI result, a recheck
        or an artifact probe."""
        if isinstance(fact, PatchSetFact):
            self._apply_patch_set(fact)
        elif isinstance(fact, ResultFact):
            self._apply_result(fact)
        elif isinstance(fact, RecheckFact):
            self._apply_recheck(fact)
        else:
            self.facts.probes[self._probe_account(fact)].append(fact)

    def _apply_patch_set(self, ps: PatchSetFact) -> None:
        key = ps.key
        for ledger in self._ledgers.values():
            ledger.mark(key)
        known = key in self._patch_sets
        self._patch_sets[key] = ps
        if known:
            self.facts.patch_sets = [ps if p.key == key else p for p in self.facts.patch_sets]
        else:
            self.facts.patch_sets.append(ps)
        if ps.branch not in self.facts.branch_created:
            # A new branch changes every CI's branch rule: rebuild rules on demand.
            self.facts.branch_created[ps.branch] = ps.created
            self._rules.clear()
            self._ledgers.clear()
        self._excluded[key] = self.policy.is_excluded(ps.files)
        for ledger in self._ledgers.values():
            ledger.place(ps)  # replacing keeps the patch set's place, as Judge's list

    def _apply_recheck(self, recheck: RecheckFact) -> None:
        key = (recheck.change, recheck.patch_set)
        for ledger in self._ledgers.values():
            ledger.mark(key)
        self.facts.rechecks[key].append(recheck)

    def _apply_result(self, result: ResultFact) -> None:
        account = result.account
        key = (result.change, result.patch_set)
        # Upstream's verdict on a patch set is part of every CI's accuracy there.
        upstream = account in self._upstream_accounts
        for marked, ledger in self._ledgers.items():
            if upstream or marked == account:
                ledger.mark(key)
        new_account = account not in self.facts.results and account not in self.facts.activity
        self.facts.results[account].append(result)
        if not self.facts.links_posted.get(account, True):
            # A result's links are not among its facts: whether it posts none is unknown again
            # (so at worst "not probed yet", never a wrong "posts no links").
            del self.facts.links_posted[account]
        if (own := self._ledgers.get(account)) is not None:
            own.add_result(result)
        day = result.posted.date()
        first_seen, sandbox, first_result = self.facts.activity.get(account, (None, None, None))
        self.facts.activity[account] = (
            min(first_seen, day) if first_seen else day,
            sandbox,
            min(first_result, day) if first_result else day,
        )
        if upstream:
            self._note_upstream(result)
        if new_account:
            # An unregistered CI's start is its first activity: rebuild its rules on demand.
            self._rules.pop(account, None)
            self._ledgers.pop(account, None)

    def _note_upstream(self, result: ResultFact) -> None:
        """upstream_results' rule, one result at a time: the latest SUCCESS/FAILURE wins."""
        if result.result not in ("SUCCESS", "FAILURE"):
            return
        key = (result.change, result.patch_set)
        posted = self._upstream_posted.get(key)
        if posted is None or result.posted >= posted:
            self._upstream_posted[key] = result.posted
            self._upstream[key] = upstream_results([result])[key]

    @staticmethod
    def _probe_account(probe: ProbeFact) -> str:
        if not probe.account:
            raise ValueError(f"probe of {probe.url}: it names no CI (ProbeFact.account)")
        return probe.account

    # -- evaluating ---------------------------------------------------------------------------

    def rules(self, account: str) -> CiRules:
        """The CI's rules (built once, as Judge builds them)."""
        rules = self._rules.get(account)
        if rules is None:
            ci = self.registry.ci_by_account(account)
            rules = self.judge.rules_for(ci, account, self.facts, self._excluded)
            self._rules[account] = rules
        return rules

    def _ledger(self, account: str) -> CiLedger:
        ledger = self._ledgers.get(account)
        if ledger is None:
            ledger = CiLedger(
                self.rules(account),
                self.window,
                self.now,
                self._patch_sets.values(),
                self.facts.results.get(account, []),
                self._upstream,
                self.facts.rechecks,
            )
            self._ledgers[account] = ledger
        return ledger

    def evaluate(
        self, account: str, window: Window | None = None, now: datetime | None = None
    ) -> tuple[CiEvaluation, Verdict]:
        """One CI's figures and verdict over ``window`` (default: the loaded one).

        Over the loaded window (and the judge's now) the figures are kept current between
        calls, so this costs what the facts applied since the last call touched.
        """
        ledger = self._ledger(account)
        probes = self.facts.probes.get(account, [])
        links_posted = self.facts.links_posted.get(account)
        if (window is None or window == self.window) and (now is None or now == self.now):
            ev = ledger.figures(probes, links_posted)
            return ev, judge_ci(ev, self.policy, self.now)
        window = window or self.window
        now = now or self.now
        ev = evaluate_ci(
            ledger.rules,
            window,
            now,
            ledger.expected.values(),
            self.facts.results.get(account, []),
            self._upstream,
            self.facts.rechecks,
            probes,
            links_posted if window == self.window else None,
        )
        return ev, judge_ci(ev, self.policy, now)

    def accounts(self) -> list[str]:
        """Registered CIs then unregistered accounts that posted results (Judge's order)."""
        registered = [ci.account for ci in self.registry.ci_systems]
        extra = sorted(a for a in self.facts.results if self.registry.ci_by_account(a) is None)
        return registered + extra
