"""Job result lines in CI comments, and Zuul's duration format.

One regular expression reads every form seen on OpenStack's Gerrit:

- Zuul v2/v3: ``- job https://zuul/build/x : SUCCESS in 1h 02m 03s (non-voting) error``
  (Zuul's ``_formatItemReportJobs``; the URL is missing when a job never ran);
- infra's third-party template ``* job http://logs/x : FAILURE some comment`` (Jenkins Gerrit
  Trigger with "URL to post" set to ``* $JOB_NAME $BUILD_URL``);
- Gerrit Trigger's default ``http://jenkins/job/x/12/ : SUCCESS`` (name taken from the URL);
- a bare ``job http://logs/x : SUCCESS`` without a bullet (DriverLog's patterns allow it);
- markdown: ``* [job](url) : SUCCESS``, ``- `job` <url> : **FAILURE**``, indented lists;
- a result in plain words after a link, with Zuul's duration: Hyper-V CI's 2014
  ``- http://64.119.130.115/92468/1/ : Looks good to me in 36m 10s``;
- Gerrit Trigger's start line ``Build Started http://jenkins/job/x/12/ (1/2)``: a job with no
  result yet (:func:`extract_started_jobs`).

ciwatch's ``[-*]\\s+([^\\s*]+)\\s+(http[^\\s*]+) : (FAILURE|SUCCESS|NOT_REGISTERED|UNSTABLE)`` is
a subset. Results are kept as written; comparisons use their upper-case form.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "KNOWN_JOB_RESULTS",
    "NEUTRAL_JOB_RESULTS",
    "PASSING_JOB_RESULTS",
    "JobResult",
    "extract_jobs",
    "extract_started_jobs",
    "format_duration",
    "overall_from_jobs",
    "parse_duration",
    "render_infra_job_line",
    "render_zuul_job_line",
]

#: Results Zuul (v2 to 11), Jenkins and Gerrit Trigger write after " : ".
KNOWN_JOB_RESULTS: frozenset[str] = frozenset(
    {
        "SUCCESS",
        "FAILURE",
        "POST_FAILURE",
        "RETRY_LIMIT",
        "TIMED_OUT",
        "NODE_FAILURE",
        "SKIPPED",
        "ABORTED",
        "NOT_REGISTERED",
        "UNSTABLE",
        "LOST",
        "ERROR",
        "CANCELED",
        "MERGER_FAILURE",
        "CONFIG_ERROR",
        "DISK_FULL",
        "FINAL_FAILURE",
        "NO_JOBS",
        "EXCEPTION",
    }
)
#: Results that neither pass nor fail a buildset: Zuul reports "Build succeeded" when the only
#: non-SUCCESS voting jobs were SKIPPED (a parent asked to skip its children).
NEUTRAL_JOB_RESULTS: frozenset[str] = frozenset({"SUCCESS", "SKIPPED"})
#: Results (upper-cased) that mean the job passed. Besides Zuul's SUCCESS, vendor CIs wrote
#: "PASSED" or Gerrit's Verified+1 descriptions ("Looks good to me", "Works for me").
PASSING_JOB_RESULTS: frozenset[str] = frozenset(
    {"SUCCESS", "SUCCEEDED", "SUCCESSFUL", "PASSED", "PASS", "OK"}
    | {"LOOKS GOOD TO ME", "WORKS FOR ME", "VERIFIED"}
)
_NOT_AGAINST = NEUTRAL_JOB_RESULTS | PASSING_JOB_RESULTS

_KNOWN_ALTERNATION = "|".join(sorted(KNOWN_JOB_RESULTS, key=len, reverse=True))

# One line (no newline in it). Groups: bullet, link_name/link_url (markdown link), name, url
# (optional), result, rest.
# A result is an upper-case word (anything Zuul may add later) or a known word in any case.
_JOB_LINE = re.compile(
    r"^[ \t>]*(?:(?P<bullet>[-*+\u2022]|\d{1,3}[.)])[ \t]+)?"
    r"(?:\[(?P<link_name>[^\]\s]+)\]\((?P<link_url>https?://[^\s)]+)\)"
    r"|(?P<name>\S+?)(?:[ \t]+<?(?P<url>https?://[^\s>]+)>?)?)"
    r"[ \t]+:[ \t]*\**(?P<result>[A-Z][A-Z_]+|(?i:" + _KNOWN_ALTERNATION + r"))\**(?!\w)"
    r"(?P<rest>[^\n]*)$"
)
_DURATION = re.compile(
    r"[ \t]*in[ \t]+(?=\d)(?:(?P<h>\d+)[ \t]*h[ \t]*)?(?:(?P<m>\d+)[ \t]*m(?:in)?[ \t]*)?"
    r"(?:(?P<s>\d+)[ \t]*s(?:ec)?)?(?!\w)"
)
_DURATION_TEXT = re.compile(
    r"[ \t]*(?=\d)(?:(?P<h>\d+)[ \t]*h[ \t]*)?(?:(?P<m>\d+)[ \t]*m(?:in)?[ \t]*)?"
    r"(?:(?P<s>\d+)[ \t]*s(?:ec)?)?[ \t]*"
)
# A link, then " : ", then a result in words (letters, spaces, apostrophes) and a duration:
# without the duration a line like "- http://wiki : for more help" would pass for a job.
_WORDS_JOB_LINE = re.compile(
    r"^[ \t>]*(?:[-*+\u2022][ \t]+)?(?:(?P<name>[^\s:]+)[ \t]+)?<?(?P<url>https?://[^\s>]+)>?"
    r"[ \t]+:[ \t]*(?P<result>[A-Za-z][A-Za-z' ]*?[A-Za-z])(?P<rest>[ \t]+in[ \t]+\d[^\n]*)$"
)
_STARTED_LINE = re.compile(r"^[ \t]*Build Started[ \t]+<?(?P<url>https?://[^\s>]+)", re.MULTILINE)
_NON_VOTING = "(non-voting)"
_JENKINS_JOB_SEGMENT = re.compile(r"/job/([^/\s]+)")
_NAME_DECORATION = "`*"


@dataclass(frozen=True, slots=True)
class JobResult:
    """One job's line in a CI comment."""

    name: str
    url: str | None
    #: As written (``SUCCESS``, ``FAILURE``, ``POST_FAILURE``, ``Success``, ``Looks good to
    #: me`` ...); None for a job a start message announces (it has no result yet).
    result: str | None
    duration_seconds: int | None = None
    non_voting: bool = False
    #: Text after the result, minus the duration and "(non-voting)" (Zuul's error detail,
    #: infra's free comment); "" when there is none.
    comment: str = ""

    @property
    def succeeded(self) -> bool:
        """True when the result says the job passed (SUCCESS, PASSED, "Looks good to me" ...)."""
        return self.result is not None and self.result.upper() in PASSING_JOB_RESULTS

    @property
    def counts_against(self) -> bool:
        """True when this job fails the buildset: voting, finished, neither passed nor SKIPPED."""
        return (
            not self.non_voting
            and self.result is not None
            and self.result.upper() not in _NOT_AGAINST
        )


def _seconds(match: re.Match[str]) -> int | None:
    hours, minutes, seconds = match.group("h", "m", "s")
    if hours is None and minutes is None and seconds is None:
        return None
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(seconds or 0)


def parse_duration(text: str) -> int | None:
    """Seconds in a Zuul duration such as ``1h 02m 03s``, ``2m 05s`` or ``45s``; else None."""
    match = _DURATION_TEXT.fullmatch(text)
    return None if match is None else _seconds(match)


def format_duration(seconds: int) -> str:
    """Zuul's elapsed-time format: ``1h 02m 03s``, ``2m 05s`` or ``45s``."""
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative (got {seconds})")
    hours, remainder = divmod(seconds, 3600)
    minutes, secs = divmod(remainder, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def _name_from_url(url: str) -> str:
    # Jenkins: .../job/<folder>/job/<name>/<number>/ -> "<folder>/<name>".
    segments = _JENKINS_JOB_SEGMENT.findall(url)
    return "/".join(segments) if segments else url


def _job_from_match(match: re.Match[str]) -> JobResult | None:
    link_name, link_url, name, url, bullet, result, rest = match.group(
        "link_name", "link_url", "name", "url", "bullet", "result", "rest"
    )
    if link_name is not None:
        name, url = link_name, link_url
    else:
        name = name.strip(_NAME_DECORATION)
        if url is None and name.startswith(("http://", "https://")):
            # Gerrit Trigger's default "<build url> : RESULT" line names no job.
            url = name.rstrip(">").lstrip("<")
            name = _name_from_url(url)
        elif bullet is None and url is None:
            # "word : WORD" with neither bullet nor link is prose, not a job line.
            return None
        if not name:
            return None
    duration_seconds, non_voting, comment = _after_result(rest) if rest else (None, False, "")
    return JobResult(name, url, result, duration_seconds, non_voting, comment)


@functools.lru_cache(maxsize=65536)
def _after_result(rest: str) -> tuple[int | None, bool, str]:
    """Duration, "(non-voting)" and comment of the text after a job's result.

    Memoised: that text repeats across comments (" in 1h 02m 03s", " in 45m 10s (non-voting)").
    """
    duration_seconds: int | None = None
    duration = _DURATION.match(rest)
    if duration is not None and (duration_seconds := _seconds(duration)) is not None:
        rest = rest[duration.end() :]
    non_voting = _NON_VOTING in rest
    if non_voting:
        rest = rest.replace(_NON_VOTING, "", 1)
    return duration_seconds, non_voting, rest.strip()


def extract_jobs(text: str) -> tuple[JobResult, ...]:
    """Every job result line in ``text``, in order."""
    # Fast reject: every form has whitespace before the colon that precedes the result.
    if " :" not in text and "\t:" not in text:
        return ()
    jobs = []
    # Line by line, and only lines that can hold one: a MULTILINE search would try the
    # pattern at every character of the message.
    for line in text.split("\n"):
        if " :" not in line and "\t:" not in line:
            continue
        job: JobResult | None = None
        if (match := _JOB_LINE.match(line)) is not None:
            job = _job_from_match(match)
        elif "://" in line and (words := _WORDS_JOB_LINE.match(line)) is not None:
            job = _job_from_words(words)
        if job is not None:
            jobs.append(job)
    return tuple(jobs)


def _job_from_words(match: re.Match[str]) -> JobResult:
    name, url, result, rest = match.group("name", "url", "result", "rest")
    duration_seconds, non_voting, comment = _after_result(rest)
    return JobResult(
        name.strip(_NAME_DECORATION) if name else _name_from_url(url),
        url,
        result,
        duration_seconds,
        non_voting,
        comment,
    )


def extract_started_jobs(text: str) -> tuple[JobResult, ...]:
    """The jobs a Gerrit Trigger start message announces (``Build Started <build url>``).

    Each has the build's link and no result; its name is the URL's Jenkins job segment.
    """
    if "Build Started" not in text:
        return ()
    return tuple(
        JobResult(_name_from_url(url), url, None)
        for url in (match.group("url") for match in _STARTED_LINE.finditer(text))
    )


def overall_from_jobs(jobs: Iterable[JobResult]) -> Literal["SUCCESS", "FAILURE", "UNKNOWN"]:
    """Zuul's rule: FAILURE if a voting job is neither SUCCESS nor SKIPPED, else SUCCESS.

    UNKNOWN when there are no jobs at all.
    """
    seen = False
    for job in jobs:
        seen = True
        if job.counts_against:
            return "FAILURE"
    return "SUCCESS" if seen else "UNKNOWN"


def render_zuul_job_line(job: JobResult) -> str:
    """The line Zuul would write for ``job`` (``- name url : RESULT in T (non-voting) comment``)."""
    url = f" {job.url}" if job.url else ""
    elapsed = "" if job.duration_seconds is None else f" in {format_duration(job.duration_seconds)}"
    voting = f" {_NON_VOTING}" if job.non_voting else ""
    comment = f" {job.comment}" if job.comment else ""
    return f"- {job.name}{url} : {job.result or ''}{elapsed}{voting}{comment}"


def render_infra_job_line(job: JobResult) -> str:
    """The line infra's template asks for (``* name url : RESULT comment``)."""
    url = f" {job.url}" if job.url else ""
    comment = f" {job.comment}" if job.comment else ""
    return f"* {job.name}{url} : {job.result or ''}{comment}"
