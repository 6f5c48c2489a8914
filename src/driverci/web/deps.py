"""Request dependencies shared by the pages and the API: the dashboard state and the
analysis for the window the query asks for (?project=&days=&until=)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request

from driverci.web.data import Analysis, DashboardData


def dashboard(request: Request) -> DashboardData:
    data = request.app.state.dashboard
    assert isinstance(data, DashboardData)
    return data


DataDep = Annotated[DashboardData, Depends(dashboard)]


def analysis(
    data: DataDep,
    project: Annotated[
        str | None, Query(description="Gerrit project (default: the registry's)")
    ] = None,
    days: Annotated[
        int | None, Query(ge=1, le=DashboardData.MAX_WINDOW_DAYS, description="window length")
    ] = None,
    until: Annotated[
        str | None,
        Query(pattern=r"^\d{4}-\d{2}-\d{2}$", description="window end, YYYY-MM-DD (UTC)"),
    ] = None,
) -> Analysis:
    if project and project not in (known := data.projects()):
        raise HTTPException(404, f"no project {project!r} in the store (known: {', '.join(known)})")
    return data.analysis(project or None, days, until or None)


AnalysisDep = Annotated[Analysis, Depends(analysis)]
