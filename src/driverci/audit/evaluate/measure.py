"""The hot loops of evaluating a CI over a year: a million facts per report.

Written for speed: locals instead of attributes, no helper call per item, patch sets indexed
once (in creation order, found by bisection) and shared by every CI with the same rules and
every window evaluated. What each loop computes is documented in docs/judge.md.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from driverci.audit.evaluate.facts import PatchSetFact, RecheckFact, ResultFact, Window
from driverci.audit.evaluate.figures import CiEvaluation, CiRules, Key, UpstreamResult

_DECISIVE = frozenset({"SUCCESS", "FAILURE"})

# One patch set as evaluation reads it, flat (every object reached costs, a million times):
# key, created, deadline (hours) in force then, upstream's result (None when it gave none),
# whether all upstream's jobs failed, whether it merged unchanged, the rechecks asked on it
# (None when none) and the fact itself.
IndexRow = tuple[
    Key, datetime, float, str | None, bool, bool, Sequence[RecheckFact] | None, PatchSetFact
]


@dataclass(frozen=True)
class PatchSetIndex:
    """The patch sets a CI must test, in creation order, with what evaluation asks of each.

    Built from the same facts (upstream verdicts, rechecks) as the evaluation that reads it.
    """

    created: list[datetime]
    rows: list[IndexRow]

    @classmethod
    def build(
        cls,
        patch_sets: Iterable[PatchSetFact],
        deadline_hours: Callable[[datetime], float],
        upstream: Mapping[Key, UpstreamResult],
        rechecks: Mapping[Key, Sequence[RecheckFact]],
    ) -> PatchSetIndex:
        """Index ``patch_sets`` (any order; ties on creation keep their order)."""
        rows: list[IndexRow] = []
        for ps in sorted(patch_sets, key=_created):
            key = (ps.change, ps.patch_set)
            created = ps.created
            up = upstream.get(key)
            rows.append(
                (
                    key,
                    created,
                    deadline_hours(created),
                    up.result if up is not None else None,
                    up is not None and up.all_jobs_failed,
                    ps.merged_as_is,
                    rechecks.get(key) or None,
                    ps,
                )
            )
        return cls([row[1] for row in rows], rows)

    def between(self, lower: datetime, end: datetime) -> list[IndexRow]:
        """The rows of patch sets created in [lower, end)."""
        return self.rows[bisect_left(self.created, lower) : bisect_left(self.created, end)]


def _created(ps: PatchSetFact) -> datetime:
    return ps.created


def _posted(result: ResultFact) -> datetime:
    return result.posted


def count_results(
    ev: CiEvaluation,
    results: Sequence[ResultFact],
    rechecks: Mapping[Key, Sequence[RecheckFact]],
    window: Window,
    rules: CiRules,
) -> dict[Key, list[ResultFact]]:
    """Count results, last report and success, conduct (duplicates, missing wiki links); return
    the results posted before the window's end by patch set, each list in posting order."""
    start, end = window.start, window.end
    by_key: dict[Key, list[ResultFact]] = {}
    last_report = ev.last_report
    last_success = ev.last_success
    unlinked = rules.unlinked_comments
    counted = unparseable = successes = failures = without_link = 0
    for result in results:
        posted = result.posted
        if posted >= end:
            continue
        key = (result.change, result.patch_set)
        items = by_key.get(key)
        if items is None:
            by_key[key] = [result]
        else:
            items.append(result)
        outcome = result.result
        if posted >= start:
            counted += 1
            if not result.parseable:
                unparseable += 1
            if outcome == "SUCCESS":
                successes += 1
            elif outcome == "FAILURE":
                failures += 1
            if unlinked and result.message_pk in unlinked:
                without_link += 1
        if last_report is None or posted > last_report:
            last_report = posted
        if outcome == "SUCCESS" and (last_success is None or posted > last_success):
            last_success = posted
    ev.results += counted
    ev.unparseable += unparseable
    ev.successes += successes
    ev.failures += failures
    ev.without_wiki_link += without_link
    ev.last_report = last_report
    ev.last_success = last_success
    targets = (None, rules.name, rules.account)
    limit = rules.max_comments_per_patch_set
    for key, items in by_key.items():
        if len(items) < 2:
            continue
        items.sort(key=_posted)
        if len(items) <= limit:
            continue
        # At most `limit` comments per patch set unless retriggered (infra: one): a recheck
        # (for everyone or for this CI) between two comments starts a new run; a comment
        # beyond the limit in its run is a duplicate.
        asks = sorted(r.posted for r in rechecks.get(key, ()) if r.target in targets)
        run = 1
        for earlier, later in itertools.pairwise(items):
            run = 1 if any(earlier.posted < a < later.posted for a in asks) else run + 1
            if run > limit and later.posted >= start:
                ev.duplicates += 1
    return by_key


def measure(
    ev: CiEvaluation,
    rules: CiRules,
    rows: Iterable[IndexRow],
    by_key: Mapping[Key, list[ResultFact]],
    horizon: datetime,
) -> None:
    """Coverage, timeliness and accuracy over the patch sets the CI had to test."""
    deadline_hours = rules.deadline_hours
    targets = (None, rules.name, rules.account)
    latencies = ev.latencies
    late = ev.late
    missed = ev.missed
    counted = reported = pending = answered = on_time = 0
    flips = rated = upstream_failures = false_failure_base = false_failures = stamped = 0
    for key, created, deadline, up_result, up_all_failed, merged, asks, _ps in rows:
        reports = by_key.get(key)
        first = None
        if reports is not None:
            # Accuracy: the CI's decisive results on this patch set against upstream's.
            first_result = reports[0].result
            if len(reports) == 1:
                succeeded = first_result == "SUCCESS"
                decisive = succeeded or first_result == "FAILURE"
            else:
                outcomes = {r.result for r in reports} & _DECISIVE
                flips += len(outcomes) > 1
                decisive = bool(outcomes)
                succeeded = "SUCCESS" in outcomes
            if decisive and up_result is not None:
                rated += 1
                if up_result == "FAILURE":
                    upstream_failures += 1
                elif up_result == "SUCCESS" and merged:
                    false_failure_base += 1
                    false_failures += first_result == "FAILURE"
                stamped += succeeded and up_all_failed
            if reports[0].posted >= created:  # the usual case: no answer before the upload
                first = reports[0]
            else:
                first = next((r for r in reports if r.posted >= created), None)
        if first is None:
            # Only unanswered patch sets need their due moment; it is not indexed because a
            # policy without a deadline gives an infinite one, which no datetime can hold:
            # hours are compared instead (created + inf hours raised OverflowError).
            if (horizon - created).total_seconds() < deadline * 3600:
                pending += 1
            else:
                counted += 1
                missed.append(key)
            continue
        counted += 1
        reported += 1
        # Timeliness of the first answer, then of every recheck addressed to this CI.
        hours = (first.posted - created).total_seconds() / 3600
        latencies.append(hours)
        answered += 1
        if hours <= deadline:
            on_time += 1
        else:
            late.append((key[0], key[1], round(hours, 2)))
        if asks is None or reports is None:
            continue
        for recheck in asks:
            if recheck.target not in targets:
                continue
            answer = next((r for r in reports if r.posted > recheck.posted), None)
            if answer is None:
                continue
            hours = (answer.posted - recheck.posted).total_seconds() / 3600
            latencies.append(hours)
            answered += 1
            if hours <= deadline_hours(recheck.posted):
                on_time += 1
            else:
                late.append((key[0], key[1], round(hours, 2)))
    latencies.sort()
    ev.expected += counted
    ev.reported += reported
    ev.pending += pending
    ev.answered += answered
    ev.on_time += on_time
    acc = ev.accuracy
    acc.recheck_flips += flips
    acc.rated += rated
    acc.upstream_failures += upstream_failures
    acc.false_failure_base += false_failure_base
    acc.false_failures += false_failures
    acc.rubber_stamp_successes += stamped
