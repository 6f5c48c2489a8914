"""The server-rendered HTML pages (Jinja2); each renders the same model as its API twin."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from driverci.web import views
from driverci.web.api import GRID_DEFAULT_ROWS, GRID_MAX_ROWS
from driverci.web.change_view import change_detail
from driverci.web.ci_view import ci_detail
from driverci.web.deps import AnalysisDep, DataDep
from driverci.web.models import STATES

router = APIRouter(include_in_schema=False)
WINDOW_PARAMS = ("project", "days", "until")
NO_VALUE = "\u2013"  # an en dash: "no figure"


def pct(value: float | None) -> str:
    return NO_VALUE if value is None else f"{value * 100:.1f}%"


def when(moment: datetime | None) -> str:
    return "never" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


def hours(value: float | None) -> str:
    return NO_VALUE if value is None else f"{value:.1f} h"


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("driverci.web", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(pct=pct, when=when, hours=hours)
    return env


def render(request: Request, name: str, **context: Any) -> HTMLResponse:
    env = request.app.state.templates
    assert isinstance(env, jinja2.Environment)
    kept = {k: v for k, v in request.query_params.items() if k in WINDOW_PARAMS and v}
    query = ("?" + urlencode(kept)) if kept else ""
    projects = request.app.state.dashboard.projects()
    html = env.get_template(name).render(
        request_path=request.url.path, query=query, projects=projects, **context
    )
    return HTMLResponse(html)


@router.get("/", response_class=HTMLResponse)
def overview_page(request: Request, data: DataDep, analysis: AnalysisDep) -> HTMLResponse:
    page = views.overview(analysis, data.projects())
    return render(request, "overview.html", page=page, title="Third-party CI overview")


@router.get("/grid", response_class=HTMLResponse)
def grid_page(
    request: Request, data: DataDep, analysis: AnalysisDep, limit: int = GRID_DEFAULT_ROWS
) -> HTMLResponse:
    page = views.grid(analysis, data.store, max(1, min(limit, GRID_MAX_ROWS)))
    return render(request, "grid.html", page=page, title="Patch sets by CI", states=STATES)


@router.get("/ci/{account}", response_class=HTMLResponse)
def ci_page(request: Request, account: str, analysis: AnalysisDep) -> HTMLResponse:
    page = ci_detail(analysis, account)
    if page is None:
        raise HTTPException(404, f"no CI {account!r} reports on {analysis.project}")
    chart_data = page.model_dump(
        mode="json",
        include={"deadline_hours", "latency_histogram", "weekly", "probe_history", "account"},
    )
    return render(request, "ci.html", page=page, title=page.name, chart_data=chart_data)


@router.get("/change/{number}", response_class=HTMLResponse)
def change_page(
    request: Request, number: int, data: DataDep, analysis: AnalysisDep
) -> HTMLResponse:
    page = change_detail(data, analysis, number)
    if page is None:
        raise HTTPException(404, f"no change {number} of {analysis.project} in the store")
    return render(request, "change.html", page=page, title=f"Change {number}", states=STATES)


@router.get("/drivers", response_class=HTMLResponse)
def drivers_page(request: Request, analysis: AnalysisDep) -> HTMLResponse:
    page = views.drivers(analysis)
    return render(request, "drivers.html", page=page, title="Drivers")
