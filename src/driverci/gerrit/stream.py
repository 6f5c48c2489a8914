"""Client for ``gerrit stream-events`` over SSH that loses no event and repeats none.

Zuul-style robustness: SSH keepalives, a watchdog that reconnects when the stream has been
silent longer than ``silence_timeout``, reconnection with exponential backoff, and after every
reconnect and every ``dropped-output`` a catch-up (by default over REST, see
:mod:`driverci.gerrit.catchup`) whose events pass through the same bounded deduplication
memory as live ones.

    async with GerritEventStream(host, 29418, "acme-ci", "~/.ssh/id_ed25519",
                                 rest_client=rest) as stream:
        async for event in stream.events():
            ...
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import asyncssh

from driverci.errors import DriverCIError, GerritError, GerritUnreachable, PayloadError
from driverci.gerrit.backoff import backoff_delay
from driverci.gerrit.catchup import RestCatchUp
from driverci.gerrit.models_events import (
    CommentAddedEvent,
    DedupKey,
    DroppedOutputEvent,
    GerritEvent,
    parse_event_line,
)
from driverci.gerrit.rest import GerritRestClient

log = logging.getLogger(__name__)

CatchUp = Callable[[datetime], Awaitable[Sequence[GerritEvent]]]
"""Returns the events that happened at or after the given moment (any order)."""


@dataclass
class StreamStats:
    """Counters a dashboard or a test can read while the stream runs."""

    connects: int = 0
    reconnects: int = 0
    connect_failures: int = 0
    events: int = 0
    dropped_outputs: int = 0
    duplicates_suppressed: int = 0
    catch_ups: int = 0
    catch_up_events: int = 0
    catch_up_failures: int = 0
    watchdog_timeouts: int = 0
    malformed_lines: int = 0


class EventDeduplicator:
    """Bounded LRU memory of dedup keys; comment-added keys match within a time tolerance."""

    SIZE = 100_000

    def __init__(self, size: int | None = None) -> None:
        self.size = size or self.SIZE
        # key -> event seconds seen under it (comment-added keys exclude their time element)
        self._seen: OrderedDict[DedupKey, list[int]] = OrderedDict()

    def is_duplicate(self, event: GerritEvent) -> bool:
        """True if an equivalent event was seen; otherwise remember this one and say False."""
        key = event.dedup_key
        moment: int | None = None
        if isinstance(event, CommentAddedEvent):
            key, moment = key[:-1], int(key[-1])
        times = self._seen.get(key)
        if times is not None:
            self._seen.move_to_end(key)
            if moment is None:
                return True
            tolerance = CommentAddedEvent.TIME_TOLERANCE_SECONDS
            if any(abs(moment - seen) <= tolerance for seen in times):
                return True
            times.append(moment)  # same text again later: a new comment (e.g. "recheck")
            return False
        self._seen[key] = [] if moment is None else [moment]
        if len(self._seen) > self.size:
            self._seen.popitem(last=False)
        return False


class _StreamEnded:
    """Queue marker: this connection is over (``reason`` says why)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


class GerritEventStream:
    """``gerrit stream-events`` as an async iterator of typed, deduplicated events."""

    COMMAND = "gerrit stream-events"
    KEEPALIVE_INTERVAL = 15.0
    KEEPALIVE_COUNT_MAX = 4
    CONNECT_TIMEOUT = 30.0
    SILENCE_TIMEOUT = 600.0
    BACKOFF_BASE = 1.0
    BACKOFF_MAX = 60.0
    STABLE_AFTER = 60.0  # a connection that lived this long resets the backoff
    CATCH_UP_MARGIN = timedelta(minutes=2)
    CATCH_UP_ATTEMPTS = 3
    DEDUP_SIZE = 100_000
    READ_SIZE = 1 << 16
    QUEUE_SIZE = 4096  # when full, reading stops and Gerrit's own queue absorbs the burst

    def __init__(
        self,
        host: str,
        port: int = 29418,
        username: str | None = None,
        key_path: str | Path | None = None,
        *,
        known_hosts: str | Path | None = None,
        verify_host_key: bool = True,
        catch_up: CatchUp | None = None,
        rest_client: GerritRestClient | None = None,
        project: str | None = None,
        silence_timeout: float | None = None,
        max_connect_attempts: int | None = None,
        subscribe: Sequence[str] = (),
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.key_path = Path(key_path).expanduser() if key_path else None
        self.known_hosts = Path(known_hosts).expanduser() if known_hosts else None
        self.verify_host_key = verify_host_key
        if catch_up is None and rest_client is not None:
            catch_up = RestCatchUp(rest_client, project=project)
        self.catch_up = catch_up
        self.silence_timeout = silence_timeout or self.SILENCE_TIMEOUT
        self.max_connect_attempts = max_connect_attempts
        self.command = " ".join([self.COMMAND, *(f"-s {shlex.quote(t)}" for t in subscribe)])
        self.stats = StreamStats()
        self._dedup = EventDeduplicator(self.DEDUP_SIZE)
        self._last_event_time: datetime | None = None
        self._started_at: datetime | None = None
        self._pending_since: datetime | None = None  # a catch-up that failed, to redo
        self._last_activity = 0.0
        self._connection: asyncssh.SSHClientConnection | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    @property
    def where(self) -> str:
        """``user@host:port``, for messages."""
        user = f"{self.username}@" if self.username else ""
        return f"{user}{self.host}:{self.port}"

    async def __aenter__(self) -> GerritEventStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop reading and close the SSH connection."""
        self._closed = True
        await self._close_connection()

    # -- the event loop a consumer iterates ---------------------------------------------------

    async def events(self) -> AsyncIterator[GerritEvent]:
        """Every event once, live or caught up; raises GerritUnreachable if connecting gives up."""
        short_lived = 0
        while not self._closed:
            if self.stats.connects and short_lived:
                await asyncio.sleep(self._backoff(short_lived - 1))
            queue: asyncio.Queue[GerritEvent | _StreamEnded] = asyncio.Queue(self.QUEUE_SIZE)
            try:
                await self._open(queue)
            except (OSError, asyncssh.Error) as exc:  # connected, but the command was refused
                log.warning("stream %s: cannot run %r: %s", self.where, self.command, exc)
                await self._close_connection()
                short_lived += 1
                continue
            opened_at = asyncio.get_running_loop().time()
            try:
                if self.stats.connects > 1:
                    self.stats.reconnects += 1
                    async for event in self._run_catch_up("reconnect"):
                        yield event
                while True:
                    item = await queue.get()
                    if isinstance(item, _StreamEnded):
                        log.warning("stream %s ended: %s; reconnecting", self.where, item.reason)
                        break
                    if isinstance(item, DroppedOutputEvent):
                        self.stats.dropped_outputs += 1
                        self.stats.events += 1
                        yield item
                        async for event in self._run_catch_up("dropped-output"):
                            yield event
                    elif self._accept(item):
                        yield item
            finally:
                await self._close_connection()
            lived = asyncio.get_running_loop().time() - opened_at
            short_lived = 0 if lived >= self.STABLE_AFTER else short_lived + 1

    def _accept(self, event: GerritEvent) -> bool:
        if self._dedup.is_duplicate(event):
            self.stats.duplicates_suppressed += 1
            return False
        moment = event.event_created_on
        if moment is not None and (self._last_event_time is None or moment > self._last_event_time):
            self._last_event_time = moment
        self.stats.events += 1
        return True

    async def _run_catch_up(self, why: str) -> AsyncIterator[GerritEvent]:
        if self.catch_up is None:
            log.warning(
                "stream %s: %s but no catch-up configured; events may be lost", self.where, why
            )
            return
        reference = self._last_event_time or self._started_at or datetime.now(UTC)
        since = reference - self.CATCH_UP_MARGIN
        if self._pending_since is not None:
            since = min(since, self._pending_since)
        self.stats.catch_ups += 1
        for attempt in range(self.CATCH_UP_ATTEMPTS):
            try:
                missed = list(await self.catch_up(since))
                break
            except DriverCIError as exc:
                self.stats.catch_up_failures += 1
                log.warning("catch-up after %s since %s failed: %s", why, since, exc)
                if attempt + 1 < self.CATCH_UP_ATTEMPTS:
                    await asyncio.sleep(self._backoff(attempt))
        else:
            log.error("catch-up since %s gave up; will retry at the next one", since)
            self._pending_since = since
            return
        self._pending_since = None
        missed.sort(key=lambda event: event.event_created_on or since)
        log.info("catch-up after %s since %s: %d candidate events", why, since, len(missed))
        for event in missed:
            if self._accept(event):
                self.stats.catch_up_events += 1
                yield event

    # -- connection, reader and watchdog ------------------------------------------------------

    async def _open(self, queue: asyncio.Queue[GerritEvent | _StreamEnded]) -> None:
        connection = await self._connect()
        self._connection = connection
        process = await connection.create_process(self.command, encoding=None)
        self._last_activity = asyncio.get_running_loop().time()
        if self._started_at is None:
            self._started_at = datetime.now(UTC)
        self._tasks = [
            asyncio.create_task(self._read(process, queue)),
            asyncio.create_task(self._watch(queue)),
        ]

    async def _connect(self) -> asyncssh.SSHClientConnection:
        options: dict[str, Any] = {
            "username": self.username,
            "client_keys": [str(self.key_path)] if self.key_path else (),
            "known_hosts": (str(self.known_hosts) if self.known_hosts else ())
            if self.verify_host_key
            else None,
            "keepalive_interval": self.KEEPALIVE_INTERVAL,
            "keepalive_count_max": self.KEEPALIVE_COUNT_MAX,
            "connect_timeout": self.CONNECT_TIMEOUT,
            "config": None,  # behave the same on every machine: no ~/.ssh/config
        }
        attempt = 0
        while True:
            try:
                connection = await asyncssh.connect(self.host, self.port, **options)
            except (asyncssh.PermissionDenied, asyncssh.HostKeyNotVerifiable) as exc:
                # Retrying cannot fix a refused key or an unknown host key: tell the user now.
                raise GerritError(f"SSH to {self.where} refused: {exc.reason}") from None
            except (OSError, asyncssh.Error, TimeoutError) as exc:
                if _being_cancelled():
                    # Python 3.11's wait_for (inside asyncssh.connect) can hand back the
                    # connection's error instead of our own cancellation: honour the latter,
                    # else a cancelled stream would retry forever.
                    raise asyncio.CancelledError from exc
                attempt += 1
                self.stats.connect_failures += 1
                if self.max_connect_attempts and attempt >= self.max_connect_attempts:
                    raise GerritUnreachable(
                        f"Gerrit SSH {self.where} unreachable after {attempt} attempts: {exc}"
                    ) from None
                delay = self._backoff(attempt - 1)
                log.warning("SSH %s: %s; retry %d in %.1fs", self.where, exc, attempt, delay)
                await asyncio.sleep(delay)
            else:
                self.stats.connects += 1
                log.info("stream %s connected (connection %d)", self.where, self.stats.connects)
                return connection

    async def _read(
        self,
        process: asyncssh.SSHClientProcess[bytes],
        queue: asyncio.Queue[GerritEvent | _StreamEnded],
    ) -> None:
        loop = asyncio.get_running_loop()
        line_number = 0
        pending = b""  # an incomplete last line, completed by the next chunk
        try:
            while True:
                # Whole chunks, not readline(): several times faster on bursts.
                chunk: bytes = await process.stdout.read(self.READ_SIZE)
                self._last_activity = loop.time()
                if not chunk:  # EOF; a cut-off last line is dropped and caught up
                    await queue.put(_StreamEnded(await self._why_closed(process)))
                    return
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    line_number += 1
                    if not line.strip():
                        continue
                    try:
                        event = parse_event_line(line, f"{self.where} stream line {line_number}")
                    except PayloadError as exc:
                        self.stats.malformed_lines += 1
                        log.warning("skipping malformed event: %s", exc)
                        continue
                    await queue.put(event)
        except (OSError, asyncssh.Error) as exc:
            await queue.put(_StreamEnded(f"{type(exc).__name__}: {exc}"))

    @staticmethod
    async def _why_closed(process: asyncssh.SSHClientProcess[bytes]) -> str:
        """Exit status and Gerrit's error text (e.g. a missing capability), if it sent any."""
        try:
            await asyncio.wait_for(process.wait_closed(), 1.0)
            error = await asyncio.wait_for(process.stderr.read(), 1.0)
        except (TimeoutError, OSError, asyncssh.Error):
            error = b""
        text = error.decode("utf-8", errors="replace").strip().replace("\n", " ")
        detail = f": {text}" if text else ""
        return f"closed by server (exit status {process.exit_status}){detail}"

    async def _watch(self, queue: asyncio.Queue[GerritEvent | _StreamEnded]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.silence_timeout / 4)
            if queue.full():  # we are not reading, so the server cannot be judged silent
                self._last_activity = loop.time()
            elif loop.time() - self._last_activity > self.silence_timeout:
                self.stats.watchdog_timeouts += 1
                queue.put_nowait(_StreamEnded(f"silent for over {self.silence_timeout:g}s"))
                return

    async def _close_connection(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.abort()  # no goodbye needed; the server may already be gone

    def _backoff(self, attempt: int) -> float:
        return backoff_delay(attempt, self.BACKOFF_BASE, self.BACKOFF_MAX)


def _being_cancelled() -> bool:
    """True while the running task has a cancellation pending (even one swallowed below us)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
