"""Page data for the overview, the grid and the drivers page, from one :class:`Analysis`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from driverci.audit.evaluate.facts import PatchSetFact, ResultFact, first_link
from driverci.audit.govern.report import SystemReport
from driverci.store.db import Store
from driverci.store.models import Change, ReviewMessage
from driverci.web.data import Analysis, not_expected_reason
from driverci.web.models import (
    STATES,
    CiRef,
    CriterionInfo,
    DriverInfo,
    Drivers,
    Grid,
    GridCell,
    GridColumn,
    GridRow,
    Milestone,
    Overview,
    OverviewRow,
    VotingAdvice,
    WindowInfo,
)


def window_info(analysis: Analysis) -> WindowInfo:
    window = analysis.window
    return WindowInfo(
        project=analysis.project,
        start=window.start,
        end=window.end,
        days=round((window.end - window.start) / timedelta(days=1)),
    )


def accuracy_flags(item: SystemReport) -> list[str]:
    acc = item.evaluation.accuracy
    flags = []
    if acc.false_failures:
        flags.append(f"{acc.false_failures} of {acc.false_failure_base} false failures")
    if acc.recheck_flips:
        flags.append(f"{acc.recheck_flips} recheck flips")
    if acc.rubber_stamp:
        flags.append("rubber stamp")
    if acc.revision_mismatch:
        flags.append(f"{acc.revision_mismatch} wrong revision")
    if acc.driver_mismatch:
        flags.append(f"{acc.driver_mismatch} wrong driver")
    return flags


def criteria(item: SystemReport) -> dict[str, CriterionInfo]:
    return {
        name: CriterionInfo(state=c.state, reason=c.reason, assess_with=c.assess_with)
        for name, c in item.verdict.criteria.items()
    }


def milestones(item: SystemReport) -> list[Milestone]:
    return [Milestone(**vars(m)) for m in item.milestones]


def voting(item: SystemReport) -> VotingAdvice:
    raw: dict[str, Any] = item.voting
    return VotingAdvice(
        allowed=bool(raw.get("allowed")),
        recommendation=str(raw.get("recommendation", "none")),
        reason=str(raw.get("reason", "")),
    )


def _row(item: SystemReport, driver: tuple[str, str, str] | None) -> OverviewRow:
    ev = item.evaluation
    art = ev.artifacts
    return OverviewRow(
        driver=driver[0] if driver else None,
        driver_status=driver[1] if driver else None,
        driver_verdict=driver[2] if driver else None,
        account=ev.account,
        ci=ev.name,
        registered=item.registered,
        verdict=item.verdict.verdict,
        criteria=criteria(item),
        expected=ev.expected,
        reported=ev.reported,
        coverage=ev.coverage,
        on_time_rate=ev.on_time_rate,
        deadline_hours=ev.deadline_hours,
        latency_p95_hours=ev.latency_hours.p95,
        artifacts_checked=art.checked,
        artifacts_available=art.available / art.checked if art.checked else None,
        accuracy_flags=accuracy_flags(item),
        last_report=ev.last_report,
        milestones=milestones(item),
        voting=voting(item),
        reasons=item.verdict.reasons,
    )


def overview(analysis: Analysis, projects: list[str]) -> Overview:
    """One row per (driver, CI that tests it); CIs testing no driver get a row of their own."""
    rows: list[OverviewRow] = []
    shown: set[str] = set()
    for driver in analysis.report.drivers:
        cis = [
            analysis.systems[ci.account]
            for ci in analysis.registry.ci_for_driver(driver.name)
            if ci.account in analysis.systems
        ]
        for item in cis:
            rows.append(_row(item, (driver.name, driver.status, driver.verdict)))
            shown.add(item.evaluation.account)
    rows.extend(_row(item, None) for acc, item in analysis.systems.items() if acc not in shown)
    counts = Counter(item.verdict.verdict for item in analysis.report.systems)
    return Overview(
        window=window_info(analysis),
        projects=projects,
        verdict_counts=dict(counts),
        rows=rows,
    )


def drivers(analysis: Analysis) -> Drivers:
    judged = {d.name: d for d in analysis.report.drivers}
    items = []
    for driver in analysis.registry.drivers:
        history = {event.event: event.release for event in driver.history}
        since = {
            "deprecated": driver.deprecated_in or history.get("deprecated"),
            "removed": driver.removed_in or history.get("removed"),
        }.get(driver.status, history.get("reinstated") or history.get("added"))
        cis = [
            CiRef(
                account=ci.account,
                name=ci.name,
                verdict=(
                    analysis.systems[ci.account].verdict.verdict
                    if ci.account in analysis.systems
                    else None
                ),
            )
            for ci in analysis.registry.ci_for_driver(driver.name)
        ]
        report = judged.get(driver.name)
        items.append(
            DriverInfo(
                name=driver.name,
                kind=driver.kind,
                description=driver.description,
                maintainer=driver.maintainer,
                status=driver.status,
                verdict=report.verdict if report else driver.status,
                since=since,
                deprecated_in=driver.deprecated_in,
                removed_in=driver.removed_in,
                new_location=driver.new_location,
                ci=cis,
                contacts=[c.email or c.name for c in driver.contacts],
            )
        )
    counts = Counter(item.status for item in items)
    return Drivers(window=window_info(analysis), counts=dict(counts), drivers=items)


def grid_columns(analysis: Analysis) -> list[GridColumn]:
    """Upstream CIs first, then third-party CIs that report on the project."""
    systems = sorted(
        analysis.report.systems,
        key=lambda s: (
            (ci := analysis.registry.ci_by_account(s.evaluation.account)) is None
            or ci.kind != "upstream",
            s.evaluation.name.lower(),
        ),
    )
    return [
        GridColumn(account=s.evaluation.account, name=s.evaluation.name, verdict=s.verdict.verdict)
        for s in systems
    ]


def first_result(analysis: Analysis, account: str, ps: PatchSetFact) -> ResultFact | None:
    """The CI's first result on the patch set (the one the judge times)."""
    results = analysis.results_by_key.get(account, {}).get(ps.key, [])
    return next((r for r in results if r.posted >= ps.created), None)


def first_links(store: Store, message_pks: Iterable[int]) -> dict[int, str]:
    """The first result link of each of these stored comments (those that have one)."""
    wanted = sorted(set(message_pks))
    links: dict[int, str] = {}
    with store.transaction() as session:
        for start in range(0, len(wanted), 2000):
            chunk = wanted[start : start + 2000]
            for message_pk, jobs in session.execute(
                select(ReviewMessage.id, ReviewMessage.job_urls).where(ReviewMessage.id.in_(chunk))
            ):
                if link := first_link(jobs):
                    links[message_pk] = link
    return links


def cell_for(
    analysis: Analysis,
    account: str,
    ps: PatchSetFact,
    first: ResultFact | None,
    links: Mapping[int, str],
) -> GridCell:
    """The state of one CI on one patch set, as the judge would count it, given the CI's
    :func:`first_result` there and the first result link of comments by id
    (:func:`first_links`)."""
    policy = analysis.policy
    deadline = ps.created + timedelta(hours=policy.deadline_hours(ps.created))
    reason = not_expected_reason(
        analysis.registry.ci_by_account(account),
        analysis.started(account),
        ps.branch,
        ps.created,
        ps.files,
        analysis.branch_created(ps.branch),
        policy,
    )
    cell = GridCell(account=account, state="excluded", deadline=deadline, reason=reason)
    if first is not None:
        cell.result = first.result
        cell.posted = first.posted
        cell.latency_hours = round((first.posted - ps.created).total_seconds() / 3600, 2)
        cell.log_url = links.get(first.message_pk)
    if reason is not None:
        return cell
    if first is not None:
        cell.state = "late" if first.posted > deadline else first.result.lower()
        if cell.state not in STATES:
            cell.state = "unknown"
    else:
        cell.state = "missing" if analysis.now > deadline else "pending"
    return cell


def subjects(store: Store, project: str, numbers: list[int]) -> dict[int, str]:
    with store.transaction() as session:
        rows = session.execute(
            select(Change.number, Change.subject).where(
                Change.project == project, Change.number.in_(numbers)
            )
        )
        return {number: subject for number, subject in rows}


def grid(analysis: Analysis, store: Store, limit: int) -> Grid:
    recent = sorted(analysis.facts.patch_sets, key=lambda p: (p.created, p.key), reverse=True)
    recent = recent[:limit]
    columns = grid_columns(analysis)
    titles = subjects(store, analysis.project, sorted({ps.change for ps in recent}))
    firsts = {
        (column.account, ps.key): first_result(analysis, column.account, ps)
        for ps in recent
        for column in columns
    }
    links = first_links(store, (first.message_pk for first in firsts.values() if first))
    rows = [
        GridRow(
            change=ps.change,
            patch_set=ps.patch_set,
            branch=ps.branch,
            subject=titles.get(ps.change, ""),
            created=ps.created,
            gerrit_url=analysis.change_url(ps.change, ps.patch_set),
            cells=[
                cell_for(analysis, column.account, ps, firsts[(column.account, ps.key)], links)
                for column in columns
            ],
        )
        for ps in recent
    ]
    return Grid(window=window_info(analysis), legend=STATES, columns=columns, rows=rows)
