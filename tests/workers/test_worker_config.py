"""What an operator writes for a pool and many hosts, and what they are told when it is wrong:
ci.yaml's testbeds and celery sections, the request a worker refuses, the secrets scrubbed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pool_fixtures import DRIVERCI

from driverci.ci.config import CIConfig, load_ci_config
from driverci.ci.model import JobRequest, PatchSetTarget
from driverci.ci.scrub import Scrubber, secret_values
from driverci.ci.workers.app import with_password
from driverci.ci.workers.wire import WireError, decode_request, encode_request
from driverci.errors import ConfigError

BASE = """\
name: Lab Redfish CI
gerrit: {url: "http://127.0.0.1:1", ssh: "127.0.0.1:2", username: lab-ci}
project: openstack/ironic
driver: redfish
started: 2026-01-01
wiki: https://wiki.example.org/ThirdPartySystems/Lab_CI
logs: {dir: ./logs, url: "http://logs.example.org/"}
"""


def write(tmp_path: Path, text: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "ci.yaml"
    path.write_text(BASE + text)
    return path


def test_the_short_form_of_testbeds_is_n_anonymous_testbeds_per_label(tmp_path: Path) -> None:
    config = load_ci_config(
        write(
            tmp_path,
            "testbeds: {redfish: 2}\n"
            "jobs: [{name: unit, label: redfish, steps: [{run: 'true'}]}]\n",
        )
    )
    assert [(t.name, t.labels) for t in config.testbeds] == [
        ("redfish-1", ["redfish"]),
        ("redfish-2", ["redfish"]),
    ]
    assert config.executor == "local" and config.celery is None


def test_a_job_asking_for_a_label_no_testbed_has_is_one_line_naming_the_file(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "testbeds: [{name: r1, labels: [redfish]}]\n"
        "jobs: [{name: deploy, label: ilo, steps: [{run: 'true'}]}]\n",
    )
    with pytest.raises(ConfigError) as error:
        load_ci_config(path)
    assert str(path) in str(error.value) and "no testbed has the label 'ilo'" in str(error.value)


def test_the_celery_section_wants_a_rabbitmq_and_a_redis_url(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "executor: celery\ncelery: {broker: 'redis://127.0.0.1:6379/0'}\n"
        "jobs: [{name: unit, steps: [{run: 'true'}]}]\n",
    )
    with pytest.raises(ConfigError, match="amqp:// URL"):
        load_ci_config(path)
    defaults = load_ci_config(
        write(tmp_path, "executor: celery\njobs: [{name: unit, steps: [{run: 'true'}]}]\n")
    )
    assert defaults.celery is not None and defaults.celery.broker.startswith("amqp://")


def test_passwords_come_from_files_into_the_urls(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("p@ss/word\n")
    assert (
        with_password("amqp://driverci@mq:5672/ci", secret)
        == "amqp://driverci:p%40ss%2Fword@mq:5672/ci"
    )
    assert with_password("redis://redis:6379/0", secret) == "redis://:p%40ss%2Fword@redis:6379/0"
    assert with_password("redis://redis:6379/0", None) == "redis://redis:6379/0"


def lab_config(tmp_path: Path, step: str) -> CIConfig:
    return load_ci_config(
        write(
            tmp_path,
            "executor: celery\ntestbeds: [{name: r1, labels: [redfish]}]\n"
            f"jobs: [{{name: deploy, label: redfish, steps: [{{run: '{step}'}}]}}]\n",
        )
    )


def request_for(config: CIConfig) -> JobRequest:
    target = PatchSetTarget(
        "openstack/ironic", "master", 7, 1, "a" * 40, "refs/changes/07/7/1", "x"
    )
    return JobRequest(
        "run-1",
        target,
        config.jobs[0],
        "check",
        "redfish",
        config.name,
        "07/7/1",
        "u/",
        testbed=config.testbeds[0],
    )


def test_a_worker_runs_only_the_jobs_of_its_own_ci_yaml(tmp_path: Path) -> None:
    listener_side = lab_config(tmp_path / "a", "./deploy.sh")
    payload = encode_request(request_for(listener_side))
    assert "deploy.sh" not in str(payload)  # the broker carries no command
    same = decode_request(payload, lab_config(tmp_path / "b", "./deploy.sh"))
    assert same.job.steps[0].run == "./deploy.sh" and same.testbed is not None
    with pytest.raises(WireError, match="defined differently"):
        decode_request(payload, lab_config(tmp_path / "c", "./deploy.sh --old"))
    with pytest.raises(WireError, match="testbed 'r9'"):
        decode_request({**payload, "testbed": "r9"}, lab_config(tmp_path / "d", "./deploy.sh"))


def test_secret_files_give_their_secret_values_and_nothing_else() -> None:
    assert secret_values("hunter22\n") == ["hunter22"]
    bmc = "username: root\npassword: 'calvin-123'\naddress: 10.0.0.5\n"
    assert secret_values(bmc) == ["calvin-123"]
    ini = "[default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = abc/def+ghi\n"
    assert secret_values(ini) == ["AKIAEXAMPLE", "abc/def+ghi"]
    scrubbed = Scrubber(secret_values(bmc)).scrub("ipmitool -U root -P calvin-123 power on")
    assert scrubbed == "ipmitool -U root -P *** power on"


def test_a_worker_for_a_label_no_testbed_has_refuses_to_start_in_one_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "executor: celery\ntestbeds: [{name: r1, labels: [redfish]}]\n"
        "jobs: [{name: deploy, label: redfish, steps: [{run: 'true'}]}]\n",
    )
    done = subprocess.run(
        [DRIVERCI, "ci", "worker", "-c", str(path), "--labels", "idrac"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "no testbed in ci.yaml has the label 'idrac' (labels: redfish)" in done.stderr
    assert "Traceback" not in done.stderr
