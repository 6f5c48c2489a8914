"""Rich progress bars for long work, shared by every command."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class StageProgress:
    """One bar per named stage; ``report(stage, done, total)`` is the callback work calls."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> StageProgress:
        self.progress.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.progress.__exit__(kind, error, trace)

    def report(self, stage: str, done: int, total: int | None) -> None:
        if stage not in self._tasks:
            self._tasks[stage] = self.progress.add_task(stage, total=total)
        self.progress.update(self._tasks[stage], completed=done, total=total)

    def reporter(self, stage: str) -> StageReporter:
        return StageReporter(self, stage)


class StageReporter:
    """``(done, total)`` callback bound to one stage."""

    def __init__(self, owner: StageProgress, stage: str) -> None:
        self.owner = owner
        self.stage = stage

    def __call__(self, done: int, total: int | None) -> None:
        self.owner.report(self.stage, done, total)
