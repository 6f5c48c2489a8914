"""Publishing: secrets scrubbed, subunit rendered for reviewers, old runs purged, S3 needs boto3."""

from __future__ import annotations

import gzip
import io
import json
import os
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import subunit  # type: ignore[import-untyped]

from driverci.ci.config import CIConfig, GerritConfig, JobConfig, LogsConfig, Step
from driverci.ci.publish import LogPublisher, check_logs_backend
from driverci.ci.retention import purge
from driverci.ci.scrub import Scrubber
from driverci.ci.testr import count_tests, parse_subunit, render_html, scrub_subunit
from driverci.errors import ConfigError


def subunit_stream(tests: list[tuple[str, str, str]]) -> bytes:
    """A subunit v2 stream of (test id, status, traceback) as stestr writes it."""
    out = io.BytesIO()
    writer = subunit.StreamResultToBytes(out)
    at = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    for test_id, status, traceback in tests:
        writer.status(test_id=test_id, test_status="inprogress", timestamp=at)
        if traceback:
            writer.status(
                test_id=test_id,
                file_name="traceback",
                file_bytes=traceback.encode(),
                mime_type="text/x-traceback; charset=utf8",
                eof=True,
            )
        writer.status(test_id=test_id, test_status=status, timestamp=at + timedelta(seconds=2))
    return out.getvalue()


def logs_config(tmp_path: Path, **kw: object) -> CIConfig:
    return CIConfig(
        name="Sandbox Redfish CI",
        gerrit=GerritConfig(url="http://127.0.0.1:1", ssh="127.0.0.1:2", username="ci"),
        project="openstack/ironic",
        driver="redfish",
        started=date(2026, 1, 1),
        wiki="https://wiki.example.org/ThirdPartySystems/Sandbox_Redfish_CI",
        jobs=[JobConfig(name="unit", steps=[Step(run="true")])],
        logs=LogsConfig(url="http://logs.example.org/", **kw),  # type: ignore[arg-type]
    )


def test_the_scrubber_masks_known_secrets_keys_and_url_passwords() -> None:
    scrubber = Scrubber.from_environment(
        {"OS_PASSWORD": "cloud-pass-1", "API_TOKEN": "tok-42-abc", "HOME": "/root", "X_KEY": "1"},
        ["gerrit-http-pw"],
    )
    text = (
        "login gerrit-http-pw cloud-pass-1 tok-42-abc at /root\n"
        "git clone https://ci:s3cr3t@review.example.org/openstack/ironic\n"
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n"
    )
    scrubbed = scrubber.scrub(text)
    for secret in ("gerrit-http-pw", "cloud-pass-1", "tok-42-abc", "s3cr3t", "MIIEowIBAAKCAQEA"):
        assert secret not in scrubbed
    assert "/root" in scrubbed  # HOME is not a secret
    assert "https://ci:***@review.example.org/openstack/ironic" in scrubbed


def test_subunit_is_counted_and_rendered_failures_first() -> None:
    stream = subunit_stream(
        [
            ("ironic.tests.test_power.TestPower.test_on", "success", ""),
            ("ironic.tests.test_power.TestPower.test_off", "fail", "AssertionError: stuck <on>"),
            ("ironic.tests.test_power.TestPower.test_boot", "skip", ""),
        ]
    )
    records = parse_subunit(stream)
    counts = count_tests(records)
    assert (counts.passed, counts.failed, counts.skipped) == (1, 1, 1)
    page = render_html(records, "redfish-unit")
    assert "AssertionError: stuck &lt;on&gt;" in page  # escaped, readable
    assert page.index("test_off") < page.index("test_on")
    assert ">1</td>" in page


def test_secrets_in_a_subunit_stream_are_masked_and_the_stream_stays_valid() -> None:
    stream = subunit_stream([("t.test_login", "fail", "login failed for password=pw-9876")])
    cleaned = scrub_subunit(stream, Scrubber(["pw-9876"]).scrub)
    assert b"pw-9876" not in cleaned
    (record,) = parse_subunit(cleaned)
    assert record.status == "fail" and "password=***" in record.details


async def test_published_files_are_world_readable_with_a_gzipped_results_page(
    tmp_path: Path,
) -> None:
    staging = tmp_path / "staging"
    (staging / "logs").mkdir(parents=True)
    (staging / "job-output.txt").write_text("2026-01-05 10:00:00.000000 | token abc-secret-1\n")
    (staging / "testr_results.html").write_text("<html>abc-secret-1 results</html>")
    (staging / "logs" / "ironic.conf").write_text("[redfish]\npassword = abc-secret-1\n")
    os.umask(0o077)
    try:
        config = logs_config(tmp_path, dir=tmp_path / "logs")
        await LogPublisher(config.logs).publish(
            staging, "45/12345/2/check/unit/0190abc", Scrubber(["abc-secret-1"])
        )
    finally:
        os.umask(0o022)
    published = tmp_path / "logs" / "45/12345/2/check/unit/0190abc"
    assert (published / "logs" / "ironic.conf").read_text() == "[redfish]\npassword = ***\n"
    page = gzip.decompress((published / "testr_results.html.gz").read_bytes()).decode()
    assert page == "<html>*** results</html>"
    for path in [published, *published.rglob("*")]:
        assert path.stat().st_mode & 0o004, path
    assert (tmp_path / "logs" / "45").stat().st_mode & 0o005 == 0o005


def test_s3_logs_without_boto3_are_refused_at_startup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # as if boto3 were not installed
    config = logs_config(tmp_path, s3="s3://ci-logs/redfish")
    with pytest.raises(ConfigError, match=r"logs\.s3 needs the boto3 package"):
        check_logs_backend(config.logs)


def make_run(root: Path, log_path: str, finished: datetime | None) -> Path:
    run = root / log_path
    run.mkdir(parents=True)
    (run / "job-output.txt").write_text("output\n")
    if finished is not None:
        manifest = {"finished": finished.isoformat(), "result": "SUCCESS"}
        (run / "driverci-manifest.json").write_text(json.dumps(manifest))
    return run


def test_purge_removes_only_runs_past_retention(tmp_path: Path) -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    logs = tmp_path / "logs"
    old = make_run(logs, "45/12345/1/check/unit/0190aaa", now - timedelta(days=45))
    recent = make_run(logs, "45/12345/2/check/unit/0190bbb", now - timedelta(days=29))
    undated = make_run(logs, "46/12346/1/check/unit/0190ccc", None)
    old_mtime = (now - timedelta(days=60)).timestamp()
    os.utime(undated, (old_mtime, old_mtime))
    outside = tmp_path / "keep-me"
    outside.mkdir()
    (logs / "99").symlink_to(outside)  # a link out of the logs directory is never followed

    removed = purge(logs_config(tmp_path, dir=logs, retention_days=30), now)

    assert removed == 2
    assert not old.exists() and not undated.exists() and recent.exists()
    assert not (logs / "46").exists()  # emptied parents go too
    assert (logs / "45" / "12345" / "2").exists()
    assert outside.is_dir()
