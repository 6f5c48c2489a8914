"""REST endpoints for accounts, projects and server configuration."""

from __future__ import annotations

import re
import shlex
from urllib.parse import quote

from aiohttp import web

from driverci.emulator.rest.entities import Json, render_account
from driverci.emulator.rest.framing import RestContext, RouteTable, json_response, require_viewer
from driverci.emulator.state.journal import EmulatorError
from driverci.emulator.state.model import Account, Project


def register(table: RouteTable) -> None:
    table.add("GET", "/accounts/", query_accounts)
    table.add("GET", "/accounts/{account}", get_account)
    table.add("GET", "/accounts/{account}/detail", get_account)
    table.add("GET", "/accounts/{account}/username", get_username)
    table.add("GET", "/accounts/{account}/name", get_name)
    table.add("GET", "/accounts/{account}/capabilities", get_capabilities)
    table.add("GET", "/config/server/version", server_version)
    table.add("GET", "/projects/", list_projects)
    table.add("GET", "/projects/{project}", get_project)
    table.add("GET", "/projects/{project}/branches", list_branches)
    table.add("GET", "/projects/{project}/branches/", list_branches)


# -- accounts -------------------------------------------------------------------------------


def resolve_account(context: RestContext, who: str, viewer: Account | None) -> Account:
    """An account URL id: ``self``, numeric id, username, email or full name."""
    if who == "self":
        return require_viewer(viewer)
    account = context.state.find_account(who)
    if account is None:
        raise EmulatorError(404, f"Account '{who}' not found")
    return account


def _account_matches(account: Account, term: str) -> bool:
    key, colon, value = term.partition(":")
    if colon and key in ("username", "email", "name", "is"):
        folded = value.casefold()
        if key == "username":
            return account.username.casefold() == folded
        if key == "email":
            return (account.email or "").casefold() == folded
        if key == "name":
            return folded in account.name.casefold()
        return folded == "active"
    if colon and key not in ("username", "email", "name", "is"):
        raise EmulatorError(400, f"Unsupported operator {key}:{value}")
    folded = term.casefold()
    haystack = (account.username, account.name, account.email or "")
    return any(folded in field.casefold() for field in haystack)


async def query_accounts(
    request: web.Request, context: RestContext, viewer: Account | None
) -> web.StreamResponse:
    """GET /accounts/?q=: every term must match; ``o=DETAILS`` adds name/email/username."""
    query = request.query.get("q", request.query.get("suggest", ""))
    try:
        terms = shlex.split(query)
    except ValueError as exc:
        raise EmulatorError(400, f"Invalid query: {exc}") from exc
    if not terms:
        raise EmulatorError(400, "missing query field")
    detailed = bool({"DETAILS", "ALL_EMAILS"} & set(request.query.getall("o", [])))
    try:
        limit = int(request.query.get("n", "0")) or None
        start = int(request.query.get("S", request.query.get("start", "0")))
    except ValueError as exc:
        raise EmulatorError(400, f"Invalid paging parameter: {exc}") from None
    matches = [
        account
        for account in sorted(context.state.accounts.values(), key=lambda a: a.account_id)
        if all(_account_matches(account, term) for term in terms)
    ]
    page = matches[start : start + limit] if limit else matches[start:]
    rendered = [render_account(a, detailed) for a in page]
    if rendered and limit and len(matches) > start + limit:
        rendered[-1]["_more_accounts"] = True
    return json_response(request, rendered)


async def get_account(
    request: web.Request, context: RestContext, viewer: Account | None
) -> web.StreamResponse:
    account = resolve_account(context, request.match_info["account"], viewer)
    return json_response(request, render_account(account, detailed=True))


async def get_username(
    request: web.Request, context: RestContext, viewer: Account | None
) -> web.StreamResponse:
    account = resolve_account(context, request.match_info["account"], viewer)
    return json_response(request, account.username)


async def get_name(
    request: web.Request, context: RestContext, viewer: Account | None
) -> web.StreamResponse:
    account = resolve_account(context, request.match_info["account"], viewer)
    return json_response(request, account.name)


async def get_capabilities(
    request: web.Request, context: RestContext, viewer: Account | None
) -> web.StreamResponse:
    """The global capabilities Gerrit's default All-Projects grants (as real Gerrit 3.10 says
    for a Service User: Stream Events and BATCH priority; for everyone: emailReviewers)."""
    account = resolve_account(context, request.match_info["account"], viewer)
    capabilities: dict[str, object] = {}
    if account.is_admin:
        capabilities["administrateServer"] = True
    if account.may_stream_events:
        capabilities["streamEvents"] = True
    capabilities["emailReviewers"] = True
    capabilities["queryLimit"] = {"min": 0, "max": context.DEFAULT_QUERY_LIMIT}
    if "SERVICE_USER" in account.tags:
        capabilities["priority"] = "BATCH"
    return json_response(request, capabilities)


# -- server and projects --------------------------------------------------------------------


async def server_version(
    request: web.Request, context: RestContext, viewer: Account | None
) -> web.StreamResponse:
    return json_response(request, context.SERVER_VERSION)


def project_info(project: Project, with_description: bool = True) -> Json:
    info: Json = {"id": quote(project.name, safe=""), "name": project.name}
    info["parent"] = "All-Projects"
    if with_description and project.description:
        info["description"] = project.description
    info["state"] = "ACTIVE"
    return info


async def list_projects(
    request: web.Request, context: RestContext, viewer: Account | None
) -> web.StreamResponse:
    """GET /projects/: a map of name to ProjectInfo (``name`` omitted inside, as Gerrit)."""
    prefix = request.query.get("p", "")
    regex = request.query.get("r")
    pattern = re.compile(regex) if regex else None
    with_description = "d" in request.query or "description" in request.query
    projects: Json = {}
    for name in sorted(context.state.projects):
        if not name.startswith(prefix) or (pattern and not pattern.fullmatch(name)):
            continue
        info = project_info(context.state.projects[name], with_description)
        del info["name"]
        projects[name] = info
    return json_response(request, projects)


async def get_project(
    request: web.Request, context: RestContext, viewer: Account | None
) -> web.StreamResponse:
    project = context.state.get_project(request.match_info["project"])
    return json_response(request, project_info(project))


async def list_branches(
    request: web.Request, context: RestContext, viewer: Account | None
) -> web.StreamResponse:
    """GET /projects/{name}/branches/: HEAD first, then refs/heads/* sorted."""
    project = context.state.get_project(request.match_info["project"])
    head = project.head.removeprefix("refs/heads/")
    branches: list[Json] = [{"ref": "HEAD", "revision": head}]
    for name in sorted(project.branches):
        branches.append({"ref": f"refs/heads/{name}", "revision": project.branches[name].revision})
    return json_response(request, branches)
