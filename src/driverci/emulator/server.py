"""One emulated Gerrit server: REST + git smart HTTP + log server on one port, SSH on another.

The HTTP side is a single aiohttp application; the git, log-server and SSH parts are loaded
by module name so that each can be developed (and be missing) independently: a part whose
module does not exist is skipped with a warning.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from aiohttp import web

from driverci.emulator.rest.app import create_rest_app
from driverci.emulator.state.journal import EmulatorState

log = logging.getLogger(__name__)


def _optional_module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise  # the module exists but something it imports is missing: a real error
        log.warning("emulator part %s is not available; skipping it", name)
        return None


class EmulatorServer:
    """Runs the emulator's HTTP and SSH front ends for one :class:`EmulatorState`."""

    SSH_HOST_KEY_NAME = "ssh_host_ed25519_key"
    GIT_DIR_NAME = "git"
    SHUTDOWN_TIMEOUT = 5.0

    def __init__(
        self,
        state: EmulatorState,
        host: str = "127.0.0.1",
        http_port: int = 0,
        ssh_port: int = 0,
    ) -> None:
        self.state = state
        self.host = host
        self.requested_http_port = http_port
        self.requested_ssh_port = ssh_port
        # A GitStore (driverci.emulator.git.store), or None when that part is missing.
        self.git: Any = None
        self.app: web.Application | None = None
        self._runner: web.AppRunner | None = None
        self._ssh: Any = None
        self._http_port: int | None = None

    @property
    def state_dir(self) -> Path:
        if self.state.state_dir is None:
            raise RuntimeError("EmulatorServer needs an EmulatorState with a state_dir")
        return self.state.state_dir

    @property
    def http_port(self) -> int:
        if self._http_port is None:
            raise RuntimeError("EmulatorServer is not started")
        return self._http_port

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def ssh_port(self) -> int:
        if self._ssh is None:
            raise RuntimeError("the SSH server is not running")
        return int(self._ssh.port)

    @property
    def ssh(self) -> Any:
        """The running SSH server's handle (tests use it to cut connections)."""
        if self._ssh is None:
            raise RuntimeError("the SSH server is not running")
        return self._ssh

    async def start(self) -> None:
        """Serve HTTP (REST, git, logs) and SSH; if any part fails, stop what was started."""
        try:
            await self._start_parts()
        except BaseException:
            await self.stop()
            raise

    async def _start_parts(self) -> None:
        app = create_rest_app(self.state)
        git_store = _optional_module("driverci.emulator.git.store")
        if git_store is not None:
            self.git = git_store.GitStore(self.state_dir / self.GIT_DIR_NAME)
        git_http = _optional_module("driverci.emulator.git.http")
        if git_http is not None and self.git is not None:
            git_http.add_git_routes(app, self.state, self.git)
        logserver = _optional_module("driverci.emulator.logs.server")
        if logserver is not None:
            logserver.add_log_routes(app, self.state)
        self.app = app
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=self.SHUTDOWN_TIMEOUT)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.requested_http_port)
        await site.start()
        self._runner = runner
        self._http_port = int(runner.addresses[0][1])
        self.state.web_url = self.http_url
        log.info("emulator HTTP on %s", self.http_url)
        ssh_server = _optional_module("driverci.emulator.ssh.server")
        if ssh_server is not None and self.git is not None:
            self._ssh = await ssh_server.start_ssh_server(
                self.state,
                self.git,
                self.host,
                self.requested_ssh_port,
                self.state_dir / self.SSH_HOST_KEY_NAME,
            )
            log.info("emulator SSH on %s:%d", self.host, self.ssh_port)

    async def stop(self) -> None:
        if self._ssh is not None:
            await self._ssh.close()
            self._ssh = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._http_port = None

    async def __aenter__(self) -> EmulatorServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
