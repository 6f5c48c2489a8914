"""The reference CI against real Gerrit: a vendor starts `driverci ci run`, developers push,
and what lands on the changes is read back over Gerrit's own REST API.

The story: a good, a breaking and a docs-only change are pushed; the CI reports the first two
once each and skips the third. Then the CI is killed (SIGKILL) in the middle of a run; while
it is down a developer asks for a recheck and pushes another change. Restarted, the CI
finishes the interrupted run, answers the recheck and tests the new change: one comment per
run, none twice, none lost.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

import driverci
from driverci.audit.parse.comment import parse_ci_message
from driverci.realgerrit.provision import (
    Account,
    Provisioned,
    RunningGerrit,
    create_project,
    push_for_review,
)
from driverci.realgerrit.site import strip_magic
from driverci.registry.loader import load_registry, save_registry
from driverci.registry.schema import CISystem, Contact

pytestmark = pytest.mark.slow

GOOD = {"ironic/drivers/modules/redfish/power.py": "def get_power_state():\n    return 'off'\n"}
BROKEN = {"ironic/drivers/modules/redfish/boot.py": "BROKEN = True\n"}
DOCS = {"doc/source/admin/redfish.rst": "Redfish\n=======\n"}
SETTLE_SECONDS = 90.0
DRIVERCI = str(Path(sys.executable).parent / "driverci")


def write_ci_yaml(real: Provisioned, root: Path, project: str) -> Path:
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
project: {project}
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

    def __init__(self, real: Provisioned, project: str) -> None:
        self.real = real
        self.project = project
        self.http = httpx.Client(base_url=real.http_url, timeout=30)

    def change(self, change_id: str) -> dict[str, object]:
        answer = self.http.get(
            f"/a/changes/{quote(self.project, safe='')}~master~{change_id}/detail",
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


@dataclass
class Story:
    """What happened on the project, for the tests to check what each side made of it."""

    project: str
    http_url: str
    ci_account: str
    ci_name: str
    changes: dict[str, str]  # what the change was -> its Change-Id
    ci: RunningCI
    reviews: Reviews


@pytest.fixture(scope="module")
def story(real_gerrit: RunningGerrit, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    """Push, kill and restart as the module docstring tells, on a project of its own."""
    real = real_gerrit.provisioned
    root = tmp_path_factory.mktemp("ci-story")
    project = create_project(real, "openstack/ironic-ci-story")
    ci = RunningCI(write_ci_yaml(real, root, project))
    reviews = Reviews(real, project)
    changes: dict[str, str] = {}

    def push(what: str, files: dict[str, str], subject: str) -> str:
        changes[what] = push_for_review(
            real, real.developer, project, root / "developer", files, subject
        )
        return changes[what]

    def comments(what: str) -> int:
        return len(reviews.ci_comments(changes[what]))

    ci.start()
    try:
        push("good", GOOD, "Redfish: report power off")
        push("broken", BROKEN, "Redfish: break boot")
        push("docs-only", DOCS, "Document Redfish")
        wait_for(lambda: comments("good") == comments("broken") == 1, SETTLE_SECONDS, "reports")
        # Killed while a run is in progress (its job sleeps 3 s first).
        push("interrupted", {"ironic/drivers/redfish.py": "SUPPORTED = True\n"}, "Redfish: flag")
        wait_for(lambda: bool(ci.status().get("running")), 30, "the run to start")
        ci.kill()
        # While the CI is down: a recheck of the broken change, and a new change.
        reviews.review(changes["broken"], real.developer, "recheck")
        push("pushed while down", {"ironic/drivers/ilo.py": "SUPPORTED = False\n"}, "iLO: flag")
        ci.start()
        wait_for(
            lambda: (
                comments("interrupted") == comments("pushed while down") == 1
                and comments("broken") == 2
            ),
            SETTLE_SECONDS,
            "the interrupted run, the new change and the recheck to be reported",
        )
        wait_for(lambda: not ci.status()["waiting"] and not ci.status()["running"], 60, "idle")
    finally:
        ci.stop()
    yield Story(project, real.http_url, real.ci.username, real.ci.name, changes, ci, reviews)
    reviews.http.close()


def test_the_reference_ci_on_real_gerrit_reports_each_run_once_across_a_kill(
    story: Story,
) -> None:
    counts = {what: len(story.reviews.ci_comments(cid)) for what, cid in story.changes.items()}
    assert counts == {
        "good": 1,
        "broken": 2,
        "docs-only": 0,
        "interrupted": 1,
        "pushed while down": 1,
    }
    [good] = story.reviews.ci_comments(story.changes["good"])
    assert good["tag"] == "autogenerated:driverci:check"
    read = parse_ci_message(str(good["message"]))
    assert (read.result, read.pipeline) == ("SUCCESS", "check")
    assert [(job.name, job.result) for job in read.jobs] == [("redfish-unit", "SUCCESS")]
    for broken in story.reviews.ci_comments(story.changes["broken"]):
        read = parse_ci_message(str(broken["message"]))
        assert read.result == "FAILURE"
        assert [(job.name, job.result) for job in read.jobs] == [("redfish-unit", "FAILURE")]
    assert "Traceback" not in story.ci.log_text()


def test_ci_check_on_real_gerrit_names_a_missing_stream_events_capability(
    real_gerrit: RunningGerrit, tmp_path: Path
) -> None:
    real = real_gerrit.provisioned
    nostream = real.nostream
    config = write_ci_yaml(real, tmp_path, real.ironic_project)
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


def judge_registry(story: Story, path: Path) -> Path:
    """The shipped registry, pointed at the story's project with its one CI registered."""
    base = load_registry()
    ci = CISystem(
        account=story.ci_account,
        name=story.ci_name,
        wiki="https://wiki.example.org/ThirdPartySystems/Sandbox_Redfish_CI",
        contacts=[Contact(name="Sandbox team", email="sandbox@example.org")],
        drivers=["redfish"],
        started=dt.date(2026, 1, 1),
    )
    upstream = [system for system in base.ci_systems if system.kind == "upstream"]
    save_registry(
        base.model_copy(update={"project": story.project, "ci_systems": [*upstream, ci]}), path
    )
    return path


def test_the_judge_collects_from_real_gerrit_and_its_figures_match_what_happened(
    story: Story, tmp_path: Path
) -> None:
    registry = judge_registry(story, tmp_path / "registry.yaml")
    # The shipped Ironic policy, for the story's project (a policy names its project).
    policy = tmp_path / "policy.yaml"
    shipped = (Path(driverci.__file__).parent / "data" / "policy.yaml").read_text()
    policy.write_text(shipped.replace("project: openstack/ironic", f"project: {story.project}", 1))
    db = f"sqlite:///{tmp_path / 'judge.sqlite'}"
    common = ["--db", db, "--registry", str(registry), "--policy", str(policy)]
    collect = subprocess.run(
        [
            DRIVERCI,
            "audit",
            "collect",
            "--gerrit",
            story.http_url,
            "--project",
            story.project,
            *common,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert collect.returncode == 0, collect.stdout + collect.stderr
    report = subprocess.run(
        [DRIVERCI, "audit", "report", "--format", "json", *common],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert report.returncode == 0, report.stdout + report.stderr
    [ci] = [s for s in json.loads(report.stdout)["systems"] if s["account"] == story.ci_account]
    # Four code patch sets, each answered (so counted though their deadline is hours away);
    # docs-only is excluded. Five results: the recheck's answer is not a duplicate.
    assert (ci["expected"], ci["reported"], ci["pending"], ci["missed"]) == (4, 4, 0, [])
    assert ci["coverage"] == 1.0
    assert ci["results"] == {"total": 5, "success": 3, "failure": 2, "unparseable": 0}
    assert ci["duplicates"] == 0
    assert (ci["answered"], ci["on_time"]) == (5, 5)
    # Too few patch sets to call it reliable, and the report says why.
    assert ci["verdict"] != "reliable"
    assert "only 4 patch sets to judge in the window (fewer than 20)" in ci["reasons"]
