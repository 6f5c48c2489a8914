"""The emulator's REST application: Gerrit's error middleware and every endpoint registered."""

from __future__ import annotations

from aiohttp import web

from driverci.emulator.rest import accounts, changes
from driverci.emulator.rest.framing import RestContext, RouteTable, gerrit_errors
from driverci.emulator.state.journal import EmulatorState


def add_rest_routes(app: web.Application, state: EmulatorState) -> RestContext:
    """Register every REST endpoint on ``app`` (which should use :func:`gerrit_errors`)."""
    context = RestContext(state)
    table = RouteTable(app, context)
    changes.register(table)
    accounts.register(table)
    return context


def create_rest_app(state: EmulatorState) -> web.Application:
    """An application with Gerrit's error middleware and all REST routes."""
    app = web.Application(middlewares=[gerrit_errors], client_max_size=RestContext.MAX_BODY_BYTES)
    add_rest_routes(app, state)
    return app
