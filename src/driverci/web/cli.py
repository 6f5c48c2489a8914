"""``driverci web``: serve the dashboard and its JSON API."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from driverci.errors import ConfigError

console = Console()
log = logging.getLogger(__name__)

ADMIN_TOKEN_ENV = "DRIVERCI_ADMIN_TOKEN"


def read_admin_token(token_file: Path | None) -> str | None:
    """The admin token: from ``token_file`` if given, else ``$DRIVERCI_ADMIN_TOKEN``."""
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{token_file}: cannot read admin token ({exc.strerror})") from None
        if not token:
            raise ConfigError(f"{token_file}: the admin token file is empty")
        return token
    return os.environ.get(ADMIN_TOKEN_ENV, "").strip() or None


def web_command(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free port)", min=0, max=65535)] = 8080,
    db: Annotated[
        str | None,
        typer.Option(
            "--db", help="Store URL (default $DRIVERCI_DB or sqlite:///./driverci.sqlite)"
        ),
    ] = None,
    registry_path: Annotated[
        Path | None,
        typer.Option("--registry", help="registry.yaml (admin actions are written back to it)"),
    ] = None,
    policy_path: Annotated[Path | None, typer.Option("--policy", help="policy.yaml")] = None,
    window_days: Annotated[
        int | None, typer.Option("--window-days", help="Default window (policy's if unset)", min=1)
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Fixed window end YYYY-MM-DD (default: now)")
    ] = None,
    gerrit_url: Annotated[
        str, typer.Option("--gerrit-url", help="Gerrit web URL for change links")
    ] = "https://review.opendev.org",
    admin_token_file: Annotated[
        Path | None,
        typer.Option(
            "--admin-token-file", help=f"File holding the admin token (else ${ADMIN_TOKEN_ENV})"
        ),
    ] = None,
) -> None:
    """Serve the dashboard: overview, grid, CI, change and driver pages, and /api/v1/."""
    import uvicorn

    from driverci.audit.cli import load_config
    from driverci.store.db import open_store
    from driverci.web.app import OPENAPI_URL, create_app
    from driverci.web.data import WebConfig, parse_until

    if window_days is not None and window_days < 1:
        raise ConfigError(f"--window-days {window_days}: must be at least 1")
    registry, policy = load_config(registry_path, policy_path)
    config = WebConfig(
        store=open_store(db),
        registry=registry,
        policy=policy,
        registry_path=registry_path,
        gerrit_url=gerrit_url,
        admin_token=read_admin_token(admin_token_file),
        window_days=window_days,
        until=parse_until(until),
    )
    app = create_app(config)
    console.print(
        f"dashboard on http://{host}:{port}/ (API {OPENAPI_URL}); admin actions "
        + ("enabled" if config.admin_token else f"disabled (set ${ADMIN_TOKEN_ENV})")
        + ("" if registry_path else "; shipped registry is read-only")
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")
