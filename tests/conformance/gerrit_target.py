"""One Gerrit server under test, spoken to only over its wire protocols (REST, SSH, git).

The conformance suite runs every test against two such targets: the emulator served by
``driverci emulator serve`` in its own process, and real Gerrit (driverci.realgerrit). Both
hold the same accounts and projects, so a test says what Gerrit does and both must do it.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

PROJECT = "openstack/ironic"
SANDBOX = "opendev/ci-sandbox"
XSSI_PREFIX = ")]}'"


@dataclass(frozen=True)
class Login:
    """An account the suite logs in as: HTTP password and SSH private key."""

    username: str
    password: str
    key_path: Path
    email: str


@dataclass
class GerritTarget:
    """Where a server listens and who may log in; helpers that use only its protocols."""

    name: str
    http_url: str
    ssh_port: int
    admin: Login
    ci: Login
    developer: Login
    nostream: Login
    work: Path

    # -- REST --------------------------------------------------------------------------------

    def get(self, path: str, login: Login | None = None) -> httpx.Response:
        """GET ``path`` (anonymously, or under ``/a/`` as ``login``)."""
        with httpx.Client(base_url=self.http_url, timeout=30) as client:
            if login is None:
                return client.get(path)
            return client.get("/a" + path, auth=(login.username, login.password))

    def post(self, path: str, body: Any, login: Login) -> httpx.Response:
        with httpx.Client(base_url=self.http_url, timeout=30) as client:
            return client.post("/a" + path, json=body, auth=(login.username, login.password))

    def get_json(self, path: str, login: Login | None = None) -> Any:
        response = self.get(path, login)
        assert response.status_code == 200, (self.name, path, response.status_code, response.text)
        return rest_json(response.text)

    # -- SSH ---------------------------------------------------------------------------------

    def ssh(
        self, login: Login, command: str, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` with OpenSSH's own client, as a CI's scripts would."""
        return subprocess.run(
            [*self.ssh_argv(login), command],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def ssh_argv(self, login: Login) -> list[str]:
        return [
            "ssh",
            "-p",
            str(self.ssh_port),
            "-i",
            str(login.key_path),
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
            f"{login.username}@127.0.0.1",
        ]

    # -- git ---------------------------------------------------------------------------------

    def clone(self, name: str, login: Login | None = None, project: str = PROJECT) -> Path:
        """A work tree of ``project`` with Gerrit's commit-msg hook installed."""
        who = login or self.developer
        directory = self.work / name
        url = self.git_url(who, project)
        git(self.work, "clone", "-q", url, str(directory))
        hook = self.get("/tools/hooks/commit-msg")
        assert hook.status_code == 200, (self.name, hook.status_code)
        hook_path = directory / ".git" / "hooks" / "commit-msg"
        hook_path.write_bytes(hook.content)
        hook_path.chmod(0o755)
        git(directory, "config", "user.name", who.username)
        git(directory, "config", "user.email", who.email)
        return directory

    def git_url(self, login: Login, project: str = PROJECT) -> str:
        host = self.http_url.removeprefix("http://").rstrip("/")
        return f"http://{login.username}:{login.password}@{host}/a/{project}"

    def push_change(
        self,
        tree: Path,
        files: dict[str, str],
        subject: str,
        amend: bool = False,
        login: Login | None = None,
    ) -> str:
        """Commit ``files`` and push for review; returns the Change-Id footer's value."""
        for path, text in files.items():
            target = tree / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            git(tree, "add", path)
        who = login or self.developer
        if amend:
            git(tree, "commit", "-q", "--amend", "--no-edit", login=who)
        else:
            git(tree, "commit", "-q", "-m", subject, login=who)
        git(tree, "push", "-q", "origin", "HEAD:refs/for/master")
        body = git(tree, "log", "-1", "--format=%B")
        for line in body.splitlines():
            if line.startswith("Change-Id: "):
                return line.removeprefix("Change-Id: ").strip()
        raise AssertionError(f"{self.name}: no Change-Id in {body!r}")


def rest_json(text: str) -> Any:
    """Gerrit's REST body: the ``)]}'`` line, then JSON."""
    assert text.startswith(XSSI_PREFIX), text[:80]
    return json.loads(text.removeprefix(XSSI_PREFIX))


def git(cwd: Path, *args: str, login: Login | None = None) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    if login is not None:
        # Real Gerrit refuses a commit whose committer e-mail is not the pusher's.
        for role in ("AUTHOR", "COMMITTER"):
            env[f"GIT_{role}_NAME"] = login.username
            env[f"GIT_{role}_EMAIL"] = login.email
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env, check=False
    )
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr.strip()}"
    return result.stdout


def make_key(path: Path) -> Path:
    """An ed25519 key pair at ``path`` and ``path.pub``."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path), "-C", path.name],
        check=True,
    )
    return path
