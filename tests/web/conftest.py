"""The dashboard's world: the judge's scenario seeded into the emulator, collected over REST
into a store, artifact links probed twice (a week apart, so link rot shows), and the
dashboard served by uvicorn on 127.0.0.1 with a registry file it may write to."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from dashboard_world import ADMIN_TOKEN, DAYS, PROBED, Dashboard, SeededStore

from driverci.audit.intake.collect import RestCollector
from driverci.audit.intake.ingest import Ingestor
from driverci.audit.probe.artifacts import ArtifactSurvey
from driverci.audit.probe.fetch import ProbeLimits
from driverci.emulator.seed.scenario import Scenario, bundled_scenario_path, load_scenario
from driverci.emulator.seed.scenario_registry import scenario_registry
from driverci.emulator.seed.seeder import seed_scenario
from driverci.emulator.server import EmulatorServer
from driverci.emulator.state.journal import EmulatorState
from driverci.gerrit.rest import GerritRestClient
from driverci.policy.loader import load_policy
from driverci.registry.loader import load_registry, save_registry
from driverci.registry.schema import Registry
from driverci.store.db import Store, open_store
from driverci.web.app import create_app
from driverci.web.data import WebConfig


def _fixed(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


async def _collect_and_probe(
    state: EmulatorState, store: Store, scenario: Scenario, git_root: Path
) -> str:
    registry = load_registry(None)
    async with EmulatorServer(state) as server, GerritRestClient(server.http_url) as client:
        # Seeded after the server started, so result links point at its log server.
        seed_scenario(state, git_root, scenario)
        ingestor = Ingestor(store, scenario_registry(scenario, registry))
        for project in (scenario.project, scenario.sandbox_project):
            await RestCollector(ingestor, client, project).run()
        # Probe as the judge would, a week apart on the emulator's clock: links of the CI
        # whose artifacts die after a week are alive at the first probe, dead at the second.
        for moment in (scenario.end - timedelta(days=7), scenario.end):
            state.clock = _fixed(moment)
            survey = ArtifactSurvey(store, ProbeLimits(allow_private=True), now=moment)
            links = survey.links_to_probe(scenario.project, scenario.start, moment)
            await survey.run([t for t in links if any(name in t.url for name in PROBED)])
        return server.http_url


def deployer_story(registry: Registry) -> Registry:
    """The shipped registry has no deprecated driver and no moved one; give it one of each."""
    drivers = []
    for driver in registry.drivers:
        if driver.name == "idrac":
            driver = driver.model_copy(update={"status": "deprecated", "deprecated_in": "2026.1"})
        if driver.name == "snmp":
            driver = driver.model_copy(update={"new_location": "https://opendev.org/x/ironic-snmp"})
        drivers.append(driver)
    return registry.model_copy(update={"drivers": drivers})


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededStore]:
    tmp = tmp_path_factory.mktemp("web-seeded")
    scenario = load_scenario(bundled_scenario_path("judge-8cis")).model_copy(update={"days": DAYS})
    state = EmulatorState(tmp / "emulator")
    store = open_store(f"sqlite:///{tmp / 'driverci.sqlite'}")
    gerrit_url = asyncio.run(_collect_and_probe(state, store, scenario, tmp / "emulator" / "git"))
    state.close()
    registry_path = tmp / "registry.yaml"
    save_registry(deployer_story(scenario_registry(scenario, load_registry(None))), registry_path)
    yield SeededStore(scenario, store, registry_path, gerrit_url)
    store.close()


def _serve(config: WebConfig) -> Iterator[str]:
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="dashboard", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the dashboard did not start within 10 s")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def web_config(seeded: SeededStore, registry_path: Path | None, token: str | None) -> WebConfig:
    return WebConfig(
        store=seeded.store,
        registry=load_registry(registry_path or seeded.registry_path),
        policy=load_policy(None),
        registry_path=registry_path,
        gerrit_url=seeded.gerrit_url,
        admin_token=token,
        window_days=DAYS,
        until=seeded.scenario.end,
    )


@pytest.fixture(scope="session")
def dashboard(seeded: SeededStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """The dashboard over the seeded store, with a registry file of its own to write."""
    registry_path = tmp_path_factory.mktemp("web-registry") / "registry.yaml"
    shutil.copy(seeded.registry_path, registry_path)
    for url in _serve(web_config(seeded, registry_path, ADMIN_TOKEN)):
        yield Dashboard(url, seeded, registry_path)


@pytest.fixture
def fresh_dashboard(seeded: SeededStore, tmp_path: Path) -> Iterator[Dashboard]:
    """A dashboard with its own copy of the registry, for tests that write to it."""
    registry_path = tmp_path / "registry.yaml"
    shutil.copy(seeded.registry_path, registry_path)
    for url in _serve(web_config(seeded, registry_path, ADMIN_TOKEN)):
        yield Dashboard(url, seeded, registry_path)


@pytest.fixture(scope="session")
def readonly_dashboard(seeded: SeededStore) -> Iterator[Dashboard]:
    """The dashboard as `driverci web` without --registry: the shipped file, read-only."""
    for url in _serve(web_config(seeded, None, ADMIN_TOKEN)):
        yield Dashboard(url, seeded, seeded.registry_path)
