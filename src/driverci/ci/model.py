"""What flows between the reference CI's stages: a job request in, a job outcome out.

The executor interface is small on purpose, so a distributed executor (Celery workers on
the testbed machines) can replace the local one without touching listen/decide/queue/report.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from driverci.ci.config import JobConfig, ResultName, TestbedConfig


@dataclass(frozen=True)
class PatchSetTarget:
    """The patch set under test, and where to fetch it from."""

    project: str
    branch: str
    change: int
    patch_set: int
    revision: str
    ref: str  # refs/changes/NN/NNNN/P
    fetch_url: (
        str  # anonymous git URL of the project, e.g. https://review.opendev.org/openstack/ironic
    )


@dataclass(frozen=True)
class JobRequest:
    run_id: str  # uuid7 of this run (a recheck is a new run)
    target: PatchSetTarget
    job: JobConfig
    pipeline: str
    driver: str
    ci_name: str
    log_path: str  # <NN>/<change>/<patchset>/<pipeline>/<job>/<uuid7>
    log_url: str  # public URL of that directory (ends with /)
    attempt: int = 1  # a crashed or errored run is tried again as attempt 2
    testbed: TestbedConfig | None = None  # what the job holds (for a labelled job)


@dataclass
class TestCounts:
    passed: int = 0
    failed: int = 0
    skipped: int = 0


@dataclass
class JobOutcome:
    result: ResultName
    log_url: str
    started: datetime
    finished: datetime
    tests: TestCounts = field(default_factory=TestCounts)
    detail: str = ""  # one line for the operator (why ERROR / MERGE_CONFLICT)
    executor: str = ""  # who ran it: this host, or the Celery worker's name

    @property
    def duration_seconds(self) -> int:
        return int((self.finished - self.started).total_seconds())


class Executor(Protocol):
    """Runs one job for one patch set, publishes its logs, and says how it went."""

    async def run(self, request: JobRequest, cancel: asyncio.Event) -> JobOutcome: ...
