"""Real loopback servers standing in for Gerrit in the client tests (HTTP now, SSH below)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncssh
from aiohttp import web

Handler = Callable[["web.Request"], Awaitable["web.StreamResponse"]]


class RecordedGerrit:
    """A real aiohttp server on 127.0.0.1 that answers with bodies the test registers.

    ``routes[(method, path)]`` is a handler; every request is logged in ``requests`` as
    ``(method, raw path with query, Authorization header)``.
    """

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    def json(self, method: str, path: str, payload: Any, status: int = 200) -> None:
        """Answer ``method path`` with ``)]}'`` + JSON, as Gerrit does."""
        body = ")]}'\n" + json.dumps(payload)

        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(status=status, text=body, content_type="application/json")

        self.routes[(method, path)] = handler

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(
            (request.method, request.raw_path, request.headers.get("Authorization"))
        )
        handler = self.routes.get((request.method, request.path))
        if handler is None:
            return web.Response(status=404, text=f"Not found: {request.path}\n")
        return await handler(request)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


Session = Callable[[asyncssh.SSHServerProcess[str]], Awaitable[None]]


class ScriptedGerritSSH:
    """A real asyncssh server on 127.0.0.1: the Nth ``gerrit stream-events`` session runs
    ``sessions[N]`` (the last one repeats). Keys are generated into ``tmp_path``."""

    def __init__(self, tmp_path: Path, sessions: list[Session]) -> None:
        self.sessions = sessions
        self.commands: list[str] = []
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        client_key = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key_path = tmp_path / "id_ed25519"
        client_key.write_private_key(str(self.client_key_path))
        self.authorized_keys_path = tmp_path / "authorized_keys"
        client_key.write_public_key(str(self.authorized_keys_path))
        self.known_hosts_path = tmp_path / "known_hosts"
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self.port = 0

    async def start(self) -> None:
        self._acceptor = await asyncssh.create_server(
            asyncssh.SSHServer,
            "127.0.0.1",
            0,
            server_host_keys=[self.host_key],
            authorized_client_keys=str(self.authorized_keys_path),
            process_factory=self._run,
        )
        self.port = self._acceptor.sockets[0].getsockname()[1]
        public = self.host_key.export_public_key().decode()
        self.known_hosts_path.write_text(f"[127.0.0.1]:{self.port} {public}")

    async def _run(self, process: asyncssh.SSHServerProcess[str]) -> None:
        index = len(self.commands)
        self.commands.append(process.command or "")
        await self.sessions[min(index, len(self.sessions) - 1)](process)

    async def stop(self) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
