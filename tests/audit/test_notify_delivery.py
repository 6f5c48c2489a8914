"""Delivering notices as an operator configures it: `driverci audit notify` from the command
line (dry run first, then for real, then nothing new), SMTP with STARTTLS and a login, and
the option mistakes it explains in one line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
import typer
import yaml
from aiosmtpd.smtp import AuthResult, LoginPassword
from test_notify_support import (
    DASHBOARD,
    Judged,
    closed_port,
    judge_scenario,
    self_signed_cert,
)
from typer.testing import CliRunner

from driverci.audit.notify.cli import notify_command
from driverci.audit.notify.mail import SmtpSettings, parse_smtp_server
from driverci.audit.notify.notice import NotDelivered
from driverci.audit.notify.notifier import Notifier
from driverci.errors import ConfigError
from driverci.registry.loader import save_registry
from world import Inbox, LoopbackSmtp, smtp_server


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> Judged:
    return judge_scenario(tmp_path_factory.mktemp("notify-delivery"))


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    received = Inbox()
    with smtp_server(received) as port:
        yield received, port


def cli() -> typer.Typer:
    """The command as the lead registers it: `driverci audit notify`."""
    app = typer.Typer()
    app.command("notify")(notify_command)

    @app.command("other")
    def _other() -> None:  # a second command keeps Typer from collapsing the group
        pass

    return app


@pytest.fixture
def files(judged: Judged, tmp_path: Path) -> list[str]:
    """--db, --registry and --policy options naming real files for the scenario."""
    registry, policy = tmp_path / "registry.yaml", tmp_path / "policy.yaml"
    save_registry(judged.registry, registry)
    policy.write_text(yaml.safe_dump(judged.policy.model_dump(mode="json"), sort_keys=False))
    judged.fresh_store(tmp_path).close()
    db = f"sqlite:///{tmp_path / 'notify.sqlite'}"
    return ["--db", db, "--registry", str(registry), "--policy", str(policy)]


def test_the_command_previews_then_sends_then_stays_quiet(
    files: list[str], inbox: tuple[Inbox, int]
) -> None:
    received, port = inbox
    window = ["--since", "2026-01-05", "--until", "2026-02-04"]
    smtp = ["--smtp", f"127.0.0.1:{port}", "--smtp-from", "ironic-ci@example.org"]
    runner = CliRunner()
    base = ["notify", *files, *window, *smtp, "--dashboard-url", DASHBOARD]

    preview = runner.invoke(cli(), [*base, "--dry-run"])
    assert preview.exit_code == 0, preview.output
    assert "Subject: [ironic] Dark CI is now unreliable" in preview.output
    assert "To: dark-ops@example.org, dark-lead@example.org" in preview.output
    assert f'"dashboard": "{DASHBOARD}/ci/dark-ci"' in preview.output
    assert "dry run: 2 notice(s) not sent, nothing recorded" in preview.output
    assert not received.mails

    sent = runner.invoke(cli(), base)
    assert sent.exit_code == 0, sent.output
    assert "[ironic] Dark CI is now unreliable" in sent.output
    assert received.subjects() == [
        "[ironic] Dark CI is now unreliable",
        "[ironic] Quiet CI missed 2 milestones",
    ]
    assert all(m["From"] == "ironic-ci@example.org" for _, m in received.mails)

    again = runner.invoke(cli(), base)
    assert again.exit_code == 0, again.output
    assert "no change of state: nothing to send" in again.output
    assert len(received.mails) == 2


def test_the_command_names_the_smtp_server_it_could_not_reach(files: list[str]) -> None:
    port = closed_port()
    args = ["notify", *files, "--until", "2026-02-04", "--smtp", f"127.0.0.1:{port}"]
    result = CliRunner().invoke(cli(), args)
    assert isinstance(result.exception, NotDelivered)
    assert f"SMTP server 127.0.0.1:{port}" in str(result.exception)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ([], "give --smtp host:port and/or --webhook URL"),
        (["--smtp", "mail:port"], "port 'port' is not a number"),
        (["--smtp", "mail:25", "--smtp-user", "ci"], "--smtp-user and --smtp-password-file"),
        (["--starttls"], "need --smtp"),
        (["--smtp", "mail:25", "--since", "2026-13-01"], "expected a date like 2026-03-01"),
    ],
)
def test_option_mistakes_are_explained_in_one_line(
    files: list[str], args: list[str], problem: str
) -> None:
    result = CliRunner().invoke(cli(), ["notify", *files, *args])
    assert isinstance(result.exception, ConfigError), result.output
    assert problem in str(result.exception)


def test_smtp_server_addresses() -> None:
    assert parse_smtp_server("mail.example.org") == ("mail.example.org", 25)
    assert parse_smtp_server("mail.example.org:587") == ("mail.example.org", 587)
    assert parse_smtp_server("[::1]:2525") == ("::1", 2525)
    with pytest.raises(ConfigError, match="65535"):
        parse_smtp_server("mail:70000")


class Accounts:
    """An aiosmtpd authenticator that knows one user."""

    def __init__(self) -> None:
        self.logins: list[str] = []

    def __call__(
        self, server: object, session: object, envelope: object, mechanism: str, data: object
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password == b"s3cret"
        if ok and isinstance(data, LoginPassword):
            self.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)


def test_starttls_and_login_with_the_password_from_a_file(judged: Judged, tmp_path: Path) -> None:
    import ssl

    cert, key = self_signed_cert(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    received, accounts = Inbox(), Accounts()
    server = LoopbackSmtp(
        received,
        hostname="127.0.0.1",
        port=0,
        tls_context=tls,
        require_starttls=True,
        authenticator=accounts,
        auth_require_tls=True,
    )
    server.start()
    try:
        settings = SmtpSettings(
            host="127.0.0.1",
            port=server.port,
            username="ironic-bot",
            password="s3cret",
            starttls=True,
            ca_file=cert,
        )
        with closing(judged.fresh_store(tmp_path)) as store:
            Notifier(store, judged.registry, settings, None, None).notify(judged.late)
        assert accounts.logins == ["ironic-bot"] and len(received.mails) == 2

        wrong = SmtpSettings(
            host="127.0.0.1", port=server.port, username="ironic-bot", password="guess",
            starttls=True, ca_file=cert,
        )  # fmt: skip
        again = tmp_path / "again"
        again.mkdir()
        with (
            closing(judged.fresh_store(again)) as store,
            pytest.raises(
                NotDelivered,
                match=f"127.0.0.1:{server.port}: 535 5.7.8 Authentication credentials invalid",
            ),
        ):
            Notifier(store, judged.registry, wrong, None, None).notify(judged.late)
    finally:
        server.stop()
