"""The dashboard application: HTML pages, the JSON API under /api/v1/ and admin actions.

``create_app(config)`` builds it; nothing is opened or computed at import time. Static
assets (CSS, the vendored Chart.js) are served from the package: no CDN, works offline.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from driverci import __version__
from driverci.errors import DriverCIError
from driverci.web import admin, api, pages
from driverci.web.data import DashboardData, WebConfig

log = logging.getLogger(__name__)

OPENAPI_URL = f"{api.API_PREFIX}/openapi.json"


def _warm_up(data: DashboardData) -> None:
    """Compute the default window's report before the first visitor asks for it."""
    try:
        data.analysis()
    except DriverCIError as err:
        log.warning("could not prepare the dashboard's report: %s", err)


def create_app(config: WebConfig, *, warm_up: bool = True) -> FastAPI:
    data = DashboardData(config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if warm_up:
            threading.Thread(target=_warm_up, args=(data,), name="warm-up", daemon=True).start()
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="driverci dashboard",
        version=__version__,
        description="Third-party driver CI health: the judge's results, per page and as JSON.",
        openapi_url=OPENAPI_URL,
        # The interactive docs pages load their JavaScript from a CDN: off (offline use).
        docs_url=None,
        redoc_url=None,
    )
    app.state.dashboard = data
    app.state.templates = pages.make_environment()
    app.mount("/static", StaticFiles(packages=[("driverci.web", "static")]), name="static")
    app.include_router(api.router)
    app.include_router(admin.router)
    app.include_router(pages.router)

    @app.exception_handler(DriverCIError)
    async def _bad_request(request: Request, exc: DriverCIError) -> Response:
        return _error(request, 400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
        if request.url.path.startswith(api.API_PREFIX):
            return await request_validation_exception_handler(request, exc)  # documented 422
        # A person typed or followed this URL: say what is wrong with it, in a page.
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'][1:])}: {error['msg']}"
            f" (got {error.get('input')!r})"
            for error in exc.errors()
        )
        return _error(request, 400, f"invalid request: {problems}")

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        response = _error(request, exc.status_code, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    return app


def _error(request: Request, status: int, message: str) -> Response:
    if request.url.path.startswith(api.API_PREFIX):
        return JSONResponse({"detail": message}, status_code=status)
    env = request.app.state.templates
    html = env.get_template("error.html").render(
        title=f"{status}", message=message, request_path=request.url.path, query=""
    )
    return HTMLResponse(html, status_code=status)
