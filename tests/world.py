"""A small world for story tests: a running Gerrit emulator with an Ironic-like project,
the people and CIs who use it, and a store. Tests make changes, send events, wait until
things settle and assert what a user would see."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import asyncssh
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from driverci import polling
from driverci.emulator.git.receive import upload_change
from driverci.emulator.git.store import GitStore
from driverci.emulator.server import EmulatorServer
from driverci.emulator.state.journal import EmulatorState
from driverci.emulator.state.model import Account, Change, PatchSet
from driverci.polling import Predicate
from driverci.store.db import Store

PROJECT = "openstack/ironic"
SANDBOX = "opendev/ci-sandbox"

IRONIC_FILES: dict[str, bytes] = {
    "README.rst": b"Ironic\n======\n",
    "tox.ini": b"[tox]\nenvlist = py3\n",
    "doc/source/index.rst": b"Ironic docs\n",
    "ironic/__init__.py": b"",
    "ironic/conductor/manager.py": b"class ConductorManager:\n    pass\n",
    "ironic/drivers/redfish.py": b"class RedfishHardware:\n    supported = True\n",
    "ironic/drivers/modules/redfish/power.py": b"def get_power_state():\n    return 'on'\n",
    "ironic/drivers/modules/ipmitool.py": b"def power_on():\n    return True\n",
    "ironic/tests/unit/drivers/modules/redfish/test_power.py": (
        b"from ironic.drivers.modules.redfish import power\n\n"
        b"def test_power_state():\n    assert power.get_power_state() == 'on'\n"
    ),
    "releasenotes/notes/first-1234567890abcdef.yaml": b"---\nfeatures:\n  - first\n",
}


def require_services() -> bool:
    return os.environ.get("DRIVERCI_REQUIRE_SERVICES") == "1"


@dataclass
class GerritWorld:
    """The emulator as tests use it: accounts, a project with master, helpers to act."""

    server: EmulatorServer
    state: EmulatorState
    git: GitStore
    store: Store
    tmp: Path
    accounts: dict[str, Account] = field(default_factory=dict)
    ci_key: asyncssh.SSHKey | None = None

    @property
    def url(self) -> str:
        return self.server.http_url

    @property
    def ssh_port(self) -> int:
        return self.server.ssh_port

    async def push(
        self,
        files: dict[str, bytes | None],
        subject: str = "Change something",
        owner: str = "alice",
        change_id: str | None = None,
        branch: str = "master",
        project: str = PROJECT,
    ) -> tuple[Change, PatchSet]:
        """Upload a change (or a new patch set when change_id names an open change)."""
        return await upload_change(
            self.state,
            self.git,
            project,
            branch,
            files,
            subject,
            self.accounts[owner],
            change_id=change_id,
        )

    async def new_patch_set(
        self, change: Change, files: dict[str, bytes | None], owner: str = "alice"
    ) -> PatchSet:
        _, patch_set = await self.push(
            files, change.subject, owner, change.change_id, change.branch, change.project
        )
        return patch_set

    def comment(self, change: Change, text: str, author: str = "alice") -> None:
        self.state.post_review(change, change.current, self.accounts[author], text)

    def messages_by(self, change: Change, username: str) -> list[str]:
        account = self.accounts[username]
        return [m.message for m in change.messages if m.author_id == account.account_id]


def reported_per_patch_set(
    world: GerritWorld, username: str = "sandbox-redfish-ci"
) -> Counter[tuple[int, int]]:
    """How many comments ``username`` (the CI) posted on each (change, patch set)."""
    account = world.accounts[username].account_id
    counts: Counter[tuple[int, int]] = Counter()
    for change in world.state.changes.values():
        for message in change.messages:
            if message.author_id == account:
                counts[(change.number, message.revision_number or 0)] += 1
    return counts


async def wait_until(predicate: Predicate, timeout: float = 20.0, what: str = "condition") -> None:
    """Poll until ``predicate`` holds; fail the test with ``what`` when it never does."""
    await polling.wait_until(predicate, timeout, what, error=AssertionError)


async def build_world(tmp: Path, store: Store, host: str = "127.0.0.1") -> GerritWorld:
    """The emulator listening on ``host`` (the multi-host test: its bridge's address)."""
    state = EmulatorState(tmp / "gerrit")
    ci_key = asyncssh.generate_private_key("ssh-ed25519")
    (tmp / "ci_key").write_bytes(ci_key.export_private_key())
    (tmp / "ci_key").chmod(0o600)
    accounts = {
        "admin": state.add_account(
            "admin",
            "Administrator",
            "admin@example.org",
            http_password="admin-secret",
            is_admin=True,
        ),
        "zuul": state.add_account(
            "zuul", "Zuul", http_password="zuul-secret", tags=["SERVICE_USER"]
        ),
        "alice": state.add_account(
            "alice", "Alice Developer", "alice@example.org", http_password="alice-secret"
        ),
        "bob": state.add_account("bob", "Bob Core", "bob@example.org", http_password="bob-secret"),
        "sandbox-redfish-ci": state.add_account(
            "sandbox-redfish-ci",
            "Sandbox Redfish CI",
            "ci@example.org",
            http_password="sandbox-redfish-ci-secret",
            ssh_keys=[ci_key.export_public_key().decode()],
            tags=["SERVICE_USER"],
        ),
    }
    at = datetime.now(UTC)
    state.create_project(PROJECT, at=at, voters={"Verified": ["zuul"]})
    state.create_project(SANDBOX, at=at, voters={"Verified": ["*"]})
    server = EmulatorServer(state, host=host)
    await server.start()
    git = server.git
    for project, files in ((PROJECT, IRONIC_FILES), (SANDBOX, {"README": b"sandbox\n"})):
        await git.ensure_repo(project)
        tip = await git.create_commit(project, None, files, "Initial import", accounts["admin"], at)
        await git.update_ref(project, "refs/heads/master", tip)
        state.set_branch(project, "master", tip, at=at)
    return GerritWorld(server, state, git, store, tmp, accounts, ci_key)


class LoopbackSmtp(Controller):
    """aiosmtpd's Controller on port 0: learns its port before its readiness check."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


@dataclass
class Inbox:
    """What the SMTP server received: (envelope recipients, parsed message) per mail."""

    mails: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        raw = content if isinstance(content, bytes) else (content or "").encode()
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.mails.append(([str(r) for r in envelope.rcpt_tos], parsed))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [message for rcpts, message in self.mails if address in rcpts]

    def subjects(self) -> list[str]:
        return sorted(str(message["Subject"]) for _, message in self.mails)

    @property
    def messages(self) -> list[EmailMessage]:
        return [message for _, message in self.mails]


@contextlib.contextmanager
def smtp_server(inbox: Inbox) -> Iterator[int]:
    """A real SMTP server on 127.0.0.1 delivering into ``inbox``; yields its port."""
    server = LoopbackSmtp(inbox, hostname="127.0.0.1", port=0)
    server.start()
    try:
        yield server.port
    finally:
        server.stop()
