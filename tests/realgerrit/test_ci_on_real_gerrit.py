"""The reference CI against real Gerrit: a vendor starts `driverci ci run`, developers push,
and what lands on the changes is read back over Gerrit's own REST API.

The story: a good, a breaking and a docs-only change are pushed; the CI reports the first two
once each and skips the third. Then the CI is killed (SIGKILL) in the middle of a run; while
it is down a developer asks for a recheck and pushes another change. Restarted, the CI
finishes the interrupted run, answers the recheck and tests the new change: one comment per
run, none twice, none lost.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from driverci.audit.parse.comment import parse_ci_message
from driverci.realgerrit.provision import Account, Provisioned, RunningGerrit, push_for_review
from driverci.realgerrit.site import strip_magic

pytestmark = pytest.mark.slow

GOOD = {"ironic/drivers/modules/redfish/power.py": "def get_power_state():\n    return 'off'\n"}
BROKEN = {"ironic/drivers/modules/redfish/boot.py": "BROKEN = True\n"}
DOCS = {"doc/source/admin/redfish.rst": "Redfish\n=======\n"}
SETTLE_SECONDS = 90.0
DRIVERCI = str(Path(sys.executable).parent / "driverci")


def write_ci_yaml(real: Provisioned, root: Path) -> Path:
    """A ci.yaml for the provisioned CI account, as a vendor would write it."""
    (root / "secrets").mkdir(parents=True, exist_ok=True)
    (root / "secrets" / "http-password").write_text(real.ci.http_password + "\n")
    path = root / "ci.yaml"
    path.write_text(
        f"""\
name: {real.ci.name}
gerrit:
  url: {real.http_url}
  ssh: {real.ssh_host}:{real.ssh_port}
  username: {real.ci.username}
  http_password_file: ./secrets/http-password
  ssh_key: {real.ci.ssh_key}
project: {real.ironic_project}
driver: redfish
started: 2026-01-01
wiki: https://wiki.example.org/ThirdPartySystems/Sandbox_Redfish_CI
pipeline: check
slots: 2
recheck: '(?i)^(Patch Set \\d+:)?\\s*recheck\\s*$'
reconcile_interval: 10
reconcile_min_age: 0
jobs:
  - name: redfish-unit
    timeout: 120
    steps:
      - run: "sleep 3; ! grep -rq BROKEN ironic"
logs:
  dir: ./logs
  url: http://logs.example.org/
state: sqlite:///./ci.sqlite
"""
    )
    return path


class RunningCI:
    """`driverci ci run` as a child process, its log kept in a file."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.log = config.parent / "ci-run.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [DRIVERCI, "-v", "ci", "run", "--config", str(self.config)],
                cwd=self.config.parent,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(lambda: "connected (connection 1)" in self.log_text(), 60, "the CI's stream")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.is_file() else ""

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def status(self) -> dict[str, object]:
        done = subprocess.run(
            [DRIVERCI, "ci", "status", "--json", "-c", str(self.config)],
            cwd=self.config.parent,
            capture_output=True,
            text=True,
            check=True,
        )
        status: dict[str, object] = json.loads(done.stdout)
        return status


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.5)


class Reviews:
    """Reads changes and posts reviews over real Gerrit's REST API."""

    def __init__(self, real: Provisioned) -> None:
        self.real = real
        self.http = httpx.Client(base_url=real.http_url, timeout=30)

    def change(self, change_id: str) -> dict[str, object]:
        answer = self.http.get(
            f"/a/changes/{self.real.ironic_project.replace('/', '%2F')}~master~{change_id}/detail",
            auth=(self.real.ci.username, self.real.ci.http_password),
        )
        assert answer.status_code == 200, answer.text
        detail: dict[str, object] = json.loads(strip_magic(answer.text))
        return detail

    def ci_comments(self, change_id: str) -> list[dict[str, object]]:
        messages = self.change(change_id)["messages"]
        assert isinstance(messages, list)
        return [
            message
            for message in messages
            if message.get("author", {}).get("username") == self.real.ci.username
        ]

    def review(self, change_id: str, account: Account, message: str) -> None:
        answer = self.http.post(
            f"/a/changes/{change_id}/revisions/current/review",
            auth=(account.username, account.http_password),
            json={"message": message},
        )
        assert answer.status_code == 200, answer.text


@pytest.fixture
def reviews(real_gerrit: RunningGerrit) -> Iterator[Reviews]:
    opened = Reviews(real_gerrit.provisioned)
    yield opened
    opened.http.close()


def test_the_reference_ci_on_real_gerrit_reports_each_run_once_across_a_kill(
    real_gerrit: RunningGerrit, reviews: Reviews, tmp_path: Path
) -> None:
    real = real_gerrit.provisioned
    ci = RunningCI(write_ci_yaml(real, tmp_path))

    def push(files: dict[str, str], subject: str) -> str:
        return push_for_review(
            real, real.developer, real.ironic_project, tmp_path / "developer", files, subject
        )

    def comments(change_id: str) -> int:
        return len(reviews.ci_comments(change_id))

    ci.start()
    try:
        good = push(GOOD, "Redfish: report power off")
        broken = push(BROKEN, "Redfish: break boot")
        docs = push(DOCS, "Document Redfish")
        wait_for(lambda: comments(good) == 1 and comments(broken) == 1, SETTLE_SECONDS, "reports")

        [good_report] = reviews.ci_comments(good)
        [broken_report] = reviews.ci_comments(broken)
        assert good_report["tag"] == "autogenerated:driverci:check"
        read = parse_ci_message(str(good_report["message"]))
        assert (read.result, read.pipeline) == ("SUCCESS", "check")
        assert [(job.name, job.result) for job in read.jobs] == [("redfish-unit", "SUCCESS")]
        read = parse_ci_message(str(broken_report["message"]))
        assert read.result == "FAILURE"
        assert [(job.name, job.result) for job in read.jobs] == [("redfish-unit", "FAILURE")]

        # Killed while a run is in progress (its job sleeps 3 s first).
        interrupted = push({"ironic/drivers/redfish.py": "SUPPORTED = True\n"}, "Redfish: flag")
        wait_for(lambda: bool(ci.status().get("running")), 30, "the run to start")
        ci.kill()
        # While the CI is down: a recheck of the broken change, and a new change.
        reviews.review(broken, real.developer, "recheck")
        while_down = push({"ironic/drivers/ilo.py": "SUPPORTED = False\n"}, "iLO: flag")
        ci.start()
        wait_for(
            lambda: (
                comments(interrupted) == 1 and comments(while_down) == 1 and comments(broken) == 2
            ),
            SETTLE_SECONDS,
            "the interrupted run, the new change and the recheck to be reported",
        )
        wait_for(
            lambda: not ci.status().get("waiting") and not ci.status().get("running"), 60, "idle"
        )
    finally:
        ci.stop()
    assert {
        name: comments(cid)
        for name, cid in [
            ("good", good),
            ("broken", broken),
            ("docs-only", docs),
            ("interrupted", interrupted),
            ("pushed while down", while_down),
        ]
    } == {"good": 1, "broken": 2, "docs-only": 0, "interrupted": 1, "pushed while down": 1}
    assert "Traceback" not in ci.log_text()


def test_ci_check_on_real_gerrit_names_a_missing_stream_events_capability(
    real_gerrit: RunningGerrit, tmp_path: Path
) -> None:
    real = real_gerrit.provisioned
    nostream = real.nostream
    config = write_ci_yaml(real, tmp_path)
    (tmp_path / "secrets" / "http-password").write_text(nostream.http_password + "\n")
    text = config.read_text()
    text = text.replace(f"username: {real.ci.username}", f"username: {nostream.username}")
    text = text.replace(f"ssh_key: {real.ci.ssh_key}", f"ssh_key: {nostream.ssh_key}")
    config.write_text(text)
    done = subprocess.run(
        [DRIVERCI, "ci", "check", "-c", str(config)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "nostream lacks the Stream Events capability" in done.stdout
    assert "Service Users" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
