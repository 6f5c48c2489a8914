"""The judge's report: one documented JSON shape (docs/audit-report.md), rendered as a Rich
table for people at a terminal, Markdown for mailing lists, HTML for a web page."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from driverci.audit.evaluate.assessment import MET, NOT_ASSESSED
from driverci.audit.govern.report_model import (
    AuditReport,
    DriverReport,
    MilestoneStatus,
    SystemReport,
)

__all__ = [
    "AuditReport",
    "DriverReport",
    "MilestoneStatus",
    "SystemReport",
    "explanations",
    "render_html",
    "render_json",
    "render_markdown",
    "render_table",
    "report_to_json",
    "system_to_json",
]

SCHEMA_VERSION = 1
COLOURS = {
    "reliable": "green",
    "unproven": "cyan",
    "at_risk": "yellow",
    "unreliable": "red",
    "supported": "green",
    "unsupported": "red",
    "removed": "dim",
    "deprecated": "yellow",
}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _round(value: float | None, digits: int = 4) -> float | None:
    return round(value, digits) if value is not None else None


def system_to_json(item: SystemReport) -> dict[str, Any]:
    ev = item.evaluation
    art, acc = ev.artifacts, ev.accuracy
    return {
        "account": ev.account,
        "name": ev.name,
        "registered": item.registered,
        "drivers": list(ev.drivers),
        "expected": ev.expected,
        "reported": ev.reported,
        "pending": ev.pending,
        "coverage": _round(ev.coverage),
        "missed": [{"change": c, "patchset": p} for c, p in ev.missed],
        "on_time": ev.on_time,
        "answered": ev.answered,
        "on_time_rate": _round(ev.on_time_rate),
        "deadline_hours": ev.deadline_hours,
        "latency_hours": {
            "p50": _round(ev.latency_hours.p50, 2),
            "p95": _round(ev.latency_hours.p95, 2),
            "max": _round(ev.latency_hours.max, 2),
        },
        "late": [{"change": c, "patchset": p, "hours": h} for c, p, h in ev.late],
        "artifacts": {
            "checked": art.checked,
            "available": art.available,
            "standard": art.standard,
            "retained": art.retained,
            "retained_checked": art.retained_checked,
            "missing": art.missing,
            "links_posted": art.links_posted,
        },
        "accuracy": {
            "false_failures": acc.false_failures,
            "false_failure_base": acc.false_failure_base,
            "recheck_flips": acc.recheck_flips,
            "rubber_stamp": acc.rubber_stamp,
            "revision_mismatch": acc.revision_mismatch,
            "driver_mismatch": acc.driver_mismatch,
            "manifests_checked": acc.manifests_checked,
        },
        "results": {
            "total": ev.results,
            "success": ev.successes,
            "failure": ev.failures,
            "unparseable": ev.unparseable,
        },
        "duplicates": ev.duplicates,
        "without_wiki_link": ev.without_wiki_link,
        "last_report": _iso(ev.last_report),
        "last_success": _iso(ev.last_success),
        "milestones": [vars(m) for m in item.milestones],
        "voting": item.voting,
        "verdict": item.verdict.verdict,
        "reasons": item.verdict.reasons,
        "criteria": {
            name: {"state": c.state, "reason": c.reason, "assess_with": c.assess_with}
            for name, c in item.verdict.criteria.items()
        },
    }


def report_to_json(report: AuditReport) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "project": report.project,
        "generated": _iso(report.generated),
        "window": {"start": _iso(report.window_start), "end": _iso(report.window_end)},
        "systems": [system_to_json(s) for s in report.systems],
        "drivers": [vars(d) for d in report.drivers],
    }


def render_json(report: AuditReport) -> str:
    return json.dumps(report_to_json(report), indent=2, sort_keys=False)


def _fmt_rate(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _art_rate(item: SystemReport) -> str:
    art = item.evaluation.artifacts
    return f"{art.available}/{art.checked}" if art.checked else "-"


#: Below this many columns the table keeps what fits: CI, rates and verdict (the reasons
#: under it carry the rest).
WIDE_TABLE_COLUMNS = 150


NOT_ASSESSED_CELL = "not assessed"


def _criterion_cell(item: SystemReport, criterion: str, figure: str) -> str:
    """A criterion's figure, or why there is none: not assessed, or a CI posting no links."""
    state = item.verdict.criteria.get(criterion)
    if state is None or state.state == MET:
        return figure
    if state.state == NOT_ASSESSED:
        return NOT_ASSESSED_CELL
    art = item.evaluation.artifacts
    return "no links" if criterion == "artifacts" and not art.checked else figure


def _system_cells(item: SystemReport) -> dict[str, str]:
    """Every cell of a CI's row, by column (markup escaped where the text comes from Gerrit)."""
    ev = item.evaluation
    colour = COLOURS.get(item.verdict.verdict, "white")
    acc = ev.accuracy
    flags = [f"{acc.false_failures} false fail"] if acc.false_failures else []
    if acc.revision_mismatch:
        flags.append(f"{acc.revision_mismatch} wrong rev")
    if acc.rubber_stamp:
        flags.append("rubber stamp")
    p95 = ev.latency_hours.p95
    art = ev.artifacts
    coverage = _fmt_rate(ev.coverage)
    return {
        "CI": escape(ev.name) + ("" if item.registered else " [red](unregistered)[/red]"),
        "account": escape(ev.account),
        "drivers": escape(", ".join(ev.drivers)) or "-",
        "coverage": _criterion_cell(item, "coverage", coverage),
        "coverage counts": _criterion_cell(
            item, "coverage", f"{coverage} ({ev.reported}/{ev.expected})"
        ),
        "on time": _criterion_cell(item, "timeliness", _fmt_rate(ev.on_time_rate)),
        "p95 h": "-" if p95 is None else f"{p95:.1f}",
        "artifacts": _criterion_cell(
            item, "artifacts", _fmt_rate(art.available / art.checked if art.checked else None)
        ),
        "artifact counts": _criterion_cell(item, "artifacts", _art_rate(item)),
        "accuracy": _criterion_cell(item, "accuracy", ", ".join(flags) or "ok"),
        "last report": f"{ev.last_report:%Y-%m-%d}" if ev.last_report else "never",
        "verdict": f"[{colour}]{item.verdict.verdict}[/{colour}]",
    }


def explanations(item: SystemReport) -> list[str]:
    """The lines printed under a CI: its verdict's reasons, then each criterion not assessed
    (with the command that would assess it) that the reasons do not already name."""
    reasons = item.verdict.reasons
    return reasons + [line for line in item.verdict.not_assessed() if line not in reasons]


# Figures never wrap (a verdict split as "reli/able" is unreadable); names and lists wrap
# between words, and fold only words longer than their column.
_WRAPS: dict[str, Any] = {"overflow": "fold", "ratio": 1}
_FIGURE: dict[str, Any] = {"no_wrap": True, "justify": "right"}
#: Each cell's heading and column options.
_COLUMNS: dict[str, tuple[str, dict[str, Any]]] = {
    "CI": ("CI", {"overflow": "fold", "ratio": 2}),
    "account": ("account", _WRAPS),
    "drivers": ("drivers", {"overflow": "fold", "ratio": 2}),
    "coverage": ("coverage", _FIGURE),
    "coverage counts": ("coverage", _FIGURE),
    "on time": ("on time", _FIGURE),
    "p95 h": ("p95 h", _FIGURE),
    "artifacts": ("artifacts", _FIGURE),
    "artifact counts": ("artifacts", _FIGURE),
    "accuracy": ("accuracy", _WRAPS),
    "last report": ("last report", {"no_wrap": True}),
    "verdict": ("verdict", {"no_wrap": True}),
}
_NARROW = ("CI", "coverage", "on time", "p95 h", "artifacts", "verdict")
_WIDE = (
    "CI",
    "account",
    "drivers",
    "coverage counts",
    "on time",
    "p95 h",
    "artifact counts",
    "accuracy",
    "last report",
    "verdict",
)


def _systems_table(report: AuditReport, wide: bool) -> Table:
    table = Table(
        title=f"{report.project}: CI systems, {report.window_start:%Y-%m-%d} to "
        f"{report.window_end:%Y-%m-%d}"
    )
    shown = _WIDE if wide else _NARROW
    for cell in shown:
        heading, options = _COLUMNS[cell]
        table.add_column(heading, **options)
    for item in report.systems:
        cells = _system_cells(item)
        table.add_row(*(cells[cell] for cell in shown))
    return table


def render_table(report: AuditReport, console: Console) -> None:
    table = _systems_table(report, wide=console.width >= WIDE_TABLE_COLUMNS)
    console.print(table)
    for item in report.systems:
        if lines := explanations(item):
            colour = COLOURS.get(item.verdict.verdict, "white")
            console.print(f"[{colour}]{escape(item.evaluation.name)}[/{colour}]:")
            for line in lines:
                console.print(f"  - {line}", highlight=False, markup=False)
    drivers = Table(title="Drivers")
    for column in ("driver", "status", "verdict", "CI"):
        drivers.add_column(column)
    for driver in report.drivers:
        colour = COLOURS.get(driver.verdict, "white")
        drivers.add_row(
            escape(driver.name),
            escape(driver.status),
            f"[{colour}]{driver.verdict}[/{colour}]",
            escape(", ".join(driver.ci)) or "-",
        )
    console.print(drivers)


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


# Markdown's inline syntax (emphasis, code, links, images, HTML, headings); "|" is _md_row's.
_MARKDOWN_SYNTAX = re.compile(r"([\\`*_\[\]<>#!])")


def _md_text(text: str) -> str:
    """``text`` shown as written: names and reasons come from Gerrit, where anyone can name an
    account ``[click](http://...)`` or ``<img src=...>``."""
    return _MARKDOWN_SYNTAX.sub(r"\\\1", text)


def render_markdown(report: AuditReport) -> str:
    lines = [
        f"# Third-party CI report for {report.project}",
        "",
        f"Window: {report.window_start:%Y-%m-%d} to {report.window_end:%Y-%m-%d} "
        f"(generated {report.generated:%Y-%m-%d %H:%M} UTC)",
        "",
        _md_row(
            ["CI", "coverage", "on time", "p95 latency (h)", "artifacts", "accuracy", "verdict"]
        ),
        _md_row(["---"] * 7),
    ]
    for item in report.systems:
        ev = item.evaluation
        p95 = ev.latency_hours.p95
        cells = _system_cells(item)
        lines.append(
            _md_row(
                [
                    f"{_md_text(ev.name)} ({_md_text(ev.account)})",
                    cells["coverage counts"],
                    cells["on time"],
                    "-" if p95 is None else f"{p95:.1f}",
                    cells["artifact counts"],
                    _state_word(item, "accuracy"),
                    f"**{item.verdict.verdict}**",
                ]
            )
        )
    lines.append("")
    for item in report.systems:
        if explained := explanations(item):
            lines.append(f"## {_md_text(item.evaluation.name)}: {item.verdict.verdict}")
            lines.extend(f"- {_md_text(line)}" for line in explained)
            lines.append("")
    lines += [
        "## Drivers",
        "",
        _md_row(["driver", "status", "verdict", "CI"]),
        _md_row(["---"] * 4),
    ]
    lines += [
        _md_row([_md_text(d.name), d.status, d.verdict, _md_text(", ".join(d.ci)) or "-"])
        for d in report.drivers
    ]
    return "\n".join(lines) + "\n"


def _state_word(item: SystemReport, criterion: str) -> str:
    state = item.verdict.criteria.get(criterion)
    return state.state.replace("_", " ") if state else "-"


def render_html(report: AuditReport) -> str:
    esc = html.escape
    rows = []
    for item in report.systems:
        ev = item.evaluation
        reasons = "".join(f"<li>{esc(r)}</li>" for r in explanations(item))
        coverage = ev.coverage or 0.0
        cells = _system_cells(item)
        rows.append(
            f"<tr class='{esc(item.verdict.verdict)}'><td>{esc(ev.name)}<br><code>"
            f"{esc(ev.account)}</code></td><td><div class='bar'><span style='width:"
            f"{coverage * 100:.0f}%'></span></div>{esc(cells['coverage counts'])}</td>"
            f"<td>{esc(cells['on time'])}</td><td>{esc(cells['artifact counts'])}</td>"
            f"<td>{esc(_state_word(item, 'accuracy'))}</td>"
            f"<td><b>{esc(item.verdict.verdict)}</b><ul>{reasons}</ul></td></tr>"
        )
    drivers = "".join(
        f"<tr class='{esc(d.verdict)}'><td>{esc(d.name)}</td><td>{esc(d.status)}</td>"
        f"<td>{esc(d.verdict)}</td><td>{esc(', '.join(d.ci) or '-')}</td></tr>"
        for d in report.drivers
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Third-party CI report"
        f"</title><style>{_CSS}</style></head><body>"
        f"<h1>Third-party CI report for {esc(report.project)}</h1>"
        f"<p>Window {report.window_start:%Y-%m-%d} to {report.window_end:%Y-%m-%d}</p>"
        "<table><tr><th>CI</th><th>coverage</th><th>on time</th><th>artifacts</th>"
        f"<th>accuracy</th><th>verdict</th></tr>{''.join(rows)}</table><h2>Drivers</h2><table><tr><th>driver"
        f"</th><th>status</th><th>verdict</th><th>CI</th></tr>{drivers}</table></body></html>"
    )


_CSS = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:.3em .6em;vertical-align:top}"
    ".reliable td:last-child,.supported td:nth-child(3){background:#dfd}"
    ".at_risk td:last-child{background:#ffd}.unproven td:last-child{background:#def}"
    ".unreliable td:last-child,.unsupported td:nth-child(3){background:#fdd}"
    ".bar{width:8em;height:.6em;background:#eee}.bar span{display:block;height:100%;"
    "background:#4a4}"
)
