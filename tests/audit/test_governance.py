"""Governance outputs: the documents the Ironic team files, rendered from registry and policy,
and the judge's verdicts under another project's rules (Cinder) with no code change."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from importlib.resources import files
from pathlib import Path

import yaml

from driverci.audit.config import load_judge_config
from driverci.audit.evaluate.criteria import CiRules, evaluate_ci
from driverci.audit.evaluate.facts import PatchSetFact, ProbeFact, ResultFact, Window
from driverci.audit.evaluate.verdict import judge_ci
from driverci.audit.govern.documents import propose_for_driver
from driverci.audit.govern.milestones import Activity, milestones_for, voting_recommendation
from driverci.audit.govern.policy_docs import (
    drivers_sections,
    process_sections,
    render,
    requirement_sections,
)
from driverci.policy.loader import load_packaged_policy, load_policy
from driverci.registry.loader import load_registry

TODAY = date(2026, 11, 25)


def test_a_supported_driver_without_reliable_ci_gets_a_deprecation_note_and_notice() -> None:
    registry, policy = load_registry(), load_policy()
    idrac = registry.driver("idrac")
    assert idrac is not None
    docs = propose_for_driver(
        idrac,
        "unsupported",
        ["Dell EMC Ironic third-party CI"],
        ["coverage 41% (12 of 29) is under 95%"],
        policy,
        TODAY,
    )
    kinds = {d.kind: d for d in docs}
    assert set(kinds) == {"deprecation_note", "notice"}
    note = kinds["deprecation_note"]
    assert note.path.startswith("releasenotes/notes/deprecate-idrac-")
    body = yaml.safe_load(note.text)
    assert list(body) == ["deprecations"]
    assert "shall be rescinded" in body["deprecations"][0]
    assert "coverage 41%" in body["deprecations"][0]
    notice = kinds["notice"].text
    assert "christopher.dearborn@dell.com" in notice
    assert "2026-12-25" in notice  # the notice period from policy


def test_a_deprecated_driver_whose_ci_came_back_is_reinstated() -> None:
    registry, policy = load_registry(), load_policy()
    idrac = registry.driver("idrac")
    assert idrac is not None
    deprecated = idrac.model_copy(update={"status": "deprecated", "deprecated_in": "2026.1"})
    docs = propose_for_driver(
        deprecated, "supported", ["Dell EMC Ironic third-party CI"], [], policy, TODAY
    )
    assert [d.kind for d in docs] == ["reinstatement_note"]
    assert "rescinded" in yaml.safe_load(docs[0].text)["other"][0]


def test_removal_note_tells_deployers_where_the_driver_went() -> None:
    registry, policy = load_registry(), load_policy()
    idrac = registry.driver("idrac")
    assert idrac is not None
    gone = idrac.model_copy(
        update={
            "status": "deprecated",
            "deprecated_in": "2025.1",
            "new_location": "https://opendev.org/x/ironic-staging-drivers",
        }
    )
    docs = propose_for_driver(gone, "unsupported", [], [], policy, TODAY)
    assert [d.kind for d in docs] == ["removal_note"]
    text = yaml.safe_load(docs[0].text)["upgrade"][0]
    assert "ironic-staging-drivers" in text and "enabled_hardware_types" in text


def test_policy_documents_state_the_rules_the_judge_enforces() -> None:
    policy, registry = load_policy(), load_registry()
    text = render(requirement_sections(policy, registry, TODAY) + process_sections(policy), "rst")
    assert "Requirements for third-party CI systems\n=======" in text
    assert "4 hours" in text and "8 hours" in text  # both deadlines, with dates
    assert "``^doc/.*$``" in text  # the exclusion list
    assert f"{policy.voting.min_days_reliable} days of reliable" in text
    assert "Deprecation and removal of drivers" in text
    markdown = render(drivers_sections(registry), "markdown")
    assert "| idrac | supported | Dell EMC |" in markdown
    assert "| irmc | removed (36.0.0) |" in markdown or "| irmc | removed" in markdown


def _cinder_world(last_success_days_ago: int) -> tuple[object, ...]:
    """50 patch sets, each answered in an hour; each result's link probed, alive, with a
    manifest naming the patch set's revision and the driver (the evidence "reliable" needs)."""
    end = datetime(2026, 6, 1, tzinfo=UTC)
    window = Window(end - timedelta(days=30), end)
    patch_sets = [
        PatchSetFact(
            "openstack/cinder",
            "master",
            100 + i,
            1,
            f"{i:040x}",
            window.start + timedelta(hours=12 * i),
            ("cinder/volume/drivers/acme.py",),
        )
        for i in range(50)
    ]
    success_cut = end - timedelta(days=last_success_days_ago)
    results = [
        ResultFact(
            "acme-cinder-ci",
            ps.change,
            1,
            ps.created + timedelta(hours=1),
            "SUCCESS" if ps.created + timedelta(hours=1) < success_cut else "FAILURE",
        )
        for ps in patch_sets
    ]
    probes = [
        ProbeFact(
            f"https://logs.example.org/acme/{ps.change}/1/",
            end,
            ps.created + timedelta(hours=1),
            True,
            True,
            ps.change,
            1,
            manifest_revision=ps.revision,
            manifest_driver="acme",
            account="acme-cinder-ci",
        )
        for ps in patch_sets
    ]
    return window, end, patch_sets, results, probes


def test_cinder_rules_work_without_code_changes() -> None:
    policy = load_packaged_policy("policy-cinder.yaml")
    for days, expected in ((20, "unreliable"), (3, "reliable")):
        window, end, patch_sets, results, probes = _cinder_world(days)
        assert isinstance(window, Window) and isinstance(end, datetime)
        rules = CiRules(
            "acme-cinder-ci",
            "Acme Cinder CI",
            ("acme",),
            date(2025, 1, 1),
            policy.deadline_hours,
            lambda ps: True,
        )
        ev = evaluate_ci(rules, window, end, patch_sets, results, {}, {}, probes)  # type: ignore[arg-type]
        verdict = judge_ci(ev, policy, end)
        assert verdict.verdict == expected, verdict.reasons
        if expected == "unreliable":
            assert any("no success" in reason for reason in verdict.reasons)


def test_milestones_and_voting_follow_the_policy() -> None:
    registry, policy = load_registry(), load_policy()
    ci = registry.ci_by_account("openstack-ironic-ci")
    assert ci is not None
    late = ci.model_copy(update={"started": date(2026, 9, 1)})
    states = {
        m.key: m.state
        for m in milestones_for(
            late, Activity(date(2026, 8, 20), date(2026, 8, 25), None), policy, TODAY
        )
    }
    assert states == {"intent": "met", "sandbox": "met", "per_patch": "missed"}
    now = datetime(2026, 11, 25, tzinfo=UTC)
    grant = voting_recommendation(late, "reliable", now - timedelta(days=120), policy, now)
    assert grant["recommendation"] == "grant"
    early = voting_recommendation(late, "reliable", now - timedelta(days=10), policy, now)
    assert early["recommendation"] == "not_yet"


def test_another_projects_documents_name_its_team_and_milestones() -> None:
    data = files("driverci") / "data"
    registry, policy, _ = load_judge_config(
        Path(str(data / "registry-neutron.yaml")), Path(str(data / "policy-neutron.yaml"))
    )
    text = render(requirement_sections(policy, registry, TODAY) + process_sections(policy), "rst")
    assert "propose it to the Neutron team" in text
    assert "the Neutron team follows this timeline" in text
    assert "Ironic" not in text and "Mitaka" not in text
    assert "External third-party testing (Icehouse-2)" in text
