"""The SSH event stream against a real asyncssh server whose sessions the tests script.

Each story checks what a CI operator cares about: after a dropped connection, a
``dropped-output`` or a silent server, every event still arrives exactly once.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from gerrit_servers import RecordedGerrit, ScriptedGerritSSH, Session

from driverci.errors import GerritError, GerritUnreachable
from driverci.gerrit.models import DroppedOutputEvent, GerritEvent, PatchsetCreatedEvent
from driverci.gerrit.models import parse_event as parse
from driverci.gerrit.rest import GerritRestClient
from driverci.gerrit.stream import GerritEventStream

T0 = 1_767_571_200  # 2026-01-05 00:00:00 UTC


class FastStream(GerritEventStream):
    """The real client with waits short enough for tests."""

    BACKOFF_BASE = 0.01
    BACKOFF_MAX = 0.05
    CATCH_UP_MARGIN = timedelta(seconds=5)


def patchset_created(i: int) -> dict[str, Any]:
    """Event number ``i`` of a burst: patch set 1 of change 1000+i, at T0+i seconds."""
    number = 1000 + i
    return {
        "type": "patchset-created",
        "eventCreatedOn": T0 + i,
        "project": "openstack/ironic",
        "refName": "refs/heads/master",
        "change": {"project": "openstack/ironic", "branch": "master", "number": number},
        "patchSet": {"number": 1, "ref": f"refs/changes/{number % 100:02d}/{number}/1"},
        "uploader": {"name": "Dev", "username": "dev"},
    }


def emit(raws: Sequence[dict[str, Any] | str], then: str = "stay") -> Session:
    """A session writing ``raws`` (dicts as JSON lines, strings verbatim), then
    ``stay`` connected and silent, or ``kill`` the TCP connection abruptly."""

    async def session(process: asyncssh.SSHServerProcess[str]) -> None:
        for raw in raws:
            process.stdout.write(raw if isinstance(raw, str) else json.dumps(raw) + "\n")
        await process.stdout.drain()
        if then == "kill":
            process.get_extra_info("connection").abort()
            return
        await asyncio.sleep(3600)

    return session


class RecordingCatchUp:
    """A catch-up that knows Gerrit's history up to ``known_up_to`` and records its calls."""

    def __init__(self, known_up_to: int) -> None:
        self.known_up_to = known_up_to
        self.calls: list[datetime] = []

    async def __call__(self, since: datetime) -> list[GerritEvent]:
        self.calls.append(since)
        history = [patchset_created(i) for i in range(1, self.known_up_to + 1)]
        return [parse(raw) for raw in history if raw["eventCreatedOn"] >= since.timestamp()]


@pytest.fixture
async def ssh_server(tmp_path: Path) -> AsyncIterator[ScriptedGerritSSH]:
    server = ScriptedGerritSSH(tmp_path, [])
    yield server
    await server.stop()


def stream_for(server: ScriptedGerritSSH, **options: Any) -> FastStream:
    options.setdefault("verify_host_key", False)
    return FastStream("127.0.0.1", server.port, "acme-ci", server.client_key_path, **options)


async def collect(stream: GerritEventStream, wanted: int, seconds: float = 10) -> list[GerritEvent]:
    """Events until ``wanted`` patchset-created ones arrived (dropped-output is kept too)."""
    got: list[GerritEvent] = []
    async with asyncio.timeout(seconds):
        async for event in stream.events():
            got.append(event)
            if sum(isinstance(e, PatchsetCreatedEvent) for e in got) == wanted:
                break
    return got


def change_numbers(events: list[GerritEvent]) -> list[int]:
    return [e.change.number for e in events if isinstance(e, PatchsetCreatedEvent)]


async def test_connection_killed_mid_burst_loses_and_repeats_nothing(
    ssh_server: ScriptedGerritSSH,
) -> None:
    ssh_server.sessions = [
        emit([patchset_created(i) for i in range(1, 61)], then="kill"),
        emit([patchset_created(i) for i in range(71, 101)]),
    ]
    await ssh_server.start()
    catch_up = RecordingCatchUp(known_up_to=80)  # 61-70 happened while we were away
    async with stream_for(ssh_server, catch_up=catch_up) as stream:
        events = await collect(stream, 100)
    assert change_numbers(events) == [1000 + i for i in range(1, 101)]
    assert stream.stats.reconnects == 1 and len(catch_up.calls) == 1
    assert catch_up.calls[0] <= datetime.fromtimestamp(T0 + 60, UTC) - timedelta(seconds=5)
    assert stream.stats.catch_up_events >= 10
    assert stream.stats.duplicates_suppressed >= 10  # 71-80 came both ways
    assert all(e.synthesized is False for e in events)  # test catch-up returns parsed events


async def test_dropped_output_triggers_catch_up(ssh_server: ScriptedGerritSSH) -> None:
    dropped = {"type": "dropped-output", "eventCreatedOn": T0 + 15}
    burst = [*(patchset_created(i) for i in range(1, 11)), dropped]
    ssh_server.sessions = [emit([*burst, *(patchset_created(i) for i in range(16, 21))])]
    await ssh_server.start()
    catch_up = RecordingCatchUp(known_up_to=17)
    stream = stream_for(
        ssh_server,
        catch_up=catch_up,
        verify_host_key=True,
        known_hosts=ssh_server.known_hosts_path,
    )
    async with stream:
        events = await collect(stream, 20)
    assert change_numbers(events) == [1000 + i for i in range(1, 21)]
    assert isinstance(events[10], DroppedOutputEvent)
    assert stream.stats.dropped_outputs == 1 and stream.stats.reconnects == 0
    assert catch_up.calls == [datetime.fromtimestamp(T0 + 10, UTC) - timedelta(seconds=5)]


async def test_silent_stream_is_reconnected_by_the_watchdog(ssh_server: ScriptedGerritSSH) -> None:
    ssh_server.sessions = [
        emit([patchset_created(i) for i in range(1, 6)]),
        emit([patchset_created(i) for i in range(6, 9)]),
    ]
    await ssh_server.start()
    catch_up = RecordingCatchUp(known_up_to=5)
    async with stream_for(ssh_server, catch_up=catch_up, silence_timeout=0.4) as stream:
        events = await collect(stream, 8)
    assert change_numbers(events) == [1000 + i for i in range(1, 9)]
    assert stream.stats.watchdog_timeouts == 1 and stream.stats.reconnects == 1


async def test_malformed_lines_are_skipped_and_subscriptions_sent(
    ssh_server: ScriptedGerritSSH,
) -> None:
    ssh_server.sessions = [emit(["{not json\n", "\n", patchset_created(1)])]
    await ssh_server.start()
    async with stream_for(ssh_server, subscribe=["patchset-created"]) as stream:
        events = await collect(stream, 1)
    assert change_numbers(events) == [1001]
    assert stream.stats.malformed_lines == 1
    assert ssh_server.commands == ["gerrit stream-events -s patchset-created"]


async def test_unknown_host_key_is_refused_at_once(ssh_server: ScriptedGerritSSH) -> None:
    ssh_server.sessions = [emit([])]
    await ssh_server.start()
    ssh_server.known_hosts_path.write_text(
        f"[127.0.0.1]:{ssh_server.port} "
        + asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    )
    stream = stream_for(ssh_server, verify_host_key=True, known_hosts=ssh_server.known_hosts_path)
    with pytest.raises(GerritError, match=f"SSH to acme-ci@127.0.0.1:{ssh_server.port} refused"):
        await collect(stream, 1)
    assert stream.stats.connect_failures == 0


async def test_unreachable_server_gives_up_after_max_attempts(free_port: int) -> None:
    stream = FastStream("127.0.0.1", free_port, "acme-ci", None, max_connect_attempts=3)
    with pytest.raises(GerritUnreachable) as caught:
        await collect(stream, 1)
    assert str(caught.value).startswith(
        f"Gerrit SSH acme-ci@127.0.0.1:{free_port} unreachable after 3 attempts"
    )
    assert stream.stats.connect_failures == 3


async def test_unreachable_server_is_retried_forever_by_default(free_port: int) -> None:
    stream = FastStream("127.0.0.1", free_port, "acme-ci", None)
    with pytest.raises(TimeoutError):
        await collect(stream, 1, seconds=0.5)
    assert stream.stats.connect_failures >= 3


class EagerStream(GerritEventStream):
    """Retries at once, so a cancellation often lands while a connection attempt fails."""

    BACKOFF_BASE = 0.0001
    BACKOFF_MAX = 0.0005


async def test_a_stream_stopped_while_gerrit_is_unreachable_stops(free_port: int) -> None:
    # Stopping the CI (SIGTERM, Ctrl-C) cancels the stream's task. When the cancellation
    # meets a refused connection inside asyncssh's wait_for, Python 3.11 may report the
    # refusal instead; the stream must still stop, not retry forever. The race is a matter
    # of timing, so it is run many times.
    for _ in range(150):
        stream = EagerStream("127.0.0.1", free_port, "acme-ci", None)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(collect(stream, 1, seconds=0.01), 10)
        assert stream.stats.connect_failures < 1000


def test_retrying_for_days_never_outgrows_the_longest_wait() -> None:
    # Gerrit down for a weekend: thousands of attempts, each waiting at most BACKOFF_MAX.
    stream = GerritEventStream("127.0.0.1", 29418, "acme-ci", None)
    waits = [stream._backoff(attempt) for attempt in (0, 10, 1023, 1024, 5000, 10**6)]
    assert all(0 < wait <= stream.BACKOFF_MAX for wait in waits)
    assert waits[0] <= stream.BACKOFF_BASE


async def test_burst_throughput(ssh_server: ScriptedGerritSSH) -> None:
    count = 3000
    ssh_server.sessions = [emit([patchset_created(i) for i in range(1, count + 1)])]
    await ssh_server.start()
    async with stream_for(ssh_server) as stream:
        began = time.perf_counter()
        events = await collect(stream, count, seconds=60)
        rate = count / (time.perf_counter() - began)
    assert len(set(change_numbers(events))) == count
    print(f"stream delivered {rate:,.0f} events/s")


def rest_change(i: int) -> dict[str, Any]:
    """Change 1000+i as REST shows it: patch set 1 uploaded at T0+i."""
    number = 1000 + i
    created = datetime.fromtimestamp(T0 + i, UTC).strftime("%Y-%m-%d %H:%M:%S.000000000")
    return {
        "id": f"openstack%2Fironic~{number}",
        "project": "openstack/ironic",
        "branch": "master",
        "change_id": f"I{number:040d}",
        "status": "NEW",
        "updated": created,
        "_number": number,
        "current_revision": f"{number:040x}",
        "revisions": {f"{number:040x}": {"_number": 1, "created": created, "kind": "REWORK"}},
        "messages": [],
    }


async def test_default_rest_catch_up_fills_the_gap_of_a_killed_connection(
    ssh_server: ScriptedGerritSSH, recorded_gerrit: RecordedGerrit
) -> None:
    ssh_server.sessions = [
        emit([patchset_created(i) for i in range(1, 31)], then="kill"),
        emit([patchset_created(i) for i in range(41, 51)]),
    ]
    await ssh_server.start()
    recorded_gerrit.json("GET", "/changes/", [rest_change(i) for i in range(45, 0, -1)])
    async with GerritRestClient(recorded_gerrit.url) as rest:
        stream = stream_for(ssh_server, rest_client=rest, project="openstack/ironic")
        async with stream:
            events = await collect(stream, 50)
    assert change_numbers(events) == [1000 + i for i in range(1, 51)]
    assert stream.stats.catch_up_events >= 10
    assert any(e.synthesized for e in events)
    (_method, query, _auth), *_ = recorded_gerrit.requests
    assert "project%3Aopenstack%2Fironic" in query and "o=ALL_REVISIONS" in query


async def test_refused_command_is_logged_with_gerrits_reason_and_retried(
    ssh_server: ScriptedGerritSSH, caplog: pytest.LogCaptureFixture
) -> None:
    async def refuse(process: asyncssh.SSHServerProcess[str]) -> None:
        process.stderr.write('fatal: acme-ci does not have "Stream Events" capability.\n')
        process.exit(1)

    ssh_server.sessions = [refuse, emit([patchset_created(1)])]
    await ssh_server.start()
    async with stream_for(ssh_server) as stream:
        events = await collect(stream, 1)
    assert change_numbers(events) == [1001]
    assert "exit status 1): fatal: acme-ci does not have" in caplog.text
