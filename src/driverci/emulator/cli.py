"""``driverci emulator``: serve, seed, inspect an emulated Gerrit and manage its accounts."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from driverci.emulator.state.journal import EmulatorError, EmulatorState
from driverci.errors import ConfigError, DriverCIError
from driverci.gctools import freeze_long_lived
from driverci.progress import StageProgress

emulator_app = typer.Typer(
    help="The Gerrit emulator: REST, SSH stream-events and git.", no_args_is_help=True
)
account_app = typer.Typer(help="Accounts of the emulated Gerrit.", no_args_is_help=True)
emulator_app.add_typer(account_app, name="account")
console = Console()

StateOption = Annotated[Path, typer.Option("--state", help="State directory (kept across runs).")]


class StateInUse(DriverCIError):
    """Another process holds the state directory."""


@contextlib.contextmanager
def locked_state(state_dir: Path) -> Iterator[EmulatorState]:
    """Open a state directory for exclusive use: one writer at a time, or the journal tangles."""
    state_dir.mkdir(parents=True, exist_ok=True)
    lock_path = state_dir / "lock"
    with open(lock_path, "a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise StateInUse(
                f"state directory {state_dir} is in use by pid {holder}; stop that emulator first"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        state = EmulatorState(state_dir)
        try:
            yield state
        finally:
            state.close()


def _read_key(path: Path) -> str:
    try:
        key = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read SSH public key ({exc.strerror})") from None
    if not key.startswith(("ssh-", "ecdsa-", "sk-")):
        raise ConfigError(f"{path}: not an OpenSSH public key (expected 'ssh-ed25519 AAAA...')")
    return key


@account_app.command("add")
def account_add(
    state_dir: StateOption,
    username: Annotated[str, typer.Argument(help="Gerrit username, e.g. acme-ironic-ci")],
    name: Annotated[str, typer.Option("--name", help="Full name, e.g. 'Acme Ironic CI'")],
    email: Annotated[str | None, typer.Option("--email")] = None,
    http_password: Annotated[str | None, typer.Option("--http-password")] = None,
    ssh_key: Annotated[Path | None, typer.Option("--ssh-key", help="Public key file")] = None,
    service_user: Annotated[bool, typer.Option(help="Tag as SERVICE_USER (a bot)")] = False,
    admin: Annotated[bool, typer.Option(help="Administrator (may vote any label)")] = False,
) -> None:
    """Add an account, or add a key / set a password on an existing one."""
    keys = [_read_key(ssh_key)] if ssh_key else []
    with locked_state(state_dir) as state:
        existing = state.account_by_username(username)
        if existing is None:
            account = state.add_account(
                username,
                name,
                email=email,
                http_password=http_password,
                ssh_keys=keys,
                tags=["SERVICE_USER"] if service_user else [],
                is_admin=admin,
            )
            console.print(
                f"added account [bold]{escape(username)}[/bold] (id {account.account_id})"
            )
        else:
            state.update_account(
                username, http_password=http_password, add_ssh_keys=keys, email=email
            )
            console.print(
                f"updated account [bold]{escape(username)}[/bold] (id {existing.account_id})"
            )


@emulator_app.command("seed")
def seed(
    state_dir: StateOption,
    scenario_path: Annotated[Path, typer.Option("--scenario", help="Scenario YAML file")],
    web_url: Annotated[
        str, typer.Option(help="URL the emulator will be served at (CI log links point there)")
    ] = "http://127.0.0.1:8080",
    registry_out: Annotated[
        Path | None, typer.Option("--registry-out", help="Also write a registry of its CIs")
    ] = None,
) -> None:
    """Write a realistic past (changes, patch sets, CI comments, artifacts) into the state."""
    from driverci.emulator.seed.scenario import load_scenario
    from driverci.emulator.seed.scenario_registry import scenario_registry
    from driverci.emulator.seed.seeder import seed_scenario
    from driverci.registry.loader import load_registry, save_registry

    scenario = load_scenario(scenario_path)
    with locked_state(state_dir) as state, StageProgress(console) as progress:
        state.web_url = web_url.rstrip("/")
        summary = seed_scenario(state, state_dir / "git", scenario, progress=progress.report)
    console.print(f"[green]seeded[/green] {state_dir}: {summary}")
    if registry_out is not None:
        save_registry(scenario_registry(scenario, load_registry()), registry_out)
        console.print(f"registry of the scenario's CIs written to {registry_out}")


@emulator_app.command("show")
def show(state_dir: StateOption) -> None:
    """Print what the emulated Gerrit holds: projects, accounts, changes, who commented."""
    print_state_summary(EmulatorState(state_dir))


def print_state_summary(state: EmulatorState) -> None:
    projects = Table(title="Projects")
    for column in ("project", "branches", "changes", "patch sets", "merged", "open"):
        projects.add_column(column, justify="right" if column != "project" else "left")
    for project in state.projects.values():
        changes = [c for c in state.changes.values() if c.project == project.name]
        projects.add_row(
            escape(project.name),
            escape(", ".join(sorted(project.branches))),
            str(len(changes)),
            str(sum(len(c.patch_sets) for c in changes)),
            str(sum(c.status == "MERGED" for c in changes)),
            str(sum(c.status == "NEW" for c in changes)),
        )
    console.print(projects)
    comments: Counter[int] = Counter()
    for change in state.changes.values():
        for message in change.messages:
            if message.author_id is not None and not (message.tag or "").startswith(
                "autogenerated:gerrit"
            ):
                comments[message.author_id] += 1
    accounts = Table(title="Accounts that comment the most")
    for column in ("username", "name", "comments"):
        accounts.add_column(column)
    for account_id, count in comments.most_common(15):
        account = state.accounts[account_id]
        accounts.add_row(escape(account.username), escape(account.name or ""), str(count))
    console.print(accounts)


@emulator_app.command("serve")
def serve(
    state_dir: StateOption,
    http_port: Annotated[int, typer.Option("--http-port", min=0, max=65535)] = 8080,
    ssh_port: Annotated[int, typer.Option("--ssh-port", min=0, max=65535)] = 29418,
    host: Annotated[str, typer.Option("--host", help="Address to listen on")] = "127.0.0.1",
) -> None:
    """Serve REST and git over HTTP, and stream-events, query, review and git over SSH."""
    with locked_state(state_dir) as state:
        freeze_long_lived()  # the loaded state lives as long as the server
        asyncio.run(_serve(state, host, http_port, ssh_port))


async def _serve(state: EmulatorState, host: str, http_port: int, ssh_port: int) -> None:
    from driverci.emulator.server import EmulatorServer

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = EmulatorServer(state, host=host, http_port=http_port, ssh_port=ssh_port)
    try:
        await server.start()
    except OSError as exc:
        raise DriverCIError(
            f"cannot listen on {host} (HTTP {http_port}, SSH {ssh_port}): {exc.strerror}"
        ) from None
    console.print(
        f"Gerrit emulator serving [bold]{server.http_url}[/bold] "
        f"(SSH port {server.ssh_port}); state in {state.state_dir}; Ctrl-C stops"
    )
    try:
        await stop.wait()
    finally:
        await server.stop()


__all__ = ["EmulatorError", "emulator_app", "locked_state", "print_state_summary"]
