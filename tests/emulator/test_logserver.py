"""The emulator's log server answers seeded CI result links as the CI's log server would."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from driverci.emulator.logs.server import add_log_routes
from driverci.emulator.seed.scenario import parse_scenario
from driverci.emulator.seed.seeder import seed_scenario
from driverci.emulator.state.journal import EmulatorState

END = datetime(2026, 1, 15, tzinfo=UTC)
SCENARIO = """\
start: 2026-01-05T00:00:00Z
days: 10
seed: 3
changes_per_day: 3
patchsets_per_change: 1.5
docs_only_share: 0.0
cis:
  - {account: live-ci, name: Live CI, started: 2025-12-01, format: zuul}
  - account: rotten-ci
    name: Rotten CI
    started: 2025-12-01
    artifacts: {dead_after_days: 3}
  - account: console-ci
    name: Console CI
    started: 2025-12-01
    format: infra
    artifacts: {standard: false}
  - account: tarball-ci
    name: Tarball CI
    started: 2025-12-01
    artifacts: {standard: false, archive_only: true}
  - account: gone-ci
    name: Gone CI
    started: 2025-12-01
    artifacts: {available: 0.0}
"""
UTC_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} \| ", re.MULTILINE)


class Served:
    def __init__(self, base: str, records: list[dict[str, Any]], session: aiohttp.ClientSession):
        self.base = base
        self.records = records
        self.session = session

    def of(self, ci: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["ci"] == ci]

    async def get(self, path: str) -> tuple[int, str, dict[str, str]]:
        async with self.session.get(self.base + path, allow_redirects=False) as response:
            return response.status, await response.text(errors="replace"), dict(response.headers)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    state = EmulatorState(tmp_path, clock=lambda: END)
    seed_scenario(state, tmp_path / "git", parse_scenario(SCENARIO, "logserver-test.yaml"))
    app = web.Application()
    add_log_routes(app, state)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    records = [json.loads(x) for x in (tmp_path / "artifacts.jsonl").read_text().splitlines()]
    async with aiohttp.ClientSession() as session:
        yield Served(f"http://127.0.0.1:{port}", records, session)
    await runner.cleanup()
    state.close()


async def test_a_live_standard_artifact_is_browsable_with_trace_manifest_and_results(
    served: Served,
) -> None:
    record = served.of("live-ci")[0]
    directory = f"/logs/{record['path']}/"
    status, listing, headers = await served.get(directory)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    for name in ("job-output.txt", "driverci-manifest.json", "testr_results.html",
                 "testrepository.subunit", "zuul-manifest.json", "logs/"):  # fmt: skip
        assert f'href="{name}"' in listing
    status, console, _ = await served.get(directory + "job-output.txt")
    assert status == 200
    assert len(UTC_LINE.findall(console)) == len(console.splitlines())
    assert f"HEAD is now at {record['patch_set_revision'][:7]}" in console
    status, text, _ = await served.get(directory + "driverci-manifest.json")
    manifest = json.loads(text)
    assert manifest["revision"] == record["patch_set_revision"]
    assert (manifest["change"], manifest["patch_set"]) == (record["change"], record["patch_set"])
    assert manifest["project"] == "openstack/ironic" and manifest["driver"] == "ipmi"
    status, results, _ = await served.get(directory + "testr_results.html")
    assert status == 200 and "ironic_tempest_plugin" in results
    status, service, _ = await served.get(directory + "logs/ironic-conductor.txt")
    assert status == 200 and "ironic-conductor" in service
    assert (await served.get(f"/logs/{record['path']}"))[0] == 301


async def test_parent_directories_list_their_runs(served: Served) -> None:
    record = served.of("live-ci")[0]
    nn, change, patch_set = record["path"].split("/")[:3]
    status, listing, _ = await served.get(f"/logs/{nn}/{change}/{patch_set}/check/")
    assert status == 200 and f'href="{record["job"]}/"' in listing


async def test_artifacts_past_their_retention_answer_404(served: Served) -> None:
    records = served.of("rotten-ci")
    posted = [datetime.fromisoformat(r["posted_at"].replace("Z", "+00:00")) for r in records]
    dead = [r for r, at in zip(records, posted, strict=True) if at + timedelta(days=3) < END]
    alive = [r for r, at in zip(records, posted, strict=True) if at + timedelta(days=3) > END]
    assert dead and alive
    assert (await served.get(f"/logs/{dead[0]['path']}/"))[0] == 404
    assert (await served.get(f"/logs/{dead[0]['path']}/job-output.txt"))[0] == 404
    assert (await served.get(f"/logs/{alive[0]['path']}/job-output.txt"))[0] == 200


async def test_unavailable_artifacts_answer_404(served: Served) -> None:
    record = served.of("gone-ci")[0]
    assert (await served.get(f"/logs/{record['path']}/"))[0] == 404


async def test_a_non_standard_ci_serves_only_a_bare_console_log(served: Served) -> None:
    record = served.of("console-ci")[0]
    directory = f"/logs/{record['path']}/"
    status, listing, _ = await served.get(directory)
    assert status == 200 and 'href="console.txt"' in listing
    assert "testr_results" not in listing
    assert (await served.get(directory + "testr_results.html"))[0] == 404
    status, console, _ = await served.get(directory + "console.txt")
    assert status == 200 and not UTC_LINE.search(console)


async def test_an_archive_only_ci_offers_just_a_download(served: Served) -> None:
    record = served.of("tarball-ci")[0]
    directory = f"/logs/{record['path']}/"
    status, listing, _ = await served.get(directory)
    assert status == 200 and re.findall(r'href="([^"]+)"', listing) == ["../", "logs.tar.gz"]
    status, _, headers = await served.get(directory + "logs.tar.gz")
    assert status == 200 and headers["Content-Type"] == "application/gzip"
    assert headers["Content-Disposition"].startswith("attachment")


async def test_unknown_paths_answer_404(served: Served) -> None:
    assert (await served.get("/logs/00/1/1/check/nope/abcdef0/"))[0] == 404
    assert (await served.get("/logs/../journal.jsonl"))[0] == 404
