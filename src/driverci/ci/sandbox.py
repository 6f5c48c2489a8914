"""Run a job's commands confined: bubblewrap when it works, else an unprivileged user.

With bubblewrap a command sees a read-only root, its run directory read-write, a private
``/tmp``, its own PID/IPC/UTS namespaces and an empty tmpfs over every directory holding
the CI's secrets; the network is shared (a job may talk to a BMC emulator on loopback).
Without bubblewrap, a CI running as root drops to ``nobody`` with ``setpriv``; otherwise
the command runs as the CI's own user (with a warning). Processes run in their own process
group, so a timeout or a cancellation kills everything the command started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

SandboxMode = Literal["auto", "bwrap", "setpriv", "none"]
EndReason = Literal["exited", "timed_out", "canceled"]


@dataclass(frozen=True)
class ProcessEnd:
    reason: EndReason
    returncode: int | None  # None when killed for a timeout or a cancellation


class Sandbox:
    """Wraps argv for confinement; ``mode="auto"`` picks the strongest that works here."""

    BWRAP = "bwrap"
    SETPRIV = "setpriv"
    NOBODY_UID = 65534
    NOBODY_GID = 65534
    PROBE_TIMEOUT = 10.0
    READ_CHUNK = 65536

    def __init__(
        self,
        mode: SandboxMode = "auto",
        hidden_dirs: Sequence[Path] = (),
        shown_dirs: Sequence[Path] = (),
    ) -> None:
        self.requested: SandboxMode = mode
        # Read-only directories jobs need even under the private /tmp (e.g. playbooks).
        self.shown_dirs = sorted({p.resolve() for p in shown_dirs if p.is_dir()})
        resolved = {p.resolve() for p in hidden_dirs if p.is_dir()}
        if Path("/") in resolved:
            # Hiding / would hide the whole system: keep secrets in a directory of their own.
            log.warning("a secret file sits directly in /: it cannot be hidden from jobs")
            resolved.discard(Path("/"))
        self.hidden_dirs = sorted(resolved)
        self._mode: SandboxMode | None = None if mode == "auto" else mode

    async def mode(self) -> SandboxMode:
        """The confinement in use; probed once (``bwrap --ro-bind / / true``)."""
        if self._mode is None:
            self._mode = await self._probe()
            log.info("job sandbox: %s", self._mode)
            if self._mode == "none":
                log.warning("no bubblewrap and not root: jobs run as the CI's own user")
        return self._mode

    async def _probe(self) -> SandboxMode:
        bwrap = shutil.which(self.BWRAP)
        if bwrap is not None:
            probe = await asyncio.create_subprocess_exec(
                bwrap,
                "--ro-bind",
                "/",
                "/",
                "true",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            try:
                if await asyncio.wait_for(probe.wait(), self.PROBE_TIMEOUT) == 0:
                    return "bwrap"
            except TimeoutError:
                probe.kill()
        if os.geteuid() == 0 and shutil.which(self.SETPRIV) is not None:
            return "setpriv"
        return "none"

    async def prepare(self, run_dir: Path) -> None:
        """Give the run directory to the unprivileged user when that is how jobs run."""
        if await self.mode() == "setpriv":
            await asyncio.to_thread(_chown_tree, run_dir, self.NOBODY_UID, self.NOBODY_GID)

    async def wrap(self, argv: Sequence[str], run_dir: Path, cwd: Path) -> list[str]:
        mode = await self.mode()
        if mode == "bwrap":
            return self._bwrap_argv(argv, run_dir, cwd)
        if mode == "setpriv":
            uid, gid = str(self.NOBODY_UID), str(self.NOBODY_GID)
            return [self.SETPRIV, f"--reuid={uid}", f"--regid={gid}", "--clear-groups", *argv]
        return list(argv)

    def _bwrap_argv(self, argv: Sequence[str], run_dir: Path, cwd: Path) -> list[str]:
        # Order matters: later mounts go on top, so the run directory is bound last and
        # stays visible even when it lives under /tmp or beside a secrets directory.
        args = [self.BWRAP, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
        args += ["--tmpfs", "/tmp"]
        for hidden in self.hidden_dirs:
            args += ["--tmpfs", str(hidden)]
        # The CI's Python (jobs run `python -m stestr` from it) may live under /tmp or in a
        # hidden directory (a virtualenv beside ci.yaml): shown again, read-only.
        python_dirs = [
            d for root in ("/tmp", *self.hidden_dirs) for d in _python_dirs_under(str(root))
        ]
        shown = [*python_dirs, *self.shown_dirs]
        for tool_dir in shown:
            args += ["--ro-bind", str(tool_dir), str(tool_dir)]
        # A shown directory (a playbook's, beside ci.yaml) may hold a hidden one: hide again.
        for hidden in self.hidden_dirs:
            if any(hidden.is_relative_to(tool_dir) for tool_dir in shown):
                args += ["--tmpfs", str(hidden)]
        args += ["--bind", str(run_dir), str(run_dir)]
        args += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", "driverci-job"]
        args += ["--die-with-parent", "--new-session", "--chdir", str(cwd), "--"]
        return args + list(argv)

    async def run(
        self,
        argv: Sequence[str],
        *,
        run_dir: Path,
        cwd: Path,
        env: dict[str, str],
        timeout: float,
        cancel: asyncio.Event,
        on_output: Callable[[bytes], None],
    ) -> ProcessEnd:
        """Run ``argv`` confined; output chunks (stdout and stderr) go to ``on_output``."""
        wrapped = await self.wrap(argv, run_dir, cwd)
        return await run_process(
            wrapped, cwd=cwd, env=env, timeout=timeout, cancel=cancel, on_output=on_output
        )


async def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str],
    timeout: float,
    cancel: asyncio.Event,
    on_output: Callable[[bytes], None],
) -> ProcessEnd:
    """Run ``argv`` in a new session; kill its whole process group on timeout or cancel."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    assert process.stdout is not None
    pump = asyncio.create_task(_pump(process.stdout, on_output))
    exited = asyncio.create_task(process.wait())
    canceled = asyncio.create_task(cancel.wait())
    reason: EndReason = "exited"
    try:
        done, _ = await asyncio.wait(
            {exited, canceled}, timeout=max(timeout, 0.0), return_when=asyncio.FIRST_COMPLETED
        )
        if exited not in done:
            reason = "canceled" if canceled in done else "timed_out"
    finally:
        canceled.cancel()
        # Also reaps what the command left running in the background.
        _kill_group(process.pid)
        returncode = await exited
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(pump, Sandbox.PROBE_TIMEOUT)
    return ProcessEnd(reason, returncode if reason == "exited" else None)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


async def _pump(stream: asyncio.StreamReader, on_output: Callable[[bytes], None]) -> None:
    while chunk := await stream.read(Sandbox.READ_CHUNK):
        on_output(chunk)


class LineBuffer:
    """Turns output chunks into lines; a "line" longer than MAX_LINE is cut, so a job
    printing without newlines cannot grow memory."""

    MAX_LINE = 65536

    def __init__(self, on_line: Callable[[bytes], None]) -> None:
        self.on_line = on_line
        self.pending = b""

    def feed(self, chunk: bytes) -> None:
        self.pending += chunk
        *lines, self.pending = self.pending.split(b"\n")
        for line in lines:
            self.on_line(line)
        while len(self.pending) > self.MAX_LINE:
            self.on_line(self.pending[: self.MAX_LINE])
            self.pending = self.pending[self.MAX_LINE :]

    def flush(self) -> None:
        if self.pending:
            self.on_line(self.pending)
            self.pending = b""


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    os.chown(root, uid, gid)
    for parent, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            os.lchown(os.path.join(parent, name), uid, gid)


def _python_dirs_under(root: str) -> list[Path]:
    """This interpreter's prefixes that a tmpfs over ``root`` would hide (outermost first)."""
    dirs = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    under = sorted(d for d in dirs if d.is_relative_to(root) and d != Path(root))
    return [d for d in under if not any(d != o and d.is_relative_to(o) for o in under)]
