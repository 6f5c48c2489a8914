"""A fresh workspace per run, holding the patch set merged onto its branch tip.

Layout of ``<workspace_root>/<run_id>/``: ``job/src`` (the checkout, the steps' cwd),
``job/home`` (HOME), ``job/tmp`` (TMPDIR) — the only part a job may write — and ``staging``
(the logs being written, outside the job's reach).

Why merge, not cherry-pick: Zuul's default (merge-resolve) tests what Gerrit would submit;
when the patch set's parent is the branch tip the merge fast-forwards and the tested commit
is the patch set itself; when the branch moved on, a merge commit is tested, and a patch set
stacked on another open change brings that change along, as Zuul does. Git runs with a
minimal environment (no credential helpers, no prompts) and anonymous fetch URLs only.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from driverci.ci.model import PatchSetTarget
from driverci.ci.publish import JobOutput
from driverci.ci.sandbox import LineBuffer, run_process

CheckoutResult = Literal["ready", "conflict", "error", "canceled"]
BASE_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass
class Checkout:
    result: CheckoutResult
    detail: str = ""
    patch_set_revision: str | None = None  # the commit fetched from refs/changes/...
    merged_revision: str | None = None  # HEAD after merging onto the branch tip
    branch_tip: str | None = None


@dataclass
class _GitRun:
    ok: bool
    canceled: bool
    lines: list[str] = field(default_factory=list)


class Workspace:
    """One run's directories; :meth:`remove` deletes them all."""

    GIT_TIMEOUT = 600.0
    MERGER_NAME = "driverci"
    MERGER_EMAIL = "driverci@localhost"
    FETCHED_REF = "refs/driverci/patchset"
    BRANCH_REF = "refs/driverci/branch"

    def __init__(self, root: Path, run_id: str) -> None:
        self.run_dir = root / run_id
        self.job_dir = self.run_dir / "job"
        self.src = self.job_dir / "src"
        self.home = self.job_dir / "home"
        self.tmp = self.job_dir / "tmp"
        self.staging = self.run_dir / "staging"

    def create(self) -> None:
        if self.run_dir.exists():
            shutil.rmtree(self.run_dir)
        for directory in (self.src, self.home, self.tmp, self.staging):
            directory.mkdir(parents=True)
        # The job may run as another user; it only needs to traverse to its own directory.
        os.chmod(self.run_dir, 0o711)

    def remove(self) -> None:
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def git_env(self) -> dict[str, str]:
        return {
            "PATH": BASE_PATH,
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "TMPDIR": str(self.tmp),
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": self.MERGER_NAME,
            "GIT_AUTHOR_EMAIL": self.MERGER_EMAIL,
            "GIT_COMMITTER_NAME": self.MERGER_NAME,
            "GIT_COMMITTER_EMAIL": self.MERGER_EMAIL,
        }

    async def _git(self, output: JobOutput, cancel: asyncio.Event, *args: str) -> _GitRun:
        lines: list[str] = []
        command = "git " + " ".join(args)
        output.line(f"$ {command}")

        def on_line(data: bytes) -> None:
            text = data.decode("utf-8", errors="replace")
            lines.append(text)
            output.line(text)

        buffer = LineBuffer(on_line)
        end = await run_process(
            ["git", *args],
            cwd=self.src,
            env=self.git_env(),
            timeout=self.GIT_TIMEOUT,
            cancel=cancel,
            on_output=buffer.feed,
        )
        buffer.flush()
        return _GitRun(end.returncode == 0, end.reason == "canceled", lines)

    async def _rev(self, output: JobOutput, cancel: asyncio.Event, ref: str) -> str | None:
        run = await self._git(output, cancel, "rev-parse", "--verify", "-q", ref + "^{commit}")
        return run.lines[-1].strip() if run.ok and run.lines else None

    async def checkout(
        self, target: PatchSetTarget, output: JobOutput, cancel: asyncio.Event
    ) -> Checkout:
        """Fetch the branch tip and the patch set, check out the tip, merge the patch set."""
        parts = urlsplit(target.fetch_url)
        if parts.username or parts.password:
            return Checkout("error", f"refusing fetch URL with credentials for {parts.hostname}")
        output.line(f"Preparing {target.project} {target.ref} onto {target.branch}")
        init = await self._git(output, cancel, "init", "-q", ".")
        if not init.ok:
            return Checkout("error", "git init failed: " + _last(init.lines))
        fetch = await self._git(
            output,
            cancel,
            "fetch",
            "--no-tags",
            target.fetch_url,
            f"+refs/heads/{target.branch}:{self.BRANCH_REF}",
            f"+{target.ref}:{self.FETCHED_REF}",
        )
        if fetch.canceled:
            return Checkout("canceled", "canceled while fetching")
        if not fetch.ok:
            return Checkout(
                "error", f"git fetch {target.ref} from {target.fetch_url}: {_last(fetch.lines)}"
            )
        patch_set = await self._rev(output, cancel, self.FETCHED_REF)
        tip = await self._rev(output, cancel, self.BRANCH_REF)
        if patch_set is None or tip is None:
            return Checkout("error", f"fetched refs missing after fetching {target.ref}")
        if patch_set != target.revision:
            output.line(f"warning: {target.ref} is {patch_set}, the event said {target.revision}")
        switch = await self._git(output, cancel, "checkout", "-q", "-B", target.branch, tip)
        if not switch.ok:
            return Checkout("error", "git checkout failed: " + _last(switch.lines))
        merge = await self._git(output, cancel, "merge", "--no-edit", patch_set)
        if merge.canceled:
            return Checkout("canceled", "canceled while merging")
        if not merge.ok:
            conflicts = await self._git(output, cancel, "diff", "--name-only", "--diff-filter=U")
            await self._git(output, cancel, "merge", "--abort")
            files = ", ".join(line for line in conflicts.lines if line.strip()) or "unknown"
            detail = (
                f"change {target.change} patch set {target.patch_set} does not merge onto "
                f"{target.branch} at {tip[:12]} (conflict in {files})"
            )
            return Checkout("conflict", detail, patch_set, None, tip)
        merged = await self._rev(output, cancel, "HEAD")
        return Checkout("ready", "", patch_set, merged, tip)


def _last(lines: list[str]) -> str:
    meaningful = [line.strip() for line in lines if line.strip()]
    return meaningful[-1] if meaningful else "no output"
