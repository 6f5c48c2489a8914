"""The emulated Gerrit SSH daemon (asyncssh): public-key auth per account, exec commands.

Clients authenticate as ``USERNAME`` with a key listed in that account's ``ssh_keys``
(OpenSSH one-line public keys; only the key material is compared, never the comment).
The host key is an ed25519 key kept at ``host_key_path`` so clients' ``known_hosts`` stays
valid across restarts. Commands are exec requests handled by
:class:`~driverci.emulator.ssh.commands.GerritCommands`; there is no shell.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import asyncssh

from driverci.emulator.ssh.commands import GerritCommands
from driverci.emulator.ssh.context import CommandContext
from driverci.emulator.ssh.stream import StreamHub
from driverci.errors import DriverCIError

if TYPE_CHECKING:
    from driverci.emulator.git.store import GitStore
    from driverci.emulator.state.journal import EmulatorState

log = logging.getLogger(__name__)

# What Gerrit's NoShell answers to an interactive login (exit status 127).
NO_SHELL_BANNER = """\

  ****    Welcome to Gerrit Code Review    ****

  Hi {name}, you have successfully connected over SSH.

  Unfortunately, interactive shells are disabled.
  To clone a hosted Git repository, use:

  git clone ssh://{username}@{host}:{port}/REPOSITORY_NAME.git

"""


def load_or_create_host_key(path: Path) -> asyncssh.SSHKey:
    """Read the server's ed25519 host key, generating and saving it on first use."""
    if path.exists():
        return asyncssh.read_private_key(str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    key = asyncssh.generate_private_key("ssh-ed25519", comment="driverci-emulator")
    key.write_private_key(str(path))
    os.chmod(path, 0o600)
    key.write_public_key(str(path) + ".pub")
    log.info("generated SSH host key %s (%s)", path, key.get_fingerprint())
    return key


class AuthorizedKeys:
    """Per-account public keys, parsed once per key string."""

    def __init__(self, state: EmulatorState) -> None:
        self._state = state
        self._parsed: dict[str, bytes | None] = {}

    def _material(self, line: str) -> bytes | None:
        if line not in self._parsed:
            try:
                self._parsed[line] = asyncssh.import_public_key(line).public_data
            except (asyncssh.KeyImportError, ValueError) as exc:
                log.warning("ignoring unreadable SSH key %.40s...: %s", line, exc)
                self._parsed[line] = None
        return self._parsed[line]

    def accepts(self, username: str, key: asyncssh.SSHKey) -> bool:
        account = self._state.account_by_username(username)
        if account is None:
            return False
        offered = key.public_data
        return any(self._material(line) == offered for line in account.ssh_keys)


class _GerritSSHServer(asyncssh.SSHServer):
    """One client connection: public-key authentication only."""

    def __init__(
        self, keys: AuthorizedKeys, connections: set[asyncssh.SSHServerConnection]
    ) -> None:
        self._keys = keys
        self._connections = connections
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True  # every user must authenticate

    def password_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        accepted = self._keys.accepts(username, key)
        if not accepted:
            log.info("SSH key %s refused for user %r", key.get_fingerprint(), username)
        return accepted


class SSHServerHandle:
    """A running SSH server: ``port`` is the bound port (useful with port 0)."""

    def __init__(
        self,
        acceptor: asyncssh.SSHAcceptor,
        hub: StreamHub,
        connections: set[asyncssh.SSHServerConnection],
        host_key: asyncssh.SSHKey,
    ) -> None:
        self._acceptor = acceptor
        self._hub = hub
        self._connections = connections
        self.port: int = acceptor.get_port()
        self.host_key = host_key

    @property
    def host_public_key(self) -> str:
        """The host key as an OpenSSH public key line (for a client's known_hosts)."""
        return self.host_key.export_public_key("openssh").decode().strip()

    @property
    def stream_subscribers(self) -> int:
        """How many ``stream-events`` connections are listening (tests wait for theirs)."""
        return self._hub.subscriber_count

    @property
    def stream_dropped_events(self) -> int:
        """Events dropped so far for slow ``stream-events`` readers still connected."""
        return self._hub.dropped_count

    async def disconnect_all(self) -> int:
        """Cut every client connection abruptly, as a network failure would; keep listening.

        For tests of client reconnection. Returns how many connections were cut.
        """
        cut = list(self._connections)
        for conn in cut:
            conn.abort()
        for conn in cut:
            await conn.wait_closed()
        return len(cut)

    async def close(self) -> None:
        self._acceptor.close()
        for conn in list(self._connections):
            conn.close()
        for conn in list(self._connections):
            await conn.wait_closed()
        await self._acceptor.wait_closed()
        self._hub.close()


class _ProcessHandler:
    """Runs one exec request to its exit status."""

    def __init__(
        self, state: EmulatorState, git: GitStore, hub: StreamHub, host: str, port_ref: list[int]
    ) -> None:
        self._state = state
        self._git = git
        self._hub = hub
        self._host = host
        self._port_ref = port_ref
        self._commands = GerritCommands()

    async def __call__(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        username = str(process.get_extra_info("username") or "")
        account = self._state.account_by_username(username)
        if account is None:  # the account was removed after authentication
            process.stderr.write(b"fatal: account not found\n")
            process.exit(1)
            return
        command = process.command
        if command is None:
            banner = NO_SHELL_BANNER.format(
                name=account.name,
                username=username,
                host=self._host,
                port=self._port_ref[0] if self._port_ref else 29418,
            )
            process.stderr.write(banner.encode())
            process.exit(127)
            return
        log.info("ssh %s: %s", username, command)
        context = CommandContext(
            self._state, self._git, self._hub, account, process, env=dict(process.env)
        )
        try:
            status = await self._commands.run(context, command)
        except DriverCIError as exc:
            process.stderr.write(f"fatal: {exc}\n".encode())
            status = 1
        except (ConnectionError, asyncssh.Error) as exc:
            log.info("ssh %s: %s: channel closed (%s)", username, command, exc)
            return
        process.exit(status)


async def start_ssh_server(
    state: EmulatorState,
    git: GitStore,
    host: str,
    port: int,
    host_key_path: Path,
) -> SSHServerHandle:
    """Listen for SSH clients on ``host:port`` (0 picks a free port)."""
    host_key = load_or_create_host_key(host_key_path)
    hub = StreamHub(state)
    keys = AuthorizedKeys(state)
    connections: set[asyncssh.SSHServerConnection] = set()
    port_ref: list[int] = []
    acceptor = await asyncssh.create_server(
        lambda: _GerritSSHServer(keys, connections),
        host,
        port,
        server_host_keys=[host_key],
        process_factory=_ProcessHandler(state, git, hub, host, port_ref),
        encoding=None,
        allow_scp=False,
        agent_forwarding=False,
        x11_forwarding=False,
        line_editor=False,
    )
    handle = SSHServerHandle(acceptor, hub, connections, host_key)
    port_ref.append(handle.port)
    log.info("Gerrit SSH emulator listening on %s:%d", host, handle.port)
    return handle
