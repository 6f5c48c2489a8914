"""``driverci demo``: the main job on embedded defaults (SQLite, the bundled emulator).

Seeds a fresh emulator with the example scenario, serves it on loopback, and reads it back
through driverci's own Gerrit client, so the demo exercises the real wire protocols.
"""

from __future__ import annotations

import asyncio
import shutil
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from driverci.errors import DriverCIError
from driverci.progress import StageProgress

console = Console()
DEMO_MARKER = ".driverci-demo"


def _fresh_dir(path: Path) -> None:
    """Start from nothing, but only ever delete a directory the demo itself made."""
    if path.exists():
        if not (path / DEMO_MARKER).exists():
            raise DriverCIError(f"{path} exists and was not made by the demo; choose --state")
        shutil.rmtree(path)
    path.mkdir(parents=True)
    (path / DEMO_MARKER).write_text("made by driverci demo\n", encoding="utf-8")


def demo_command(
    state_dir: Annotated[
        Path, typer.Option("--state", help="Where the demo keeps its data")
    ] = Path("demo-state"),
    scenario: Annotated[Path | None, typer.Option(help="Scenario YAML (default: example)")] = None,
) -> None:
    """Seed the emulator with the example scenario, serve it, and show what it holds."""
    from driverci.emulator.cli import print_state_summary
    from driverci.emulator.scenario import load_scenario
    from driverci.emulator.seed import seed_scenario
    from driverci.emulator.state import EmulatorState

    _fresh_dir(state_dir)
    if scenario is None:
        scenario_res = resources.files("driverci") / "data" / "scenarios" / "example.yaml"
        with resources.as_file(scenario_res) as scenario_path:
            loaded = load_scenario(scenario_path)
    else:
        loaded = load_scenario(scenario)
    emulator_dir = state_dir / "emulator"
    state = EmulatorState(emulator_dir)
    console.rule("[bold]1. Seeding the Gerrit emulator")
    with StageProgress(console) as progress:
        summary = seed_scenario(state, emulator_dir / "git", loaded, progress=progress.report)
    console.print(f"seeded: {summary}")
    print_state_summary(state)
    console.rule("[bold]2. Reading it back over Gerrit's REST API")
    asyncio.run(_read_back(state))
    state.close()


async def _read_back(state: object) -> None:
    from driverci.emulator.server import EmulatorServer
    from driverci.emulator.state import EmulatorState
    from driverci.gerrit.rest import GerritRestClient

    assert isinstance(state, EmulatorState)
    async with EmulatorServer(state) as server, GerritRestClient(server.http_url) as client:
        version = await client.get_version()
        merged = [
            c
            async for c in client.iter_changes(
                "project:openstack/ironic status:merged", options=("CURRENT_REVISION",)
            )
        ]
        console.print(
            f"emulator at {server.http_url} (SSH {server.ssh_port}) "
            f"answers as Gerrit {version}; "
            f"{len(merged)} merged changes on openstack/ironic"
        )
