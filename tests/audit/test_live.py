"""Live evaluation: a judge that keeps the facts in memory gives the same figures as a full
report, and moves them as soon as a new patch set, result or recheck arrives."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from driverci.audit.engine import Judge
from driverci.audit.evaluate.facts import PatchSetFact, ProbeFact, RecheckFact, ResultFact, Window
from driverci.audit.intake.collect import collect_dump
from driverci.audit.intake.ingest import Ingestor
from driverci.audit.live.judge import LiveJudge
from driverci.policy.loader import load_policy
from driverci.policy.schema import Policy
from driverci.registry.loader import load_registry
from driverci.registry.schema import CISystem, Registry
from driverci.store.db import Store

START = datetime(2026, 1, 1, tzinfo=UTC)
END = START + timedelta(days=40)
WINDOW = Window(END - timedelta(days=30), END)
# account -> (share of patch sets reported, hours to report)
CIS = {"steady-ci": (1.0, 1.0), "sloppy-ci": (0.7, 6.0), "late-ci": (0.95, 9.0)}


def _account(username: str) -> dict[str, str]:
    return {"username": username, "name": username.replace("-", " ").title().replace("Ci", "CI")}


def _report(ps: int, account: str, failed: bool, number: int) -> str:
    result = "FAILURE" if failed else "SUCCESS"
    return (
        f"Patch Set {ps}: Verified{'-1' if failed else '+1'}\n\n"
        f"Build {'failed' if failed else 'succeeded'} (check pipeline).\n\n"
        f"- tempest https://logs.example.org/{account}/{number}/{ps}/ : {result} in 1h 02m 03s\n"
    )


def _dump(path: Path) -> None:
    """A small project's 40 days: 4 changes a day, zuul plus three CIs of known habits."""
    rng = random.Random(7)
    lines = []
    for index in range(150):  # the last change comes 2.5 days before the window ends
        number = 1000 + index
        created = START + timedelta(hours=6 * index)
        comments: list[dict[str, Any]] = []
        patch_sets = []
        for ps in (1, 2):
            at = created + timedelta(hours=2 * (ps - 1))
            files = ["doc/index.rst"] if index % 9 == 0 else ["ironic/conductor/manager.py"]
            patch_sets.append(
                {
                    "number": ps,
                    "revision": f"{number:06d}{ps:034d}",
                    "createdOn": int(at.timestamp()),
                    "files": [{"file": f, "type": "MODIFIED"} for f in files],
                }
            )
            comments.append(
                {
                    "timestamp": int((at + timedelta(minutes=40)).timestamp()),
                    "reviewer": _account("zuul"),
                    "message": _report(ps, "zuul", index % 7 == 0, number),
                }
            )
            for account, (share, hours) in CIS.items():
                if rng.random() < share:
                    posted = at + timedelta(hours=hours * rng.uniform(0.5, 1.5))
                    comments.append(
                        {
                            "timestamp": int(posted.timestamp()),
                            "reviewer": _account(account),
                            "message": _report(ps, account, index % 7 == 0, number),
                        }
                    )
        change = {
            "project": "openstack/ironic",
            "branch": "master",
            "id": f"I{number:040d}",
            "number": number,
            "subject": f"Change {number}",
            "createdOn": int(created.timestamp()),
            "status": "MERGED" if index % 2 else "NEW",
            "comments": sorted(comments, key=lambda c: c["timestamp"]),
            "patchSets": patch_sets,
        }
        lines.append(json.dumps(change))
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def judged(store: Store, tmp_path: Path) -> tuple[Store, Registry, Policy]:
    base = load_registry()
    systems = [ci for ci in base.ci_systems if ci.kind == "upstream"]
    systems += [
        CISystem(account=account, name=_account(account)["name"], started=date(2025, 6, 1))
        for account in CIS
    ]
    registry = base.model_copy(update={"ci_systems": systems})
    _dump(tmp_path / "dump.json")
    collect_dump(Ingestor(store, registry), tmp_path / "dump.json", workers=0)
    return store, registry, load_policy()


def test_live_judge_gives_the_figures_of_a_full_report(
    judged: tuple[Store, Registry, Policy],
) -> None:
    store, registry, policy = judged
    report = Judge(store, registry, policy, now=END).report(WINDOW)
    live = LiveJudge(store, registry, policy, WINDOW, now=END)

    assert {s.evaluation.account for s in report.systems} >= set(CIS)
    for system in report.systems:
        evaluation, verdict = live.evaluate(system.evaluation.account)
        assert evaluation == system.evaluation
        assert verdict == system.verdict
    sloppy, _ = live.evaluate("sloppy-ci")
    assert sloppy.coverage is not None and 0.55 < sloppy.coverage < 0.85


def test_a_new_result_moves_the_cis_figures_at_once(
    judged: tuple[Store, Registry, Policy],
) -> None:
    store, registry, policy = judged
    live = LiveJudge(store, registry, policy, WINDOW, now=END)
    before, _ = live.evaluate("steady-ci")

    # A new change arrives late in the window; steady-ci has not answered it yet.
    created = END - timedelta(hours=20)
    new_ps = PatchSetFact(
        "openstack/ironic", "master", 5000, 1, "f" * 40, created, ("ironic/drivers/fake.py",)
    )
    live.apply(new_ps)
    missed, _ = live.evaluate("steady-ci")
    assert missed.expected == before.expected + 1
    assert missed.missed[-1] == (5000, 1)

    # Its result comes in two hours later: reported, on time, and it is the last report.
    posted = created + timedelta(hours=2)
    live.apply(ResultFact("steady-ci", 5000, 1, posted, "SUCCESS"))
    answered, verdict = live.evaluate("steady-ci")
    assert answered.reported == before.reported + 1
    assert answered.on_time == before.on_time + 1
    assert answered.last_report == posted and answered.last_success == posted
    assert (5000, 1) not in answered.missed
    # Nothing is wrong, but nobody probed its links: not reliable without that evidence.
    assert verdict.verdict == "unproven"
    assert verdict.criteria["artifacts"].state == "not_assessed"
    assert verdict.criteria["coverage"].state == verdict.criteria["timeliness"].state == "met"

    # A recheck asks again and the CI answers a second time: no duplicate, one more answer.
    live.apply(RecheckFact(5000, 1, posted + timedelta(hours=1)))
    live.apply(ResultFact("steady-ci", 5000, 1, posted + timedelta(hours=3), "SUCCESS"))
    rechecked, _ = live.evaluate("steady-ci")
    assert rechecked.duplicates == answered.duplicates
    assert rechecked.answered == answered.answered + 1

    # The judge probes the result's link and finds it gone: one more link checked, not up.
    link = "https://logs.example.org/5000/1/"
    checked = posted + timedelta(hours=4)
    with pytest.raises(ValueError, match="names no CI"):
        live.apply(ProbeFact(link, checked, posted, False, False, 5000, 1))
    live.apply(ProbeFact(link, checked, posted, False, False, 5000, 1, account="steady-ci"))
    probed, verdict = live.evaluate("steady-ci")
    assert probed.artifacts.checked == rechecked.artifacts.checked + 1
    assert probed.artifacts.available == rechecked.artifacts.available
    # Now there is evidence, and it is bad: its only probed link is dead.
    assert verdict.criteria["artifacts"].state == "not_met"
    assert verdict.verdict == "unreliable"


def test_a_docs_only_patch_set_is_not_expected(judged: tuple[Store, Registry, Policy]) -> None:
    store, registry, policy = judged
    live = LiveJudge(store, registry, policy, WINDOW, now=END)
    before, _ = live.evaluate("late-ci")
    created = END - timedelta(hours=30)
    live.apply(
        PatchSetFact("openstack/ironic", "master", 5001, 1, "e" * 40, created, ("doc/a.rst",))
    )
    after, _ = live.evaluate("late-ci")
    assert after.expected == before.expected
