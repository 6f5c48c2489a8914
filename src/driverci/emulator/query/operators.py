"""The operators of Gerrit's change search language, each compiled into a predicate.

Used by :mod:`driverci.emulator.query.search`; every operator gets the :class:`QueryContext` (state,
viewer, the ``limit:`` seen so far) and the operator's unquoted value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

from driverci.emulator.state.journal import EmulatorError, EmulatorState
from driverci.emulator.state.model import Account, Change

Predicate = Callable[[Change], bool]

_DATE_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r"(?:\s*([+-])(\d{2}):?(\d{2}))?$"
)
_AGE_RE = re.compile(r"^(\d+)\s*([a-z]+)$")
_AGE_UNIT_NAMES: tuple[tuple[tuple[str, ...], int], ...] = (
    (("s", "sec", "secs", "second", "seconds"), 1),
    (("m", "min", "mins", "minute", "minutes"), 60),
    (("h", "hr", "hrs", "hour", "hours"), 3600),
    (("d", "day", "days"), 86400),
    (("w", "week", "weeks"), 7 * 86400),
    (("mon", "mons", "month", "months"), 30 * 86400),
    (("y", "year", "years"), 365 * 86400),
)
_AGE_UNITS = {name: seconds for names, seconds in _AGE_UNIT_NAMES for name in names}
_LABEL_RE = re.compile(r"^([A-Za-z0-9_-]+?)(<=|>=|=|<|>)?([+-]?\d+)$")


def parse_timestamp(text: str) -> datetime:
    """``2006-01-02[ 15:04:05[.890][ -0700]]``, UTC unless an offset is given."""
    match = _DATE_RE.match(text.strip())
    if match is None:
        raise EmulatorError(400, f"Invalid date/time format: {text}")
    year, month, day, hour, minute, second, frac, sign, off_h, off_m = match.groups()
    tz = UTC
    if sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        tz = timezone(-offset if sign == "-" else offset)
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((frac or "0").ljust(6, "0")[:6]),
            tzinfo=tz,
        )
    except ValueError as exc:
        raise EmulatorError(400, f"Invalid date/time format: {text}") from exc
    return moment.astimezone(UTC)


def parse_age(text: str) -> timedelta:
    match = _AGE_RE.match(text.strip().lower())
    if match is None or match.group(2) not in _AGE_UNITS:
        raise EmulatorError(400, f"Invalid age: {text}")
    return timedelta(seconds=int(match.group(1)) * _AGE_UNITS[match.group(2)])


class QueryContext:
    """What operators need: the state, who is asking (for ``self``) and the ``limit:``."""

    def __init__(self, state: EmulatorState, viewer: Account | None) -> None:
        self.state = state
        self.viewer = viewer
        self.limit: int | None = None

    def accounts(self, who: str) -> set[int]:
        """USER: ``self``, account id, username, email, full name or ``Name <email>``."""
        if who == "self":
            if self.viewer is None:
                raise EmulatorError(400, "Resolving account 'self' requires login")
            return {self.viewer.account_id}
        if who.isdigit() and int(who) in self.state.accounts:
            return {int(who)}
        by_username = self.state.account_by_username(who)
        if by_username is not None:
            return {by_username.account_id}
        folded = who.casefold()
        email_in_brackets = re.match(r"^.*<([^>]+)>$", who)
        if email_in_brackets:
            folded = email_in_brackets.group(1).casefold()
        found = {
            account.account_id
            for account in self.state.accounts.values()
            if folded in ((account.email or "").casefold(), account.name.casefold())
        }
        if not found:
            raise EmulatorError(400, f"Account '{who}' not found")
        return found


Operator = Callable[[QueryContext, str], Predicate]


def _regex(value: str) -> re.Pattern[str]:
    try:
        return re.compile(value)
    except re.error as exc:
        raise EmulatorError(400, f"Invalid regular expression: {value} ({exc})") from exc


def _op_project(context: QueryContext, value: str) -> Predicate:
    if value.startswith("^"):
        pattern = _regex(value)
        return lambda change: pattern.fullmatch(change.project) is not None
    return lambda change: change.project == value


def _op_branch(context: QueryContext, value: str) -> Predicate:
    short = value.removeprefix("refs/heads/")
    if short.startswith("^"):
        pattern = _regex(short)
        return lambda change: pattern.fullmatch(change.branch) is not None
    return lambda change: change.branch == short


_STATUS_SETS: dict[str, frozenset[str]] = {
    "open": frozenset({"NEW"}),
    "pending": frozenset({"NEW"}),
    "new": frozenset({"NEW"}),
    "merged": frozenset({"MERGED"}),
    "abandoned": frozenset({"ABANDONED"}),
    "closed": frozenset({"MERGED", "ABANDONED"}),
}


def _op_status(context: QueryContext, value: str) -> Predicate:
    wanted = _STATUS_SETS.get(value.lower())
    if wanted is None:
        raise EmulatorError(400, f"Unrecognized value: {value}")
    return lambda change: change.status in wanted


def _op_is(context: QueryContext, value: str) -> Predicate:
    lowered = value.lower()
    if lowered in _STATUS_SETS:
        return _op_status(context, lowered)
    if lowered == "wip":
        return lambda change: change.wip
    if lowered == "submitted":
        return lambda change: change.submitted is not None
    if lowered in ("owner", "reviewer", "cc"):
        ids = context.accounts("self")
        key = {"owner": _op_owner, "reviewer": _op_reviewer, "cc": _op_cc}[lowered]
        return key(context, str(next(iter(ids))))
    raise EmulatorError(400, f"Unrecognized value: {value}")


def _op_after(context: QueryContext, value: str) -> Predicate:
    moment = parse_timestamp(value)
    return lambda change: change.updated >= moment


def _op_before(context: QueryContext, value: str) -> Predicate:
    moment = parse_timestamp(value)
    return lambda change: change.updated <= moment


def _op_merged_after(context: QueryContext, value: str) -> Predicate:
    moment = parse_timestamp(value)
    return lambda change: change.submitted is not None and change.submitted >= moment


def _op_merged_before(context: QueryContext, value: str) -> Predicate:
    moment = parse_timestamp(value)
    return lambda change: change.submitted is not None and change.submitted <= moment


def _op_age(context: QueryContext, value: str) -> Predicate:
    # age:2d means "last updated at least two days ago"; -age:2d the opposite.
    cutoff = context.state.now() - parse_age(value)
    return lambda change: change.updated <= cutoff


def _op_change(context: QueryContext, value: str) -> Predicate:
    if value.isdigit():
        number = int(value)
        return lambda change: change.number == number
    if "~" in value:
        try:
            target = context.state.find_change(value).number
        except EmulatorError:
            return lambda change: False
        return lambda change: change.number == target
    if not value.startswith("I"):
        raise EmulatorError(400, f"Invalid change id: {value}")
    return lambda change: change.change_id.startswith(value)


def _op_commit(context: QueryContext, value: str) -> Predicate:
    return lambda change: any(ps.revision.startswith(value) for ps in change.patch_sets)


def _op_owner(context: QueryContext, value: str) -> Predicate:
    ids = context.accounts(value)
    return lambda change: change.owner_id in ids


def _op_uploader(context: QueryContext, value: str) -> Predicate:
    ids = context.accounts(value)
    return lambda change: change.current.uploader_id in ids


def _op_reviewer(context: QueryContext, value: str) -> Predicate:
    ids = context.accounts(value)
    return lambda change: not ids.isdisjoint(change.reviewer_ids)


def _op_cc(context: QueryContext, value: str) -> Predicate:
    ids = context.accounts(value)
    return lambda change: not ids.isdisjoint(change.cc_ids)


def _op_commentby(context: QueryContext, value: str) -> Predicate:
    ids = context.accounts(value)
    return lambda change: not ids.isdisjoint(change.commenter_ids)


def _op_reviewedby(context: QueryContext, value: str) -> Predicate:
    # Gerrit: USER commented after the owner's last update (new patch set), USER not owner.
    ids = context.accounts(value)

    def reviewed(change: Change) -> bool:
        since = change.current.created
        return any(
            m.author_id in ids and m.author_id != change.owner_id and m.date > since
            for m in change.messages
        )

    return reviewed


def _op_label(context: QueryContext, value: str) -> Predicate:
    spec, _, user_part = value.partition(",")
    match = _LABEL_RE.match(spec)
    if match is None:
        raise EmulatorError(400, f"Invalid label query: {value}")
    label, comparison, number = match.group(1), match.group(2) or "=", int(match.group(3))
    ids: set[int] | None = None
    if user_part:
        key, eq, who = user_part.partition("=")
        if eq and key not in ("user", "owner"):
            raise EmulatorError(400, f"Unsupported label argument: {user_part}")
        ids = context.accounts(who if eq else key)
    compare: Callable[[int], bool] = {
        "=": lambda v: v == number,
        ">=": lambda v: v >= number,
        "<=": lambda v: v <= number,
        ">": lambda v: v > number,
        "<": lambda v: v < number,
    }[comparison]
    label_folded = label.casefold()

    def voted(change: Change) -> bool:
        votes = [
            a.value
            for (name, account_id), a in change.approvals.items()
            if name.casefold() == label_folded and (ids is None or account_id in ids)
        ]
        nonzero = [v for v in votes if v != 0]
        if number == 0 and comparison == "=":
            return not nonzero
        return any(compare(v) for v in nonzero)

    return voted


def _op_message(context: QueryContext, value: str) -> Predicate:
    needle = value.casefold()
    return lambda change: needle in change.current.commit_message.casefold()


def _op_comment(context: QueryContext, value: str) -> Predicate:
    needle = value.casefold()
    return lambda change: any(needle in m.message.casefold() for m in change.messages)


def _op_file(context: QueryContext, value: str) -> Predicate:
    if value.startswith("^"):
        pattern = _regex(value)
        return lambda change: any(pattern.fullmatch(f.path) for f in change.current.files)

    def touches(change: Change) -> bool:
        for f in change.current.files:
            path = f.path
            if path == value or path.startswith(value + "/") or f"/{value}" in f"/{path}":
                return True
        return False

    return touches


def _op_topic(context: QueryContext, value: str) -> Predicate:
    return lambda change: change.topic == value


def _op_hashtag(context: QueryContext, value: str) -> Predicate:
    folded = value.casefold().lstrip("#")
    return lambda change: any(tag.casefold() == folded for tag in change.hashtags)


def _op_limit(context: QueryContext, value: str) -> Predicate:
    if not value.isdigit() or int(value) < 1:
        raise EmulatorError(400, f"Invalid limit: {value}")
    context.limit = int(value) if context.limit is None else min(context.limit, int(value))
    return lambda change: True


OPERATORS: dict[str, Operator] = {
    "project": _op_project,
    "p": _op_project,
    "branch": _op_branch,
    "status": _op_status,
    "is": _op_is,
    "after": _op_after,
    "since": _op_after,
    "before": _op_before,
    "until": _op_before,
    "mergedafter": _op_merged_after,
    "mergedbefore": _op_merged_before,
    "age": _op_age,
    "change": _op_change,
    "commit": _op_commit,
    "owner": _op_owner,
    "o": _op_owner,
    "uploader": _op_uploader,
    "reviewer": _op_reviewer,
    "r": _op_reviewer,
    "cc": _op_cc,
    "commentby": _op_commentby,
    "reviewedby": _op_reviewedby,
    "label": _op_label,
    "l": _op_label,
    "message": _op_message,
    "comment": _op_comment,
    "file": _op_file,
    "f": _op_file,
    "topic": _op_topic,
    "hashtag": _op_hashtag,
    "limit": _op_limit,
}
