"""The ``driverci`` command: one entry point for the judge, the reference CI, the dashboard,
the emulator and the checks on registry and policy files.

Every user-facing failure is a :class:`~driverci.errors.DriverCIError`; :func:`main` prints
its one line in red and exits 2, never a traceback.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from driverci.errors import DriverCIError

app = typer.Typer(
    name="driverci",
    help="Third-party driver CI for OpenStack Ironic: judge, reference CI, dashboard, emulator.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
registry_app = typer.Typer(
    help="Check and show the registry of drivers and CI systems.", no_args_is_help=True
)
policy_app = typer.Typer(
    help="Check and show the policy (the spec's rules as data).", no_args_is_help=True
)
db_app = typer.Typer(
    help="Manage the store (SQLite by default, PostgreSQL by URL).", no_args_is_help=True
)
app.add_typer(registry_app, name="registry")
app.add_typer(policy_app, name="policy")
app.add_typer(db_app, name="db")

console = Console()
err_console = Console(stderr=True)


def _register_subcommands() -> None:
    # Sub-applications live beside their packages; importing them here (not at module
    # import) keeps `driverci --help` fast and the emulator out of everyone else's imports.
    from driverci.audit.cli import audit_app
    from driverci.audit.notify.cli import notify_command
    from driverci.ci.cli import ci_app
    from driverci.emulator.cli import emulator_app

    audit_app.command("notify")(notify_command)
    app.add_typer(ci_app, name="ci")
    app.add_typer(audit_app, name="audit")
    app.add_typer(emulator_app, name="emulator")
    from driverci import demo
    from driverci.sandbox.cli import sandbox_command
    from driverci.web.cli import web_command

    app.command("demo")(demo.demo_command)
    app.command("sandbox")(sandbox_command)
    app.command("web")(web_command)


@app.callback()
def _main_options(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@registry_app.command("check")
def registry_check(
    path: Annotated[
        Path | None, typer.Argument(help="registry.yaml (default: the shipped one)")
    ] = None,
) -> None:
    """Validate a registry file against its schema and cross-checks.

    What infra's rules ask only of new accounts (a display name ending in " CI") is a
    warning on stderr, one line per entry; the file is still valid.
    """
    from driverci.registry.loader import load_registry_with_warnings

    registry, warnings = load_registry_with_warnings(path)
    print_warnings(warnings)
    console.print(
        f"[green]ok[/green] {path or 'shipped registry'}: {len(registry.drivers)} drivers, "
        f"{len(registry.ci_systems)} CI systems"
        + (f", {len(warnings)} warning(s)" if warnings else "")
    )


def print_warnings(warnings: list[str]) -> None:
    """Each warning as one line on stderr, as text (it quotes names from the files)."""
    for warning in warnings:
        err_console.print(
            Text.assemble(("warning:", "bold yellow"), f" {warning}"),
            highlight=False,
            soft_wrap=True,
        )


@registry_app.command("show")
def registry_show(
    path: Annotated[Path | None, typer.Argument(help="registry.yaml")] = None,
) -> None:
    """List drivers with their status and the CI systems that test them."""
    from driverci.registry.loader import load_registry

    registry = load_registry(path)
    table = Table(title="Drivers")
    for column in ("driver", "status", "maintainer", "CI"):
        table.add_column(column)
    colours = {"supported": "green", "deprecated": "yellow", "removed": "red"}
    for driver in registry.drivers:
        cis = ", ".join(ci.name for ci in registry.ci_systems if driver.name in ci.drivers)
        colour = colours.get(driver.status, "white")
        table.add_row(
            escape(driver.name),
            f"[{colour}]{escape(driver.status)}[/{colour}]",
            escape(driver.maintainer),
            escape(cis) or "-",
        )
    console.print(table)


@policy_app.command("check")
def policy_check(
    path: Annotated[
        Path | None, typer.Argument(help="policy.yaml (default: the shipped one)")
    ] = None,
) -> None:
    """Validate a policy file."""
    from driverci.policy.loader import load_policy

    load_policy(path)
    console.print(f"[green]ok[/green] {path or 'shipped policy'}")


@policy_app.command("docs")
def policy_docs(
    fmt: Annotated[str, typer.Option("--format", help="rst or markdown")] = "rst",
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
    policy_path: Annotated[Path | None, typer.Option("--policy")] = None,
    registry_path: Annotated[Path | None, typer.Option("--registry")] = None,
) -> None:
    """Write the third-party CI requirements and the deprecation process, from policy."""
    from datetime import UTC, datetime

    from driverci.audit.config import load_judge_config
    from driverci.audit.govern.policy_docs import process_sections, render, requirement_sections

    if fmt not in ("rst", "markdown"):
        raise DriverCIError(f"--format {fmt!r}: choose rst or markdown")
    registry, policy, warnings = load_judge_config(registry_path, policy_path)
    print_warnings(warnings)
    today = datetime.now(UTC).date()
    text = render(requirement_sections(policy, registry, today) + process_sections(policy), fmt)
    if output:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")
    else:
        print(text)


@db_app.command("upgrade")
def db_upgrade(
    url: Annotated[
        str | None,
        typer.Option(help="Database URL (default: $DRIVERCI_DB or sqlite:///./driverci.sqlite)"),
    ] = None,
) -> None:
    """Create or migrate the store's tables to the newest schema."""
    from driverci.store.db import make_engine, migrate

    engine = make_engine(url)
    migrate(engine)
    console.print(f"[green]ok[/green] store at {engine.url.render_as_string(hide_password=True)}")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    _register_subcommands()
    try:
        # Typer handles its own usage errors and exit codes; our errors come through here.
        app(args=argv)
    except DriverCIError as error:
        # As text, not markup: errors quote input (paths, URLs, names) that may hold "[...]";
        # one line whatever the width, so logs and scripts get it whole.
        err_console.print(
            Text.assemble(("error:", "bold red"), f" {error}"), highlight=False, soft_wrap=True
        )
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
