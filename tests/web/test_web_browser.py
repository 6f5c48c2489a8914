"""Every page in headless Chromium (the Debian package, no browser download): what a user
looks for is on screen, the charts drew, and screenshots land in test-output/screenshots/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dashboard_world import ADMIN_TOKEN, Dashboard

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("DRIVERCI_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{CHROMIUM} is missing (DRIVERCI_REQUIRE_SERVICES=1)")
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium to run browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, dashboard: Dashboard) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    failed: list[str] = []
    # Everything must come from the dashboard itself: no CDN, no outside request.
    opened.on(
        "request",
        lambda r: failed.append(r.url) if not r.url.startswith(dashboard.url) else None,
    )
    opened.on("pageerror", lambda error: failed.append(f"JS error: {error}"))
    yield opened
    context.close()
    assert failed == []


def shoot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_overview_shows_each_ci_and_sorts(page: Any, dashboard: Dashboard) -> None:
    page.goto(dashboard.url + "/")
    table = page.locator("#overview")
    for name in ("Acme Redfish CI", "Bolt iDRAC CI", "Cobalt iLO CI", "Foxtrot Intel CI"):
        assert table.get_by_text(name).count() >= 1
    acme = page.locator("tr[data-account='acme-redfish-ci']").first
    assert "reliable" in acme.inner_text()
    shoot(page, "overview")
    page.locator("#overview th", has_text="Coverage").click()
    page.locator("#overview th", has_text="Coverage").click()  # descending: best first
    first = page.locator("#overview tbody tr").first.get_attribute("data-account")
    assert first in ("zuul", "acme-redfish-ci", "golf-snmp-ci", "delta-irmc-ci")
    last = page.locator("#overview tbody tr").last.get_attribute("data-account")
    assert last == "cobalt-ilo-ci", "the CI that misses a fifth of patch sets sorts last"


def test_a_ci_never_probed_shows_not_assessed_and_how_to_assess_it(
    page: Any, dashboard: Dashboard
) -> None:
    page.goto(dashboard.url + "/")
    golf = page.locator("tr[data-account='golf-snmp-ci']").first
    assert "unproven" in golf.inner_text()
    artifacts = golf.locator("td[data-criterion='artifacts']")
    assert artifacts.get_attribute("data-state") == "not_assessed"
    assert "not assessed" in artifacts.inner_text()
    assert "driverci audit probe" in artifacts.inner_text()
    assert "unproven" in page.locator(".counts").inner_text()
    page.goto(dashboard.url + "/ci/golf-snmp-ci")
    assert "unproven" in page.locator("#verdict").inner_text()
    item = page.locator("#criteria li[data-criterion='artifacts']")
    assert "artifacts: not assessed" in item.inner_text()
    assert "run driverci audit probe" in item.inner_text()
    assert "not assessed" in page.locator("#artifacts-card").inner_text()
    shoot(page, "ci-unproven")


def test_grid_shows_distinct_states_with_a_legend(page: Any, dashboard: Dashboard) -> None:
    page.goto(dashboard.url + "/grid?limit=80")
    legend = page.locator(".legend").inner_text()
    for words in ("deadline passed, no result", "reported after the deadline", "not expected"):
        assert words in legend
    for state in ("success", "missing", "late", "pending", "excluded"):
        assert page.locator(f"#grid td.state-{state}").count() > 0, state
    colours = {
        state: page.locator(f"#grid td.state-{state}").first.evaluate(
            "cell => { const style = getComputedStyle(cell);"
            " return style.backgroundImage + style.backgroundColor; }"
        )
        for state in ("success", "missing", "late", "pending", "excluded")
    }
    assert len(set(colours.values())) == len(colours), colours
    third_party_logs = page.locator(
        f"#grid td.state-success a[href^='{dashboard.seeded.gerrit_url}/logs/']"
    )
    assert third_party_logs.count() > 0, "a reported cell links to that CI's logs"
    shoot(page, "grid")


def test_ci_page_draws_its_charts(page: Any, dashboard: Dashboard) -> None:
    page.goto(dashboard.url + "/ci/delta-irmc-ci")
    assert "unreliable" in page.locator("#verdict").inner_text()
    assert "artifacts" in page.locator("#reasons").inner_text()
    assert "delta-irmc-ci@example.org" in page.locator("#contacts").inner_text()
    for canvas in ("latency-chart", "weekly-chart", "probe-chart"):
        drawn = page.evaluate(
            """id => {
                const canvas = document.getElementById(id);
                const chart = Chart.getChart(canvas);
                const pixels = canvas.getContext('2d')
                    .getImageData(0, 0, canvas.width, canvas.height).data;
                let inked = 0;
                for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] > 0) inked++; }
                return {chart: !!chart, points: chart ? chart.data.datasets[0].data.length : 0,
                        inked: inked, title: chart ? chart.options.plugins.title.text : ''};
            }""",
            canvas,
        )
        assert drawn["chart"] and drawn["points"] > 0 and drawn["inked"] > 1000, (canvas, drawn)
    titles = page.evaluate("Chart.getChart('latency-chart').options.scales.x.title.text")
    assert titles == "hours after upload"
    assert page.locator("#admin-forms").is_hidden(), "admin forms need a token first"
    shoot(page, "ci-delta-irmc")
    page.goto(dashboard.url + "/ci/bolt-idrac-ci")
    shoot(page, "ci-bolt-idrac")


def test_change_page_lists_pending_cis_and_deadlines(page: Any, dashboard: Dashboard) -> None:
    newest = httpx.get(f"{dashboard.url}/api/v1/grid", params={"limit": 1}).json()["rows"][0]
    page.goto(f"{dashboard.url}/change/{newest['change']}")
    waiting = page.locator("#waiting").inner_text()
    assert "Waiting for" in waiting and "next deadline passes at" in waiting
    pending = page.locator("#change-cis tr[data-state='pending']")
    assert pending.count() > 0 and "(in " in pending.first.inner_text()
    shoot(page, "change")


def test_drivers_page_for_deployers(page: Any, dashboard: Dashboard) -> None:
    page.goto(dashboard.url + "/drivers")
    idrac = page.locator("tr[data-driver='idrac']").inner_text()
    assert "deprecated" in idrac and "2026.1" in idrac and "Bolt iDRAC CI" in idrac
    snmp = page.locator("tr[data-driver='snmp']").inner_text()
    assert "removed" in snmp and "https://opendev.org/x/ironic-snmp" in snmp
    shoot(page, "drivers")


def test_admin_form_appears_with_a_token_and_records_a_note(
    browser: Any, fresh_dashboard: Dashboard
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(fresh_dashboard.url + "/ci/acme-redfish-ci")
    page.locator("#admin summary").click()
    page.fill("#admin-token", ADMIN_TOKEN)
    form = page.locator("form[data-action='notes']")
    form.locator("input[name='by']").fill("Ironic PTL")
    form.locator("textarea[name='text']").fill("Lab move finished; results resume Monday.")
    with page.expect_navigation():
        form.locator("button").click()
    assert "Lab move finished" in page.locator("#notes").inner_text()
    assert "Lab move finished" in fresh_dashboard.registry_path.read_text()
    context.close()
