"""The emulator's log server: seeded third-party CI artifacts under ``/logs/``.

Seeding records one line per artifact directory in ``<state dir>/artifacts.jsonl``; this
module indexes that file lazily (and again when it changes) and answers from it, generating
file contents on demand, so seeding never writes thousands of log files. An artifact that
the scenario made unavailable, or whose ``dead_after_days`` have passed on the emulator's
clock, answers 404 as a rotted link does.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import os
from datetime import timedelta
from pathlib import Path

from aiohttp import web

from driverci.emulator.logs.content import Artifact, files_of, parse_time
from driverci.emulator.state.journal import EmulatorState

log = logging.getLogger(__name__)

ARTIFACTS_FILE = "artifacts.jsonl"
# NN/change/patch set/pipeline/job/uuid: the depth of an artifact directory under /logs/
ARTIFACT_DEPTH = 6


class ArtifactIndex:
    """artifacts.jsonl indexed by directory path; reloaded when the file changes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.by_path: dict[str, Artifact] = {}
        self.children: dict[str, set[str]] = {}
        self._loaded_stamp: tuple[float, int] | None = None
        self._lock = asyncio.Lock()

    def _stamp(self) -> tuple[float, int] | None:
        if self.path is None:
            return None
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (info.st_mtime, info.st_size)

    async def refresh(self) -> None:
        stamp = self._stamp()
        if stamp == self._loaded_stamp:
            return
        async with self._lock:
            if stamp != self._loaded_stamp:
                by_path, children = await asyncio.to_thread(self._read)
                self.by_path, self.children = by_path, children
                self._loaded_stamp = stamp

    def _read(self) -> tuple[dict[str, Artifact], dict[str, set[str]]]:
        by_path: dict[str, Artifact] = {}
        children: dict[str, set[str]] = {}
        if self.path is None or not self.path.exists():
            return by_path, children
        with open(self.path, encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    record: Artifact = json.loads(line)
                except json.JSONDecodeError as exc:
                    log.warning("%s:%d: skipping unreadable artifact record (%s)",
                                self.path, number, exc)  # fmt: skip
                    continue
                path = record["path"]
                by_path[path] = record
                parts = path.split("/")
                for depth in range(len(parts)):
                    parent = "/".join(parts[:depth])
                    children.setdefault(parent, set()).add(parts[depth])
        log.info("indexed %d artifact directories from %s", len(by_path), self.path)
        return by_path, children


def is_live(artifact: Artifact, state: EmulatorState) -> bool:
    """Available at all, and not past its scenario's retention on the emulator's clock."""
    if not artifact.get("available", True):
        return False
    dead_after = artifact.get("dead_after_days")
    if dead_after is None:
        return True
    return state.now() <= parse_time(artifact["posted_at"]) + timedelta(days=float(dead_after))


def _listing(url_path: str, entries: list[tuple[str, bool]]) -> web.Response:
    title = html.escape(f"Index of {url_path}")
    rows = ['<tr><td><a href="../">../</a></td></tr>']
    for name, is_dir in sorted(entries):
        shown = name + ("/" if is_dir else "")
        rows.append(f'<tr><td><a href="{html.escape(shown)}">{html.escape(shown)}</a></td></tr>')
    body = (
        f"<!DOCTYPE html>\n<html><head><title>{title}</title></head><body>\n<h1>{title}</h1>\n"
        "<table>\n" + "\n".join(rows) + "\n</table>\n</body></html>\n"
    )
    return web.Response(text=body, content_type="text/html", charset="utf-8")


class LogServer:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        path = state.state_dir / ARTIFACTS_FILE if state.state_dir is not None else None
        self.index = ArtifactIndex(path)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await self.index.refresh()
        tail = request.match_info.get("tail", "")
        parts = [p for p in tail.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise web.HTTPNotFound(text="Not found\n")
        url_path = "/logs/" + "/".join(parts) + ("/" if parts else "")
        if len(parts) < ARTIFACT_DEPTH:
            return self._parent_listing(parts, url_path, tail)
        directory = "/".join(parts[:ARTIFACT_DEPTH])
        artifact = self.index.by_path.get(directory)
        if artifact is None or not is_live(artifact, self.state):
            raise web.HTTPNotFound(text="Not found\n")
        inner = "/".join(parts[ARTIFACT_DEPTH:])
        files = files_of(artifact)
        if inner in files and not tail.endswith("/"):
            content_type, generate = files[inner]
            body = generate(artifact, self.state.web_url)
            response = web.Response(body=body, headers={"Content-Type": content_type})
            if inner.endswith(".tar.gz"):
                response.headers["Content-Disposition"] = f'attachment; filename="{inner}"'
            return response
        prefix = inner + "/" if inner else ""
        entries = {
            (name[len(prefix) :].split("/", 1)[0], "/" in name[len(prefix) :])
            for name in files
            if name.startswith(prefix)
        }
        if not entries:
            raise web.HTTPNotFound(text="Not found\n")
        if not tail.endswith("/"):
            raise web.HTTPMovedPermanently(location=url_path)
        return _listing(url_path, list(entries))

    def _parent_listing(self, parts: list[str], url_path: str, tail: str) -> web.StreamResponse:
        """A directory above artifact directories: lists children holding a live artifact."""
        prefix = "/".join(parts)
        names = self.index.children.get(prefix, set())
        live = [n for n in names if self._has_live(f"{prefix}/{n}" if prefix else n)]
        if not live:
            raise web.HTTPNotFound(text="Not found\n")
        if tail and not tail.endswith("/"):
            raise web.HTTPMovedPermanently(location=url_path)
        return _listing(url_path, [(name, True) for name in live])

    def _has_live(self, prefix: str) -> bool:
        if prefix.count("/") + 1 == ARTIFACT_DEPTH:
            found = self.index.by_path.get(prefix)
            return found is not None and is_live(found, self.state)
        return any(self._has_live(f"{prefix}/{c}") for c in self.index.children.get(prefix, ()))


LOG_SERVER_KEY = web.AppKey("driverci_log_server", LogServer)


def add_log_routes(app: web.Application, state: EmulatorState) -> None:
    """Serve seeded CI artifacts under ``/logs/`` (GET and HEAD)."""
    server = LogServer(state)
    app[LOG_SERVER_KEY] = server
    app.router.add_get("/logs/{tail:.*}", server.handle)
    app.router.add_get("/logs", server.handle)


__all__ = ["LOG_SERVER_KEY", "ArtifactIndex", "LogServer", "add_log_routes", "is_live"]
