"""The emulator as a conformance target: accounts and projects written into a state directory,
then ``driverci emulator serve`` in its own process, spoken to only over the wire."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
from gerrit_target import PROJECT, SANDBOX, GerritTarget, Login, make_key

from driverci.emulator.git.store import GitStore
from driverci.emulator.server import EmulatorServer
from driverci.emulator.state.journal import EmulatorState

START_TIMEOUT = 30.0
INITIAL_FILES = {
    "README.rst": b"Ironic\n======\n",
    "ironic/__init__.py": b"",
    "doc/source/index.rst": b"Ironic docs\n",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def logins(work: Path) -> dict[str, Login]:
    keys = work / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    return {
        name: Login(name, password, make_key(keys / f"id_{name}"), f"{name}@example.com")
        for name, password in (
            ("admin", "secret"),
            ("sandbox-ci", "sandbox-ci-secret"),
            ("developer", "developer-secret"),
            ("nostream", "nostream-secret"),
        )
    }


async def _provision(state_dir: Path, people: dict[str, Login]) -> None:
    state = EmulatorState(state_dir)
    try:
        names = {
            "admin": "Administrator",
            "sandbox-ci": "Sandbox Redfish CI",
            "developer": "Dev Eloper",  # as driverci.realgerrit names the accounts
            "nostream": "No Stream",
        }
        for username, login in people.items():
            state.add_account(
                username,
                names[username],
                login.email,
                http_password=login.password,
                ssh_keys=[login.key_path.with_suffix(".pub").read_text()],
                tags=["SERVICE_USER"] if username == "sandbox-ci" else [],
                is_admin=username == "admin",
            )
        at = datetime.now(UTC)
        state.create_project(PROJECT, at=at, voters={"Verified": ["sandbox-ci"]})
        state.create_project(SANDBOX, at=at, voters={"Verified": ["*"]})
        git = GitStore(state_dir / EmulatorServer.GIT_DIR_NAME)
        admin = state.account_by_username("admin")
        assert admin is not None
        for project in (PROJECT, SANDBOX):
            tip = await git.create_commit(project, None, INITIAL_FILES, "Initial import", admin, at)
            await git.update_ref(project, "refs/heads/master", tip)
            state.set_branch(project, "master", tip, at=at)
    finally:
        state.close()


@contextmanager
def emulator_target(work: Path) -> Iterator[GerritTarget]:
    """A served emulator holding the suite's accounts and projects; stopped on exit."""
    people = logins(work)
    state_dir = work / "state"
    asyncio.run(_provision(state_dir, people))
    http_port, ssh_port = free_port(), free_port()
    log = open(work / "emulator.log", "wb")  # noqa: SIM115 (closed below, after the process)
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("driverci")),
            "emulator",
            "serve",
            "--state",
            str(state_dir),
            "--http-port",
            str(http_port),
            "--ssh-port",
            str(ssh_port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{http_port}"
    try:
        _wait_ready(url, process, work / "emulator.log")
        yield GerritTarget(
            "emulator",
            url,
            ssh_port,
            people["admin"],
            people["sandbox-ci"],
            people["developer"],
            people["nostream"],
            work,
        )
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"emulator exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(url + "/config/server/version", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"emulator not ready at {url}: {log.read_text(errors='replace')[-2000:]}")
