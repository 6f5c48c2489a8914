"""Git over smart HTTP, as Gerrit serves it, through the real ``git http-backend`` CGI.

``/<project>[.git]/info/refs``, ``/<project>/git-upload-pack`` and
``/<project>/git-receive-pack``, anonymously or under ``/a/`` with HTTP Basic (the account's
HTTP password). Clone and fetch work anonymously; a push needs credentials, and git is asked
for them with Gerrit's 401. ``/tools/hooks/commit-msg`` serves the Change-Id hook, and
``/_emulator/receive/<project>`` is where the receive hooks of a push in progress report.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
from importlib import resources
from typing import Any

from aiohttp import web

from driverci.emulator.git.magic_refs import RefUpdate
from driverci.emulator.git.receive import (
    check_push,
    internal_receive_url,
    process_leftovers,
    process_push,
    push_session,
)
from driverci.emulator.git.store import GitStore
from driverci.emulator.state.journal import EmulatorState
from driverci.emulator.state.model import Account

log = logging.getLogger(__name__)

REALM = 'Basic realm="Gerrit Code Review"'
# Quarantine variables a pre-receive hook may hand over (nothing else from its environment).
QUARANTINE_VARIABLES = (
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_QUARANTINE_PATH",
)


def add_git_routes(app: web.Application, state: EmulatorState, git: GitStore) -> None:
    """Register the git smart-HTTP, commit-msg hook and internal receive routes on ``app``."""
    handlers = GitHttpHandlers(state, git)
    app.router.add_get("/tools/hooks/commit-msg", handlers.commit_msg_hook)
    app.router.add_post("/_emulator/receive/{project:.+}", handlers.receive_hook)
    app.router.add_get("/{path:.+}/info/refs", handlers.info_refs)
    app.router.add_post("/{path:.+}/git-upload-pack", handlers.upload_pack)
    app.router.add_post("/{path:.+}/git-receive-pack", handlers.receive_pack)


class GitHttpHandlers:
    CHUNK_SIZE = 65536
    COMMIT_MSG_HOOK = "commit-msg"

    def __init__(self, state: EmulatorState, git: GitStore) -> None:
        self.state = state
        self.git = git

    # -- routes ----------------------------------------------------------------------------

    async def commit_msg_hook(self, request: web.Request) -> web.Response:
        hook = resources.files("driverci.emulator") / "data" / self.COMMIT_MSG_HOOK
        return web.Response(body=hook.read_bytes(), content_type="application/octet-stream")

    async def info_refs(self, request: web.Request) -> web.StreamResponse:
        service = request.query.get("service", "")
        if service not in ("git-upload-pack", "git-receive-pack"):
            raise web.HTTPForbidden(text="dumb HTTP protocol is not supported\n")
        project, account = self._authorize(request, push=service == "git-receive-pack")
        return await self._http_backend(request, project, account, "info/refs")

    async def upload_pack(self, request: web.Request) -> web.StreamResponse:
        project, account = self._authorize(request, push=False)
        return await self._http_backend(request, project, account, "git-upload-pack")

    async def receive_pack(self, request: web.Request) -> web.StreamResponse:
        project, account = self._authorize(request, push=True)
        assert account is not None
        async with self.git.project_lock(project):
            with push_session(self.git, project, account) as session:
                hook_env = {
                    "DRIVERCI_RECEIVE_URL": internal_receive_url(_local_url(request), project),
                    "DRIVERCI_RECEIVE_TOKEN": session.token,
                }
                response = await self._http_backend(
                    request, project, account, "git-receive-pack", hook_env
                )
            leftovers = await process_leftovers(self.state, self.git, project, account)
            if leftovers:
                log.warning("%s: push by %s: %s", project, account.username, leftovers)
        return response

    async def receive_hook(self, request: web.Request) -> web.Response:
        """The pre-/post-receive hooks of a push in progress report here."""
        project = request.match_info["project"]
        session = self.git.push_sessions.get(request.headers.get("X-Emulator-Token", ""))
        if session is None or session.project != project:
            raise web.HTTPForbidden(text="no push in progress with this token\n")
        payload = await request.json()
        if not isinstance(payload, dict):
            raise web.HTTPBadRequest(text="expected a JSON object\n")
        updates = [
            RefUpdate(*line)
            for line in payload.get("updates", [])
            if isinstance(line, list) and len(line) == 3
        ]
        options = [str(o) for o in payload.get("push_options", [])]
        env = payload.get("env", {})
        quarantine = {k: str(env[k]) for k in QUARANTINE_VARIABLES if k in env}
        phase = payload.get("phase")
        if phase == "pre-receive":
            lines = await check_push(
                self.state, self.git, project, session.account, updates, quarantine
            )
            return web.json_response({"ok": not lines, "lines": lines})
        if phase != "post-receive":
            raise web.HTTPBadRequest(text=f"unknown hook phase {phase!r}\n")
        lines = await process_push(self.state, self.git, project, session.account, updates, options)
        return web.json_response({"ok": True, "lines": lines})

    # -- authentication --------------------------------------------------------------------

    def _authorize(self, request: web.Request, push: bool) -> tuple[str, Account | None]:
        """The project a git URL names and who asks; 401/404 as Gerrit answers them."""
        path = request.match_info["path"]
        authenticated_url = path.startswith("a/")
        project = path.removeprefix("a/").removesuffix(".git")
        account = self._basic_account(request)
        if account is None and (authenticated_url or push or "Authorization" in request.headers):
            raise web.HTTPUnauthorized(text="Unauthorized\n", headers={"WWW-Authenticate": REALM})
        if project not in self.state.projects:
            raise web.HTTPNotFound(text=f"Repository not found: {project}\n")
        return project, account

    def _basic_account(self, request: web.Request) -> Account | None:
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, _, password = decoded.partition(":")
        account = self.state.account_by_username(username)
        if account is None or not account.http_password:
            return None
        if not hmac.compare_digest(account.http_password.encode(), password.encode()):
            return None
        return account

    # -- the CGI -----------------------------------------------------------------------------

    async def _http_backend(
        self,
        request: web.Request,
        project: str,
        account: Account | None,
        service_path: str,
        extra_env: dict[str, str] | None = None,
    ) -> web.StreamResponse:
        await self.git.ensure_repo(project)
        env = {
            "GIT_PROJECT_ROOT": str(self.git.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": f"/{project}.git/{service_path}",
            "QUERY_STRING": request.query_string,
            "REQUEST_METHOD": request.method,
            "CONTENT_TYPE": request.headers.get("Content-Type", ""),
            "REMOTE_ADDR": request.remote or "",
            **(extra_env or {}),
        }
        if account is not None:
            env["REMOTE_USER"] = account.username
        protocol = request.headers.get("Git-Protocol")
        if protocol:
            env["GIT_PROTOCOL"] = env["HTTP_GIT_PROTOCOL"] = protocol
        # aiohttp inflates gzip bodies itself, so the length is only meaningful without one;
        # without CONTENT_LENGTH, http-backend reads to end of input.
        if request.content_length is not None and "Content-Encoding" not in request.headers:
            env["CONTENT_LENGTH"] = str(request.content_length)
        process = await asyncio.create_subprocess_exec(
            self.git.GIT,
            "http-backend",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.git.git_env(env),
        )
        assert process.stdin and process.stdout and process.stderr
        feeder = asyncio.create_task(self._feed(request, process.stdin))
        errors = asyncio.create_task(process.stderr.read())
        try:
            status, headers = await _read_cgi_headers(process.stdout)
            response = web.StreamResponse(status=status, headers=headers)
            await response.prepare(request)
            while chunk := await process.stdout.read(self.CHUNK_SIZE):
                await response.write(chunk)
            await response.write_eof()
            await process.wait()
        finally:
            feeder.cancel()
            if process.returncode is None:
                process.kill()
                await process.wait()
        stderr = (await errors).decode(errors="replace").strip()
        if process.returncode != 0 or stderr:
            log.info(
                "%s %s: http-backend %s: %s", project, service_path, process.returncode, stderr
            )
        return response

    async def _feed(self, request: web.Request, sink: asyncio.StreamWriter) -> None:
        try:
            async for chunk in request.content.iter_chunked(self.CHUNK_SIZE):
                sink.write(chunk)
                await sink.drain()
        except (BrokenPipeError, ConnectionResetError):
            return  # the backend stopped reading: it has answered already
        sink.close()


async def _read_cgi_headers(stdout: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    status = 200
    headers: dict[str, str] = {}
    while True:
        line = (await stdout.readline()).decode("latin-1").rstrip("\r\n")
        if not line:
            return status, headers
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.strip().split()[0])
        else:
            headers[name.strip()] = value.strip()


def _local_url(request: web.Request) -> str:
    """The address this request came in on: the hooks call back there."""
    transport: Any = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    if not sockname:
        raise web.HTTPInternalServerError(text="cannot tell the server's own address\n")
    host, port = sockname[0], sockname[1]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"
