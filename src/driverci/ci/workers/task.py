"""The executor host's side of a job: take the testbed, run the job, say how it went.

A task may be delivered twice: after its worker died (the broker gives it to another), or
after the broker restarted before the finished task's acknowledgement reached it. Each
finished job leaves its outcome in Redis under the task's id, so a second delivery returns
that outcome instead of running the job again; the testbed lock makes a second delivery of
an unfinished job wait for the first (or for its lock to expire, if its worker died).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import redis

from driverci.ci.config import CIConfig
from driverci.ci.executor import LocalExecutor
from driverci.ci.model import JobOutcome, JobRequest
from driverci.ci.workers.locks import TestbedLock
from driverci.ci.workers.wire import WireError, decode_request, encode_outcome
from driverci.errors import DriverCIError

log = logging.getLogger(__name__)


def done_key(prefix: str, task_id: str) -> str:
    return f"{prefix}:done:{task_id}"


def cancel_key(prefix: str, task_id: str) -> str:
    return f"{prefix}:cancel:{task_id}"


def lock_key(prefix: str, testbed: str) -> str:
    return f"{prefix}:testbed:{testbed}"


@dataclass
class WorkerContext:
    """What every task of one worker process shares."""

    config: CIConfig
    executor: LocalExecutor
    client: redis.Redis
    name: str
    executions: int = 0  # jobs this worker actually ran (not answered from a done record)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    CANCEL_POLL = 0.5  # seconds between looks at the cancellation flag
    DONE_TTL = 7 * 24 * 3600  # seconds a finished job's outcome answers a second delivery

    @property
    def prefix(self) -> str:
        assert self.config.celery is not None
        return self.config.celery.queue_prefix

    def run_job(self, task_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The task's body (Celery calls it in one of the worker's threads)."""
        finished = self._finished(task_id)
        if finished is not None:
            log.info("task %s: already run; answering with its outcome", task_id)
            return finished
        try:
            request = decode_request(payload, self.config)
        except (WireError, KeyError, TypeError, ValueError) as exc:
            return self._refused(payload, f"worker {self.name}: {exc}")
        give_up = threading.Event()
        watcher = threading.Thread(target=self._watch_cancel, args=(task_id, give_up), daemon=True)
        watcher.start()
        lock = None
        try:
            if request.testbed is not None:
                assert self.config.celery is not None
                lock = TestbedLock(
                    self.client,
                    lock_key(self.prefix, request.testbed.name),
                    self.config.celery.lock_ttl,
                    self.name,
                )
                if not lock.acquire(give_up):
                    lock = None
                finished = self._finished(task_id)  # the first delivery ended while we waited
                if finished is not None:
                    return finished
            if give_up.is_set():
                return encode_outcome(self._canceled(request))
            with self._lock:
                self.executions += 1
            outcome = asyncio.run(self._execute(request, give_up))
        finally:
            give_up.set()
            if lock is not None:
                lock.release()
        answer = encode_outcome(outcome)
        if outcome.result != "CANCELED":
            self.client.set(done_key(self.prefix, task_id), json.dumps(answer), ex=self.DONE_TTL)
        return answer

    async def _execute(self, request: JobRequest, give_up: threading.Event) -> JobOutcome:
        cancel = asyncio.Event()
        loop = asyncio.get_running_loop()

        async def relay() -> None:
            await asyncio.to_thread(give_up.wait)
            loop.call_soon_threadsafe(cancel.set)

        relay_task = asyncio.create_task(relay())
        try:
            return await self.executor.run(request, cancel)
        except DriverCIError as exc:  # the CI's failure (e.g. logs unwritable), not the patch's
            now = dt.datetime.now(dt.UTC)
            detail = f"worker {self.name}: {exc}"
            return JobOutcome("ERROR", request.log_url, now, now, detail=detail, executor=self.name)
        finally:
            give_up.set()
            await asyncio.gather(relay_task, return_exceptions=True)

    def _watch_cancel(self, task_id: str, give_up: threading.Event) -> None:
        key = cancel_key(self.prefix, task_id)
        while not give_up.wait(self.CANCEL_POLL):
            try:
                if self.client.exists(key):
                    log.info("task %s: cancelled by the listener", task_id)
                    give_up.set()
            except redis.RedisError as exc:  # Redis restarting: the job goes on
                log.warning("task %s: cannot look for a cancellation: %s", task_id, exc)

    def _finished(self, task_id: str) -> dict[str, Any] | None:
        raw = self.client.get(done_key(self.prefix, task_id))
        if raw is None:
            return None
        answer: dict[str, Any] = json.loads(raw)
        return answer

    def _canceled(self, request: JobRequest) -> JobOutcome:
        now = dt.datetime.now(dt.UTC)
        return JobOutcome("CANCELED", request.log_url, now, now, executor=self.name)

    def _refused(self, payload: dict[str, Any], why: str) -> dict[str, Any]:
        log.error("task refused: %s", why)
        now = dt.datetime.now(dt.UTC)
        url = str(payload.get("log_url", ""))
        return encode_outcome(JobOutcome("ERROR", url, now, now, detail=why, executor=self.name))
