"""The judge reads the same facts from either database.

The load takes different paths per backend (on SQLite: raw driver rows, a covering index,
datetimes parsed from text; elsewhere: SQLAlchemy's typed rows), so the same collected
messages must give the same results, activity, names and rechecks on both.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from driverci.audit.engine import Judge
from driverci.audit.evaluate.facts import Window
from driverci.audit.evaluate.load import load_facts
from driverci.audit.intake.collect import collect_dump
from driverci.audit.intake.ingest import Ingestor
from driverci.audit.probe.artifacts import ArtifactSurvey
from driverci.audit.probe.fetch import ProbeLimits
from driverci.policy.loader import load_policy
from driverci.registry.loader import load_registry
from driverci.registry.schema import CISystem, Registry
from driverci.store import Store, make_engine, migrate, open_store
from driverci.store.models import ArtifactProbe, ReviewMessage

START = datetime(2026, 3, 2, tzinfo=UTC)
PROJECT = "openstack/ironic"
SANDBOX = "opendev/ci-sandbox"


def _who(username: str, name: str) -> dict[str, str]:
    return {"username": username, "name": name}


def _comment(at: datetime, who: dict[str, str], message: str) -> dict[str, Any]:
    return {"timestamp": int(at.timestamp()), "reviewer": who, "message": message}


def _report(ps: int, number: int, result: str, pipeline: str = "check") -> str:
    vote = "Verified+1" if result == "SUCCESS" else "Verified-1"
    status = "succeeded" if result == "SUCCESS" else "failed"
    return (
        f"Patch Set {ps}: {vote}\n\nBuild {status} ({pipeline} pipeline).\n\n"
        f"- unit https://logs.example.org/{number}/{ps}/unit/ : {result} in 12m 03s\n"
        f"- tempest https://logs.example.org/{number}/{ps}/tempest/ : {result} in 1h 02m 03s\n"
    )


ACME = _who("acme-ci", "Acme CI")
ROGUE = _who("rogue-ci", "Rogue Vendor CI")  # not in the registry
DEV = _who("dev1", "Dev One")


def _change(project: str, number: int, created: datetime, comments: list[Any]) -> str:
    return json.dumps(
        {
            "project": project,
            "branch": "master",
            "id": f"I{number:040d}",
            "number": number,
            "subject": f"Change {number}",
            "createdOn": int(created.timestamp()),
            "status": "NEW",
            "patchSets": [
                {
                    "number": 1,
                    "revision": f"{number:040d}",
                    "createdOn": int(created.timestamp()),
                    "files": [{"file": "ironic/drivers/acme.py", "type": "MODIFIED"}],
                }
            ],
            "comments": comments,
        }
    )


def _posted(store: Store, message_pk: int) -> datetime:
    with store.transaction() as session:
        posted: datetime = session.get_one(ReviewMessage, message_pk).date
        return posted


def _collect(store: Store, tmp_path: Path) -> Registry:
    hour = timedelta(hours=1)
    lines = [
        # The sandbox first: Acme's first comment anywhere, 2 days before its first result.
        _change(SANDBOX, 7, START, [_comment(START + hour, ACME, _report(1, 7, "SUCCESS"))]),
        _change(
            PROJECT,
            101,
            START + 2 * 24 * hour,
            [
                _comment(START + 50 * hour, ACME, _report(1, 101, "FAILURE")),
                _comment(START + 51 * hour, DEV, "Patch Set 1:\n\nrecheck"),
                _comment(START + 53 * hour, ACME, _report(1, 101, "SUCCESS")),
                _comment(START + 54 * hour, ROGUE, _report(1, 101, "SUCCESS")),
                # A gate report counts as activity, not as a check result.
                _comment(START + 60 * hour, ACME, _report(1, 101, "SUCCESS", "gate")),
            ],
        ),
        _change(PROJECT, 102, START + 3 * 24 * hour, []),
    ]
    dump = tmp_path / "dump.json"
    dump.write_text("\n".join(lines) + "\n")
    base = load_registry()
    acme = CISystem(account="acme-ci", name="Acme CI", started=date(2026, 3, 1))
    registry = base.model_copy(
        update={"project": PROJECT, "sandbox_project": SANDBOX, "ci_systems": [acme]}
    )
    collect_dump(Ingestor(store, registry), dump, workers=0)
    return registry


def test_the_judge_reads_the_same_facts_on_every_backend(store: Store, tmp_path: Path) -> None:
    registry = _collect(store, tmp_path)
    end = START + timedelta(days=10)
    # The judge probed the first link of Acme's passing report on change 101.
    survey = ArtifactSurvey(store, ProbeLimits(), now=end)
    [target] = [
        t
        for t in survey.links_to_probe(PROJECT, START, end, ["rogue-ci"])
        if t.url.endswith("/101/1/unit/") and _posted(store, t.message_pk).hour == 5
    ]
    with store.transaction() as session:
        session.add(
            ArtifactProbe(
                url=target.url,
                message_pk=target.message_pk,
                checked_at=end,
                available=True,
                standard=False,
                missing_json='["testr_results"]',
            )
        )

    with store.transaction() as session:
        facts = load_facts(session, PROJECT, SANDBOX, START - timedelta(days=1), end)

    acme = sorted(facts.results["acme-ci"], key=lambda r: r.posted)  # rows come in any order
    assert [(r.change, r.patch_set, r.result, r.posted) for r in acme] == [
        (101, 1, "FAILURE", START + timedelta(hours=50)),
        (101, 1, "SUCCESS", START + timedelta(hours=53)),
    ]
    assert all(r.posted.tzinfo is UTC for r in acme)
    [probe] = facts.probes["acme-ci"]
    assert (probe.account, probe.change, probe.patch_set, probe.posted) == (
        "acme-ci",
        101,
        1,
        acme[1].posted,
    )
    assert probe.checked_at == end and probe.available and probe.missing == ("testr_results",)
    assert acme[1].message_pk == target.message_pk
    assert facts.activity["acme-ci"] == (date(2026, 3, 2), date(2026, 3, 2), date(2026, 3, 4))
    assert facts.activity["rogue-ci"] == (date(2026, 3, 4), None, date(2026, 3, 4))
    assert facts.names["rogue-ci"] == "Rogue Vendor CI"
    [recheck] = facts.rechecks[(101, 1)]
    assert recheck.posted == START + timedelta(hours=51) and recheck.target is None

    report = Judge(store, registry, load_policy(), now=end).report(Window(START, end))
    by_account = {s.evaluation.account: s for s in report.systems}
    assert by_account["acme-ci"].evaluation.expected == 2
    assert by_account["acme-ci"].evaluation.missed == [(102, 1)]
    assert by_account["rogue-ci"].registered is False
    assert by_account["rogue-ci"].evaluation.name == "Rogue Vendor CI"


def test_facts_from_earlier_narrowed_to_a_later_start_are_the_facts_from_that_start(
    store: Store, tmp_path: Path
) -> None:
    # The dashboard narrows the judge's facts (which reach back for voting) to its window
    # instead of loading the store a second time.
    _collect(store, tmp_path)
    end = START + timedelta(days=10)
    later = START + timedelta(days=2, hours=12)  # after change 101, before change 102

    with store.transaction() as session:
        wide = load_facts(session, PROJECT, SANDBOX, START - timedelta(days=1), end)
        narrow = load_facts(session, PROJECT, SANDBOX, later, end)

    narrowed = wide.created_since(later)
    assert sorted(ps.key for ps in wide.patch_sets) == [(101, 1), (102, 1)]
    assert [ps.key for ps in narrowed.patch_sets] == [(102, 1)]
    assert narrowed == narrow


def test_probes_stored_before_they_named_their_comment_are_matched_by_the_upgrade(
    tmp_path: Path,
) -> None:
    # A store at revision 0005 holds probes found by link only.
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = make_engine(url)
    migrate(engine, "0005")
    old = open_store(url, run_migrations=False)
    _collect(old, tmp_path)
    link = "https://logs.example.org/101/1/unit/"
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO artifact_probes (url, checked_at, available, browsable, standard)"
                " VALUES (:url, '2026-03-10 00:00:00.000000', 1, 1, 0)"
            ),
            {"url": link},
        )
    old.close()

    store = open_store(url)  # migrates to the newest revision
    end = START + timedelta(days=10)
    with store.transaction() as session:
        facts = load_facts(session, PROJECT, SANDBOX, START - timedelta(days=1), end)
    store.close()
    engine.dispose()

    # The link was posted by Acme's failing report, its passing one, then by Rogue's copy (and
    # by a gate report, which is no result): the probe belongs to the last result posting it.
    assert "acme-ci" not in facts.probes
    [probe] = facts.probes["rogue-ci"]
    assert (probe.url, probe.change, probe.patch_set) == (link, 101, 1)
    assert probe.posted == START + timedelta(hours=54)
