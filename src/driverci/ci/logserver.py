"""The built-in log server: browsable listings, ``.gz`` shown inline, nothing outside root.

Infra asks that logs be browsable without download or login, and that ``.gz`` files be shown
inline (their FAQ: ``AddEncoding x-gzip gz`` plus ``ForceType``): ``testr_results.html.gz``
is served as ``text/html`` with ``Content-Encoding: gzip``, and a request for a missing
``x`` falls back to ``x.gz``. Paths are resolved (symlinks included) and must stay in root.
"""

from __future__ import annotations

import asyncio
import html
import logging
import mimetypes
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from driverci.ci.config import CIConfig
from driverci.errors import ConfigError

log = logging.getLogger(__name__)

ROOT_KEY = web.AppKey("log_root", Path)
TEXT_SUFFIXES = frozenset({".txt", ".log", ".conf", ".ini", ".cfg", ".yaml", ".yml", ".subunit"})


def create_log_app(root: Path) -> web.Application:
    app = web.Application()
    app[ROOT_KEY] = root.resolve()
    app.router.add_get("/{path:.*}", _serve)
    return app


async def serve_logs(config: CIConfig, host: str = "0.0.0.0", port: int = 8081) -> None:
    """Serve ``logs.dir`` until cancelled (``driverci ci logs serve``)."""
    if config.logs.dir is None:
        raise ConfigError("logs.dir is not set: the built-in log server serves a local directory")
    config.logs.dir.mkdir(parents=True, exist_ok=True)
    runner = web.AppRunner(create_log_app(config.logs.dir))
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        log.info("serving logs from %s on http://%s:%d/", config.logs.dir, host, port)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def _inside(root: Path, relative: str) -> Path | None:
    """The resolved path of ``relative`` under ``root``, or None when it would escape."""
    parts = [p for p in relative.split("/") if p not in ("", ".")]
    if any(p == ".." or "\\" in p or "\0" in p for p in parts):
        return None
    candidate = root.joinpath(*parts).resolve()
    return candidate if candidate.is_relative_to(root) else None


async def _serve(request: web.Request) -> web.StreamResponse:
    root = request.app[ROOT_KEY]
    relative = request.match_info["path"]
    path = _inside(root, relative)
    if path is None:
        raise web.HTTPForbidden(text="path outside the log root\n")
    if path.is_dir():
        if relative and not relative.endswith("/"):
            raise web.HTTPMovedPermanently(request.path + "/")
        return web.Response(text=_listing(root, path), content_type="text/html", charset="utf-8")
    if not path.is_file():
        gz = _inside(root, relative + ".gz")
        if gz is None or not gz.is_file():
            raise web.HTTPNotFound(text="not found\n")
        path = gz
    return _file_response(path)


def _file_response(path: Path) -> web.StreamResponse:
    name = path.name
    headers: dict[str, str] = {}
    if name.endswith(".gz") and len(name) > 3:
        headers["Content-Encoding"] = "gzip"
        name = name[:-3]
    headers["Content-Type"] = _content_type(name)
    return web.FileResponse(path, headers=headers)


def _content_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in TEXT_SUFFIXES or suffix == "":
        return "text/plain; charset=utf-8"
    guessed, _ = mimetypes.guess_type(name)
    if guessed is None:
        return "application/octet-stream"
    return guessed + ("; charset=utf-8" if guessed.startswith("text/") else "")


def _listing(root: Path, directory: Path) -> str:
    shown = "/" + directory.relative_to(root).as_posix().strip(".") + "/"
    shown = shown.replace("//", "/")
    rows = []
    if directory != root:
        rows.append("<tr><td><a href='../'>../</a></td><td></td><td></td></tr>")
    entries = sorted(directory.iterdir(), key=lambda p: (not p.is_dir(), p.name))
    for entry in entries:
        if _inside(root, entry.relative_to(root).as_posix()) is None:
            continue  # a symlink pointing outside the root is not listed
        is_dir = entry.is_dir()
        stat = entry.stat()
        label = entry.name + ("/" if is_dir else "")
        href = quote(entry.name) + ("/" if is_dir else "")
        size = "-" if is_dir else _size(stat.st_size)
        when = datetime.fromtimestamp(stat.st_mtime, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        rows.append(
            f"<tr><td><a href='{href}'>{html.escape(label)}</a></td>"
            f"<td>{size}</td><td>{when}</td></tr>"
        )
    title = html.escape(f"Index of {shown}")
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
        "<style>body{font-family:sans-serif}td{padding:1px 12px}</style></head><body>"
        f"<h1>{title}</h1><table><tr><th>Name</th><th>Size</th><th>Modified</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
