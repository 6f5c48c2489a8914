"""``driverci ci``: run the reference CI, see its queue, check it, serve and purge its logs."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from driverci.ci.config import CIConfig, load_ci_config

if TYPE_CHECKING:
    from driverci.ci.pool import TestbedPool
    from driverci.store.db import Store

ci_app = typer.Typer(
    help="The reference third-party CI (the driver team's side).", no_args_is_help=True
)
logs_app = typer.Typer(help="The CI's published logs.", no_args_is_help=True)
ci_app.add_typer(logs_app, name="logs")
testbed_app = typer.Typer(help="The CI's testbed pool.", no_args_is_help=True)
ci_app.add_typer(testbed_app, name="testbed")
console = Console()

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="ci.yaml")]


def _load(path: Path) -> CIConfig:
    return load_ci_config(path)


@ci_app.command("run")
def run(config: ConfigOption) -> None:
    """Listen to Gerrit, test every covered patch set and report; until SIGTERM or Ctrl-C."""
    from driverci.ci.service import run_until_signalled

    run_until_signalled(_load(config))


@ci_app.command("status")
def status(
    config: ConfigOption,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """The queue (with deadlines), running jobs, and the on-time rate so far."""
    import datetime as dt

    from driverci.ci.queue import RunQueue
    from driverci.ci.status import collect_status, render_status
    from driverci.store.db import open_store

    loaded = _load(config)
    store = open_store(loaded.state)
    try:
        now = dt.datetime.now(dt.UTC)
        testbeds = _pool(loaded, store).states()
        report = collect_status(RunQueue(store, loaded.gerrit.username), now, testbeds)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        render_status(report, console)


def _pool(config: CIConfig, store: Store) -> TestbedPool:
    import datetime as dt

    from driverci.ci.pool import TestbedPool

    return TestbedPool(
        store,
        config.gerrit.username,
        config.testbeds,
        config.testbed_max_failures,
        lambda: dt.datetime.now(dt.UTC),
        reset_holders=False,
    )


@ci_app.command("worker")
def worker(
    config: ConfigOption,
    labels: Annotated[
        str, typer.Option(help="Testbed labels this host serves, comma-separated (idrac,redfish)")
    ] = "",
    name: Annotated[str | None, typer.Option(help="Worker name (default: the host name)")] = None,
    concurrency: Annotated[int, typer.Option(help="Jobs at once on this host", min=1)] = 2,
) -> None:
    """Run jobs on this host for the listener (`executor: celery`); until SIGTERM."""
    from driverci.ci.workers.worker import run_worker

    wanted = [label.strip() for label in labels.split(",") if label.strip()]
    run_worker(_load(config), wanted, name, concurrency)


@testbed_app.command("enable")
def testbed_enable(
    config: ConfigOption, name: Annotated[str, typer.Argument(help="Testbed name")]
) -> None:
    """Put a repaired testbed back in service (the running CI uses it at once)."""
    _set_testbed(config, name, True, "returned to service by the operator")


@testbed_app.command("disable")
def testbed_disable(
    config: ConfigOption,
    name: Annotated[str, typer.Argument(help="Testbed name")],
    reason: Annotated[str, typer.Option(help="Why, for `ci status`")] = "taken out by the operator",
) -> None:
    """Take a testbed out of service (its running job finishes; no new job gets it)."""
    _set_testbed(config, name, False, reason)


def _set_testbed(config: Path, name: str, in_service: bool, why: str) -> None:
    from driverci.store.db import open_store

    loaded = _load(config)
    store = open_store(loaded.state)
    try:
        _pool(loaded, store).set_service(name, in_service, why)
    finally:
        store.close()
    state = "[green]in service[/green]" if in_service else "[red]out of service[/red]"
    console.print(f"testbed {escape(name)}: {state}")


@ci_app.command("check")
def check(
    config: ConfigOption,
    sandbox: Annotated[str | None, typer.Option(help="Sandbox project (default: policy's)")] = None,
) -> None:
    """Validate ci.yaml and prove connectivity on the sandbox project (push, test, report)."""
    from driverci.ci.check import ConnectivityCheck

    report = asyncio.run(ConnectivityCheck(_load(config), sandbox).run())
    for ok, line in report.lines:
        mark = "[green]ok[/green]  " if ok else "[red]FAIL[/red]"
        console.print(f"{mark} {escape(line)}", highlight=False)
    if not report.passed:
        raise typer.Exit(1)


@logs_app.command("serve")
def logs_serve(
    config: ConfigOption,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "0.0.0.0",
    port: Annotated[int, typer.Option(help="Port", min=0, max=65535)] = 8081,
) -> None:
    """Serve logs.dir over HTTP (browsable listings, .gz inline)."""
    from driverci.ci.logserver import serve_logs

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_logs(_load(config), host, port))


@logs_app.command("purge")
def logs_purge(config: ConfigOption) -> None:
    """Remove logs older than logs.retention_days (at least 30)."""
    from driverci.ci.retention import purge

    removed = purge(_load(config))
    console.print(f"removed {removed} runs older than the retention period")
