"""Provision a fresh real Gerrit over REST and git: keys, CI/developer accounts, projects, label."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from driverci.errors import DriverCIError
from driverci.realgerrit.site import GerritSite, strip_magic


class ProvisionError(DriverCIError):
    """A provisioning request to real Gerrit failed (message names the URL and status)."""


@dataclass(frozen=True)
class Account:
    """One provisioned Gerrit account with its HTTP password and SSH key pair."""

    username: str
    name: str
    email: str
    http_password: str
    ssh_key: Path
    ssh_public_key: str


@dataclass(frozen=True)
class Provisioned:
    """Everything a test or the CI needs to talk to the provisioned Gerrit."""

    http_url: str
    ssh_host: str
    ssh_port: int
    version: str
    admin: Account
    ci: Account
    developer: Account
    nostream: Account
    ironic_project: str
    sandbox_project: str
    commit_msg_hook: Path
    seconds: float

    def git_url(self, account: Account, project: str) -> str:
        """An authenticated git-over-HTTP URL for PROJECT as ACCOUNT."""
        host = self.http_url.split("://", 1)[1]
        return (
            f"http://{quote(account.username)}:{quote(account.http_password, safe='')}"
            f"@{host}/a/{project}"
        )


@dataclass(frozen=True)
class RunningGerrit:
    """A started site together with what provisioning created on it."""

    site: GerritSite
    provisioned: Provisioned


class Provisioner:
    """Creates the accounts, projects and Verified label a CI test world needs."""

    ADMIN_USERNAME = "admin"
    ADMIN_PASSWORD = "secret"
    CI_USERNAME = "sandbox-ci"
    CI_NAME = "Sandbox Redfish CI"
    CI_GROUP = "Service Users"
    DEVELOPER_USERNAME = "developer"
    NOSTREAM_USERNAME = "nostream"
    IRONIC_PROJECT = "openstack/ironic"
    SANDBOX_PROJECT = "opendev/ci-sandbox"
    HTTP_TIMEOUT_SECONDS = 60.0
    GIT_TIMEOUT_SECONDS = 120.0
    INITIAL_FILES = {
        "README.rst": "Ironic\n======\n\nBare metal provisioning (real-Gerrit test fixture).\n",
        "ironic/__init__.py": '"""Ironic (test fixture)."""\n',
        "doc/source/index.rst": "Ironic documentation\n====================\n",
    }

    def __init__(self, site: GerritSite, run_dir: Path) -> None:
        self.site = site
        self.run_dir = run_dir
        self.keys_dir = run_dir / "keys"
        self.client = httpx.Client(
            base_url=site.http_url,
            auth=(self.ADMIN_USERNAME, self.ADMIN_PASSWORD),
            timeout=self.HTTP_TIMEOUT_SECONDS,
        )

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        auth: tuple[str, str] | None = None,
        text: str | None = None,
        ok: tuple[int, ...] = (200, 201, 204),
    ) -> Any:
        """One REST call as admin (or AUTH); returns the decoded JSON (None when empty)."""
        headers: dict[str, str] = {}
        content: bytes | None = None
        if text is not None:
            content, headers["Content-Type"] = text.encode(), "text/plain"
        elif body is not None:
            content, headers["Content-Type"] = orjson.dumps(body), "application/json"
        response = self.client.request(
            method,
            path,
            content=content,
            headers=headers,
            auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
        )
        if response.status_code not in ok:
            raise ProvisionError(
                f"{method} {self.site.http_url}{path} answered {response.status_code}:"
                f" {response.text.strip()[:300]}"
            )
        payload = strip_magic(response.text).strip()
        return orjson.loads(payload) if payload else None

    def keypair(self, name: str) -> tuple[Path, str]:
        """An ed25519 key pair in the run directory (made with ssh-keygen)."""
        self.keys_dir.mkdir(parents=True, exist_ok=True)
        key = self.keys_dir / name
        if not key.is_file():
            subprocess.run(
                [
                    "ssh-keygen",
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    f"{name}@driverci",
                    "-f",
                    str(key),
                ],
                check=True,
                capture_output=True,
            )
        return key, key.with_suffix(".pub").read_text().strip()

    def account(self, username: str, name: str, *, groups: list[str] | None = None) -> Account:
        """Create USERNAME with an HTTP password, SSH key and email."""
        key, public = self.keypair(username)
        password = f"{username}-pw-{os.urandom(6).hex()}"
        email = f"{username}@example.com"
        body: dict[str, Any] = {
            "name": name,
            "email": email,
            "ssh_key": public,
            "http_password": password,
        }
        if groups:
            body["groups"] = groups
        self.request("PUT", f"/a/accounts/{quote(username, safe='')}", body)
        return Account(username, name, email, password, key, public)

    def capabilities(self, account: Account) -> dict[str, Any]:
        result: dict[str, Any] = self.request(
            "GET",
            "/a/accounts/self/capabilities",
            auth=(account.username, account.http_password),
        )
        return result

    def run(self) -> Provisioned:
        """Provision everything and return the credentials and URLs."""
        started = time.monotonic()
        key, public = self.keypair(self.ADMIN_USERNAME)
        self.request("POST", "/a/accounts/self/sshkeys", text=public)
        admin = Account(
            self.ADMIN_USERNAME,
            "Administrator",
            "admin@example.com",
            self.ADMIN_PASSWORD,
            key,
            public,
        )
        ci = self.account(self.CI_USERNAME, self.CI_NAME, groups=[self.CI_GROUP])
        developer = self.account(self.DEVELOPER_USERNAME, "Dev Eloper")
        nostream = self.account(self.NOSTREAM_USERNAME, "No Stream")
        if not self.capabilities(ci).get("streamEvents"):
            raise ProvisionError(f"{self.CI_USERNAME} lacks Stream Events in {self.CI_GROUP!r}")
        if self.capabilities(nostream).get("streamEvents"):
            raise ProvisionError(f"{self.NOSTREAM_USERNAME} unexpectedly has Stream Events")
        ironic = quote(self.IRONIC_PROJECT, safe="")
        self.request("PUT", f"/a/projects/{ironic}", {"create_empty_commit": False})
        self.request(
            "PUT",
            f"/a/projects/{quote(self.SANDBOX_PROJECT, safe='')}",
            {"create_empty_commit": True},
        )
        self.verified_label(ironic)
        hook = self.commit_msg_hook()
        provisioned = Provisioned(
            http_url=self.site.http_url,
            ssh_host="127.0.0.1",
            ssh_port=self.site.ssh_port,
            version=self.site.version,
            admin=admin,
            ci=ci,
            developer=developer,
            nostream=nostream,
            ironic_project=self.IRONIC_PROJECT,
            sandbox_project=self.SANDBOX_PROJECT,
            commit_msg_hook=hook,
            seconds=0.0,
        )
        self.push_initial(provisioned)
        seconds = time.monotonic() - started
        return Provisioned(**{**provisioned.__dict__, "seconds": seconds})

    def verified_label(self, project: str) -> None:
        """A Verified -1..+1 label on PROJECT, votable by Service Users on refs/heads/*."""
        self.request(
            "PUT",
            f"/a/projects/{project}/labels/Verified",
            {
                "values": {"-1": "Fails", " 0": "No score", "+1": "Verified"},
                "function": "NoBlock",
                "commit_message": "Add Verified label",
            },
        )
        group = self.request("GET", f"/a/groups/{quote(self.CI_GROUP, safe='')}")
        rule = {"action": "ALLOW", "min": -1, "max": 1}
        self.request(
            "POST",
            f"/a/projects/{project}/access",
            {
                "add": {
                    "refs/heads/*": {
                        "permissions": {
                            "label-Verified": {"rules": {group["id"]: rule}},
                        }
                    }
                }
            },
        )

    def commit_msg_hook(self) -> Path:
        """Gerrit's own commit-msg hook, downloaded into the run directory."""
        response = self.client.get("/tools/hooks/commit-msg")
        if response.status_code != 200:
            raise ProvisionError(f"GET /tools/hooks/commit-msg answered {response.status_code}")
        hook = self.run_dir / "commit-msg"
        hook.write_bytes(response.content)
        hook.chmod(0o755)
        return hook

    def push_initial(self, provisioned: Provisioned) -> None:
        """An initial commit on master of openstack/ironic, pushed as admin with real git."""
        work = self.run_dir / "ironic-initial"
        shutil.rmtree(work, ignore_errors=True)
        git(work.parent, "init", "-q", "-b", "master", str(work))
        for rel, content in self.INITIAL_FILES.items():
            path = work / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        admin = provisioned.admin
        git(work, "add", "-A")
        git(work, "commit", "-q", "-m", "Initial commit", identity=admin)
        git(
            work,
            "push",
            "-q",
            provisioned.git_url(admin, self.IRONIC_PROJECT),
            "HEAD:refs/heads/master",
            timeout=self.GIT_TIMEOUT_SECONDS,
        )


def git(cwd: Path, *args: str, timeout: float = 120.0, identity: Account | None = None) -> str:
    """Run git in CWD (as IDENTITY's author/committer); raise ProvisionError on failure."""
    cwd.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    if identity is not None:
        for role in ("AUTHOR", "COMMITTER"):
            env[f"GIT_{role}_NAME"] = identity.name
            env[f"GIT_{role}_EMAIL"] = identity.email
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env=env,
    )
    if result.returncode != 0:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        telling = [line for line in lines if line.startswith(("!", "remote: ERROR", "fatal"))]
        detail = "; ".join(telling[-2:]) if telling else (lines[-1] if lines else "")
        raise ProvisionError(f"git {args[0] if args else ''} in {cwd} failed: {detail}")
    return result.stdout


def provision(site: GerritSite, run_dir: Path) -> Provisioned:
    """Provision the running SITE (accounts, keys, projects, Verified label)."""
    provisioner = Provisioner(site, run_dir)
    try:
        return provisioner.run()
    finally:
        provisioner.client.close()


def create_project(provisioned: Provisioned, name: str) -> str:
    """A new project NAME under openstack/ironic (so it inherits the Verified label and the
    CI's right to vote), with an empty initial commit on master; returns NAME.

    Tests that count what happened on a project use their own, as the session's Gerrit is
    shared by every test of the run.
    """
    admin = provisioned.admin
    answer = httpx.put(
        f"{provisioned.http_url}/a/projects/{quote(name, safe='')}",
        auth=(admin.username, admin.http_password),
        json={"parent": provisioned.ironic_project, "create_empty_commit": True},
        timeout=Provisioner.HTTP_TIMEOUT_SECONDS,
    )
    if answer.status_code != 201:
        raise ProvisionError(
            f"PUT {provisioned.http_url}/a/projects/{name} answered {answer.status_code}:"
            f" {answer.text.strip()[:300]}"
        )
    return name


def push_for_review(
    provisioned: Provisioned,
    account: Account,
    project: str,
    work: Path,
    files: dict[str, str],
    subject: str,
    branch: str = "master",
) -> str:
    """Clone PROJECT as ACCOUNT into WORK (once), commit FILES, push to refs/for/BRANCH.

    Returns the Change-Id the commit-msg hook gave the commit.
    """
    if not (work / ".git").is_dir():
        git(work.parent, "clone", "-q", provisioned.git_url(account, project), str(work))
        hooks = work / ".git" / "hooks"
        hooks.mkdir(parents=True, exist_ok=True)
        (hooks / "commit-msg").write_bytes(provisioned.commit_msg_hook.read_bytes())
        (hooks / "commit-msg").chmod(0o755)
        git(work, "config", "user.name", account.name)
        git(work, "config", "user.email", account.email)
    git(work, "fetch", "-q", "origin", branch)
    git(work, "checkout", "-q", "-B", f"review-{os.urandom(4).hex()}", f"origin/{branch}")
    for rel, content in files.items():
        path = work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", subject, identity=account)
    message = git(work, "log", "-1", "--format=%B")
    change_ids = [
        line.split(":", 1)[1].strip()
        for line in message.splitlines()
        if line.startswith("Change-Id:")
    ]
    if not change_ids:
        raise ProvisionError(f"commit in {work} has no Change-Id (commit-msg hook not run?)")
    git(work, "push", "-q", "origin", f"HEAD:refs/for/{branch}")
    return change_ids[-1]
