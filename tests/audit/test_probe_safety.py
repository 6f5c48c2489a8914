"""Links in CI comments are untrusted: the judge fetches only public http(s) addresses, the
very address it checked, within size, time and redirect limits. A real HTTP server on
loopback plays the target and counts what reached it."""

from __future__ import annotations

import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import trustme

from driverci.audit.probe.fetch import ArtifactProber, ProbeLimits

LOOPBACK = ProbeLimits(allow_private=True, timeout_s=2.0)


@dataclass
class Target:
    port: int
    hosts: list[str] = field(default_factory=list)  # the Host header of every request
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


def _handler(target: Target) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            target.hosts.append(self.headers.get("Host", ""))
            if self.path == "/logs/":
                self._send(200, "text/html", b"<a href='job-output.txt'>job-output.txt</a>")
            elif self.path == "/endless":
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                while not target.release.is_set():  # until the client stops reading
                    try:
                        self.wfile.write(b"x" * 65536)
                    except OSError:
                        return
            elif self.path == "/silent":
                target.release.wait(30)  # never answers while the test runs
            elif self.path == "/to-file":
                self._redirect("file:///etc/passwd")
            elif self.path.startswith("/loop"):
                self._redirect(f"/loop{len(self.path)}")
            else:
                self._send(404, "text/plain", b"no")

        def _send(self, status: int, ctype: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _redirect(self, location: str) -> None:
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


def _serve(tls: ssl.SSLContext | None = None) -> Iterator[Target]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    state = Target(server.server_address[1])
    server.RequestHandlerClass = _handler(state)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def target() -> Iterator[Target]:
    yield from _serve()


LOGS_HOST = "ci-logs.example.test"


async def _only(host: str, port: int) -> list[str]:
    """A resolver that knows one name (DNS played on loopback)."""
    if host != LOGS_HOST:
        raise AssertionError(f"resolved {host}, not the link's host")
    return ["127.0.0.1"]


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "[::ffff:127.0.0.1]",  # IPv4 loopback written as IPv6
        "2130706433",  # 127.0.0.1 as one decimal number
        "0x7f.1",  # and in inet_aton's hexadecimal shorthand
    ],
)
async def test_a_link_to_loopback_is_refused_before_any_connection(
    target: Target, host: str
) -> None:
    async with ArtifactProber(ProbeLimits()) as prober:
        result = await prober.probe(target.url("/logs/", host))
    assert not result.available
    assert result.error is not None and "non-public address" in result.error
    assert target.hosts == []  # nothing reached the server


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
        "http://10.0.0.1/logs/",
        "http://192.168.1.1/",
        "http://[fe80::1]/",
        "http://[::1]/",
        "http://0.0.0.0/",
    ],
)
async def test_private_link_local_and_unspecified_addresses_are_refused(url: str) -> None:
    async with ArtifactProber(ProbeLimits()) as prober:
        result = await prober.probe(url)
    assert result.error is not None and "non-public address" in result.error


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "only http and https"),
        ("ftp://logs.example.org/1/", "only http and https"),
        ("gopher://logs.example.org/", "only http and https"),
        ("http://user:secret@logs.example.org/1/", "credentials in links are refused"),
        ("http:///logs/", "no host"),
        ("http://logs.example.org:99999/", "invalid port"),
    ],
)
async def test_only_plain_http_links_are_fetched(url: str, reason: str) -> None:
    async with ArtifactProber(ProbeLimits()) as prober:
        result = await prober.probe(url)
    assert not result.available
    assert result.error is not None and reason in result.error


async def test_every_redirect_is_checked_and_counted(target: Target) -> None:
    async with ArtifactProber(LOOPBACK) as prober:
        to_file = await prober.probe(target.url("/to-file"))
        loop = await prober.probe(target.url("/loop"))
    assert to_file.error is not None and "'file:///etc/passwd': only http and https" in (
        to_file.error
    )
    assert loop.error is not None and f"more than {LOOPBACK.max_redirects} redirects" in loop.error
    assert len(target.hosts) == 1 + (LOOPBACK.max_redirects + 1)


async def test_an_endless_body_is_read_only_up_to_the_limit(target: Target) -> None:
    limits = ProbeLimits(allow_private=True, max_bytes=300_000)
    async with ArtifactProber(limits) as prober:
        status, ctype, body, _final = await prober.fetch(target.url("/endless"))
    assert (status, ctype) == (200, "text/plain")
    assert len(body) == limits.max_bytes


async def test_a_server_that_never_answers_is_given_up(target: Target) -> None:
    async with ArtifactProber(ProbeLimits(allow_private=True, timeout_s=0.5)) as prober:
        result = await prober.probe(target.url("/silent"))
    assert not result.available
    assert result.error is not None and "Timeout" in result.error


async def test_the_connection_goes_to_the_address_that_was_checked(target: Target) -> None:
    # A name whose answer could change between the check and the connection (DNS rebinding)
    # is resolved once: the prober connects to that address and names the host in the
    # request. LOGS_HOST exists only in this resolver, so a second lookup by the HTTP client
    # would fail.
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"]

    async with ArtifactProber(LOOPBACK, resolve=resolve) as prober:
        result = await prober.probe(target.url("/logs/", LOGS_HOST))
    assert result.status == 200 and result.available
    assert target.hosts[0] == f"{LOGS_HOST}:{target.port}"
    assert set(asked) == {LOGS_HOST}
    # The console log it links to is fetched the same way, as the same host.
    assert target.hosts[1:] == [f"{LOGS_HOST}:{target.port}"]


async def test_a_name_resolving_to_loopback_is_refused_whatever_it_is_called() -> None:
    async def rebinding(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "127.0.0.1"]  # one public answer hides a private one

    async with ArtifactProber(ProbeLimits(), resolve=rebinding) as prober:
        result = await prober.probe("http://logs.example.org/1/")
    assert result.error is not None and "non-public address 127.0.0.1" in result.error


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def https_target(ca: trustme.CA) -> Iterator[Target]:
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(LOGS_HOST).configure_cert(tls)
    yield from _serve(tls)


@pytest.fixture
async def trusting_prober(ca: trustme.CA) -> AsyncIterator[ArtifactProber]:
    verify = ssl.create_default_context()
    ca.configure_trust(verify)
    async with ArtifactProber(LOOPBACK, resolve=_only, verify=verify) as prober:
        yield prober


async def test_https_to_the_checked_address_still_verifies_the_links_host(
    https_target: Target, trusting_prober: ArtifactProber
) -> None:
    # Connecting to an address must not weaken TLS: the certificate is checked against the
    # link's host name, sent as SNI.
    result = await trusting_prober.probe(f"https://{LOGS_HOST}:{https_target.port}/logs/")
    assert result.status == 200 and result.available, result.error
    assert https_target.hosts[0] == f"{LOGS_HOST}:{https_target.port}"


async def test_https_with_a_certificate_for_another_host_is_not_available(
    ca: trustme.CA, trusting_prober: ArtifactProber
) -> None:
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("someone-else.example.test").configure_cert(tls)
    for target in _serve(tls):
        result = await trusting_prober.probe(f"https://{LOGS_HOST}:{target.port}/logs/")
        assert not result.available
        assert result.error is not None and "certificate" in result.error.lower()
