"""Async client for Gerrit's REST API (httpx), as third-party CIs and the judge use it.

Anonymous by default; with a username and HTTP password every path goes under ``/a/`` with
HTTP Basic, as Gerrit requires for authenticated calls. Transient failures (429, 5xx,
connection errors) are retried with exponential backoff honouring ``Retry-After``; 4xx answers
raise :class:`GerritHTTPError` at once. Nothing here knows about the emulator.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from driverci.errors import GerritHTTPError, GerritUnreachable, PayloadError
from driverci.gerrit.backoff import backoff_delay
from driverci.gerrit.models_base import load_rest_json
from driverci.gerrit.models_rest import (
    AccountInfo,
    ChangeInfo,
    ChangeMessageInfo,
    FileInfo,
    ReviewInput,
    ReviewResult,
    parse_change,
    parse_change_list,
    parse_messages,
)

log = logging.getLogger(__name__)

QueryParams = list[tuple[str, str | int | float | bool | None]]


def encode_id(identifier: str | int) -> str:
    """URL-encode a change/account/revision id for a path segment (``openstack%2Fironic~123``)."""
    return quote(str(identifier), safe="~")


def redact_url(url: str) -> str:
    """The URL without any ``user:password@`` part, for messages and logs."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


class GerritRestClient:
    """One Gerrit server's REST API. Use as ``async with GerritRestClient(url) as gerrit:``."""

    MAX_RETRIES = 5  # retries after the first attempt
    BACKOFF_BASE = 0.5  # seconds before the first retry; doubles each time
    BACKOFF_MAX = 30.0  # cap on one wait of our own
    RETRY_AFTER_MAX = 300.0  # cap on a wait the server asks for with Retry-After
    RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
    # A POST is retried only when Gerrit surely did not act on it: a second review would
    # break the one-comment-per-patch-set rule.
    RETRY_STATUSES_UNSAFE = frozenset({429, 503})
    DEFAULT_TIMEOUT = 30.0
    USER_AGENT = "driverci-gerrit-client"

    def __init__(
        self,
        base_url: str,
        username: str | None = None,
        http_password: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.authenticated = username is not None and http_password is not None
        auth = httpx.BasicAuth(username, http_password) if username and http_password else None
        self._http = httpx.AsyncClient(
            auth=auth,
            timeout=timeout,
            headers={"Accept": "application/json", "User-Agent": self.USER_AGENT},
        )

    async def __aenter__(self) -> GerritRestClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    def url(self, path: str) -> str:
        """Full URL for an API path such as ``/changes/``; ``/a/`` is added when authenticated."""
        prefix = "/a" if self.authenticated else ""
        return f"{self.base_url}{prefix}{path}"

    # -- transport ------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        params: QueryParams | None = None,
        json_body: dict[str, Any] | None = None,
    ) -> Any:
        """Send one API call, retrying transient failures; returns the decoded JSON answer."""
        shown = redact_url(self.url(path))
        body = await self.request_body(method, path, params, json_body)
        return None if body is None else load_rest_json(body, f"{method} {shown}")

    async def request_body(
        self,
        method: str,
        path: str,
        params: QueryParams | None = None,
        json_body: dict[str, Any] | None = None,
    ) -> bytes | None:
        """Like :meth:`request`, but the answer's raw JSON (None when empty), for callers that
        validate the bytes straight into models."""
        url = self.url(path)
        shown = redact_url(url)
        idempotent = method in ("GET", "HEAD")
        retry_statuses = self.RETRY_STATUSES if idempotent else self.RETRY_STATUSES_UNSAFE
        attempt = 0
        while True:
            try:
                response = await self._http.request(method, url, params=params, json=json_body)
            except httpx.TransportError as exc:
                # Without a connection nothing reached Gerrit, so even a POST may be resent.
                never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if attempt >= self.MAX_RETRIES or not (idempotent or never_sent):
                    raise GerritUnreachable(
                        f"Gerrit unreachable: {method} {shown}: {type(exc).__name__}: {exc}"
                    ) from None
                delay = self._backoff(attempt)
                log.warning("%s %s failed (%s), retry in %.1fs", method, shown, exc, delay)
            else:
                if response.is_success:
                    content = response.content
                    return content if content.strip() else None  # None: e.g. 204 No Content
                if response.status_code not in retry_statuses or attempt >= self.MAX_RETRIES:
                    raise self._http_error(method, shown, response)
                delay = self._retry_after(response) or self._backoff(attempt)
                log.warning(
                    "%s %s answered %d, retry in %.1fs",
                    method,
                    shown,
                    response.status_code,
                    delay,
                )
            attempt += 1
            await asyncio.sleep(delay)

    def _backoff(self, attempt: int) -> float:
        return backoff_delay(attempt, self.BACKOFF_BASE, self.BACKOFF_MAX)

    def _retry_after(self, response: httpx.Response) -> float | None:
        value = response.headers.get("Retry-After", "").strip()
        if value.isdigit():
            return min(float(value), self.RETRY_AFTER_MAX)
        return None  # an HTTP-date or nothing: use our own backoff

    @staticmethod
    def _http_error(method: str, shown_url: str, response: httpx.Response) -> GerritHTTPError:
        body = response.text
        first_line = body.strip().splitlines()[0] if body.strip() else response.reason_phrase
        status = response.status_code
        return GerritHTTPError(f"{method} {shown_url}: HTTP {status}: {first_line}", status, body)

    # -- server and accounts ---------------------------------------------------------------------

    async def get_version(self) -> str:
        """The Gerrit version string (``GET /config/server/version``)."""
        return str(await self.request("GET", "/config/server/version"))

    async def get_self(self) -> AccountInfo:
        """The account the credentials belong to (checks them)."""
        return AccountInfo.model_validate(await self.request("GET", "/accounts/self"))

    async def list_capabilities(self) -> dict[str, object]:
        """The credentials' account's global capabilities (``/accounts/self/capabilities``):
        ``streamEvents`` is there only when the account may run ``gerrit stream-events``."""
        data = await self.request("GET", "/accounts/self/capabilities")
        return dict(data) if isinstance(data, dict) else {}

    async def get_account(self, account_id: str | int) -> AccountInfo:
        """One account by id, username or email."""
        data = await self.request("GET", f"/accounts/{encode_id(account_id)}")
        return AccountInfo.model_validate(data)

    async def query_accounts(
        self, query: str, options: Sequence[str] = ("DETAILS",), limit: int | None = None
    ) -> list[AccountInfo]:
        """Accounts matching ``query`` (``GET /accounts/?q=``), with details by default."""
        params: QueryParams = [("q", query), *(("o", option) for option in options)]
        if limit is not None:
            params.append(("n", limit))
        data = await self.request("GET", "/accounts/", params=params)
        return [AccountInfo.model_validate(item) for item in _expect_list(data, "/accounts/")]

    # -- changes ---------------------------------------------------------------------------------

    async def query_changes(
        self,
        query: str,
        options: Iterable[str] = (),
        limit: int | None = None,
        start: int = 0,
    ) -> list[ChangeInfo]:
        """One page of ``GET /changes/?q=``; the last item has ``more_changes`` if there is more."""
        params: QueryParams = [("q", query), *(("o", option) for option in options)]
        if limit is not None:
            params.append(("n", limit))
        if start:
            params.append(("S", start))
        # The raw page is validated straight into models (pydantic's JSON parser), skipping
        # the intermediate dicts: a page of 500 changes is megabytes.
        body = await self.request_body("GET", "/changes/", params=params)
        return parse_change_list(body or b"null", f"changes query {query!r}")

    async def iter_changes(
        self, query: str, options: Iterable[str] = (), page_size: int = 500
    ) -> AsyncIterator[ChangeInfo]:
        """Every change matching ``query``, following ``_more_changes`` with ``S=``."""
        option_list = list(options)
        start = 0
        while True:
            page = await self.query_changes(query, option_list, limit=page_size, start=start)
            for change in page:
                yield change
            if not page or not page[-1].more_changes:
                return
            start += len(page)

    async def get_change(self, change_id: str | int, options: Iterable[str] = ()) -> ChangeInfo:
        """One change (``GET /changes/{id}``); ``change_id`` like ``openstack/ironic~123``."""
        params: QueryParams = [("o", option) for option in options]
        data = await self.request("GET", f"/changes/{encode_id(change_id)}", params=params)
        return parse_change(data, f"change {change_id}")

    async def list_change_messages(self, change_id: str | int) -> list[ChangeMessageInfo]:
        """All review messages of a change, oldest first."""
        data = await self.request("GET", f"/changes/{encode_id(change_id)}/messages")
        return parse_messages(_expect_list(data, "messages"), f"messages of change {change_id}")

    async def list_files(
        self, change_id: str | int, revision: str | int = "current"
    ) -> dict[str, FileInfo]:
        """Files of a revision, including Gerrit's magic ``/COMMIT_MSG``."""
        path = f"/changes/{encode_id(change_id)}/revisions/{encode_id(revision)}/files/"
        data = await self.request("GET", path)
        if not isinstance(data, dict):
            raise PayloadError(f"files of change {change_id}: expected a JSON object")
        return {name: FileInfo.model_validate(info) for name, info in data.items()}

    async def set_review(
        self, change_id: str | int, revision: str | int, review: ReviewInput
    ) -> ReviewResult:
        """Post a review message and/or votes on one revision (needs credentials)."""
        path = f"/changes/{encode_id(change_id)}/revisions/{encode_id(revision)}/review"
        data = await self.request("POST", path, json_body=review.to_wire())
        log.info("posted review on change %s revision %s", change_id, revision)
        return ReviewResult.model_validate(data)


def _expect_list(data: Any, where: str) -> list[Any]:
    if not isinstance(data, list):
        raise PayloadError(f"{where}: expected a JSON list, got {type(data).__name__}")
    return data
