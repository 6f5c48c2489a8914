"""Queue: the reference CI's runs, persisted in the store so a restart loses nothing.

A run moves ``queued -> running -> finished -> reported``, or ends ``cancelled`` (superseded,
change closed) or ``error`` (the CI itself failed; the operator is told). Runs are served
earliest deadline first; one past its deadline keeps its place in that order, so it is never
starved by newer work. A run found ``running`` at start-up (the CI crashed) is queued again
once, as a new attempt; it cannot be reported twice because reporting looks for its comment.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.exc import IntegrityError

from driverci.ci.decide import RECHECK, Decision, PatchSetFacts, intake_key
from driverci.store.db import Store
from driverci.store.models import CIJobResult, CIRun
from driverci.store.repository import get_meta, set_meta

log = logging.getLogger(__name__)

QUEUED, RUNNING, FINISHED, REPORTED, CANCELLED, ERROR = (
    "queued",
    "running",
    "finished",
    "reported",
    "cancelled",
    "error",
)
ACTIVE = (QUEUED, RUNNING)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def uuid7() -> str:
    """A time-ordered UUID (RFC 9562 version 7): 48-bit milliseconds, then randomness."""
    millis = time.time_ns() // 1_000_000
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= int.from_bytes(os.urandom(10), "big") & ((1 << 76) - 1)
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))


@dataclass(frozen=True)
class JobRecord:
    """One finished job, as the queue stores it."""

    job: str
    voting: bool
    result: str
    log_url: str
    started_at: dt.datetime
    finished_at: dt.datetime
    tests_passed: int = 0
    tests_failed: int = 0
    tests_skipped: int = 0
    detail: str = ""
    testbed: str = ""
    executor: str = ""

    @classmethod
    def of(cls, row: CIJobResult) -> JobRecord:
        """The record of a stored job result (same field names on both sides)."""
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})

    def row(self) -> CIJobResult:
        return CIJobResult(**{f.name: getattr(self, f.name) for f in fields(self)})


class RunQueue:
    """The persisted queue of one CI account (several CIs may share a store)."""

    #: A run left running by a crash is retried this many times in all, then given up.
    MAX_ATTEMPTS = 2

    def __init__(
        self, store: Store, ci_account: str, clock: Callable[[], dt.datetime] = utc_now
    ) -> None:
        self.store = store
        self.ci_account = ci_account
        self.clock = clock

    # -- intake -----------------------------------------------------------------------------

    def enqueue(
        self, facts: PatchSetFacts, decision: Decision, deadline: dt.datetime
    ) -> CIRun | None:
        """Record a new run; None when this (patch set, trigger) already has one."""
        assert decision.trigger is not None and decision.trigger_id is not None
        key = intake_key(self.ci_account, facts, decision.trigger_id)
        run = CIRun(
            id=uuid7(),
            ci_account=self.ci_account,
            intake_key=key,
            project=facts.project,
            branch=facts.branch,
            change_number=facts.change,
            patch_set=facts.patch_set,
            revision=facts.revision,
            ref=facts.ref,
            trigger=decision.trigger,
            triggered_at=decision.triggered_at or self.clock(),
            deadline=deadline,
            state=QUEUED,
            attempt=1,
            detail="",
        )
        try:
            with self.store.transaction() as session:
                exists = session.execute(
                    select(CIRun.id).where(CIRun.intake_key == key)
                ).scalar_one_or_none()
                if exists is not None:
                    return None
                session.add(run)
        except IntegrityError:  # another intake of the same key won the race
            return None
        log.info("run %s for %s queued (%s), due %s", run.id, facts.label, run.trigger, deadline)
        return run

    def supersede(self, change: int, patch_set: int, *, same_patch_set: bool) -> list[str]:
        """Cancel queued runs of older patch sets; return running ones the caller must stop."""
        older = CIRun.patch_set <= patch_set if same_patch_set else CIRun.patch_set < patch_set
        where = (CIRun.ci_account == self.ci_account, CIRun.change_number == change, older)
        with self.store.transaction() as session:
            session.execute(
                update(CIRun)
                .where(*where, CIRun.state == QUEUED)
                .values(state=CANCELLED, detail=f"superseded by patch set {patch_set}")
            )
            running = session.execute(
                select(CIRun.id).where(*where, CIRun.state == RUNNING)
            ).scalars()
            return list(running)

    def cancel_queued_of_change(self, change: int, why: str) -> int:
        with self.store.transaction() as session:
            result = session.execute(
                update(CIRun)
                .where(
                    CIRun.ci_account == self.ci_account,
                    CIRun.change_number == change,
                    CIRun.state == QUEUED,
                )
                .values(state=CANCELLED, detail=why)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    # -- scheduling ---------------------------------------------------------------------------

    def waiting(self, limit: int = 1000, order: str = "deadline") -> list[CIRun]:
        """Queued runs, earliest deadline first (then oldest trigger); ``order="fifo"``
        serves them as they were queued instead (the benchmark's comparison)."""
        keys = (CIRun.id,) if order == "fifo" else (CIRun.deadline, CIRun.triggered_at, CIRun.id)
        with self.store.transaction() as session:
            rows = session.execute(
                select(CIRun)
                .where(CIRun.ci_account == self.ci_account, CIRun.state == QUEUED)
                .order_by(*keys)
                .limit(limit)
            ).scalars()
            return list(rows)

    def claim(self, run_id: str) -> bool:
        """queued -> running, only if still queued (it may have been superseded meanwhile)."""
        with self.store.transaction() as session:
            result = session.execute(
                update(CIRun)
                .where(CIRun.id == run_id, CIRun.state == QUEUED)
                .values(state=RUNNING, started_at=self.clock())
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def finish(self, run_id: str, result: str, jobs: Sequence[JobRecord], detail: str) -> None:
        with self.store.transaction() as session:
            run = session.get(CIRun, run_id)
            if run is None:
                return
            run.jobs.clear()
            session.flush()
            run.jobs.extend(job.row() for job in jobs)
            run.state, run.result, run.detail = FINISHED, result, detail
            run.finished_at = self.clock()

    def set_state(self, run_id: str, state: str, detail: str = "") -> None:
        with self.store.transaction() as session:
            session.execute(
                update(CIRun).where(CIRun.id == run_id).values(state=state, detail=detail)
            )

    def requeue(self, run_id: str) -> None:
        """Back to the queue, same attempt (a clean shutdown interrupted it)."""
        with self.store.transaction() as session:
            session.execute(
                update(CIRun)
                .where(CIRun.id == run_id, CIRun.state == RUNNING)
                .values(state=QUEUED, started_at=None)
            )

    def mark_reported(self, run_id: str, status: str) -> None:
        with self.store.transaction() as session:
            session.execute(
                update(CIRun)
                .where(CIRun.id == run_id)
                .values(state=REPORTED, report_status=status, reported_at=self.clock())
            )

    def recover(self) -> tuple[list[str], list[str]]:
        """After a crash: running runs are queued again once; a second crash gives up."""
        requeued: list[str] = []
        given_up: list[str] = []
        with self.store.transaction() as session:
            rows = session.execute(
                select(CIRun).where(CIRun.ci_account == self.ci_account, CIRun.state == RUNNING)
            ).scalars()
            for run in rows:
                if run.attempt < self.MAX_ATTEMPTS:
                    run.state, run.attempt, run.started_at = QUEUED, run.attempt + 1, None
                    requeued.append(run.id)
                else:
                    run.state = ERROR
                    run.detail = f"interrupted {run.attempt} times while running; given up"
                    given_up.append(run.id)
        for run_id in requeued:
            log.warning("run %s was running when the CI stopped: queued again", run_id)
        return requeued, given_up

    # -- look-ups -------------------------------------------------------------------------------

    def get(self, run_id: str) -> CIRun | None:
        with self.store.transaction() as session:
            run = session.get(CIRun, run_id)
            if run is not None:
                _ = list(run.jobs)  # load while the session is open
            return run

    def unreported(self) -> list[CIRun]:
        """Finished runs whose comment may not be posted yet (a crash between the two)."""
        with self.store.transaction() as session:
            rows = session.execute(
                select(CIRun).where(CIRun.ci_account == self.ci_account, CIRun.state == FINISHED)
            ).scalars()
            runs = list(rows)
            for run in runs:
                _ = list(run.jobs)
            return runs

    def has_run(self, change: int, patch_set: int) -> bool:
        """Any run of this patch set that is not cancelled (pending, reported or errored)."""
        return self._any_run(change, patch_set, CIRun.state != CANCELLED)

    def has_recheck_run_near(
        self, change: int, patch_set: int, moment: dt.datetime, slack: dt.timedelta
    ) -> bool:
        """A recheck run of this patch set (any state) triggered within SLACK of MOMENT."""
        return self._any_run(
            change,
            patch_set,
            CIRun.trigger == RECHECK,
            CIRun.triggered_at >= moment - slack,
            CIRun.triggered_at <= moment + slack,
        )

    def _any_run(self, change: int, patch_set: int, *conditions: ColumnElement[bool]) -> bool:
        with self.store.transaction() as session:
            count = session.execute(
                select(func.count())
                .select_from(CIRun)
                .where(
                    CIRun.ci_account == self.ci_account,
                    CIRun.change_number == change,
                    CIRun.patch_set == patch_set,
                    *conditions,
                )
            ).scalar_one()
            return bool(count)

    def runs(self, states: Sequence[str] | None = None) -> list[CIRun]:
        with self.store.transaction() as session:
            query = select(CIRun).where(CIRun.ci_account == self.ci_account)
            if states is not None:
                query = query.where(CIRun.state.in_(states))
            return list(session.execute(query.order_by(CIRun.deadline)).scalars())

    # -- counters the reporter keeps ------------------------------------------------------------

    def counter(self, name: str) -> int:
        with self.store.transaction() as session:
            value = get_meta(session, f"ci:{self.ci_account}:{name}")
            return int(value) if value else 0

    def set_counter(self, name: str, value: int) -> None:
        with self.store.transaction() as session:
            set_meta(session, f"ci:{self.ci_account}:{name}", str(value))
