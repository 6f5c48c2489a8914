r"""Human requests to run CI again: ``recheck``, ``<ci>: recheck``, ``run-<CI name>``.

Upstream Zuul's trigger, ``(?i)^(Patch Set [0-9]+:)?( [\w\\+-]*)*(\n\n)?\s*(recheck|reverify)``,
wants the body (after the "Patch Set N: votes" line) to start with the word. The same start rule
applies to the 2013-2014 forms ``recheck bug 123`` / ``recheck no bug``, to the namespaced
``myvendor: recheck`` of infra's third-party example config, and to Cinder's
``run-<CI Name>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from driverci.audit.parse.header import split_header

__all__ = ["RecheckRequest", "is_recheck", "normalize_ci_name"]

_PLAIN = re.compile(r"\s*(?:recheck|reverify)(?!\w)", re.IGNORECASE)
_NAMESPACED = re.compile(r"\s*(?P<target>[^\s:][^:\n]{0,79}?)\s*:\s*recheck(?!\w)", re.IGNORECASE)
_RUN = re.compile(r"\s*run-(?P<target>[^\n]{1,80}?)\s*(?:\n|$)", re.IGNORECASE)
_NAME_SEPARATORS = re.compile(r"[\s_\-.]+")


@dataclass(frozen=True, slots=True)
class RecheckRequest:
    """A request to rerun CI: every system (``recheck``) or one (``target`` names it)."""

    all_systems: bool
    #: The CI asked for, as given in ``ci_names`` (or as written when no names were given).
    target: str | None = None


def normalize_ci_name(name: str) -> str:
    """Fold case and separators so "run-IBM-DB2-CI" finds "IBM DB2 CI"."""
    return _NAME_SEPARATORS.sub("-", name.strip()).strip("-").lower()


def _resolve(written: str, ci_names: Iterable[str]) -> RecheckRequest | None:
    names = tuple(ci_names)
    if not names:
        return RecheckRequest(all_systems=False, target=written.strip())
    wanted = normalize_ci_name(written)
    for name in names:
        if normalize_ci_name(name) == wanted:
            return RecheckRequest(all_systems=False, target=name)
    return None


def is_recheck(text: str, ci_names: Iterable[str] = ()) -> RecheckRequest | None:
    """The rerun ``text`` asks for, or None.

    ``ci_names`` are the names a CI answers to (its recheck namespace, display name, account);
    when given, ``<name>: recheck`` and ``run-<name>`` only count for those names.
    """
    # Fast reject: every accepted form contains "recheck", "reverify" or "run-".
    lowered = text.lower()
    if "recheck" not in lowered and "reverify" not in lowered and "run-" not in lowered:
        return None
    body = text[split_header(text).body_start :]
    if _PLAIN.match(body) is not None:
        return RecheckRequest(all_systems=True)
    namespaced = _NAMESPACED.match(body)
    if namespaced is not None:
        return _resolve(namespaced.group("target"), ci_names)
    run = _RUN.match(body)
    if run is not None:
        return _resolve(run.group("target"), ci_names)
    return None
