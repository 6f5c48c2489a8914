"""The emulator's bare git repositories, driven through the real git CLI.

One bare repository per project at ``<root>/<project>.git`` (``openstack/ironic`` lives at
``<root>/openstack/ironic.git``). Every git command runs as an asyncio subprocess so the
event loop serving REST, SSH and git never blocks. Repositories carry two small hooks
(pre-receive and post-receive) that hand pushes to the emulator; see
:mod:`driverci.emulator.git.receive`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from driverci.emulator.git.parse import CommitInfo, parse_commit, parse_numstat, parse_raw
from driverci.emulator.state.model import ZERO_SHA, Account, FileChange
from driverci.errors import DriverCIError

log = logging.getLogger(__name__)


class GitError(DriverCIError):
    """A git command run by the emulator failed (the message holds git's stderr)."""


@dataclass
class PushSession:
    """A receive-pack in progress: the hooks of that push authenticate with ``token``."""

    token: str
    project: str
    account: Account
    # Lines for the client that the post-receive processing wants printed.
    output: list[str] = field(default_factory=list)


# The hooks run inside receive-pack, in another process: they forward the ref lines, the
# push options and the quarantine environment to the emulator's internal endpoint and print
# what it answers. Kept stdlib-only so that the interpreter starts fast with -I.
HOOK_SCRIPT = """\
import json, os, sys, urllib.request

phase = sys.argv[1]
url = os.environ.get("DRIVERCI_RECEIVE_URL")
token = os.environ.get("DRIVERCI_RECEIVE_TOKEN")
if not url or not token:
    print("ERROR: this repository only accepts pushes through the emulator", file=sys.stderr)
    sys.exit(1)
count = int(os.environ.get("GIT_PUSH_OPTION_COUNT") or 0)
env = {}
for name in ("GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_QUARANTINE_PATH"):
    value = os.environ.get(name)
    if value:
        env[name] = os.pathsep.join(os.path.abspath(p) for p in value.split(os.pathsep))
body = {
    "phase": phase,
    "updates": [line.split() for line in sys.stdin.read().splitlines() if line.strip()],
    "push_options": [os.environ["GIT_PUSH_OPTION_%d" % i] for i in range(count)],
    "env": env,
}
request = urllib.request.Request(
    url + "?phase=" + phase,
    data=json.dumps(body).encode(),
    headers={"Content-Type": "application/json", "X-Emulator-Token": token},
)
try:
    with urllib.request.urlopen(request, timeout=120) as response:
        answer = json.load(response)
except OSError as exc:
    print("ERROR: emulator receive endpoint %s failed: %s" % (url, exc), file=sys.stderr)
    sys.exit(1)
for line in answer.get("lines", []):
    print(line, file=sys.stderr)
sys.exit(0 if answer.get("ok") else 1)
"""


class GitStore:
    """Bare repositories of all emulated projects under one root directory."""

    GIT = "git"
    # Repository configuration applied by ensure_repo (key, value).
    REPO_CONFIG: tuple[tuple[str, str], ...] = (
        ("http.receivepack", "true"),
        ("uploadpack.allowReachableSHA1InWant", "true"),
        ("uploadpack.allowAnySHA1InWant", "true"),
        ("uploadpack.allowFilter", "true"),
        ("receive.advertisePushOptions", "true"),
        # Pushing straight to a change ref is not how Gerrit works; hiding them from
        # receive-pack makes git refuse such pushes (fetching them stays possible).
        ("receive.hideRefs", "refs/changes/"),
        ("core.logAllRefUpdates", "false"),
        ("gc.auto", "0"),
    )
    HOOKS = ("pre-receive", "post-receive")

    def __init__(self, root: Path) -> None:
        self.root = root
        self.push_sessions: dict[str, PushSession] = {}
        self._project_locks: dict[str, asyncio.Lock] = {}
        self._prepared: set[str] = set()  # projects whose config and hooks are in place
        # Guards "predict the change number, write its ref, record the patch set".
        self.upload_lock = asyncio.Lock()

    # -- repositories ----------------------------------------------------------------------

    def repo_path(self, project: str) -> Path:
        if not project or project.startswith("/") or ".." in project.split("/"):
            raise GitError(f"invalid project name {project!r}")
        return self.root / f"{project}.git"

    def project_lock(self, project: str) -> asyncio.Lock:
        """The lock that serializes pushes (and programmatic uploads) to one project."""
        return self._project_locks.setdefault(project, asyncio.Lock())

    async def ensure_repo(self, project: str) -> Path:
        """Create the bare repository if needed; once per process, apply config and hooks."""
        path = self.repo_path(project)
        if project in self._prepared and (path / "HEAD").exists():
            return path
        if not (path / "HEAD").exists():
            path.mkdir(parents=True, exist_ok=True)
            await self._git(path, "init", "--quiet", "--bare", "--initial-branch=master")
        # Also for repositories written by others (seeding): config and hooks make pushes work.
        for key, value in self.REPO_CONFIG:
            await self._git(path, "config", key, value)
        self._install_hooks(path)
        self._prepared.add(project)
        return path

    def _install_hooks(self, path: Path) -> None:
        hooks = path / "hooks"
        hooks.mkdir(exist_ok=True)
        script = hooks / "driverci_receive_hook.py"
        if not script.exists() or script.read_text() != HOOK_SCRIPT:
            script.write_text(HOOK_SCRIPT)
        for hook in self.HOOKS:
            wrapper = (
                f'#!/bin/sh\nexec "{sys.executable}" -I "$(dirname "$0")/{script.name}" {hook}\n'
            )
            target = hooks / hook
            if not target.exists() or target.read_text() != wrapper:
                target.write_text(wrapper)
                target.chmod(0o755)

    # -- running git -----------------------------------------------------------------------

    def git_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for git: the caller's, minus anything pointing git elsewhere."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env["GIT_CONFIG_NOSYSTEM"] = "1"
        env.setdefault("LC_ALL", "C")
        if extra:
            env.update(extra)
        return env

    async def _git(
        self,
        repo: Path,
        *args: str,
        input: bytes | None = None,
        env: Mapping[str, str] | None = None,
    ) -> bytes:
        process = await asyncio.create_subprocess_exec(
            self.GIT,
            f"--git-dir={repo}",
            *args,
            stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.git_env(env),
        )
        out, err = await process.communicate(input)
        if process.returncode != 0:
            message = err.decode(errors="replace").strip() or f"exit status {process.returncode}"
            raise GitError(f"git {' '.join(args[:3])} in {repo} failed: {message}")
        return out

    async def run_git(
        self,
        project: str,
        *args: str,
        input: bytes | None = None,
        env: Mapping[str, str] | None = None,
    ) -> bytes:
        """Run ``git <args>`` on the project's repository; raise GitError with stderr."""
        return await self._git(self.repo_path(project), *args, input=input, env=env)

    # -- reading ---------------------------------------------------------------------------

    async def resolve(self, project: str, rev: str) -> str | None:
        """The commit sha ``rev`` names, or None."""
        try:
            out = await self.run_git(
                project, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"
            )
        except GitError:
            return None
        return out.decode().strip() or None

    async def branch_tip(self, project: str, branch: str) -> str | None:
        return await self.resolve(project, f"refs/heads/{branch}")

    async def commit_info(
        self, project: str, sha: str, env: Mapping[str, str] | None = None
    ) -> CommitInfo:
        raw = await self.run_git(project, "cat-file", "commit", sha, env=env)
        return parse_commit(sha, raw)

    async def tree_of(self, project: str, sha: str) -> str:
        return (await self.run_git(project, "rev-parse", f"{sha}^{{tree}}")).decode().strip()

    async def diff_files(self, project: str, parent: str | None, sha: str) -> list[FileChange]:
        """Files ``sha`` changes relative to ``parent`` (None: against the empty tree)."""
        base = ["--root", sha] if parent is None else [parent, sha]
        common = ["diff-tree", "-r", "-z", "-M", "--no-commit-id"]
        raw = await self.run_git(project, *common, "--raw", *base)
        numstat = await self.run_git(project, *common, "--numstat", *base)
        entries = parse_raw(raw)
        counts = parse_numstat(numstat)
        blobs = sorted({b for e in entries for b in (e.old_blob, e.new_blob) if b != ZERO_SHA})
        sizes = await self._blob_sizes(project, blobs)
        files = []
        for entry in entries:
            inserted, deleted, binary = counts.get(entry.path, (0, 0, False))
            new_size = sizes.get(entry.new_blob, 0)
            old_size = sizes.get(entry.old_blob, 0)
            files.append(
                FileChange(
                    path=entry.path,
                    status=entry.status,
                    lines_inserted=inserted,
                    lines_deleted=deleted,
                    old_path=entry.old_path,
                    size=new_size,
                    size_delta=new_size - old_size,
                    binary=binary,
                )
            )
        return files

    async def _blob_sizes(self, project: str, blobs: list[str]) -> dict[str, int]:
        if not blobs:
            return {}
        out = await self.run_git(
            project, "cat-file", "--batch-check", input=("\n".join(blobs) + "\n").encode()
        )
        sizes = {}
        for line in out.decode().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[2].isdigit():
                sizes[parts[0]] = int(parts[2])
        return sizes

    # -- writing ---------------------------------------------------------------------------

    async def update_ref(self, project: str, ref: str, sha: str, old: str | None = None) -> None:
        args = ["update-ref", ref, sha] + ([old] if old is not None else [])
        await self.run_git(project, *args)

    async def delete_ref(self, project: str, ref: str) -> None:
        await self.run_git(project, "update-ref", "-d", ref)

    async def list_refs(self, project: str, prefix: str) -> dict[str, str]:
        out = await self.run_git(
            project, "for-each-ref", "--format=%(refname) %(objectname)", prefix
        )
        refs = {}
        for line in out.decode().splitlines():
            name, _, sha = line.rpartition(" ")
            refs[name] = sha
        return refs

    async def create_commit(
        self,
        project: str,
        parent: str | None,
        files: Mapping[str, bytes | None],
        message: str,
        author: Account,
        at: datetime,
    ) -> str:
        """Write a commit with plumbing: ``parent``'s tree plus ``files`` (None deletes)."""
        await self.ensure_repo(project)
        with tempfile.TemporaryDirectory(prefix="driverci-index-") as scratch:
            index_env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
            if parent is not None:
                await self.run_git(project, "read-tree", parent, env=index_env)
            index_lines = []
            for path, content in files.items():
                if content is None:
                    index_lines.append(f"0 {ZERO_SHA}\t{path}")
                    continue
                blob = await self.run_git(project, "hash-object", "-w", "--stdin", input=content)
                index_lines.append(f"100644 {blob.decode().strip()}\t{path}")
            if index_lines:
                info = ("\n".join(index_lines) + "\n").encode()
                await self.run_git(
                    project, "update-index", "--index-info", input=info, env=index_env
                )
            tree = (await self.run_git(project, "write-tree", env=index_env)).decode().strip()
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        stamp = f"@{int(at.timestamp())} +0000"
        email = author.email or f"{author.username}@example.org"
        ident = {
            "GIT_AUTHOR_NAME": author.name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_AUTHOR_DATE": stamp,
            "GIT_COMMITTER_NAME": author.name,
            "GIT_COMMITTER_EMAIL": email,
            "GIT_COMMITTER_DATE": stamp,
        }
        parent_args = ["-p", parent] if parent is not None else []
        if not message.endswith("\n"):
            message += "\n"
        sha = await self.run_git(
            project, "commit-tree", tree, *parent_args, "-F", "-", input=message.encode(), env=ident
        )
        return sha.decode().strip()
