"""The same judge runs Neutron's and Cinder's rules by configuration alone: the example
registry and policy files shipped beside Ironic's, a real 2014 Neutron dump, and nothing
Ironic-shaped left in the report (no hardware types, no Mitaka milestone)."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from driverci.cli import _register_subcommands, app

DATA = files("driverci") / "data"
NEUTRON_REGISTRY = DATA / "registry-neutron.yaml"
NEUTRON_POLICY = DATA / "policy-neutron.yaml"
VENDOR_CIS = {
    "cisco_ml2_ci": "Cisco ML2 CI",
    "mellanox": "Mellanox External Testing",
    "bsn": "Big Switch CI",
    "arista-test": "Arista Testing",
    "vmwareminesweeper": "VMware Mine Sweeper",
}
# The real change's patch set, as a `gerrit query --patch-sets --files --comments` line of
# Gerrit 2.8 (numbers as strings). The change (number, id, project, owner, creation) is the
# 2014 sample's; the sample is a change list without revisions or messages, so the patch
# set, its file and the comments below are WRITTEN FOR THIS TEST, in the formats of 2014
# (Jenkins's "Build succeeded." job lines, as in gerrit-samples/openstack-2014-*).
CREATED = 1407528270  # 2014-08-08 20:04:30 UTC, the sample's "created"


def _comment(minutes: int, username: str, name: str, text: str) -> dict[str, Any]:
    return {
        "timestamp": CREATED + 60 * minutes,
        "reviewer": {"username": username, "name": name},
        "message": text,
    }


def _report(job: str, result: str, footer: str = "") -> str:
    status = "succeeded" if result == "SUCCESS" else "failed"
    return (
        f"Patch Set 1:\n\nBuild {status}.{footer}\n\n"
        f"- {job} http://logs.example.org/09/113009/1/check/{job}/a1b2c3d : {result} in 45m 10s\n"
    )


def _supplement(tmp_path: Path) -> Path:
    wiki = " For contact info see https://wiki.openstack.org/wiki/ThirdPartySystems/"
    comments = [
        _comment(40, "jenkins", "Jenkins", _report("gate-neutron-python27", "SUCCESS")),
        _comment(
            90,
            "bsn",
            "Big Switch CI",
            _report("BigSwitch-ML2-Driver", "SUCCESS", wiki + "Big_Switch_CI"),
        ),
        # Mellanox comments twice with no recheck between, and never links to a wiki page.
        _comment(
            100,
            "mellanox",
            "Mellanox External Testing",
            _report("Check-MLNX-Neutron-ML2-driver", "SUCCESS"),
        ),
        _comment(
            130,
            "mellanox",
            "Mellanox External Testing",
            _report("Check-MLNX-Neutron-ML2-driver", "SUCCESS"),
        ),
        _comment(
            150,
            "vmwareminesweeper",
            "VMware Mine Sweeper",
            _report("vmware-tempest", "FAILURE", wiki + "VMware_CI"),
        ),
        _comment(
            200, "cisco_ml2_ci", "Cisco ML2 CI", _report("ml2-nexus", "SUCCESS", wiki + "Cisco_CI")
        ),
        # Arista Testing never reports.
    ]
    change = {
        "project": "openstack/neutron",
        "branch": "master",
        "id": "Iefb30452083747b45496600c81f8d0a6f378bd08",
        "number": "113009",
        "subject": "Change nexus_dict values to be array",
        "owner": {"name": "Britt Houser"},
        "createdOn": CREATED,
        "status": "NEW",
        "patchSets": [
            {
                "number": "1",
                "revision": "f" * 40,
                "createdOn": CREATED,
                "files": [
                    {
                        "file": "neutron/plugins/ml2/drivers/cisco/nexus/mech_cisco_nexus.py",
                        "type": "MODIFIED",
                    }
                ],
            }
        ],
        "comments": comments,
    }
    path = tmp_path / "neutron-113009-patch-set.json"
    path.write_text(json.dumps(change) + "\n", encoding="utf-8")
    return path


def _invoke(*args: str) -> Any:
    _register_subcommands()
    return CliRunner().invoke(app, list(args))


def test_neutron_2014_vendor_cis_are_judged_by_neutrons_rules(
    shared_dir: Path, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'neutron.sqlite'}"
    config = ["--registry", str(NEUTRON_REGISTRY)]
    window = ["--since", "2014-08-01", "--until", "2014-08-10"]
    dump = shared_dir / "gerrit-samples" / "openstack-2014-changes-query.json"
    assert json.loads(dump.read_text())[0]["project"] == "openstack/neutron"

    # The real dump loads (a REST change list: one change, no revisions, no messages) ...
    real = _invoke("audit", "collect", "--from-dump", str(dump), "--db", db, *config)
    assert real.exit_code == 0, real.output
    assert "collected 1 changes, 0 patch sets" in " ".join(real.stdout.split())
    # ... and its patch set with the CIs' comments comes from the supplement.
    more = _invoke(
        "audit", "collect", "--from-dump", str(_supplement(tmp_path)), "--db", db, *config
    )
    assert more.exit_code == 0, more.output

    report = ["audit", "report", "--db", db, *config, "--policy", str(NEUTRON_POLICY), *window]
    table = _invoke(*report)
    document = json.loads(_invoke(*report, "--format", "json").stdout)

    assert table.exit_code == 0, table.output
    assert "openstack/neutron: CI systems, 2014-08-01 to 2014-08-10" in table.stdout
    assert document["project"] == "openstack/neutron"
    systems = {s["account"]: s for s in document["systems"]}
    assert {a: systems[a]["name"] for a in VENDOR_CIS} == VENDOR_CIS
    # Judged: one patch set of the Cisco Nexus driver to test, each CI's figures on it.
    assert {a: (systems[a]["expected"], systems[a]["reported"]) for a in VENDOR_CIS} == {
        "cisco_ml2_ci": (1, 1),
        "mellanox": (1, 1),
        "bsn": (1, 1),
        "arista-test": (1, 0),
        "vmwareminesweeper": (1, 1),
    }
    assert systems["arista-test"]["verdict"] == "unreliable"  # missed its one patch set
    assert systems["bsn"]["verdict"] == "at_risk"  # one patch set is too few to call reliable
    # Conduct: Mellanox's second comment and its missing wiki links, nobody else's.
    assert {a: (systems[a]["duplicates"], systems[a]["without_wiki_link"]) for a in VENDOR_CIS} == {
        "cisco_ml2_ci": (0, 0),
        "mellanox": (1, 2),
        "bsn": (0, 0),
        "arista-test": (0, 0),
        "vmwareminesweeper": (0, 0),
    }
    assert "Mellanox External Testing" in table.stdout
    assert "2 of 2 comment(s) without a link to the CI's wiki page" in table.stdout
    # Neutron's milestones only: nothing of Ironic's Mitaka and Newton deadlines.
    for account in VENDOR_CIS:
        milestones = {m["key"]: m for m in systems[account]["milestones"]}
        assert set(milestones) == {"icehouse_2_contact", "icehouse_2_testing", "juno_2"}
        assert milestones["juno_2"]["due"] == "2014-07-24"
    assert systems["bsn"]["milestones"][2]["state"] == "met_late"  # first result 2014-08-08
    assert "Mitaka" not in json.dumps(document) and "Mitaka" not in table.stdout
    # Neutron's kinds of driver, tied to their CIs.
    drivers = {d["name"]: d for d in document["drivers"]}
    assert drivers["ml2-cisco-nexus"]["ci"] == ["Cisco ML2 CI"]
    assert drivers["ml2-arista"]["verdict"] == "unsupported"
    # The names older than infra's " CI" rule are warnings on stderr, one line each.
    warned = [line for line in table.stderr.splitlines() if line.startswith("warning:")]
    named = [line for line in warned if "does not end in ' CI'" in line]
    assert len(named) == 3 and all(str(NEUTRON_REGISTRY) in line for line in named)
    assert any("ci_systems[2].name: 'Mellanox External Testing'" in line for line in named)


def test_cinders_files_judge_cinder_cis_without_a_deadline(tmp_path: Path) -> None:
    """Cinder sets no reporting deadline: a patch set its CI has not answered stays pending
    (it is never late), and the report runs (it raised OverflowError on that patch set)."""
    created = 1602856800  # 2020-10-16 14:00 UTC
    netapp = {"username": "NetApp-ci", "name": "NetApp CI"}
    change = {
        "project": "openstack/cinder",
        "branch": "master",
        "id": "I" + "2" * 40,
        "number": 758569,
        "subject": "A change to the Pure Storage driver",
        "createdOn": created,
        "status": "NEW",
        "patchSets": [
            {
                "number": 1,
                "revision": "e" * 40,
                "createdOn": created,
                "files": [{"file": "cinder/volume/drivers/pure.py", "type": "MODIFIED"}],
            }
        ],
        "comments": [
            {
                "timestamp": created + 3600,
                "reviewer": netapp,
                "message": _report("cinder-netapp-ontap-iscsi", "SUCCESS"),
            }
        ],
    }
    dump = tmp_path / "cinder.json"
    dump.write_text(json.dumps(change) + "\n", encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'cinder.sqlite'}"
    registry = ["--registry", str(DATA / "registry-cinder.yaml")]
    policy = ["--policy", str(DATA / "policy-cinder.yaml")]
    window = ["--since", "2020-10-10", "--until", "2020-10-20"]

    collected = _invoke("audit", "collect", "--from-dump", str(dump), "--db", db, *registry)
    result = _invoke("audit", "report", "--format", "json", "--db", db, *registry, *policy, *window)

    assert collected.exit_code == 0, collected.output
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    systems = {s["account"]: s for s in document["systems"]}
    assert (systems["NetApp-ci"]["expected"], systems["NetApp-ci"]["reported"]) == (1, 1)
    pure = systems["purestorage-cinder-ci"]
    assert (pure["expected"], pure["pending"], pure["missed"]) == (0, 1, [])
    assert [m["key"] for m in pure["milestones"]] == ["per_patch"]
    assert {d["name"] for d in document["drivers"]} == {"netapp", "pure", "quobyte", "tintri"}
