"""The JSON API under /api/v1/: one endpoint per page, described by the OpenAPI document
at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from driverci.web import views
from driverci.web.change_view import change_detail
from driverci.web.ci_view import ci_detail
from driverci.web.deps import AnalysisDep, DataDep
from driverci.web.models import ChangeDetail, CiDetail, Drivers, Grid, Overview

API_PREFIX = "/api/v1"
GRID_DEFAULT_ROWS = 50
GRID_MAX_ROWS = 500

router = APIRouter(prefix=API_PREFIX, tags=["dashboard"])
GridRows = Annotated[int, Query(ge=1, le=GRID_MAX_ROWS, description="recent patch sets shown")]


@router.get("/overview", response_model=Overview, summary="Every driver and CI at a glance")
def get_overview(data: DataDep, analysis: AnalysisDep) -> Overview:
    return views.overview(analysis, data.projects())


@router.get("/grid", response_model=Grid, summary="Recent patch sets by CI")
def get_grid(data: DataDep, analysis: AnalysisDep, limit: GridRows = GRID_DEFAULT_ROWS) -> Grid:
    return views.grid(analysis, data.store, limit)


@router.get("/ci/{account}", response_model=CiDetail, summary="One CI in detail")
def get_ci(account: str, analysis: AnalysisDep) -> CiDetail:
    detail = ci_detail(analysis, account)
    if detail is None:
        raise HTTPException(404, f"no CI {account!r} reports on {analysis.project}")
    return detail


@router.get("/change/{number}", response_model=ChangeDetail, summary="Which CIs a change waits for")
def get_change(number: int, data: DataDep, analysis: AnalysisDep) -> ChangeDetail:
    detail = change_detail(data, analysis, number)
    if detail is None:
        raise HTTPException(404, f"no change {number} of {analysis.project} in the store")
    return detail


@router.get("/drivers", response_model=Drivers, summary="Drivers for deployers")
def get_drivers(analysis: AnalysisDep) -> Drivers:
    return views.drivers(analysis)
