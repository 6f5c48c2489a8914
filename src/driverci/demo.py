"""``driverci demo``: the main job on embedded defaults (SQLite, the bundled emulator).

Seeds a fresh emulator with a scenario, serves it on loopback, and runs the judge against
it exactly as against review.opendev.org: collect over REST, probe the result links, report.
The report is printed and written to ``<state>/report.{json,html,md}``.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
from datetime import timedelta
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def demo_command(
    state_dir: Annotated[
        Path, typer.Option("--state", help="Where the demo keeps its data")
    ] = Path("demo-state"),
    scenario: Annotated[
        str, typer.Option(help="Bundled scenario name (example, judge-8cis) or a YAML file")
    ] = "judge-8cis",
) -> None:
    """Seed the emulator, serve it, and judge every CI in it over Gerrit's real protocols."""
    from driverci.emulator.seed.scenario import bundled_scenario_path, load_scenario

    path = Path(scenario) if scenario.endswith((".yaml", ".yml")) else None
    loaded = load_scenario(path or bundled_scenario_path(scenario))
    _fresh_dir(state_dir)
    asyncio.run(_run(state_dir, loaded))


async def _run(state_dir: Path, scenario: object) -> None:
    from driverci.audit.engine import Judge
    from driverci.audit.evaluate.facts import Window
    from driverci.audit.govern.report import render_html, render_json, render_markdown, render_table
    from driverci.audit.intake.collect import RestCollector
    from driverci.audit.intake.ingest import Ingestor
    from driverci.audit.probe.artifacts import ArtifactSurvey
    from driverci.audit.probe.fetch import ProbeLimits
    from driverci.emulator.cli import print_state_summary
    from driverci.emulator.seed.scenario import Scenario
    from driverci.emulator.seed.scenario_registry import scenario_registry
    from driverci.emulator.seed.seeder import seed_scenario
    from driverci.emulator.server import EmulatorServer
    from driverci.emulator.state.journal import EmulatorState
    from driverci.gerrit.rest import GerritRestClient
    from driverci.policy.loader import load_policy
    from driverci.registry.loader import load_registry, save_registry
    from driverci.store.db import open_store

    assert isinstance(scenario, Scenario)
    port = _free_port()
    state = EmulatorState(state_dir / "gerrit", web_url=f"http://127.0.0.1:{port}")
    console.rule("[bold]1. Seeding the Gerrit emulator")
    with StageProgress(console) as bars:
        summary = seed_scenario(state, state_dir / "gerrit" / "git", scenario, progress=bars.report)
    console.print(f"seeded: {summary}")
    print_state_summary(state)
    registry = scenario_registry(scenario, load_registry())
    save_registry(registry, state_dir / "registry.yaml")
    policy = load_policy()
    store = open_store(f"sqlite:///{(state_dir / 'driverci.sqlite').resolve()}")
    end = scenario.start + timedelta(days=scenario.days)
    window = Window(end - timedelta(days=policy.window_days), end)
    async with EmulatorServer(state, http_port=port) as server:
        console.rule(f"[bold]2. Collecting from {server.http_url} over REST")
        async with GerritRestClient(server.http_url) as client:
            version = await client.get_version()
            console.print(f"the emulator answers as Gerrit {version}")
            for project in (registry.project, registry.sandbox_project):
                with StageProgress(console) as bars:
                    ingestor = Ingestor(store, registry, policy.recheck.patterns)
                    collected = await RestCollector(ingestor, client, project).run(
                        progress=bars.reporter(f"collecting {project}")
                    )
                console.print(f"{project}: {collected}")
        console.rule("[bold]3. Probing result links (artifacts)")
        survey = ArtifactSurvey(store, ProbeLimits(allow_private=True), now=end)
        upstream = [ci.account for ci in registry.ci_systems if ci.kind == "upstream"]
        links = survey.links_to_probe(registry.project, window.start, window.end, upstream)
        with StageProgress(console) as bars:
            counts = await survey.run(links, progress=bars.reporter("probing"))
        console.print(
            f"{counts['probed']} links: {counts['available']} available, "
            f"{counts['standard']} standard"
        )
    state.close()
    console.rule(f"[bold]4. The judge's report, {window.start:%Y-%m-%d} to {end:%Y-%m-%d}")
    report = Judge(store, registry, policy, now=end).report(window)
    render_table(report, console)
    (state_dir / "report.json").write_text(render_json(report), encoding="utf-8")
    (state_dir / "report.html").write_text(render_html(report), encoding="utf-8")
    (state_dir / "report.md").write_text(render_markdown(report), encoding="utf-8")
    console.print(
        f"\nreports written to {state_dir}/report.{{json,html,md}}; the store is "
        f"{state_dir}/driverci.sqlite, the registry {state_dir}/registry.yaml.\n"
        f"Try: driverci audit report --db sqlite:///{state_dir}/driverci.sqlite "
        f"--registry {state_dir}/registry.yaml --until {end:%Y-%m-%d}"
    )
