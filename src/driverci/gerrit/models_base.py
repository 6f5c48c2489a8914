"""Shared pieces of the Gerrit models: the base class, timestamps, and JSON framing.

Gerrit writes two time formats: REST uses ``"2013-03-23 21:34:02.419000000"`` (UTC, nine
fractional digits) and the stream / ``gerrit query`` attributes use epoch seconds. Both become
timezone-aware UTC datetimes here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, overload

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from driverci.errors import PayloadError

# The first line of every Gerrit REST JSON body (RestApiServlet.JSON_MAGIC), against XSSI.
JSON_MAGIC = ")]}'"
_JSON_MAGIC_BYTES = JSON_MAGIC.encode()


class GerritModel(BaseModel):
    """Base of every Gerrit wire model: unknown fields are ignored, wire and Python names work."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


def _as_utc(value: datetime) -> datetime:
    """After pydantic's own parsing (in Rust, both Gerrit formats): naive means UTC, and a zero
    offset is the standard library's ``UTC`` (pydantic gives epoch seconds its own zone)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    if value.tzinfo is not UTC and value.utcoffset() == _ZERO:
        return value.replace(tzinfo=UTC)
    return value


_ZERO = timedelta(0)

GerritTime = Annotated[datetime, AfterValidator(_as_utc)]
"""A timestamp field accepting both Gerrit time formats; always an aware UTC datetime."""


def format_gerrit_timestamp(moment: datetime) -> str:
    """Render a datetime the way Gerrit's REST API does: ``2013-03-23 21:34:02.419000000``."""
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%d %H:%M:%S}.{utc.microsecond:06d}000"


def format_query_time(moment: datetime) -> str:
    """Render a datetime for Gerrit's ``after:``/``before:`` operators (UTC, whole seconds)."""
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}"


@overload
def strip_json_magic(body: str) -> str: ...
@overload
def strip_json_magic(body: bytes) -> bytes: ...
def strip_json_magic(body: str | bytes) -> str | bytes:
    """Drop Gerrit's ``)]}'`` first line if present; the rest is untouched JSON text."""
    if isinstance(body, bytes):
        return body.partition(b"\n")[2] if body.startswith(_JSON_MAGIC_BYTES) else body
    return body.partition("\n")[2] if body.startswith(JSON_MAGIC) else body


def load_rest_json(body: str | bytes, where: str) -> Any:
    """Parse a Gerrit REST body (with or without the magic line); PayloadError names ``where``."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    try:
        return json.loads(strip_json_magic(text))
    except json.JSONDecodeError as exc:
        raise PayloadError(f"{where}: invalid JSON: {exc}") from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line for the first problem pydantic found: ``field change: Field required``."""
    first = exc.errors(include_url=False)[0]
    location = ".".join(str(part) for part in first["loc"]) or "(top level)"
    more = exc.error_count() - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"field {location}: {first['msg']}{suffix}"
