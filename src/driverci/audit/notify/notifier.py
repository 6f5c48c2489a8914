"""Notifications: tell a CI's contacts when its verdict turns at_risk or unreliable, when it
recovers, or when it misses a milestone. Once per change of state.

An ``unproven`` verdict (nothing found wrong, not every criterion assessed: e.g. a report
before ``audit probe``) is never news: it sends nothing, and over an at_risk or unreliable
state on record it leaves that state in place, so the CI hears neither the same bad news
twice nor too early that it recovered.

The last state per CI is the ``verdicts`` row (project, account): verdict, reasons, since.
Milestone states live in the ``meta`` table under ``notify:<project>:<account>:milestones``
(a JSON object ``{milestone key: state}``), so no table is added for them. A first-ever
evaluation records the state and notifies only when the CI is not reliable or has missed a
milestone. A mail that fails leaves the old state in place, so the next run tries again.
Documented for users in docs/notifications.md.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from driverci.audit.evaluate.verdict import AT_RISK, RELIABLE, UNPROVEN, UNRELIABLE
from driverci.audit.govern.report import AuditReport, SystemReport
from driverci.audit.notify.mail import (
    MailSender,
    SmtpSettings,
    build_message,
    notice_body,
    notice_subject,
)
from driverci.audit.notify.notice import NotDelivered, NotificationError, SentNotice
from driverci.audit.notify.webhook import WebhookPoster
from driverci.registry.schema import CISystem, Registry
from driverci.store.db import Store
from driverci.store.models import VerdictRecord
from driverci.store.repository import get_meta, set_meta

log = logging.getLogger(__name__)

RECOVERED = "recovered"
MILESTONE = "milestone"
MISSED = "missed"


def milestones_meta_key(project: str, account: str) -> str:
    return f"notify:{project}:{account}:milestones"


@dataclass
class PreviousState:
    verdict: str | None
    since: datetime | None
    milestones: dict[str, str]


def verdict_event(previous: str | None, verdict: str) -> str | None:
    """The verdict change worth a notice, or None (first evaluations count only if not reliable;
    unproven is never news)."""
    if verdict == previous:
        return None
    if verdict in (AT_RISK, UNRELIABLE):
        return verdict
    if verdict == RELIABLE and previous in (AT_RISK, UNRELIABLE):
        return RECOVERED
    return None


class Notifier:
    """Compares a report with the recorded states, notifies changes, records the new states."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        smtp: SmtpSettings | None,
        webhook_url: str | None,
        dashboard_url: str | None,
        *,
        dry_run: bool = False,
    ) -> None:
        self.store = store
        self.registry = registry
        self.smtp = smtp
        self.webhook_url = webhook_url
        self.dashboard_url = dashboard_url.rstrip("/") if dashboard_url else None
        self.dry_run = dry_run

    def notify(self, report: AuditReport) -> list[SentNotice]:
        """Deliver the notices due for ``report`` and record the new states.

        Returns the notices delivered (in a dry run: those that would be, nothing recorded).
        Raises :class:`NotDelivered` (one line naming the server or URL) when any failed.
        """
        systems = [s for s in report.systems if not self._is_upstream(s.evaluation.account)]
        with self.store.transaction() as session:
            previous = {s.evaluation.account: self._previous(session, report, s) for s in systems}
        plans = [(s, self.plan(report, s, previous[s.evaluation.account])) for s in systems]
        if self.dry_run:
            return [notice for _, notice in plans if notice is not None]
        sent: list[SentNotice] = []
        failed: list[SentNotice] = []
        mail = MailSender(self.smtp) if self.smtp else None
        hook = WebhookPoster(self.webhook_url) if self.webhook_url else None
        try:
            for system, notice in plans:
                record = True
                if notice is not None:
                    record = self._deliver(notice, mail, hook)
                    (sent if not notice.errors else failed).append(notice)
                if record:
                    self._record(report, system, previous[system.evaluation.account])
        finally:
            if mail:
                mail.close()
            if hook:
                hook.close()
        if failed:
            first = failed[0].errors[0]
            raise NotDelivered(
                f"{first} ({len(failed)} notice(s) affected; a CI whose mail failed keeps its "
                "old state, so the next run retries it)",
                sent,
                failed,
            )
        return sent

    def plan(
        self, report: AuditReport, system: SystemReport, previous: PreviousState
    ) -> SentNotice | None:
        """The notice ``system`` needs given its ``previous`` state, or None."""
        ev, verdict = system.evaluation, system.verdict.verdict
        event = verdict_event(previous.verdict, verdict)
        missed = [
            m
            for m in system.milestones
            if m.state == MISSED and previous.milestones.get(m.key) != MISSED
        ]
        if event is None and not missed:
            return None
        ci = self.registry.ci_by_account(ev.account)
        notice = SentNotice(
            project=report.project,
            account=ev.account,
            name=ev.name,
            previous=previous.verdict,
            verdict=verdict,
            event=event or MILESTONE,
            reasons=list(system.verdict.reasons),
            missed_milestones=missed,
            since=self._since(report, verdict, previous),
            window_start=report.window_start,
            window_end=report.window_end,
            links=self._links(ci, ev.account),
            recipients=self.recipients(ci),
        )
        notice.subject = notice_subject(notice)
        notice.body = notice_body(notice, system)
        return notice

    def recipients(self, ci: CISystem | None) -> list[str]:
        """The CI's contacts' addresses; when it has none, its drivers' contacts'."""
        if ci is None:
            return []
        addresses = [c.email for c in ci.contacts if c.email]
        if not addresses:
            for name in ci.drivers:
                driver = self.registry.driver(name)
                if driver is not None:
                    addresses += [c.email for c in driver.contacts if c.email]
        return list(dict.fromkeys(addresses))

    def _deliver(
        self, notice: SentNotice, mail: MailSender | None, hook: WebhookPoster | None
    ) -> bool:
        """Send by mail and webhook; True when the new state may be recorded.

        Mail is the primary channel: its failure keeps the old state (retried next run). A
        webhook failure alone keeps the old state only when no mail is configured, so people
        never get the same mail twice because a webhook receiver was down.
        """
        record = True
        if mail is not None and notice.recipients:
            message = build_message(
                mail.settings.sender,
                notice.recipients,
                notice.subject,
                notice.body,
                {"X-Driverci-Account": notice.account, "X-Driverci-Event": notice.event},
            )
            try:
                mail.send(message)
                notice.mailed = True
            except NotificationError as err:
                notice.errors.append(str(err))
                record = False
        elif mail is not None:
            log.warning(
                "%s (%s) is %s but has no contact with an e-mail address in the registry",
                notice.name,
                notice.account,
                notice.event,
            )
        if hook is not None:
            try:
                notice.webhook_status = hook.post(notice.payload())
            except NotificationError as err:
                notice.errors.append(str(err))
                record = record and mail is not None
        return record

    def _previous(
        self, session: Session, report: AuditReport, system: SystemReport
    ) -> PreviousState:
        account = system.evaluation.account
        row = self._row(session, report.project, account)
        raw = get_meta(session, milestones_meta_key(report.project, account))
        milestones: dict[str, str] = {}
        if raw:
            loaded = json.loads(raw)
            if isinstance(loaded, dict):
                milestones = {str(k): str(v) for k, v in loaded.items()}
        if row is None:
            return PreviousState(None, None, milestones)
        return PreviousState(row.verdict, row.since, milestones)

    @staticmethod
    def _row(session: Session, project: str, account: str) -> VerdictRecord | None:
        query = select(VerdictRecord).where(
            VerdictRecord.project == project, VerdictRecord.account == account
        )
        return session.execute(query).scalar_one_or_none()

    def _record(self, report: AuditReport, system: SystemReport, previous: PreviousState) -> None:
        account, verdict = system.evaluation.account, system.verdict.verdict
        since = self._since(report, verdict, previous)
        reasons = json.dumps(system.verdict.reasons)
        # Missing evidence does not clear a bad state the CI was told about (module docstring).
        keep = verdict == UNPROVEN and previous.verdict in (AT_RISK, UNRELIABLE)
        with self.store.transaction() as session:
            row = self._row(session, report.project, account)
            if row is None:
                row = VerdictRecord(project=report.project, account=account)
                session.add(row)
            if not keep:
                row.verdict, row.reasons_json, row.since = verdict, reasons, since
            row.evaluated_at = report.generated
            states = {m.key: m.state for m in system.milestones}
            set_meta(session, milestones_meta_key(report.project, account), json.dumps(states))
        log.debug("recorded %s for %s on %s", verdict, account, report.project)

    @staticmethod
    def _since(report: AuditReport, verdict: str, previous: PreviousState) -> datetime:
        if previous.verdict == verdict and previous.since is not None:
            return previous.since
        return report.generated

    def _links(self, ci: CISystem | None, account: str) -> dict[str, str]:
        links: dict[str, str] = {}
        if self.dashboard_url:
            links["dashboard"] = f"{self.dashboard_url}/ci/{account}"
        if ci is not None and ci.wiki:
            links["wiki"] = ci.wiki
        return links

    def _is_upstream(self, account: str) -> bool:
        # The project's own gate (Zuul) is not a third-party CI: nobody to notify.
        ci = self.registry.ci_by_account(account)
        return ci is not None and ci.kind == "upstream"
