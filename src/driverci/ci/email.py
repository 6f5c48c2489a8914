"""E-mail to the operator (merge conflicts, broken CI, silent-mode results), over plain SMTP."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from email.message import EmailMessage

from driverci.ci.config import EmailConfig

log = logging.getLogger(__name__)


class Notifier:
    """Sends one message per call; without an e-mail configuration it only logs."""

    TIMEOUT = 10.0

    def __init__(self, config: EmailConfig | None, ci_name: str) -> None:
        self.config = config
        self.ci_name = ci_name
        self.sent = 0

    async def send(self, subject: str, body: str) -> bool:
        """True when a mail server accepted the message."""
        config = self.config
        if config is None or not config.to:
            log.info("no e-mail configured; not sent: %s", subject)
            return False
        message = EmailMessage()
        message["From"] = config.sender
        message["To"] = ", ".join(config.to)
        message["Subject"] = f"[{self.ci_name}] {subject}"
        message.set_content(body)
        host, _, port = config.smtp.rpartition(":")
        try:
            await asyncio.to_thread(self._deliver, host or config.smtp, int(port or 25), message)
        except (OSError, smtplib.SMTPException) as exc:
            log.error("e-mail to %s via %s failed: %s", message["To"], config.smtp, exc)
            return False
        self.sent += 1
        return True

    def _deliver(self, host: str, port: int, message: EmailMessage) -> None:
        with smtplib.SMTP(host, port, timeout=self.TIMEOUT) as smtp:
            smtp.send_message(message)

    async def operator(self, subject: str, body: str) -> None:
        """Tell the operator: always in the log, and by e-mail when configured."""
        log.warning("operator: %s: %s", subject, body.replace("\n", " | "))
        await self.send(subject, body)
