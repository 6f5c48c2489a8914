"""Whether the store holds anything to judge in a window.

Judged over a window the store does not cover (never collected, or collected long ago),
every CI would look unreliable and every driver unsupported: the commands that act on
verdicts (``propose``, ``notify``) refuse such a window, and ``report`` warns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select

from driverci.audit.evaluate.facts import Window
from driverci.errors import ConfigError
from driverci.store.db import Store
from driverci.store.models import Change, PatchSet


@dataclass(frozen=True)
class WindowCoverage:
    """What the store holds of a project around a window."""

    project: str
    window: Window
    #: The project's patch sets created in the window.
    patch_sets: int
    #: When the project's newest stored patch set was created (None: nothing collected).
    newest: datetime | None

    @property
    def empty(self) -> bool:
        return self.patch_sets == 0

    def describe(self) -> str:
        """Why there is nothing to judge, and what to do (one line)."""
        newest = f"newest {self.newest:%Y-%m-%d}" if self.newest else "none collected yet"
        return (
            f"the store holds no patch set of {self.project} created from "
            f"{self.window.start:%Y-%m-%d} to {self.window.end:%Y-%m-%d} ({newest}); collect "
            "first (driverci audit collect) or choose the window with --since/--until"
        )


def window_coverage(store: Store, project: str, window: Window) -> WindowCoverage:
    """Count the project's patch sets in ``window`` and find its newest (two indexed reads)."""
    of_project = Change.project == project
    with store.transaction() as session:
        in_window = session.scalar(
            select(func.count(PatchSet.id))
            .join(Change, Change.id == PatchSet.change_pk)
            .where(of_project, PatchSet.created >= window.start, PatchSet.created < window.end)
        )
        newest = session.scalar(
            select(func.max(PatchSet.created))
            .join(Change, Change.id == PatchSet.change_pk)
            .where(of_project)
        )
    if newest is not None and newest.tzinfo is None:
        newest = newest.replace(tzinfo=UTC)  # SQLite keeps no zone; the store writes UTC
    return WindowCoverage(project, window, int(in_window or 0), newest)


def require_coverage(store: Store, project: str, window: Window, action: str) -> None:
    """Raise ConfigError (``nothing to <action>: ...``) when the window holds no patch set."""
    coverage = window_coverage(store, project, window)
    if coverage.empty:
        raise ConfigError(f"nothing to {action}: {coverage.describe()}")
