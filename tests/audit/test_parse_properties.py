"""Property tests: whatever jobs a CI reports, in Zuul's or infra's format, parse back exactly."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from driverci.audit.parse.comment import (
    KNOWN_JOB_RESULTS,
    CiIdentity,
    JobResult,
    RecheckAttributor,
    format_duration,
    is_recheck,
    looks_like_ci,
    overall_from_jobs,
    parse_ci_message,
    parse_duration,
    render_infra_job_line,
    render_zuul_job_line,
)

job_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._/:+-]{0,40}", fullmatch=True).filter(
    lambda name: not name.lower().startswith("http")
)
urls = st.builds(
    "{}://{}/{}".format,
    st.sampled_from(["http", "https"]),
    st.from_regex(r"[a-z0-9][a-z0-9.-]{0,30}(:[0-9]{2,5})?", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9._~/%=?&#-]{0,60}", fullmatch=True),
)
results = st.one_of(
    st.sampled_from(sorted(KNOWN_JOB_RESULTS)),
    st.from_regex(r"[A-Z][A-Z_]{1,15}", fullmatch=True),
    st.sampled_from(["Success", "failure", "Failure"]),
)
durations = st.one_of(st.none(), st.integers(min_value=0, max_value=200_000))
# Free text after the result: words that cannot be read as a duration or "(non-voting)".
comments = st.lists(
    st.from_regex(r"[A-Za-z][A-Za-z,.'()=-]{0,10}", fullmatch=True), max_size=6
).map(" ".join)

zuul_jobs = st.builds(
    JobResult,
    name=job_names,
    url=st.one_of(st.none(), urls),
    result=results,
    duration_seconds=durations,
    non_voting=st.booleans(),
    comment=comments,
)
infra_jobs = st.builds(
    JobResult, name=job_names, url=st.one_of(st.none(), urls), result=results, comment=comments
)
headers = st.sampled_from(
    [
        "",
        "Patch Set 3: Verified+1\n\nBuild succeeded (check pipeline).\n\n",
        "Patch Set 12:\n\nBuild failed.  For information on how to proceed, see "
        "https://docs.opendev.org/opendev/infra-manual/latest/developers.html\n\n",
        "Patch Set 1:\n\nBuild Successful \n\n",
        "Patch Set 7: Verified-1 Code-Review+2\n\n",
    ]
)


@given(headers, st.lists(zuul_jobs, min_size=1, max_size=8))
def test_a_zuul_report_parses_back_to_exactly_its_jobs(header: str, jobs: list[JobResult]) -> None:
    text = header + "\n".join(render_zuul_job_line(job) for job in jobs) + "\n"

    parsed = parse_ci_message(text)

    assert parsed.jobs == tuple(jobs)
    assert parsed.is_parseable


@given(headers, st.lists(infra_jobs, min_size=1, max_size=8))
def test_an_infra_format_report_parses_back_to_exactly_its_jobs(
    header: str, jobs: list[JobResult]
) -> None:
    text = header + "\n".join(render_infra_job_line(job) for job in jobs)

    assert parse_ci_message(text).jobs == tuple(jobs)


@given(st.lists(zuul_jobs, min_size=1, max_size=8))
def test_without_a_status_line_the_result_follows_the_voting_jobs(jobs: list[JobResult]) -> None:
    text = "Patch Set 2:\n\n" + "\n".join(render_zuul_job_line(job) for job in jobs)
    any_voting_failed = any(
        not job.non_voting and job.result.upper() not in ("SUCCESS", "SKIPPED") for job in jobs
    )

    parsed = parse_ci_message(text)

    assert parsed.result == ("FAILURE" if any_voting_failed else "SUCCESS")
    assert parsed.result == overall_from_jobs(jobs)
    assert parsed.kind == "result"


@given(st.sampled_from(["Build succeeded.", "Build failed."]), st.lists(zuul_jobs, max_size=5))
def test_the_status_line_wins_over_the_jobs(status: str, jobs: list[JobResult]) -> None:
    text = f"Patch Set 2:\n\n{status}\n\n" + "\n".join(render_zuul_job_line(job) for job in jobs)

    expected = "SUCCESS" if "succeeded" in status else "FAILURE"
    assert parse_ci_message(text).result == expected


@given(st.integers(min_value=0, max_value=10_000_000))
def test_durations_round_trip_through_zuuls_format(seconds: int) -> None:
    formatted = format_duration(seconds)

    assert parse_duration(formatted) == seconds
    assert parse_duration(f" {formatted} ") == seconds


fragments = st.sampled_from(
    [
        "Patch Set ",
        "3",
        ":",
        " : ",
        "Build ",
        "succeeded",
        "Failed",
        "- ",
        "* ",
        "http://",
        "https://x/y",
        "[a](http://b)",
        "`",
        "**",
        " in ",
        "1h ",
        "02m ",
        "9s",
        "(non-voting)",
        "(check pipeline)",
        "SUCCESS",
        "recheck",
        "run-",
        "Merge Failed",
        "Starting check jobs",
        "Build Started ",
        "PASSED",
        "FAILED: ",
        "recheck",
        "recheck-",
        "(1 comment)",
        ": Looks good to me",
        "wiki",
        "\n",
        "\n\n",
        " ",
        "\t",
        "Verified+1",
        "-Verified",
    ]
)
adversarial_texts = st.one_of(st.text(), st.lists(fragments, max_size=40).map("".join))


@settings(max_examples=400)
@given(adversarial_texts)
def test_parsing_never_raises_and_always_answers_consistently(text: str) -> None:
    parsed = parse_ci_message(text)
    is_recheck(text, ["dell", "Fujitsu iRMC CI"])
    request = RecheckAttributor(
        [CiIdentity("dell-ci", None, "Dell CI", recheck_patterns=(r"^check dell",))],
        [r"(?i)^\s*recheck\s*$", r"(?i)^\s*{ci}\s*:\s*recheck\s*$"],
    ).request(text)
    looks_like_ci(text)

    assert request is None or request.all_systems == (request.target is None)
    assert parsed.result in ("SUCCESS", "FAILURE", "UNKNOWN")
    assert parsed.is_parseable == (not (parsed.kind == "result" and parsed.result == "UNKNOWN"))
    if parsed.result_source == "jobs":
        assert parsed.result == overall_from_jobs(parsed.jobs)
    for job in parsed.jobs:
        # Only a start message announces jobs that have no result yet.
        assert job.name and (job.result or parsed.kind == "start")
        assert job.duration_seconds is None or job.duration_seconds >= 0
