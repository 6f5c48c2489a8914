"""One SSH exec request as the emulated commands see it: who asked, and where to answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import asyncssh

from driverci.emulator.ssh.stream import StreamHub
from driverci.emulator.state.model import Account

if TYPE_CHECKING:
    from driverci.emulator.git.store import GitStore
    from driverci.emulator.state.journal import EmulatorState


@dataclass
class CommandContext:
    """One exec request: who asked, and the channel to answer on."""

    state: EmulatorState
    git: GitStore
    hub: StreamHub
    account: Account
    process: asyncssh.SSHServerProcess[bytes]
    env: dict[str, str] = field(default_factory=dict)

    def out(self, text: str | bytes) -> None:
        self.process.stdout.write(text.encode() if isinstance(text, str) else text)

    def err(self, text: str) -> None:
        self.process.stderr.write(text.encode())

    async def drain(self) -> None:
        await self.process.stdout.drain()

    async def read_stdin(self) -> bytes:
        return await self.process.stdin.read()

    async def wait_closed(self) -> None:
        await self.process.wait_closed()


Command = Callable[[CommandContext, list[str]], Awaitable[int]]
