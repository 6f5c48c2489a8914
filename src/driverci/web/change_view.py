"""Page data for one change: on its current patch set, which CIs reported, which are still
pending and when each one's deadline passes, and which are not expected to report."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from driverci.audit.evaluate.facts import first_link
from driverci.store.models import Change, PatchSet, PatchSetFile, ReviewMessage
from driverci.web.data import Analysis, DashboardData, not_expected_reason
from driverci.web.models import ChangeCi, ChangeDetail
from driverci.web.views import grid_columns


def change_detail(data: DashboardData, analysis: Analysis, number: int) -> ChangeDetail | None:
    with data.store.transaction() as session:
        change = session.scalars(
            select(Change).where(Change.project == analysis.project, Change.number == number)
        ).first()
        if change is None:
            return None
        current = session.scalars(
            select(PatchSet)
            .where(PatchSet.change_pk == change.id)
            .order_by(PatchSet.number.desc())
            .limit(1)
        ).first()
        if current is None:
            return None
        files = tuple(
            session.scalars(
                select(PatchSetFile.path).where(PatchSetFile.patch_set_pk == current.id)
            )
        )
        messages = session.execute(
            select(
                ReviewMessage.ci_account,
                ReviewMessage.result,
                ReviewMessage.parse_status,
                ReviewMessage.date,
                ReviewMessage.job_urls,
            )
            .where(
                ReviewMessage.change_pk == change.id,
                ReviewMessage.patch_set_number == current.number,
                ReviewMessage.parse_status.in_(("result", "unparseable", "recheck")),
            )
            .order_by(ReviewMessage.date)
        ).all()
    now = analysis.now
    policy = analysis.policy
    cis: list[ChangeCi] = []
    for column in grid_columns(analysis):
        account = column.account
        asked = current.created
        reports = []
        for ci_account, result, status, posted, jobs in messages:
            if status == "recheck" and ci_account in (None, account):
                asked = max(asked, posted)
            elif status != "recheck" and ci_account == account:
                reports.append((posted, result or "UNKNOWN", first_link(jobs)))
        deadline = asked + timedelta(hours=policy.deadline_hours(asked))
        entry = ChangeCi(
            account=account,
            name=column.name,
            verdict=column.verdict,
            state="excluded",
            asked=asked,
            deadline=deadline,
            hours_left=None,
            reason=not_expected_reason(
                data.registry.ci_by_account(account),
                analysis.started(account),
                change.branch,
                current.created,
                files,
                analysis.branch_created(change.branch),
                policy,
            ),
        )
        answer = next((r for r in reports if r[0] >= asked), None)
        latest = reports[-1] if reports else None
        shown = answer or latest
        if shown is not None:
            entry.posted, entry.result = shown[0], shown[1]
            entry.log_url = shown[2]
        if entry.reason is None:
            if answer is not None:
                late = answer[0] > deadline
                entry.state = "late" if late else answer[1].lower()
                if entry.state not in ("late", "success", "failure"):
                    entry.state = "unknown"
            elif now > deadline:
                entry.state = "missing"
            else:
                entry.state = "pending"
                entry.hours_left = round((deadline - now).total_seconds() / 3600, 1)
        cis.append(entry)
    pending = [c for c in cis if c.state == "pending"]
    return ChangeDetail(
        number=change.number,
        project=change.project,
        branch=change.branch,
        subject=change.subject,
        status=change.status,
        patch_set=current.number,
        revision=current.revision,
        created=current.created,
        owner=change.owner_username,
        files=list(files),
        gerrit_url=analysis.change_url(change.number, current.number),
        now=now,
        waiting_for=len(pending),
        next_deadline=min((c.deadline for c in pending), default=None),
        cis=cis,
    )
