"""The rehearsal's Gerrit: the emulator holding openstack/ironic (the imported tree as the
first commit of master) and opendev/ci-sandbox, its people and the CI's account; and a
developer who pushes with the git command line, as on review.opendev.org."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncssh
import httpx

from driverci.emulator.git.fastimport import FastImportStream, Ident
from driverci.emulator.server import EmulatorServer
from driverci.emulator.state.journal import EmulatorState
from driverci.emulator.state.model import Account
from driverci.errors import DriverCIError
from driverci.gerrit.rest import GerritRestClient
from driverci.sandbox.patches import PlannedPatch

PROJECT = "openstack/ironic"
SANDBOX_PROJECT = "opendev/ci-sandbox"
CI_ACCOUNT = "sandbox-redfish-ci"
CI_NAME = "Sandbox Redfish CI"
DEVELOPER = "alice"
CORE = "bob"


@dataclass
class SandboxGerrit:
    """A running emulator and the credentials of everyone who uses it."""

    server: EmulatorServer
    state: EmulatorState
    passwords: dict[str, str] = field(default_factory=dict)
    ci_key_path: Path | None = None

    @property
    def url(self) -> str:
        return self.server.http_url

    def rest(self, username: str | None = None) -> GerritRestClient:
        if username is None:
            return GerritRestClient(self.url)
        return GerritRestClient(self.url, username, self.passwords[username])

    async def stop(self) -> None:
        await self.server.stop()
        self.state.close()


def _import_tree(repo: Path, files: dict[str, bytes], when: datetime, version: str) -> str:
    stream = FastImportStream()
    mark = stream.commit(
        "refs/heads/master",
        Ident("OpenStack Release Bot", "infra-root@openstack.org"),
        when,
        f"Import {version}\n\nThe source tree of {version}, the rehearsal's master.\n",
        files=files,
    )
    return stream.run(repo)[mark]


async def start_gerrit(
    gerrit_dir: Path, secrets_dir: Path, tree: dict[str, bytes], version: str
) -> SandboxGerrit:
    """Create accounts, projects and the initial commits, then serve REST, git and SSH."""
    state = EmulatorState(gerrit_dir)
    passwords = {name: secrets.token_urlsafe(18) for name in ("admin", DEVELOPER, CORE, CI_ACCOUNT)}
    secrets_dir.mkdir(parents=True, exist_ok=True)
    secrets_dir.chmod(0o700)
    key = asyncssh.generate_private_key("ssh-ed25519")
    key_path = secrets_dir / "id_ed25519"
    key_path.write_bytes(key.export_private_key())
    key_path.chmod(0o600)
    password_path = secrets_dir / "http-password"
    password_path.write_text(passwords[CI_ACCOUNT] + "\n")
    password_path.chmod(0o600)
    people: list[tuple[str, str, str, dict[str, object]]] = [
        ("admin", "Administrator", "admin@example.org", {"is_admin": True}),
        (DEVELOPER, "Alice Developer", "alice@example.org", {}),
        (CORE, "Bob Core", "bob@example.org", {}),
        (
            CI_ACCOUNT,
            CI_NAME,
            "sandbox-redfish-ci@example.org",
            {"ssh_keys": [key.export_public_key().decode()], "tags": ["SERVICE_USER"]},
        ),
    ]
    for username, name, email, extra in people:
        state.add_account(
            username,
            name,
            email,
            http_password=passwords[username],
            **extra,  # type: ignore[arg-type]
        )
    at = datetime.now(UTC)
    # Ironic lets only Zuul vote Verified; the sandbox lets anyone (as on opendev).
    state.create_project(PROJECT, at=at, voters={"Verified": ["zuul"]})
    state.create_project(SANDBOX_PROJECT, at=at, voters={"Verified": ["*"]})
    server = EmulatorServer(state)
    await server.start()
    try:
        git = server.git
        for project, files, label in (
            (PROJECT, tree, version),
            (SANDBOX_PROJECT, {"README": b"The third-party CI sandbox.\n"}, "ci-sandbox"),
        ):
            repo = await git.ensure_repo(project)
            tip = await asyncio.to_thread(_import_tree, repo, files, at, label)
            state.set_branch(project, "master", tip, at=at)
    except BaseException:
        await server.stop()
        state.close()
        raise
    return SandboxGerrit(server, state, passwords, key_path)


class Developer:
    """Alice with a clone of openstack/ironic: edits, commits with Change-Id, pushes for review."""

    GIT_TIMEOUT = 300.0

    def __init__(self, gerrit: SandboxGerrit, workdir: Path, username: str = DEVELOPER) -> None:
        self.gerrit = gerrit
        self.username = username
        self.clone = workdir / "ironic"

    async def git(self, *args: str, auth: bool = False) -> str:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        if auth:
            # Credentials through the environment, never on a command line others could read.
            token = f"{self.username}:{self.gerrit.passwords[self.username]}"
            env.update(
                GIT_CONFIG_COUNT="1",
                GIT_CONFIG_KEY_0="http.extraHeader",
                GIT_CONFIG_VALUE_0="Authorization: Basic "
                + base64.b64encode(token.encode()).decode(),
            )
        process = await asyncio.create_subprocess_exec(
            "git",
            *args,
            cwd=self.clone if self.clone.exists() else self.clone.parent,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), self.GIT_TIMEOUT)
        if process.returncode != 0:
            lines = err.decode(errors="replace").strip().splitlines()
            raise DriverCIError(f"git {args[0]}: {lines[-1] if lines else process.returncode}")
        return out.decode().strip()

    async def prepare(self) -> None:
        """Clone over HTTP and install Gerrit's commit-msg hook (it adds the Change-Id)."""
        self.clone.parent.mkdir(parents=True, exist_ok=True)
        await self.git("clone", "--quiet", f"{self.gerrit.url}/{PROJECT}", str(self.clone))
        async with httpx.AsyncClient() as http:
            hook = await http.get(f"{self.gerrit.url}/tools/hooks/commit-msg")
        if hook.status_code != 200:
            raise DriverCIError(
                f"{self.gerrit.url}/tools/hooks/commit-msg: HTTP {hook.status_code}"
            )
        hook_path = self.clone / ".git" / "hooks" / "commit-msg"
        hook_path.write_bytes(hook.content)
        hook_path.chmod(0o755)

    async def push(self, patch: PlannedPatch) -> int:
        """Commit ``patch`` on top of master and push it for review; returns the change number."""
        await self.git("checkout", "--quiet", "-B", patch.key, "origin/master")
        patch.apply(self.clone)
        account: Account | None = self.gerrit.state.account_by_username(self.username)
        name = account.name if account else self.username
        identity = ["-c", f"user.name={name}", "-c", f"user.email={self.username}@example.org"]
        await self.git("add", patch.path)
        await self.git(*identity, "commit", "--quiet", "-m", patch.message())
        url = f"{self.gerrit.url}/a/{PROJECT}"
        await self.git("push", "--quiet", url, "HEAD:refs/for/master", auth=True)
        sha = await self.git("rev-parse", "HEAD")
        async with self.gerrit.rest() as rest:
            changes = await rest.query_changes(f"commit:{sha}")
        if not changes:
            raise DriverCIError(f"pushed {sha[:10]} to {PROJECT} but no change appeared")
        return changes[0].number
