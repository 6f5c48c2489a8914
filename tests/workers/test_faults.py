"""Faults a vendor's CI survives, each against real processes on loopback: the listener
(`driverci ci run`) and Celery workers (`driverci ci worker`) as child processes, RabbitMQ and
Redis of their own, the Gerrit emulator. Each story prints its counts: expected, reported,
duplicated, lost."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

import pytest
from pool_fixtures import (
    Bed,
    Process,
    job,
    listener,
    manifests,
    print_counts,
    wait_for_worker,
    worker,
    write_pool_ci_yaml,
)

from brokers import PrivateRabbitMQ, PrivateRedis, brokers
from driverci.ci.config import CIConfig
from driverci.emulator.state.model import Change
from netproxy import TcpProxy
from world import GerritWorld, reported_per_patch_set, wait_until

pytestmark = pytest.mark.services

FOUR_TESTBEDS = [Bed(f"rf-{n}", ("redfish",), f"10.2.0.{n}", f"rf-{n}-pw") for n in range(1, 5)]
CODE = "ironic/drivers/modules/redfish/burst_{}.py"
DOCS = "doc/source/admin/burst_{}.rst"


@pytest.fixture(scope="module")
def services() -> Iterator[tuple[PrivateRabbitMQ, PrivateRedis]]:
    with brokers() as running:
        yield running


@dataclass
class Lab:
    """One vendor lab: its ci.yaml, its listener and its workers, all real processes."""

    world: GerritWorld
    config: CIConfig
    workers: dict[str, Process] = field(default_factory=dict)
    ci: Process | None = None

    def start_worker(self, name: str, threads: int = 2) -> Process:
        process = worker(self.config, name, ["redfish"], threads=threads).start()
        self.workers[name] = process
        wait_for_worker(process)
        return process

    async def start_ci(self) -> None:
        before = self.ci.text().count("connected (connection") if self.ci else 0
        self.ci = listener(self.config).start()
        await wait_until(
            lambda: self.ci is not None and self.ci.text().count("connected (connection") > before,
            60,
            "the CI's event stream",
        )

    async def push(self, index: int, *, docs: bool = False) -> Change:
        path = (DOCS if docs else CODE).format(index)
        change, _ = await self.world.push({path: b"x = 1\n"}, f"Burst {index}")
        return change

    def stop(self) -> None:
        if self.ci is not None:
            self.ci.stop()
        for process in self.workers.values():
            process.stop()


@pytest.fixture
async def lab_factory(
    world: GerritWorld,
    services: tuple[PrivateRabbitMQ, PrivateRedis],
    request: pytest.FixtureRequest,
) -> AsyncIterator[Callable[..., Lab]]:
    rabbit, redis_server = services
    labs: list[Lab] = []

    def make(step: str = "sleep 0.2", timeout: int = 120, **options: object) -> Lab:
        config = write_pool_ci_yaml(
            world,
            world.tmp / "ci",
            broker=rabbit.url,
            backend=redis_server.url,
            testbeds=FOUR_TESTBEDS,
            jobs=job("redfish-deploy", "redfish", step, timeout),
            prefix=f"t{abs(hash(request.node.name)) % 10**8}",
            **options,  # type: ignore[arg-type]
        )
        lab = Lab(world, config)
        labs.append(lab)
        return lab

    yield make
    for lab in labs:
        lab.stop()


async def test_a_worker_killed_mid_job_leaves_the_job_to_another_and_it_is_reported_once(
    lab_factory: Callable[..., Lab],
    fault_counts: Callable[[str], None],
) -> None:
    lab = lab_factory(step="sleep 4")
    first = lab.start_worker("lab-a", threads=1)
    await lab.start_ci()
    change = await lab.push(1)
    await wait_until(lambda: "received" in first.text(), 30, "lab-a to take the job")
    lab.start_worker("lab-b", threads=1)
    first.kill()  # SIGKILL while the job sleeps
    expected = {(change.number, 1)}
    await wait_until(lambda: set(reported_per_patch_set(lab.world)) >= expected, 60, "a report")
    reported = reported_per_patch_set(lab.world)
    duplicated, lost = print_counts(fault_counts, "worker killed mid-job", expected, reported)
    assert (duplicated, lost) == (0, 0)
    assert "Build succeeded" in lab.world.messages_by(change, "sandbox-redfish-ci")[0]
    published = manifests(lab.config)
    assert [m["executor"] for m in published] == ["lab-b"]  # lab-a never published


async def test_the_broker_restarted_mid_burst_loses_nothing(
    lab_factory: Callable[..., Lab],
    fault_counts: Callable[[str], None],
    services: tuple[PrivateRabbitMQ, PrivateRedis],
) -> None:
    rabbit, _ = services
    lab = lab_factory(step="sleep 0.5")
    lab.start_worker("lab-a")
    lab.start_worker("lab-b")
    await lab.start_ci()
    changes = [await lab.push(index) for index in range(24)]
    expected = {(change.number, 1) for change in changes}
    await wait_until(lambda: len(reported_per_patch_set(lab.world)) >= 4, 60, "the first reports")
    rabbit.restart()  # SIGKILL, then start again from its disk
    await wait_until(
        lambda: set(reported_per_patch_set(lab.world)) >= expected, 120, "every report"
    )
    duplicated, lost = print_counts(
        fault_counts, "broker restarted", expected, reported_per_patch_set(lab.world)
    )
    assert (duplicated, lost) == (0, 0)


def runs_by_trigger(config: CIConfig) -> dict[str, int]:
    database = config.state.removeprefix("sqlite:///")
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT trigger, count(*) FROM ci_runs GROUP BY trigger")
        return dict(rows.fetchall())


async def test_the_ci_killed_mid_burst_of_100_reports_every_code_patch_set_once_and_docs_never(
    lab_factory: Callable[..., Lab],
    fault_counts: Callable[[str], None],
) -> None:
    lab = lab_factory(step="true")
    lab.start_worker("lab-a")
    lab.start_worker("lab-b")
    await lab.start_ci()
    code: list[Change] = []
    docs: list[Change] = []
    for index in range(100):
        if index % 5 == 4:
            docs.append(await lab.push(index, docs=True))
        else:
            code.append(await lab.push(index))
        if index == 50:
            assert lab.ci is not None
            lab.ci.kill()
    await lab.start_ci()
    expected = {(change.number, 1) for change in code}
    await wait_until(lambda: set(reported_per_patch_set(lab.world)) >= expected, 120, "80 reports")
    reported = reported_per_patch_set(lab.world)
    on_docs = sum(1 for change in docs if (change.number, 1) in reported)
    duplicated, lost = print_counts(
        fault_counts, "CI killed mid-burst", expected, reported, docs_reported=on_docs
    )
    assert (duplicated, lost, on_docs) == (0, 0, 0)


async def test_the_ci_stopped_while_30_patch_sets_arrive_catches_all_up(
    lab_factory: Callable[..., Lab],
    fault_counts: Callable[[str], None],
) -> None:
    lab = lab_factory(step="true")
    lab.start_worker("lab-a")
    await lab.start_ci()
    assert lab.ci is not None
    lab.ci.stop()  # SIGTERM: a clean stop, e.g. an upgrade
    changes = [await lab.push(index) for index in range(30)]
    await lab.start_ci()
    expected = {(change.number, 1) for change in changes}
    await wait_until(lambda: set(reported_per_patch_set(lab.world)) >= expected, 90, "30 reports")
    duplicated, lost = print_counts(
        fault_counts, "CI stopped", expected, reported_per_patch_set(lab.world)
    )
    assert (duplicated, lost) == (0, 0)


async def test_the_gerrit_connection_dropped_mid_burst_is_caught_up_by_reconciliation(
    lab_factory: Callable[..., Lab], fault_counts: Callable[[str], None], world: GerritWorld
) -> None:
    proxy = await TcpProxy("127.0.0.1", world.ssh_port).start()
    lab = lab_factory(step="true", gerrit_ssh=f"127.0.0.1:{proxy.port}")
    lab.start_worker("lab-a")
    await lab.start_ci()
    changes = [await lab.push(index) for index in range(10)]
    await proxy.cut()  # the stream is gone and cannot come back for now
    changes += [await lab.push(index) for index in range(10, 30)]
    expected = {(change.number, 1) for change in changes}
    try:
        # reconcile_interval is 10 s in this ci.yaml: the REST query finds what the stream missed
        await wait_until(lambda: set(reported_per_patch_set(world)) >= expected, 60, "30 reports")
    finally:
        await proxy.restore()
    reported = reported_per_patch_set(world)
    by_reconciliation = runs_by_trigger(lab.config).get("reconcile", 0)
    duplicated, lost = print_counts(
        fault_counts,
        "Gerrit connection dropped",
        expected,
        reported,
        found_by_reconciliation=by_reconciliation,
    )
    assert (duplicated, lost) == (0, 0)
    assert by_reconciliation >= 1
