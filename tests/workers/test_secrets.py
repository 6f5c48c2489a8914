"""A job on a Celery worker sees its own testbed's BMC credentials and nothing else of the
CI's secrets; what it prints is scrubbed of every secret the CI knows before publication.

The CI's directory is outside /tmp (the sandbox's private /tmp would hide it anyway), so
what hides ci.yaml, the key and the state database is the executor's own doing."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pool_fixtures import (
    CI_PASSWORD,
    Bed,
    job,
    listener,
    wait_for_worker,
    worker,
    write_pool_ci_yaml,
)

from brokers import brokers
from world import GerritWorld, reported_per_patch_set, wait_until

pytestmark = pytest.mark.services


@pytest.fixture
def ci_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="driverci-secrets-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def test_a_nosy_job_sees_only_its_testbed_and_its_log_holds_no_secret(
    world: GerritWorld, ci_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = ci_dir / "secrets" / "id_ed25519"
    key.parent.mkdir(parents=True)
    shutil.copy(world.tmp / "ci_key", key)
    secrets = ci_dir / "secrets"
    nosy = f"""
env | sort
echo "my credentials:"; cat "$BMC_CREDENTIALS"
for f in {ci_dir}/ci.yaml {secrets}/http-password {key} {ci_dir}/ci.sqlite \
         {secrets}/rf-2.yaml {secrets}/broker-password /root/.ssh; do
  if cat "$f" 2>/dev/null || ls "$f" 2>/dev/null | grep -q .; then echo "READABLE $f"
  else echo "HIDDEN $f"; fi
done
"""
    with brokers() as (rabbit, redis_server):
        config = write_pool_ci_yaml(
            world,
            ci_dir,
            broker=rabbit.url,
            backend=redis_server.url,
            broker_password="guest",
            ssh_key=key,
            testbeds=[
                Bed("rf-1", ("redfish",), "10.2.0.1", "rf-1-bmc-password"),
                Bed("rf-2", ("redfish",), "10.2.0.2", "rf-2-bmc-password"),
            ],
            jobs=job("nosy", "redfish", nosy),
            slots=1,
        )
        # The worker's own environment holds a secret of the operator's.
        monkeypatch.setenv("OS_PASSWORD", "operator-cloud-password")
        lab = worker(config, "lab-a", ["redfish"]).start()
        ci = listener(config).start()
        try:
            wait_for_worker(lab)
            await wait_until(lambda: "connected (connection 1)" in ci.text(), 60, "stream")
            change, _ = await world.push({"ironic/drivers/modules/redfish/n.py": b"x\n"}, "N")
            await wait_until(
                lambda: (change.number, 1) in reported_per_patch_set(world), 60, "the report"
            )
        finally:
            ci.stop()
            lab.stop()
    assert config.logs.dir is not None
    [output_file] = config.logs.dir.rglob("job-output.txt")
    output = output_file.read_text()
    held = "rf-1" if "DRIVERCI_TESTBED=rf-1" in output else "rf-2"
    other = "rf-2" if held == "rf-1" else "rf-1"
    assert f"BMC_ADDRESS=10.2.0.{held[-1]}" in output
    assert "my credentials:" in output and "username: root" in output
    assert "password: ***" in output  # its own password: used by the job, masked in the log
    for path in (
        ci_dir / "ci.yaml",
        secrets / "http-password",
        key,
        ci_dir / "ci.sqlite",
        secrets / "broker-password",
        secrets / f"{other}.yaml",
    ):
        assert f"HIDDEN {path}" in output, f"the job could read {path}"
    assert "READABLE /" not in output
    assert "HIDDEN /root/.ssh" in output
    for secret in (
        CI_PASSWORD,
        "rf-1-bmc-password",
        "rf-2-bmc-password",
        "operator-cloud-password",
        "guest",
        "BEGIN OPENSSH PRIVATE KEY",
        "OS_PASSWORD",
    ):
        assert secret not in output, f"{secret} in the published log"
