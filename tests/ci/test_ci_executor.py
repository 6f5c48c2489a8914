"""Story tests of the local executor: real git from the emulator, real bubblewrap, real stestr."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

import pytest

from driverci.ci.config import CIConfig, GerritConfig, JobConfig, LogsConfig, Step
from driverci.ci.executor import LocalExecutor
from driverci.ci.model import JobOutcome, JobRequest, PatchSetTarget
from driverci.emulator.state.model import Change, PatchSet, change_ref
from world import PROJECT, GerritWorld

PASSWORD = "sandbox-redfish-ci-secret"
STAMPED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} \| ")


def make_config(world: GerritWorld, job: JobConfig) -> CIConfig:
    secrets = world.tmp / "secrets"
    secrets.mkdir(exist_ok=True)
    (secrets / "http-password").write_text(PASSWORD + "\n")
    (secrets / "http-password").chmod(0o600)
    return CIConfig(
        name="Sandbox Redfish CI",
        gerrit=GerritConfig(
            url=world.url,
            ssh=f"127.0.0.1:{world.ssh_port}",
            username="sandbox-redfish-ci",
            http_password_file=secrets / "http-password",
        ),
        project=PROJECT,
        driver="redfish",
        started=date(2026, 1, 1),
        wiki="https://wiki.example.org/ThirdPartySystems/Sandbox_Redfish_CI",
        jobs=[job],
        logs=LogsConfig(dir=world.tmp / "logs", url="http://logs.example.org/"),
    )


def job(
    *commands: str, timeout: int = 60, step_timeout: int | None = None, **kw: object
) -> JobConfig:
    steps = [Step(run=c, timeout=step_timeout) for c in commands]
    return JobConfig(name="redfish-unit", timeout=timeout, steps=steps, **kw)  # type: ignore[arg-type]


def make_request(
    world: GerritWorld,
    change: Change,
    ps: PatchSet,
    job_config: JobConfig,
    run_id: str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
) -> JobRequest:
    number = change.number
    log_path = f"{number % 100:02d}/{number}/{ps.number}/check/{job_config.name}/{run_id[:7]}"
    return JobRequest(
        run_id=run_id,
        target=PatchSetTarget(
            project=PROJECT,
            branch="master",
            change=change.number,
            patch_set=ps.number,
            revision=ps.revision,
            ref=change_ref(change.number, ps.number),
            fetch_url=f"{world.url}/{PROJECT}",
        ),
        job=job_config,
        pipeline="check",
        driver="redfish",
        ci_name="Sandbox Redfish CI",
        log_path=log_path,
        log_url=f"http://logs.example.org/{log_path}/",
    )


async def run_job(
    world: GerritWorld,
    job_config: JobConfig,
    files: dict[str, bytes | None] | None = None,
    cancel: asyncio.Event | None = None,
    **executor_kw: object,
) -> tuple[JobOutcome, Path]:
    change, ps = await world.push(files or {"ironic/drivers/redfish.py": b"supported = True\n"})
    config = make_config(world, job_config)
    executor = LocalExecutor(config, world.tmp / "workspaces", **executor_kw)  # type: ignore[arg-type]
    request = make_request(world, change, ps, job_config)
    outcome = await executor.run(request, cancel or asyncio.Event())
    assert config.logs.dir is not None
    return outcome, config.logs.dir / request.log_path


async def test_a_good_patch_set_succeeds_with_stamped_output_and_a_manifest(
    world: GerritWorld,
) -> None:
    change, ps = await world.push({"ironic/drivers/redfish.py": b"supported = True\n"})
    job_config = job(
        "echo testing change $ZUUL_CHANGE patchset $ZUUL_PATCHSET of $ZUUL_PROJECT",
        "cat ironic/drivers/redfish.py",
    )
    config = make_config(world, job_config)
    request = make_request(world, change, ps, job_config)
    outcome = await LocalExecutor(config, world.tmp / "ws").run(request, asyncio.Event())

    assert outcome.result == "SUCCESS", outcome.detail
    assert outcome.log_url == request.log_url
    published = world.tmp / "logs" / request.log_path
    output = (published / "job-output.txt").read_text()
    assert all(STAMPED.match(line) for line in output.splitlines())
    assert f"Triggered by: {world.url}/c/{PROJECT}/+/{change.number} patchset 1" in output
    assert f"Detailed logs: {request.log_url}" in output
    assert f"testing change {change.number} patchset 1 of {PROJECT}" in output
    assert "supported = True" in output  # the patch set's content was checked out
    manifest = json.loads((published / "driverci-manifest.json").read_text())
    assert manifest["revision"] == ps.revision
    assert manifest["merged_revision"] == ps.revision  # parent is the tip: fast-forward
    assert manifest["result"] == "SUCCESS" and manifest["job"] == "redfish-unit"
    assert manifest["change"] == change.number and manifest["patch_set"] == 1
    assert manifest["started"].endswith("+00:00") and manifest["ci"] == "Sandbox Redfish CI"
    assert (published / "job-output.txt").stat().st_mode & 0o444 == 0o444
    assert not (world.tmp / "ws" / request.run_id).exists()  # workspace cleaned up


async def test_a_failing_step_is_a_failure_with_its_output_visible(world: GerritWorld) -> None:
    outcome, published = await run_job(
        world, job("echo before", "echo 'redfish power test exploded' >&2; exit 3", "echo never")
    )
    assert outcome.result == "FAILURE"
    assert "exited with 3" in outcome.detail
    output = (published / "job-output.txt").read_text()
    assert "redfish power test exploded" in output
    assert "never" not in output.split("exit 3")[-1]


STESTR_FILES: dict[str, bytes | None] = {
    ".stestr.conf": b"[DEFAULT]\ntest_path=./tinypkg/tests\ntop_dir=./\n",
    "tinypkg/__init__.py": b"",
    "tinypkg/tests/__init__.py": b"",
    "tinypkg/tests/test_power.py": (
        b"import unittest\n\n"
        b"class TestPower(unittest.TestCase):\n"
        b"    def test_on(self):\n        self.assertTrue(True)\n\n"
        b"    def test_off(self):\n        self.assertEqual('on', 'off', 'power state stuck')\n\n"
        b"    @unittest.skip('no BMC')\n    def test_reboot(self):\n        pass\n"
    ),
}


async def test_a_stestr_run_publishes_results_naming_the_failing_test(world: GerritWorld) -> None:
    outcome, published = await run_job(world, job("python -m stestr run"), STESTR_FILES)

    assert outcome.result == "FAILURE"
    assert (outcome.tests.passed, outcome.tests.failed, outcome.tests.skipped) == (1, 1, 1)
    page = (published / "testr_results.html").read_text()
    assert "tinypkg.tests.test_power.TestPower.test_off" in page
    assert "power state stuck" in page  # the traceback is shown
    assert page.index("test_off") < page.index("test_on")  # failures first
    assert (published / "testr_results.html.gz").is_file()
    assert (published / "testrepository.subunit").stat().st_size > 0
    manifest = json.loads((published / "driverci-manifest.json").read_text())
    assert manifest["tests"] == {"passed": 1, "failed": 1, "skipped": 1}


async def test_a_merge_conflict_is_not_a_test_failure(world: GerritWorld) -> None:
    _, first_ps = await world.push({"README.rst": b"Ironic, first\n"}, "First")
    second, second_ps = await world.push({"README.rst": b"Ironic, second\n"}, "Second")
    unrelated, unrelated_ps = await world.push({"doc/source/index.rst": b"More docs\n"}, "Docs")
    await world.git.update_ref(PROJECT, "refs/heads/master", first_ps.revision)
    world.state.set_branch(PROJECT, "master", first_ps.revision)

    job_config = job("touch tests-ran; echo TESTS RAN")
    config = make_config(world, job_config)
    executor = LocalExecutor(config, world.tmp / "ws")
    conflicting = make_request(world, second, second_ps, job_config)
    outcome = await executor.run(conflicting, asyncio.Event())
    assert outcome.result == "MERGE_CONFLICT"
    assert "README.rst" in outcome.detail and f"change {second.number}" in outcome.detail
    output = (world.tmp / "logs" / conflicting.log_path / "job-output.txt").read_text()
    assert "TESTS RAN" not in output.replace("echo TESTS RAN", "")

    # A patch set based on the old tip that does not conflict is merged and tested.
    merging = make_request(
        world, unrelated, unrelated_ps, job_config, run_id="0190a1b2-ffff-7e5f-8a9b-0c1d2e3f4a5b"
    )
    outcome = await executor.run(merging, asyncio.Event())
    assert outcome.result == "SUCCESS"
    manifest = json.loads(
        (world.tmp / "logs" / merging.log_path / "driverci-manifest.json").read_text()
    )
    assert manifest["revision"] == unrelated_ps.revision
    assert manifest["merged_revision"] not in (None, unrelated_ps.revision)


async def test_a_step_over_its_timeout_is_killed_quickly(world: GerritWorld) -> None:
    began = time.monotonic()
    outcome, published = await run_job(world, job("sleep 30 & sleep 30", step_timeout=1))
    assert outcome.result == "TIMED_OUT"
    assert time.monotonic() - began < 10
    assert "timed out" in (published / "job-output.txt").read_text()


async def test_a_cancelled_run_stops_at_once(world: GerritWorld) -> None:
    cancel = asyncio.Event()
    asyncio.get_running_loop().call_later(1.0, cancel.set)
    began = time.monotonic()
    outcome, _ = await run_job(world, job("sleep 30"), cancel=cancel)
    assert outcome.result == "CANCELED"
    assert time.monotonic() - began < 10


async def test_a_fetch_that_fails_is_an_error_with_one_line(world: GerritWorld) -> None:
    change, ps = await world.push({"README.rst": b"x\n"})
    job_config = job("true")
    request = make_request(world, change, ps, job_config)
    broken = PatchSetTarget(
        **{**request.target.__dict__, "fetch_url": f"{world.url}/no/such-project"}
    )
    request = JobRequest(**{**request.__dict__, "target": broken})
    outcome = await LocalExecutor(make_config(world, job_config), world.tmp / "ws").run(
        request, asyncio.Event()
    )
    assert outcome.result == "ERROR"
    assert "git fetch" in outcome.detail and "\n" not in outcome.detail


async def test_a_playbook_step_needs_ansible_runner(
    world: GerritWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on a CI host without it (tests/ci/test_ci_ansible.py runs the real one).
    monkeypatch.setattr(LocalExecutor, "ANSIBLE_RUNNER", "ansible-runner-not-installed")
    playbook_job = JobConfig(name="redfish-ansible", steps=[Step(playbook=Path("site.yaml"))])
    outcome, _ = await run_job(world, playbook_job)
    assert outcome.result == "ERROR"
    assert "ansible-runner not installed" in outcome.detail


async def test_the_output_cap_truncates_with_a_marker(world: GerritWorld) -> None:
    outcome, published = await run_job(world, job("seq 1 100000", output_limit_bytes=4000))
    assert outcome.result == "SUCCESS"
    assert "truncated" in outcome.detail
    output = (published / "job-output.txt").read_text()
    assert len(output) < 5000
    assert "output truncated" in output.splitlines()[-2]
    assert "Result: SUCCESS" in output.splitlines()[-1]


@pytest.mark.parametrize("mode", ["bwrap", "setpriv"])
async def test_a_job_sees_no_secret(
    world: GerritWorld, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setenv("DRIVERCI_FAKE_API_TOKEN", "tok-0123456789-very-secret")
    password_file = world.tmp / "secrets" / "http-password"
    probe = (
        f"if cat {password_file}; then echo PASSWORD-READABLE; else echo password-hidden; fi; "
        '[ -n "$DRIVERCI_FAKE_API_TOKEN" ] && echo TOKEN-VISIBLE || echo token-absent; '
        "echo uid=$(id -u); env | cut -d= -f1 | sort | tr '\\n' ' '; echo"
    )
    workspaces = None
    if mode == "setpriv":
        # The unprivileged user must be able to reach its workspace.
        workspaces = Path(tempfile.mkdtemp(prefix="driverci-ws-"))
        workspaces.chmod(0o711)
    change, ps = await world.push({"README.rst": b"x\n"})
    job_config = job(probe)
    config = make_config(world, job_config)
    request = make_request(world, change, ps, job_config)
    executor = LocalExecutor(config, workspaces or world.tmp / "ws", sandbox_mode=mode)  # type: ignore[arg-type]
    try:
        outcome = await executor.run(request, asyncio.Event())
    finally:
        if workspaces is not None:
            shutil.rmtree(workspaces)

    output = (world.tmp / "logs" / request.log_path / "job-output.txt").read_text()
    assert outcome.result == "SUCCESS", output
    said = {line.split(" | ", 1)[1] for line in output.splitlines()}
    assert "password-hidden" in said and "PASSWORD-READABLE" not in said
    assert "token-absent" in said and "TOKEN-VISIBLE" not in said
    assert PASSWORD not in output and "tok-0123456789" not in output
    names = next(
        line for line in output.splitlines() if "ZUUL_PROJECT" in line and "LOG_URL" in line
    )
    assert "DRIVERCI_FAKE_API_TOKEN" not in names and "PYTEST_CURRENT_TEST" not in names
    assert "ZUUL_UUID" in names and "DRIVERCI_DRIVER" in names
    assert ("uid=65534" if mode == "setpriv" else "uid=0") in said


async def test_published_logs_are_scrubbed(
    world: GerritWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BMC_PASSWORD", "bmc-pass-4242")
    leaky = (
        f"password={PASSWORD}\nbmc=bmc-pass-4242\n"
        "url=https://admin:hunter22@bmc.example.org/redfish\n"
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
        "-----END OPENSSH PRIVATE KEY-----\n"
    ).encode()
    outcome, published = await run_job(
        world,
        job("cat etc/leaky.conf", artifacts=["etc/*.conf"]),
        {"etc/leaky.conf": leaky},
    )
    assert outcome.result == "SUCCESS"
    for name in ("job-output.txt", "logs/etc/leaky.conf"):
        text = (published / name).read_text()
        assert PASSWORD not in text and "bmc-pass-4242" not in text, name
        assert "hunter22" not in text and "b3BlbnNzaC1rZXktdjEAAAAA" not in text, name
        assert "https://admin:***@bmc.example.org/redfish" in text, name
    assert (published / "logs" / "etc" / "leaky.conf").stat().st_mode & 0o777 == 0o644
