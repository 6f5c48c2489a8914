"""The registries and policies shipped in driverci/data, DriverLog style: data in git, a
schema, and tests that hold every file to it. Each registry has a policy for the same
project, so `--registry X --policy Y` of a pair runs that project's rules unchanged."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pytest

from driverci.audit.config import load_judge_config
from driverci.registry.loader import load_registry_with_warnings

DATA = Path(str(files("driverci") / "data"))
PAIRS = {
    "registry.yaml": "policy.yaml",
    "registry-neutron.yaml": "policy-neutron.yaml",
    "registry-cinder.yaml": "policy-cinder.yaml",
}


def test_every_shipped_registry_and_policy_is_in_a_pair() -> None:
    shipped = {path.name for path in DATA.glob("*.yaml")}
    assert shipped == set(PAIRS) | set(PAIRS.values())


@pytest.mark.parametrize(("registry_name", "policy_name"), sorted(PAIRS.items()))
def test_each_pair_loads_for_one_project(registry_name: str, policy_name: str) -> None:
    registry, policy, _warnings = load_judge_config(DATA / registry_name, DATA / policy_name)
    assert registry.project == policy.project
    kinds = set(registry.driver_kinds)
    assert {driver.kind for driver in registry.drivers} <= kinds
    text = (DATA / registry_name).read_text(encoding="utf-8")
    # Every file says where its facts come from (DriverLog's accounts at least).
    assert "DriverLog" in text and "eb2b673ab726" in text


@pytest.mark.parametrize("registry_name", ["registry-neutron.yaml", "registry-cinder.yaml"])
def test_every_example_driver_has_a_ci_with_a_contact(registry_name: str) -> None:
    registry, _ = load_registry_with_warnings(DATA / registry_name)
    assert registry.drivers
    for driver in registry.drivers:
        cis = registry.ci_for_driver(driver.name)
        assert cis, driver.name
        assert all(ci.contacts for ci in cis), driver.name
        assert driver.contacts, driver.name


def test_neutrons_2014_names_are_warned_about_not_refused() -> None:
    registry, warnings = load_registry_with_warnings(DATA / "registry-neutron.yaml")
    assert registry.driver_kinds == ["core-plugin", "ml2-mechanism", "service-driver"]
    warned = sorted(w.split("'")[1] for w in warnings)
    assert warned == ["Arista Testing", "Mellanox External Testing", "VMware Mine Sweeper"]


@pytest.mark.parametrize(
    ("policy_name", "keys"),
    [
        ("policy.yaml", ["intent", "sandbox", "per_patch"]),
        ("policy-neutron.yaml", ["icehouse_2_contact", "icehouse_2_testing", "juno_2"]),
        ("policy-cinder.yaml", ["per_patch"]),
    ],
)
def test_each_project_has_its_own_milestones(policy_name: str, keys: list[str]) -> None:
    registry_name = next(r for r, p in PAIRS.items() if p == policy_name)
    _, policy, _ = load_judge_config(DATA / registry_name, DATA / policy_name)
    assert [m.key for m in policy.milestones] == keys
    assert all(m.met_by in ("intent", "sandbox", "per_patch") for m in policy.milestones)
