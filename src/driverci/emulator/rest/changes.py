"""REST endpoints under ``/changes/``: query, change detail, messages, files, review, actions."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from driverci.emulator.query.search import run_query
from driverci.emulator.rest.framing import (
    RestContext,
    RouteTable,
    json_response,
    read_json_body,
    require_viewer,
)
from driverci.emulator.rest.render import DETAIL_OPTIONS, KNOWN_OPTIONS, ChangeRenderer
from driverci.emulator.state.journal import EmulatorError
from driverci.emulator.state.model import Account, Change, PatchSet, Project

log = logging.getLogger(__name__)

_CHANGE = "/changes/{change_id}"
_REVISION = _CHANGE + "/revisions/{revision_id}"


def register(table: RouteTable) -> None:
    table.add("GET", "/changes/", query_changes)
    table.add("GET", _CHANGE, get_change)
    table.add("GET", _CHANGE + "/", get_change)
    table.add("GET", _CHANGE + "/detail", get_change_detail)
    table.add("GET", _CHANGE + "/messages", list_messages)
    table.add("GET", _REVISION + "/files", list_files)
    table.add("GET", _REVISION + "/files/", list_files)
    table.add("GET", _REVISION + "/commit", get_commit)
    table.add("GET", _REVISION + "/review", get_review)
    table.add("POST", _REVISION + "/review", post_review)
    table.add("POST", _CHANGE + "/abandon", abandon)
    table.add("POST", _CHANGE + "/restore", restore)
    table.add("POST", _CHANGE + "/wip", set_wip)
    table.add("POST", _CHANGE + "/ready", set_ready)
    table.add("POST", _CHANGE + "/submit", submit)
    table.add("POST", _REVISION + "/submit", submit)


# -- parameters -----------------------------------------------------------------------------


def parse_options(request: web.Request) -> frozenset[str]:
    options = set()
    for raw in request.query.getall("o", []):
        for option in raw.split(","):
            name = option.strip().upper()
            if name not in KNOWN_OPTIONS:
                raise EmulatorError(400, f'"{option}" is not a valid value for "-o"')
            options.add(name)
    return frozenset(options)


def _int_param(request: web.Request, names: tuple[str, ...], flag: str) -> int | None:
    for name in names:
        raw = request.query.get(name)
        if raw is None:
            continue
        try:
            value = int(raw)
        except ValueError:
            raise EmulatorError(400, f'"{raw}" is not a valid value for "{flag}"') from None
        if value < 0:
            raise EmulatorError(400, f'"{raw}" is not a valid value for "{flag}"')
        return value
    return None


def _change(context: RestContext, request: web.Request) -> Change:
    return context.state.find_change(request.match_info["change_id"])


def _revision(change: Change, request: web.Request) -> PatchSet:
    revision_id = request.match_info["revision_id"]
    patch_set = change.find_revision(revision_id)
    if patch_set is None:
        raise EmulatorError(404, f"Not found: {revision_id}")
    return patch_set


def _project(context: RestContext, change: Change) -> Project:
    return context.state.get_project(change.project)


# -- reads ----------------------------------------------------------------------------------


async def query_changes(
    request: web.Request, context: RestContext, viewer: Account | None
) -> web.StreamResponse:
    """GET /changes/?q=...: one list, or a list of lists when ``q`` is repeated."""
    queries = request.query.getall("q", []) or ["status:open"]
    options = parse_options(request)
    page_size = _int_param(request, ("n", "limit"), "-n")
    start = _int_param(request, ("S", "start"), "-S") or 0
    renderer = ChangeRenderer(context.state, options, viewer)
    answers = []
    for query in queries:
        result = run_query(context.state, query, viewer)
        limits = [context.DEFAULT_QUERY_LIMIT]
        limits += [n for n in (page_size, result.limit) if n is not None and n > 0]
        limit = min(limits)
        page = result.changes[start : start + limit]
        rendered = [renderer.change(change) for change in page]
        if rendered and len(result.changes) > start + limit:
            rendered[-1]["_more_changes"] = True
        log.debug("query %r: %d matches, %d returned", query, len(result.changes), len(page))
        answers.append(rendered)
    return json_response(request, answers if len(queries) > 1 else answers[0])


async def get_change(
    request: web.Request, context: RestContext, viewer: Account | None
) -> web.StreamResponse:
    change = _change(context, request)
    renderer = ChangeRenderer(context.state, parse_options(request), viewer)
    return json_response(request, renderer.change(change))


async def get_change_detail(
    request: web.Request, context: RestContext, viewer: Account | None
) -> web.StreamResponse:
    change = _change(context, request)
    options = parse_options(request) | DETAIL_OPTIONS
    return json_response(request, ChangeRenderer(context.state, options, viewer).change(change))


async def list_messages(
    request: web.Request, context: RestContext, viewer: Account | None
) -> web.StreamResponse:
    change = _change(context, request)
    renderer = ChangeRenderer(context.state, {"DETAILED_ACCOUNTS"}, viewer)
    return json_response(request, [renderer.message(m) for m in change.messages])


async def list_files(
    request: web.Request, context: RestContext, viewer: Account | None
) -> web.StreamResponse:
    change = _change(context, request)
    patch_set = _revision(change, request)
    renderer = ChangeRenderer(context.state, (), viewer)
    return json_response(request, renderer.files(patch_set, with_magic=True))


async def get_commit(
    request: web.Request, context: RestContext, viewer: Account | None
) -> web.StreamResponse:
    change = _change(context, request)
    patch_set = _revision(change, request)
    commit = ChangeRenderer(context.state, (), viewer).commit(patch_set)
    return json_response(request, {"commit": patch_set.revision, **commit})


async def get_review(
    request: web.Request, context: RestContext, viewer: Account | None
) -> web.StreamResponse:
    """GET .../review: the change with labels and detailed accounts, for that revision."""
    change = _change(context, request)
    patch_set = _revision(change, request)
    options = parse_options(request) | {"LABELS", "DETAILED_LABELS", "DETAILED_ACCOUNTS"}
    renderer = ChangeRenderer(context.state, options, viewer)
    return json_response(request, renderer.change(change, only_revision=patch_set))


# -- writes ---------------------------------------------------------------------------------


def _labels_from(body: dict[str, Any]) -> dict[str, int] | None:
    raw = body.get("labels")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise EmulatorError(400, "labels must be a JSON object of label name to value")
    labels: dict[str, int] = {}
    for name, value in raw.items():
        if isinstance(value, bool):
            raise EmulatorError(400, f'label "{name}": {value} is not a valid value')
        try:
            labels[str(name)] = int(value)
        except (TypeError, ValueError):
            raise EmulatorError(400, f'label "{name}": {value} is not a valid value') from None
    return labels


def _optional_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise EmulatorError(400, f"{key} must be a string, got {type(value).__name__}")
    return value


async def post_review(
    request: web.Request, context: RestContext, viewer: Account | None
) -> web.StreamResponse:
    """POST .../review with a ReviewInput; answers a ReviewResult."""
    account = require_viewer(viewer)
    change = _change(context, request)
    patch_set = _revision(change, request)
    body = await read_json_body(request)
    labels = _labels_from(body)
    message = _optional_str(body, "message") or ""
    tag = _optional_str(body, "tag")
    _optional_str(body, "notify")  # accepted; the emulator sends no mail
    applied = context.state.post_review(
        change, patch_set, account, message=message, labels=labels, tag=tag
    )
    log.info(
        "change %d,%d: review by %s labels=%s tag=%s",
        change.number,
        patch_set.number,
        account.username,
        applied,
        tag,
    )
    result: dict[str, Any] = {}
    if labels is not None:
        result["labels"] = applied
    if body.get("ready") is True and change.wip:
        context.state.set_work_in_progress(change, account, False)
        result["ready"] = True
    elif body.get("work_in_progress") is True and not change.wip:
        context.state.set_work_in_progress(change, account, True)
    return json_response(request, result)


def _may_act(context: RestContext, change: Change, account: Account) -> bool:
    """Owner, admin, uploader, or anyone allowed to vote Workflow on the project."""
    if account.is_admin or account.account_id in (change.owner_id, change.current.uploader_id):
        return True
    return _project(context, change).may_vote("Workflow", account)


async def abandon(
    request: web.Request, context: RestContext, viewer: Account | None
) -> web.StreamResponse:
    account = require_viewer(viewer)
    change = _change(context, request)
    body = await read_json_body(request)
    if not _may_act(context, change, account):
        raise EmulatorError(403, "abandon not permitted")
    if not change.is_open:
        raise EmulatorError(409, f"change is {change.status.lower()}")
    context.state.abandon_change(change, account, reason=_optional_str(body, "message") or "")
    return json_response(request, ChangeRenderer(context.state, (), account).change(change))


async def restore(
    request: web.Request, context: RestContext, viewer: Account | None
) -> web.StreamResponse:
    account = require_viewer(viewer)
    change = _change(context, request)
    body = await read_json_body(request)
    if not _may_act(context, change, account):
        raise EmulatorError(403, "restore not permitted")
    context.state.restore_change(change, account, reason=_optional_str(body, "message") or "")
    return json_response(request, ChangeRenderer(context.state, (), account).change(change))


async def set_wip(
    request: web.Request, context: RestContext, viewer: Account | None
) -> web.StreamResponse:
    return await _toggle_wip(request, context, viewer, wip=True)


async def set_ready(
    request: web.Request, context: RestContext, viewer: Account | None
) -> web.StreamResponse:
    return await _toggle_wip(request, context, viewer, wip=False)


async def _toggle_wip(
    request: web.Request, context: RestContext, viewer: Account | None, wip: bool
) -> web.StreamResponse:
    account = require_viewer(viewer)
    change = _change(context, request)
    await read_json_body(request)
    if not _may_act(context, change, account):
        raise EmulatorError(403, "not permitted")
    if not change.is_open:
        raise EmulatorError(409, f"change is {change.status.lower()}")
    if change.wip == wip:
        state = "work in progress" if wip else "ready for review"
        raise EmulatorError(409, f"Change is already {state}")
    context.state.set_work_in_progress(change, account, wip)
    return web.Response(status=200)


async def submit(
    request: web.Request, context: RestContext, viewer: Account | None
) -> web.StreamResponse:
    """Mark the change merged (state only: the branch in git is not moved here)."""
    account = require_viewer(viewer)
    change = _change(context, request)
    await read_json_body(request)
    if not (account.is_admin or _project(context, change).may_vote("Workflow", account)):
        raise EmulatorError(403, "submit not permitted")
    if not change.is_open:
        raise EmulatorError(409, f"change is {change.status.lower()}")
    context.state.merge_change(change, account)
    return json_response(request, ChangeRenderer(context.state, (), account).change(change))
