"""The facts the judge evaluates: plain, immutable records loaded from the store.

Evaluation is a pure function of these (see :mod:`driverci.audit.evaluate.criteria`), so every
figure can be explained down to the patch sets and comments behind it, and tests can
build facts directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple


def first_link(job_urls: str | None) -> str | None:
    """The first of a comment's result links, stored one per line (``job_urls``): the one the
    judge probes and the dashboard links to."""
    return job_urls.split("\n", 1)[0] if job_urls else None


@dataclass(frozen=True, slots=True)
class PatchSetFact:
    project: str
    branch: str
    change: int
    patch_set: int
    revision: str
    created: datetime
    files: tuple[str, ...]
    # True when this patch set is the one its change merged with ("merged unchanged").
    merged_as_is: bool = False

    @property
    def key(self) -> tuple[int, int]:
        return (self.change, self.patch_set)


class ResultFact(NamedTuple):
    """One CI comment that reports (or tries to report) a result.

    A named tuple rather than a dataclass: a year holds a million of them, and a tuple is
    built in C (a frozen dataclass sets each field through ``object.__setattr__``).
    """

    account: str
    change: int
    patch_set: int
    posted: datetime
    result: str  # SUCCESS, FAILURE or UNKNOWN
    parseable: bool = True
    all_jobs_failed: bool = False  # every job failed: could not even install or import
    #: The comment in the store (``review_messages.id``): its links are read from there when
    #: asked (a year's links would be a quarter of the judge's memory), 0 when not stored.
    message_pk: int = 0


@dataclass(frozen=True, slots=True)
class RecheckFact:
    """A person asked for a rerun: all CIs (target None) or one by name."""

    change: int
    patch_set: int
    posted: datetime
    target: str | None = None


@dataclass(frozen=True, slots=True)
class ProbeFact:
    """What the judge found when it fetched one result link."""

    url: str
    checked_at: datetime
    posted: datetime  # when the comment carrying the link was posted
    available: bool
    standard: bool
    change: int = 0
    patch_set: int = 0
    manifest_revision: str | None = None
    manifest_driver: str | None = None
    missing: tuple[str, ...] = ()
    account: str = ""  # the CI whose comment posted the link


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime

    def __contains__(self, moment: datetime) -> bool:
        return self.start <= moment < self.end
