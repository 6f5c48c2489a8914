"""Parse a CI's review message: patch set, votes, pipeline, overall result, job lines, kind.

The overall result comes from, in order: the explicit status (Zuul's and Jenkins' "Build
succeeded (check pipeline).", "Build Failed", "Merge Failed.", BigSwitch's "Tests succeeded.",
a first line such as "PASSED: <url>" or "... testing PASSED [ <url> ]"), then the CI's own
success/failure regexes (DriverLog's ``success_pattern``/``failure_pattern``, any number of
each, case-insensitive), then the job lines (Zuul's rule: any voting job that neither passed
nor was SKIPPED fails), and last the Verified vote. A message that looks like a report but
yields no result is ``is_parseable=False``: the judge counts it, never drops it. Pure
functions; the regexes are module constants.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
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
    extract_started_jobs,
    format_duration,
    overall_from_jobs,
    parse_duration,
    render_infra_job_line,
    render_zuul_job_line,
)
from driverci.audit.parse.recheck import (
    RecheckAttributor,
    RecheckRequest,
    is_recheck,
    normalize_ci_name,
)
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
    "RecheckAttributor",
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
_LINK = re.compile(r"https?://[^\s<>\"'()\[\]`*]+")
_LINK_TRAILING = ".,;:!?"
# Links that are no run's result: wiki and help pages, Zuul's status page ("Starting check
# jobs. http://status.openstack.org/zuul/").
_NOT_A_RESULT_LINK = re.compile(
    r"wiki|/infra/manual|infra-manual|//status\.|/status(?:/|$)|/zuul/?$", re.IGNORECASE
)
_NOT_A_RESULT_HINTS = ("iki", "IKI", "anual", "tatus", "TATUS", "uul", "UUL")
# A first line that states the outcome: "PASSED: <url>", "Arista third party testing PASSED
# [ <url> ]", "SUCCESS", "Tests succeeded." (upper case only for the bare words, so prose such
# as "this failed to start" is not a verdict).
_VERDICT_WORD = re.compile(
    r"(?<![\w-])(SUCCESS|SUCCEEDED|SUCCESSFUL|PASSED|FAILURE|FAILED)(?![\w-])"
)
_TESTS_STATUS = re.compile(r"^[ \t*>]*Tests? (succeeded|passed|failed)\b", re.IGNORECASE)
_VERDICTS: dict[str, OverallResult] = {
    "SUCCESS": "SUCCESS",
    "SUCCEEDED": "SUCCESS",
    "SUCCESSFUL": "SUCCESS",
    "PASSED": "SUCCESS",
    "FAILURE": "FAILURE",
    "FAILED": "FAILURE",
}
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
    def links(self) -> tuple[str, ...]:
        """The run's result and artifact links, in order, once each: job URLs, "Logs:" links,
        free-text results' links ("PASSED: <url>"); not wiki, help or Zuul status pages."""
        return _result_links(self.body)

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
    """Compile a registry success/failure regex once (case-insensitive: DriverLog wrote "Build
    Failed" for CIs that post "Build failed."); ConfigError names a bad one."""
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as error:
        raise ConfigError(f"invalid CI result pattern {pattern!r}: {error}") from error


Patterns = str | Sequence[str] | None


def _pattern_tuple(patterns: Patterns) -> tuple[re.Pattern[str], ...]:
    if not patterns:
        return ()
    if isinstance(patterns, str):
        return (compile_ci_pattern(patterns),)
    return tuple(compile_ci_pattern(pattern) for pattern in patterns if pattern)


def _result_from_patterns(
    body: str, success_patterns: Patterns, failure_patterns: Patterns
) -> OverallResult:
    """DriverLog's reading, one line at a time: a line matching a success pattern passed (success
    is tried first, as DriverLog does), else one matching a failure pattern failed. Any failed
    line fails the run, as a failing driver job fails it; else any passed line passes it."""
    success = _pattern_tuple(success_patterns)
    failure = _pattern_tuple(failure_patterns)
    if not success and not failure:
        return "UNKNOWN"
    passed = False
    for line in body.split("\n"):
        if not line.strip():
            continue
        if any(regex.search(line) for regex in success):
            passed = True
        elif any(regex.search(line) for regex in failure):
            return "FAILURE"
    return "SUCCESS" if passed else "UNKNOWN"


def _headline_verdict(body: str) -> OverallResult:
    """The outcome the first non-empty line states, when it is not a job line."""
    for line in body.split("\n"):
        if not line.strip():
            continue
        if " :" in line or "\t:" in line:
            return "UNKNOWN"
        if (tests := _TESTS_STATUS.match(line)) is not None:
            return "FAILURE" if tests.group(1).lower() == "failed" else "SUCCESS"
        words = {_VERDICTS[word] for word in _VERDICT_WORD.findall(line)}
        return words.pop() if len(words) == 1 else "UNKNOWN"
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


def _result_links(text: str) -> tuple[str, ...]:
    if "://" not in text:
        return ()
    links: dict[str, None] = {}
    for found in _LINK.findall(text):
        link = found.rstrip(_LINK_TRAILING)
        if link in links:
            continue
        # Substrings first: the exclusion regex runs only on links that may be excluded.
        if any(hint in link for hint in _NOT_A_RESULT_HINTS) and _NOT_A_RESULT_LINK.search(link):
            continue
        links[link] = None
    return tuple(links)


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
    text: str, *, success_pattern: Patterns = None, failure_pattern: Patterns = None
) -> ParsedComment:
    """Read one review message posted by a CI (never raises on any text).

    ``success_pattern``/``failure_pattern`` are the CI's own regexes from the registry (one
    or a list of each); they decide the result when the message states none explicitly and
    one matches. Raises ConfigError only for an invalid pattern.
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
    kind: CommentKind
    if ("erge" in body or "ERGE" in body) and _MERGE_FAILURE.search(body) is not None:
        kind, result, source = "merge_failure", "FAILURE", "header"
    elif status == "canceled":
        kind = "canceled"
    else:
        # The explicit outcome first: a pattern or a job line never overrides "Build failed.".
        if status in ("SUCCESS", "FAILURE"):
            result, source = ("SUCCESS" if status == "SUCCESS" else "FAILURE"), "header"
        elif status is None and (verdict := _headline_verdict(body)) != "UNKNOWN":
            result, source = verdict, "header"
        if result == "UNKNOWN" and status != "start" and (success_pattern or failure_pattern):
            result = _result_from_patterns(body, success_pattern, failure_pattern)
            source = "pattern" if result != "UNKNOWN" else "none"
        if result == "UNKNOWN" and jobs:
            result, source = overall_from_jobs(jobs), "jobs"
        if result != "UNKNOWN":
            kind = "result"
        elif status == "start" or ("Starting" in body and _STARTING.search(body) is not None):
            kind = "start"
            jobs = extract_started_jobs(body)
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
