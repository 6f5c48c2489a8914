"""Shared pieces of the reference CI's story tests: a ci.yaml for the world, a log server,
a running service, and a fast executor for tests where execution is not the subject."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from driverci.ci.config import CIConfig, load_ci_config
from driverci.ci.model import Executor, JobOutcome, JobRequest
from driverci.ci.service import CIService
from driverci.emulator.state.model import Change
from world import PROJECT, GerritWorld, wait_until

CIWATCH = re.compile(
    r"[-*]\s+([^\s*]+)\s+(http[^\s*]+) : (FAILURE|SUCCESS|NOT_REGISTERED|UNSTABLE)"
)
CI = "sandbox-redfish-ci"


def write_ci_yaml(
    world: GerritWorld,
    log_url: str,
    *,
    step: str = "! grep -rq BROKEN ironic",
    extra: str = "",
    project: str = PROJECT,
) -> CIConfig:
    """A ci.yaml in the world's tmp directory, as a vendor would write it."""
    secrets = world.tmp / "secrets"
    secrets.mkdir(exist_ok=True)
    (secrets / "http-password").write_text("sandbox-redfish-ci-secret\n")
    path = world.tmp / "ci.yaml"
    path.write_text(
        f"""\
name: Sandbox Redfish CI
gerrit:
  url: {world.url}
  ssh: 127.0.0.1:{world.ssh_port}
  username: {CI}
  http_password_file: ./secrets/http-password
  ssh_key: {world.tmp / "ci_key"}
project: {project}
driver: redfish
started: 2026-01-01
wiki: https://wiki.example.org/ThirdPartySystems/Sandbox_Redfish_CI
pipeline: check
slots: 2
recheck: '(?i)^(Patch Set \\d+:)?\\s*(recheck|sandbox-redfish: recheck)\\s*$'
reconcile_interval: 3600
jobs:
  - name: redfish-unit
    timeout: 60
    steps:
      - run: {json.dumps(step)}
logs:
  dir: ./logs
  url: {log_url}
state: sqlite:///./ci.sqlite
{extra}"""
    )
    return load_ci_config(path)


@contextlib.asynccontextmanager
async def log_server(root: Path) -> AsyncIterator[str]:
    """The data plane's log server on an ephemeral port; yields its base URL."""
    from driverci.ci.logserver import create_log_app

    root.mkdir(parents=True, exist_ok=True)
    runner = web.AppRunner(create_log_app(root))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        await runner.cleanup()


class FastExecutor:
    """Reports SUCCESS at once (for restart and burst stories, where execution is not tested)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.started: list[tuple[int, int]] = []

    async def run(self, request: JobRequest, cancel: asyncio.Event) -> JobOutcome:
        begin = dt.datetime.now(dt.UTC)
        self.started.append((request.target.change, request.target.patch_set))
        if self.delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(cancel.wait(), self.delay)
        result = "CANCELED" if cancel.is_set() else "SUCCESS"
        return JobOutcome(result, request.log_url, begin, dt.datetime.now(dt.UTC))


@contextlib.asynccontextmanager
async def running(
    config: CIConfig, executor: Executor | None = None, reconcile_age: float | None = None
) -> AsyncIterator[CIService]:
    """The CI service running in the background; stopped cleanly afterwards."""
    service = CIService(config, executor=executor, workspace_root=config.logs.dir.parent / "work")  # type: ignore[union-attr]
    if reconcile_age is not None:
        service.listener.RECONCILE_MIN_AGE = dt.timedelta(seconds=reconcile_age)
    task = asyncio.create_task(service.run())
    await wait_until(
        lambda: service.stream is not None and service.stream.stats.connects > 0, 10, "stream"
    )
    await asyncio.sleep(0.3)  # the stream-events command is running
    try:
        yield service
    finally:
        await service.stop()
        await asyncio.wait_for(task, 30)


def ci_comments(world: GerritWorld, change: Change) -> list[str]:
    return world.messages_by(change, CI)


def ci_comments_on(world: GerritWorld, change: Change, patch_set: int) -> list[str]:
    account = world.accounts[CI]
    return [
        m.message
        for m in change.messages
        if m.author_id == account.account_id and m.revision_number == patch_set
    ]
