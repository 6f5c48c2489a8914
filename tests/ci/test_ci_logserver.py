"""The built-in log server, over real HTTP: browsable, .gz inline, nothing outside its root."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from driverci.ci.logserver import create_log_app

RUN = "45/12345/2/check/redfish-unit/0190abc"


@pytest.fixture
async def log_server(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    root = tmp_path / "logs"
    run = root / RUN
    (run / "logs").mkdir(parents=True)
    (run / "job-output.txt").write_text("2026-01-05 10:00:00.000000 | Result: SUCCESS\n")
    (run / "logs" / "ironic-conductor.log").write_text("conductor started\n")
    page = b"<html><body>1 failed: test_off</body></html>"
    (run / "testr_results.html.gz").write_bytes(gzip.compress(page))
    (tmp_path / "secret.txt").write_text("outside-the-root")
    (run / "escape").symlink_to(tmp_path / "secret.txt")
    runner = web.AppRunner(create_log_app(root))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", root
    finally:
        await runner.cleanup()


async def raw_get(base: str, target: str) -> tuple[int, bytes]:
    """Send the request line as is (HTTP clients normalise ../ away)."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    response = await reader.read()
    writer.close()
    status = int(response.split(b" ", 2)[1])
    return status, response


async def test_directories_are_browsable_listings(log_server: tuple[str, Path]) -> None:
    base, _ = log_server
    async with httpx.AsyncClient(base_url=base) as client:
        top = await client.get("/45/12345/2/check/redfish-unit/0190abc/")
        assert top.status_code == 200 and top.headers["content-type"].startswith("text/html")
        assert "href='job-output.txt'" in top.text and "href='logs/'" in top.text
        assert "UTC" in top.text and " B<" in top.text  # dates and sizes
        moved = await client.get("/45/12345", follow_redirects=False)
        assert moved.status_code == 301 and moved.headers["location"] == "/45/12345/"
        text = await client.get(f"/{RUN}/logs/ironic-conductor.log")
        assert text.headers["content-type"].startswith("text/plain")
        assert text.text == "conductor started\n"


async def test_gzipped_results_are_shown_inline(log_server: tuple[str, Path]) -> None:
    base, _ = log_server
    async with httpx.AsyncClient(base_url=base) as client:
        for path in (f"/{RUN}/testr_results.html.gz", f"/{RUN}/testr_results.html"):
            page = await client.get(path)
            assert page.status_code == 200, path
            assert page.headers["content-type"].startswith("text/html"), path
            assert page.headers["content-encoding"] == "gzip", path
            assert "1 failed: test_off" in page.text, path  # the browser shows the page


@pytest.mark.parametrize(
    "target",
    [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/45/%2e%2e/%2e%2e/secret.txt",
        "/45/..%2f..%2fsecret.txt",
        f"/{RUN}/escape",
    ],
)
async def test_nothing_outside_the_root_is_served(
    log_server: tuple[str, Path], target: str
) -> None:
    base, _ = log_server
    status, response = await raw_get(base, target)
    assert status in (400, 403, 404), target
    assert b"outside-the-root" not in response


async def test_a_link_out_of_the_root_is_not_listed(log_server: tuple[str, Path]) -> None:
    base, _ = log_server
    async with httpx.AsyncClient(base_url=base) as client:
        listing = await client.get(f"/{RUN}/")
    assert "escape" not in listing.text
