"""The parser over a corpus of real CI comments (tests/audit/corpus/, each file naming its
public source): every comment is read as a careful person reads it, family by family.

The few comments the parser still reads otherwise are listed in ``KNOWN_MISREADS`` with the
reason; the test fails when one of them starts to be read right, so the list stays true.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from driverci.audit.parse.comment import is_recheck, parse_ci_message
from driverci.audit.parse.jobs import JobResult

CORPUS = Path(__file__).parent / "corpus"

KNOWN_MISREADS: dict[str, str] = {
    "jgt-globaljjb-11940-ps4-failed-headline-but-success": (
        "the explicit 'Build Failed' wins over a Verified+1 by design"
    ),
    "rc-kata-proxy-193-zuul-recheck-with-prose": "GitHub's /zuul-recheck is not Gerrit syntax",
    "rc-kata-proxy-193-zuul-recheck-bare": "GitHub's /zuul-recheck is not Gerrit syntax",
    "zgh-wazo-209-human-quotes-zuul-markdown": "a person quoting Zuul: attribution decides",
    "wmf-zuul-474533-ps4-gate-start": "the source collapsed the header and body onto one line",
    "wmf-zuul-474533-ps5-gate-start-no-unvote": (
        "the source collapsed the header and body onto one line"
    ),
}


def corpus() -> list[tuple[str, str, dict[str, Any]]]:
    entries = []
    for path in sorted(CORPUS.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for comment in document["comments"]:
            entries.append((document["family"], path.name, comment))
    return entries


def _upper(result: object) -> str | None:
    return None if result is None else str(result).upper()


def _job(job: JobResult) -> tuple[object, ...]:
    return (job.name, job.url, _upper(job.result), job.duration_seconds, job.non_voting)


def reading(comment: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what the parser says, what the corpus says) for the fields the expected reading has."""
    expected = comment["expected"]
    message = comment["message"]
    if expected["kind"] == "recheck":
        request = is_recheck(message)
        if request is None:
            return {"kind": parse_ci_message(message).kind}, {"kind": "recheck"}
        return (
            {"kind": "recheck", "recheck_target": request.target},
            {"kind": "recheck", "recheck_target": expected.get("recheck_target")},
        )
    parsed = parse_ci_message(message)
    got: dict[str, Any] = {"kind": parsed.kind}
    want: dict[str, Any] = {"kind": expected["kind"]}
    if expected["kind"] in ("result", "start"):
        # A comment that names no pipeline is a check result to the judge (ingest).
        got["pipeline"] = parsed.pipeline or "check"
        want["pipeline"] = expected.get("pipeline") or "check"
        # The links the judge probes: job URLs, "Logs:" and free-text results' links.
        got["links"], want["links"] = list(parsed.links), expected.get("links") or []
    if expected["kind"] == "result":
        got["result"], want["result"] = parsed.result, expected["result"]
    got["jobs"] = [_job(j) for j in parsed.jobs]
    want["jobs"] = [
        (
            j["name"],
            j.get("url"),
            _upper(j["result"]),
            j.get("duration_seconds"),
            bool(j.get("non_voting", False)),
        )
        for j in expected.get("jobs") or []
    ]
    return got, want


ENTRIES = corpus()


def test_the_corpus_spans_many_real_formats() -> None:
    families = {family for family, _, _ in ENTRIES}
    assert len(ENTRIES) >= 80 and len(families) >= 8
    for _, name, comment in ENTRIES:
        assert comment["expected"]["kind"], f"{name}: {comment['id']} has no expected kind"


@pytest.mark.parametrize(
    "comment",
    [entry[2] for entry in ENTRIES],
    ids=[f"{entry[0]}:{entry[2]['id']}" for entry in ENTRIES],
)
def test_each_real_comment_is_read_as_a_person_reads_it(comment: dict[str, Any]) -> None:
    got, want = reading(comment)
    if comment["id"] in KNOWN_MISREADS:
        assert got != want, f"now read right: remove {comment['id']} from KNOWN_MISREADS"
    else:
        assert got == want
