"""Which CI a person's recheck asks, as the judge's figures show it: a second report after a
recheck that asked another CI is a duplicate; one after a recheck that asked this CI, or every
CI, is a rerun and its answer time counts. Free-text results are counted and their links probed.

The comment texts are the forms of review.openstack.org change 92468 (May 2014, DriverLog's
tests/unit/test_data/sample_review.json): "recheck-vmware", VMware's job line, Hyper-V's
"Looks good to me" line, Arista's "third party testing PASSED [ url ]"; "check hyper-v" is
Hyper-V CI's documented trigger, which this project's policy declares for every CI as
"check {ci}", and the registry may declare for one CI.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from driverci.audit.engine import Judge
from driverci.audit.evaluate.facts import Window
from driverci.audit.intake.collect import collect_dump
from driverci.audit.intake.ingest import Ingestor, MessageClassifier, NormalizedMessage
from driverci.audit.probe.artifacts import ArtifactSurvey
from driverci.audit.probe.fetch import ProbeLimits
from driverci.policy.loader import load_policy
from driverci.policy.schema import Policy
from driverci.registry.loader import load_registry
from driverci.registry.schema import CISystem, Registry
from driverci.store import Store

START = datetime(2026, 3, 2, tzinfo=UTC)
PROJECT = "openstack/ironic"
HOUR = timedelta(hours=1)

ACME = {"username": "acme-ci", "name": "Acme CI"}
VMWARE = {"username": "vmwareminesweeper", "name": "VMware NSX CI"}
ARISTA = {"username": "arista-test", "name": "Arista Testing CI"}
HYPERV = {"username": "hyper-v-ci", "name": "Hyper-V CI"}
DEV = {"username": "armando", "name": "A Developer"}


def _acme(number: int) -> str:
    return (
        "Patch Set 1: Verified+1\n\nBuild succeeded.\n\n"
        f"- acme-tempest http://logs.acme.example/{number}/1/ : SUCCESS in 21m 00s"
    )


def _vmware(number: int) -> str:
    return (
        "Patch Set 1: Verified+1\n\n- check-tempest-neutron-vmware-nsx "
        f"http://208.91.1.172/logs/neutron/{number}/1/412688/ : SUCCESS in 43m 0s (102.17% avg)"
    )


def _hyperv(number: int) -> str:
    return (
        "Patch Set 1:\n\nBuild succeeded.\n\n"
        f"- http://64.119.130.115/{number}/1/ : Looks good to me in 36m 10s"
    )


def _change(number: int, comments: list[tuple[int, dict[str, str], str]]) -> str:
    created = START + (number - 100) * 24 * HOUR
    return json.dumps(
        {
            "project": PROJECT,
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
                    "files": [{"file": "ironic/drivers/modules/acme.py", "type": "MODIFIED"}],
                }
            ],
            "comments": [
                {
                    "timestamp": int((created + hours * HOUR).timestamp()),
                    "reviewer": who,
                    "message": text,
                }
                for hours, who, text in comments
            ],
        }
    )


def _registry() -> Registry:
    started = date(2026, 3, 1)
    systems = [
        CISystem(account="acme-ci", name="Acme CI", started=started),
        # "recheck-vmware" finds it by the first word of its name, which no other CI shares.
        CISystem(account="vmwareminesweeper", name="VMware NSX CI", started=started),
        CISystem(account="arista-test", name="Arista Testing CI", started=started),
        CISystem(account="hyper-v-ci", name="Hyper-V CI", started=started),
    ]
    return load_registry().model_copy(
        update={"project": PROJECT, "sandbox_project": None, "ci_systems": systems}
    )


def _policy() -> Policy:
    """Ironic's policy, plus a project-wide "check <CI name>" form."""
    shipped = load_policy()
    check = r"(?i)^(Patch Set \d+:[^\n]*)?(\n\n)?\s*check {ci}\s*$"
    recheck = shipped.recheck.model_copy(update={"patterns": [*shipped.recheck.patterns, check]})
    return shipped.model_copy(update={"recheck": recheck})


def _judge(store: Store, tmp_path: Path, workers: int = 0) -> dict[str, Any]:
    lines = [
        # Both CIs report; a developer asks VMware again; both report again.
        _change(
            101,
            [
                (1, ACME, _acme(101)),
                (1, VMWARE, _vmware(101)),
                (2, DEV, "Patch Set 1:\n\nrecheck-vmware"),
                (3, VMWARE, _vmware(101)),
                (3, ACME, _acme(101)),
            ],
        ),
        # A recheck written with an inline comment asks every CI: no one's rerun is a duplicate.
        _change(
            102,
            [
                (1, ACME, _acme(102)),
                (2, DEV, "Patch Set 1:\n\n(1 comment)\n\nrecheck"),
                (3, ACME, _acme(102)),
                (
                    4,
                    ARISTA,
                    "Patch Set 1: Verified+1\n\n"
                    "Arista third party testing PASSED [ https://arista.box.com/s/80xp ]",
                ),
            ],
        ),
        # The policy's "check {ci}" reruns Hyper-V only.
        _change(
            103,
            [
                (1, ACME, _acme(103)),
                (1, HYPERV, _hyperv(103)),
                (2, DEV, "Patch Set 1:\n\ncheck hyper-v"),
                (3, HYPERV, _hyperv(103)),
                (3, ACME, _acme(103)),
            ],
        ),
    ]
    dump = tmp_path / "dump.json"
    dump.write_text("\n".join(lines) + "\n")
    policy = _policy()
    registry = _registry()
    collect_dump(Ingestor(store, registry, policy.recheck.patterns), dump, workers=workers)
    end = START + timedelta(days=5)
    report = Judge(store, registry, policy, now=end).report(Window(START, end))
    links = ArtifactSurvey(store, ProbeLimits(), now=end).links_to_probe(PROJECT, START, end)
    return {
        "ev": {s.evaluation.account: s.evaluation for s in report.systems},
        "links": [target.url for target in links],
    }


# Worker processes classify a large dump: they must read rechecks with the same policy.
@pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "worker-processes"])
def test_a_vendor_recheck_reruns_only_that_vendor_and_a_plain_one_reruns_all(
    store: Store, tmp_path: Path, workers: int
) -> None:
    judged = _judge(store, tmp_path, workers)
    ev = judged["ev"]
    acme, vmware, hyperv = ev["acme-ci"], ev["vmwareminesweeper"], ev["hyper-v-ci"]

    # "recheck-vmware" (101) and the policy's "check hyper-v" (103) did not ask Acme: its
    # second reports there are duplicates (before, the "-" let "recheck-vmware" pass for a
    # recheck of every CI). On 102 "(1 comment) recheck" asked everyone.
    assert acme.duplicates == 2
    assert (vmware.duplicates, hyperv.duplicates) == (0, 0)
    # VMware and Hyper-V answered the patch set and the recheck they were asked: two answers
    # each, on time; Acme answered its three patch sets and the plain recheck on 102.
    assert (vmware.answered, vmware.on_time) == (2, 2)
    assert (hyperv.answered, hyperv.on_time) == (2, 2)
    assert (acme.answered, acme.on_time) == (4, 4)


def test_a_free_text_result_is_counted_and_its_link_probed(store: Store, tmp_path: Path) -> None:
    judged = _judge(store, tmp_path)
    arista = judged["ev"]["arista-test"]

    assert (arista.results, arista.successes, arista.unparseable) == (1, 1, 0)
    assert "https://arista.box.com/s/80xp" in judged["links"]
    assert "http://208.91.1.172/logs/neutron/101/1/412688/" in judged["links"]
    assert "http://64.119.130.115/103/1/" in judged["links"]
    assert judged["ev"]["hyper-v-ci"].successes == 2


def test_a_ci_declared_recheck_syntax_in_the_registry_is_credited_to_it() -> None:
    registry = _registry()
    systems = [
        ci.model_copy(update={"recheck_pattern": [r"^check hyper-v\s*$"]})
        if ci.account == "hyper-v-ci"
        else ci
        for ci in registry.ci_systems
    ]
    classifier = MessageClassifier(registry.model_copy(update={"ci_systems": systems}))
    undeclared = MessageClassifier(registry)

    def message(text: str) -> NormalizedMessage:
        return NormalizedMessage("m1", START, text, 1, None, "armando", "A Developer", None)

    asked = classifier.classify(message("Patch Set 1:\n\ncheck hyper-v"))

    assert asked[:3] == ("hyper-v-ci", None, "recheck")
    assert undeclared.classify(message("Patch Set 1:\n\ncheck hyper-v"))[2] == "human"
