"""The listener's side of Celery: send a job to the queue of its label, follow it, cancel it.

Implements :class:`driverci.ci.model.Executor`, so listen/decide/queue/report are the same
whether jobs run here or on other hosts. Nothing is lost when a part restarts:

- the broker is down: the job is published again until it takes (a run waits, never fails);
- Redis is down: the job's state is asked again until it answers;
- this listener was killed: at start-up the run is tried as a new attempt, but a job the
  last attempt left running on a worker (or finished) is adopted, not run again;
- a worker was killed: the broker gives the job to another worker; its state goes from
  STARTED on one worker to STARTED on another, and the time allowed restarts with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from typing import Any

import redis
from kombu.exceptions import OperationalError

from driverci.ci.config import CIConfig
from driverci.ci.model import JobOutcome, JobRequest
from driverci.ci.workers.app import (
    TASK_NAME,
    celery_settings,
    make_app,
    probe_backend,
    queue_name,
    redis_client,
)
from driverci.ci.workers.task import cancel_key
from driverci.ci.workers.wire import decode_outcome, encode_request, task_id

log = logging.getLogger(__name__)

Meta = tuple[str, Any, str]  # Celery state, result, worker name


class CeleryExecutor:
    """Jobs as Celery tasks; one instance per listener."""

    POLL = 0.25  # seconds between looks at a job's state
    PUBLISH_BACKOFF_MAX = 10.0  # seconds between tries while the broker is away
    STARTED_GRACE = 300.0  # seconds past the job's timeout before a started job is given up
    UNCLAIMED_WARNING = 600.0  # seconds a job may wait for a worker before the log says so
    CANCEL_GRACE = 30.0  # seconds a cancelled job's worker gets to free the testbed
    CANCEL_TTL = 24 * 3600  # seconds a cancellation flag is kept
    BACKEND_COMPLAINT = 60.0  # seconds between log lines while the backend does not answer

    def __init__(self, config: CIConfig) -> None:
        self.config = config
        self.prefix = celery_settings(config).queue_prefix
        self.app = make_app(config)
        self.client = redis_client(config)
        probe_backend(config, self.client)
        self.sent = 0  # tasks published (tests and the benchmark count them)
        self.adopted = 0  # jobs of an earlier attempt taken over instead of run again

    async def run(self, request: JobRequest, cancel: asyncio.Event) -> JobOutcome:
        tid = task_id(request.run_id, request.job.name, request.attempt)
        earlier = await self._earlier_attempt(request)
        if isinstance(earlier, JobOutcome):
            return earlier
        if earlier is not None:
            tid = earlier
        else:
            state, result, _ = await self._meta(tid)
            if state == "STARTED":
                pass  # this listener sent it before a clean stop: follow it
            elif state == "SUCCESS" and isinstance(result, dict) and result["result"] != "CANCELED":
                return decode_outcome(result)
            else:
                if state != "PENDING":
                    await asyncio.to_thread(self.app.AsyncResult(tid).forget)
                if not await self._send(request, tid, cancel):
                    return self._canceled(request)
        return await self._follow(request, tid, cancel)

    async def _earlier_attempt(self, request: JobRequest) -> str | JobOutcome | None:
        """A job of an earlier attempt (the listener crashed) still running or done well:
        its task id, or its outcome. Earlier attempts still queued are told to stand down."""
        for attempt in range(request.attempt - 1, 0, -1):
            tid = task_id(request.run_id, request.job.name, attempt)
            state, result, worker = await self._meta(tid)
            if state == "STARTED":
                log.info(
                    "run %s job %s: adopting attempt %d on %s",
                    request.run_id,
                    request.job.name,
                    attempt,
                    worker,
                )
                self.adopted += 1
                return tid
            if state == "SUCCESS" and isinstance(result, dict):
                if result["result"] not in ("CANCELED", "ERROR"):
                    self.adopted += 1
                    return decode_outcome(result)
            elif state == "PENDING":
                await self._flag_cancel(tid)
        return None

    async def _send(self, request: JobRequest, tid: str, cancel: asyncio.Event) -> bool:
        queue = queue_name(self.config, request.job.label)
        backoff, told = 0.5, False
        while not cancel.is_set():
            try:
                await asyncio.to_thread(
                    self.app.send_task,
                    TASK_NAME,
                    args=[encode_request(request)],
                    task_id=tid,
                    queue=queue,
                    routing_key=queue,
                )
                self.sent += 1
                if told:
                    log.warning(
                        "run %s job %s: sent after the broker came back",
                        request.run_id,
                        request.job.name,
                    )
                return True
            except (OperationalError, OSError) as exc:
                if not told:
                    log.error(
                        "run %s job %s: broker unreachable (%s); retrying",
                        request.run_id,
                        request.job.name,
                        exc,
                    )
                    told = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(cancel.wait(), backoff)
            backoff = min(backoff * 2, self.PUBLISH_BACKOFF_MAX)
        return False

    async def _follow(self, request: JobRequest, tid: str, cancel: asyncio.Event) -> JobOutcome:
        sent = time.monotonic()
        started: float | None = None
        worker_seen = ""
        warned = False
        allowed = request.job.timeout + self.STARTED_GRACE
        while True:
            if cancel.is_set():
                return await self._cancel(request, tid)
            state, result, worker = await self._meta(tid)
            if state == "SUCCESS" and isinstance(result, dict):
                return decode_outcome(result)
            if state == "FAILURE":
                return self._error(request, f"worker {worker or '?'} failed: {result}")
            if state == "REVOKED":
                return self._canceled(request)
            if state == "STARTED":
                if worker != worker_seen:  # first start, or re-delivered to another worker
                    if worker_seen:
                        log.warning(
                            "run %s job %s: moved from %s to %s",
                            request.run_id,
                            request.job.name,
                            worker_seen,
                            worker,
                        )
                    worker_seen, started = worker, time.monotonic()
                if started is not None and time.monotonic() - started > allowed:
                    return self._error(request, f"no outcome from {worker} within {allowed:.0f}s")
            elif not warned and time.monotonic() - sent > self.UNCLAIMED_WARNING:
                warned = True
                log.error(
                    "run %s job %s: no worker has taken it from %s for %.0fs",
                    request.run_id,
                    request.job.name,
                    queue_name(self.config, request.job.label),
                    self.UNCLAIMED_WARNING,
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(cancel.wait(), self.POLL)

    async def _cancel(self, request: JobRequest, tid: str) -> JobOutcome:
        """Flag the job; wait a little for its worker to stop, so its testbed is free."""
        await self._flag_cancel(tid)
        with contextlib.suppress(OperationalError, OSError):
            await asyncio.to_thread(self.app.control.revoke, tid)
        deadline = time.monotonic() + self.CANCEL_GRACE
        while time.monotonic() < deadline:
            state, _, _ = await self._meta(tid)
            if state in ("SUCCESS", "FAILURE", "REVOKED", "PENDING"):
                break
            await asyncio.sleep(self.POLL)
        return self._canceled(request)

    async def _flag_cancel(self, tid: str) -> None:
        with contextlib.suppress(redis.RedisError):
            await asyncio.to_thread(
                self.client.set, cancel_key(self.prefix, tid), "1", ex=self.CANCEL_TTL
            )

    async def _meta(self, tid: str) -> Meta:
        """The task's state in the backend; while Redis is away, asked again until it answers
        (and said again in the log every ``BACKEND_COMPLAINT`` seconds: never silently)."""
        last_told = 0.0
        while True:
            try:
                meta = await asyncio.to_thread(self.app.backend.get_task_meta, tid)
                return str(meta.get("status")), meta.get("result"), str(meta.get("worker") or "")
            except (redis.RedisError, OSError) as exc:
                if time.monotonic() - last_told > self.BACKEND_COMPLAINT:
                    log.error("result backend refuses or is unreachable (%s); retrying", exc)
                    last_told = time.monotonic()
                await asyncio.sleep(1.0)

    def _canceled(self, request: JobRequest) -> JobOutcome:
        now = dt.datetime.now(dt.UTC)
        return JobOutcome("CANCELED", request.log_url, now, now)

    def _error(self, request: JobRequest, detail: str) -> JobOutcome:
        log.error("run %s job %s: %s", request.run_id, request.job.name, detail)
        now = dt.datetime.now(dt.UTC)
        return JobOutcome("ERROR", request.log_url, now, now, detail=detail)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.client.close)
        await asyncio.to_thread(self.app.close)
