"""Gerrit emulator benchmark: seeding, a large REST query, stream delivery to driverci's client.

1. Seeding the bundled judge-8cis scenario (60 days, 8 third-party CIs): wall time.
2. ``GET /changes/?q=project:openstack/ironic&o=ALL_REVISIONS&o=ALL_FILES&o=MESSAGES&n=500``
   over HTTP against a running EmulatorServer holding that history: median of several.
3. ``gerrit stream-events`` over SSH into :class:`driverci.gerrit.stream.GerritEventStream`:
   comment-added events per second over a burst, with the producer keeping fewer events in
   flight than Gerrit's per-connection queue of 128 so that none is dropped.

Prints figures with their targets; asserts nothing. ``python -m benchmarks.bench_emulator``.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import asyncssh
import httpx

from benchmarks.common import median, print_figure, timed_runs
from driverci.emulator.seed.scenario import Scenario, bundled_scenario_path, load_scenario
from driverci.emulator.seed.seeder import seed_scenario
from driverci.emulator.server import EmulatorServer
from driverci.emulator.state.journal import EmulatorState
from driverci.emulator.state.model import Change
from driverci.gerrit.models import CommentAddedEvent
from driverci.gerrit.rest import GerritRestClient
from driverci.gerrit.stream import GerritEventStream

SCENARIO = "judge-8cis"
SEED_TARGET_S = 60.0
QUERY_SIZE = 500
QUERY_OPTIONS = ("ALL_REVISIONS", "ALL_FILES", "MESSAGES")
QUERY_RUNS = 7
QUERY_TARGET_S = 1.0
STREAM_EVENTS = 5_000
STREAM_IN_FLIGHT = 100  # below Gerrit's queue of 128: a drop would measure catch-up instead
STREAM_TARGET_PER_S = 1_000.0
STREAM_ACCOUNT = "bench-stream-ci"


def bench_seeding(state_dir: Path, scenario: Scenario) -> EmulatorState:
    state = EmulatorState(state_dir)
    began = time.perf_counter()
    summary = seed_scenario(state, state_dir / "git", scenario)
    elapsed = time.perf_counter() - began
    print(f"  seeded: {summary}")
    print_figure(
        f"seeding {scenario.days} days, {len(scenario.cis)} CIs",
        elapsed,
        "s",
        f"< {SEED_TARGET_S:g} s",
        elapsed < SEED_TARGET_S,
    )
    return state


async def bench_rest_query(server: EmulatorServer, project: str) -> None:
    params = httpx.QueryParams(
        [("q", f"project:{project}"), *(("o", option) for option in QUERY_OPTIONS)]
    ).add("n", QUERY_SIZE)
    url = f"{server.http_url}/changes/"
    async with httpx.AsyncClient(timeout=60) as http:

        async def raw_query() -> int:
            response = await http.get(url, params=params)
            response.raise_for_status()
            return len(response.content)

        size = await raw_query()  # warm-up; also tells the payload size
        answers = await timed_runs(raw_query, QUERY_RUNS)
    async with GerritRestClient(server.http_url, timeout=60) as client:
        changes = await client.query_changes(f"project:{project}", QUERY_OPTIONS, QUERY_SIZE)
        parsed = await timed_runs(
            lambda: client.query_changes(f"project:{project}", QUERY_OPTIONS, QUERY_SIZE),
            QUERY_RUNS,
        )
    revisions = sum(len(change.revisions) for change in changes)
    messages = sum(len(change.messages) for change in changes)
    print(
        f"  query: {len(changes)} changes, {revisions} revisions, {messages} messages, "
        f"{size / 1e6:.1f} MB of JSON; median of {QUERY_RUNS} runs"
    )
    print_figure(
        f"REST query of {len(changes)} changes, HTTP answer",
        median(answers),
        "s",
        f"< {QUERY_TARGET_S:g} s",
        median(answers) < QUERY_TARGET_S,
    )
    print_figure(
        "  same, incl. driverci's GerritRestClient parsing",
        median(parsed),
        "s",
        "(info)",
        None,
    )


async def bench_stream(server: EmulatorServer, state: EmulatorState, tmp: Path) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    key_path = tmp / "stream_key"
    key.write_private_key(str(key_path))
    key_path.chmod(0o600)
    ci = state.add_account(
        STREAM_ACCOUNT, "Bench Stream CI", ssh_keys=[key.export_public_key().decode()]
    )
    targets: list[Change] = [c for c in state.changes.values() if c.status == "NEW"][:50]
    received = 0
    probes_seen = 0
    progress = asyncio.Event()

    async with GerritRestClient(server.http_url) as rest:
        stream = GerritEventStream(
            "127.0.0.1",
            server.ssh_port,
            STREAM_ACCOUNT,
            key_path,
            verify_host_key=False,
            rest_client=rest,
            subscribe=("comment-added",),
        )

        async def consume() -> None:
            nonlocal received, probes_seen
            async for event in stream.events():
                if not isinstance(event, CommentAddedEvent):
                    continue
                if event.comment.endswith("(bench)"):
                    received += 1
                    progress.set()
                elif event.comment.endswith("(probe)"):
                    probes_seen += 1

        def post(index: int, kind: str = "bench") -> None:
            change = targets[index % len(targets)]
            state.post_review(change, change.current, ci, f"Stream event {index} ({kind})")

        consumer = asyncio.create_task(consume())
        try:
            # Probe until one arrives: the subscription is live before timing starts.
            probe = 0
            while not probes_seen:
                post(probe, "probe")
                probe += 1
                await asyncio.sleep(0.1)
            began = time.perf_counter()
            sent = 0
            while received < STREAM_EVENTS:
                while sent < STREAM_EVENTS and sent - received < STREAM_IN_FLIGHT:
                    post(sent)
                    sent += 1
                progress.clear()
                await asyncio.wait_for(progress.wait(), 30)
            elapsed = time.perf_counter() - began
        finally:
            await stream.aclose()
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
    stats = stream.stats
    print(
        f"  stream: {STREAM_EVENTS} comment-added in {elapsed:.2f} s "
        f"(dropped-output {stats.dropped_outputs}, catch-ups {stats.catch_ups}, "
        f"duplicates suppressed {stats.duplicates_suppressed}); emulator and client share "
        "one event loop, so this is a lower bound"
    )
    rate = STREAM_EVENTS / elapsed
    print_figure(
        "stream delivery to GerritEventStream",
        rate,
        "events/s",
        f">= {STREAM_TARGET_PER_S:,.0f}/s",
        rate >= STREAM_TARGET_PER_S,
    )


async def bench_served(state: EmulatorState, scenario: Scenario, tmp: Path) -> None:
    async with EmulatorServer(state) as server:
        await bench_rest_query(server, scenario.project)
        await bench_stream(server, state, tmp)


def main() -> None:
    scenario = load_scenario(bundled_scenario_path(SCENARIO))
    with tempfile.TemporaryDirectory(prefix="bench-emulator-") as tmp_dir:
        tmp = Path(tmp_dir)
        state = bench_seeding(tmp / "state", scenario)
        try:
            asyncio.run(bench_served(state, scenario, tmp))
        finally:
            state.close()


if __name__ == "__main__":
    main()
