"""What the reference CI talks to, simulated under a virtual clock: Gerrit and the executor hosts.

- :class:`SimGerrit` holds the changes, patch sets and messages; :class:`SimRest` answers the
  four REST calls the listener and the reporter make (``get_change``, ``iter_changes``,
  ``list_change_messages``, ``set_review``) from it, as a ``GerritRestClient``.
- :class:`SimulatedHosts` is the executor: Celery workers on ``hosts`` executor hosts, each
  running ``CONCURRENCY`` jobs at once, behind the broker's first-in first-out queue. A job
  takes a worker slot, then its testbed's lock (as ``ci/workers/task.py`` does), then runs
  for the job's time. Like ``CeleryExecutor``, a new attempt of a run adopts a job an earlier
  attempt left running (or finished) and stands down one still queued; jobs go on while the
  listener is down.
- :func:`settle` lets the service's tasks run until each waits for a job end (or is done).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field

from driverci.ci.model import JobOutcome, JobRequest
from driverci.ci.service import CIService
from driverci.ci.workers.wire import task_id
from driverci.gerrit.models_events import GerritEvent, parse_event
from driverci.gerrit.models_rest import ChangeInfo, ChangeMessageInfo, ReviewInput, ReviewResult
from driverci.gerrit.rest import GerritRestClient

AUTHOR = "alice"
FILES = ("ironic/drivers/modules/redfish/power.py",)


class VirtualClock:
    """The service's ``clock``: a moment the simulation moves forward."""

    def __init__(self, start: dt.datetime) -> None:
        self.start = start
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def at(self, seconds: float) -> dt.datetime:
        return self.start + dt.timedelta(seconds=seconds)


def revision_of(change: int, patch_set: int) -> str:
    return f"{change:020x}{patch_set:020x}"


@dataclass
class SimChange:
    number: int
    patch_sets: list[dt.datetime] = field(default_factory=list)  # creation, by number - 1
    messages: list[ChangeMessageInfo] = field(default_factory=list)
    updated: dt.datetime | None = None


class SimGerrit:
    """Ironic's changes as the simulated Gerrit holds them."""

    def __init__(self, project: str, ci_account: str, clock: VirtualClock) -> None:
        self.project = project
        self.ci_account = ci_account
        self.clock = clock
        self.changes: dict[int, SimChange] = {}
        self.reports: dict[tuple[int, int], list[dt.datetime]] = defaultdict(list)
        self.on_report: Callable[[int, int], None] | None = None
        self._ids = 0

    def upload(self, number: int, patch_set: int) -> GerritEvent:
        """A new patch set; the patchset-created event the stream would carry."""
        change = self.changes.setdefault(number, SimChange(number))
        now = self.clock()
        change.patch_sets.append(now)
        change.updated = now
        assert len(change.patch_sets) == patch_set
        return parse_event(
            {
                **self._envelope("patchset-created", number, patch_set),
                "uploader": {"username": AUTHOR},
            }
        )

    def comment(self, number: int, patch_set: int, text: str) -> GerritEvent:
        """A person's review message; the comment-added event."""
        self._message(number, patch_set, AUTHOR, text, None)
        return parse_event(
            {
                **self._envelope("comment-added", number, patch_set),
                "author": {"username": AUTHOR},
                "comment": text,
            }
        )

    def current(self, number: int) -> int:
        return len(self.changes[number].patch_sets)

    def _envelope(self, kind: str, number: int, patch_set: int) -> dict[str, object]:
        return {
            "type": kind,
            "eventCreatedOn": int(self.clock().timestamp()),
            "project": self.project,
            "change": {"project": self.project, "branch": "master", "number": number},
            "patchSet": {"number": patch_set, "revision": revision_of(number, patch_set)},
        }

    def _message(
        self, number: int, patch_set: int, author: str, text: str, tag: str | None
    ) -> None:
        self._ids += 1
        change = self.changes[number]
        change.messages.append(
            ChangeMessageInfo.model_validate(
                {
                    "id": f"m{self._ids}",
                    "author": {"username": author},
                    "date": self.clock(),
                    "message": text,
                    "tag": tag,
                    "_revision_number": patch_set,
                }
            )
        )
        change.updated = self.clock()

    def review(self, number: int, revision: str, review: ReviewInput) -> None:
        patch_set = int(revision[20:], 16)
        self._message(number, patch_set, self.ci_account, review.message or "", review.tag)
        self.reports[(number, patch_set)].append(self.clock())
        if self.on_report is not None:
            self.on_report(number, patch_set)

    def info(self, number: int) -> ChangeInfo:
        change = self.changes[number]
        current = len(change.patch_sets)
        revisions = {
            revision_of(number, index + 1): {
                "_number": index + 1,
                "created": created,
                "ref": f"refs/changes/{number % 100:02d}/{number}/{index + 1}",
                "files": {path: {} for path in FILES} if index + 1 == current else {},
            }
            for index, created in enumerate(change.patch_sets)
        }
        return ChangeInfo.model_validate(
            {
                "id": f"{self.project}~{number}",
                "project": self.project,
                "branch": "master",
                "change_id": f"I{number:040x}",
                "status": "NEW",
                "_number": number,
                "updated": change.updated,
                "current_revision": revision_of(number, current),
                "revisions": revisions,
                "messages": list(change.messages),
            }
        )


def _number(change_id: str | int) -> int:
    return int(str(change_id).rpartition("~")[2])


class SimRest(GerritRestClient):
    """The REST calls the listener and the reporter make, answered by :class:`SimGerrit`."""

    def __init__(self, gerrit: SimGerrit) -> None:
        super().__init__("http://127.0.0.1:9")  # never connected
        self.gerrit = gerrit

    async def get_change(self, change_id: str | int, options: Iterable[str] = ()) -> ChangeInfo:
        return self.gerrit.info(_number(change_id))

    async def iter_changes(
        self, query: str, options: Iterable[str] = (), page_size: int = 500
    ) -> AsyncIterator[ChangeInfo]:
        """Open changes updated after the query's ``after:``, most recently updated first
        (Gerrit's order)."""
        found = re.search(r'after:"([^"]+)"', query)
        assert found is not None, query
        since = dt.datetime.fromisoformat(found.group(1)).replace(tzinfo=dt.UTC)
        recent = [
            change
            for change in self.gerrit.changes.values()
            if change.updated is not None and change.updated >= since
        ]
        recent.sort(key=lambda change: change.updated or since, reverse=True)
        for change in recent:
            yield self.gerrit.info(change.number)

    async def list_change_messages(self, change_id: str | int) -> list[ChangeMessageInfo]:
        return list(self.gerrit.changes[_number(change_id)].messages)

    async def set_review(
        self, change_id: str | int, revision: str | int, review: ReviewInput
    ) -> ReviewResult:
        self.gerrit.review(_number(change_id), str(revision), review)
        return ReviewResult()


@dataclass(eq=False)
class HostJob:
    """One Celery task: queued at the broker, waiting for its testbed's lock, running, done."""

    key: str
    testbed: str
    log_url: str
    done: asyncio.Future[JobOutcome]
    state: str = "queued"  # queued, lock-wait, running, done
    started: dt.datetime | None = None
    waiting_since: dt.datetime | None = None


class SimulatedHosts:
    """The executor: ``hosts`` Celery workers of ``CONCURRENCY`` jobs each, and their broker."""

    CONCURRENCY = 2  # assumed: `driverci ci worker` run with Celery's --concurrency 2

    def __init__(
        self,
        hosts: int,
        clock: VirtualClock,
        job_seconds: float,
        schedule_end: Callable[[dt.datetime, HostJob], None],
    ) -> None:
        self.capacity = hosts * self.CONCURRENCY
        self.clock = clock
        self.job_seconds = job_seconds
        self.schedule_end = schedule_end
        self.busy = 0  # worker slots taken (running or waiting for a testbed lock)
        self.line: deque[HostJob] = deque()  # the broker's queue
        self.locks: dict[str, HostJob] = {}  # testbed -> the job holding it
        self.lock_waiters: dict[str, deque[HostJob]] = defaultdict(deque)
        self.jobs: dict[str, HostJob] = {}  # by Celery task id
        self.followers: dict[HostJob, asyncio.Event] = {}  # jobs a run() awaits, its cancel
        self.started = 0
        self.adopted = 0
        self.lock_waits = 0
        self.lock_wait_seconds = 0.0

    # -- the Executor interface ------------------------------------------------------------

    async def run(self, request: JobRequest, cancel: asyncio.Event) -> JobOutcome:
        for attempt in range(request.attempt - 1, 0, -1):  # the listener crashed meanwhile
            earlier = self.jobs.get(task_id(request.run_id, request.job.name, attempt))
            if earlier is None:
                continue
            if earlier.state in ("running", "lock-wait"):
                self.adopted += 1
                return await self._follow(earlier, cancel)
            if earlier.state == "done" and earlier.done.result().result == "SUCCESS":
                self.adopted += 1
                return earlier.done.result()
            if earlier.state == "queued":
                self._stop(earlier)  # told to stand down; the new attempt is sent instead
        assert request.testbed is not None
        job = HostJob(
            task_id(request.run_id, request.job.name, request.attempt),
            request.testbed.name,
            request.log_url,
            asyncio.get_running_loop().create_future(),
        )
        self.jobs[job.key] = job
        self.line.append(job)
        self._pump()
        return await self._follow(job, cancel)

    async def _follow(self, job: HostJob, cancel: asyncio.Event) -> JobOutcome:
        self.followers[job] = cancel
        watcher = asyncio.ensure_future(cancel.wait())
        try:
            await asyncio.wait([job.done, watcher], return_when=asyncio.FIRST_COMPLETED)
        finally:  # also when the listener is killed: the job goes on without it
            watcher.cancel()
            self.followers.pop(job, None)
        if not job.done.done():
            self._stop(job)
        return job.done.result()

    # -- the hosts --------------------------------------------------------------------------

    def parked(self) -> int:
        """run() calls waiting for a job that is neither done nor being cancelled."""
        return sum(
            1
            for job, cancel in self.followers.items()
            if not job.done.done() and not cancel.is_set()
        )

    def _pump(self) -> None:
        while self.busy < self.capacity and self.line:
            job = self.line.popleft()
            self.busy += 1
            if job.testbed in self.locks:
                job.state, job.waiting_since = "lock-wait", self.clock()
                self.lock_waits += 1
                self.lock_waiters[job.testbed].append(job)
            else:
                self._start(job)

    def _start(self, job: HostJob) -> None:
        self.locks[job.testbed] = job
        job.state, job.started = "running", self.clock()
        if job.waiting_since is not None:
            self.lock_wait_seconds += (job.started - job.waiting_since).total_seconds()
        self.started += 1
        self.schedule_end(job.started + dt.timedelta(seconds=self.job_seconds), job)

    def finish(self, job: HostJob) -> None:
        """The job's time is up (its end event); ignored if it was cancelled meanwhile."""
        if job.state == "running":
            self._end(job, "SUCCESS")

    def _stop(self, job: HostJob) -> None:
        if job.state == "queued":
            self.line.remove(job)
        elif job.state == "lock-wait":
            self.lock_waiters[job.testbed].remove(job)
            self.busy -= 1
            self._pump()
        if job.state == "running":
            self._end(job, "CANCELED")
        else:
            self._done(job, "CANCELED")

    def _end(self, job: HostJob, result: str) -> None:
        del self.locks[job.testbed]
        self._done(job, result)
        self.busy -= 1
        waiters = self.lock_waiters[job.testbed]
        if waiters:  # a job on another worker slot was waiting for this testbed
            self._start(waiters.popleft())
        self._pump()

    def _done(self, job: HostJob, result: str) -> None:
        now = self.clock()
        job.state = "done"
        job.done.set_result(
            JobOutcome(result, job.log_url, job.started or now, now, executor="sim")  # type: ignore[arg-type]
        )


async def settle(
    service: CIService, hosts: SimulatedHosts | None, *, scheduler: bool = True
) -> None:
    """Let the service's tasks run until each waits for a job (or is done) and, with its
    ``scheduler`` running, it has nothing left to dispatch; twice in a row."""
    quiet = 0
    for _ in range(10_000):
        await asyncio.sleep(0)
        # The service's own bookkeeping: its run tasks, and the scheduler's wake-up.
        pending = sum(1 for task in service._tasks if not task.done())
        parked = hosts.parked() if hosts is not None else 0
        if not (scheduler and service._wakeup.is_set()) and pending == parked:
            quiet += 1
            if quiet >= 2:
                return
        else:
            quiet = 0
    raise RuntimeError("the service did not settle")


async def stop_task(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
