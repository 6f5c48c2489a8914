"""``driverci audit``: collect, probe, report, propose, drivers (the Ironic team's side)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from driverci.audit.evaluate.facts import Window
from driverci.errors import ConfigError, DriverCIError
from driverci.progress import StageProgress

audit_app = typer.Typer(help="The judge: measure every CI against the spec.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Store URL (default $DRIVERCI_DB or sqlite:///./driverci.sqlite)"),
]
RegistryOption = Annotated[Path | None, typer.Option("--registry", help="registry.yaml")]
PolicyOption = Annotated[Path | None, typer.Option("--policy", help="policy.yaml")]
DateOption = Annotated[str | None, typer.Option(help="YYYY-MM-DD (UTC)")]


def parse_day(value: str | None, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
    except ValueError:
        raise ConfigError(f"--{what} {value!r}: expected a date like 2026-03-01") from None


def load_config(registry_path: Path | None, policy_path: Path | None) -> tuple[Any, Any]:
    """Registry and policy for a judging command; the registry's warnings go to stderr."""
    from driverci.audit.config import load_judge_config

    registry, policy, warnings = load_judge_config(registry_path, policy_path)
    print_warnings(warnings)
    return registry, policy


def print_warnings(warnings: list[str]) -> None:
    """One line each on stderr, as text: they quote names from the files."""
    for warning in warnings:
        err_console.print(
            Text.assemble(("warning:", "bold yellow"), f" {warning}"),
            highlight=False,
            soft_wrap=True,
        )


def _read_secret(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read password file ({exc.strerror})") from None


@audit_app.command("collect")
def collect(
    gerrit: Annotated[str | None, typer.Option(help="Gerrit base URL")] = None,
    project: Annotated[str | None, typer.Option(help="Project (default: registry's)")] = None,
    since: DateOption = None,
    from_dump: Annotated[
        Path | None,
        typer.Option(
            "--from-dump",
            help="gerrit query JSON (one object per line, or pretty-printed), a ChangeInfo "
            "or a JSON list of ChangeInfo",
        ),
    ] = None,
    username: Annotated[str | None, typer.Option(help="Gerrit username (optional)")] = None,
    http_password_file: Annotated[Path | None, typer.Option()] = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="After the backfill, follow the event stream")
    ] = False,
    ssh: Annotated[
        str | None, typer.Option("--ssh", help="Gerrit SSH host:port for --follow")
    ] = None,
    ssh_key: Annotated[
        Path | None, typer.Option("--ssh-key", help="SSH private key for --follow")
    ] = None,
    db: DbOption = None,
    registry_path: RegistryOption = None,
    policy_path: PolicyOption = None,
) -> None:
    """Backfill changes, patch sets, files and review messages into the store."""
    from driverci.audit.intake.collect import RestCollector
    from driverci.audit.intake.ingest import Ingestor
    from driverci.gerrit.rest import GerritRestClient
    from driverci.policy.loader import load_policy
    from driverci.registry.loader import load_registry
    from driverci.store.db import open_store

    registry = load_registry(registry_path)
    # The policy's recheck forms decide which CI a person's recheck asks.
    recheck_patterns = load_policy(policy_path).recheck.patterns
    store = open_store(db)
    ingestor = Ingestor(store, registry, recheck_patterns)
    if from_dump is not None:
        if follow:
            raise ConfigError("--follow needs --gerrit, not --from-dump")
        _collect_dump(ingestor, from_dump)
        return
    if gerrit is None:
        raise ConfigError("give --gerrit URL (e.g. https://review.opendev.org) or --from-dump")
    ssh_address = _ssh_address(ssh) if follow else None
    password = _read_secret(http_password_file)
    projects = (
        [project] if project else [p for p in (registry.project, registry.sandbox_project) if p]
    )

    async def run() -> None:
        async with GerritRestClient(gerrit, username=username, http_password=password) as client:
            collectors = {name: RestCollector(ingestor, client, name) for name in projects}
            for name, collector in collectors.items():
                with StageProgress(console) as bars:
                    summary = await collector.run(
                        parse_day(since, "since"), progress=bars.reporter(f"collecting {name}")
                    )
                console.print(f"[green]{name}[/green]: {summary}")
            if ssh_address is not None:
                await _follow(collectors, client, ssh_address, username, ssh_key)

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        console.print("stopped following")


def _collect_dump(ingestor: Any, path: Path) -> None:
    """Store a dump; warn once per kind of gap, then name each broken record on its own line
    (what was valid is stored all the same) and exit 2 if there was any."""
    from driverci.audit.intake.collect import DumpRejected, collect_dump

    rejected: DumpRejected | None = None
    with StageProgress(console) as bars:
        try:
            summary = collect_dump(ingestor, path, progress=bars.reporter(f"reading {path.name}"))
        except DumpRejected as exc:
            rejected, summary = exc, exc.summary
    skipped = ""
    if rejected is not None:
        skipped = f"; {rejected.count} broken record{'s' if rejected.count > 1 else ''} skipped"
    console.print(f"[green]collected[/green] {escape(str(summary))}{skipped}")
    for warning in summary.gaps.warnings():
        err_console.print(Text.assemble(("warning:", "yellow"), f" {warning}"), soft_wrap=True)
    if rejected is None:
        return
    for line in rejected.broken:
        err_console.print(Text.assemble(("error:", "bold red"), f" {line}"), soft_wrap=True)
    if rejected.count > len(rejected.broken):
        more = rejected.count - len(rejected.broken)
        err_console.print(
            Text.assemble(("error:", "bold red"), f" {path}: {more} more broken records"),
            soft_wrap=True,
        )
    raise typer.Exit(2)


def _ssh_address(value: str | None) -> tuple[str, int]:
    if value is None:
        raise ConfigError("--follow needs --ssh HOST:PORT (e.g. review.opendev.org:29418)")
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--ssh {value!r}: expected HOST:PORT, e.g. review.opendev.org:29418")
    return host, int(port)


async def _follow(
    collectors: dict[str, Any],
    client: Any,
    address: tuple[str, int],
    username: str | None,
    ssh_key: Path | None,
) -> None:
    from driverci.audit.intake.follow import StoreFollower
    from driverci.audit.intake.ingest import IngestCounts
    from driverci.gerrit.models_events import ChangeEvent
    from driverci.gerrit.stream import GerritEventStream

    host, port = address
    stream = GerritEventStream(
        host, port, username, ssh_key, rest_client=client, subscribe=sorted(StoreFollower.RELEVANT)
    )
    console.print(f"following {stream.where} (Ctrl-C to stop)")

    def show(event: ChangeEvent, counts: IngestCounts) -> None:
        console.print(
            f"[cyan]{event.type:<17}[/cyan] {event.project_name} change "
            f"{event.change.number}: {counts.patch_sets} patch sets, "
            f"{counts.messages_new} new messages ({counts.ci_results} CI results)"
        )

    await StoreFollower(collectors, stream).run(on_event=show)


@audit_app.command("probe")
def probe(
    since: DateOption = None,
    until: DateOption = None,
    allow_private: Annotated[
        bool, typer.Option(help="Allow loopback/private targets (a local emulator)")
    ] = False,
    db: DbOption = None,
    registry_path: RegistryOption = None,
    policy_path: PolicyOption = None,
) -> None:
    """Fetch result links (safely, with limits) and record availability and format."""
    from driverci.audit.probe.artifacts import ArtifactSurvey
    from driverci.audit.probe.fetch import ProbeLimits
    from driverci.store.db import open_store

    registry, policy = load_config(registry_path, policy_path)
    window = _window(policy.window_days, since, until)
    conf = policy.artifacts.probe
    limits = ProbeLimits(
        conf.timeout_s, conf.max_bytes, conf.max_redirects, allow_private or conf.allow_private
    )
    survey = ArtifactSurvey(open_store(db), limits)
    upstream = [ci.account for ci in registry.ci_systems if ci.kind == "upstream"]
    links = survey.links_to_probe(registry.project, window.start, window.end, upstream)
    with StageProgress(console) as bars:
        counts = asyncio.run(survey.run(links, progress=bars.reporter("probing result links")))
    console.print(
        f"[green]probed[/green] {counts['probed']} links: {counts['available']} "
        f"available, {counts['standard']} standard, {counts['refused']} refused"
    )


def _window(window_days: int, since: str | None, until: str | None) -> Window:
    from datetime import timedelta

    end = parse_day(until, "until") or datetime.now(UTC)
    start = parse_day(since, "since") or end - timedelta(days=window_days)
    if start >= end:
        raise ConfigError(f"--since {start:%Y-%m-%d} is not before --until {end:%Y-%m-%d}")
    return Window(start, end)


#: --fail-on's choices and the verdicts each fails on.
FAIL_ON = {
    "unreliable": {"unreliable"},
    "at_risk": {"unreliable", "at_risk"},
    "unproven": {"unreliable", "at_risk", "unproven"},
}


@audit_app.command("report")
def report(
    fmt: Annotated[str, typer.Option("--format", help="table, json, markdown or html")] = "table",
    since: DateOption = None,
    until: DateOption = None,
    fail_on: Annotated[
        str | None,
        typer.Option(
            "--fail-on",
            help="unreliable, at_risk (or worse) or unproven (any CI not reliable): exit 1 "
            "when a CI has that verdict",
        ),
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
    db: DbOption = None,
    registry_path: RegistryOption = None,
    policy_path: PolicyOption = None,
) -> None:
    """Evaluate every CI over the window and print the report."""
    from driverci.audit.engine import Judge
    from driverci.audit.evaluate.freshness import window_coverage
    from driverci.audit.evaluate.parallel import every_core
    from driverci.audit.govern.report import render_html, render_json, render_markdown, render_table
    from driverci.store.db import open_store

    if fmt not in ("table", "json", "markdown", "html"):
        raise ConfigError(f"--format {fmt!r}: choose table, json, markdown or html")
    if fail_on not in (None, *FAIL_ON):
        raise ConfigError(f"--fail-on {fail_on!r}: choose unreliable, at_risk or unproven")
    registry, policy = load_config(registry_path, policy_path)
    window = _window(policy.window_days, since, until)
    store = open_store(db)
    coverage = window_coverage(store, registry.project, window)
    if coverage.empty:
        err_console.print(
            f"[yellow]warning:[/yellow] {escape(coverage.describe())}", soft_wrap=True
        )
    judge = Judge(store, registry, policy, now=window.end, processes=every_core())
    result = judge.report(window)
    if fmt == "table":
        render_table(result, console)
    else:
        text = {"json": render_json, "markdown": render_markdown, "html": render_html}[fmt](result)
        if output:
            output.write_text(text, encoding="utf-8")
            console.print(f"wrote {output}")
        else:
            print(text)
    if fail_on and any(s.verdict.verdict in FAIL_ON[fail_on] for s in result.systems):
        raise typer.Exit(1)


@audit_app.command("propose")
def propose(
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory to write into")] = Path(
        "proposals"
    ),
    since: DateOption = None,
    until: DateOption = None,
    db: DbOption = None,
    registry_path: RegistryOption = None,
    policy_path: PolicyOption = None,
) -> None:
    """Write the release notes and notices due: deprecation, removal, reinstatement."""
    from driverci.audit.engine import Judge
    from driverci.audit.evaluate.freshness import require_coverage
    from driverci.audit.evaluate.parallel import every_core
    from driverci.audit.govern.documents import propose_for_driver
    from driverci.store.db import open_store

    registry, policy = load_config(registry_path, policy_path)
    window = _window(policy.window_days, since, until)
    store = open_store(db)
    # Proposals from a window with nothing in it would deprecate every driver.
    require_coverage(store, registry.project, window, "propose")
    judge = Judge(store, registry, policy, now=window.end, processes=every_core())
    result = judge.report(window)
    reasons = {s.evaluation.name: s.verdict.reasons for s in result.systems}
    written = 0
    for item in result.drivers:
        driver = registry.driver(item.name)
        if driver is None:
            continue
        why = [r for ci in item.ci for r in reasons.get(ci, [])]
        for doc in propose_for_driver(
            driver, item.verdict, item.ci, why, policy, window.end.date()
        ):
            path = output / doc.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(doc.text, encoding="utf-8")
            console.print(f"{doc.kind:>20}  {item.name:<18} {path}")
            written += 1
    # An unproven driver (its best CI unproven) lacks evidence, not testing: nothing is due.
    unproven = [d.name for d in result.drivers if d.verdict == "unproven"]
    if unproven:
        console.print(
            f"nothing proposed for {', '.join(unproven)}: not every criterion of their CI is "
            "assessed (see audit report; e.g. run driverci audit probe)",
            highlight=False,
        )
    if not written:
        console.print(
            "nothing to propose"
            if unproven
            else "nothing to propose: every supported driver has a reliable CI"
        )


@audit_app.command("drivers")
def drivers(
    fmt: Annotated[str, typer.Option("--format", help="rst or markdown")] = "rst",
    registry_path: RegistryOption = None,
) -> None:
    """The list of drivers, their CI, status and contacts, for Ironic's documentation."""
    from driverci.audit.govern.policy_docs import drivers_sections, render
    from driverci.registry.loader import load_registry

    if fmt not in ("rst", "markdown"):
        raise DriverCIError(f"--format {fmt!r}: choose rst or markdown")
    print(render(drivers_sections(load_registry(registry_path)), fmt))
