"""Admin actions: only with the token, written to the registry file with who and when, and
shown by the dashboard right away. Without the token: 401 and the file is untouched."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import yaml
from dashboard_world import ADMIN_TOKEN, Dashboard

ACCOUNT = "acme-redfish-ci"


def post(
    dashboard: Dashboard, action: str, body: dict[str, Any], token: str | None = ADMIN_TOKEN
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(
        f"{dashboard.url}/api/v1/admin/ci/{ACCOUNT}/{action}",
        json=body,
        headers=headers,
        timeout=30,
    )


def registry_entry(dashboard: Dashboard, account: str = ACCOUNT) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(dashboard.registry_path.read_text())
    entry: dict[str, Any] = next(ci for ci in data["ci_systems"] if ci["account"] == account)
    return entry


def ci_page(dashboard: Dashboard) -> dict[str, Any]:
    response = httpx.get(f"{dashboard.url}/api/v1/ci/{ACCOUNT}", timeout=30)
    assert response.status_code == 200
    page: dict[str, Any] = response.json()
    return page


def test_without_or_with_a_wrong_token_nothing_changes(fresh_dashboard: Dashboard) -> None:
    before = fresh_dashboard.registry_path.read_bytes()
    note = {"by": "mallory", "text": "we are fine"}
    for token in (None, "wrong-token"):
        response = post(fresh_dashboard, "notes", note, token)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert "Authorization: Bearer" in response.json()["detail"]
    vote = {"allowed": True, "approved_by": "mallory"}
    assert post(fresh_dashboard, "voting", vote, None).status_code == 401
    assert fresh_dashboard.registry_path.read_bytes() == before
    assert ci_page(fresh_dashboard)["notes"] == []


def test_a_contacts_answer_is_recorded_with_who_and_when(fresh_dashboard: Dashboard) -> None:
    response = post(
        fresh_dashboard,
        "notes",
        {"by": "Ironic PTL", "contact": "Acme Redfish team", "text": "New lab online in May."},
    )
    assert response.status_code == 200, response.text
    today = datetime.now(UTC).date()
    assert response.json()["registry"] == str(fresh_dashboard.registry_path)
    entry = registry_entry(fresh_dashboard)
    assert entry["notes"] == [
        {
            "date": today,
            "by": "Ironic PTL",
            "text": "New lab online in May.",
            "contact": "Acme Redfish team",
        }
    ]
    assert ci_page(fresh_dashboard)["notes"][0]["text"] == "New lab online in May."


def test_an_approved_exclusion_is_written_and_applied(fresh_dashboard: Dashboard) -> None:
    body = {"pattern": r"^ironic/drivers/modules/ilo/", "approved_by": "core-a", "reason": "iLO"}
    assert post(fresh_dashboard, "exclusions", body).status_code == 200
    entry = registry_entry(fresh_dashboard)
    assert entry["approved_exclusions"][0]["pattern"] == r"^ironic/drivers/modules/ilo/"
    assert entry["approved_exclusions"][0]["approved_by"] == "core-a"
    shown = ci_page(fresh_dashboard)["exclusions"]
    assert shown[0]["pattern"] == r"^ironic/drivers/modules/ilo/"


def test_an_invalid_exclusion_is_refused_and_nothing_is_written(fresh_dashboard: Dashboard) -> None:
    before = fresh_dashboard.registry_path.read_bytes()
    response = post(fresh_dashboard, "exclusions", {"pattern": "([", "approved_by": "core-a"})
    assert response.status_code == 422
    assert "invalid regular expression" in response.json()["detail"]
    assert fresh_dashboard.registry_path.read_bytes() == before


def test_voting_is_granted_then_withdrawn(fresh_dashboard: Dashboard) -> None:
    grant = {"allowed": True, "approved_by": "Ironic cores", "reference": "meeting 2026-03-02"}
    assert post(fresh_dashboard, "voting", grant).status_code == 200
    assert registry_entry(fresh_dashboard)["voting"]["allowed"] is True
    page = ci_page(fresh_dashboard)
    assert page["voting_record"]["approved_by"] == "Ironic cores"
    assert page["voting"]["allowed"] is True
    withdraw = {"allowed": False, "approved_by": "Ironic PTL", "reference": "ML thread"}
    assert post(fresh_dashboard, "voting", withdraw).status_code == 200
    voting = registry_entry(fresh_dashboard)["voting"]
    assert voting["allowed"] is False and voting["approved_by"] == "Ironic PTL"


def test_an_unknown_ci_is_404(fresh_dashboard: Dashboard) -> None:
    response = httpx.post(
        f"{fresh_dashboard.url}/api/v1/admin/ci/nobody-ci/notes",
        json={"by": "x", "text": "y"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status_code == 404 and "nobody-ci" in response.json()["detail"]


def test_the_shipped_registry_is_read_only(readonly_dashboard: Dashboard) -> None:
    response = post(readonly_dashboard, "notes", {"by": "Ironic PTL", "text": "hello"})
    assert response.status_code == 409
    assert "--registry FILE" in response.json()["detail"]
