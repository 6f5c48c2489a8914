"""A vendor's CI on two executor hosts, each with its own address (network namespaces on a
bridge of this machine), each in front of a lab network only it can reach. The listener,
Gerrit, RabbitMQ and Redis sit on the bridge's host side. A job of a label lands on the
host serving that label, and its BMC check could succeed nowhere else."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from netns import BMC, Lab, lab
from pool_fixtures import (
    Bed,
    job,
    listener,
    manifests,
    print_counts,
    wait_for_worker,
    worker,
    write_pool_ci_yaml,
)

from brokers import PrivateRabbitMQ, PrivateRedis, brokers
from driverci.store.db import Store
from world import GerritWorld, build_world, reported_per_patch_set, wait_until

pytestmark = pytest.mark.services

# The labs' own networks: addresses on each host's loopback, unknown everywhere else.
IDRAC_BMCS = {"idrac-1": "172.16.10.1", "idrac-2": "172.16.10.2"}
REDFISH_BMCS = {"rf-1": "172.16.20.1"}
# The BMC answers with its testbed's name: the job checks it reached its own testbed's BMC.
BMC_CHECK = (
    'curl -sf --max-time 5 "http://$BMC_ADDRESS/redfish/v1/" | grep -F "\\"$DRIVERCI_TESTBED\\""'
)
CHANGES = 6


@pytest.fixture
def hosts() -> Iterator[Lab]:
    with lab(("a", "b")) as running:
        yield running


@pytest.fixture
def services(hosts: Lab) -> Iterator[tuple[PrivateRabbitMQ, PrivateRedis]]:
    with brokers(host=hosts.gateway) as running:
        yield running


@pytest.fixture
async def gerrit(hosts: Lab, tmp_path: Path, store: Store) -> AsyncIterator[GerritWorld]:
    """The emulator on the bridge's address: the workers fetch patch sets from it."""
    built = await build_world(tmp_path, store, host=hosts.gateway)
    try:
        yield built
    finally:
        await built.server.stop()
        built.state.close()


@pytest.fixture
def bmcs(hosts: Lab) -> Iterator[dict[str, BMC]]:
    host_a, host_b = hosts.hosts["a"], hosts.hosts["b"]
    started: dict[str, BMC] = {}
    try:
        for testbed, address in IDRAC_BMCS.items():
            started[testbed] = BMC(host_a, address, testbed).start()
        for testbed, address in REDFISH_BMCS.items():
            started[testbed] = BMC(host_b, address, testbed).start()
        yield started
    finally:
        for bmc in started.values():
            bmc.stop()


async def test_a_job_of_a_label_lands_on_the_host_that_can_reach_its_testbeds(
    hosts: Lab,
    gerrit: GerritWorld,
    services: tuple[PrivateRabbitMQ, PrivateRedis],
    bmcs: dict[str, BMC],
    fault_counts: Callable[[str], None],
) -> None:
    host_a, host_b = hosts.hosts["a"], hosts.hosts["b"]
    # What makes success prove placement: each lab's BMCs answer its own host only.
    for testbed in IDRAC_BMCS:
        assert host_a.fetch(bmcs[testbed].url) is not None
        assert host_b.fetch(bmcs[testbed].url) is None, f"{testbed}'s BMC reachable from B"
    for testbed in REDFISH_BMCS:
        assert host_b.fetch(bmcs[testbed].url) is not None
        assert host_a.fetch(bmcs[testbed].url) is None, f"{testbed}'s BMC reachable from A"

    rabbit, redis_server = services
    config = write_pool_ci_yaml(
        gerrit,
        gerrit.tmp / "ci",
        broker=rabbit.url,
        backend=redis_server.url,
        testbeds=[
            *(Bed(name, ("idrac",), bmc, f"{name}-pw") for name, bmc in IDRAC_BMCS.items()),
            *(Bed(name, ("redfish",), bmc, f"{name}-pw") for name, bmc in REDFISH_BMCS.items()),
        ],
        jobs="\n".join(
            [job("idrac-deploy", "idrac", BMC_CHECK), job("redfish-deploy", "redfish", BMC_CHECK)]
        ),
    )
    worker_a = worker(config, "host-a", ["idrac"], netns=host_a.namespace).start()
    worker_b = worker(config, "host-b", ["redfish"], netns=host_b.namespace).start()
    ci = listener(config).start()
    try:
        wait_for_worker(worker_a)
        wait_for_worker(worker_b)
        await wait_until(lambda: "connected (connection 1)" in ci.text(), 60, "the CI's stream")
        pushed = [
            (await gerrit.push({f"ironic/drivers/modules/redfish/m{i}.py": b"x = 1\n"}, f"M{i}"))[0]
            for i in range(CHANGES)
        ]
        expected = {(change.number, 1) for change in pushed}
        await wait_until(
            lambda: set(reported_per_patch_set(gerrit)) >= expected, 90, f"{CHANGES} reports"
        )
    finally:
        ci.stop()
        worker_a.stop()
        worker_b.stop()

    reported = reported_per_patch_set(gerrit)
    published = manifests(config)
    print_counts(
        fault_counts,
        "multi-host",
        expected,
        reported,
        jobs=len(published),
        on_host_a=sum(manifest["executor"] == "host-a" for manifest in published),
        on_host_b=sum(manifest["executor"] == "host-b" for manifest in published),
    )
    assert set(reported.values()) == {1}, ci.text()[-3000:]
    for change in pushed:
        comment = gerrit.messages_by(change, "sandbox-redfish-ci")[0]
        assert "Build succeeded" in comment, comment
    assert len(published) == 2 * CHANGES
    assert all(manifest["result"] == "SUCCESS" for manifest in published), published
    for manifest in published:
        placed = (manifest["job"], manifest["executor"], manifest["testbed"])
        if manifest["job"] == "idrac-deploy":
            assert placed[1:] in {("host-a", name) for name in IDRAC_BMCS}, placed
        else:
            assert placed[1:] in {("host-b", name) for name in REDFISH_BMCS}, placed
