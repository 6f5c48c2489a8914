"""``gerrit review``: post a message and votes (or a JSON ReviewInput) on patch sets.

Mirrors Gerrit's ``sshd/commands/ReviewCommand.java``: one ``--<label>`` option per label,
``--label Name=N``, ``--json`` reading a ReviewInput from stdin, ``--abandon``,
``--restore``, ``--submit``. A refused review prints ``error: ...`` and the command ends
with ``fatal: one or more reviews failed; review output above`` and exit status 1.
"""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any

from driverci.emulator.ssh.options import OptionSpec, ParsedOptions, UsageError, parse_options
from driverci.emulator.state.journal import EmulatorError
from driverci.emulator.state.model import LABEL_VALUES, Change, PatchSet

if TYPE_CHECKING:
    from driverci.emulator.ssh.context import CommandContext
    from driverci.emulator.state.journal import EmulatorState

log = logging.getLogger(__name__)

_COMMIT_RE = re.compile(r"^[0-9a-fA-F]{4,40}$")
_CHANGE_PATCH_SET_RE = re.compile(r"^[1-9][0-9]*,[1-9][0-9]*$")
_NOTIFY = ("NONE", "OWNER", "OWNER_REVIEWERS", "ALL")
_EXCLUSIVE = (
    ("abandon", "restore", "abandon and restore actions are mutually exclusive"),
    ("abandon", "submit", "abandon and submit actions are mutually exclusive"),
    ("json", "restore", "json and restore actions are mutually exclusive"),
    ("json", "submit", "json and submit actions are mutually exclusive"),
    ("json", "abandon", "json and abandon actions are mutually exclusive"),
)


def _spec() -> OptionSpec:
    values = {
        "--message": "message",
        "-m": "message",
        "--notify": "notify",
        "-n": "notify",
        "--tag": "tag",
        "-t": "tag",
        "--label": "label",
        "-l": "label",
        "--project": "project",
        "-p": "project",
        "--branch": "branch",
        "-b": "branch",
    }
    # Gerrit adds one option per label: --verified, --code-review, --workflow.
    values.update({f"--{label.lower()}": f"vote:{label}" for label in LABEL_VALUES})
    flags = {
        "--abandon": "abandon",
        "--restore": "restore",
        "--submit": "submit",
        "-s": "submit",
        "--json": "json",
        "-j": "json",
    }
    return OptionSpec(flags=flags, values=values, repeated={"label"})


async def run_review(ctx: CommandContext, args: list[str]) -> int:
    options, targets = parse_options(args, _spec())
    for first, second, message in _EXCLUSIVE:
        if options.flag(first) and options.flag(second):
            raise UsageError(message)
    if options.flag("json") and options.value("message") is not None:
        raise UsageError("json and message are mutually exclusive")
    if options.flag("json") and options.value("tag") is not None:
        raise UsageError("json and tag actions are mutually exclusive")
    notify = options.value("notify")
    if notify is not None and notify.upper() not in _NOTIFY:
        raise UsageError(f'"{notify}" is not a valid value for "--notify"')
    if not targets:
        raise UsageError('Argument "{COMMIT | CHANGE,PATCHSET}" is required')
    project = options.value("project")
    if project is not None and project not in ctx.state.projects:
        raise UsageError(f"'{project}': not a Gerrit project")
    patch_sets = [
        find_patch_set(ctx.state, token, project, options.value("branch")) for token in targets
    ]
    labels = _labels(options)
    review_input: dict[str, Any] | None = None
    if options.flag("json"):
        review_input = await _read_review_input(ctx)
        if review_input is None:
            return 1

    ok = True
    for change, patch_set in patch_sets:
        try:
            if review_input is not None:
                _apply_review_input(ctx, change, patch_set, review_input)
            else:
                _review_patch_set(ctx, change, patch_set, options, labels)
        except EmulatorError as exc:
            ok = False
            # Outside --json, Gerrit wraps the failure in die(), hence "error: fatal: ...".
            prefix = "" if review_input is not None else "fatal: "
            ctx.err(f"error: {prefix}{exc}\n")
            log.info("gerrit review of %d,%d refused: %s", change.number, patch_set.number, exc)
    if not ok:
        ctx.err("fatal: one or more reviews failed; review output above\n")
        return 1
    return 0


def find_patch_set(
    state: EmulatorState, token: str, project: str | None, branch: str | None
) -> tuple[Change, PatchSet]:
    """Resolve ``COMMIT`` (4-40 hex digits) or ``CHANGE,PATCHSET`` as ReviewCommand does."""

    def fits(change: Change) -> bool:
        return (project is None or change.project == project) and (
            branch is None or change.branch == branch
        )

    if _COMMIT_RE.match(token):
        prefix = token.lower()
        matches = [
            (change, ps)
            for change in state.changes.values()
            if fits(change)
            for ps in change.patch_sets
            if ps.revision.startswith(prefix)
        ]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise UsageError(f'"{token}" matches multiple patch sets')
        raise UsageError(f'"{token}" no such patch set')
    if _CHANGE_PATCH_SET_RE.match(token):
        number, ps_number = (int(part) for part in token.split(","))
        change = state.changes.get(number)
        patch_set = change.patch_set(ps_number) if change is not None else None
        if change is None or patch_set is None:
            raise UsageError(f'"{token}" no such patch set')
        if project is not None and change.project != project:
            raise UsageError(f"change {number} not in project {project}")
        if branch is not None and change.branch != branch:
            raise UsageError(f"change {number} not in branch {branch}")
        return change, patch_set
    raise UsageError(f'"{token}" is not a valid patch set')


def _labels(options: ParsedOptions) -> dict[str, int]:
    labels: dict[str, int] = {}
    for label in LABEL_VALUES:
        value = options.value(f"vote:{label}")
        if value is not None:
            labels[label] = _vote_value(value, f"--{label.lower()}")
    for token in options.all("label"):
        name, equals, value = token.partition("=")
        if not equals or not name:
            raise UsageError(f'"{token}" is not a valid value for "--label"')
        labels[name] = _vote_value(value, "--label")
    return labels


def _vote_value(text: str, option: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f'"{text}" is not a valid value for "{option}"') from None


def _review_patch_set(
    ctx: CommandContext,
    change: Change,
    patch_set: PatchSet,
    options: ParsedOptions,
    labels: dict[str, int],
) -> None:
    state = ctx.state
    message = options.value("message") or ""
    tag = options.value("tag") or None
    # As ReviewCommand: the message becomes the abandon/restore reason, not a comment.
    review_message = "" if options.flag("abandon") or options.flag("restore") else message
    if options.flag("restore"):
        state.restore_change(change, ctx.account, reason=message)
    if review_message or labels:
        state.post_review(change, patch_set, ctx.account, review_message, labels, tag)
    if options.flag("abandon"):
        state.abandon_change(change, ctx.account, reason=message)
    if options.flag("submit"):
        project = state.get_project(change.project)
        if not project.may_vote("Workflow", ctx.account):
            raise EmulatorError(403, "submit not permitted")
        state.merge_change(change, ctx.account)


async def _read_review_input(ctx: CommandContext) -> dict[str, Any] | None:
    raw = await ctx.read_stdin()
    try:
        review_input = json.loads(raw.decode("utf-8") or "{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        ctx.err(f"error: {exc}\nfatal: internal error while reading review input\n")
        return None
    if not isinstance(review_input, dict):
        ctx.err("error: ReviewInput must be a JSON object\n")
        ctx.err("fatal: internal error while reading review input\n")
        return None
    return review_input


def _apply_review_input(
    ctx: CommandContext, change: Change, patch_set: PatchSet, review_input: dict[str, Any]
) -> None:
    """POST .../review semantics for a ReviewInput read from stdin."""
    raw_labels = review_input.get("labels") or {}
    if not isinstance(raw_labels, dict):
        raise EmulatorError(400, "labels must be a JSON object")
    labels: dict[str, int] = {}
    for name, value in raw_labels.items():
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise EmulatorError(400, f'label "{name}": {value} is not a valid value')
        try:
            labels[str(name)] = int(value)
        except ValueError:
            raise EmulatorError(400, f'label "{name}": {value} is not a valid value') from None
    message = review_input.get("message") or ""
    tag = review_input.get("tag") or None
    if not isinstance(message, str) or (tag is not None and not isinstance(tag, str)):
        raise EmulatorError(400, "message and tag must be strings")
    ctx.state.post_review(change, patch_set, ctx.account, message, labels, tag)
