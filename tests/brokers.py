"""Private RabbitMQ and Redis servers on loopback, one per test, that a test may kill and restart.

The Debian packages' binaries are used as they are; each server gets its own ports, data
directory and node name, so killing one (SIGKILL) never disturbs the machine's own services.
Missing binaries skip the test with the reason, or fail it under DRIVERCI_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from world import require_services


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def need(binary: str, package: str) -> str:
    found = shutil.which(binary)
    if found is None:
        why = f"{binary} not installed (apt-get install {package})"
        if require_services():
            pytest.fail(why)
        pytest.skip(why)
    return found


def wait_for_port(port: int, timeout: float, what: str, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not listen on {host}:{port} within {timeout:.0f}s")


class Server:
    """One server process in its own session (so SIGKILL reaches all of it)."""

    def __init__(self, what: str, port: int, host: str = "127.0.0.1") -> None:
        self.what = what
        self.port = port
        self.host = host
        self.process: subprocess.Popen[bytes] | None = None
        self.log = Path(tempfile.mkstemp(prefix=f"driverci-{what}-", suffix=".log")[1])

    def command(self) -> tuple[list[str], dict[str, str]]:
        raise NotImplementedError

    def start(self, timeout: float = 60.0) -> None:
        argv, env = self.command()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            wait_for_port(self.port, timeout, self.what, self.host)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; its log: {self.log.read_text()[-2000:]}") from None

    def kill(self) -> None:
        """SIGKILL, as a crash would: nothing is flushed or closed cleanly."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
            self.process = None
        self._wait_closed()

    def _wait_closed(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection((self.host, self.port), timeout=0.3).close()
            except OSError:
                return
            time.sleep(0.1)

    def restart(self) -> None:
        self.kill()
        self.start()


class PrivateRedis(Server):
    def __init__(self, host: str = "127.0.0.1", password: str | None = None) -> None:
        super().__init__("redis", free_port(), host)
        self.password = password
        self.dir = Path(tempfile.mkdtemp(prefix="driverci-redis-"))
        self.binary = need("redis-server", "redis-server")

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def command(self) -> tuple[list[str], dict[str, str]]:
        # Append-only, as a production backend should be: results survive a restart.
        argv = [self.binary, "--port", str(self.port), "--bind", self.host, "--dir", str(self.dir)]
        argv += ["--save", "", "--appendonly", "yes", "--appendfsync", "always"]
        if self.password is not None:
            argv += ["--requirepass", self.password]
        if self.host != "127.0.0.1":
            # Bound to one address of a private bridge (the multi-host test): without a
            # password, protected mode would refuse every client that is not on loopback.
            argv += ["--protected-mode", "no"]
        return argv, dict(os.environ)


class PrivateRabbitMQ(Server):
    """A RabbitMQ node of its own (node name, ports, Mnesia directory), started in ~5 s."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__("rabbitmq", free_port(), host)
        self.binary = need("rabbitmq-server", "rabbitmq-server")
        # Debian's wrapper runs the node as the rabbitmq user: its directory must be its own.
        self.dir = Path(tempfile.mkdtemp(prefix="driverci-rabbitmq-"))
        (self.dir / "home").mkdir()
        (self.dir / "enabled_plugins").write_text("[].\n")
        with contextlib.suppress(KeyError, PermissionError):
            user = pwd.getpwnam("rabbitmq")
            for path in (self.dir, self.dir / "home", self.dir / "enabled_plugins"):
                os.chown(path, user.pw_uid, user.pw_gid)
        self.dist_port = free_port()
        self.node = f"driverci-{self.port}@localhost"

    @property
    def url(self) -> str:
        return f"amqp://guest@{self.host}:{self.port}//"

    def command(self) -> tuple[list[str], dict[str, str]]:
        env = dict(os.environ)
        env.update(
            HOME=str(self.dir / "home"),
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_IP_ADDRESS=self.host,
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.dir / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.dir / "log"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.dir / "enabled_plugins"),
            RABBITMQ_PID_FILE=str(self.dir / "pid"),
            RABBITMQ_CONFIG_FILE=str(self.dir / "rabbitmq"),
        )
        # guest may log in from a non-loopback address (the multi-host test's namespaces).
        (self.dir / "rabbitmq.conf").write_text("loopback_users = none\n")
        with contextlib.suppress(KeyError, PermissionError):
            user = pwd.getpwnam("rabbitmq")
            os.chown(self.dir / "rabbitmq.conf", user.pw_uid, user.pw_gid)
        return [self.binary], env

    def kill(self) -> None:
        # Debian's wrapper starts the Erlang VM through su, in a session of its own: find
        # the node's processes by the node name in their environment.
        marker = f"RABBITMQ_NODENAME={self.node}".encode()
        for proc in Path("/proc").iterdir():
            with contextlib.suppress(OSError):
                if proc.name.isdigit() and marker in (proc / "environ").read_bytes().split(b"\0"):
                    os.kill(int(proc.name), signal.SIGKILL)
        super().kill()


@contextlib.contextmanager
def brokers(host: str = "127.0.0.1") -> Iterator[tuple[PrivateRabbitMQ, PrivateRedis]]:
    rabbit, redis_server = PrivateRabbitMQ(host), PrivateRedis(host)
    redis_server.start()
    try:
        rabbit.start()
        try:
            yield rabbit, redis_server
        finally:
            rabbit.kill()
            shutil.rmtree(rabbit.dir, ignore_errors=True)
    finally:
        redis_server.kill()
        shutil.rmtree(redis_server.dir, ignore_errors=True)
