"""Read the facts the judge evaluates out of the store (read-only, column selects only)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import Select, func, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from driverci.audit.evaluate.columns import (
    CI_COMMENT_STATUSES,
    project_results,
    utc_column,
    utc_from_sqlite_text,
)
from driverci.audit.evaluate.criteria import UpstreamResult
from driverci.audit.evaluate.facts import PatchSetFact, ProbeFact, RecheckFact, ResultFact
from driverci.audit.evaluate.links import load_links_posted, load_probes
from driverci.gctools import cyclic_gc_paused
from driverci.store.models import Change, PatchSet, PatchSetFile, ReviewMessage

Key = tuple[int, int]
_POSTED = attrgetter("posted")


@dataclass
class ProjectFacts:
    patch_sets: list[PatchSetFact] = field(default_factory=list)
    branch_created: dict[str, datetime] = field(default_factory=dict)
    results: dict[str, list[ResultFact]] = field(default_factory=lambda: defaultdict(list))
    rechecks: dict[Key, list[RecheckFact]] = field(default_factory=lambda: defaultdict(list))
    probes: dict[str, list[ProbeFact]] = field(default_factory=lambda: defaultdict(list))
    # account -> (first seen anywhere, first sandbox comment, first project result)
    activity: dict[str, tuple[date | None, date | None, date | None]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # account -> display name seen
    #: account -> its result comments without the wiki link the policy asks
    #: (``review_messages.id``; filled by :func:`driverci.audit.evaluate.conduct.load_unlinked`).
    unlinked: dict[str, frozenset[int]] = field(default_factory=dict)
    #: account -> whether any of its results since ``links_since`` (see :func:`load_facts`)
    #: carries a result link, for the CIs none of whose links from then on was probed.
    links_posted: dict[str, bool] = field(default_factory=dict)

    def created_since(self, start: datetime) -> ProjectFacts:
        """These facts with only the patch sets created at or after ``start``: the same as
        :func:`load_facts` from ``start`` gives, as its other facts do not depend on it."""
        return replace(self, patch_sets=[ps for ps in self.patch_sets if ps.created >= start])


class LoadTuning:
    """Rows fetched per round trip: streamed, so a year of messages is never all in memory."""

    yield_per = 20_000


def load_facts(
    session: Session,
    project: str,
    sandbox_project: str | None,
    since: datetime,
    until: datetime,
    needs_name: Callable[[str], bool] | None = None,
    links_since: datetime | None = None,
) -> ProjectFacts:
    """Facts for patch sets created in [since, until) and every CI message up to ``until``.

    ``needs_name``: which accounts' display names to look up in their comments (default
    all; the judge asks only for CIs the registry does not name). ``links_since``: the start
    of the report's window, to tell a CI that posts no result links from one whose links
    were not probed yet (:attr:`ProjectFacts.links_posted`).
    """
    with cyclic_gc_paused():
        facts = _load_facts(session, project, sandbox_project, since, until, needs_name)
        if links_since is not None:
            facts.links_posted = load_links_posted(
                session, project, links_since, until, facts.results, facts.probes
            )
        return facts


def _load_facts(
    session: Session,
    project: str,
    sandbox_project: str | None,
    since: datetime,
    until: datetime,
    needs_name: Callable[[str], bool] | None,
) -> ProjectFacts:
    facts = ProjectFacts()
    for branch, created in session.execute(
        select(Change.branch, func.min(Change.created))
        .where(Change.project == project)
        .group_by(Change.branch)
    ):
        facts.branch_created[branch] = created
    last_ps = dict(
        session.execute(
            select(PatchSet.change_pk, func.max(PatchSet.number))
            .group_by(PatchSet.change_pk)
            .join(Change, Change.id == PatchSet.change_pk)
            .where(Change.project == project)
        ).all()
    )
    rows = session.execute(
        select(
            PatchSet.id,
            Change.id,
            Change.branch,
            Change.number,
            Change.status,
            PatchSet.number,
            PatchSet.revision,
            PatchSet.created,
        )
        .join(Change, Change.id == PatchSet.change_pk)
        .where(Change.project == project, PatchSet.created >= since, PatchSet.created < until)
    ).all()
    ps_ids = [row[0] for row in rows]
    files: dict[int, list[str]] = defaultdict(list)
    for start in range(0, len(ps_ids), 5000):
        chunk = ps_ids[start : start + 5000]
        for ps_pk, path in session.execute(
            select(PatchSetFile.patch_set_pk, PatchSetFile.path).where(
                PatchSetFile.patch_set_pk.in_(chunk)
            )
        ):
            files[ps_pk].append(path)
    for ps_pk, change_pk, branch, number, status, ps_number, revision, created in rows:
        facts.patch_sets.append(
            PatchSetFact(
                project,
                branch,
                number,
                ps_number,
                revision,
                created,
                tuple(files.get(ps_pk, ())),
                merged_as_is=status == "MERGED" and last_ps.get(change_pk) == ps_number,
            )
        )
    _load_messages(session, project, sandbox_project, until, facts)
    projects = [p for p in (project, sandbox_project) if p]
    _load_activity(session, project, projects, until, facts)
    unnamed = [a for a in facts.results if needs_name is None or needs_name(a)]
    _load_names(session, projects, until, unnamed, facts)
    facts.probes = load_probes(session, project, until)
    return facts


def _stream(session: Session, query: Select[Any]) -> Iterator[Sequence[Any]]:
    """The rows of ``query`` as plain tuples, fetched a batch at a time.

    On SQLite straight from the driver's cursor: at a million rows, building SQLAlchemy's
    Row objects costs as much as SQLite's own work. The columns must need no result
    processing (see :func:`~driverci.audit.evaluate.columns.utc_column`).
    """
    if session.get_bind().dialect.name != "sqlite":
        fetched = session.connection().execute(
            query.execution_options(yield_per=LoadTuning.yield_per)
        )
        return itertools.chain.from_iterable(fetched.partitions())
    return itertools.chain.from_iterable(_driver_batches(session, query))


def _driver_batches(session: Session, query: Select[Any]) -> Iterator[Sequence[Any]]:
    result = session.connection().execute(query)
    cursor = result.cursor  # parameters bound by SQLAlchemy, rows read from the driver
    try:
        while batch := cursor.fetchmany(LoadTuning.yield_per):
            yield batch
    finally:
        result.close()


def _load_messages(
    session: Session,
    project: str,
    sandbox_project: str | None,
    until: datetime,
    facts: ProjectFacts,
) -> None:
    """The project's rechecks, then its results (a million rows).

    On SQLite the covering index ``ix_review_messages_judge`` answers these queries without
    reading message text.
    """
    posted_column, to_utc = utc_column(session, ReviewMessage.date)
    for number, ps, raw_posted, target in session.execute(
        select(
            Change.number, ReviewMessage.patch_set_number, posted_column, ReviewMessage.ci_account
        )
        .join(Change, Change.id == ReviewMessage.change_pk)
        .where(
            Change.project == project,
            ReviewMessage.parse_status == "recheck",
            ReviewMessage.date < until,
            ReviewMessage.patch_set_number.is_not(None),
        )
    ):
        facts.rechecks[(number, ps)].append(RecheckFact(number, ps, to_utc(raw_posted), target))
    query = (
        select(
            Change.number,
            ReviewMessage.patch_set_number,
            posted_column,
            ReviewMessage.ci_account,
            ReviewMessage.result,
            ReviewMessage.parse_status,
            type_coerce(ReviewMessage.all_jobs_failed, NullType()),  # bool() below, no processor
            ReviewMessage.id,
        )
        .join(Change, Change.id == ReviewMessage.change_pk)
        .where(*project_results(project, until))
    )
    # One string object per account and result, not one per row: a million facts share them.
    shared: dict[str | None, str] = {None: "UNKNOWN"}
    results = facts.results
    for number, ps, raw_posted, account, result, status, failed_all, message_pk in _stream(
        session, query
    ):
        account = shared.setdefault(account, account)
        results[account].append(
            ResultFact(
                account,
                number,
                ps,
                to_utc(raw_posted),
                shared.setdefault(result, result),
                status == "result",
                bool(failed_all),
                message_pk,
            )
        )


def _load_activity(
    session: Session, project: str, projects: list[str], until: datetime, facts: ProjectFacts
) -> None:
    """Per account: first comment anywhere, on the sandbox, first project result.

    Called once the results are loaded: their earliest is found in memory, the rest (other
    pipelines' reports, sandbox comments: few rows) is aggregated by the database. Every
    account seen gets a (maybe empty) list of results: a CI that only commented on the sandbox,
    or only in other pipelines, is still reported.
    """
    first: dict[str, list[datetime | None]] = {
        account: [None, None, min(map(_POSTED, results)) if results else None]
        for account, results in facts.results.items()
    }
    # Two queries, not one with OR: each is an index seek on (change, parse status).
    other_statuses = {
        project: ("ci_other",),
        **{p: CI_COMMENT_STATUSES for p in projects if p != project},
    }
    for msg_project, statuses in other_statuses.items():
        for account, earliest in session.execute(
            select(ReviewMessage.ci_account, func.min(ReviewMessage.date))
            .join(Change, Change.id == ReviewMessage.change_pk)
            .where(
                Change.project == msg_project,
                ReviewMessage.parse_status.in_(statuses),
                ReviewMessage.date < until,
                ReviewMessage.ci_account.is_not(None),
            )
            .group_by(ReviewMessage.ci_account)
        ):
            if account is None:  # excluded by the query; the column type allows it
                continue
            seen = first.setdefault(account, [None, None, None])
            slot = 0 if msg_project == project else 1
            seen[slot] = _earliest(seen[slot], _aggregate_utc(earliest))
    for account in first:
        facts.results.setdefault(account, [])
    facts.activity = {
        account: (
            _day(_earliest(_earliest(anywhere, sandbox), result)),
            _day(sandbox),
            _day(result),
        )
        for account, (anywhere, sandbox, result) in first.items()
    }


def _load_names(
    session: Session, projects: list[str], until: datetime, accounts: list[str], facts: ProjectFacts
) -> None:
    """The display name each of ``accounts`` commented under (the first comment found).

    One query per account, stopping at its first comment: a CI comments often, so this is
    far cheaper than collecting the names of a million comments.
    """
    for account in accounts:
        name = session.execute(
            select(ReviewMessage.author_name)
            .join(Change, Change.id == ReviewMessage.change_pk)
            .where(
                Change.project.in_(projects),
                ReviewMessage.parse_status.in_(CI_COMMENT_STATUSES),
                ReviewMessage.date < until,
                ReviewMessage.ci_account == account,
                ReviewMessage.author_name.is_not(None),
            )
            .limit(1)
        ).scalar()
        if name:
            facts.names[account] = name


def _aggregate_utc(value: datetime | str | None) -> datetime | None:
    """An aggregate's datetime: on SQLite, min() of a datetime column is its stored text."""
    if value is None:
        return None
    if isinstance(value, str):
        return utc_from_sqlite_text(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _earliest(current: datetime | None, candidate: datetime | None) -> datetime | None:
    if current is None:
        return candidate
    if candidate is None:
        return current
    return min(current, candidate)


def _day(moment: datetime | None) -> date | None:
    return moment.date() if moment is not None else None


def upstream_results(results: list[ResultFact]) -> dict[Key, UpstreamResult]:
    """The upstream CI's latest verdict per patch set (the judge's reference for accuracy)."""
    out: dict[Key, UpstreamResult] = {}
    for result in sorted(results, key=lambda r: r.posted):
        if result.result in ("SUCCESS", "FAILURE"):
            out[(result.change, result.patch_set)] = UpstreamResult(
                result.result, result.all_jobs_failed
            )
    return out
