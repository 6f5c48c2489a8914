"""The registry's schema: drivers in tree, the CI systems that test them, and their contacts.

Field names follow registry.yaml. Cross-checks that need the whole file (unique names,
every CI's drivers exist) live in :mod:`driverci.registry.loader` so their errors can name
the YAML line.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cached_property
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DriverStatus = Literal["supported", "deprecated", "removed"]
HistoryEventKind = Literal["added", "deprecated", "removed", "reinstated", "moved"]
CIKind = Literal["upstream", "third-party"]
#: A driver kind's name: lower case, digits and dashes ("ml2-mechanism", "volume").
KindName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]

#: The suffix infra's comment parsers (hideci.js, ciwatch) rely on to recognise a CI. Infra
#: asks it of new accounts; older ones ("Mellanox External Testing", "VMware Mine Sweeper")
#: never had it, so the loader warns about a name without it instead of refusing the file.
CI_NAME_SUFFIX = " CI"

#: Ironic's driver kinds: the default of ``Registry.driver_kinds``. Another project lists its
#: own (Neutron's ML2 mechanism drivers and plugins, Cinder's volume drivers, Nova's virt
#: drivers...).
IRONIC_DRIVER_KINDS = ("hardware-type", "classic")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_regex(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as err:
            raise ValueError(f"invalid regular expression {value!r}: {err}") from None
    return value


def _one_or_many(value: object) -> object:
    """A pattern field takes one regex or a list of them (DriverLog keeps one per driver)."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else value


def _check_regexes(values: list[str]) -> list[str]:
    for value in values:
        _check_regex(value)
    return values


def _check_recheck_regexes(values: list[str]) -> list[str]:
    for value in _check_regexes(values):
        # A bare "recheck" asks every CI; a CI's own pattern must not claim it.
        if re.search(value, "recheck", re.IGNORECASE):
            raise ValueError(f"{value!r} matches a bare 'recheck', which asks every CI")
    return values


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a path glob: ``**`` spans directories, ``*`` and ``?`` stay within one."""
    out = ""
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out += "(?:.*/)?"
            index += 3
        elif pattern.startswith("**", index):
            out += ".*"
            index += 2
        elif pattern[index] == "*":
            out += "[^/]*"
            index += 1
        elif pattern[index] == "?":
            out += "[^/]"
            index += 1
        else:
            out += re.escape(pattern[index])
            index += 1
    return re.compile(out + r"\Z")


class Contact(_Strict):
    name: str
    email: str | None = None
    irc: str | None = None
    launchpad_id: str | None = None


class HistoryEvent(_Strict):
    """One step of a driver's life, as Ironic's commits and release notes record it."""

    date: dt.date
    event: HistoryEventKind
    release: str | None = None
    reason: str | None = None
    commit: str | None = None
    release_note: str | None = None


class Driver(_Strict):
    name: str = Field(min_length=1)
    #: One of the registry's ``driver_kinds`` (checked by the loader, which names the line).
    kind: str = Field(min_length=1)
    description: str | None = None
    interfaces: list[str] = Field(default_factory=list)
    #: Globs of repository paths that belong to this driver (``**`` spans directories).
    source_paths: list[str] = Field(default_factory=list)
    #: Vendor name, or "community".
    maintainer: str
    contacts: list[Contact] = Field(default_factory=list)
    status: DriverStatus
    deprecated_in: str | None = None
    removed_in: str | None = None
    new_location: str | None = None
    history: list[HistoryEvent] = Field(default_factory=list)

    @model_validator(mode="after")
    def _status_has_release(self) -> Driver:
        if self.status == "removed" and self.removed_in is None:
            raise ValueError("status 'removed' needs removed_in (the release)")
        if self.status == "deprecated" and self.deprecated_in is None:
            raise ValueError("status 'deprecated' needs deprecated_in (the release)")
        return self

    @cached_property
    def _path_regexes(self) -> tuple[tuple[str, re.Pattern[str]], ...]:
        return tuple((glob, _glob_regex(glob)) for glob in self.source_paths)

    def matching_source_path(self, path: str) -> str | None:
        """The longest of this driver's globs matching ``path`` (None when none does)."""
        hits = [glob for glob, regex in self._path_regexes if regex.match(path.lstrip("/"))]
        return max(hits, key=len) if hits else None


class ApprovedExclusion(_Strict):
    """A file pattern the Ironic team approved as irrelevant for one CI."""

    pattern: str
    approved_by: str
    date: dt.date
    reason: str | None = None

    _pattern_ok = field_validator("pattern")(_check_regex)


class Voting(_Strict):
    allowed: bool = False
    approved_by: str | None = None
    date: dt.date | None = None
    reference: str | None = None

    @model_validator(mode="after")
    def _approval_recorded(self) -> Voting:
        if self.allowed and (self.approved_by is None or self.date is None):
            raise ValueError("voting allowed needs approved_by and date")
        return self


class Note(_Strict):
    """A contact's answer or another remark, recorded with who wrote it down and when."""

    date: dt.date
    by: str = Field(min_length=1)
    text: str = Field(min_length=1)
    contact: str | None = None


class CISystem(_Strict):
    """A Gerrit account that reports test results, upstream (Zuul) or third-party."""

    account: str = Field(min_length=1)
    account_id: int | None = None
    kind: CIKind = "third-party"
    #: The account's display name. Infra's rule for new accounts wants it to end in " CI";
    #: older names do not, so a name without it is a warning (see ``naming_warnings``).
    name: str = Field(min_length=1)
    wiki: str | None = None
    contacts: list[Contact] = Field(default_factory=list)
    drivers: list[str] = Field(default_factory=list)
    #: The day it began testing; None when not known (then every branch rule treats it as old).
    started: dt.date | None = None
    stopped: dt.date | None = None
    approved_exclusions: list[ApprovedExclusion] = Field(default_factory=list)
    voting: Voting = Field(default_factory=Voting)
    #: Answers from its contacts and other remarks (the dashboard's admin actions append here).
    notes: list[Note] = Field(default_factory=list)
    #: Regexes (one, or a list: DriverLog keeps a pair per driver) that read its result,
    #: case-insensitive; an explicit "Build succeeded/failed" in a comment wins over them.
    success_pattern: list[str] = Field(default_factory=list)
    failure_pattern: list[str] = Field(default_factory=list)
    #: Its own recheck syntax (regexes searched after the "Patch Set N:" line, e.g.
    #: ``^check hyper-v``): a comment matching one asks this CI only.
    recheck_pattern: list[str] = Field(default_factory=list)
    #: The account it used on the sandbox project, when different from ``account``.
    sandbox_account: str | None = None

    _patterns_listed = field_validator(
        "success_pattern", "failure_pattern", "recheck_pattern", mode="before"
    )(_one_or_many)
    _patterns_ok = field_validator("success_pattern", "failure_pattern")(_check_regexes)
    _recheck_ok = field_validator("recheck_pattern")(_check_recheck_regexes)

    @model_validator(mode="after")
    def _dates_in_order(self) -> CISystem:
        if self.stopped is not None and self.started is not None and self.stopped < self.started:
            raise ValueError("stopped is before started")
        return self

    def active_on(self, day: dt.date) -> bool:
        """True when the CI had started (or start is unknown) and not yet stopped on ``day``."""
        started_ok = self.started is None or self.started <= day
        return started_ok and (self.stopped is None or day < self.stopped)

    @property
    def exclusion_patterns(self) -> tuple[str, ...]:
        return tuple(item.pattern for item in self.approved_exclusions)


class Registry(_Strict):
    """The whole registry: the project, its drivers and the CI systems that test them."""

    project: str = "openstack/ironic"
    sandbox_project: str = "opendev/ci-sandbox"
    #: The kinds of driver this project has; every driver's ``kind`` must be one of them.
    driver_kinds: list[KindName] = Field(
        default_factory=lambda: list(IRONIC_DRIVER_KINDS), min_length=1
    )
    #: When each stable branch was cut (UTC day); the branch rule needs it. Branches not
    #: listed fall back to the day the judge first saw a change on them.
    branch_created: dict[str, dt.date] = Field(default_factory=dict)
    drivers: list[Driver] = Field(default_factory=list)
    ci_systems: list[CISystem] = Field(default_factory=list)

    def driver(self, name: str) -> Driver | None:
        return next((item for item in self.drivers if item.name == name), None)

    def ci_by_account(self, account: str | int) -> CISystem | None:
        """The CI whose Gerrit username, sandbox username or numeric account id is ``account``.

        A string of digits is tried as an account id too (Gerrit payloads carry ids as ints
        in 3.x and as strings in 2.x).
        """
        account_id = account if isinstance(account, int) else None
        if isinstance(account, str) and account.isdigit():
            account_id = int(account)
        for ci in self.ci_systems:
            if account_id is not None and ci.account_id == account_id:
                return ci
            if isinstance(account, str) and account in (ci.account, ci.sandbox_account):
                return ci
        return None

    def is_unregistered(self, account: str) -> bool:
        """True when no CI of the registry posts as ``account``."""
        return self.ci_by_account(account) is None

    def ci_by_name(self, name: str) -> CISystem | None:
        """The CI with this display name (a fallback when a payload lacks the username)."""
        return next((ci for ci in self.ci_systems if ci.name == name), None)

    def ci_for_driver(self, name: str, *, active_on: dt.date | None = None) -> list[CISystem]:
        """CI systems that test driver ``name`` (only those active on ``active_on`` if given)."""
        return [
            ci
            for ci in self.ci_systems
            if name in ci.drivers and (active_on is None or ci.active_on(active_on))
        ]

    def drivers_by_status(self) -> dict[DriverStatus, list[Driver]]:
        """Drivers grouped by status, every status present (possibly with an empty list)."""
        grouped: dict[DriverStatus, list[Driver]] = {
            "supported": [],
            "deprecated": [],
            "removed": [],
        }
        for item in self.drivers:
            grouped[item.status].append(item)
        return grouped

    def driver_for_path(self, path: str, *, include_removed: bool = False) -> Driver | None:
        """The driver a repository path belongs to, by the most specific matching glob.

        Removed drivers are skipped unless ``include_removed`` (their paths left the tree).
        """
        best: tuple[int, Driver] | None = None
        for item in self.drivers:
            if item.status == "removed" and not include_removed:
                continue
            glob = item.matching_source_path(path)
            if glob is not None and (best is None or len(glob) > best[0]):
                best = (len(glob), item)
        return best[1] if best else None
