"""Subunit v2 streams (what ``stestr last --subunit`` exports) to counts and a readable page.

``testr_results.html`` is what reviewers open first: the summary counts, then every failed
test with its traceback, then the full list. Parsed with python-subunit and testtools.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import subunit  # type: ignore[import-untyped]
import testtools

from driverci.ci.model import TestCounts

FAILED = frozenset({"fail", "uxsuccess"})
PASSED = frozenset({"success", "xfail"})
SKIPPED = frozenset({"skip"})


@dataclass(frozen=True)
class TestRecord:
    test_id: str
    status: str  # subunit status: success, fail, skip, xfail, uxsuccess
    seconds: float | None
    details: str  # tracebacks and attachments as text


def parse_subunit(data: bytes) -> list[TestRecord]:
    """Tests of a subunit v2 stream, in stream order (non-subunit bytes are ignored)."""
    records: list[TestRecord] = []

    def on_test(test: Any) -> None:
        status = str(test["status"])
        if status in ("exists", "inprogress", "unknown"):
            return
        records.append(
            TestRecord(str(test["id"]), status, _seconds(test["timestamps"]), _details(test))
        )

    result = testtools.StreamToDict(on_test)
    result.startTestRun()
    try:
        subunit.ByteStreamToStreamResult(io.BytesIO(data), non_subunit_name=None).run(result)
    finally:
        result.stopTestRun()
    return records


def _seconds(timestamps: list[datetime | None]) -> float | None:
    start, end = [*timestamps, None, None][:2]
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def _details(test: Any) -> str:
    parts = []
    for name, content in test["details"].items():
        text = b"".join(content.iter_bytes()).decode("utf-8", errors="replace").strip()
        if text:
            parts.append(f"{name}:\n{text}" if name != "traceback" else text)
    return "\n\n".join(parts)


def count_tests(records: list[TestRecord]) -> TestCounts:
    return TestCounts(
        passed=sum(r.status in PASSED for r in records),
        failed=sum(r.status in FAILED for r in records),
        skipped=sum(r.status in SKIPPED for r in records),
    )


def scrub_subunit(data: bytes, scrub: Callable[[str], str]) -> bytes:
    """Re-encode a subunit v2 stream with every attachment passed through ``scrub``.

    Packets carry lengths and CRCs, so secrets cannot be masked in place.
    """
    out = io.BytesIO()
    writer = subunit.StreamResultToBytes(out)

    class _Scrubbing(testtools.StreamResult):
        def status(
            self,
            test_id: str | None = None,
            test_status: str | None = None,
            test_tags: set[str] | None = None,
            runnable: bool = True,
            file_name: str | None = None,
            file_bytes: bytes | None = None,
            eof: bool = False,
            mime_type: str | None = None,
            route_code: str | None = None,
            timestamp: datetime | None = None,
        ) -> None:
            if file_bytes:
                text = bytes(file_bytes).decode("utf-8", errors="surrogateescape")
                file_bytes = scrub(text).encode("utf-8", errors="surrogateescape")
            writer.status(
                test_id=test_id,
                test_status=test_status,
                test_tags=test_tags,
                runnable=runnable,
                file_name=file_name,
                file_bytes=file_bytes,
                eof=eof,
                mime_type=mime_type,
                route_code=route_code,
                timestamp=timestamp,
            )

    subunit.ByteStreamToStreamResult(io.BytesIO(data), non_subunit_name=None).run(_Scrubbing())
    return out.getvalue()


_STYLE = """
body{font-family:sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}
.fail{color:#b00;font-weight:bold}.success,.xfail{color:#070}.skip{color:#777}
pre{background:#f6f6f6;border:1px solid #ddd;padding:8px;overflow-x:auto}
"""


def render_html(records: list[TestRecord], title: str) -> str:
    """A self-contained page: summary, failures with tracebacks first, then every test."""
    counts = count_tests(records)
    failed = [r for r in records if r.status in FAILED]
    esc = html.escape
    lines = [
        "<!DOCTYPE html>",
        f"<html><head><meta charset='utf-8'><title>{esc(title)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        "<table><tr><th>Total</th><th>Passed</th><th>Failed</th><th>Skipped</th></tr>",
        f"<tr><td>{len(records)}</td><td class='success'>{counts.passed}</td>"
        f"<td class='fail'>{counts.failed}</td><td class='skip'>{counts.skipped}</td></tr>",
        "</table>",
    ]
    if failed:
        lines.append(f"<h2>Failed tests ({len(failed)})</h2>")
        for record in failed:
            lines.append(f"<h3 class='fail' id='{esc(record.test_id)}'>{esc(record.test_id)}</h3>")
            lines.append(f"<pre>{esc(record.details or '(no traceback recorded)')}</pre>")
    lines.append("<h2>All tests</h2><table><tr><th>Test</th><th>Status</th><th>Seconds</th></tr>")
    for record in sorted(records, key=lambda r: (r.status not in FAILED, r.test_id)):
        seconds = "" if record.seconds is None else f"{record.seconds:.3f}"
        lines.append(
            f"<tr><td>{esc(record.test_id)}</td>"
            f"<td class='{esc(record.status)}'>{esc(record.status)}</td><td>{seconds}</td></tr>"
        )
    lines.append("</table></body></html>")
    return "\n".join(lines) + "\n"
