"""The rehearsal: Gerrit (the emulator) holding Ironic, the reference CI as "Sandbox Redfish
CI" testing the redfish driver, a developer pushing patch sets with git, and the judge.

    result = await Rehearsal(state_dir, source, console).run()

Everything talks over the real protocols: git over HTTP for pushes, the SSH event stream and
REST for the CI, HTTP for logs, REST for the judge. The source (real Ironic from PyPI or the
tests' tiny tree) is the only thing that differs between ``driverci sandbox`` and the tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from string import Template

from aiohttp import web
from rich.console import Console
from rich.markup import escape

from driverci.ci.config import CIConfig, load_ci_config
from driverci.ci.service import CIService
from driverci.errors import DriverCIError
from driverci.gerrit.models_rest import ReviewInput
from driverci.polling import Predicate, wait_until
from driverci.sandbox.gerrit_setup import (
    CI_ACCOUNT,
    CI_NAME,
    CORE,
    Developer,
    SandboxGerrit,
    start_gerrit,
)
from driverci.sandbox.ironic_source import SourceTree, read_tree
from driverci.sandbox.judge import (
    RehearsalJudgement,
    judge_rehearsal,
    rehearsal_policy,
    rehearsal_registry,
)
from driverci.sandbox.outcome import (
    ArtifactCheck,
    ChangeOutcome,
    check_artifacts,
    ci_comments,
)
from driverci.sandbox.patches import PATCHES, PlannedPatch

log = logging.getLogger(__name__)

MARKER = ".driverci-sandbox"
JOB_SCRIPTS = ("redfish-functional.sh", "redfish_functional.py")


@dataclass
class RehearsalResult:
    source: str
    outcomes: list[ChangeOutcome]
    artifacts: list[ArtifactCheck]
    judgement: RehearsalJudgement
    sandbox_check: list[tuple[bool, str]]
    timings: dict[str, float] = field(default_factory=dict)

    def outcome(self, key: str) -> ChangeOutcome:
        return next(item for item in self.outcomes if item.patch.key == key)

    @property
    def verdict(self) -> str | None:
        system = self.judgement.system(CI_ACCOUNT)
        return system.verdict.verdict if system else None


def fresh_state_dir(path: Path) -> None:
    """Start from nothing, but only ever delete a directory a rehearsal made."""
    if path.exists():
        if not (path / MARKER).exists():
            raise DriverCIError(f"{path} exists and was not made by driverci sandbox; use --state")
        shutil.rmtree(path)
    path.mkdir(parents=True)
    (path / MARKER).write_text("made by driverci sandbox\n", encoding="utf-8")


def _data_file(name: str) -> str:
    return (resources.files("driverci") / "data" / "sandbox" / name).read_text(encoding="utf-8")


def write_ci_config(
    ci_dir: Path, gerrit: SandboxGerrit, logs_url: str, source: SourceTree, started: str
) -> CIConfig:
    """``<state>/ci/ci.yaml`` from the shipped template.

    The job scripts are used where driverci ships them: a job sees the host read-only but
    with a private ``/tmp``, so a copy under a state directory in ``/tmp`` would be hidden.
    """
    jobs_dir = Path(str(resources.files("driverci") / "data" / "sandbox"))
    missing = [name for name in JOB_SCRIPTS if not (jobs_dir / name).is_file()]
    if missing:
        raise DriverCIError(f"{jobs_dir}: the sandbox job scripts {missing} are missing")
    values = {
        "gerrit_url": gerrit.url,
        "ssh_port": str(gerrit.server.ssh_port),
        "started": started,
        "slots": str(source.slots),
        "venv_bin": str(source.venv_bin),
        "jobs_dir": str(jobs_dir),
        "unit_selection": source.unit_selection,
        "unit_note": source.unit_note,
        "logs_url": logs_url,
    }
    functional = ""
    if source.functional:
        functional = Template(_data_file("ci-functional-job.yaml")).substitute(values)
    text = Template(_data_file("ci.yaml")).substitute(values, functional_job=functional)
    path = ci_dir / "ci.yaml"
    path.write_text(text, encoding="utf-8")
    return load_ci_config(path)


@contextlib.asynccontextmanager
async def serve_logs(root: Path) -> AsyncIterator[str]:
    """The CI's log server (``driverci ci logs serve``) on a free loopback port."""
    from driverci.ci.logserver import create_log_app

    root.mkdir(parents=True, exist_ok=True)
    runner = web.AppRunner(create_log_app(root), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/"
    finally:
        await runner.cleanup()


class Rehearsal:
    """One rehearsal in ``state_dir`` (made fresh); tunables as class attributes."""

    REPORT_TIMEOUT = 1800.0  # seconds for all reports to land (real Ironic: a few minutes)
    POLL_INTERVAL = 0.5
    STREAM_TIMEOUT = 30.0
    SANDBOX_CHECK = True  # also run `driverci ci check` on opendev/ci-sandbox (the milestone)

    def __init__(self, state_dir: Path, source: SourceTree, console: Console) -> None:
        self.state_dir = state_dir.resolve()  # jobs and git run elsewhere than we do
        self.source = source
        self.console = console
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(self, title: str, key: str) -> Iterator[None]:
        self.console.rule(f"[bold]{title}")
        began = time.monotonic()
        try:
            yield
        finally:
            self.timings[key] = round(time.monotonic() - began, 1)

    async def run(self) -> RehearsalResult:
        began = time.monotonic()
        since = datetime.now(UTC) - timedelta(minutes=1)
        fresh_state_dir(self.state_dir)
        ci_dir = self.state_dir / "ci"
        with self.stage(
            f"1. Gerrit emulator holding openstack/ironic ({self.source.label})", "gerrit"
        ):
            files = await asyncio.to_thread(read_tree, self.source.root)
            gerrit = await start_gerrit(
                self.state_dir / "gerrit", ci_dir / "secrets", files, self.source.label
            )
            self.console.print(
                f"{gerrit.url}: openstack/ironic ({len(files)} files in master), "
                f"opendev/ci-sandbox; SSH on port {gerrit.server.ssh_port}"
            )
        try:
            async with serve_logs(ci_dir / "logs") as logs_url:
                result = await self._with_gerrit(gerrit, ci_dir, logs_url, since)
        finally:
            await gerrit.stop()
        self.timings["total"] = round(time.monotonic() - began, 1)
        result.timings = self.timings
        return result

    async def _with_gerrit(
        self, gerrit: SandboxGerrit, ci_dir: Path, logs_url: str, since: datetime
    ) -> RehearsalResult:
        started = since.date().isoformat()
        config = write_ci_config(ci_dir, gerrit, logs_url, self.source, started)
        self.console.print(f"CI configuration: {ci_dir / 'ci.yaml'}; logs served at {logs_url}")
        service = CIService(config, workspace_root=ci_dir / "work")
        task = asyncio.create_task(service.run())
        try:
            with self.stage(f"2. {CI_NAME} listening; patch sets pushed with git", "push"):
                await self._wait(
                    lambda: service.stream is not None and service.stream.stats.connects > 0,
                    self.STREAM_TIMEOUT,
                    "the CI's event stream to connect",
                )
                sandbox_check = await self._sandbox_check(config)
                numbers = await self._push_all(gerrit)
            with self.stage("3. The CI tests and reports", "reports"):
                outcomes = await self._await_reports(gerrit, service, numbers)
        finally:
            await service.stop()
            await asyncio.wait_for(task, CIService.STOP_GRACE + 30)
        with self.stage("4. Artifacts browsable over HTTP", "artifacts"):
            artifacts = await check_artifacts(outcomes)
        with self.stage("5. The judge's report on this CI", "judge"):
            expected = sum(1 for patch in PATCHES if patch.expect != "excluded")
            judgement = await judge_rehearsal(
                gerrit.url,
                self.state_dir,
                rehearsal_registry(CI_ACCOUNT, CI_NAME, since.date()),
                rehearsal_policy(min_sample=expected),
                since,
            )
        return RehearsalResult(self.source.label, outcomes, artifacts, judgement, sandbox_check)

    async def _sandbox_check(self, config: CIConfig) -> list[tuple[bool, str]]:
        if not self.SANDBOX_CHECK:
            return []
        from driverci.ci.check import ConnectivityCheck

        report = await ConnectivityCheck(config).run()
        for ok, line in report.lines:
            mark = "[green]ok[/green]  " if ok else "[red]FAIL[/red]"
            self.console.print(f"ci check: {mark} {escape(line)}", highlight=False)
        return report.lines

    async def _push_all(self, gerrit: SandboxGerrit) -> dict[str, int]:
        developer = Developer(gerrit, self.state_dir / "developer")
        await developer.prepare()
        numbers: dict[str, int] = {}
        for patch in PATCHES:
            numbers[patch.key] = await developer.push(patch)
            self.console.print(
                f"pushed change {numbers[patch.key]} ({patch.key}): {patch.subject} "
                f"- expecting {patch.expect}",
                highlight=False,
            )
        return numbers

    async def _wait(self, predicate: Predicate, timeout: float, what: str) -> None:
        await wait_until(
            predicate,
            timeout,
            what,
            self.POLL_INTERVAL,
            error=lambda text: DriverCIError(f"rehearsal: {text}"),
        )

    async def _await_reports(
        self, gerrit: SandboxGerrit, service: CIService, numbers: dict[str, int]
    ) -> list[ChangeOutcome]:
        account = gerrit.state.account_by_username(CI_ACCOUNT)
        assert account is not None
        ci_id = account.account_id
        tested = [patch for patch in PATCHES if patch.expect != "excluded"]
        async with gerrit.rest() as rest:

            async def reported(patches: list[PlannedPatch], count: int) -> bool:
                for patch in patches:
                    if len(await ci_comments(rest, numbers[patch.key], ci_id)) < count:
                        return False
                return True

            with self.console.status("waiting for the CI's comments (jobs are running)"):
                await self._wait(lambda: reported(tested, 1), self.REPORT_TIMEOUT, "reports")
                await service.wait_idle(self.REPORT_TIMEOUT)
            good = next(patch for patch in PATCHES if patch.expect == "SUCCESS")
            async with gerrit.rest(CORE) as core:
                await core.set_review(numbers[good.key], "current", ReviewInput(message="recheck"))
            self.console.print(f"{CORE} commented 'recheck' on change {numbers[good.key]}")
            with self.console.status("waiting for the recheck's report"):
                await self._wait(lambda: reported([good], 2), self.REPORT_TIMEOUT, "recheck report")
                await service.wait_idle(self.REPORT_TIMEOUT)
            outcomes = []
            for patch in PATCHES:
                number = numbers[patch.key]
                comments = await ci_comments(rest, number, ci_id)
                outcomes.append(
                    ChangeOutcome(patch, number, comments, service.queue.has_run(number, 1))
                )
        return outcomes
