"""Pieces of the vendor-scale stories: a ci.yaml with testbeds and Celery, the listener and
workers as real processes, and the counts each fault story prints."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from driverci.ci.config import CIConfig, load_ci_config
from world import GerritWorld

DRIVERCI = str(Path(sys.executable).parent / "driverci")
CI = "sandbox-redfish-ci"
CI_PASSWORD = "sandbox-redfish-ci-secret"


@dataclass(frozen=True)
class Bed:
    name: str
    labels: tuple[str, ...]
    bmc: str | None = None
    password: str | None = None  # written to secrets/<name>.yaml when set


def write_pool_ci_yaml(
    world: GerritWorld,
    directory: Path,
    *,
    broker: str | None,
    backend: str | None,
    testbeds: Sequence[Bed],
    jobs: str,
    slots: int = 4,
    gerrit_url: str | None = None,
    gerrit_ssh: str | None = None,
    prefix: str = "driverci",
    ssh_key: Path | None = None,
    broker_password: str | None = None,
    extra: str = "",
) -> CIConfig:
    """A vendor's ci.yaml: testbeds with BMC credentials, jobs by label, Celery or local."""
    secrets = directory / "secrets"
    secrets.mkdir(parents=True, exist_ok=True)
    (secrets / "http-password").write_text(CI_PASSWORD + "\n")
    beds = []
    for bed in testbeds:
        lines = [f"  - name: {bed.name}", f"    labels: [{', '.join(bed.labels)}]"]
        if bed.bmc:
            lines.append(f"    bmc: {bed.bmc}")
        if bed.password:
            (secrets / f"{bed.name}.yaml").write_text(f"username: root\npassword: {bed.password}\n")
            lines.append(f"    credentials: ./secrets/{bed.name}.yaml")
        beds.append("\n".join(lines))
    executor = "local"
    celery = ""
    if broker is not None:
        executor = "celery"
        celery = (
            f"celery:\n  broker: {broker}\n  backend: {backend}\n  lock_ttl: 3\n"
            f"  queue_prefix: {prefix}\n"
        )
        if broker_password is not None:
            (secrets / "broker-password").write_text(broker_password + "\n")
            celery += "  broker_password_file: ./secrets/broker-password\n"
    path = directory / "ci.yaml"
    path.write_text(
        f"""\
name: Sandbox Redfish CI
gerrit:
  url: {gerrit_url or world.url}
  ssh: {gerrit_ssh or f"{world.server.host}:{world.ssh_port}"}
  username: {CI}
  http_password_file: ./secrets/http-password
  ssh_key: {ssh_key or world.tmp / "ci_key"}
project: openstack/ironic
driver: redfish
started: 2026-01-01
wiki: https://wiki.example.org/ThirdPartySystems/Sandbox_Redfish_CI
slots: {slots}
reconcile_interval: 10
reconcile_min_age: 0
testbed_max_failures: 3
executor: {executor}
{celery}testbeds:
{chr(10).join(beds)}
jobs:
{jobs}
logs:
  dir: ./logs
  url: http://logs.example.org/
state: sqlite:///./ci.sqlite
{extra}"""
    )
    return load_ci_config(path)


def job(name: str, label: str | None, run: str, timeout: int = 120) -> str:
    """One entry of ``jobs:``."""
    lines = [f"  - name: {name}", f"    timeout: {timeout}"]
    if label:
        lines.append(f"    label: {label}")
    lines += ["    steps:", f"      - run: {json.dumps(run)}"]
    return "\n".join(lines)


class Process:
    """A driverci command as a child process in its own session, its output in a file."""

    def __init__(self, argv: list[str], log: Path, cwd: Path, netns: str | None = None) -> None:
        self.argv = (["ip", "netns", "exec", netns] if netns else []) + argv
        self.log = log
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        return self

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.is_file() else ""

    def kill(self) -> None:
        """SIGKILL of the whole process group: a host losing power, as far as it can tell."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()


def listener(config: CIConfig) -> Process:
    assert config.source is not None
    directory = config.source.parent
    log = directory / "ci-run.log"
    return Process([DRIVERCI, "-v", "ci", "run", "-c", str(config.source)], log, directory)


def worker(
    config: CIConfig, name: str, labels: Iterable[str], netns: str | None = None, threads: int = 2
) -> Process:
    assert config.source is not None
    directory = config.source.parent
    argv = [DRIVERCI, "-v", "ci", "worker", "-c", str(config.source), "--name", name]
    argv += ["--labels", ",".join(labels), "--concurrency", str(threads)]
    return Process(argv, directory / f"worker-{name}.log", directory, netns)


def wait_for_worker(process: Process, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while "ready." not in process.text():
        if process.process is not None and process.process.poll() is not None:
            raise AssertionError(f"worker exited: {process.text()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"worker not ready: {process.text()[-3000:]}")
        time.sleep(0.1)


def print_counts(
    record: Callable[[str], None],
    story: str,
    expected: set[tuple[int, int]],
    reported: Counter[tuple[int, int]],
    **more: int,
) -> tuple[int, int]:
    """The line each fault story prints (``record``: the ``fault_counts`` fixture, which also
    shows it in the test run's summary); returns (duplicated, lost)."""
    duplicated = sum(n - 1 for key, n in reported.items() if key in expected and n > 1)
    lost = len(expected - set(reported))
    unexpected = len(set(reported) - expected)
    extra = "".join(f", {name} {value}" for name, value in more.items())
    record(
        f"[{story}] expected {len(expected)}, reported {len(set(reported) & expected)}, "
        f"duplicated {duplicated}, lost {lost}, unexpected {unexpected}{extra}"
    )
    return duplicated, lost


def manifests(config: CIConfig) -> list[dict[str, object]]:
    """Every published job's driverci-manifest.json."""
    assert config.logs.dir is not None
    return [
        json.loads(path.read_text())
        for path in sorted(config.logs.dir.rglob("driverci-manifest.json"))
    ]
