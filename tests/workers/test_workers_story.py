"""Stories of a vendor's CI on several hosts: the listener here, Celery workers serving
testbed labels, RabbitMQ and Redis of their own; every part a real process on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from pool_fixtures import (
    DRIVERCI,
    Bed,
    job,
    listener,
    manifests,
    wait_for_worker,
    worker,
    write_pool_ci_yaml,
)

from brokers import PrivateRabbitMQ, PrivateRedis, brokers
from world import GerritWorld, reported_per_patch_set, wait_until

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def services() -> Iterator[tuple[PrivateRabbitMQ, PrivateRedis]]:
    with brokers() as running:
        yield running


async def test_each_job_runs_on_a_worker_of_its_label_and_the_run_is_reported_once(
    world: GerritWorld, services: tuple[PrivateRabbitMQ, PrivateRedis]
) -> None:
    rabbit, redis_server = services
    config = write_pool_ci_yaml(
        world,
        world.tmp / "ci",
        broker=rabbit.url,
        backend=redis_server.url,
        testbeds=[
            Bed("idrac-1", ("idrac",), "10.1.0.1", "idrac-1-pw"),
            Bed("rf-1", ("redfish",), "10.2.0.1", "rf-1-pw"),
            Bed("rf-2", ("redfish",), "10.2.0.2", "rf-2-pw"),
        ],
        jobs="\n".join(
            [
                job("idrac-deploy", "idrac", 'test -n "$BMC_ADDRESS" && sleep 0.2'),
                job("redfish-deploy", "redfish", 'test -n "$BMC_ADDRESS" && sleep 0.2'),
            ]
        ),
    )
    lab_a = worker(config, "lab-a", ["idrac"]).start()
    lab_b = worker(config, "lab-b", ["redfish"]).start()
    ci = listener(config).start()
    try:
        wait_for_worker(lab_a)
        wait_for_worker(lab_b)
        await wait_until(lambda: "connected (connection 1)" in ci.text(), 60, "the CI's stream")
        pushed = [
            (await world.push({f"ironic/drivers/modules/redfish/m{i}.py": b"x = 1\n"}, f"M{i}"))[0]
            for i in range(3)
        ]
        expected = {(change.number, 1) for change in pushed}
        await wait_until(
            lambda: set(reported_per_patch_set(world)) >= expected, 90, "three reports"
        )
    finally:
        ci.stop()
        lab_a.stop()
        lab_b.stop()
    assert set(reported_per_patch_set(world).values()) == {1}, ci.text()[-3000:]
    comment = world.messages_by(pushed[0], "sandbox-redfish-ci")[0]
    assert "- idrac-deploy http" in comment and "- redfish-deploy http" in comment
    assert "Build succeeded" in comment
    published = manifests(config)
    assert len(published) == 6
    for manifest in published:
        if manifest["job"] == "idrac-deploy":
            assert (manifest["executor"], manifest["testbed"]) == ("lab-a", "idrac-1")
        else:
            assert manifest["executor"] == "lab-b"
            assert manifest["testbed"] in ("rf-1", "rf-2")


async def test_ci_check_names_the_queue_no_worker_consumes(
    world: GerritWorld, services: tuple[PrivateRabbitMQ, PrivateRedis]
) -> None:
    rabbit, redis_server = services
    config = write_pool_ci_yaml(
        world,
        world.tmp / "ci",
        broker=rabbit.url,
        backend=redis_server.url,
        prefix="check",
        testbeds=[Bed("idrac-1", ("idrac",)), Bed("rf-1", ("redfish",))],
        jobs="\n".join(
            [job("idrac-deploy", "idrac", "true"), job("redfish-deploy", "redfish", "true")]
        ),
    )
    assert config.source is not None
    lab_b = worker(config, "lab-b", ["redfish"]).start()
    try:
        wait_for_worker(lab_b)
        check = await asyncio.create_subprocess_exec(
            DRIVERCI,
            "ci",
            "check",
            "-c",
            str(config.source),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(check.communicate(), 120)
    finally:
        lab_b.stop()
    lines = output.decode().splitlines()
    assert check.returncode == 1
    assert any(line.startswith("ok") and "RabbitMQ answers at 127.0.0.1:" in line for line in lines)
    assert any("queue check.redfish: served by lab-b@" in line for line in lines)
    assert any(
        line.startswith("FAIL")
        and "no worker consumes check.idrac" in line
        and "--labels idrac" in line
        for line in lines
    ), lines


async def test_a_worker_refused_by_redis_stops_with_one_line(
    world: GerritWorld, services: tuple[PrivateRabbitMQ, PrivateRedis]
) -> None:
    rabbit, _ = services
    guarded = PrivateRedis(password="the-right-one")
    guarded.start()
    try:
        config = write_pool_ci_yaml(
            world,
            world.tmp / "ci",
            broker=rabbit.url,
            backend=guarded.url,
            testbeds=[Bed("rf-1", ("redfish",))],
            jobs=job("redfish-deploy", "redfish", "true"),
        )
        assert config.source is not None
        # A password this Redis does not take: the operator's settings are wrong.
        (config.source.parent / "secrets" / "redis-password").write_text("not-this-one\n")
        text = config.source.read_text().replace(
            "  lock_ttl: 3\n", "  lock_ttl: 3\n  backend_password_file: ./secrets/redis-password\n"
        )
        config.source.write_text(text)
        process = await asyncio.create_subprocess_exec(
            DRIVERCI,
            "ci",
            "worker",
            "-c",
            str(config.source),
            "--labels",
            "redfish",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, errors = await asyncio.wait_for(process.communicate(), 60)
    finally:
        guarded.kill()
    assert process.returncode != 0
    lines = errors.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert f"celery.backend 127.0.0.1:{guarded.port}" in lines[0]
    assert "not-this-one" not in lines[0]
