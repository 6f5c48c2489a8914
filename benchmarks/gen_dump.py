"""A synthetic year of a Cinder-sized project as a ``gerrit query --format=JSON --patch-sets
--files --comments`` dump, plus the registry that names its CIs.

Written straight to a file (no emulator): a million CI comments in seconds. Deterministic from
``seed``. ``python -m benchmarks.gen_dump OUT.json`` writes one and prints its size.
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from driverci.registry.schema import CISystem, Contact, Registry

PROJECT = "openstack/ironic"
UPSTREAM = "zuul"
_SOURCE_FILES = (
    "ironic/conductor/manager.py",
    "ironic/conductor/utils.py",
    "ironic/api/controllers/v1/node.py",
    "ironic/drivers/modules/redfish/power.py",
    "ironic/drivers/modules/ipmitool.py",
    "ironic/drivers/modules/idrac/bios.py",
    "ironic/drivers/modules/ilo/common.py",
    "ironic/common/states.py",
    "ironic/db/sqlalchemy/api.py",
    "ironic/tests/unit/conductor/test_manager.py",
)
_DOC_FILES = ("doc/source/admin/drivers.rst", "releasenotes/notes/fix-abc-0123456789abcdef.yaml")
_JOBS = ("tempest-dsvm-full", "tempest-dsvm-volume", "functional-driver")
_UPSTREAM_JOBS = ("openstack-tox-pep8", "openstack-tox-py312", "ironic-tempest-redfish")


@dataclass(frozen=True)
class DumpShape:
    """How big the year is; the defaults give about a million CI comments."""

    start: datetime = datetime(2025, 1, 1, tzinfo=UTC)
    days: int = 365
    changes: int = 9_200
    patch_sets_per_change: float = 2.5
    third_party_cis: int = 39  # plus upstream Zuul: 40 CI comments per patch set
    stable_share: float = 0.1
    docs_only_share: float = 0.1
    recheck_share: float = 0.05
    report_rate: float = 0.98
    seed: int = 1


@dataclass
class DumpSummary:
    changes: int = 0
    patch_sets: int = 0
    comments: int = 0
    ci_comments: int = 0
    bytes: int = 0


def ci_accounts(shape: DumpShape) -> list[str]:
    return [f"vendor{i:02d}-ci" for i in range(shape.third_party_cis)]


def dump_registry(shape: DumpShape, base: Registry) -> Registry:
    """``base`` with this dump's third-party CIs registered (each with one of its drivers)."""
    drivers = [d.name for d in base.drivers] or ["fake"]
    upstream = [ci for ci in base.ci_systems if ci.kind == "upstream"]
    systems = list(upstream)
    for index, account in enumerate(ci_accounts(shape)):
        systems.append(
            CISystem(
                account=account,
                name=f"Vendor {index:02d} CI",
                wiki=f"https://wiki.example.org/Vendor{index:02d}_CI",
                contacts=[Contact(name=f"Vendor {index:02d}", email=f"{account}@example.org")],
                drivers=[drivers[index % len(drivers)]],
                started=date(2024, 6, 1),
            )
        )
    return base.model_copy(
        update={
            "project": PROJECT,
            "branch_created": {"stable/2024.2": date(2024, 10, 1)},
            "ci_systems": systems,
        }
    )


def _account(username: str, name: str) -> dict[str, str]:
    return {"name": name, "username": username, "email": f"{username}@example.org"}


def _ci_message(rng: random.Random, ps: int, account: str, failed: bool) -> str:
    vote = "Verified-1" if failed else "Verified+1"
    header = "Build failed (check pipeline)." if failed else "Build succeeded (check pipeline)."
    failing = rng.randrange(len(_JOBS)) if failed else -1
    lines = []
    for index, job in enumerate(_JOBS):
        result = "FAILURE" if index == failing else "SUCCESS"
        url = f"https://ci.{account}.example.org/logs/{rng.getrandbits(48):012x}/{job}/"
        lines.append(f"- {job} {url} : {result} in 1h {rng.randrange(60):02d}m 03s")
    return (
        f"Patch Set {ps}: {vote}\n\n{header}\n\n"
        + "\n".join(lines)
        + f"\n\nFor 3rd party CI contact info: https://wiki.example.org/{account}\n"
    )


def _upstream_message(rng: random.Random, ps: int, failed: bool) -> str:
    vote = "Verified-1" if failed else "Verified+1"
    header = "Build failed (check pipeline)." if failed else "Build succeeded (check pipeline)."
    lines = [
        f"- {job} https://zuul.opendev.org/t/openstack/build/{rng.getrandbits(64):016x} : "
        f"{'FAILURE' if failed and job.endswith('pep8') else 'SUCCESS'} in 12m 03s"
        for job in _UPSTREAM_JOBS
    ]
    return f"Patch Set {ps}: {vote}\n\n{header}\n\n" + "\n".join(lines) + "\n"


def _change(rng: random.Random, shape: DumpShape, number: int, cis: list[str]) -> dict[str, object]:
    span = shape.days * 86400
    created = int(shape.start.timestamp()) + rng.randrange(span - 5 * 86400)
    branch = "stable/2024.2" if rng.random() < shape.stable_share else "master"
    docs_only = rng.random() < shape.docs_only_share
    owner = f"dev{rng.randrange(60)}"
    n_patch_sets = max(1, round(rng.expovariate(1 / shape.patch_sets_per_change)))
    patch_sets: list[dict[str, object]] = []
    comments: list[dict[str, object]] = []
    at = created
    merged = rng.random() < 0.6
    for ps in range(1, n_patch_sets + 1):
        pool = _DOC_FILES if docs_only else _SOURCE_FILES
        files = [{"file": "/COMMIT_MSG", "type": "ADDED", "insertions": 10, "deletions": 0}]
        files += [
            {"file": path, "type": "MODIFIED", "insertions": rng.randrange(1, 80), "deletions": -3}
            for path in rng.sample(pool, rng.randint(1, len(pool) if docs_only else 4))
        ]
        patch_sets.append(
            {
                "number": ps,
                "revision": f"{rng.getrandbits(160):040x}",
                "ref": f"refs/changes/{number % 100:02d}/{number}/{ps}",
                "uploader": _account(owner, owner.title()),
                "createdOn": at,
                "kind": "REWORK",
                "files": files,
            }
        )
        asks = [at]
        if rng.random() < shape.recheck_share:
            asks.append(at + rng.randrange(6 * 3600, 20 * 3600))
            comments.append(
                {
                    "timestamp": asks[-1],
                    "reviewer": _account(owner, owner.title()),
                    "message": f"Patch Set {ps}:\n\nrecheck",
                }
            )
        for ask in asks:
            failed = rng.random() < 0.1
            comments.append(
                {
                    "timestamp": ask + rng.randrange(600, 3 * 3600),
                    "reviewer": _account(UPSTREAM, "Zuul"),
                    "message": _upstream_message(rng, ps, failed),
                }
            )
            for account in cis:
                if rng.random() > shape.report_rate:
                    continue
                comments.append(
                    {
                        "timestamp": ask + rng.randrange(1800, 6 * 3600),
                        "reviewer": _account(account, f"Vendor {account[6:8]} CI"),
                        "message": _ci_message(rng, ps, account, failed or rng.random() < 0.03),
                    }
                )
        comments.append(
            {
                "timestamp": at + rng.randrange(3600, 86400),
                "reviewer": _account("core1", "Core Reviewer"),
                "message": f"Patch Set {ps}: Code-Review+1\n\nLooks fine.",
            }
        )
        at += rng.randrange(3600, 3 * 86400)
    comments.sort(key=lambda c: c["timestamp"])  # type: ignore[arg-type, return-value]
    last = max(int(str(c["timestamp"])) for c in comments)
    status = "MERGED" if merged else ("ABANDONED" if rng.random() < 0.2 else "NEW")
    return {
        "project": PROJECT,
        "branch": branch,
        "id": f"I{rng.getrandbits(160):040x}",
        "number": number,
        "subject": f"Change number {number}",
        "owner": _account(owner, owner.title()),
        "url": f"https://review.example.org/{number}",
        "createdOn": created,
        "lastUpdated": last,
        "open": status == "NEW",
        "status": status,
        "comments": comments,
        "patchSets": patch_sets,
    }


def write_dump(path: Path, shape: DumpShape | None = None) -> DumpSummary:
    """Write the dump (one change per line, then Gerrit's stats line)."""
    shape = shape or DumpShape()
    rng = random.Random(shape.seed)
    cis = ci_accounts(shape)
    summary = DumpSummary()
    ci_names = {UPSTREAM, *cis}
    with path.open("w", encoding="utf-8") as out:
        for number in range(100_000, 100_000 + shape.changes):
            change = _change(rng, shape, number, cis)
            line = json.dumps(change, separators=(",", ":"))
            out.write(line + "\n")
            summary.changes += 1
            summary.patch_sets += len(change["patchSets"])  # type: ignore[arg-type]
            for comment in change["comments"]:  # type: ignore[attr-defined]
                summary.comments += 1
                summary.ci_comments += comment["reviewer"]["username"] in ci_names
            summary.bytes += len(line) + 1
        out.write(json.dumps({"type": "stats", "rowCount": shape.changes}) + "\n")
    return summary


def last_moment(shape: DumpShape) -> datetime:
    return shape.start + timedelta(days=shape.days)


def main() -> None:
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "bench-dump.json")
    summary = write_dump(target)
    print(
        f"{target}: {summary.changes} changes, {summary.patch_sets} patch sets, "
        f"{summary.comments} comments ({summary.ci_comments} by CIs), {summary.bytes >> 20} MiB"
    )


if __name__ == "__main__":
    main()
