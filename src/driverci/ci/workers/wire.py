"""What crosses the broker: a job request out, a job outcome back, both plain JSON.

A request names its job and testbed; the worker takes their definitions from its own copy
of ci.yaml (the broker never carries commands to run), and refuses a request whose job
definition differs from its own (a host left with an old ci.yaml).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from datetime import datetime
from typing import Any, cast

from driverci.ci.config import CIConfig, JobConfig, ResultName
from driverci.ci.model import JobOutcome, JobRequest, PatchSetTarget, TestCounts
from driverci.errors import DriverCIError


class WireError(DriverCIError):
    """A request this worker cannot run as asked (unknown job or testbed, other ci.yaml)."""


def job_digest(job: JobConfig) -> str:
    """The job's definition, hashed: the same on the listener and on every worker."""
    return hashlib.sha256(job.model_dump_json().encode()).hexdigest()[:16]


def task_id(run_id: str, job: str, attempt: int) -> str:
    """Stable per (run, job, attempt): a restarted listener finds the task it sent."""
    return f"{run_id}.{job}.{attempt}"


def encode_request(request: JobRequest) -> dict[str, Any]:
    return {
        "run_id": request.run_id,
        "target": asdict(request.target),
        "job": request.job.name,
        "job_digest": job_digest(request.job),
        "pipeline": request.pipeline,
        "driver": request.driver,
        "ci_name": request.ci_name,
        "log_path": request.log_path,
        "log_url": request.log_url,
        "attempt": request.attempt,
        "testbed": request.testbed.name if request.testbed else None,
    }


def decode_request(payload: dict[str, Any], config: CIConfig) -> JobRequest:
    """The request, with the job and testbed as this worker's ci.yaml defines them."""
    jobs = {job.name: job for job in config.jobs}
    job = jobs.get(str(payload.get("job")))
    if job is None:
        raise WireError(f"job {payload.get('job')!r} is not in this worker's ci.yaml")
    if payload.get("job_digest") != job_digest(job):
        raise WireError(
            f"job {job.name} is defined differently in this worker's ci.yaml than in the "
            "listener's: deploy the same ci.yaml on every host"
        )
    testbed = None
    if payload.get("testbed") is not None:
        testbeds = {testbed.name: testbed for testbed in config.testbeds}
        testbed = testbeds.get(str(payload["testbed"]))
        if testbed is None:
            raise WireError(f"testbed {payload['testbed']!r} is not in this worker's ci.yaml")
    return JobRequest(
        run_id=str(payload["run_id"]),
        target=PatchSetTarget(**payload["target"]),
        job=job,
        pipeline=str(payload["pipeline"]),
        driver=str(payload["driver"]),
        ci_name=str(payload["ci_name"]),
        log_path=str(payload["log_path"]),
        log_url=str(payload["log_url"]),
        attempt=int(payload["attempt"]),
        testbed=testbed,
    )


def encode_outcome(outcome: JobOutcome) -> dict[str, Any]:
    return {
        "result": outcome.result,
        "log_url": outcome.log_url,
        "started": outcome.started.isoformat(),
        "finished": outcome.finished.isoformat(),
        "tests": asdict(outcome.tests),
        "detail": outcome.detail,
        "executor": outcome.executor,
    }


def decode_outcome(payload: dict[str, Any]) -> JobOutcome:
    return JobOutcome(
        result=cast(ResultName, payload["result"]),
        log_url=str(payload["log_url"]),
        started=datetime.fromisoformat(payload["started"]),
        finished=datetime.fromisoformat(payload["finished"]),
        tests=TestCounts(**payload["tests"]),
        detail=str(payload["detail"]),
        executor=str(payload["executor"]),
    )
