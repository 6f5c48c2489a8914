"""One CI's figures over a live judge's window, kept current one patch set at a time.

Every figure :func:`~driverci.audit.evaluate.criteria.evaluate_ci` computes, except those from
artifact probes and the summaries of :func:`~driverci.audit.evaluate.criteria.finish`, is a sum of
shares, one per patch set (its coverage, timeliness, accuracy and conduct), and evaluating one
patch set's facts alone gives its share. So when a fact about a patch set arrives, the ledger takes
the share it had before, and at the next evaluation swaps it for the share it has now: a few patch
sets' worth of work instead of a year's. Lists keep the order a full evaluation gives them (patch
sets by creation, then by arrival), so the figures are equal, not just close.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from driverci.audit.evaluate.criteria import (
    Artifacts,
    CiEvaluation,
    CiRules,
    Key,
    UpstreamResult,
    evaluate_ci,
    finish,
    manifest_checks,
    measure_artifacts,
)
from driverci.audit.evaluate.facts import PatchSetFact, ProbeFact, RecheckFact, ResultFact, Window

T = TypeVar("T")
# Where a patch set's entries sit in the ordered lists (missed, late): creation, then arrival.
Place = tuple[datetime, int]
# Counters that are plain sums of per-patch-set shares.
_SUMMED = (
    "expected",
    "reported",
    "pending",
    "on_time",
    "answered",
    "results",
    "successes",
    "failures",
    "unparseable",
    "duplicates",
    "without_wiki_link",
)
_SUMMED_ACCURACY = (
    "false_failures",
    "false_failure_base",
    "recheck_flips",
    "rubber_stamp_successes",
    "rated",
    "upstream_failures",
)


class CiLedger:
    """Figures of one CI over ``window`` at ``now``; :meth:`mark` before a fact about a patch
    set is applied, then :meth:`place` (patch sets) or :meth:`add_result` (results)."""

    def __init__(
        self,
        rules: CiRules,
        window: Window,
        now: datetime,
        patch_sets: Iterable[PatchSetFact],
        results: Sequence[ResultFact],
        upstream: Mapping[Key, UpstreamResult],
        rechecks: Mapping[Key, Sequence[RecheckFact]],
    ) -> None:
        self.must_test = rules.must_test
        # Every patch set handed to evaluation already passed must_test: do not ask twice.
        self.rules = replace(rules, must_test=_always)
        self.window = window
        self.now = now
        self._upstream = upstream  # the live judge's own mappings, current at every call
        self._rechecks = rechecks
        #: The patch sets this CI must test, in arrival order (a full evaluation's tie order).
        self.expected: dict[Key, PatchSetFact] = {}
        self._arrival: dict[Key, int] = {}
        self._arrivals = 0
        for ps in patch_sets:
            self.place(ps)
        self._results: dict[Key, list[ResultFact]] = {}
        for result in results:
            self._results.setdefault((result.change, result.patch_set), []).append(result)
        self._base: CiEvaluation | None = None  # figures without probes, built on first use
        self._placed: dict[Key, Place] = {}  # where each patch set's list entries sit now
        self._missed_places: list[Place] = []  # parallel to base.missed
        self._late_places: list[Place] = []  # parallel to base.late
        self._stale: dict[Key, CiEvaluation] = {}  # shares from before their facts changed

    # -- facts arriving -----------------------------------------------------------------------

    def mark(self, key: Key) -> None:
        """Remember ``key``'s share as it is, before a fact about it is applied."""
        if self._base is not None and key not in self._stale:
            self._stale[key] = self._share(key)

    def place(self, ps: PatchSetFact) -> None:
        """A new patch set, or a new state of one (the live judge's exclusions are current)."""
        key = (ps.change, ps.patch_set)
        if not self.must_test(ps):
            if self.expected.pop(key, None) is not None:
                del self._arrival[key]
            return
        if key not in self.expected:  # a newcomer goes last, as in a dict
            self._arrival[key] = self._arrivals
            self._arrivals += 1
        self.expected[key] = ps

    def add_result(self, result: ResultFact) -> None:
        self._results.setdefault((result.change, result.patch_set), []).append(result)

    # -- figures ------------------------------------------------------------------------------

    def figures(
        self, probes: Sequence[ProbeFact], links_posted: bool | None = None
    ) -> CiEvaluation:
        """The CI's figures now (a new object each time: earlier answers stay as they were);
        ``links_posted`` as :func:`~driverci.audit.evaluate.criteria.evaluate_ci` takes it."""
        base = self._current()
        ev = replace(
            base,
            missed=list(base.missed),
            late=list(base.late),
            latencies=list(base.latencies),
            accuracy=replace(base.accuracy),
            artifacts=Artifacts(),
        )
        if probes:
            lower, end = self._bounds()
            keys = {(probe.change, probe.patch_set) for probe in probes}
            in_window = {
                key: ps
                for key in keys
                if (ps := self.expected.get(key)) is not None and lower <= ps.created < end
            }
            manifest_checks(ev.accuracy, self.rules, in_window, probes)
        measure_artifacts(ev, probes, self.rules, links_posted)
        finish(ev, self.rules)
        return ev

    def _current(self) -> CiEvaluation:
        if self._base is None:
            self._base = self._evaluate(self.expected.values(), self._all_results())
            self._index_lists(self._base)
            self._stale.clear()
        for key, before in self._stale.items():
            self._swap(key, before, self._share(key))
        self._stale.clear()
        return self._base

    def _share(self, key: Key) -> CiEvaluation:
        ps = self.expected.get(key)
        return self._evaluate([ps] if ps is not None else [], self._results.get(key, []))

    def _evaluate(
        self, patch_sets: Iterable[PatchSetFact], results: Sequence[ResultFact]
    ) -> CiEvaluation:
        return evaluate_ci(
            self.rules,
            self.window,
            self.now,
            patch_sets,
            results,
            self._upstream,
            self._rechecks,
            (),
        )

    def _all_results(self) -> list[ResultFact]:
        return [result for items in self._results.values() for result in items]

    def _bounds(self) -> tuple[datetime, datetime]:
        started = datetime.combine(
            self.rules.started, datetime.min.time(), tzinfo=self.window.start.tzinfo
        )
        return max(self.window.start, started), self.window.end

    def _place_of(self, key: Key) -> Place:
        return (self.expected[key].created, self._arrival[key])

    def _index_lists(self, base: CiEvaluation) -> None:
        """Where the entries of a fresh full evaluation sit (its lists are in place order)."""
        self._placed = {}
        self._missed_places = [self._remember(key) for key in base.missed]
        self._late_places = [self._remember((change, ps)) for change, ps, _hours in base.late]

    def _remember(self, key: Key) -> Place:
        place = self._placed.get(key)
        if place is None:
            place = self._placed[key] = self._place_of(key)
        return place

    def _swap(self, key: Key, before: CiEvaluation, after: CiEvaluation) -> None:
        """Replace ``key``'s share ``before`` with ``after`` in the base figures."""
        base = self._base
        assert base is not None
        _add_counts(base, before, -1)
        _add_counts(base, after, 1)
        base.last_report = _latest(base.last_report, after.last_report)
        base.last_success = _latest(base.last_success, after.last_success)
        latencies = base.latencies
        for hours in before.latencies:
            del latencies[bisect_left(latencies, hours)]
        for hours in after.latencies:
            insort(latencies, hours)
        old_place = self._placed.pop(key, None)
        if old_place is not None:
            _remove(base.missed, self._missed_places, old_place)
            _remove(base.late, self._late_places, old_place)
        if after.missed or after.late:
            place = self._remember(key)
            _insert(base.missed, self._missed_places, place, after.missed)
            _insert(base.late, self._late_places, place, after.late)


def _always(_ps: PatchSetFact) -> bool:
    return True


def _add_counts(total: CiEvaluation, share: CiEvaluation, sign: int) -> None:
    for name in _SUMMED:
        setattr(total, name, getattr(total, name) + sign * getattr(share, name))
    for name in _SUMMED_ACCURACY:
        value = getattr(total.accuracy, name) + sign * getattr(share.accuracy, name)
        setattr(total.accuracy, name, value)


def _latest(current: datetime | None, candidate: datetime | None) -> datetime | None:
    """The later moment: shares only ever gain results, so a maximum never goes back."""
    if candidate is None or (current is not None and current >= candidate):
        return current
    return candidate


def _remove(entries: list[T], places: list[Place], place: Place) -> None:
    low, high = bisect_left(places, place), bisect_right(places, place)
    del entries[low:high]
    del places[low:high]


def _insert(entries: list[T], places: list[Place], place: Place, new: Sequence[T]) -> None:
    at = bisect_left(places, place)
    entries[at:at] = new
    places[at:at] = [place] * len(new)
