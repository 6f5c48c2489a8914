"""How the judge's queries read the store: which messages are a project's CI results, and how
their datetimes are read fast (shared by :mod:`~driverci.audit.evaluate.load` and
:mod:`~driverci.audit.evaluate.links`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, type_coerce
from sqlalchemy.orm import Session

from driverci.store.models import Change, ReviewMessage

# What the parser makes of a CI's comment: a result, a comment it could not read, or another
# pipeline's report.
RESULT_STATUSES = ("result", "unparseable")
CI_COMMENT_STATUSES = (*RESULT_STATUSES, "ci_other")


def utc_column(session: Session, column: Any) -> tuple[Any, Callable[[Any], datetime]]:
    """``column`` (a UTCDateTime) to select, and how to turn each fetched value into an aware
    UTC datetime.

    On SQLite the stored text (naive UTC, ISO format) is read as is and parsed by
    :meth:`datetime.fromisoformat`: for a million rows the column type's per-row processing
    costs more than everything else done with the row. Other drivers return datetimes, which
    the column type already makes UTC.
    """
    if session.get_bind().dialect.name == "sqlite":
        # The offset is appended by SQLite (in C), so parsing gives the UTC singleton directly.
        return type_coerce(column, String()).concat("+00:00"), datetime.fromisoformat
    return column, _unchanged


def utc_from_sqlite_text(value: str) -> datetime:
    # Parsing the offset gives the UTC singleton in C: far cheaper than a replace() call.
    return datetime.fromisoformat(value + "+00:00")


def _unchanged(value: datetime) -> datetime:
    return value


def project_results(project: str, until: datetime) -> tuple[ColumnElement[bool], ...]:
    """What makes a stored message (joined with its change) one of the project's CI results
    posted before ``until``: the judge's results, and the comments its probes may belong to."""
    return (
        Change.project == project,
        ReviewMessage.parse_status.in_(RESULT_STATUSES),
        ReviewMessage.date < until,
        ReviewMessage.ci_account.is_not(None),
        ReviewMessage.patch_set_number.is_not(None),
    )
