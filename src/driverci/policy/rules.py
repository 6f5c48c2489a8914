"""The rule logic behind the policy data, as plain functions the judge and the CI share.

Kept free of pydantic so the hot paths (one call per patch set, over a million in a year of
a large project) stay cheap: regexes are compiled once and reused.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

#: Placeholder in recheck patterns for the CI's display name or Gerrit account.
CI_PLACEHOLDER = "{ci}"

#: Suffix that names a CI by convention, also accepted without it in recheck comments.
_CI_SUFFIX = " CI"


def _utc(at: dt.datetime) -> dt.datetime:
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at.isoformat()}: pass a timezone-aware (UTC) value")
    return at.astimezone(dt.UTC)


def deadline_hours(deadlines: Sequence[tuple[dt.date, float]], at: dt.datetime) -> float:
    """Hours in force at ``at`` (UTC day) from ``(effective_from, hours)`` in date order.

    Before the first entry the first one applies; with no entry there is no deadline
    (``math.inf``), as in Cinder's rules.
    """
    if not deadlines:
        return math.inf
    day = _utc(at).date()
    hours = deadlines[0][1]
    for effective_from, entry_hours in deadlines:
        if effective_from <= day:
            hours = entry_hours
        else:
            break
    return hours


def branch_required(
    branch: str,
    branch_created: dt.datetime | None,
    ci_started: dt.date | None,
    *,
    always: Iterable[str],
    stable_pattern: str | None,
    only_if_created_after_start: bool,
    when_unknown: bool,
) -> bool:
    """The spec's branch rule: master, plus stable branches created since the CI began.

    "If a CI began testing during the Mitaka cycle, then during the N cycle that CI will be
    expected to test changes to the master and stable/mitaka branches, but not the
    stable/liberty branch."
    """
    if branch in always:
        return True
    if stable_pattern is None or not _compiled(stable_pattern).search(branch):
        return False
    if not only_if_created_after_start:
        return True
    if branch_created is None or ci_started is None:
        return when_unknown
    return _utc(branch_created).date() >= ci_started


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@lru_cache(maxsize=256)
def _combined(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{pattern})" for pattern in patterns))


class ExclusionMatcher:
    """Decides whether a patch set is excluded: ALL its files irrelevant.

    Gerrit's magic files (/COMMIT_MSG, /MERGE_LIST) are ignored; a patch set with no real
    file (an empty list, or only magic files) is not excluded, since nothing shows it
    cannot affect the driver.
    """

    def __init__(self, default_patterns: Sequence[str], ignored_files: Iterable[str]) -> None:
        self.default_patterns = tuple(default_patterns)
        self.ignored_files = frozenset(ignored_files)
        self._default = _combined(self.default_patterns)

    def irrelevant(self, path: str, extra_patterns: tuple[str, ...] = ()) -> bool:
        if self._default is not None and self._default.search(path):
            return True
        extra = _combined(extra_patterns)
        return extra is not None and extra.search(path) is not None

    def is_excluded(self, files: Iterable[str], extra_patterns: tuple[str, ...] = ()) -> bool:
        real = [path for path in files if path not in self.ignored_files]
        if not real:
            return False
        return all(self.irrelevant(path, extra_patterns) for path in real)


def ci_alternatives(ci_name: str, account: str | None) -> str:
    """A regex alternation matching a CI's display name, its name without " CI", or account."""
    names = [ci_name]
    if ci_name.endswith(_CI_SUFFIX):
        names.append(ci_name[: -len(_CI_SUFFIX)])
    if account:
        names.append(account)
    # Longest first, so "Acme CI" is preferred over "Acme" where both could match.
    unique = sorted(set(names), key=len, reverse=True)
    return "(?:" + "|".join(re.escape(name) for name in unique) + ")"


@lru_cache(maxsize=1024)
def _recheck_regexes(
    patterns: tuple[str, ...], ci_name: str, account: str | None
) -> tuple[re.Pattern[str], ...]:
    names = ci_alternatives(ci_name, account)
    return tuple(re.compile(pattern.replace(CI_PLACEHOLDER, names)) for pattern in patterns)


def recheck_regexes(
    patterns: Sequence[str], ci_name: str, account: str | None = None
) -> list[re.Pattern[str]]:
    """Compile recheck ``patterns`` for one CI (``{ci}`` replaced by its names)."""
    return list(_recheck_regexes(tuple(patterns), ci_name, account))
