"""Read the facts the judge evaluates out of the store (read-only, column selects only)."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from driverci.audit.evaluate import UpstreamResult
from driverci.audit.facts import PatchSetFact, ProbeFact, RecheckFact, ResultFact
from driverci.store.models import ArtifactProbe, Change, PatchSet, PatchSetFile, ReviewMessage

Key = tuple[int, int]


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


def job_urls(jobs_json: str | None) -> tuple[str, ...]:
    if not jobs_json:
        return ()
    return tuple(job[1] for job in json.loads(jobs_json) if job[1])


def all_jobs_failed(jobs_json: str | None) -> bool:
    jobs = json.loads(jobs_json) if jobs_json else []
    return bool(jobs) and all(job[2] != "SUCCESS" for job in jobs)


def _job_facts(jobs_json: str | None) -> tuple[tuple[str, ...], bool]:
    """:func:`job_urls` and :func:`all_jobs_failed` from one parse (a million rows a year)."""
    if not jobs_json:
        return (), False
    jobs = json.loads(jobs_json)
    urls = tuple(job[1] for job in jobs if job[1])
    return urls, bool(jobs) and all(job[2] != "SUCCESS" for job in jobs)


class LoadTuning:
    """Rows fetched per round trip: streamed, so a year of messages is never all in memory."""

    yield_per = 20_000


def load_facts(
    session: Session, project: str, sandbox_project: str | None, since: datetime, until: datetime
) -> ProjectFacts:
    """Facts for patch sets created in [since, until) and every CI message up to ``until``."""
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
    _load_probes(session, facts)
    return facts


def _load_messages(
    session: Session,
    project: str,
    sandbox_project: str | None,
    until: datetime,
    facts: ProjectFacts,
) -> None:
    query = (
        select(
            Change.project,
            Change.number,
            ReviewMessage.patch_set_number,
            ReviewMessage.date,
            ReviewMessage.ci_account,
            ReviewMessage.result,
            ReviewMessage.parse_status,
            ReviewMessage.jobs_json,
            ReviewMessage.gerrit_id,
            ReviewMessage.author_name,
        )
        .join(Change, Change.id == ReviewMessage.change_pk)
        .where(
            ReviewMessage.parse_status.in_(("result", "unparseable", "recheck", "ci_other")),
            ReviewMessage.date < until,
            Change.project.in_([p for p in (project, sandbox_project) if p]),
        )
    )
    first: dict[str, list[date | None]] = {}
    # One string object per account and result, not one per row: a million facts share them.
    shared: dict[str, str] = {}
    rows = session.connection().execute(query.execution_options(yield_per=LoadTuning.yield_per))
    for (
        msg_project,
        number,
        ps,
        posted,
        account,
        result,
        status,
        jobs,
        gid,
        author_name,
    ) in rows:
        if status == "recheck":
            if msg_project == project and ps is not None:
                facts.rechecks[(number, ps)].append(RecheckFact(number, ps, posted, account))
            continue
        if account is None:
            continue
        account = shared.setdefault(account, account)
        seen = first.setdefault(account, [None, None, None])
        day = posted.date()
        seen[0] = min(seen[0], day) if seen[0] else day
        if author_name:
            facts.names.setdefault(account, author_name)
        if msg_project != project:
            seen[1] = min(seen[1], day) if seen[1] else day
            continue
        if status == "ci_other" or ps is None:
            continue
        seen[2] = min(seen[2], day) if seen[2] else day
        urls, failed_all = _job_facts(jobs)
        result = result or "UNKNOWN"
        facts.results[account].append(
            ResultFact(
                account,
                number,
                ps,
                posted,
                shared.setdefault(result, result),
                urls,
                parseable=status == "result",
                message_id=gid,
                all_jobs_failed=failed_all,
            )
        )
    facts.activity = {account: (v[0], v[1], v[2]) for account, v in first.items()}


def upstream_results(results: list[ResultFact]) -> dict[Key, UpstreamResult]:
    """The upstream CI's latest verdict per patch set (the judge's reference for accuracy)."""
    out: dict[Key, UpstreamResult] = {}
    for result in sorted(results, key=lambda r: r.posted):
        if result.result in ("SUCCESS", "FAILURE"):
            out[(result.change, result.patch_set)] = UpstreamResult(
                result.result, result.all_jobs_failed
            )
    return out


def _load_probes(session: Session, facts: ProjectFacts) -> None:
    """Attach stored probes to the result that carries each probed link.

    The probe table (links probed so far) is read once and matched against the results in
    memory: far cheaper than asking for millions of result links by value.
    """
    probed: dict[str, list[ArtifactProbe]] = defaultdict(list)
    for row in session.execute(
        select(ArtifactProbe).order_by(ArtifactProbe.checked_at, ArtifactProbe.id)
    ).scalars():
        probed[row.url].append(row)
    if not probed:
        return
    # A link posted by several comments belongs to the last one seen (as before: by_url).
    owner: dict[str, tuple[str, ResultFact]] = {}
    for account, results in facts.results.items():
        for result in results:
            for url in result.urls:
                if url in probed:
                    owner[url] = (account, result)
    for url, (account, result) in owner.items():
        for row in probed[url]:
            facts.probes[account].append(
                ProbeFact(
                    row.url,
                    row.checked_at,
                    result.posted,
                    row.available,
                    row.standard,
                    result.change,
                    result.patch_set,
                    row.manifest_revision,
                    row.manifest_driver,
                    tuple(json.loads(row.missing_json or "[]")),
                )
            )
