"""Shared parts of the notification stories (no tests here; named test_notify_* by ownership).

A small seeded Ironic: three third-party CIs over 30 days, collected over REST from a running
emulator into a store, their result links probed (a CI is reliable only on evidence), judged
over three windows. A real SMTP server (aiosmtpd) and a real
webhook receiver (aiohttp), both on 127.0.0.1 with ephemeral ports, each in its own thread
because the notifier is synchronous (smtplib, httpx).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from driverci.audit.engine import Judge
from driverci.audit.evaluate.facts import Window
from driverci.audit.govern.report import AuditReport
from driverci.audit.intake.collect import RestCollector
from driverci.audit.intake.ingest import Ingestor
from driverci.audit.probe.artifacts import ArtifactSurvey
from driverci.audit.probe.fetch import ProbeLimits
from driverci.emulator.seed.scenario import Scenario, parse_scenario
from driverci.emulator.seed.seeder import seed_scenario
from driverci.emulator.server import EmulatorServer
from driverci.emulator.state.journal import EmulatorState
from driverci.gerrit.rest import GerritRestClient
from driverci.policy.loader import load_policy
from driverci.policy.schema import Milestone, Policy
from driverci.registry.schema import CISystem, Contact, Driver, Registry
from driverci.store.db import Store, open_store

# Steady posts on everything; Dark stops posting on 2026-01-18; Quiet never posted on the
# sandbox and its registry entry names no contact (mail goes to its driver's contacts).
SCENARIO = """
start: 2026-01-05T00:00:00Z
days: 30
seed: 7
branches: {master: 1.0}
changes_per_day: 5
upstream: {account: zuul, name: Zuul, failure_rate: 0.1}
cis:
  - {account: steady-ci, name: Steady CI, started: 2025-10-01, sandbox: true, driver: redfish}
  - {account: dark-ci, name: Dark CI, started: 2025-10-01, sandbox: true,
     stops_at: 2026-01-18, driver: ipmi}
  - {account: quiet-ci, name: Quiet CI, started: 2025-10-01, sandbox: false, driver: idrac}
"""
WIKI = "https://wiki.openstack.org/wiki/ThirdPartySystems/"
DASHBOARD = "https://ci.example.org/dash"


def _driver(name: str, contacts: list[Contact]) -> Driver:
    return Driver(
        name=name, kind="hardware-type", maintainer="vendor", status="supported", contacts=contacts
    )


def build_registry() -> Registry:
    started = date(2025, 10, 1)
    return Registry(
        drivers=[
            _driver("redfish", [Contact(name="Redfish", email="redfish-vendor@example.org")]),
            _driver("ipmi", []),
            _driver("idrac", [Contact(name="iDRAC team", email="idrac-team@example.org")]),
        ],
        ci_systems=[
            CISystem(account="zuul", kind="upstream", name="Zuul CI"),
            CISystem(
                account="steady-ci",
                name="Steady CI",
                wiki=WIKI + "Steady_CI",
                contacts=[Contact(name="Steady ops", email="steady-ops@example.org")],
                drivers=["redfish"],
                started=started,
            ),
            CISystem(
                account="dark-ci",
                name="Dark CI",
                wiki=WIKI + "Dark_CI",
                contacts=[
                    Contact(name="Dark ops", email="dark-ops@example.org"),
                    Contact(name="Dark lead", email="dark-lead@example.org", irc="dlead"),
                ],
                drivers=["ipmi"],
                started=started,
            ),
            CISystem(account="quiet-ci", name="Quiet CI", drivers=["idrac"], started=started),
        ],
    )


def build_policy() -> Policy:
    """Ironic's policy with the sandbox milestone due 2026-01-10, inside the scenario."""
    policy = load_policy()
    milestones = [
        Milestone(key=m.key, name=m.name, date=date(2026, 1, 10), days_after_start=0)
        if m.key == "sandbox"
        else m
        for m in policy.milestones
    ]
    return policy.model_copy(update={"milestones": milestones})


@dataclass
class Judged:
    """A collected store (template file) and the reports of three windows."""

    template: Path
    registry: Registry
    policy: Policy
    early: AuditReport  # one day: every CI is at risk (too few patch sets to judge)
    middle: AuditReport  # twelve days: every CI is reliable, Quiet missed the sandbox
    late: AuditReport  # thirty days: Dark went silent and is unreliable

    def fresh_store(self, directory: Path) -> Store:
        """A copy of the collected store with no notification state yet."""
        path = directory / "notify.sqlite"
        shutil.copyfile(self.template, path)
        return open_store(f"sqlite:///{path}")


async def _seed_and_collect(directory: Path, scenario: Scenario, registry: Registry) -> Path:
    state = EmulatorState(directory / "state")
    server = EmulatorServer(state)
    await server.start()
    # Seeded once the server runs, so result links point at its log server.
    seed_scenario(state, directory / "state" / "git", scenario)
    path = directory / "template.sqlite"
    store = open_store(f"sqlite:///{path}")
    try:
        ingestor = Ingestor(store, registry)
        async with GerritRestClient(server.http_url) as client:
            for project in (scenario.project, scenario.sandbox_project):
                await RestCollector(ingestor, client, project).run()
        end = scenario.start + timedelta(days=scenario.days)
        survey = ArtifactSurvey(store, ProbeLimits(allow_private=True), now=end)
        await survey.run(survey.links_to_probe(scenario.project, scenario.start, end, ["zuul"]))
    finally:
        store.close()
        await server.stop()
        state.close()
    return path


def judge_scenario(directory: Path) -> Judged:
    scenario = parse_scenario(SCENARIO, "notify scenario")
    registry, policy = build_registry(), build_policy()
    template = asyncio.run(_seed_and_collect(directory, scenario, registry))
    store = open_store(f"sqlite:///{template}")
    reports = []
    for days in (1, 12, 30):
        end = scenario.start + timedelta(days=days)
        reports.append(Judge(store, registry, policy, now=end).report(Window(scenario.start, end)))
    store.close()
    return Judged(template, registry, policy, *reports)


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate for IP 127.0.0.1 and its key, made with the openssl command."""
    cert, key = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


class WebhookReceiver:
    """An aiohttp server in its own thread that keeps every JSON body POSTed to /hook.

    ``fail_next`` answers that many requests with 503 first (to see the retry).
    """

    def __init__(self, fail_next: int = 0) -> None:
        self.payloads: list[dict[str, Any]] = []
        self.attempts = 0
        self.fail_next = fail_next
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    async def _hook(self, request: web.Request) -> web.Response:
        self.attempts += 1
        if self.fail_next:
            self.fail_next -= 1
            return web.Response(status=503, text="busy")
        self.payloads.append(await request.json())
        return web.Response(status=202, text="ok")

    async def _start(self) -> str:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}/hook"

    def start(self) -> None:
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
