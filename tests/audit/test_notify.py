"""Notifications as a CI operator lives them: one mail when the CI's verdict turns bad, one
when it recovers, one when it misses a milestone, never the same mail twice; a webhook gets
the same news as JSON. Real SMTP (aiosmtpd) and a real webhook receiver on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from test_notify_support import (
    DASHBOARD,
    WIKI,
    Judged,
    WebhookReceiver,
    closed_port,
    judge_scenario,
)

from driverci.audit.engine import Judge
from driverci.audit.evaluate.facts import Window
from driverci.audit.govern.report import AuditReport
from driverci.audit.notify.mail import SmtpSettings
from driverci.audit.notify.notice import NotDelivered
from driverci.audit.notify.notifier import Notifier, milestones_meta_key
from driverci.store.db import Store
from driverci.store.models import ArtifactProbe, VerdictRecord
from driverci.store.repository import get_meta
from world import Inbox, smtp_server

SENDER = "driverci@ironic.example.org"


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> Judged:
    return judge_scenario(tmp_path_factory.mktemp("notify-world"))


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, SmtpSettings]]:
    received = Inbox()
    with smtp_server(received) as port:
        yield received, SmtpSettings(host="127.0.0.1", port=port, sender=SENDER)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver()
    hook.start()
    try:
        yield hook
    finally:
        hook.stop()


@pytest.fixture
def store(judged: Judged, tmp_path: Path) -> Iterator[Store]:
    opened = judged.fresh_store(tmp_path)
    yield opened
    opened.close()


def recorded(store: Store) -> dict[str, str]:
    with store.transaction() as session:
        rows = session.execute(select(VerdictRecord)).scalars().all()
        return {row.account: row.verdict for row in rows}


def test_the_judged_windows_tell_the_story_the_mails_are_about(judged: Judged) -> None:
    def verdicts(report: AuditReport) -> dict[str, str]:
        return {s.evaluation.account: s.verdict.verdict for s in report.systems}

    assert set(verdicts(judged.early).values()) == {"at_risk"}
    assert verdicts(judged.middle) == dict.fromkeys(
        ["zuul", "steady-ci", "dark-ci", "quiet-ci"], "reliable"
    )
    assert verdicts(judged.late)["dark-ci"] == "unreliable"
    assert verdicts(judged.late)["steady-ci"] == "reliable"


def test_first_run_mails_each_ci_that_is_not_reliable_once_and_never_again(
    judged: Judged, store: Store, inbox: tuple[Inbox, SmtpSettings]
) -> None:
    received, smtp = inbox
    notifier = Notifier(store, judged.registry, smtp, None, DASHBOARD)

    sent = notifier.notify(judged.late)

    # Dark CI went silent: its two contacts get one mail with the reasons and the links.
    assert {n.account: n.event for n in sent} == {"dark-ci": "unreliable", "quiet-ci": "milestone"}
    assert len(received.mails) == 2
    rcpts, dark = next(m for m in received.mails if "dark-ops@example.org" in m[0])
    assert sorted(rcpts) == ["dark-lead@example.org", "dark-ops@example.org"]
    assert dark["Subject"] == "[ironic] Dark CI is now unreliable"
    assert dark["From"] == SENDER
    body = dark.get_content()
    assert "silent for 17 days (last report 2026-01-17), more than 7" in body
    assert "coverage 41%" in body
    assert f"Dashboard: {DASHBOARD}/ci/dark-ci" in body
    assert f"Wiki: {WIKI}Dark_CI" in body
    # Quiet CI is reliable but never posted on the sandbox and names no contact of its own:
    # its driver's contact hears about the missed milestones.
    (quiet,) = received.to("idrac-team@example.org")
    assert quiet["Subject"] == "[ironic] Quiet CI missed 2 milestones"
    assert (
        "Sandbox comments (Mitaka feature freeze) (due 2026-01-10, not met)" in quiet.get_content()
    )
    # Steady CI is reliable with every milestone met: a first evaluation sends nothing.
    assert not received.to("steady-ops@example.org")
    assert recorded(store) == {
        "steady-ci": "reliable",
        "dark-ci": "unreliable",
        "quiet-ci": "reliable",
    }

    assert notifier.notify(judged.late) == []
    assert len(received.mails) == 2


def test_a_ci_that_recovers_gets_one_recovered_mail(
    judged: Judged, store: Store, inbox: tuple[Inbox, SmtpSettings]
) -> None:
    received, smtp = inbox
    notifier = Notifier(store, judged.registry, smtp, None, None)

    notifier.notify(judged.early)
    assert received.subjects() == [
        "[ironic] Dark CI is now at risk",
        "[ironic] Quiet CI is now at risk; it missed a milestone: Intent registered (Mitaka-2)",
        "[ironic] Steady CI is now at risk",
    ]
    body = received.to("steady-ops@example.org")[0].get_content()
    assert "only 4 patch sets to judge in the window (fewer than 20)" in body

    received.mails.clear()
    notifier.notify(judged.middle)
    assert received.subjects() == [
        "[ironic] Dark CI is reliable again",
        "[ironic] Quiet CI is reliable again; it missed a milestone: "
        "Sandbox comments (Mitaka feature freeze)",
        "[ironic] Steady CI is reliable again",
    ]
    assert (
        "It is reliable again (it was at risk)"
        in received.to("steady-ops@example.org")[0].get_content()
    )

    received.mails.clear()
    notifier.notify(judged.middle)
    notifier.notify(judged.late)
    assert received.subjects() == ["[ironic] Dark CI is now unreliable"]
    body = received.to("dark-ops@example.org")[0].get_content()
    assert "Its verdict changed from reliable to unreliable." in body


def test_a_run_before_the_probe_sends_nothing_and_keeps_the_bad_news_on_record(
    judged: Judged, store: Store, inbox: tuple[Inbox, SmtpSettings], tmp_path: Path
) -> None:
    received, smtp = inbox
    notifier = Notifier(store, judged.registry, smtp, None, None)
    notifier.notify(judged.early)  # every CI at risk: one mail each
    # The middle window judged from a store whose links were never probed: nothing wrong is
    # found, but nothing is proven either.
    unprobed_dir = tmp_path / "unprobed"
    unprobed_dir.mkdir()
    unprobed = judged.fresh_store(unprobed_dir)
    try:
        with unprobed.transaction() as session:
            session.execute(delete(ArtifactProbe))
        end = judged.middle.window_end
        window = Window(judged.middle.window_start, end)
        unproven = Judge(unprobed, judged.registry, judged.policy, now=end).report(window)
    finally:
        unprobed.close()
    assert {s.evaluation.account: s.verdict.verdict for s in unproven.systems}["steady-ci"] == (
        "unproven"
    )

    received.mails.clear()
    notifier.notify(unproven)
    assert not received.to("steady-ops@example.org"), "missing evidence is not news"
    assert recorded(store)["steady-ci"] == "at_risk", "the state the CI was told stays"

    notifier.notify(judged.middle)  # probed: reliable, and it was last told "at risk"
    (mail,) = received.to("steady-ops@example.org")
    assert mail["Subject"] == "[ironic] Steady CI is reliable again"


def test_the_webhook_receives_the_documented_json_once_per_change(
    judged: Judged, store: Store, inbox: tuple[Inbox, SmtpSettings], receiver: WebhookReceiver
) -> None:
    _, smtp = inbox
    notifier = Notifier(store, judged.registry, smtp, receiver.url, DASHBOARD)
    notifier.notify(judged.middle)
    notifier.notify(judged.late)
    notifier.notify(judged.late)

    by_event = {(p["account"], p["event"]): p for p in receiver.payloads}
    assert sorted(by_event) == [("dark-ci", "unreliable"), ("quiet-ci", "milestone")]
    dark = by_event[("dark-ci", "unreliable")]
    assert dark["project"] == "openstack/ironic"
    assert dark["name"] == "Dark CI"
    assert dark["previous"] == "reliable" and dark["verdict"] == "unreliable"
    assert any(r.startswith("silent for 17 days") for r in dark["reasons"])
    assert dark["since"] == "2026-02-04T00:00:00Z"
    assert dark["window"] == {"start": "2026-01-05T00:00:00Z", "end": "2026-02-04T00:00:00Z"}
    assert dark["links"] == {"dashboard": f"{DASHBOARD}/ci/dark-ci", "wiki": f"{WIKI}Dark_CI"}
    assert dark["recipients"] == ["dark-ops@example.org", "dark-lead@example.org"]
    quiet = by_event[("quiet-ci", "milestone")]
    assert quiet["previous"] is None and quiet["verdict"] == "reliable"
    assert [m["key"] for m in quiet["missed_milestones"]] == ["intent", "sandbox"]


def test_a_webhook_that_answers_503_once_is_retried(
    judged: Judged, store: Store, receiver: WebhookReceiver
) -> None:
    receiver.fail_next = 1
    sent = Notifier(store, judged.registry, None, receiver.url, None).notify(judged.late)
    assert [n.webhook_status for n in sent] == [202, 202]
    assert receiver.attempts == 3 and len(receiver.payloads) == 2


def test_with_the_smtp_server_down_nothing_is_recorded_and_the_next_run_retries(
    judged: Judged, store: Store, inbox: tuple[Inbox, SmtpSettings]
) -> None:
    received, smtp = inbox
    port = closed_port()
    down = SmtpSettings(host="127.0.0.1", port=port, sender=SENDER, timeout_s=5)

    with pytest.raises(NotDelivered) as failure:
        Notifier(store, judged.registry, down, None, None).notify(judged.late)

    message = str(failure.value)
    assert message.startswith(f"cannot send mail through SMTP server 127.0.0.1:{port}: ")
    assert "\n" not in message and "2 notice(s)" in message
    # Only the CI with nothing to say has its state recorded.
    assert recorded(store) == {"steady-ci": "reliable"}
    with store.transaction() as session:
        assert get_meta(session, milestones_meta_key("openstack/ironic", "quiet-ci")) is None

    sent = Notifier(store, judged.registry, smtp, None, None).notify(judged.late)
    assert sorted(n.account for n in sent) == ["dark-ci", "quiet-ci"]
    assert len(received.mails) == 2
    with store.transaction() as session:
        states = json.loads(
            get_meta(session, milestones_meta_key("openstack/ironic", "quiet-ci")) or "{}"
        )
    assert states == {"intent": "missed", "sandbox": "missed", "per_patch": "met_late"}


def test_a_dry_run_sends_nothing_and_records_nothing(
    judged: Judged, store: Store, inbox: tuple[Inbox, SmtpSettings], receiver: WebhookReceiver
) -> None:
    received, smtp = inbox
    notices = Notifier(store, judged.registry, smtp, receiver.url, None, dry_run=True).notify(
        judged.late
    )
    assert [n.subject for n in notices] == [
        "[ironic] Dark CI is now unreliable",
        "[ironic] Quiet CI missed 2 milestones",
    ]
    assert "Reasons:" in notices[0].body
    assert not received.mails and not receiver.payloads and recorded(store) == {}


def test_a_ci_without_any_address_is_recorded_and_only_the_webhook_hears(
    judged: Judged, store: Store, inbox: tuple[Inbox, SmtpSettings], receiver: WebhookReceiver
) -> None:
    received, smtp = inbox
    registry = judged.registry.model_copy(deep=True)
    dark = registry.ci_by_account("dark-ci")
    assert dark is not None
    dark.contacts.clear()  # and its driver, ipmi, names nobody either
    sent = Notifier(store, registry, smtp, receiver.url, None).notify(judged.late)
    dark_notice = next(n for n in sent if n.account == "dark-ci")
    assert dark_notice.recipients == [] and not dark_notice.mailed
    assert [m[0] for m in received.mails] == [["idrac-team@example.org"]]
    assert {p["account"] for p in receiver.payloads} == {"dark-ci", "quiet-ci"}
    assert recorded(store)["dark-ci"] == "unreliable"
