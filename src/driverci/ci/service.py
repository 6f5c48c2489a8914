"""The reference CI as one service: listen -> decide -> queue -> execute -> report.

    service = CIService(config)          # the executor ci.yaml names, store at config.state
    await service.run()                  # until stop() or cancellation

Capacity: a run holds one of ``slots`` while its jobs run one after another, and for each
testbed label its jobs use, one testbed of the pool (``ci/pool.py``). Every run has the same
jobs, so serving the queue in deadline order never lets a later run overtake an earlier one,
whether the jobs run here (local executor) or on Celery workers on other hosts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from driverci.ci.config import CIConfig, TestbedConfig, read_secret
from driverci.ci.decide import Decision, PatchSetFacts, deadline_for
from driverci.ci.email import Notifier
from driverci.ci.listen import Listener
from driverci.ci.model import Executor, JobOutcome, JobRequest, PatchSetTarget
from driverci.ci.pool import TestbedPool
from driverci.ci.queue import CANCELLED, ERROR, JobRecord, RunQueue, utc_now
from driverci.ci.report import Reporter, run_result
from driverci.errors import DriverCIError
from driverci.gerrit.rest import GerritRestClient
from driverci.gerrit.stream import GerritEventStream
from driverci.policy.loader import load_policy
from driverci.policy.schema import Policy
from driverci.store.db import Store, open_store
from driverci.store.models import CIRun

log = logging.getLogger(__name__)


def log_path_for(config: CIConfig, run: CIRun, job: str) -> str:
    """Infra's layout: ``<change[-2:]>/<change>/<patchset>/<pipeline>/<job>/<run uuid>``."""
    change = str(run.change_number)
    return f"{change[-2:]}/{change}/{run.patch_set}/{config.pipeline}/{job}/{run.id}"


def job_request(
    config: CIConfig,
    run: CIRun,
    job_index: int,
    testbeds: Mapping[str, TestbedConfig] | None = None,
) -> JobRequest:
    """What the executor needs for job ``job_index`` of ``run`` (``testbeds``: by label)."""
    job = config.jobs[job_index]
    testbed = (testbeds or {}).get(job.label) if job.label else None
    path = log_path_for(config, run, job.name)
    target = PatchSetTarget(
        project=run.project,
        branch=run.branch,
        change=run.change_number,
        patch_set=run.patch_set,
        revision=run.revision,
        ref=run.ref,
        fetch_url=f"{config.gerrit.url}/{run.project}",
    )
    return JobRequest(
        run_id=run.id,
        target=target,
        job=job,
        pipeline=config.pipeline,
        driver=config.driver,
        ci_name=config.name,
        log_path=path,
        log_url=f"{config.logs.url.rstrip('/')}/{path}/",
        attempt=run.attempt,
        testbed=testbed,
    )


def make_executor(config: CIConfig, workspace_root: Path) -> Executor:
    """The executor ci.yaml asks for: jobs here (``local``) or on Celery workers."""
    if config.executor == "celery":
        from driverci.ci.workers.client import CeleryExecutor

        return CeleryExecutor(config)
    from driverci.ci.executor import LocalExecutor

    return LocalExecutor(config, workspace_root)


class CIService:
    """Wires the stages together; one instance per CI process."""

    STOP_GRACE = 10.0  # seconds running jobs get to notice a shutdown
    ORDER = "deadline"  # or "fifo" (only for the benchmark's comparison)

    def __init__(
        self,
        config: CIConfig,
        *,
        executor: Executor | None = None,
        store: Store | None = None,
        policy: Policy | None = None,
        workspace_root: Path | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.config = config
        self.policy = policy or load_policy(config.policy)
        self._own_store = store is None
        self.store = store or open_store(config.state)
        self.clock = clock
        self.queue = RunQueue(self.store, config.gerrit.username, clock)
        password = read_secret(config.gerrit.http_password_file, "the Gerrit HTTP password")
        self.rest = GerritRestClient(config.gerrit.url, config.gerrit.username, password)
        self.notifier = Notifier(config.email, config.name)
        self.reporter = Reporter(config, self.rest, self.queue, self.notifier)
        self.listener = Listener(config, self.policy, self.rest, self, clock)
        if executor is None:
            root = workspace_root or Path(config.state.removeprefix("sqlite:///")).parent / "work"
            executor = make_executor(config, root)
        self.executor = executor
        self.pool = TestbedPool(
            self.store, config.gerrit.username, config.testbeds, config.testbed_max_failures, clock
        )
        self.running = 0  # runs holding one of ``slots``
        self._unserved_told: set[str] = set()  # labels the operator was told have no testbed
        self._cancels: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._stop = asyncio.Event()
        self.stream: GerritEventStream | None = None

    # -- intake (called by the listener) -----------------------------------------------------

    def submit(self, facts: PatchSetFacts, decision: Decision) -> None:
        at = decision.triggered_at or self.clock()
        if self.queue.enqueue(facts, decision, deadline_for(self.policy, at)) is not None:
            self._wakeup.set()

    def new_patch_set(self, change: int, patch_set: int) -> None:
        for run_id in self.queue.supersede(change, patch_set, same_patch_set=False):
            self._cancel(run_id, f"superseded by patch set {patch_set}")

    def change_closed(self, change: int, why: str) -> None:
        cancelled = self.queue.cancel_queued_of_change(change, why)
        if cancelled:
            log.info("change %d %s: %d queued runs cancelled", change, why, cancelled)

    def has_result(self, change: int, patch_set: int) -> bool:
        return self.queue.has_run(change, patch_set)

    def has_recheck_run_near(
        self, change: int, patch_set: int, moment: dt.datetime, slack: dt.timedelta
    ) -> bool:
        return self.queue.has_recheck_run_near(change, patch_set, moment, slack)

    def _cancel(self, run_id: str, why: str) -> None:
        event = self._cancels.get(run_id)
        if event is not None:
            log.info("run %s: cancelling (%s)", run_id, why)
            event.set()

    # -- lifecycle ------------------------------------------------------------------------------

    async def run(self, *, stream: bool = True) -> None:
        """Serve until :meth:`stop`; cancelling the task behaves like a crash (runs resume)."""
        self.queue.recover()
        for run in self.queue.unreported():  # finished before a crash, maybe not posted
            self._spawn(self._report(run))
        background = [
            asyncio.create_task(self._schedule_forever()),
            asyncio.create_task(self.listener.reconcile_forever(self.config.reconcile_interval)),
        ]
        if stream:
            gerrit = self.config.gerrit
            self.stream = GerritEventStream(
                gerrit.ssh_host,
                gerrit.ssh_port,
                gerrit.username,
                gerrit.ssh_key,
                known_hosts=gerrit.known_hosts,
                verify_host_key=gerrit.known_hosts is not None,
                rest_client=self.rest,
                project=self.config.project,
            )
            background.append(asyncio.create_task(self.listener.listen(self.stream)))
        self._wakeup.set()
        stopped = asyncio.create_task(self._stop.wait())
        try:
            done, _ = await asyncio.wait([stopped, *background], return_when="FIRST_COMPLETED")
            for task in done:
                if task is not stopped and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            stopped.cancel()  # else left pending when run() is cancelled (a crash)
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            if self._stopping:
                await self._drain()
            else:  # killed: leave the store as a crash would
                for task in list(self._tasks):
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._close()

    async def stop(self) -> None:
        """Clean shutdown: running runs are interrupted and go back to the queue."""
        self._stopping = True
        self._stop.set()

    async def _drain(self) -> None:
        for event in self._cancels.values():
            event.set()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.STOP_GRACE)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _close(self) -> None:
        if self.stream is not None:
            await self.stream.aclose()
        await self.rest.aclose()
        close_executor = getattr(self.executor, "aclose", None)  # Celery's connections
        if close_executor is not None:
            await close_executor()
        if self._own_store:
            self.store.close()

    # -- scheduling -----------------------------------------------------------------------------

    async def _schedule_forever(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            self.dispatch()

    def dispatch(self) -> int:
        """Start queued runs, earliest deadline first, while testbeds are free."""
        started = 0
        if self._stopping or self.running >= self.config.slots:
            return 0
        labels = self.config.labels
        for run in self.queue.waiting(limit=self.config.slots * 4, order=self.ORDER):
            if self.running >= self.config.slots:
                break
            # Every run needs the same labels: when the first cannot get testbeds, none can.
            testbeds = self.pool.allocate(run.id, labels)
            if testbeds is None:
                self._tell_if_unserved(labels)
                break
            if not self.queue.claim(run.id):
                self.pool.release(run.id)
                continue
            self.running += 1
            self._cancels[run.id] = asyncio.Event()
            self._spawn(self._execute(run, testbeds))
            started += 1
        return started

    def _tell_if_unserved(self, labels: list[str]) -> None:
        """Runs wait for a label with no testbed in service: the operator must act."""
        if self.pool.can_serve(labels):
            self._unserved_told.clear()
            return
        missing = [label for label in labels if not self.pool.can_serve([label])]
        new = [label for label in missing if label not in self._unserved_told]
        if new:
            self._unserved_told.update(new)
            self._spawn(
                self.notifier.operator(
                    f"no testbed in service for {', '.join(new)}",
                    "Runs wait until a testbed with this label is back in service "
                    "(driverci ci testbed enable NAME after repairing it).",
                )
            )

    def _spawn(self, coroutine: object) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coroutine)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- running and reporting ------------------------------------------------------------------

    def request_for(
        self, run: CIRun, job_index: int, testbeds: Mapping[str, TestbedConfig] | None = None
    ) -> JobRequest:
        return job_request(self.config, run, job_index, testbeds)

    async def _run_job(self, request: JobRequest, cancel: asyncio.Event) -> JobOutcome:
        try:
            return await self.executor.run(request, cancel)
        except DriverCIError as exc:  # the CI's own failure, never the patch set's
            now = self.clock()
            log.error("run %s job %s: executor error: %s", request.run_id, request.job.name, exc)
            return JobOutcome("ERROR", request.log_url, now, now, detail=str(exc))

    async def _execute(self, run: CIRun, testbeds: Mapping[str, TestbedConfig]) -> None:
        cancel = self._cancels[run.id]
        label = f"run {run.id} ({run.change_number},{run.patch_set})"
        records: list[JobRecord] = []
        try:
            for index, job in enumerate(self.config.jobs):
                if cancel.is_set():
                    break
                request = self.request_for(run, index, testbeds)
                outcome = await self._run_job(request, cancel)
                if request.testbed is not None:
                    await self._count_on_testbed(request.testbed.name, outcome)
                records.append(
                    JobRecord(
                        job=job.name,
                        voting=job.voting,
                        result=outcome.result,
                        log_url=outcome.log_url,
                        started_at=outcome.started,
                        finished_at=outcome.finished,
                        tests_passed=outcome.tests.passed,
                        tests_failed=outcome.tests.failed,
                        tests_skipped=outcome.tests.skipped,
                        detail=outcome.detail,
                        testbed=request.testbed.name if request.testbed else "",
                        executor=outcome.executor,
                    )
                )
                if outcome.result in ("MERGE_CONFLICT", "ERROR", "CANCELED"):
                    break
        finally:
            self.running -= 1
            self.pool.release(run.id)
            self._cancels.pop(run.id, None)
            self._wakeup.set()
        if cancel.is_set():
            if self._stopping:
                self.queue.requeue(run.id)
            else:
                self.queue.set_state(run.id, CANCELLED, "superseded while running")
                log.info("%s cancelled; not reported", label)
            return
        result = run_result(records)
        if result == ERROR and run.attempt < self.queue.MAX_ATTEMPTS:
            self.queue.set_state(run.id, ERROR, "; ".join(r.detail for r in records))
            self._retry(run)
            return
        self.queue.finish(run.id, result, records, "")
        finished = self.queue.get(run.id)
        if finished is not None:
            await self._report(finished)

    async def _count_on_testbed(self, name: str, outcome: JobOutcome) -> None:
        if self.pool.record(name, outcome.result, outcome.detail):
            await self.notifier.operator(
                f"testbed {name} taken out of service",
                f"{self.config.testbed_max_failures} jobs in a row failed on {name} "
                f"(last: {outcome.result} {outcome.detail}, logs {outcome.log_url}). "
                f"No job runs on it until `driverci ci testbed enable {name}`.",
            )

    def _retry(self, run: CIRun) -> None:
        """An ERROR of the CI itself is tried once more, as a new attempt of the same run."""
        with self.store.transaction() as session:
            stored = session.get(CIRun, run.id)
            if stored is not None:
                stored.state, stored.attempt = "queued", stored.attempt + 1
        log.warning("run %s: CI error, queued again as attempt %d", run.id, run.attempt + 1)
        self._wakeup.set()

    async def _report(self, run: CIRun) -> None:
        try:
            await self.reporter.report(run)
        except DriverCIError as exc:
            # Left 'finished': the next start (or the operator) reports it; never lost.
            log.error("run %s: report failed: %s", run.id, exc)

    async def wait_idle(self, timeout: float = 30.0) -> None:
        """Until nothing is queued or running (tests, `ci check`)."""
        async with asyncio.timeout(timeout):
            while self._tasks or self.queue.waiting(limit=1):
                await asyncio.sleep(0.05)


def run_until_signalled(config: CIConfig) -> None:
    """``driverci ci run``: serve until SIGTERM or Ctrl-C, then shut down cleanly."""
    import signal

    async def main() -> None:
        service = CIService(config)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, lambda: asyncio.ensure_future(service.stop()))
        await service.run()

    asyncio.run(main())
