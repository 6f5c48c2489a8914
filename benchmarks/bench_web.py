"""Dashboard benchmark: server time per page with 10 CIs and 10,000 patch sets.

Seeds the emulator with the judge's scenario widened to ten CIs and about 10,000 patch sets,
collects it over REST into a SQLite store, then times every page and API endpoint in-process
(no network in the figures): the first request (it computes the judge's report and fills
the cache) and the median of the following ones. Prints figures; asserts nothing.

Run: ``.venv/bin/python -m benchmarks.bench_web``
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
import warnings
from datetime import timedelta
from pathlib import Path

with warnings.catch_warnings():
    # Starlette's notice about its own test client's HTTP library: not ours to act on.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from driverci.audit.intake.collect import RestCollector
from driverci.audit.intake.ingest import Ingestor
from driverci.emulator.seed.scenario import Scenario, bundled_scenario_path, load_scenario
from driverci.emulator.seed.scenario_registry import scenario_registry
from driverci.emulator.seed.seeder import seed_scenario
from driverci.emulator.server import EmulatorServer
from driverci.emulator.state.journal import EmulatorState
from driverci.gerrit.rest import GerritRestClient
from driverci.policy.loader import load_policy
from driverci.registry.loader import load_registry
from driverci.store.db import Store, open_store
from driverci.web.app import create_app
from driverci.web.data import WebConfig

CIS = 10
DAYS = 40
TARGET_PATCH_SETS = 10_000
WARM_RUNS = 5
BUDGET_MS = 300.0


def scenario() -> Scenario:
    base = load_scenario(bundled_scenario_path("judge-8cis"))
    extra = [
        base.cis[0].model_copy(
            update={"account": f"extra-{n}-ci", "name": f"Extra {n} CI", "behaviour": "perfect"}
        )
        for n in range(CIS - len(base.cis))
    ]
    # Some changes end up with fewer patch sets than the mean: aim a little higher.
    per_day = TARGET_PATCH_SETS * 1.04 / DAYS / base.patchsets_per_change
    return base.model_copy(
        update={"days": DAYS, "changes_per_day": per_day, "cis": base.cis + extra}
    )


async def build(tmp: Path, plan: Scenario) -> tuple[Store, str]:
    state = EmulatorState(tmp / "emulator")
    store = open_store(f"sqlite:///{tmp / 'bench.sqlite'}")
    async with EmulatorServer(state) as server, GerritRestClient(server.http_url) as client:
        began = time.perf_counter()
        summary = seed_scenario(state, tmp / "emulator" / "git", plan)
        print(f"seeded {summary} ({time.perf_counter() - began:.1f} s)")
        ingestor = Ingestor(store, scenario_registry(plan, load_registry(None)))
        began = time.perf_counter()
        for project in (plan.project, plan.sandbox_project):
            print(f"  {project}: {await RestCollector(ingestor, client, project).run()}")
        print(f"collected over REST in {time.perf_counter() - began:.1f} s")
        url = server.http_url
    state.close()
    return store, url


def timed(client: TestClient, path: str) -> float:
    began = time.perf_counter()
    response = client.get(path)
    elapsed = (time.perf_counter() - began) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{path}: HTTP {response.status_code}: {response.text[:200]}")
    return elapsed


def main() -> None:
    plan = scenario()
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp_dir:
        tmp = Path(tmp_dir)
        store, gerrit_url = asyncio.run(build(tmp, plan))
        config = WebConfig(
            store=store,
            registry=scenario_registry(plan, load_registry(None)),
            policy=load_policy(None),
            gerrit_url=gerrit_url,
            window_days=30,
            until=plan.end,
        )
        client = TestClient(create_app(config, warm_up=False))
        grid = client.get("/api/v1/grid", params={"limit": 1}).json()
        change = grid["rows"][0]["change"]
        paths = [
            "/",
            "/grid",
            "/ci/bolt-idrac-ci",
            f"/change/{change}",
            "/drivers",
            "/api/v1/overview",
            "/api/v1/grid",
            "/api/v1/ci/bolt-idrac-ci",
            f"/api/v1/change/{change}",
            "/api/v1/drivers",
        ]
        client.close()
        # A fresh app without the start-up warm-up, so the first request pays for the report.
        client = TestClient(create_app(config, warm_up=False))
        first = timed(client, paths[0])
        print(f"\nfirst request (judge's report over {30} days, cache filled): {first:.0f} ms")
        print(f"{'page':<32} {'median ms':>10} {'max ms':>8}  (warm, {WARM_RUNS} runs)")
        worst = 0.0
        for path in paths:
            runs = [timed(client, path) for _ in range(WARM_RUNS)]
            worst = max(worst, statistics.median(runs))
            print(f"{path:<32} {statistics.median(runs):>10.1f} {max(runs):>8.1f}")
        verdict = "within" if worst < BUDGET_MS else "OVER"
        print(f"\nslowest page median {worst:.0f} ms: {verdict} the {BUDGET_MS:.0f} ms budget")
        window = timedelta(days=30)
        print(f"window {plan.end - window:%Y-%m-%d}..{plan.end:%Y-%m-%d}, {CIS} scenario CIs")
        client.close()
        store.close()


if __name__ == "__main__":
    main()
