"""E-mail for notifications: SMTP settings, the words of a notice (subject and plain-text
body), the message, and a sender that keeps one SMTP connection for a whole run (STARTTLS
and login optional)."""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from types import TracebackType

from driverci.audit.govern.report import SystemReport
from driverci.audit.notify.notice import NotificationError, SentNotice
from driverci.errors import ConfigError

log = logging.getLogger(__name__)

_SAY = {
    "at_risk": "at risk",
    "unreliable": "unreliable",
    "reliable": "reliable",
    "unproven": "unproven (not every criterion assessed yet)",
}


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send mail. The password comes from a file (never a command line)."""

    host: str
    port: int = 25
    sender: str = "driverci@localhost"
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    #: CA bundle to verify the server's certificate after STARTTLS (None: system CAs).
    ca_file: Path | None = None
    timeout_s: float = 30.0

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"


def parse_smtp_server(value: str) -> tuple[str, int]:
    """``host:port`` (or ``host``, port 25; ``[::1]:25`` for IPv6) as (host, port)."""
    text = value.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    if not host:
        raise ConfigError(f"--smtp {value!r}: expected host:port, e.g. mail.example.org:587")
    if not port_text:
        return host, 25
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"--smtp {value!r}: port {port_text!r} is not a number from 1 to 65535")
    return host, int(port_text)


def _say(verdict: str | None) -> str:
    return _SAY.get(verdict or "", verdict or "not evaluated")


def _short_project(project: str) -> str:
    return project.rsplit("/", 1)[-1]


def notice_subject(notice: SentNotice) -> str:
    """E.g. ``[ironic] Acme Ironic CI is now unreliable``."""
    head = f"[{_short_project(notice.project)}] {notice.name}"
    missed = notice.missed_milestones
    if len(missed) == 1:
        missed_text = f"missed a milestone: {missed[0].name}"
    else:
        missed_text = f"missed {len(missed)} milestones"
    if notice.event == "recovered":
        subject = f"{head} is reliable again"
    elif notice.event in ("at_risk", "unreliable"):
        subject = f"{head} is now {_say(notice.verdict)}"
    else:
        return f"{head} {missed_text}"
    return f"{subject}; it {missed_text}" if missed else subject


def notice_body(notice: SentNotice, system: SystemReport) -> str:
    ev = system.evaluation
    lines = [
        "Hello,",
        "",
        f"driverci evaluated {notice.name} (Gerrit account {notice.account}) on "
        f"{notice.project} over {notice.window_start:%Y-%m-%d} to {notice.window_end:%Y-%m-%d}.",
        "",
    ]
    if notice.event == "recovered":
        lines.append(f"It is reliable again (it was {_say(notice.previous)}). Thank you.")
    elif notice.event in ("at_risk", "unreliable"):
        if notice.previous is None:
            lines.append(f"Its verdict is {_say(notice.verdict)}.")
        else:
            lines.append(
                f"Its verdict changed from {_say(notice.previous)} to {_say(notice.verdict)}."
            )
    else:
        lines.append(f"Its verdict is {_say(notice.verdict)}, but it missed a milestone.")
    if notice.reasons:
        lines += ["", "Reasons:"] + [f"  - {reason}" for reason in notice.reasons]
    if notice.missed_milestones:
        lines += ["", "Milestones missed:"]
        for milestone in notice.missed_milestones:
            due = f"due {milestone.due}" if milestone.due else "no due date"
            lines.append(f"  - {milestone.name} ({due}, not met)")
    figures = []
    if ev.coverage is not None:
        figures.append(f"coverage {ev.coverage * 100:.0f}% ({ev.reported} of {ev.expected})")
    if ev.on_time_rate is not None:
        figures.append(f"on time {ev.on_time_rate * 100:.0f}% within {ev.deadline_hours:g} h")
    if ev.last_report is not None:
        figures.append(f"last report {ev.last_report:%Y-%m-%d %H:%M} UTC")
    if figures:
        lines += ["", "Figures: " + "; ".join(figures) + "."]
    if ev.drivers:
        lines.append(f"Drivers it tests: {', '.join(ev.drivers)}.")
    voting = system.voting
    if voting.get("recommendation") == "withdraw":
        lines.append(
            f"Voting: the Ironic team is advised to withdraw its vote ({voting['reason']})."
        )
    if notice.links:
        lines += [""] + [f"{label.capitalize()}: {url}" for label, url in notice.links.items()]
    lines += [
        "",
        "-- ",
        "Sent by driverci once per change of state: you will not hear about this again until "
        "the verdict changes.",
    ]
    return "\n".join(lines) + "\n"


def build_message(
    sender: str, recipients: Sequence[str], subject: str, body: str, headers: dict[str, str]
) -> EmailMessage:
    """A plain-text UTF-8 message with Date and Message-ID, plus ``headers`` (X-...)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    for name, value in headers.items():
        message[name] = value
    message.set_content(body)
    return message


class MailSender:
    """Sends messages over one lazily opened SMTP connection; use as a context manager.

    After a connection-level failure (refused, timed out, dropped, login refused) the
    server is marked broken and later sends fail at once with the same error, so a run
    with the server down costs one timeout, not one per CI.
    """

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._connection: smtplib.SMTP | None = None
        self._broken: NotificationError | None = None

    def __enter__(self) -> MailSender:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._connection is None:
            return
        try:
            self._connection.quit()
        except (smtplib.SMTPException, OSError) as err:
            log.debug("closing SMTP connection to %s: %s", self.settings.server, err)
        self._connection = None

    def _error(self, err: BaseException) -> NotificationError:
        if isinstance(err, smtplib.SMTPResponseException):
            # The server's own words ("535 5.7.8 ..."), not a tuple with a bytes repr.
            text = err.smtp_error
            said = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
            detail = [f"{err.smtp_code} {said}".strip()]
        elif isinstance(err, smtplib.SMTPRecipientsRefused):
            detail = ["refused every recipient: " + ", ".join(sorted(err.recipients))]
        else:
            detail = str(err).strip().splitlines()
        reason = detail[0] if detail and detail[0] else type(err).__name__
        return NotificationError(
            f"cannot send mail through SMTP server {self.settings.server}: {reason}"
        )

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        connection = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s)
        try:
            if settings.starttls:
                context = ssl.create_default_context(
                    cafile=str(settings.ca_file) if settings.ca_file else None
                )
                connection.starttls(context=context)
            if settings.username is not None:
                connection.login(settings.username, settings.password or "")
        except BaseException:
            connection.close()
            raise
        log.debug("connected to SMTP server %s", settings.server)
        return connection

    def send(self, message: EmailMessage) -> None:
        """Send ``message``; raise :class:`NotificationError` naming the server on failure."""
        if self._broken is not None:
            raise self._broken
        try:
            if self._connection is None:
                self._connection = self._connect()
            self._connection.send_message(message)
        except (
            smtplib.SMTPConnectError,
            smtplib.SMTPServerDisconnected,
            smtplib.SMTPAuthenticationError,
            smtplib.SMTPNotSupportedError,
            ssl.SSLError,
            OSError,
        ) as err:
            self._connection = None
            self._broken = self._error(err)
            raise self._broken from None
        except smtplib.SMTPException as err:
            # Refused sender or recipients: this message only; the connection stays usable.
            raise self._error(err) from None
        log.info("mailed %r to %s via %s", message["Subject"], message["To"], self.settings.server)
