"""Parse a CI's review message: patch set, votes, pipeline, overall result, job lines, kind.

The overall result comes from, in order: the CI's own success/failure regexes (DriverLog's
``success_pattern``/``failure_pattern``, tried line by line, success first), the status line
("Build succeeded (check pipeline).", "Build Failed", "Merge Failed."), the job lines (Zuul's
rule: any voting job other than SUCCESS/SKIPPED fails), and last the Verified vote.
A message that looks like a report but yields no result is ``is_parseable=False``: the judge
counts it, never drops it. Pure functions; the regexes are module constants.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Literal

from driverci.audit.parse.attribution import (
    CiAttributor,
    CiIdentity,
    attribute_author,
    looks_like_ci,
)
from driverci.audit.parse.header import MessageHeader, split_header
from driverci.audit.parse.jobs import (
    KNOWN_JOB_RESULTS,
    JobResult,
    extract_jobs,
    format_duration,
    overall_from_jobs,
    parse_duration,
    render_infra_job_line,
    render_zuul_job_line,
)
from driverci.audit.parse.recheck import RecheckRequest, is_recheck, normalize_ci_name
from driverci.errors import ConfigError

__all__ = [
    "KNOWN_JOB_RESULTS",
    "CiAttributor",
    "CiIdentity",
    "CommentKind",
    "JobResult",
    "MessageHeader",
    "OverallResult",
    "ParsedComment",
    "RecheckRequest",
    "ResultSource",
    "attribute_author",
    "compile_ci_pattern",
    "extract_jobs",
    "format_duration",
    "infer_pipeline",
    "is_recheck",
    "looks_like_ci",
    "normalize_ci_name",
    "overall_from_jobs",
    "parse_ci_message",
    "parse_duration",
    "render_infra_job_line",
    "render_zuul_job_line",
    "split_header",
]

OverallResult = Literal["SUCCESS", "FAILURE", "UNKNOWN"]
#: "canceled" is Zuul's dequeue report ("Build canceled"): neither a result nor a start.
CommentKind = Literal["result", "start", "merge_failure", "canceled", "recheck", "other"]
ResultSource = Literal["pattern", "header", "jobs", "vote", "none"]

_BUILD_STATUS = re.compile(r"^[ \t*>]*Build (\w+)", re.MULTILINE)
_STATUS_WORDS: dict[str, str] = {
    "succeeded": "SUCCESS",
    "successful": "SUCCESS",
    "success": "SUCCESS",
    "succeed": "SUCCESS",
    "passed": "SUCCESS",
    "failed": "FAILURE",
    "failure": "FAILURE",
    "unstable": "FAILURE",
    "canceled": "canceled",
    "cancelled": "canceled",
    "aborted": "canceled",
    "started": "start",
    "starting": "start",
}
_MERGE_FAILURE = re.compile(
    r"^[ \t]*Merge Failed\b|unable to be automatically merged|depends on a change that failed "
    r"to merge",
    re.MULTILINE | re.IGNORECASE,
)
_STARTING = re.compile(r"^[ \t]*Starting \S+ jobs\b", re.MULTILINE)
_PIPELINE = re.compile(r"\(([-\w]+) pipeline\)")
_STARTING_PIPELINE = re.compile(r"^[ \t]*Starting ([a-z][-\w]*) jobs\b", re.MULTILINE)
#: infra's log layout: /<last 2 digits>/<change>/<patch set>/<pipeline>/<job>/...
_LOG_PATH_PIPELINE = re.compile(r"/\d{2}/\d+/\d+/(check|gate|post|periodic|experimental)[-\w]*/")
_WIKI_LINK = re.compile(r"https?://[^\s<>\"'()\[\]]*wiki[^\s<>\"'()\[\]]*", re.IGNORECASE)
_LINK_TRAILING = ".,;:!?"
_REPORT_WORDS = re.compile(
    r"\b(?:success\w*|succeed\w*|fail\w*|pass(?:ed)?|error|build|tests?|results?|logs?)\b",
    re.IGNORECASE,
)
# Gerrit 2.4's category id for Verified is VRIF.
_VERIFIED_LABELS = ("Verified", "VRIF")


@dataclass(frozen=True, slots=True)
class ParsedComment:
    """What one CI review message says."""

    patch_set: int | None
    votes: dict[str, int]
    pipeline: str | None
    result: OverallResult
    jobs: tuple[JobResult, ...]
    kind: CommentKind
    #: False when the message looks like a CI report but no result could be read from it.
    is_parseable: bool
    #: Which rule decided ``result`` (explains a figure down to the message).
    result_source: ResultSource
    #: The message after its "Patch Set N:" header line.
    body: str = field(default="", repr=False)

    @property
    def wiki_links(self) -> tuple[str, ...]:
        """Links to the CI's wiki page in the message (found when asked: ingest never asks)."""
        return _wiki_links(self.body)

    @property
    def is_report(self) -> bool:
        return self.kind == "result"


def infer_pipeline(
    body: str, votes: dict[str, int], jobs: tuple[JobResult, ...]
) -> str | None:
    """Which Zuul pipeline a report or start message is from, or None when nothing says.

    In order: Zuul v3+'s "(gate pipeline)"; a start message's "Starting gate jobs."; infra's
    log path ``/<NN>/<change>/<patch set>/<pipeline>/<job>/`` in a job's URL (Zuul v2 wrote no
    pipeline name, and its gate reports were told from check ones only so); last, a
    ``Verified+2`` vote, which only upstream's gate casts.
    """
    if "pipeline)" in body and (named := _PIPELINE.search(body)) is not None:
        return named.group(1)
    if "Starting" in body and (starting := _STARTING_PIPELINE.search(body)) is not None:
        return starting.group(1)
    for job in jobs:
        if job.url and (path := _LOG_PATH_PIPELINE.search(job.url)) is not None:
            return path.group(1)
    if votes.get("Verified", 0) >= 2:
        return "gate"
    return None


@functools.lru_cache(maxsize=512)
def compile_ci_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a registry success/failure regex once; ConfigError names a bad one."""
    try:
        return re.compile(pattern)
    except re.error as error:
        raise ConfigError(f"invalid CI result pattern {pattern!r}: {error}") from error


def _result_from_patterns(
    body: str, success_pattern: str | None, failure_pattern: str | None
) -> OverallResult:
    # DriverLog: the first non-empty line matching either regex decides, success tried first.
    success = compile_ci_pattern(success_pattern) if success_pattern else None
    failure = compile_ci_pattern(failure_pattern) if failure_pattern else None
    for line in body.split("\n"):
        if not line.strip():
            continue
        if success is not None and success.search(line):
            return "SUCCESS"
        if failure is not None and failure.search(line):
            return "FAILURE"
    return "UNKNOWN"


def _build_status(body: str) -> tuple[str | None, bool]:
    """The first recognised "Build <status>" word mapped, and whether an unknown one was seen."""
    unknown_seen = False
    for match in _BUILD_STATUS.finditer(body):
        status = _STATUS_WORDS.get(match.group(1).lower())
        if status is not None:
            return status, unknown_seen
        unknown_seen = True
    return None, unknown_seen


def _wiki_links(text: str) -> tuple[str, ...]:
    if "iki" not in text and "IKI" not in text:
        return ()
    return tuple(link.rstrip(_LINK_TRAILING) for link in _WIKI_LINK.findall(text))


def _vote_result(votes: dict[str, int]) -> OverallResult:
    for label in _VERIFIED_LABELS:
        value = votes.get(label)
        if value:
            return "SUCCESS" if value > 0 else "FAILURE"
    return "UNKNOWN"


def _looks_like_report(body: str, unknown_status_seen: bool) -> bool:
    if unknown_status_seen:
        return True
    return ("http" in body or " : " in body) and _REPORT_WORDS.search(body) is not None


def parse_ci_message(
    text: str, *, success_pattern: str | None = None, failure_pattern: str | None = None
) -> ParsedComment:
    """Read one review message posted by a CI (never raises on any text).

    ``success_pattern``/``failure_pattern`` are the CI's own regexes from the registry; they
    decide the result when one matches. Raises ConfigError only for an invalid pattern.
    """
    header = split_header(text)
    body = text[header.body_start :] if header.body_start else text
    jobs = extract_jobs(body)
    pipeline = infer_pipeline(body, header.votes, jobs)

    status: str | None = None
    unknown_status_seen = False
    if "Build" in body:
        status, unknown_status_seen = _build_status(body)

    result: OverallResult = "UNKNOWN"
    source: ResultSource = "none"
    if success_pattern or failure_pattern:
        result = _result_from_patterns(body, success_pattern, failure_pattern)
        source = "pattern" if result != "UNKNOWN" else "none"

    kind: CommentKind
    if ("erge" in body or "ERGE" in body) and _MERGE_FAILURE.search(body) is not None:
        kind = "merge_failure"
        if result == "UNKNOWN":
            result, source = "FAILURE", "header"
    elif status == "canceled":
        kind = "canceled"
    else:
        if result == "UNKNOWN" and status in ("SUCCESS", "FAILURE"):
            result, source = ("SUCCESS" if status == "SUCCESS" else "FAILURE"), "header"
        if result == "UNKNOWN" and jobs:
            result, source = overall_from_jobs(jobs), "jobs"
        if result != "UNKNOWN":
            kind = "result"
        elif status == "start" or ("Starting" in body and _STARTING.search(body) is not None):
            kind = "start"
        elif is_recheck(body) is not None:
            kind = "recheck"
        elif (vote := _vote_result(header.votes)) != "UNKNOWN":
            result, source, kind = vote, "vote", "result"
        elif _looks_like_report(body, unknown_status_seen):
            kind = "result"
        else:
            kind = "other"

    return ParsedComment(
        patch_set=header.patch_set,
        votes=header.votes,
        pipeline=pipeline,
        result=result,
        jobs=jobs,
        kind=kind,
        is_parseable=not (kind == "result" and result == "UNKNOWN"),
        result_source=source,
        body=body,
    )
