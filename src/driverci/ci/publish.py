"""Publish a run's logs in the layout infra requires: ``<logs>/<NN>/<change>/<ps>/<pipeline>/
<job>/<uuid7>/`` holding job-output.txt, driverci-manifest.json, testr_results.html(.gz),
testrepository.subunit and the job's declared artifacts under ``logs/``.

A run writes into a private staging directory; publishing copies it to the backend (a
local directory served by ``driverci ci logs serve``, or S3-compatible storage), scrubbing
every text file of secrets and making everything world-readable.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import os
import shutil
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from driverci.ci.config import CIConfig, LogsConfig
from driverci.ci.model import JobOutcome, JobRequest, TestCounts
from driverci.ci.scrub import Scrubber, looks_like_text
from driverci.ci.testr import count_tests, parse_subunit, render_html, scrub_subunit
from driverci.errors import ConfigError

log = logging.getLogger(__name__)

JOB_OUTPUT = "job-output.txt"
MANIFEST = "driverci-manifest.json"
TESTR_HTML = "testr_results.html"
SUBUNIT = "testrepository.subunit"
ARTIFACTS_DIR = "logs"


def utc_stamp(at: datetime | None = None) -> str:
    """``2026-01-05 10:11:12.123456``: the UTC prefix of every job-output.txt line."""
    return (at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class JobOutput:
    """job-output.txt: every line stamped in UTC, cut with a clear marker at the size cap."""

    TRUNCATED = "[driverci] output truncated: the job exceeded its output limit of {limit} bytes"

    def __init__(self, path: Path, limit_bytes: int) -> None:
        self.path = path
        self.limit = limit_bytes
        self.written = 0
        self.truncated = False
        self._file: IO[bytes] = path.open("wb")

    def line(self, text: str, always: bool = False) -> None:
        """``always``: written even past the cap (the result line must stay readable)."""
        self.raw_line(text.encode("utf-8", errors="replace"), always)

    def raw_line(self, data: bytes, always: bool = False) -> None:
        if self._file.closed or (self.truncated and not always):
            return
        record = f"{utc_stamp()} | ".encode() + data.rstrip(b"\r") + b"\n"
        if not always and self.written + len(record) > self.limit:
            self.truncated = True
            marker = self.TRUNCATED.format(limit=self.limit)
            self._file.write(f"{utc_stamp()} | {marker}\n".encode())
            self._file.flush()
            return
        self._file.write(record)
        self.written += len(record)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def write_manifest(
    staging: Path,
    request: JobRequest,
    outcome: JobOutcome,
    merged_revision: str | None,
    tested_revision: str | None,
) -> None:
    """driverci-manifest.json: what was tested, how it went, when (UTC)."""
    target = request.target
    manifest: dict[str, Any] = {
        "ci": request.ci_name,
        "project": target.project,
        "branch": target.branch,
        "change": target.change,
        "patch_set": target.patch_set,
        "ref": target.ref,
        "revision": target.revision,  # the patch set's commit
        "patch_set_revision_fetched": tested_revision,
        "merged_revision": merged_revision,  # HEAD after merging onto the branch tip
        "driver": request.driver,
        "pipeline": request.pipeline,
        "job": request.job.name,
        "voting": request.job.voting,
        "run_id": request.run_id,
        "result": outcome.result,
        "detail": outcome.detail,
        "started": outcome.started.astimezone(UTC).isoformat(),
        "finished": outcome.finished.astimezone(UTC).isoformat(),
        "duration_seconds": outcome.duration_seconds,
        "tests": asdict(outcome.tests),
        "log_url": request.log_url,
        "attempt": request.attempt,
        "testbed": request.testbed.name if request.testbed else None,
        "executor": outcome.executor,
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def add_test_results(staging: Path, subunit_stream: bytes, title: str) -> TestCounts:
    """Keep the subunit stream and render testr_results.html from it; return the counts."""
    records = parse_subunit(subunit_stream)
    (staging / SUBUNIT).write_bytes(subunit_stream)
    (staging / TESTR_HTML).write_text(render_html(records, title), encoding="utf-8")
    return count_tests(records)


def collect_artifacts(checkout: Path, patterns: list[str], staging: Path) -> list[str]:
    """Copy files matching the job's globs (relative to the checkout) into ``logs/``."""
    copied: list[str] = []
    root = checkout.resolve()
    for pattern in patterns:
        for source in sorted(checkout.glob(pattern)):
            if source.is_symlink() or not source.is_file():
                continue  # a job must not publish a link to a file outside its checkout
            if not source.resolve().is_relative_to(root):
                continue
            relative = source.relative_to(checkout)
            target = staging / ARTIFACTS_DIR / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            copied.append(relative.as_posix())
    return copied


def _published_files(staging: Path, scrubber: Scrubber) -> list[tuple[str, bytes]]:
    """(relative path, scrubbed content) of every file to publish, plus the .gz page."""
    files: list[tuple[str, bytes]] = []
    for path in sorted(p for p in staging.rglob("*") if p.is_file() and not p.is_symlink()):
        relative = path.relative_to(staging).as_posix()
        data = path.read_bytes()
        if relative == SUBUNIT:
            data = scrub_subunit(data, scrubber.scrub)
        elif looks_like_text(data):
            data = scrubber.scrub_bytes(data)
        files.append((relative, data))
        if relative == TESTR_HTML:
            files.append((relative + ".gz", gzip.compress(data, mtime=0)))
    return files


class LogPublisher:
    """Copies a staging directory to the configured backend."""

    FILE_MODE = 0o644
    DIR_MODE = 0o755

    def __init__(self, logs: LogsConfig) -> None:
        self.logs = logs
        check_logs_backend(logs)

    async def publish(self, staging: Path, log_path: str, scrubber: Scrubber) -> None:
        await asyncio.to_thread(self._publish, staging, log_path, scrubber)

    def _publish(self, staging: Path, log_path: str, scrubber: Scrubber) -> None:
        files = _published_files(staging, scrubber)
        if self.logs.dir is not None:
            self._to_directory(self.logs.dir, log_path, files)
        else:
            from driverci.ci.s3 import upload_run

            upload_run(self.logs, log_path, files)

    def _to_directory(self, root: Path, log_path: str, files: list[tuple[str, bytes]]) -> None:
        destination = (root / log_path).resolve()
        if not destination.is_relative_to(root.resolve()):
            raise ConfigError(f"log path {log_path!r} escapes {root}")
        for relative, data in files:
            target = destination / relative
            _make_dirs(root.resolve(), target.parent, self.DIR_MODE)
            target.write_bytes(data)
            os.chmod(target, self.FILE_MODE)
        log.info("published %d files to %s", len(files), destination)


def _make_dirs(root: Path, directory: Path, mode: int) -> None:
    """mkdir -p with world-readable modes whatever the umask."""
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, mode)
    current = root
    for part in directory.relative_to(root).parts:
        current = current / part
        current.mkdir(exist_ok=True)
        os.chmod(current, mode)


def check_logs_backend(logs: LogsConfig) -> None:
    """Fail at startup, not after the first run, when the backend cannot work here."""
    if logs.s3 is not None:
        from driverci.ci.s3 import check_s3_backend  # boto3 only when S3 is configured

        check_s3_backend(logs)


def change_url(config: CIConfig, request: JobRequest) -> str:
    return f"{config.gerrit.url}/c/{request.target.project}/+/{request.target.change}"
