"""The emulator's REST front end (aiohttp): framing, auth, errors and route registration.

Every JSON body starts with Gerrit's ``)]}'`` line; errors are plain text with Gerrit's
status codes, never HTML. Each endpoint is served anonymously and under ``/a/`` with HTTP
Basic against the account's HTTP password. The endpoints themselves live in
:mod:`driverci.emulator.rest.changes` and :mod:`driverci.emulator.rest.accounts`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from driverci.emulator.state.journal import EmulatorError, EmulatorState
from driverci.emulator.state.model import Account

log = logging.getLogger(__name__)

JSON_MAGIC = b")]}'\n"
REALM = 'Basic realm="Gerrit Code Review"'
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
# Gson escapes these HTML-significant characters; they can only occur inside JSON strings.
_GSON_ESCAPES = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"&", b"\\u0026"),
    (b"=", b"\\u003d"),
    (b"'", b"\\u0027"),
)

Handler = Callable[[web.Request, "RestContext", Account | None], Awaitable[web.StreamResponse]]


class RestContext:
    """What REST handlers share: the state, plus tunables (Zuul-style class attributes)."""

    SERVER_VERSION = "3.10.2"
    DEFAULT_QUERY_LIMIT = 500  # Gerrit's default queryLimit capability
    MAX_BODY_BYTES = 10 * 1024 * 1024

    def __init__(self, state: EmulatorState) -> None:
        self.state = state


def gerrit_json_bytes(payload: Any, pretty: bool = False) -> bytes:
    """Serialise like Gerrit's Gson: ``)]}'`` line, UTF-8, ``=``/``<``/... escaped.

    orjson writes the same bytes as ``json.dumps(ensure_ascii=False)`` (indent 2 when pretty)
    ten times faster: a page of 500 changes with their messages is 10 MB of JSON.
    """
    body = orjson.dumps(payload, option=orjson.OPT_INDENT_2 if pretty else 0)
    for char, escaped in _GSON_ESCAPES:
        if char in body:
            body = body.replace(char, escaped)
    return JSON_MAGIC + body + b"\n"


def json_response(request: web.Request, payload: Any, status: int = 200) -> web.Response:
    """A JSON answer; pretty unless ``pp=0`` or the client asks for ``application/json``."""
    pretty_param = request.query.get("pp", request.query.get("prettyPrint"))
    if pretty_param is not None:
        pretty = pretty_param not in ("0", "false")
    else:
        pretty = "application/json" not in request.headers.get("Accept", "")
    return web.Response(
        status=status,
        body=gerrit_json_bytes(payload, pretty),
        headers={"Content-Type": JSON_CONTENT_TYPE},
    )


#: First path segments served by Gerrit's REST API (``/a/`` is its authenticated form).
REST_ROOTS = frozenset(
    {"a", "access", "accounts", "changes", "config", "groups", "plugins", "projects", "tools"}
)


def text_error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """Gerrit's plain-text error body: the message and a newline."""
    response = web.Response(status=status, text=message + "\n", charset="utf-8")
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def unauthorized() -> web.Response:
    return text_error(401, "Unauthorized", {"WWW-Authenticate": REALM})


async def read_json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object; an empty body counts as ``{}``. Bad JSON is a 400."""
    raw = await request.read()
    if len(raw) > RestContext.MAX_BODY_BYTES:
        raise EmulatorError(413, "Request Entity Too Large")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EmulatorError(400, f"Invalid JSON in request body: {exc}") from exc
    if not isinstance(body, dict):
        raise EmulatorError(400, f"Expected JSON object in request body, got {type(body).__name__}")
    return body


def authenticate(state: EmulatorState, header: str | None) -> Account | None:
    """Check ``Authorization: Basic``; ``None`` when missing or wrong."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, colon, password = decoded.partition(":")
    if not colon:
        return None
    account = state.account_by_username(username)
    if account is None or not account.http_password:
        return None
    if not hmac.compare_digest(account.http_password.encode(), password.encode()):
        return None
    return account


def require_viewer(viewer: Account | None) -> Account:
    if viewer is None:
        raise EmulatorError(403, "Authentication required")
    return viewer


@web.middleware
async def gerrit_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Log each request; turn refusals and router misses into Gerrit's plain-text errors."""
    log.debug("%s %s", request.method, request.path_qs)
    try:
        return await handler(request)
    except EmulatorError as exc:
        log.debug("%s %s -> %d %s", request.method, request.path_qs, exc.status, exc)
        return text_error(exc.status, str(exc))
    except web.HTTPNotFound:
        if request.path.lstrip("/").split("/", 1)[0] in REST_ROOTS:
            return text_error(404, "Not found")
        # Outside the REST API the servlet container answers, in its own words.
        return web.Response(status=404, text="Not Found", charset="iso-8859-1")
    except web.HTTPMethodNotAllowed:
        return text_error(405, "Method Not Allowed")


class RouteTable:
    """Registers each handler twice: anonymous at ``path`` and authenticated at ``/a``+path."""

    def __init__(self, app: web.Application, context: RestContext) -> None:
        self.app = app
        self.context = context

    def add(self, method: str, path: str, handler: Handler) -> None:
        context = self.context

        async def anonymous(request: web.Request) -> web.StreamResponse:
            return await handler(request, context, None)

        async def authenticated(request: web.Request) -> web.StreamResponse:
            header = request.headers.get("Authorization")
            account = authenticate(context.state, header)
            if account is None:
                log.debug("%s %s: bad or missing credentials", request.method, request.path)
                return unauthorized()
            return await handler(request, context, account)

        self.app.router.add_route(method, path, anonymous)
        self.app.router.add_route(method, "/a" + path, authenticated)

