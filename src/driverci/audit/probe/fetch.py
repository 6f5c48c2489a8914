"""Fetch CI artifact links safely and judge them against infra's artifact rules.

Links in CI comments are untrusted input. The prober fetches only http(s) URLs whose host
resolves exclusively to public addresses (loopback, private, link-local, multicast and
reserved targets are refused unless configuration allows them), follows at most a few
redirects re-checking each hop, connects to the very address it checked (a name resolved
again could point elsewhere: DNS rebinding), reads at most ``max_bytes`` and gives up after
``timeout_s``. Nothing it fetches is executed or stored beyond the verdict.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

log = logging.getLogger(__name__)

BROWSABLE_TYPES = ("text/html", "text/plain", "application/json", "text/x-log")
UTC_TIMESTAMP = re.compile(
    r"\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|\+00:?00| UTC| \|)"
)
RESULTS_FILES = re.compile(
    r"^(testr_results\.html(\.gz)?|.*\.subunit(\.gz)?|testrepository\.subunit)$"
)
CONSOLE_FILES = (
    "job-output.txt",
    "job-output.txt.gz",
    "console.html",
    "console.html.gz",
    "console.log",
    "console.txt",
)
MANIFEST_FILES = ("driverci-manifest.json", "zuul-manifest.json")


class UnsafeURL(ValueError):
    """The URL may not be fetched (scheme, address or shape)."""


@dataclass(frozen=True)
class ProbeLimits:
    timeout_s: float = 10.0
    max_bytes: int = 2_000_000
    max_redirects: int = 3
    allow_private: bool = False  # tests against the emulator on loopback set this


@dataclass
class ProbeResult:
    url: str
    checked_at: datetime
    status: int | None = None
    available: bool = False
    browsable: bool = False
    standard: bool = False
    missing: list[str] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    error: str | None = None


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            for name, value in attrs:
                if name == "href" and value:
                    self.links.append(value)


def _address_allowed(address: str, limits: ProbeLimits) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if limits.allow_private:
        return not (ip.is_multicast or ip.is_unspecified)
    return ip.is_global and not ip.is_multicast


Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system's resolver, without blocking the loop)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeURL(f"{host}: host does not resolve ({exc.strerror})") from None
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class SafeTarget:
    """A checked URL and how to reach exactly the address that was checked."""

    url: str
    #: ``url`` with the checked address as its host: the connection goes where the check
    #: looked, so a name that resolves elsewhere a second time (DNS rebinding) cannot
    #: redirect it to a private address.
    connect_url: str
    #: The Host header (and, for https, the name sent as SNI and verified in the certificate).
    host: str
    sni_hostname: str | None


async def check_url(
    url: str, limits: ProbeLimits, resolve: Resolver = system_resolve
) -> SafeTarget:
    """Raise :class:`UnsafeURL` unless ``url`` is http(s) to allowed addresses only; return
    the target pinned to the first of them."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeURL(f"{url!r}: only http and https links are fetched")
    if not parts.hostname:
        raise UnsafeURL(f"{url!r}: no host")
    if parts.username or parts.password:
        raise UnsafeURL(f"{url!r}: credentials in links are refused")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeURL(f"{url!r}: invalid port") from None
    try:
        addresses = await resolve(parts.hostname, port)
    except UnsafeURL as exc:
        raise UnsafeURL(f"{url!r}: {exc}") from None
    if not addresses:
        raise UnsafeURL(f"{url!r}: {parts.hostname} resolves to no address")
    for address in addresses:
        if not _address_allowed(address, limits):
            raise UnsafeURL(f"{url!r}: {parts.hostname} resolves to non-public address {address}")
    pinned = ipaddress.ip_address(addresses[0].split("%", 1)[0])
    literal = f"[{pinned}]" if pinned.version == 6 else str(pinned)
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    named = not _is_ip_literal(parts.hostname)
    return SafeTarget(
        url=url,
        connect_url=urlunsplit(parts._replace(netloc=netloc)),
        host=parts.netloc,
        sni_hostname=parts.hostname if parts.scheme == "https" and named else None,
    )


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class ArtifactProber:
    """Probes result links: available, browsable, standard (infra's list), manifest."""

    USER_AGENT = "driverci-judge (+https://opendev.org/openstack/ironic)"

    def __init__(
        self,
        limits: ProbeLimits | None = None,
        resolve: Resolver = system_resolve,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        """``verify``: how https certificates are checked (default: the system's CAs)."""
        self.limits = limits or ProbeLimits()
        self._resolve = resolve
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            verify=verify,
            timeout=self.limits.timeout_s,
            headers={"User-Agent": self.USER_AGENT},
            trust_env=False,
        )

    async def __aenter__(self) -> ArtifactProber:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(self, url: str) -> tuple[int, str, bytes, str]:
        """GET with the safety checks: (status, content type, body prefix, final URL)."""
        current = url
        for _ in range(self.limits.max_redirects + 1):
            target = await check_url(current, self.limits, self._resolve)
            extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
            async with self._client.stream(
                "GET", target.connect_url, headers={"Host": target.host}, extensions=extensions
            ) as response:
                if response.is_redirect and "location" in response.headers:
                    current = urljoin(current, response.headers["location"])
                    continue
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) >= self.limits.max_bytes:
                        break
                ctype = response.headers.get("content-type", "")
                if "attachment" in response.headers.get("content-disposition", ""):
                    ctype = "application/octet-stream"
                return response.status_code, ctype, bytes(body[: self.limits.max_bytes]), current
        raise UnsafeURL(f"{url!r}: more than {self.limits.max_redirects} redirects")

    async def probe(self, url: str, now: datetime | None = None) -> ProbeResult:
        result = ProbeResult(url=url, checked_at=now or datetime.now(UTC))
        try:
            await asyncio.wait_for(self._probe(url, result), self.limits.timeout_s * 3)
        except UnsafeURL as exc:
            result.error = str(exc)
        except (httpx.HTTPError, TimeoutError) as exc:
            result.error = f"{url}: {type(exc).__name__}: {exc}".rstrip(": ")
        return result

    async def _probe(self, url: str, result: ProbeResult) -> None:
        status, ctype, body, final = await self.fetch(url)
        result.status = status
        result.available = 200 <= status < 300
        if not result.available:
            return
        result.browsable = ctype.split(";")[0].strip() in BROWSABLE_TYPES
        if not result.browsable:
            result.missing.append("browsable logs (the link is a download, not a page)")
            return
        if "html" not in ctype:
            # A bare console log: no directory of artifacts to inspect.
            result.missing.extend(_missing_from(names=[], console_text=body))
            return
        parser = _LinkParser()
        parser.feed(body.decode("utf-8", "replace"))
        names = [link.rstrip("/").rsplit("/", 1)[-1] for link in parser.links]
        console_text = b""
        console = next((n for n in CONSOLE_FILES if n in names), None)
        if console is not None:
            c_status, _, console_text, _ = await self.fetch(urljoin(_as_dir(final), console))
            if c_status != 200:
                console_text = b""
        manifest_name = next((n for n in MANIFEST_FILES if n in names), None)
        if manifest_name is not None:
            m_status, _, m_body, _ = await self.fetch(urljoin(_as_dir(final), manifest_name))
            if m_status == 200:
                try:
                    loaded = json.loads(m_body)
                except json.JSONDecodeError:
                    log.info("%s: manifest %s is not JSON", url, manifest_name)
                else:
                    result.manifest = loaded if isinstance(loaded, dict) else None
        result.missing.extend(_missing_from(names, console_text))
        result.standard = not result.missing


def _as_dir(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def _missing_from(names: Iterable[str], console_text: bytes) -> list[str]:
    """What infra requires that this artifact set lacks (an empty list means standard)."""
    names = list(names)
    missing = []
    if not console_text:
        missing.append("console log with a trace of the commands")
    elif not UTC_TIMESTAMP.search(console_text.decode("utf-8", "replace")):
        missing.append("UTC timestamps in the console log")
    if not any(RESULTS_FILES.match(name) for name in names):
        missing.append("test results (testr_results.html or subunit)")
    if (
        not any(
            n.endswith((".log", ".log.gz", ".conf", ".txt")) and n not in CONSOLE_FILES
            for n in names
        )
        and "logs" not in names
    ):
        missing.append("service logs and test configuration")
    return missing
