"""Executor hosts simulated on this machine: network namespaces on a bridge of their own.

Each host is a network namespace with its own address on a private bridge whose host-side
address is where the test's servers (Gerrit emulator, RabbitMQ, Redis) listen. A host may
also have a "lab network" of its own: addresses on its loopback that no other namespace
(nor this machine's root namespace) can reach, where its testbeds' BMCs answer.

Creating namespaces needs root (CAP_NET_ADMIN); where ``ip netns add`` is refused the test
is skipped with the reason, or failed under DRIVERCI_REQUIRE_SERVICES=1. Everything created
is removed on the way out, also when the test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from brokers import need
from world import require_services


@dataclass(frozen=True)
class Host:
    """One simulated executor host: a network namespace and its address on the bridge."""

    namespace: str
    address: str

    def argv(self, *command: str) -> list[str]:
        return ["ip", "netns", "exec", self.namespace, *command]

    def ip(self, *arguments: str) -> None:
        _ip(*arguments, namespace=self.namespace)

    def fetch(self, url: str, timeout: float = 3.0) -> str | None:
        """GET ``url`` from inside this host's network; None when nothing answers."""
        done = subprocess.run(
            self.argv("curl", "-sf", "--max-time", str(timeout), url),
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout if done.returncode == 0 else None


@dataclass
class Lab:
    """The bridge, its host-side address, and the hosts on it."""

    bridge: str
    gateway: str
    hosts: dict[str, Host] = field(default_factory=dict)


def _ip(*arguments: str, namespace: str | None = None) -> None:
    argv = ["ip", *(("-n", namespace) if namespace else ()), *arguments]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")


def _free_subnet() -> str:
    """The first 10.213.N.0/24 that no interface of this machine uses (another run's lab)."""
    used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=True)
    for third in range(256):
        prefix = f"10.213.{third}."
        if f" {prefix}" not in used.stdout:
            return prefix
    raise RuntimeError("no free 10.213.N.0/24 subnet for the lab bridge")


def _refuse(why: str) -> None:
    if require_services():
        pytest.fail(why)
    pytest.skip(why)


@contextlib.contextmanager
def lab(names: Sequence[str] = ("a", "b")) -> Iterator[Lab]:
    """A bridge ``drvbr<pid>`` on this machine at 10.213.N.1/24 and one namespace
    ``drvci-<name>-<pid>`` per name at 10.213.N.2, .3, ... (loopback up in each)."""
    need("ip", "iproute2")
    need("curl", "curl")
    pid = os.getpid()
    namespaces = [f"drvci-{name}-{pid}" for name in names]
    probe = subprocess.run(
        ["ip", "netns", "add", namespaces[0]], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        _refuse(f"network namespaces not permitted here (ip netns add: {probe.stderr.strip()})")
    created = [namespaces[0]]
    bridge = f"drvbr{pid}"  # interface names are at most 15 characters
    try:
        prefix = _free_subnet()
        _ip("link", "add", bridge, "type", "bridge")
        _ip("addr", "add", f"{prefix}1/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        found = Lab(bridge, f"{prefix}1")
        for number, (name, namespace) in enumerate(zip(names, namespaces, strict=True), 2):
            if namespace not in created:
                _ip("netns", "add", namespace)
                created.append(namespace)
            outside, inside = f"drv{name}{pid}", f"drv{name}{pid}i"
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            _ip("link", "set", outside, "master", bridge)
            _ip("link", "set", outside, "up")
            _ip("link", "set", inside, "netns", namespace)
            host = Host(namespace, f"{prefix}{number}")
            host.ip("link", "set", "lo", "up")
            host.ip("link", "set", inside, "name", "eth0")
            host.ip("addr", "add", f"{host.address}/24", "dev", "eth0")
            host.ip("link", "set", "eth0", "up")
            found.hosts[name] = host
        yield found
    finally:
        # Deleting a namespace deletes its end of the veth pair, and with it the other end.
        for namespace in created:
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True, check=False)


class BMC:
    """A stand-in BMC: ``/redfish/v1/`` naming its testbed, served on an address of the
    host's lab network (on its loopback, so only that host can reach it)."""

    def __init__(self, host: Host, address: str, testbed: str) -> None:
        self.host = host
        self.address = address
        self.testbed = testbed
        self.root = Path(tempfile.mkdtemp(prefix=f"driverci-bmc-{testbed}-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.address}/redfish/v1/"

    def start(self, timeout: float = 15.0) -> BMC:
        service_root = self.root / "redfish" / "v1"
        service_root.mkdir(parents=True)
        (service_root / "index.html").write_text(
            json.dumps({"Id": self.testbed, "Name": f"BMC of {self.testbed}"}) + "\n"
        )
        self.host.ip("addr", "add", f"{self.address}/32", "dev", "lo")
        server = [sys.executable, "-m", "http.server", "80", "--bind", self.address]
        self.process = subprocess.Popen(
            self.host.argv(*server, "--directory", str(self.root)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while self.host.fetch(self.url, 1) is None:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"BMC {self.testbed} did not answer at {self.url}")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)
