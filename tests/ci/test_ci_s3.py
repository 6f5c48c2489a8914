"""Logs on S3-compatible storage: a real S3 server (moto) on 127.0.0.1, real boto3.

A vendor points ``logs.s3`` at a bucket of their own store (``logs.s3_endpoint``) with
credentials in a file only the CI reads; reviewers open the runs in a browser, and runs
older than the retention period disappear from the bucket.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_ci_executor import make_config, make_request

from driverci.ci.config import (
    CIConfig,
    GerritConfig,
    JobConfig,
    LogsConfig,
    Step,
    load_ci_config,
)
from driverci.ci.executor import LocalExecutor
from driverci.ci.publish import LogPublisher
from driverci.ci.queue import uuid7
from driverci.ci.retention import purge
from driverci.ci.scrub import Scrubber
from driverci.ci.service import log_path_for
from driverci.errors import ConfigError, DriverCIError
from driverci.store.models import CIRun
from world import GerritWorld

BUCKET = "ci-logs"
ACCESS_KEY = "AKIADRIVERCITEST01"
SECRET_KEY = "s3-secret-key-for-redfish-ci"


def _require_moto() -> None:
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("boto3") is None:
        if os.environ.get("DRIVERCI_REQUIRE_SERVICES") == "1":
            pytest.fail("moto[server] and boto3 are required (DRIVERCI_REQUIRE_SERVICES=1)")
        pytest.skip("moto[server] or boto3 not installed: pip install 'moto[server]' boto3")


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A real S3 API server (moto) on an ephemeral port of 127.0.0.1."""
    _require_moto()
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def clean_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials anywhere but the CI's file: boto3 must not find any of its own."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-such-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-such-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def boto_client(endpoint: str) -> Any:
    import boto3  # type: ignore[import-untyped]

    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
    )


@pytest.fixture
def bucket(s3_endpoint: str) -> Iterator[str]:
    client = boto_client(s3_endpoint)
    client.create_bucket(Bucket=BUCKET)
    # The vendor's one-time setup: logs are readable by anyone, without login (infra's rule).
    public_read = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{BUCKET}/*",
            }
        ],
    }
    client.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(public_read))
    try:
        yield BUCKET
    finally:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            for entry in page.get("Contents", []):
                client.delete_object(Bucket=BUCKET, Key=entry["Key"])
        client.delete_bucket(Bucket=BUCKET)


def s3_config(tmp_path: Path, endpoint: str, credentials: Path | None = None) -> CIConfig:
    if credentials is None:
        credentials = tmp_path / "secrets" / "s3.ini"
        credentials.parent.mkdir(exist_ok=True)
        credentials.write_text(
            f"[default]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
        )
    return CIConfig(
        name="Sandbox Redfish CI",
        gerrit=GerritConfig(url="http://127.0.0.1:1", ssh="127.0.0.1:2", username="ci"),
        project="openstack/ironic",
        driver="redfish",
        started=date(2026, 1, 1),
        wiki="https://wiki.example.org/ThirdPartySystems/Sandbox_Redfish_CI",
        jobs=[JobConfig(name="redfish-unit", steps=[Step(run="true")])],
        logs=LogsConfig(
            url="https://logs.example.org/redfish",
            s3=f"s3://{BUCKET}/redfish",
            s3_endpoint=endpoint,
            s3_credentials_file=credentials,
        ),
    )


def staged_run(tmp_path: Path, leaked: str) -> Path:
    """What a finished run leaves in its staging directory (one line leaks a secret)."""
    staging = tmp_path / "staging"
    (staging / "logs").mkdir(parents=True)
    (staging / "job-output.txt").write_text(
        f"2026-01-05 10:00:00.000000 | $ env\n2026-01-05 10:00:00.000001 | S3 key {leaked}\n"
    )
    (staging / "driverci-manifest.json").write_text('{"result": "SUCCESS"}\n')
    (staging / "testr_results.html").write_text(f"<html><body>{leaked} 3 passed</body></html>")
    (staging / "logs" / "ironic.conf").write_text(f"[redfish]\npassword = {leaked}\n")
    return staging


def run_log_path(config: CIConfig, change: int, patch_set: int) -> str:
    run = CIRun(id=uuid7(), change_number=change, patch_set=patch_set)
    return log_path_for(config, run, "redfish-unit")


async def test_a_run_lands_in_the_bucket_in_infras_layout_scrubbed_and_browsable(
    tmp_path: Path, s3_endpoint: str, bucket: str, clean_aws_env: None
) -> None:
    config = s3_config(tmp_path, s3_endpoint)
    executor = LocalExecutor(config, tmp_path / "workspaces", sandbox_mode="none")
    log_path = run_log_path(config, 12345, 2)
    assert log_path.startswith("45/12345/2/check/redfish-unit/")

    # The credentials come from the CI's file only; the scrubber masks them in every log.
    await executor.publisher.publish(
        staged_run(tmp_path, SECRET_KEY), log_path, executor.scrubber()
    )

    client = boto_client(s3_endpoint)
    run_prefix = f"redfish/{log_path}/"
    listing = client.list_objects_v2(Bucket=bucket, Prefix=run_prefix)
    keys = sorted(entry["Key"].removeprefix(run_prefix) for entry in listing["Contents"])
    assert keys == [
        "driverci-manifest.json",
        "job-output.txt",
        "logs/ironic.conf",
        "testr_results.html",
        "testr_results.html.gz",
    ]
    output = client.get_object(Bucket=bucket, Key=run_prefix + "job-output.txt")
    assert output["ContentType"] == "text/plain; charset=utf-8"
    text = output["Body"].read().decode()
    assert "S3 key ***" in text and SECRET_KEY not in text
    conf = client.get_object(Bucket=bucket, Key=run_prefix + "logs/ironic.conf")
    assert conf["Body"].read() == b"[redfish]\npassword = ***\n"
    manifest = client.head_object(Bucket=bucket, Key=run_prefix + "driverci-manifest.json")
    assert manifest["ContentType"] == "application/json"

    # A browser opening the .gz page gets HTML it can show inline, already decompressed.
    async with httpx.AsyncClient() as browser:
        page = await browser.get(f"{s3_endpoint}/{bucket}/{run_prefix}testr_results.html.gz")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-encoding"] == "gzip"
    assert page.text == "<html><body>*** 3 passed</body></html>"


async def test_old_runs_are_purged_from_the_bucket_and_nothing_else(
    tmp_path: Path, s3_endpoint: str, bucket: str, clean_aws_env: None
) -> None:
    config = s3_config(tmp_path, s3_endpoint)
    publisher = LogPublisher(config.logs)
    executor = LocalExecutor(config, tmp_path / "workspaces", sandbox_mode="none")
    first, second = run_log_path(config, 12345, 1), run_log_path(config, 12346, 1)
    for path in (first, second):
        await publisher.publish(staged_run(tmp_path / path, "x"), path, executor.scrubber())
    client = boto_client(s3_endpoint)
    client.put_object(Bucket=bucket, Key="redfish/README.txt", Body=b"our CI's logs\n")
    client.put_object(Bucket=bucket, Key="other-ci/45/12345/1/check/a/b/job-output.txt", Body=b"")

    now = datetime.now(UTC)
    assert purge(config, now + timedelta(days=29)) == 0  # a month is kept
    assert purge(config, now + timedelta(days=31)) == 2

    left = sorted(e["Key"] for e in client.list_objects_v2(Bucket=bucket)["Contents"])
    assert left == ["other-ci/45/12345/1/check/a/b/job-output.txt", "redfish/README.txt"]


def test_unreadable_or_incomplete_credentials_stop_the_ci_at_startup(
    tmp_path: Path, s3_endpoint: str
) -> None:
    missing = tmp_path / "nope.ini"
    with pytest.raises(ConfigError, match=r"nope\.ini: cannot read the S3 credentials"):
        LogPublisher(s3_config(tmp_path, s3_endpoint, missing).logs)
    half = tmp_path / "half.ini"
    half.write_text("[default]\naws_access_key_id = AKIA1\n")
    with pytest.raises(ConfigError, match=r"half\.ini: \[default\] needs aws_access_key_id"):
        LogPublisher(s3_config(tmp_path, s3_endpoint, half).logs)


async def test_a_bucket_that_does_not_exist_fails_the_publish_with_one_clear_line(
    tmp_path: Path, s3_endpoint: str, clean_aws_env: None
) -> None:
    config = s3_config(tmp_path, s3_endpoint)
    publish = LogPublisher(config.logs).publish(
        staged_run(tmp_path, "x"), run_log_path(config, 12345, 1), Scrubber([])
    )
    with pytest.raises(DriverCIError, match=r"^s3://ci-logs/redfish/45/12345/1/.*NoSuchBucket"):
        await publish


async def test_a_job_cannot_read_the_s3_credentials_and_its_log_still_reaches_the_bucket(
    world: GerritWorld, s3_endpoint: str, bucket: str, clean_aws_env: None
) -> None:
    credentials = world.tmp / "s3-secrets" / "s3.ini"
    credentials.parent.mkdir()
    credentials.write_text(
        f"[default]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
    )
    probe = f"cat {credentials} && echo CREDENTIALS-READABLE || echo credentials-hidden"
    job_config = JobConfig(name="redfish-unit", steps=[Step(run=probe)])
    s3_logs = s3_config(world.tmp, s3_endpoint, credentials).logs
    config = make_config(world, job_config).model_copy(update={"logs": s3_logs})
    change, ps = await world.push({"README.rst": b"x\n"})
    request = make_request(world, change, ps, job_config)

    executor = LocalExecutor(config, world.tmp / "ws")
    # Hidden like the Gerrit secrets (under /tmp bubblewrap's private /tmp hides it anyway).
    assert credentials.parent.resolve() in executor.sandbox.hidden_dirs
    outcome = await executor.run(request, asyncio.Event())

    key = f"redfish/{request.log_path}/job-output.txt"
    output = boto_client(s3_endpoint).get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    assert outcome.result == "SUCCESS", output
    said = {line.split(" | ", 1)[1] for line in output.splitlines()}
    assert "credentials-hidden" in said and "CREDENTIALS-READABLE" not in said
    assert SECRET_KEY not in output


def test_ci_yaml_s3_settings_are_validated_and_paths_are_relative_to_the_file(
    tmp_path: Path,
) -> None:
    ci_yaml = tmp_path / "ci" / "ci.yaml"
    ci_yaml.parent.mkdir()
    text = """\
name: Sandbox Redfish CI
gerrit: {url: "http://127.0.0.1:1", ssh: "127.0.0.1:2", username: ci}
project: openstack/ironic
driver: redfish
started: 2026-01-01
wiki: https://wiki.example.org/ThirdPartySystems/Sandbox_Redfish_CI
jobs: [{name: unit, steps: [{run: "true"}]}]
logs:
  url: https://logs.example.org/redfish
"""
    ci_yaml.write_text(
        text + "  s3: s3://ci-logs/redfish\n  s3_endpoint: http://127.0.0.1:9000\n"
        "  s3_credentials_file: ./secrets/s3.ini\n"
    )
    logs = load_ci_config(ci_yaml).logs
    assert logs.s3_credentials_file == tmp_path / "ci" / "secrets" / "s3.ini"
    assert logs.s3_endpoint == "http://127.0.0.1:9000"

    ci_yaml.write_text(text + "  dir: ./logs\n  s3_endpoint: http://127.0.0.1:9000\n")
    with pytest.raises(ConfigError, match="s3_endpoint and s3_credentials_file only apply"):
        load_ci_config(ci_yaml)
