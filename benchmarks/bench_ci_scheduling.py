"""Reference CI scheduling: overhead per event, event-to-start latency, a year of Ironic.

Prints figures, asserts nothing. ``python -m benchmarks.bench_ci_scheduling``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import HOUR, bench_ci_config, ironic_year_arrivals
from driverci.ci.config import CIConfig
from driverci.ci.decide import PatchSetFacts, decide_patch_set
from driverci.ci.model import JobOutcome, JobRequest
from driverci.policy.loader import load_policy


def _config(url: str, ssh_port: int, tmp: Path, slots: int) -> CIConfig:
    return bench_ci_config(tmp, slots, url=url, ssh_port=ssh_port)


class _StartRecorder:
    def __init__(self) -> None:
        self.starts: dict[tuple[int, int], float] = {}

    async def run(self, request: JobRequest, cancel: asyncio.Event) -> JobOutcome:
        now = dt.datetime.now(dt.UTC)
        self.starts[(request.target.change, request.target.patch_set)] = time.time()
        return JobOutcome("SUCCESS", request.log_url, now, now)


def scheduling_overhead(events: int = 2000) -> float:
    """Milliseconds per patch set for decide + persisted intake + dispatch (no network)."""
    from driverci.ci.decide import deadline_for
    from driverci.ci.queue import RunQueue
    from driverci.store.db import open_store

    policy = load_policy()
    with tempfile.TemporaryDirectory() as tmp:
        config = _config("http://127.0.0.1:1", 1, Path(tmp), 2)
        store = open_store(config.state)
        queue = RunQueue(store, "bench")
        now = dt.datetime.now(dt.UTC)
        began = time.perf_counter()
        for number in range(events):
            facts = PatchSetFacts(
                "openstack/ironic",
                "master",
                number,
                1,
                "a" * 40,
                f"refs/changes/{number}/1",
                1,
                "NEW",
                False,
                ("ironic/drivers/modules/redfish/power.py",),
            )
            decision = decide_patch_set(config, policy, facts, now)
            queue.enqueue(facts, decision, deadline_for(policy, now))
            queue.supersede(number, 1, same_patch_set=False)
            if number % 10 == 0:
                queue.waiting(limit=8)
        elapsed = time.perf_counter() - began
        store.close()
    return elapsed / events * 1000


async def event_to_start(patch_sets: int = 1000, seconds: float = 60.0) -> list[float]:
    """Seconds from patchset-created to job start, pushing ``patch_sets`` into the emulator."""
    import asyncssh

    from driverci.ci.service import CIService
    from driverci.emulator.git.receive import upload_change
    from driverci.emulator.server import EmulatorServer
    from driverci.emulator.state.journal import EmulatorState

    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        state = EmulatorState(tmp / "gerrit")
        key = asyncssh.generate_private_key("ssh-ed25519")
        (tmp / "ci_key").write_bytes(key.export_private_key())
        (tmp / "ci_key").chmod(0o600)
        admin = state.add_account("admin", "Admin", http_password="x", is_admin=True)
        alice = state.add_account("alice", "Alice", http_password="y")
        state.add_account(
            "sandbox-redfish-ci",
            "Bench Redfish CI",
            http_password="sandbox-redfish-ci-secret",
            ssh_keys=[key.export_public_key().decode()],
            tags=["SERVICE_USER"],
        )
        at = dt.datetime.now(dt.UTC)
        state.create_project("openstack/ironic", at=at)
        server = EmulatorServer(state)
        await server.start()
        git = server.git
        await git.ensure_repo("openstack/ironic")
        tip = await git.create_commit("openstack/ironic", None, {"a.py": b"1\n"}, "init", admin, at)
        await git.update_ref("openstack/ironic", "refs/heads/master", tip)
        state.set_branch("openstack/ironic", "master", tip, at=at)
        recorder = _StartRecorder()
        service = CIService(_config(server.http_url, server.ssh_port, tmp, 64), executor=recorder)
        task = asyncio.create_task(service.run())
        while service.stream is None or not service.stream.stats.connects:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        created: dict[tuple[int, int], float] = {}
        gap = seconds / patch_sets
        for index in range(patch_sets):
            began = time.time()
            change, ps = await upload_change(
                state,
                git,
                "openstack/ironic",
                "master",
                {f"ironic/f{index}.py": b"x\n"},
                f"Change {index}",
                alice,
            )
            created[(change.number, ps.number)] = began
            await asyncio.sleep(max(0.0, gap - (time.time() - began)))
        deadline = time.time() + 60
        while len(recorder.starts) < patch_sets and time.time() < deadline:
            await asyncio.sleep(0.1)
        await service.stop()
        await task
        await server.stop()
        state.close()
    return sorted(recorder.starts[key] - created[key] for key in created if key in recorder.starts)


@dataclass(order=True)
class _Item:
    deadline: float
    arrival: float
    change: int = field(compare=False)
    patch_set: int = field(compare=False)


def simulate_year(
    edf_supersede: bool, seed: int = 1, slots: int = 2, job_hours: float = 1.5
) -> float:
    """Share of patch sets (still current at their deadline) reported within 4 h."""
    arrivals = ironic_year_arrivals(seed)
    current: dict[int, tuple[int, float]] = {}  # change -> (latest ps, when)
    superseded_at: dict[tuple[int, int], float] = {}
    for at, number, ps in arrivals:
        if number in current:
            superseded_at[(number, current[number][0])] = at
        current[number] = (ps, at)
    queue: list[_Item] = []
    free_at = [0.0] * slots
    reported: dict[tuple[int, int], float] = {}
    index = 0
    clock = 0.0
    while index < len(arrivals) or queue:
        next_free = min(free_at)
        if index < len(arrivals) and (not queue or arrivals[index][0] <= next_free):
            at, number, ps = arrivals[index]
            index += 1
            heapq.heappush(queue, _Item(at + 4 * HOUR if edf_supersede else at, at, number, ps))
            continue
        item = heapq.heappop(queue)
        slot = free_at.index(next_free)
        clock = max(next_free, item.arrival)
        gone = superseded_at.get((item.change, item.patch_set))
        if edf_supersede and gone is not None and gone <= clock:
            continue  # superseded while queued: cancelled, not run
        free_at[slot] = clock + job_hours * HOUR
        reported[(item.change, item.patch_set)] = free_at[slot]
    due = [
        (c, p, at)
        for at, c, p in arrivals
        if superseded_at.get((c, p), float("inf")) > at + 4 * HOUR
    ]
    on_time = sum(1 for c, p, at in due if reported.get((c, p), float("inf")) <= at + 4 * HOUR)
    return on_time / len(due)


def main() -> None:
    print(f"scheduling overhead per event: {scheduling_overhead():.2f} ms")
    latencies = asyncio.run(event_to_start())
    if latencies:
        p99 = latencies[int(len(latencies) * 0.99) - 1]
        print(
            f"patchset-created -> job start, {len(latencies)} patch sets in a minute: "
            f"median {statistics.median(latencies):.3f} s, p99 {p99:.3f} s"
        )
    edf = simulate_year(True)
    fifo = simulate_year(False)
    print(
        f"one year of Ironic, 2 slots, 90-min jobs: reported within 4 h: "
        f"deadline-first + superseding {edf:.1%}, plain FIFO {fifo:.1%}"
    )


if __name__ == "__main__":
    main()
