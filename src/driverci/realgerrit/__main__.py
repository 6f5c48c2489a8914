"""`python -m driverci.realgerrit serve [--state DIR]`: a provisioned real Gerrit, foreground."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from driverci.errors import DriverCIError
from driverci.realgerrit.fetch import GerritDistribution
from driverci.realgerrit.provision import Account, Provisioned, provision
from driverci.realgerrit.site import GerritSite


class ServeDefaults:
    """Tunables of the serve command."""

    STATE_DIR = Path("realgerrit-state")


def describe(site: GerritSite, p: Provisioned) -> str:
    """The URLs and credentials of a provisioned Gerrit, one per line."""

    def account(role: str, a: Account) -> str:
        return f"  {role:<10} {a.username} / HTTP password {a.http_password} / SSH key {a.ssh_key}"

    return "\n".join(
        [
            f"Gerrit {p.version} (real, Java) pid {site.pid}, RSS {site.rss_mib():.0f} MiB",
            f"  web/REST   {p.http_url}/",
            f"  SSH        ssh -p {p.ssh_port} -i {p.ci.ssh_key} {p.ci.username}@{p.ssh_host}"
            " gerrit stream-events",
            account("admin", p.admin),
            account("ci", p.ci),
            account("developer", p.developer),
            account("nostream", p.nostream),
            f"  projects   {p.ironic_project} (Verified -1..+1 for Service Users),"
            f" {p.sandbox_project}",
            f"  git        {p.git_url(p.developer, p.ironic_project)}",
            f"  hook       {p.commit_msg_hook}",
            f"  timings    template {site.template_seconds:.1f}s, start {site.start_seconds:.1f}s,"
            f" provision {p.seconds:.1f}s",
            f"  log        {site.log_path}",
            "Ctrl-C stops it.",
        ]
    )


def serve(state: Path) -> int:
    """Build the template if needed, start, provision, and wait for Ctrl-C or SIGTERM."""
    site = GerritSite(GerritDistribution())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        site.start(state.resolve())
        print(describe(site, provision(site, state.resolve())), flush=True)
        while not stop.is_set():
            stop.wait(1.0)
            if site.pid is not None and not Path(f"/proc/{site.pid}").exists():
                print("Gerrit exited; last log lines:\n" + site.log_tail(), file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        pass
    except DriverCIError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        site.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run it."""
    parser = argparse.ArgumentParser(prog="python -m driverci.realgerrit")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run a provisioned real Gerrit on loopback")
    serve_parser.add_argument("--state", type=Path, default=ServeDefaults.STATE_DIR)
    args = parser.parse_args(argv)
    return serve(args.state)


if __name__ == "__main__":
    sys.exit(main())
