"""Infra's conduct rules, enforced: one comment per patch set unless rechecked (the limit is
the policy's ``comments.max_per_patch_set``), and a link to the CI's wiki page in every
comment (``comments.require_wiki_link``). They are findings the report shows, with counts;
they do not change a verdict, which measures the spec's four criteria."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from driverci.audit.engine import Judge
from driverci.audit.evaluate.criteria import CiRules, evaluate_ci
from driverci.audit.evaluate.facts import PatchSetFact, RecheckFact, ResultFact, Window
from driverci.audit.intake.collect import collect_dump
from driverci.audit.intake.ingest import Ingestor
from driverci.audit.live.judge import LiveJudge
from driverci.cli import _register_subcommands, app
from driverci.policy.loader import load_policy, packaged_policy_path
from driverci.registry.loader import load_registry
from driverci.store import Store

START = datetime(2026, 3, 2, tzinfo=UTC)
END = START + timedelta(days=10)
HOUR = timedelta(hours=1)

# project-config-example's failure message (zuul/layout.yaml), as vendors copied it: it links
# to the ThirdPartySystems page, under which every CI's own page lives.
EXAMPLE_FAILURE = (
    "Build failed.  To recheck use 'acme: recheck'.  For 3rd party ci contact info: "
    "https://wiki.openstack.org/wiki/ThirdPartySystems"
)

REGISTRY = """\
project: openstack/ironic
ci_systems:
  - account: zuul
    kind: upstream
    name: Zuul
  - account: acme-ci
    name: Acme CI
    wiki: https://wiki.example.org/wiki/Acme CI
    started: 2026-03-01
"""


def _rules(limit: int) -> CiRules:
    return CiRules(
        "acme-ci",
        "Acme CI",
        (),
        date(2026, 1, 1),
        lambda _at: 8.0,
        lambda _ps: True,
        max_comments_per_patch_set=limit,
    )


@pytest.mark.parametrize(("limit", "duplicates"), [(1, 3), (2, 1), (4, 0)])
def test_comments_beyond_the_policys_limit_without_a_recheck_are_duplicates(
    limit: int, duplicates: int
) -> None:
    window = Window(START, END)
    ps = PatchSetFact("openstack/ironic", "master", 1, 1, "a" * 40, START, ("ironic/x.py",))
    # Three comments, a recheck, two more: runs of three and two.
    posted = [START + HOUR * h for h in (1, 2, 3, 5, 6)]
    results = [ResultFact("acme-ci", 1, 1, at, "SUCCESS") for at in posted]
    rechecks = {(1, 1): [RecheckFact(1, 1, START + 4 * HOUR)]}

    ev = evaluate_ci(_rules(limit), window, END, [ps], results, {}, rechecks, [])

    assert ev.duplicates == duplicates
    assert ev.reported == 1  # duplicates are conduct, not coverage


def _dump(tmp_path: Path) -> Path:
    acme = {"username": "acme-ci", "name": "Acme CI"}
    zuul = {"username": "zuul", "name": "Zuul"}

    def comment(hours: int, who: dict[str, str], text: str) -> dict[str, Any]:
        at = START + hours * HOUR
        return {"timestamp": int(at.timestamp()), "reviewer": who, "message": text}

    def report(ps: int, result: str, footer: str) -> str:
        status = "succeeded" if result == "SUCCESS" else "failed"
        return (
            f"Patch Set {ps}:\n\nBuild {status} (check pipeline).{footer}\n\n"
            f"- tempest https://logs.example.org/{ps}/tempest/ : {result} in 1h 02m 03s\n"
        )

    comments = [
        comment(50, acme, report(1, "FAILURE", " " + EXAMPLE_FAILURE)),
        # Its own page, written with underscores where the registry has spaces.
        comment(52, acme, report(2, "SUCCESS", " See http://wiki.example.org/wiki/Acme_CI")),
        comment(54, acme, report(3, "SUCCESS", "")),  # no link at all
        comment(55, zuul, report(3, "SUCCESS", "")),  # upstream is not held to the rule
    ]
    change = {
        "project": "openstack/ironic",
        "branch": "master",
        "id": "I" + "1" * 40,
        "number": 101,
        "subject": "Change 101",
        "createdOn": int((START + 48 * HOUR).timestamp()),
        "status": "NEW",
        "patchSets": [
            {
                "number": n,
                "revision": f"{n:040d}",
                "createdOn": int((START + (47 + 2 * n) * HOUR).timestamp()),
                "files": [{"file": "ironic/drivers/acme.py", "type": "MODIFIED"}],
            }
            for n in (1, 2, 3)
        ],
        "comments": comments,
    }
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(change) + "\n", encoding="utf-8")
    return path


def _policy(tmp_path: Path, require_wiki_link: bool) -> Path:
    text = packaged_policy_path().read_text(encoding="utf-8")
    if not require_wiki_link:
        text = text.replace("require_wiki_link: true", "require_wiki_link: false")
    path = tmp_path / f"policy-{require_wiki_link}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_comment_without_the_wiki_link_is_a_finding_not_a_verdict(
    store: Store, tmp_path: Path
) -> None:
    registry_path = tmp_path / "registry.yaml"
    registry_path.write_text(REGISTRY, encoding="utf-8")
    registry = load_registry(registry_path)
    collect_dump(Ingestor(store, registry), _dump(tmp_path), workers=0)
    window = Window(START, END)

    def acme(require_wiki_link: bool) -> Any:
        policy = load_policy(_policy(tmp_path, require_wiki_link))
        report = Judge(store, registry, policy, now=END).report(window)
        return next(s for s in report.systems if s.evaluation.account == "acme-ci")

    required, not_required = acme(True), acme(False)
    assert required.evaluation.results == 3
    assert required.evaluation.without_wiki_link == 1
    assert (
        "1 of 3 comment(s) without a link to the CI's wiki page (policy comments.require_wiki_link)"
    ) in required.verdict.reasons
    assert not_required.evaluation.without_wiki_link == 0
    assert not any("wiki" in reason for reason in not_required.verdict.reasons)
    assert required.verdict.verdict == not_required.verdict.verdict
    # The live judge (dashboard, --follow) counts them as the full report does.
    live = LiveJudge(store, registry, load_policy(_policy(tmp_path, True)), window, END)
    assert live.evaluate("acme-ci")[0].without_wiki_link == 1


def test_audit_report_shows_the_conduct_findings(store: Store, tmp_path: Path) -> None:
    registry_path = tmp_path / "registry.yaml"
    registry_path.write_text(REGISTRY, encoding="utf-8")
    collect_dump(Ingestor(store, load_registry(registry_path)), _dump(tmp_path), workers=0)
    _register_subcommands()
    db = f"sqlite:///{tmp_path / 'driverci.sqlite'}"  # the store fixture's file
    args = ["audit", "report", "--db", db, "--registry", str(registry_path)]
    args += ["--policy", str(_policy(tmp_path, True))]
    args += ["--since", f"{START:%Y-%m-%d}", "--until", f"{END:%Y-%m-%d}"]

    table = CliRunner().invoke(app, args)
    document = json.loads(CliRunner().invoke(app, [*args, "--format", "json"]).stdout)

    assert table.exit_code == 0, table.output
    assert "1 of 3 comment(s) without a link to the CI's wiki page" in table.stdout
    [acme] = [s for s in document["systems"] if s["account"] == "acme-ci"]
    assert acme["without_wiki_link"] == 1
    assert acme["duplicates"] == 0
