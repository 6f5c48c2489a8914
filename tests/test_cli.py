"""The `driverci` command as a user runs it: a real process, real files, real ports.
Bad input gets one clear line naming what and where, never a traceback."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

DRIVERCI = [sys.executable, "-m", "driverci.cli"]

TINY_SCENARIO = """\
start: 2026-01-05T00:00:00Z
days: 3
seed: 1
project: openstack/ironic
sandbox_project: opendev/ci-sandbox
changes_per_day: 4
upstream: {account: zuul, name: Zuul, failure_rate: 0.1}
cis:
  - account: acme-ironic-ci
    name: Acme Ironic CI
    driver: redfish
    started: 2025-10-01
    report_rate: 1.0
    latency_hours: {median: 1.0, p95: 2.0}
"""


def run(
    *args: str, cwd: Path | None = None, check: bool = False, columns: int = 200
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*DRIVERCI, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env={**os.environ, "COLUMNS": str(columns)},
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    # Retry warnings may come first (they show progress); the error itself is one line, last.
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    return errors[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_a_broken_registry_names_the_file_and_line(tmp_path: Path) -> None:
    registry = tmp_path / "registry.yaml"
    registry.write_text(
        "project: openstack/neutron\ndriver_kinds: [ml2-mechanism]\ndrivers:\n"
        "  - name: cisco-nexus\n    kind: volume\n    maintainer: Cisco\n"
        "    status: supported\n"
    )
    line = one_line_error(run("registry", "check", str(registry)))
    assert line == (
        f"error: {registry}:5: drivers[0].kind: unknown kind 'volume' "
        "(driver_kinds: ml2-mechanism)"
    )


def test_a_ci_name_without_the_suffix_is_a_warning_naming_file_and_entry(tmp_path: Path) -> None:
    # A real 2014 Neutron CI, named before infra asked new accounts to end in " CI".
    registry = tmp_path / "registry.yaml"
    registry.write_text(
        "project: openstack/neutron\nci_systems:\n  - account: mellanox\n"
        "    name: Mellanox External Testing\n  - account: bsn\n    name: Big Switch CI\n"
    )
    result = run("registry", "check", str(registry))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"warning: {registry}:4: ci_systems[0].name: 'Mellanox External Testing' (mellanox) "
        "does not end in ' CI': infra asks it of new CI accounts, and comment filters that "
        "look for it will not recognise this one"
    ]
    assert "ok" in result.stdout and "1 warning" in result.stdout


def test_a_registry_judged_with_another_projects_policy_is_refused(tmp_path: Path) -> None:
    # Neutron's CIs held to Ironic's deadlines and Mitaka milestones would be nonsense.
    registry = tmp_path / "neutron.yaml"
    registry.write_text("project: openstack/neutron\n")
    db = f"sqlite:///{tmp_path / 'x.sqlite'}"
    line = one_line_error(run("audit", "report", "--db", db, "--registry", str(registry)))
    assert line == (
        "error: policy.yaml: project: 'openstack/ironic' (the shipped one is Ironic's: give "
        f"--policy), but {registry} is for 'openstack/neutron': a project's CIs are judged by "
        "its own policy"
    )


def test_an_unreachable_gerrit_is_named(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    line = one_line_error(
        run(
            "audit",
            "collect",
            "--gerrit",
            url,
            "--project",
            "openstack/ironic",
            "--db",
            f"sqlite:///{tmp_path / 'x.sqlite'}",
        )
    )
    assert url in line


@pytest.mark.parametrize(
    ("bad_line", "problem"),
    [
        ("{not json", "(Expecting property name enclosed in double quotes at column 2)"),
        ('{"subject": "tab\there"}', "(Invalid control character at column 17)"),
    ],
)
def test_a_malformed_dump_names_the_line_and_keeps_what_was_stored(
    tmp_path: Path, bad_line: str, problem: str
) -> None:
    dump = tmp_path / "dump.json"
    dump.write_text(
        '{"project": "openstack/ironic", "number": 1, "branch": "master", '
        '"id": "I1", "subject": "x", "status": "NEW", "createdOn": 1700000000, '
        '"lastUpdated": 1700000000, "patchSets": [], "comments": []}\n' + bad_line + "\n"
    )
    line = one_line_error(
        run(
            "audit",
            "collect",
            "--from-dump",
            str(dump),
            "--db",
            f"sqlite:///{tmp_path / 'x.sqlite'}",
        )
    )
    assert line.endswith(
        f"{dump}:2: invalid JSON {problem}; expected gerrit query JSON (one object per line, "
        "or pretty-printed), a ChangeInfo, or a JSON list of ChangeInfo"
    )


def test_a_hostile_date_is_refused_in_one_line(tmp_path: Path) -> None:
    line = one_line_error(
        run("audit", "report", "--since", "yesterday", "--db", f"sqlite:///{tmp_path / 'x.sqlite'}")
    )
    assert "--since 'yesterday'" in line


def test_a_port_out_of_range_or_taken_is_refused_without_a_traceback(tmp_path: Path) -> None:
    result = run("web", "--port", "80000", "--db", f"sqlite:///{tmp_path / 'x.sqlite'}")
    assert result.returncode == 2 and "Traceback" not in result.stderr + result.stdout
    assert "--port" in result.stderr and "65535" in result.stderr

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line_error(
            run(
                "emulator",
                "serve",
                "--state",
                str(tmp_path / "gerrit"),
                "--http-port",
                str(port),
                "--ssh-port",
                str(free_port()),
            )
        )
    assert f"HTTP {port}" in line and "address already in use" in line


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_seed_serve_and_restart_keep_everything(tmp_path: Path) -> None:
    state = tmp_path / "gerrit"
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(TINY_SCENARIO)
    http_port, ssh_port = free_port(), free_port()
    run(
        "emulator",
        "seed",
        "--state",
        str(state),
        "--scenario",
        str(scenario),
        "--web-url",
        f"http://127.0.0.1:{http_port}",
        "--registry-out",
        str(tmp_path / "registry.yaml"),
        check=True,
    )
    run(
        "emulator",
        "account",
        "add",
        "--state",
        str(state),
        "vendor-ci",
        "--name",
        "Vendor CI",
        "--http-password",
        "pw",
        check=True,
    )
    assert "Acme Ironic CI" in (tmp_path / "registry.yaml").read_text()
    for attempt in range(2):  # the second run proves the journal brings everything back
        server = subprocess.Popen(
            [
                *DRIVERCI,
                "emulator",
                "serve",
                "--state",
                str(state),
                "--http-port",
                str(http_port),
                "--ssh-port",
                str(ssh_port),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            url = f"http://127.0.0.1:{http_port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    version = httpx.get(f"{url}/config/server/version", timeout=2)
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, server.stderr
                    time.sleep(0.2)
            assert version.text.startswith(")]}'")
            account = httpx.get(f"{url}/a/accounts/self", auth=("vendor-ci", "pw"))
            assert account.status_code == 200 and '"username": "vendor-ci"' in account.text
            changes = httpx.get(f"{url}/changes/?q=project:openstack/ironic&n=500").text
            assert changes.count('"_number"') >= 8
            second = run("emulator", "seed", "--state", str(state), "--scenario", str(scenario))
            assert "in use by pid" in one_line_error(second)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(20)
        assert server.returncode == 0, server.stderr
        del attempt


# An account anyone can register on Gerrit, named like a CI and like Rich's markup.
HOSTILE_NAME = "Evil [/red] [bold] CI"


def _dump_with_a_comment_by(tmp_path: Path, reviewer_name: str) -> Path:
    import json

    created = int(time.time()) - 3 * 86400
    change = {
        "project": "openstack/ironic",
        "branch": "master",
        "id": "I1",
        "number": 1,
        "subject": "Fix it",
        "status": "NEW",
        "createdOn": created,
        "lastUpdated": created + 3600,
        "patchSets": [
            {
                "number": 1,
                "revision": "a" * 40,
                "ref": "refs/changes/01/1/1",
                "createdOn": created,
                "files": [{"file": "ironic/drivers/redfish.py", "type": "MODIFIED"}],
            }
        ],
        "comments": [
            {
                "timestamp": created + 3600,
                "reviewer": {"name": reviewer_name, "username": "evil-ci"},
                "message": "Patch Set 1:\n\nBuild succeeded.\n\n"
                "- evil-job http://logs.example.org/1/[/red] : SUCCESS in 1m 00s\n",
            }
        ],
    }
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps(change) + "\n")
    return dump


def test_a_ci_named_like_markup_is_reported_by_its_name(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'x.sqlite'}"
    dump = _dump_with_a_comment_by(tmp_path, HOSTILE_NAME)
    run("audit", "collect", "--from-dump", str(dump), "--db", db, check=True)

    table = run("audit", "report", "--format", "table", "--db", db, check=True)
    assert "Traceback" not in table.stderr
    assert HOSTILE_NAME in table.stdout and "(unregistered)" in table.stdout


def test_an_error_naming_markup_is_printed_as_written(tmp_path: Path) -> None:
    missing = tmp_path / "[/bold]dump.json"
    line = one_line_error(
        run("audit", "collect", "--from-dump", str(missing), "--db", f"sqlite:///{tmp_path / 'x'}")
    )
    assert line == f"error: {missing}: cannot read dump (No such file or directory)"


def test_a_ci_named_like_html_or_a_link_stays_text_in_the_markdown_report(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'x.sqlite'}"
    dump = _dump_with_a_comment_by(tmp_path, "Evil <img src=x> [click](http://evil) | CI")
    run("audit", "collect", "--from-dump", str(dump), "--db", db, check=True)

    markdown = run("audit", "report", "--format", "markdown", "--db", db, check=True).stdout
    row = next(line for line in markdown.splitlines() if "Evil" in line)
    assert row.startswith(r"| Evil \<img src=x\> \[click\](http://evil) \| CI (evil-ci) |")


def test_a_window_the_store_does_not_cover_is_named_and_never_acted_on(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'x.sqlite'}"
    dump = _dump_with_a_comment_by(tmp_path, "Acme CI")  # one patch set, three days old
    run("audit", "collect", "--from-dump", str(dump), "--db", db, check=True)
    stale = ("--since", "2020-01-01", "--until", "2020-02-01")

    # A report still answers (JSON stays clean on stdout), with a warning on stderr.
    report = run("audit", "report", "--format", "json", *stale, "--db", db, check=True)
    assert report.stdout.lstrip().startswith("{")
    assert "warning: the store holds no patch set of openstack/ironic created from " in (
        report.stderr
    )
    # Deprecating every driver, or mailing every contact, from it would be wrong.
    out = tmp_path / "proposals"
    for command in (("propose", "-o", str(out)), ("notify", "--dry-run")):
        line = one_line_error(run("audit", *command, *stale, "--db", db))
        assert "no patch set of openstack/ironic created from 2020-01-01 to 2020-02-01" in line
        assert f"(newest {time.strftime('%Y-%m-%d', time.gmtime(time.time() - 3 * 86400))})" in (
            line
        )
    assert not out.exists()
    # The window that holds it is judged as usual.
    assert "warning" not in run("audit", "report", "--db", db, check=True).stderr


def test_the_report_table_stays_readable_on_an_80_column_terminal(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'x.sqlite'}"
    dump = _dump_with_a_comment_by(tmp_path, "Evil CI")
    run("audit", "collect", "--from-dump", str(dump), "--db", db, check=True)

    narrow = run("audit", "report", "--db", db, check=True, columns=80).stdout.splitlines()
    assert all(len(line) <= 80 for line in narrow)
    zuul = next(line for line in narrow if line.startswith("│ Zuul "))
    assert "0.0%" in zuul and zuul.rstrip("│ ").endswith("unreliable")  # whole words
    wide = run("audit", "report", "--db", db, check=True, columns=200).stdout
    assert "0.0% (0/1)" in wide and "never" in wide  # counts and last report when room
