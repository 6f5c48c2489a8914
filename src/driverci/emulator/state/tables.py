"""The tables of the emulator's state: what its journalled operations read and write."""

from __future__ import annotations

import hashlib
from datetime import datetime

from driverci.emulator.state.model import Account, Change, Project


class StateTables:
    """Accounts, projects and changes by key, and the next ids to hand out.

    :class:`~driverci.emulator.state.journal.EmulatorState` is these tables plus the journal;
    :mod:`~driverci.emulator.state.operations` changes them, knowing nothing of the journal.
    """

    FIRST_ACCOUNT_ID = 1000000
    FIRST_CHANGE_NUMBER = 1

    def __init__(self) -> None:
        self.accounts: dict[int, Account] = {}
        self.projects: dict[str, Project] = {}
        self.changes: dict[int, Change] = {}
        self._by_username: dict[str, Account] = {}
        self._open_by_key: dict[tuple[str, str, str], int] = {}
        self.next_change_number = self.FIRST_CHANGE_NUMBER
        self.next_account_id = self.FIRST_ACCOUNT_ID


def message_id(change_number: int, index: int, date: datetime) -> str:
    """A stable 40-hex id like Gerrit 3's, the same on every replay."""
    return hashlib.sha1(f"{change_number}:{index}:{date.isoformat()}".encode()).hexdigest()
