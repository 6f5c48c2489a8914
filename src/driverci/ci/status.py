"""``driverci ci status``: what waits, what runs, the testbeds, and the on-time rate."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from driverci.ci.pool import TestbedState
from driverci.ci.queue import QUEUED, REPORTED, RUNNING, RunQueue
from driverci.ci.report import EMAILED, POSTED, POSTED_NO_VOTE
from driverci.store.models import CIRun

#: Report statuses that mean a result reached Gerrit (or the operator, in silent mode).
DELIVERED = (POSTED, POSTED_NO_VOTE, "found-posted", EMAILED)


@dataclass
class RunLine:
    run_id: str
    change: int
    patch_set: int
    trigger: str
    triggered_at: str
    deadline: str
    overdue: bool
    attempt: int


@dataclass
class CIStatus:
    ci: str
    now: str
    waiting: list[RunLine] = field(default_factory=list)
    running: list[RunLine] = field(default_factory=list)
    reported: int = 0
    on_time: int = 0
    testbeds: list[TestbedState] = field(default_factory=list)

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.reported if self.reported else None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["on_time_rate"] = self.on_time_rate
        data["testbeds"] = [testbed.to_json() for testbed in self.testbeds]
        data["testbeds_out_of_service"] = [t.name for t in self.testbeds if not t.in_service]
        return data


def _line(run: CIRun, now: dt.datetime) -> RunLine:
    return RunLine(
        run_id=run.id,
        change=run.change_number,
        patch_set=run.patch_set,
        trigger=run.trigger,
        triggered_at=run.triggered_at.isoformat(timespec="seconds"),
        deadline=run.deadline.isoformat(timespec="seconds"),
        overdue=run.deadline < now,
        attempt=run.attempt,
    )


def collect_status(
    queue: RunQueue, now: dt.datetime, testbeds: list[TestbedState] | None = None
) -> CIStatus:
    status = CIStatus(ci=queue.ci_account, now=now.isoformat(timespec="seconds"))
    status.testbeds = list(testbeds or [])
    for run in queue.runs([QUEUED, RUNNING, REPORTED]):
        if run.state == QUEUED:
            status.waiting.append(_line(run, now))
        elif run.state == RUNNING:
            status.running.append(_line(run, now))
        elif run.report_status in DELIVERED and run.reported_at is not None:
            status.reported += 1
            status.on_time += run.reported_at <= run.deadline
    return status


def render_status(status: CIStatus, console: Console) -> None:
    for title, lines in (("Running", status.running), ("Waiting", status.waiting)):
        table = Table(title=f"{title} ({len(lines)})")
        for column in ("change,ps", "trigger", "triggered (UTC)", "deadline (UTC)", "attempt"):
            table.add_column(column)
        for line in lines:
            deadline = f"[red]{line.deadline} overdue[/red]" if line.overdue else line.deadline
            table.add_row(
                f"{line.change},{line.patch_set}",
                line.trigger,
                line.triggered_at,
                deadline,
                str(line.attempt),
            )
        console.print(table)
    if status.testbeds:
        render_testbeds(status.testbeds, console)
    rate = status.on_time_rate
    shown = "n/a (nothing reported yet)" if rate is None else f"{rate:.1%}"
    console.print(f"On time: {shown} ({status.on_time} of {status.reported} reported)")


def render_testbeds(testbeds: list[TestbedState], console: Console) -> None:
    out = sum(not testbed.in_service for testbed in testbeds)
    title = f"Testbeds ({len(testbeds)}" + (f", [red]{out} out of service[/red])" if out else ")")
    table = Table(title=title)
    for column in ("testbed", "labels", "state", "failed in a row", "run", "detail"):
        table.add_column(column)
    for testbed in testbeds:
        state = "[green]in service[/green]" if testbed.in_service else "[red]OUT OF SERVICE[/red]"
        table.add_row(
            testbed.name,
            ",".join(testbed.labels),
            state,
            str(testbed.consecutive_failures),
            testbed.current_run or "-",
            testbed.detail,
        )
    console.print(table)
