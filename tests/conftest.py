"""Fixtures shared by every story test: a running Gerrit emulator and a store."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from driverci.realgerrit import GerritDistribution, GerritSite, provision
from driverci.realgerrit.provision import RunningGerrit
from driverci.store.db import Store, open_store
from world import GerritWorld, build_world

# Tests commit with git; a fresh machine may have no identity configured.
for _name, _value in (
    ("GIT_AUTHOR_NAME", "driverci tests"),
    ("GIT_AUTHOR_EMAIL", "tests@driverci.invalid"),
    ("GIT_COMMITTER_NAME", "driverci tests"),
    ("GIT_COMMITTER_EMAIL", "tests@driverci.invalid"),
):
    os.environ.setdefault(_name, _value)

SHARED = Path(os.environ.get("DRIVERCI_SHARED", Path(__file__).parents[2] / "shared"))


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared reference data not found at {SHARED} (set DRIVERCI_SHARED)")
    return SHARED


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A migrated SQLite store in the test's directory."""
    opened = open_store(f"sqlite:///{tmp_path / 'driverci.sqlite'}")
    yield opened
    opened.close()


@pytest.fixture
async def world(tmp_path: Path, store: Store) -> AsyncIterator[GerritWorld]:
    """A running emulator (REST, SSH, git) holding openstack/ironic and the CI sandbox."""
    built = await build_world(tmp_path, store)
    try:
        yield built
    finally:
        await built.server.stop()
        built.state.close()


@pytest.fixture(scope="session")
def real_gerrit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGerrit]:
    """One real Gerrit for the whole run (its jars and initialised template cached across runs);
    skipped with the reason where Java or Maven is missing, failed if services are required."""
    distribution = GerritDistribution()
    reason = distribution.unavailable_reason()
    if reason is not None:
        if os.environ.get("DRIVERCI_REQUIRE_SERVICES") == "1":
            pytest.fail(f"real Gerrit required but unavailable: {reason}")
        pytest.skip(f"real Gerrit unavailable: {reason}")
    run_dir = tmp_path_factory.mktemp("real-gerrit")
    site = GerritSite(distribution)
    site.start(run_dir)
    try:
        yield RunningGerrit(site, provision(site, run_dir))
    finally:
        site.stop()


FAULT_COUNTS = pytest.StashKey[list[str]]()


@pytest.fixture
def fault_counts(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Where a fault story writes its counts: printed, and shown in the run's summary."""

    def record(line: str) -> None:
        request.config.stash.setdefault(FAULT_COUNTS, []).append(line)
        print(line)

    return record


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    lines = config.stash.get(FAULT_COUNTS, [])
    if lines:
        terminalreporter.section("fault stories: counts")
        for line in lines:
            terminalreporter.write_line(line)
