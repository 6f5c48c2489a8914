"""The documents the spec promised and Ironic never wrote, rendered from policy and registry
so that they cannot drift from what the judge enforces: requirements for third-party CI,
the deprecation process, how a CI proves it tests its driver, and the driver list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from driverci.policy.schema import Policy
from driverci.registry.schema import Registry


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    bullets: list[str] = field(default_factory=list)
    table: list[Sequence[str]] = field(default_factory=list)  # first row is the header


def _pct(value: float) -> str:
    return f"{value * 100:g}%"


def requirement_sections(policy: Policy, registry: Registry, today: date) -> list[Section]:
    t = policy.thresholds
    current = policy.deadline_hours(datetime.combine(today, time(), tzinfo=UTC))
    deadlines: list[Sequence[str]] = [
        ("in force from", "report within"),
        *((d.effective_from.isoformat(), f"{d.hours:g} hours") for d in policy.deadlines),
    ]
    exclusions = [f"``{p}``" for p in policy.exclusions.default]
    approved = [
        f"{ci.name}: ``{e.pattern}`` (approved by {e.approved_by} on {e.date})"
        for ci in registry.ci_systems
        for e in ci.approved_exclusions
    ]
    milestones: list[Sequence[str]] = [("milestone", "due", "what")] + [
        [
            m.name,
            (m.date.isoformat() if m.date else "-")
            + (
                f" or {m.days_after_start} days after the CI starts"
                if m.days_after_start is not None
                else ""
            ),
            m.description,
        ]
        for m in policy.milestones
    ]
    sections = [
        Section(
            "Requirements for third-party CI systems",
            [
                f"Every driver in {policy.project} must be tested by a CI that runs on every "
                "patch set that could affect it and reports to Gerrit on time, with public "
                "artifacts in the standard format and accurate results. This document is "
                f'generated from the policy "{policy.name}" that driverci\'s judge enforces.'
            ],
        ),
        Section(
            "Deadlines",
            [
                "A result is due within the deadline in force on the day the "
                "patch set was uploaded (or the recheck was asked).",
                f"On {today:%Y-%m-%d} the deadline is {current:g} hours.",
            ],
            table=deadlines,
        ),
        Section(
            "Branches",
            [
                f"Test changes to {', '.join(policy.branches.always)}, and to every branch "
                f"matching ``{policy.branches.stable_pattern}`` that was created after the CI "
                "started testing. A CI that started before a stable branch was cut tests it; "
                "older stable branches are not required."
            ],
        ),
        Section(
            "Excluded patch sets",
            [
                "A patch set is excluded only when ALL of its files match these patterns; a "
                "patch set touching any other file must be tested. To have another pattern "
                f"approved for your CI, propose it to the {_team(policy)} (meeting or mailing "
                "list) with the reason; once approved it is recorded in the registry with the "
                "approver and date."
            ],
            bullets=exclusions + approved,
        ),
        Section(
            "Comments",
            [
                f"At most {policy.comments.max_per_patch_set} comment per patch set, unless a "
                "recheck asked for a new run. The comment starts with ``Build succeeded (check "
                "pipeline).`` or ``Build failed (check pipeline).`` and has one line per job: "
                "``- <job> <url> : SUCCESS|FAILURE in 1h 02m 03s`` (infra's ``* <job> <url> : "
                "SUCCESS`` is accepted). "
                + (
                    "Every comment links to the CI's wiki page (its page in the registry, or "
                    + " or ".join(f"``{link}``" for link in policy.comments.wiki_links)
                    + "). "
                    if policy.comments.require_wiki_link
                    else ""
                )
                + "The judge reports comments over the limit and comments without the link; "
                "they do not change a verdict. "
                + "A new account's display name ends in "
                + f'"{policy.comments.ci_name_suffix.strip()}".'
            ],
        ),
        Section(
            "Recheck",
            ["A CI reruns on these comments (``{ci}`` is its name):"],
            bullets=[f"``{p}``" for p in policy.recheck.patterns],
        ),
        Section(
            "Artifacts",
            [
                f"Every result links to public, browsable logs (no download or login), kept for "
                f"{policy.artifacts.retention_days} days: the console log with a trace of the "
                "commands and UTC timestamps, the test configuration including skipped tests, "
                "the service logs, and the test results (``testr_results.html`` or subunit)."
            ],
        ),
        Section(
            "What makes a CI reliable",
            [
                "The judge measures every CI over the last "
                f"{policy.window_days} days and rates it reliable when all of these hold:"
            ],
            bullets=[
                f"coverage of expected patch sets at least {_pct(t.coverage_min)}",
                f"results on time at least {_pct(t.on_time_min)}",
                f"artifacts available for at least {_pct(t.artifacts_available_min)} "
                f"of links, standard in {_pct(t.standard_min)}, retained in "
                f"{_pct(t.retained_min)}",
                f"false failures at most {_pct(t.false_failure_max)}",
                "no rubber stamp and no result for another revision or driver",
            ]
            + (
                [f"a report at least every {policy.liveness.max_days_without_report} days"]
                if policy.liveness.max_days_without_report
                else []
            )
            + (
                [f"a success at least every {policy.liveness.max_days_without_success} days"]
                if policy.liveness.max_days_without_success
                else []
            ),
        ),
        Section(
            "When evidence is missing",
            [
                "Each criterion must hold on evidence. One the judge could not assess (no "
                "result link probed yet, no patch set to test, nothing to compare results "
                "with) is reported as not assessed and makes the CI unproven: not reliable, "
                "but nothing is proposed or sent against it for that alone. A CI whose "
                "results carry no link to their logs fails the artifacts criterion."
            ],
        ),
        Section(
            "How a CI proves it tests its driver",
            [
                "Each result's artifacts carry a machine-readable manifest (``driverci-manifest"
                ".json``, or Zuul's ``zuul-manifest.json``) naming the project, change, patch "
                "set, the revision tested and the driver under test. The judge checks that the "
                "revision equals the patch set's and the driver is the CI's, and flags a CI that "
                "never fails while upstream does (a rubber stamp)."
            ],
        ),
        Section(
            "The path to voting",
            [
                f"CIs start non-voting. After {policy.voting.min_days_reliable} days of reliable "
                f"operation the judge recommends a vote; the {_team(policy)} decides, and the "
                "approval is recorded in the registry. A voting CI that becomes "
                f"{policy.voting.withdraw_when} loses its vote."
            ],
        ),
        Section("Milestones", table=milestones),
    ]
    return sections


def _team(policy: Policy) -> str:
    """Who decides, named after the policy ("ironic" -> "Ironic team")."""
    return f"{policy.name[:1].upper()}{policy.name[1:]} team"


def process_sections(policy: Policy) -> list[Section]:
    dep = policy.deprecation
    return [
        Section(
            "Deprecation and removal of drivers",
            [f"When a driver has no reliable CI, the {_team(policy)} follows this timeline:"],
            bullets=[
                f"the judge rates the driver unsupported; its contacts get a notice and "
                f"{dep.notice_period_days} days to fix the CI;",
                f"the driver is marked unsupported with a ``{dep.deprecation_note_section}:``"
                ' release note ("should testing be reestablished, this deprecation shall be '
                'rescinded");',
                f"after {dep.removal_after_cycles} cycle(s) it is removed with an "
                f"``{dep.removal_note_section}:`` release note telling deployers where the "
                "driver went, if anywhere;",
                "if the CI becomes reliable before removal, the deprecation is rescinded"
                + (" automatically proposed by the judge." if dep.reinstate_when_reliable else "."),
            ],
        ),
        Section(
            "Notice template",
            [
                "``driverci audit propose`` writes the notice and the release notes; the notice "
                "names the CI, the reasons the judge found and the date by which the CI must "
                "report reliably again."
            ],
        ),
    ]


def drivers_sections(registry: Registry) -> list[Section]:
    rows: list[Sequence[str]] = [["driver", "status", "maintainer", "CI", "contacts"]]
    for driver in registry.drivers:
        cis = ", ".join(ci.name for ci in registry.ci_for_driver(driver.name)) or "-"
        status = driver.status + (
            f" ({driver.deprecated_in})"
            if driver.status == "deprecated"
            else f" ({driver.removed_in})"
            if driver.removed_in
            else ""
        )
        contacts = ", ".join(c.email or c.name for c in driver.contacts) or "-"
        rows.append([driver.name, status, driver.maintainer, cis, contacts])
    return [Section(f"Drivers in {registry.project}", table=rows)]


def render(sections: Sequence[Section], fmt: str) -> str:
    out: list[str] = []
    for index, section in enumerate(sections):
        if fmt == "rst":
            mark = "=" if index == 0 else "-"
            out += [section.title, mark * len(section.title), ""]
        else:
            out += [("# " if index == 0 else "## ") + section.title, ""]
        for paragraph in section.paragraphs:
            out += [paragraph if fmt == "rst" else paragraph.replace("``", "`"), ""]
        for bullet in section.bullets:
            out.append("* " + (bullet if fmt == "rst" else bullet.replace("``", "`")))
        if section.bullets:
            out.append("")
        if section.table:
            out += _rst_table(section.table) if fmt == "rst" else _md_table(section.table)
            out.append("")
    return "\n".join(out)


def _md_table(rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows[1:]]
    return lines


def _rst_table(rows: Sequence[Sequence[str]]) -> list[str]:
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in rows:
        lines.append(f"   * - {row[0]}")
        lines += [f"     - {cell}" for cell in row[1:]]
    return lines
