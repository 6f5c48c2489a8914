"""The emulator's state: every mutation is an operation, applied in memory and journalled.

Each public method validates its input, resolves everything random or time-dependent
(ids, timestamps) into a plain JSON operation, applies it, appends it to
``<state dir>/journal.jsonl`` and tells listeners about the events it caused. Re-opening a
state directory replays the journal, so nothing posted is ever lost across restarts, and
a replay reproduces exactly the same ids and timestamps.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from driverci.emulator.state import operations
from driverci.emulator.state.changes import ChangeOperations, EmulatorError, iso
from driverci.emulator.state.model import (
    Account,
    Change,
    EmulatorEvent,
    Project,
)
from driverci.emulator.state.tables import StateTables, message_id

__all__ = ["EmulatorError", "EmulatorState", "message_id", "utc_now"]

log = logging.getLogger(__name__)

Listener = Callable[[EmulatorEvent], None]


def utc_now() -> datetime:
    return datetime.now(UTC)


class EmulatorState(ChangeOperations, StateTables):
    """All accounts, projects and changes of one emulated Gerrit server."""

    JOURNAL_NAME = "journal.jsonl"

    def __init__(
        self,
        state_dir: Path | None = None,
        clock: Callable[[], datetime] = utc_now,
        web_url: str = "http://127.0.0.1:8080",
    ) -> None:
        StateTables.__init__(self)
        self.state_dir = state_dir
        self.clock = clock
        self.web_url = web_url.rstrip("/")
        self._listeners: list[Listener] = []
        self._journal: IO[str] | None = None
        self._batch_depth = 0
        self._replaying = False
        if state_dir is not None:
            state_dir.mkdir(parents=True, exist_ok=True)
            self._replay(state_dir / self.JOURNAL_NAME)
            self._journal = open(state_dir / self.JOURNAL_NAME, "a", encoding="utf-8")  # noqa: SIM115

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        if self._journal is not None:
            self._journal.flush()
            os.fsync(self._journal.fileno())
            self._journal.close()
            self._journal = None

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group many operations (seeding): the journal is flushed once at the end."""
        self._batch_depth += 1
        try:
            yield
        finally:
            self._batch_depth -= 1
            if self._batch_depth == 0 and self._journal is not None:
                self._journal.flush()

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _replay(self, journal: Path) -> None:
        if not journal.exists():
            return
        self._replaying = True
        try:
            with open(journal, encoding="utf-8") as lines:
                for line_number, line in enumerate(lines, start=1):
                    if not line.strip():
                        continue
                    try:
                        op = json.loads(line)
                    except json.JSONDecodeError as exc:
                        # A crash can leave a torn last line; anything else is corruption.
                        log.warning(
                            "%s:%d: skipping unreadable journal line (%s)",
                            journal,
                            line_number,
                            exc,
                        )
                        continue
                    operations.apply(self, op)
        finally:
            self._replaying = False

    def commit(self, op: dict[str, Any]) -> list[EmulatorEvent]:
        """Apply one operation, journal it and tell the listeners what happened."""
        events = operations.apply(self, op)
        if self._journal is not None:
            self._journal.write(json.dumps(op, separators=(",", ":")) + "\n")
            if self._batch_depth == 0:
                self._journal.flush()
        for event in events:
            for listener in list(self._listeners):
                listener(event)
        return events

    # -- look-ups --------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock()

    def account_by_username(self, username: str) -> Account | None:
        return self._by_username.get(username)

    def find_account(self, who: str) -> Account | None:
        """Resolve USER as Gerrit does in queries: id, username, email or full name."""
        if who.isdigit() and int(who) in self.accounts:
            return self.accounts[int(who)]
        if who in self._by_username:
            return self._by_username[who]
        for account in self.accounts.values():
            if who in (account.email, account.name):
                return account
        return None

    def get_project(self, name: str) -> Project:
        project = self.projects.get(name)
        if project is None:
            raise EmulatorError(404, f"Not found: {name}")
        return project

    def get_change(self, number: int) -> Change:
        change = self.changes.get(number)
        if change is None:
            raise EmulatorError(404, f"Not found: {number}")
        return change

    def find_change(self, identifier: str) -> Change:
        """Resolve a Gerrit change id: number, project~number, project~branch~I..., or I..."""
        parts = identifier.split("~")
        if len(parts) == 1 and identifier.isdigit():
            return self.get_change(int(identifier))
        if len(parts) == 2 and parts[1].isdigit():
            change = self.changes.get(int(parts[1]))
            if change is not None and change.project == parts[0]:
                return change
        elif len(parts) == 3:
            for change in self.changes.values():
                if (change.project, change.branch, change.change_id) == tuple(parts):
                    return change
        elif len(parts) == 1 and identifier.startswith("I"):
            found = [c for c in self.changes.values() if c.change_id == identifier]
            if len(found) == 1:
                return found[0]
        raise EmulatorError(404, f"Not found: {identifier}")

    def open_change_for(self, project: str, branch: str, change_id: str) -> Change | None:
        number = self._open_by_key.get((project, branch, change_id))
        return self.changes.get(number) if number is not None else None

    # -- accounts and projects -------------------------------------------------------------

    def add_account(
        self,
        username: str,
        name: str,
        email: str | None = None,
        http_password: str | None = None,
        ssh_keys: Iterable[str] = (),
        tags: Iterable[str] = (),
        is_admin: bool = False,
    ) -> Account:
        existing = self._by_username.get(username)
        if existing is not None:
            raise EmulatorError(409, f"username {username!r} already exists")
        self.commit(
            {
                "op": "account",
                "account_id": self.next_account_id,
                "username": username,
                "name": name,
                "email": email,
                "http_password": http_password,
                "ssh_keys": [k.strip() for k in ssh_keys],
                "tags": list(tags),
                "is_admin": is_admin,
            }
        )
        return self._by_username[username]

    def update_account(
        self,
        username: str,
        http_password: str | None = None,
        add_ssh_keys: Iterable[str] = (),
        name: str | None = None,
        email: str | None = None,
    ) -> Account:
        account = self._by_username.get(username)
        if account is None:
            raise EmulatorError(404, f"Account '{username}' not found")
        self.commit(
            {
                "op": "account_update",
                "account_id": account.account_id,
                "http_password": http_password,
                "add_ssh_keys": [k.strip() for k in add_ssh_keys],
                "name": name,
                "email": email,
            }
        )
        return account

    def create_project(
        self,
        name: str,
        at: datetime | None = None,
        voters: dict[str, list[str]] | None = None,
        description: str = "",
    ) -> Project:
        if name in self.projects:
            raise EmulatorError(409, f"Project already exists: {name}")
        self.commit(
            {
                "op": "project",
                "name": name,
                "at": iso(at or self.now()),
                "voters": voters or {},
                "description": description,
            }
        )
        return self.projects[name]

    def set_branch(
        self,
        project: str,
        branch: str,
        revision: str,
        at: datetime | None = None,
        submitter_id: int | None = None,
    ) -> None:
        """Create a branch or move its tip (emits ref-updated)."""
        self.get_project(project)
        self.commit(
            {
                "op": "branch",
                "project": project,
                "branch": branch,
                "revision": revision,
                "at": iso(at or self.now()),
                "submitter_id": submitter_id,
            }
        )

    def emit(self, event: EmulatorEvent) -> None:
        """Send an event that changes no state (e.g. ``dropped-output`` tests)."""
        for listener in list(self._listeners):
            listener(event)

