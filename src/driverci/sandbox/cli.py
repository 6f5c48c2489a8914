"""``driverci sandbox``: the whole rehearsal on this machine, printed as it happens."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from driverci.errors import DriverCIError
from driverci.sandbox.gerrit_setup import CI_ACCOUNT, CI_NAME
from driverci.sandbox.ironic_source import (
    FAST_NOTE,
    FAST_SELECTION,
    IRONIC_VERSION,
    IronicFromPyPI,
    SourceTree,
    default_cache_dir,
    fake_ironic,
)
from driverci.sandbox.rehearsal import Rehearsal, RehearsalResult

console = Console()


def prepare_source(
    fake: bool, fast: bool, version: str, cache_dir: Path, state_dir: Path, out: Console
) -> SourceTree:
    """Real Ironic (sdist + cached venv, with a live status line) or the tests' fake tree."""
    # Absolute paths: the jobs and git run in other directories than ours.
    state_dir, cache_dir = state_dir.resolve(), cache_dir.resolve()
    if fake:
        return fake_ironic(state_dir.parent / f".{state_dir.name}-source")
    out.rule(f"[bold]0. Ironic {version} from PyPI and the job environment (cached in {cache_dir})")
    with out.status(f"preparing ironic {version}") as status:

        def progress(line: str) -> None:
            status.update(line)
            if not line.startswith(("install", "download ironic")) or "installing" in line:
                out.print(line, highlight=False, markup=False)

        source = IronicFromPyPI(version, cache_dir, progress).prepare()
    if fast:
        source = SourceTree(
            source.label,
            source.root,
            source.venv_bin,
            source.functional,
            source.slots,
            FAST_SELECTION,
            FAST_NOTE,
        )
    return source


def print_result(result: RehearsalResult, out: Console) -> bool:
    """The comments, the artifact checks, the judge's table; True when all is as expected."""
    from driverci.audit.govern.report import render_table

    out.rule("[bold]What landed on the changes")
    all_ok = True
    for outcome in result.outcomes:
        mark = "[green]as expected[/green]" if outcome.as_expected else "[red]NOT as expected[/red]"
        out.print(
            f"change {outcome.number} ({outcome.patch.key}, expecting {outcome.patch.expect}): "
            f"{len(outcome.comments)} comment(s) by the CI - {mark}",
            highlight=False,
        )
        all_ok &= outcome.as_expected
        for index, header in enumerate(outcome.headers()):
            out.print(f"  [{index + 1}] {header}", highlight=False, markup=False)
            for job in outcome.jobs(index):
                out.print(f"      {job.line}", highlight=False, markup=False, soft_wrap=True)
    table = Table(title="Artifacts (HTTP GET on the log URLs)")
    for column in ("change", "job", "status", "ok", "what"):
        table.add_column(column, overflow="fold")
    for check in result.artifacts:
        table.add_row(
            str(check.change),
            escape(check.job),
            str(check.status),
            "yes" if check.ok else "NO",
            escape(check.note),
        )
        all_ok &= check.ok
    out.print(table)
    judgement = result.judgement
    for line in judgement.collected:
        out.print(f"judge collected {line}", highlight=False, markup=False)
    out.print(f"judge probed result links: {judgement.probes}", highlight=False)
    render_table(judgement.report, out)
    system = judgement.system(CI_ACCOUNT)
    verdict = result.verdict or "not rated"
    out.print(f"[bold]{CI_NAME} rated {verdict}[/bold] by the judge", highlight=False)
    if system is not None:
        for reason in system.verdict.reasons:
            out.print(f"  - {reason}", highlight=False, markup=False)
    all_ok &= verdict == "reliable"
    timings = ", ".join(f"{key} {seconds:g}s" for key, seconds in result.timings.items())
    out.print(f"timings: {timings}", highlight=False)
    return all_ok


def sandbox_command(
    state_dir: Annotated[
        Path, typer.Option("--state", help="Where the rehearsal keeps its data (made fresh)")
    ] = Path("sandbox-state"),
    fast: Annotated[
        bool, typer.Option("--fast", help="Run only the redfish power unit tests")
    ] = False,
    ironic_version: Annotated[
        str, typer.Option("--ironic-version", help="Ironic release to fetch from PyPI")
    ] = IRONIC_VERSION,
    cache_dir: Annotated[
        Path | None,
        typer.Option("--cache", help="Cache for the sdist and the job venv [~/.cache/driverci]"),
    ] = None,
    fake: Annotated[
        bool, typer.Option("--fake", help="A tiny stand-in tree instead of Ironic (no download)")
    ] = False,
) -> None:
    """Rehearse a third-party CI: Gerrit with real Ironic, the redfish CI, pushes, the judge."""
    try:
        source = prepare_source(
            fake, fast, ironic_version, cache_dir or default_cache_dir(), state_dir, console
        )
        result = asyncio.run(Rehearsal(state_dir, source, console).run())
    except DriverCIError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    ok = print_result(result, console)
    console.print(
        f"\nState in {state_dir}: ci/ci.yaml, ci/logs/, report.{{json,md,html}}, "
        "registry.yaml, policy-rehearsal.yaml",
        highlight=False,
    )
    if not ok:
        raise typer.Exit(1)
