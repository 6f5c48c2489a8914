"""``driverci audit notify``: evaluate the window like ``audit report`` and tell each CI's
contacts (mail, webhook) about changes of state since the last run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from driverci.audit.cli import (
    DateOption,
    DbOption,
    PolicyOption,
    RegistryOption,
    _window,
    load_config,
)
from driverci.audit.notify.mail import SmtpSettings, parse_smtp_server
from driverci.audit.notify.notice import NotDelivered, SentNotice
from driverci.audit.notify.notifier import Notifier
from driverci.errors import ConfigError

console = Console()


def _read_password(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read SMTP password file ({exc.strerror})") from None


def smtp_settings(
    server: str | None,
    sender: str,
    username: str | None,
    password_file: Path | None,
    starttls: bool,
    ca_file: Path | None,
) -> SmtpSettings | None:
    """The SMTP settings the options describe (None when --smtp is not given)."""
    if server is None:
        if username or password_file or starttls:
            raise ConfigError("--smtp-user, --smtp-password-file and --starttls need --smtp")
        return None
    if (username is None) != (password_file is None):
        raise ConfigError("give --smtp-user and --smtp-password-file together")
    host, port = parse_smtp_server(server)
    return SmtpSettings(
        host=host,
        port=port,
        sender=sender,
        username=username,
        password=_read_password(password_file),
        starttls=starttls,
        ca_file=ca_file,
    )


def _show(notice: SentNotice, dry_run: bool) -> None:
    to = ", ".join(notice.recipients) or "(no contact with an e-mail address)"
    if dry_run:
        console.rule(f"{notice.account}: {notice.event}")
        console.print(f"To: {to}\nSubject: {notice.subject}\n", highlight=False, markup=False)
        console.print(notice.body, highlight=False, markup=False)
        console.print("Webhook payload:", highlight=False)
        console.print(json.dumps(notice.payload(), indent=2), highlight=False, markup=False)
        return
    ways = (["mailed " + to] if notice.mailed else []) + (
        [f"webhook {notice.webhook_status}"] if notice.webhook_status else []
    )
    console.print(
        f"[green]{notice.event:>10}[/green]  {escape(notice.subject)}  "
        f"({escape('; '.join(ways) or 'recorded')})",
        highlight=False,
    )


def notify_command(
    since: DateOption = None,
    until: DateOption = None,
    smtp: Annotated[
        str | None, typer.Option("--smtp", help="SMTP server host:port (e.g. localhost:25)")
    ] = None,
    smtp_from: Annotated[
        str, typer.Option("--smtp-from", help="Sender address of the mails")
    ] = "driverci@localhost",
    smtp_user: Annotated[str | None, typer.Option("--smtp-user", help="SMTP login")] = None,
    smtp_password_file: Annotated[
        Path | None, typer.Option("--smtp-password-file", help="File holding the SMTP password")
    ] = None,
    starttls: Annotated[bool, typer.Option("--starttls", help="Upgrade with STARTTLS")] = False,
    smtp_ca_file: Annotated[
        Path | None, typer.Option("--smtp-ca-file", help="CA bundle for the STARTTLS server")
    ] = None,
    webhook: Annotated[
        str | None, typer.Option("--webhook", help="URL to POST each notice to as JSON")
    ] = None,
    dashboard_url: Annotated[
        str | None,
        typer.Option("--dashboard-url", help="Dashboard base URL, linked as /ci/<account>"),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be sent; send and record nothing")
    ] = False,
    db: DbOption = None,
    registry_path: RegistryOption = None,
    policy_path: PolicyOption = None,
) -> None:
    """Mail each CI's contacts (and call a webhook) once per change of its verdict or milestones."""
    from driverci.audit.engine import Judge
    from driverci.audit.evaluate.freshness import require_coverage
    from driverci.audit.evaluate.parallel import every_core
    from driverci.store.db import open_store

    settings = smtp_settings(smtp, smtp_from, smtp_user, smtp_password_file, starttls, smtp_ca_file)
    if settings is None and webhook is None and not dry_run:
        raise ConfigError("give --smtp host:port and/or --webhook URL (or --dry-run to preview)")
    registry, policy = load_config(registry_path, policy_path)
    window = _window(policy.window_days, since, until)
    store = open_store(db)
    try:
        # From a window with nothing in it every CI would "turn unreliable": mail nobody.
        require_coverage(store, registry.project, window, "notify")
        judge = Judge(store, registry, policy, now=window.end, processes=every_core())
        report = judge.report(window)
        notifier = Notifier(store, registry, settings, webhook, dashboard_url, dry_run=dry_run)
        try:
            notices = notifier.notify(report)
        except NotDelivered as err:
            for notice in err.sent:
                _show(notice, dry_run=False)
            raise
    finally:
        store.close()
    for notice in notices:
        _show(notice, dry_run)
    if not notices:
        console.print("no change of state: nothing to send")
    elif dry_run:
        console.print(f"dry run: {len(notices)} notice(s) not sent, nothing recorded")
