"""The testbed pool: which run holds which testbed, and which testbeds are out of service.

A testbed (a server with a BMC) serves one job at a time. A run holds, for each label its
jobs ask for, one testbed with that label from the moment it starts until its last job
ends; one testbed offering several labels may serve all of them (the jobs of a run run one
after another). Holding is in memory: after a crash the running runs are queued again.
In or out of service and the run of failures are in the store, so they survive restarts
and ``driverci ci status`` (another process) shows them, and the operator's
``driverci ci testbed enable`` reaches the running CI.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from driverci.ci.config import TestbedConfig
from driverci.errors import ConfigError
from driverci.store.db import Store
from driverci.store.models import CITestbed

log = logging.getLogger(__name__)

#: Job results that count against the testbed; SUCCESS resets the count, others are neutral.
TESTBED_FAILURES = ("FAILURE", "TIMED_OUT", "ERROR")


@dataclass(frozen=True)
class TestbedState:
    name: str
    labels: tuple[str, ...]
    bmc: str | None
    in_service: bool
    consecutive_failures: int
    current_run: str
    detail: str
    changed_at: dt.datetime | None

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "labels": list(self.labels),
            "bmc": self.bmc,
            "in_service": self.in_service,
            "consecutive_failures": self.consecutive_failures,
            "current_run": self.current_run or None,
            "detail": self.detail,
            "changed_at": self.changed_at.isoformat() if self.changed_at else None,
        }


class TestbedPool:
    """Allocation and health of one CI's testbeds."""

    __test__ = False  # not a pytest class, despite its name

    def __init__(
        self,
        store: Store,
        ci_account: str,
        testbeds: Sequence[TestbedConfig],
        max_failures: int,
        clock: Callable[[], dt.datetime],
        *,
        reset_holders: bool = True,
    ) -> None:
        self.store = store
        self.ci_account = ci_account
        self.testbeds = {testbed.name: testbed for testbed in testbeds}
        self.max_failures = max_failures
        self.clock = clock
        self.holder: dict[str, str] = {}  # testbed name -> run id
        # When each testbed was last given out (a counter): the least recently used goes
        # first, so every testbed keeps being exercised and a broken one shows early.
        self.last_given: dict[str, int] = {}
        self._given = 0
        self._sync(reset_holders)

    def _sync(self, reset_holders: bool) -> None:
        """Rows for declared testbeds; at the service's start-up nobody holds anything
        (``reset_holders=False``: the CLI, beside a running service)."""
        with self.store.transaction() as session:
            rows = {row.name: row for row in self._rows(session)}
            for name in self.testbeds:
                row = rows.get(name)
                if row is None:
                    session.add(
                        CITestbed(
                            ci_account=self.ci_account,
                            name=name,
                            in_service=True,
                            consecutive_failures=0,
                            current_run="",
                            detail="",
                            changed_at=self.clock(),
                        )
                    )
                elif reset_holders:
                    row.current_run = ""

    def _rows(self, session: Session) -> list[CITestbed]:
        query = select(CITestbed).where(CITestbed.ci_account == self.ci_account)
        return list(session.execute(query).scalars())

    def _in_service(self) -> set[str]:
        with self.store.transaction() as session:
            return {row.name for row in self._rows(session) if row.in_service}

    # -- allocation ---------------------------------------------------------------------------

    def can_serve(self, labels: Sequence[str]) -> bool:
        """Whether every label has at least one testbed in service (held or not)."""
        usable = self._in_service()
        return all(any(label in self.testbeds[name].labels for name in usable) for label in labels)

    def allocate(self, run_id: str, labels: Sequence[str]) -> dict[str, TestbedConfig] | None:
        """One free testbed in service per label, or None (nothing is held then)."""
        if not labels:
            return {}
        usable = self._in_service()
        chosen: dict[str, TestbedConfig] = {}
        for label in labels:
            candidates = [
                testbed
                for name, testbed in self.testbeds.items()
                if label in testbed.labels
                and name in usable
                and (name not in self.holder or self.holder[name] == run_id)
            ]
            if not candidates:
                self.release(run_id)
                return None
            # One this run already holds first, then the least versatile (keep the others
            # free), then the least recently used.
            best = min(
                candidates,
                key=lambda t: (
                    self.holder.get(t.name) != run_id,
                    len(t.labels),
                    self.last_given.get(t.name, 0),
                    t.name,
                ),
            )
            if self.holder.get(best.name) != run_id:
                self._given += 1
                self.last_given[best.name] = self._given
            self.holder[best.name] = run_id
            chosen[label] = best
        self._show_holders({t.name for t in chosen.values()}, run_id)
        return chosen

    def release(self, run_id: str) -> None:
        names = {name for name, holder in self.holder.items() if holder == run_id}
        for name in names:
            del self.holder[name]
        if names:
            self._show_holders(names, "")

    def _show_holders(self, names: set[str], run_id: str) -> None:
        with self.store.transaction() as session:
            for row in self._rows(session):
                if row.name in names:
                    row.current_run = run_id

    # -- health ---------------------------------------------------------------------------------

    def record(self, name: str, result: str, detail: str) -> bool:
        """Count a job's result on its testbed; True when this takes it out of service."""
        if name not in self.testbeds:
            return False
        with self.store.transaction() as session:
            row = next((r for r in self._rows(session) if r.name == name), None)
            if row is None:
                return False
            if result == "SUCCESS":
                row.consecutive_failures = 0
                return False
            if result not in TESTBED_FAILURES:
                return False
            row.consecutive_failures += 1
            row.detail = f"last failure: {result}" + (f" ({detail})" if detail else "")
            if row.in_service and row.consecutive_failures >= self.max_failures:
                row.in_service = False
                row.changed_at = self.clock()
                row.detail = (
                    f"out of service after {row.consecutive_failures} failed jobs in a row; "
                    f"last: {result}" + (f" ({detail})" if detail else "")
                )
                log.error("testbed %s: %s", name, row.detail)
                return True
        return False

    def set_service(self, name: str, in_service: bool, why: str) -> None:
        """The operator's ``driverci ci testbed enable|disable``."""
        if name not in self.testbeds:
            known = ", ".join(sorted(self.testbeds)) or "none"
            raise ConfigError(f"no testbed named {name!r} in ci.yaml (testbeds: {known})")
        with self.store.transaction() as session:
            for row in self._rows(session):
                if row.name == name:
                    row.in_service = in_service
                    row.consecutive_failures = 0 if in_service else row.consecutive_failures
                    row.detail = why
                    row.changed_at = self.clock()

    def states(self) -> list[TestbedState]:
        with self.store.transaction() as session:
            rows = {row.name: row for row in self._rows(session)}
        return [
            TestbedState(
                name=name,
                labels=tuple(testbed.labels),
                bmc=testbed.bmc,
                in_service=rows[name].in_service if name in rows else True,
                consecutive_failures=rows[name].consecutive_failures if name in rows else 0,
                current_run=rows[name].current_run if name in rows else "",
                detail=rows[name].detail if name in rows else "",
                changed_at=rows[name].changed_at if name in rows else None,
            )
            for name, testbed in self.testbeds.items()
        ]
