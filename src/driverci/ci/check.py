"""``driverci ci check``: prove, the way the spec's sandbox milestone asks, that this CI works.

It reads the event stream, pushes a no-op change to the sandbox project with the git CLI
(as a vendor would, so it works against a real Gerrit), tests it with a trivial job
(``noop-check-communication``), reports on it, and fetches the log URL. Each problem is one
line saying what is missing: an unreachable Gerrit, a refused password or key, no permission
to comment, a log URL that does not answer.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from driverci.ci.config import CIConfig, JobConfig, read_secret
from driverci.ci.decide import PATCHSET, Decision
from driverci.ci.email import Notifier
from driverci.ci.listen import facts_from_change
from driverci.ci.model import Executor
from driverci.ci.queue import RunQueue
from driverci.ci.report import Reporter, run_result
from driverci.ci.service import job_request
from driverci.errors import DriverCIError, GerritHTTPError
from driverci.gerrit.models_events import GerritEvent, PatchsetCreatedEvent
from driverci.gerrit.rest import GerritRestClient
from driverci.gerrit.stream import GerritEventStream
from driverci.policy.loader import load_policy
from driverci.store.db import open_store

log = logging.getLogger(__name__)


@dataclass
class CheckReport:
    lines: list[tuple[bool, str]] = field(default_factory=list)

    def ok(self, text: str) -> None:
        self.lines.append((True, text))

    def fail(self, text: str) -> None:
        self.lines.append((False, text))

    @property
    def passed(self) -> bool:
        return all(ok for ok, _ in self.lines)


class ConnectivityCheck:
    """One sandbox round trip; tunables as class attributes."""

    EVENT_TIMEOUT = 30.0
    GIT_TIMEOUT = 120.0
    NOOP_JOB = "noop-check-communication"

    def __init__(
        self,
        config: CIConfig,
        sandbox_project: str | None = None,
        executor_factory: Callable[[CIConfig, Path], Executor] | None = None,
    ) -> None:
        self.config = config
        self.sandbox = sandbox_project or load_policy(config.policy).sandbox_project
        self.executor_factory = executor_factory
        self.report = CheckReport()

    async def run(self) -> CheckReport:
        gerrit = self.config.gerrit
        password = read_secret(gerrit.http_password_file, "the Gerrit HTTP password")
        if password is None:
            self.report.fail("gerrit.http_password_file is not set: cannot comment over REST")
            return self.report
        if gerrit.ssh_key is not None and not gerrit.ssh_key.exists():
            self.report.fail(f"{gerrit.ssh_key}: SSH key file not found")
            return self.report
        self.report.ok(f"configuration valid ({self.config.name}, {len(self.config.jobs)} jobs)")
        if self.config.executor == "celery":
            from driverci.ci.workers.health import check_workers

            for ok, line in await check_workers(self.config):
                (self.report.ok if ok else self.report.fail)(line)
        if not self.sandbox:
            self.report.fail("no sandbox project: set sandbox_project in the policy")
            return self.report
        async with GerritRestClient(gerrit.url, gerrit.username, password) as rest:
            if not await self._rest_ok(rest):
                return self.report
            await self._round_trip(rest, password)
        return self.report

    async def _rest_ok(self, rest: GerritRestClient) -> bool:
        rest.MAX_RETRIES = 1
        try:
            async with GerritRestClient(self.config.gerrit.url) as anonymous:
                anonymous.MAX_RETRIES = 1
                version = await anonymous.get_version()
            self.report.ok(f"Gerrit answers at {self.config.gerrit.url} (version {version})")
        except DriverCIError as exc:
            self.report.fail(f"Gerrit unreachable at {self.config.gerrit.url}: {exc}")
            return False
        try:
            account = await rest.get_self()
        except GerritHTTPError as exc:
            self.report.fail(
                f"HTTP password refused for {self.config.gerrit.username} (HTTP {exc.status})"
            )
            return False
        self.report.ok(f"REST credentials accepted for {account.username}")
        if not (await rest.list_capabilities()).get("streamEvents"):
            self.report.fail(
                f"{account.username} lacks the Stream Events capability: ask the Gerrit admins"
                " to add the account to 'Service Users'"
            )
            return False
        return True

    async def _round_trip(self, rest: GerritRestClient, password: str) -> None:
        gerrit = self.config.gerrit
        stream = GerritEventStream(
            gerrit.ssh_host,
            gerrit.ssh_port,
            gerrit.username,
            gerrit.ssh_key,
            known_hosts=gerrit.known_hosts,
            verify_host_key=gerrit.known_hosts is not None,
            max_connect_attempts=1,
        )
        seen: list[GerritEvent] = []
        reader = asyncio.create_task(self._read(stream, seen))
        try:
            await asyncio.sleep(1.0)
            if reader.done():
                error = reader.exception()
                self.report.fail(f"event stream {stream.where}: {error}")
                return
            self.report.ok(f"event stream {stream.where} connected")
            with tempfile.TemporaryDirectory(prefix="driverci-check-") as tmp:
                try:
                    sha = await self._push(Path(tmp), password)
                except DriverCIError as exc:
                    self.report.fail(f"push to {self.sandbox} failed: {exc}")
                    return
                changes = await rest.query_changes(
                    f"commit:{sha}", ["CURRENT_REVISION", "CURRENT_FILES"]
                )
                if not changes:
                    self.report.fail(f"pushed {sha[:10]} but no change appeared in {self.sandbox}")
                    return
                change = changes[0]
                self.report.ok(f"pushed change {change.number} to {self.sandbox}")
                await self._await_event(change.number, seen, stream.where)
                await self._test_and_report(rest, change, Path(tmp))
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, DriverCIError):
                await reader
            await stream.aclose()

    @staticmethod
    async def _read(stream: GerritEventStream, seen: list[GerritEvent]) -> None:
        async for event in stream.events():
            seen.append(event)

    async def _await_event(self, number: int, seen: list[GerritEvent], where: str) -> None:
        loop = asyncio.get_running_loop()
        until = loop.time() + self.EVENT_TIMEOUT
        while loop.time() < until:
            if any(isinstance(e, PatchsetCreatedEvent) and e.change.number == number for e in seen):
                self.report.ok(f"the stream delivered patchset-created for change {number}")
                return
            await asyncio.sleep(0.1)
        self.report.fail(
            f"no patchset-created for change {number} on {where} within {self.EVENT_TIMEOUT:g}s"
        )

    async def _git(self, cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
        process = await asyncio.create_subprocess_exec(
            "git",
            *args,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), self.GIT_TIMEOUT)
        if process.returncode != 0:
            last = err.decode(errors="replace").strip().splitlines()
            raise DriverCIError(f"git {args[0]}: {last[-1] if last else process.returncode}")
        return out.decode().strip()

    async def _push(self, tmp: Path, password: str) -> str:
        gerrit = self.config.gerrit
        repo = tmp / "sandbox"
        await self._git(tmp, "clone", "--quiet", f"{gerrit.url}/{self.sandbox}", str(repo))
        async with httpx.AsyncClient() as http:
            hook = await http.get(f"{gerrit.url}/tools/hooks/commit-msg")
        if hook.status_code != 200:
            raise DriverCIError(f"commit-msg hook: HTTP {hook.status_code}")
        hook_path = repo / ".git" / "hooks" / "commit-msg"
        hook_path.write_bytes(hook.content)
        hook_path.chmod(0o755)
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        (repo / "driverci-check.txt").write_text(f"{self.config.name} check at {stamp}\n")
        identity = ["-c", f"user.name={self.config.name}", "-c", f"user.email={gerrit.username}@ci"]
        await self._git(repo, "add", "driverci-check.txt")
        await self._git(repo, *identity, "commit", "--quiet", "-m", f"{self.config.name}: check")
        token = base64.b64encode(f"{gerrit.username}:{password}".encode()).decode()
        # Credentials through the environment, never on a command line others could read.
        auth = {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {token}",
            "GIT_TERMINAL_PROMPT": "0",
        }
        url = f"{gerrit.url}/a/{self.sandbox}"
        await self._git(repo, "push", "--quiet", url, "HEAD:refs/for/master", env=auth)
        return await self._git(repo, "rev-parse", "HEAD")

    def _check_config(self) -> CIConfig:
        noop = JobConfig.model_validate(
            {"name": self.NOOP_JOB, "timeout": 300, "steps": [{"run": "true"}]}
        )
        return self.config.model_copy(update={"project": self.sandbox, "jobs": [noop]})

    async def _test_and_report(self, rest: GerritRestClient, change: object, tmp: Path) -> None:
        config = self._check_config()
        facts = facts_from_change(change)  # type: ignore[arg-type]
        store = open_store(f"sqlite:///{tmp / 'check.sqlite'}")
        try:
            queue = RunQueue(store, config.gerrit.username)
            now = dt.datetime.now(dt.UTC)
            run = queue.enqueue(facts, Decision("enqueue", "check", PATCHSET, PATCHSET, now), now)
            assert run is not None and queue.claim(run.id)
            factory = self.executor_factory
            if factory is None:
                from driverci.ci.executor import LocalExecutor

                factory = LocalExecutor
            request = job_request(config, run, 0)
            outcome = await factory(config, tmp / "work").run(request, asyncio.Event())
            if outcome.result != "SUCCESS":
                self.report.fail(
                    f"{self.NOOP_JOB} did not succeed: {outcome.result} {outcome.detail}"
                )
                return
            self.report.ok(f"{self.NOOP_JOB} ran: {outcome.result}")
            await self._check_log_url(outcome.log_url)
            from driverci.ci.queue import JobRecord

            record = JobRecord(
                self.NOOP_JOB,
                True,
                outcome.result,
                outcome.log_url,
                outcome.started,
                outcome.finished,
            )
            queue.finish(run.id, run_result([record]), [record], "")
            finished = queue.get(run.id)
            assert finished is not None
            reporter = Reporter(config, rest, queue, Notifier(None, config.name))
            try:
                status = await reporter.report(finished)
            except GerritHTTPError as exc:
                self.report.fail(f"no permission to comment on {self.sandbox} (HTTP {exc.status})")
                return
            self.report.ok(f"reported on change {facts.change} ({status})")
        finally:
            store.close()

    async def _check_log_url(self, url: str) -> None:
        try:
            async with httpx.AsyncClient(timeout=10.0) as http:
                answer = await http.get(url)
        except httpx.HTTPError as exc:
            self.report.fail(f"log URL {url} does not answer: {type(exc).__name__}")
            return
        if answer.status_code >= 400:
            self.report.fail(f"log URL {url} answers HTTP {answer.status_code}")
        else:
            self.report.ok(f"log URL {url} answers")
