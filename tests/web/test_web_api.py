"""The JSON API under /api/v1/, read the way a core reviewer's script or a vendor would:
on the judge's scenario (eight CIs, one defect each), collected from the emulator over REST."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

import httpx
from dashboard_world import Dashboard

# What the seeded CIs did in the test's 14-day window, and the words of the reason that says so.
EXPECTED = {
    "acme-redfish-ci": ("reliable", None),
    "bolt-idrac-ci": ("unreliable", "on time"),
    "cobalt-ilo-ci": ("unreliable", "coverage"),
    "delta-irmc-ci": ("unreliable", "artifacts"),
    "echo-ipmi-ci": ("unreliable", "false failures"),
    "foxtrot-intel-ci": ("unreliable", "rubber-stamped"),
    "golf-snmp-ci": ("unproven", "artifacts not assessed: no result link probed yet"),
}


def get(dashboard: Dashboard, path: str, **params: Any) -> Any:
    response = httpx.get(f"{dashboard.url}{path}", params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_overview_shows_every_seeded_ci_with_its_verdict_and_reason(dashboard: Dashboard) -> None:
    page = get(dashboard, "/api/v1/overview")
    rows = {row["account"]: row for row in page["rows"]}
    for account, (verdict, words) in EXPECTED.items():
        assert rows[account]["verdict"] == verdict, (account, rows[account]["reasons"])
        if words:
            assert any(words in reason for reason in rows[account]["reasons"]), account
    cobalt = rows["cobalt-ilo-ci"]
    assert 0.72 < cobalt["coverage"] < 0.88, "misses a fifth of patch sets"
    assert cobalt["driver"] == "ilo" and cobalt["milestones"]
    assert rows["bolt-idrac-ci"]["on_time_rate"] < 0.4
    assert rows["delta-irmc-ci"]["artifacts_available"] < 0.8
    assert "rubber stamp" in rows["foxtrot-intel-ci"]["accuracy_flags"]
    assert page["window"]["days"] == 14
    assert page["verdict_counts"]["reliable"] >= 2


def test_a_ci_whose_links_were_never_probed_is_unproven_with_the_command_to_run(
    dashboard: Dashboard,
) -> None:
    rows = {row["account"]: row for row in get(dashboard, "/api/v1/overview")["rows"]}
    golf = rows["golf-snmp-ci"]["criteria"]
    assert golf["artifacts"] == {
        "state": "not_assessed",
        "reason": "no result link probed yet",
        "assess_with": "driverci audit probe",
    }
    assert golf["coverage"]["state"] == golf["timeliness"]["state"] == "met"
    assert rows["golf-snmp-ci"]["artifacts_checked"] == 0
    # Acme's links were probed: every criterion is met on evidence, and it is reliable.
    acme = rows["acme-redfish-ci"]
    assert {c["state"] for c in acme["criteria"].values()} == {"met"}
    assert acme["verdict"] == "reliable"
    # Upstream Zuul is the reference: its links are never probed, yet it stays reliable.
    zuul = rows["zuul"]
    assert zuul["criteria"]["artifacts"]["state"] == "not_assessed"
    assert zuul["verdict"] == "reliable"
    page = get(dashboard, "/api/v1/ci/golf-snmp-ci")
    assert page["verdict"] == "unproven" and page["criteria"] == rows["golf-snmp-ci"]["criteria"]


def test_overview_filters_by_window(dashboard: Dashboard) -> None:
    week = get(dashboard, "/api/v1/overview", days=7, until="2026-01-12")
    assert week["window"]["start"].startswith("2026-01-05")
    assert week["window"]["end"].startswith("2026-01-12")
    rows = {row["account"]: row for row in week["rows"]}
    assert rows["acme-redfish-ci"]["expected"] < 400


def test_a_bad_window_is_refused_with_a_reason(dashboard: Dashboard) -> None:
    response = httpx.get(f"{dashboard.url}/api/v1/overview", params={"days": 0})
    assert response.status_code == 422
    response = httpx.get(f"{dashboard.url}/api/v1/overview", params={"until": "2026-02-30"})
    assert response.status_code == 400 and "2026-02-30" in response.json()["detail"]


def test_a_page_with_a_bad_address_says_what_is_wrong_in_a_page(dashboard: Dashboard) -> None:
    # People type these: the answer is a page naming the parameter, not a JSON error.
    for path, params, words in [
        ("/change/abc", {}, "number: Input should be a valid integer, unable to parse"),
        ("/", {"until": "yesterday"}, "until: String should match pattern"),
        ("/grid", {"days": 0}, "days: Input should be greater than or equal to 1 (got '0')"),
    ]:
        response = httpx.get(f"{dashboard.url}{path}", params=params)
        assert response.status_code == 400, path
        assert response.headers["content-type"].startswith("text/html")
        assert words in html.unescape(response.text), path


def test_an_unknown_project_is_not_found_and_the_known_ones_are_named(
    dashboard: Dashboard,
) -> None:
    project = dashboard.scenario.project
    page = httpx.get(f"{dashboard.url}/", params={"project": "<b>nope</b>"})
    assert page.status_code == 404 and "&lt;b&gt;nope&lt;/b&gt;" in page.text
    api = httpx.get(f"{dashboard.url}/api/v1/overview", params={"project": "nope"})
    assert api.status_code == 404
    assert api.json()["detail"] == f"no project 'nope' in the store (known: {project})"


def test_grid_shows_every_state_a_reviewer_needs_to_tell_apart(dashboard: Dashboard) -> None:
    grid = get(dashboard, "/api/v1/grid", limit=200)
    assert set(grid["legend"]) >= {"success", "failure", "missing", "late", "excluded", "pending"}
    accounts = [c["account"] for c in grid["columns"]]
    assert accounts[0] == "zuul", "the upstream CI comes first"
    assert set(EXPECTED) <= set(accounts)
    by_ci: dict[str, list[dict[str, Any]]] = {a: [] for a in accounts}
    for row in grid["rows"]:
        assert row["gerrit_url"].endswith(f"/{row['change']}/{row['patch_set']}")
        for cell in row["cells"]:
            by_ci[cell["account"]].append(cell)
    states = {cell["state"] for cells in by_ci.values() for cell in cells}
    assert states >= {"success", "failure", "missing", "late", "excluded", "pending"}
    assert any(c["state"] == "missing" for c in by_ci["cobalt-ilo-ci"])
    assert any(c["state"] == "late" for c in by_ci["bolt-idrac-ci"])
    reported = [c for c in by_ci["acme-redfish-ci"] if c["state"] in ("success", "failure")]
    assert reported and all(c["log_url"].startswith("http://127.0.0.1:") for c in reported)
    newest = grid["rows"][0]
    assert any(c["state"] == "pending" for c in newest["cells"]), "the newest patch set waits"
    excluded = [c for cells in by_ci.values() for c in cells if c["state"] == "excluded"]
    assert all(c["reason"] for c in excluded)


def test_change_page_says_which_cis_a_reviewer_waits_for_and_until_when(
    dashboard: Dashboard,
) -> None:
    newest = get(dashboard, "/api/v1/grid", limit=1)["rows"][0]
    change = get(dashboard, f"/api/v1/change/{newest['change']}")
    assert change["patch_set"] == newest["patch_set"]
    pending = [ci for ci in change["cis"] if ci["state"] == "pending"]
    assert change["waiting_for"] == len(pending) > 0
    now = when(change["now"])
    for ci in pending:
        assert when(ci["deadline"]) > now and ci["hours_left"] > 0
    assert when(change["next_deadline"]) == min(when(ci["deadline"]) for ci in pending)
    assert change["gerrit_url"].endswith(f"/{change['number']}/{change['patch_set']}")


def test_change_page_marks_cis_not_expected_with_the_reason(dashboard: Dashboard) -> None:
    grid = get(dashboard, "/api/v1/grid", limit=300)
    docs_only = next(
        row
        for row in grid["rows"]
        if all(c["state"] == "excluded" for c in row["cells"] if c["account"] != "zuul")
    )
    change = get(dashboard, f"/api/v1/change/{docs_only['change']}")
    if change["patch_set"] == docs_only["patch_set"]:
        third_party = [ci for ci in change["cis"] if ci["account"] in EXPECTED]
        assert all(ci["state"] == "excluded" and ci["reason"] for ci in third_party)
    missing = httpx.get(f"{dashboard.url}/api/v1/change/999999")
    assert missing.status_code == 404 and "999999" in missing.json()["detail"]


def test_ci_page_explains_the_verdict_with_charts_data(dashboard: Dashboard) -> None:
    bolt = get(dashboard, "/api/v1/ci/bolt-idrac-ci")
    assert bolt["deadline_hours"] == 4
    histogram = bolt["latency_histogram"]
    assert sum(b["count"] for b in histogram) == bolt["reported"]
    assert histogram[-1]["end_hours"] is None, "an open last bin holds the slowest results"
    late = sum(b["count"] for b in histogram if b["start_hours"] >= 4)
    assert late > sum(b["count"] for b in histogram if b["start_hours"] < 4)
    assert len(bolt["weekly"]) == 2 and all(w["on_time_rate"] < 0.5 for w in bolt["weekly"])
    assert any("on time" in reason for reason in bolt["reasons"])

    cobalt = get(dashboard, "/api/v1/ci/cobalt-ilo-ci")
    assert cobalt["missed_total"] == cobalt["expected"] - cobalt["reported"] > 50
    first = cobalt["missed"][0]
    assert first["gerrit_url"] == (
        f"{dashboard.seeded.gerrit_url}/c/openstack/ironic/+/{first['change']}/{first['patch_set']}"
    )
    assert cobalt["contacts"][0]["email"] == "cobalt-ilo-ci@example.org"


def test_ci_page_shows_link_rot(dashboard: Dashboard) -> None:
    delta = get(dashboard, "/api/v1/ci/delta-irmc-ci")
    first, last = delta["probe_history"][0], delta["probe_history"][-1]
    assert first["share"] == 1.0, "a week in, its links still work"
    assert last["share"] < 0.7, "a week later the old ones are dead"
    unknown = httpx.get(f"{dashboard.url}/api/v1/ci/nobody-ci")
    assert unknown.status_code == 404


def test_drivers_page_tells_deployers_status_release_location_and_ci(dashboard: Dashboard) -> None:
    page = get(dashboard, "/api/v1/drivers")
    drivers = {d["name"]: d for d in page["drivers"]}
    assert drivers["redfish"]["status"] == "supported"
    assert drivers["redfish"]["verdict"] == "supported", "Acme Redfish CI is reliable"
    idrac = drivers["idrac"]
    assert idrac["status"] == "deprecated" and idrac["since"] == "2026.1"
    assert "bolt-idrac-ci" in [ci["account"] for ci in idrac["ci"]]
    snmp = drivers["snmp"]
    assert snmp["status"] == "removed" and snmp["since"] == snmp["removed_in"]
    assert snmp["new_location"] == "https://opendev.org/x/ironic-snmp"
    assert page["counts"]["removed"] > 10


def test_openapi_document_describes_every_page(dashboard: Dashboard) -> None:
    document = get(dashboard, "/api/v1/openapi.json")
    paths = document["paths"]
    for path in (
        "/api/v1/overview",
        "/api/v1/grid",
        "/api/v1/ci/{account}",
        "/api/v1/change/{number}",
        "/api/v1/drivers",
        "/api/v1/admin/ci/{account}/voting",
    ):
        assert path in paths, path
    schema = paths["/api/v1/overview"]["get"]["responses"]["200"]["content"]["application/json"]
    assert schema["schema"]["$ref"].endswith("/Overview")
    assert "OverviewRow" in document["components"]["schemas"]
    assert "/" not in paths, "HTML pages are not part of the API"
