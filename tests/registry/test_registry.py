"""The shipped registry of Ironic's drivers and CIs, and the errors a bad edit gets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from driverci.errors import ConfigError
from driverci.registry.loader import (
    default_registry_path,
    dump_registry,
    load_registry,
    load_registry_with_warnings,
    save_registry,
)

SUPPORTED_TODAY = {"ipmi", "redfish", "idrac", "intel-ipmi", "fake-hardware", "manual-management"}


@pytest.fixture
def shipped_text() -> str:
    return default_registry_path().read_text(encoding="utf-8")


def _broken_copy(tmp_path: Path, text: str, old: str, new: str) -> tuple[Path, int]:
    """Write ``text`` with the first ``old`` replaced; return the path and that line."""
    assert old in text, old
    line = text[: text.index(old)].count("\n") + 1
    path = tmp_path / "registry.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path, line


def test_the_shipped_registry_lists_ironics_drivers_today() -> None:
    registry = load_registry()
    by_status = registry.drivers_by_status()
    assert {driver.name for driver in by_status["supported"]} == SUPPORTED_TODAY
    assert by_status["deprecated"] == []
    removed = {driver.name for driver in by_status["removed"]}
    assert {"ilo", "ilo5", "irmc", "ibmc", "xclarity", "oneview", "snmp"} <= removed
    assert {"cisco-ucs-managed", "cisco-ucs-standalone", "pxe_ssh", "agent_amt"} <= removed


def test_every_supported_driver_has_a_ci_today() -> None:
    registry = load_registry()
    today = dt.date(2026, 5, 1)
    for name in SUPPORTED_TODAY:
        assert registry.ci_for_driver(name, active_on=today), name
    assert [ci.account for ci in registry.ci_for_driver("idrac")] == ["openstack-ironic-ci"]


def test_history_records_the_reinstatements() -> None:
    registry = load_registry()
    for name, year in (("xclarity", 2018), ("ibmc", 2020), ("irmc", 2020)):
        driver = registry.driver(name)
        assert driver is not None
        reinstated = [event for event in driver.history if event.event == "reinstated"]
        assert [event.date.year for event in reinstated] == [year]
    pike_removals = registry.driver("pxe_ssh")
    assert pike_removals is not None
    assert pike_removals.removed_in == "Pike (9.0.0)"
    assert pike_removals.history[-1].commit == "3d9895cc0"


def test_driverlog_ci_accounts_and_patterns_are_kept() -> None:
    registry = load_registry()
    dell = registry.ci_by_account("openstack-ironic-ci")
    assert dell is not None
    assert dell.name.endswith(" CI")
    assert dell.success_pattern == [r"dell-hw.*-tempest-dsvm-ironic-pxe_drac \S+ : SUCCESS"]
    for account in ("Fujitsu_iRMC_CI", "proliantci", "ufcg-oneview-ci", "cisco_ironic_ci"):
        assert registry.ci_by_account(account) is not None, account
    zuul = registry.ci_by_account(22348)
    assert zuul is not None and zuul.kind == "upstream"
    assert registry.ci_by_account("22348") is zuul


def test_a_ci_may_list_a_result_pattern_per_driver_and_its_own_recheck_syntax(
    tmp_path: Path, shipped_text: str
) -> None:
    # DriverLog keeps a pattern pair per driver (VMware's three); one pattern stays a list of one.
    text = shipped_text.replace(
        "    success_pattern: Build succeeded\n    failure_pattern: Build failed\n",
        "    success_pattern: [Build succeeded, 'irmc-\\S+ \\S+ : SUCCESS']\n"
        "    failure_pattern: Build failed\n"
        "    recheck_pattern: '^recheck[- ]irmc\\s*$'\n",
        1,
    )
    path = tmp_path / "registry.yaml"
    path.write_text(text)

    fujitsu = load_registry(path).ci_by_account("Fujitsu_iRMC_CI")

    assert fujitsu is not None
    assert fujitsu.success_pattern == ["Build succeeded", r"irmc-\S+ \S+ : SUCCESS"]
    assert fujitsu.failure_pattern == ["Build failed"]
    assert fujitsu.recheck_pattern == [r"^recheck[- ]irmc\s*$"]


def test_a_changed_file_is_attributed_to_its_driver() -> None:
    registry = load_registry()
    redfish = registry.driver_for_path("ironic/drivers/modules/redfish/management.py")
    assert redfish is not None and redfish.name == "redfish"
    drac = registry.driver_for_path("ironic/drivers/modules/drac/raid.py")
    assert drac is not None and drac.name == "idrac"
    assert registry.driver_for_path("ironic/conductor/manager.py") is None
    assert registry.driver_for_path("ironic/drivers/modules/ilo/power.py") is None
    ilo = registry.driver_for_path("ironic/drivers/modules/ilo/power.py", include_removed=True)
    assert ilo is not None and ilo.name in {"ilo", "ilo5"}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "kind: hardware-type",
            "kind: mechanism-driver",
            r"drivers\[0\]\.kind: unknown kind 'mechanism-driver' "
            r"\(driver_kinds: hardware-type, classic\)",
        ),
        (
            "driver_kinds: [hardware-type, classic]",
            "driver_kinds: [hardware-type, Classic]",
            r"driver_kinds\[1\]: String should match pattern",
        ),
        (
            "driver_kinds: [hardware-type, classic]",
            "driver_kinds: [hardware-type, classic, hardware-type]",
            r"driver_kinds\[2\]: duplicate kind 'hardware-type' \(first at driver_kinds\[0\]\)",
        ),
        (
            "drivers: [idrac]",
            "drivers: [idrac, racadm]",
            r"ci_systems\[2\]\.drivers\[1\]: unknown driver 'racadm'",
        ),
        (
            "failure_pattern: Build failed",
            "failure_pattern: Build (failed",
            r"ci_systems\[3\]\.failure_pattern: invalid regular expression",
        ),
        (
            "failure_pattern: Build failed",
            "failure_pattern: [Build failed, 'Build (failed']",
            r"ci_systems\[3\]\.failure_pattern: invalid regular expression 'Build \(failed'",
        ),
        (
            "failure_pattern: Build failed",
            "recheck_pattern: '^recheck'\n    failure_pattern: Build failed",
            r"ci_systems\[3\]\.recheck_pattern: '\^recheck' matches a bare 'recheck'",
        ),
        (
            "account_id: 22348",
            "account_id: twenty",
            r"ci_systems\[0\]\.account_id: Input should be a valid integer",
        ),
        ("status: supported", "status: maybe", r"drivers\[0\]\.status: Input should be"),
        ("  - name: redfish", "  - name: ipmi", r"drivers\[1\]\.name: duplicate driver name"),
    ],
)
def test_a_broken_registry_names_file_line_and_field(
    tmp_path: Path, shipped_text: str, old: str, new: str, expected: str
) -> None:
    path, line = _broken_copy(tmp_path, shipped_text, old, new)
    with pytest.raises(ConfigError, match=rf"^{path}:{line}: {expected}") as caught:
        load_registry(path)
    assert "\n" not in str(caught.value)


def test_every_field_at_fault_is_named_in_the_one_line(tmp_path: Path, shipped_text: str) -> None:
    # Fixing one field per run is slow: the line names the others and where they are.
    text = shipped_text.replace("account_id: 22348", "account_id: twenty", 1)
    text = text.replace("status: supported", "status: maybe", 1)
    path = tmp_path / "registry.yaml"
    path.write_text(text)
    lines = text.splitlines()
    status_line = next(i for i, line in enumerate(lines, 1) if "status: maybe" in line)
    account_line = next(i for i, line in enumerate(lines, 1) if "account_id: twenty" in line)
    with pytest.raises(ConfigError) as caught:
        load_registry(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:{status_line}: drivers[0].status: Input should be")
    assert (
        f"(also ci_systems[0].account_id (line {account_line}): Input should be a valid" in message
    )


def test_malformed_yaml_names_file_and_line(tmp_path: Path, shipped_text: str) -> None:
    path, line = _broken_copy(tmp_path, shipped_text, "  - name: redfish", "  - name: [redfish")
    with pytest.raises(ConfigError, match=rf"^{path}:\d+: invalid YAML"):
        load_registry(path)
    missing = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError, match=rf"^{missing}: cannot read"):
        load_registry(missing)
    assert line > 1


def test_saving_keeps_the_data_and_key_order(tmp_path: Path) -> None:
    registry = load_registry()
    dell = registry.ci_by_account("openstack-ironic-ci")
    assert dell is not None
    dell.stopped = dt.date(2026, 4, 30)
    path = tmp_path / "registry.yaml"
    save_registry(registry, path)
    reloaded = load_registry(path)
    assert reloaded == registry
    text = path.read_text(encoding="utf-8")
    assert text.startswith("project: openstack/ironic\nsandbox_project:")
    assert text.index("  - name: ipmi\n    kind: hardware-type") < text.index("ci_systems:")
    assert dump_registry(reloaded) == text


def test_the_shipped_registry_has_no_naming_warning() -> None:
    # Ironic's CIs all end in " CI" (or "third-party CI"): nothing to warn about.
    assert load_registry_with_warnings()[1] == []


def test_a_real_ci_name_without_the_suffix_is_accepted_with_a_warning(tmp_path: Path) -> None:
    """Infra's "... CI" rule is for new accounts: a 2014 Neutron CI named "VMware Mine
    Sweeper" is judged all the same, and the warning names the file, line and entry."""
    path = tmp_path / "registry.yaml"
    path.write_text(
        "project: openstack/neutron\n"
        "ci_systems:\n"
        "  - account: jenkins\n"
        "    kind: upstream\n"
        "    name: Jenkins\n"
        "  - account: vmwareminesweeper\n"
        "    name: VMware Mine Sweeper\n"
        "  - account: bsn\n"
        "    name: Big Switch CI\n",
        encoding="utf-8",
    )
    registry, warnings = load_registry_with_warnings(path)
    ci = registry.ci_by_account("vmwareminesweeper")
    assert ci is not None and ci.name == "VMware Mine Sweeper"
    assert len(warnings) == 1  # upstream Jenkins is exempt, Big Switch CI is well named
    assert warnings[0].startswith(
        f"{path}:7: ci_systems[1].name: 'VMware Mine Sweeper' (vmwareminesweeper) does not "
        "end in ' CI'"
    )
    assert "\n" not in warnings[0]
    assert load_registry(path) == registry


def test_a_project_lists_its_own_driver_kinds(tmp_path: Path) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text(
        "project: openstack/nova\n"
        "driver_kinds: [virt]\n"
        "drivers:\n"
        "  - name: vmwareapi\n"
        "    kind: virt\n"
        "    source_paths: ['nova/virt/vmwareapi/**']\n"
        "    maintainer: VMware\n"
        "    status: supported\n",
        encoding="utf-8",
    )
    registry = load_registry(path)
    driver = registry.driver_for_path("nova/virt/vmwareapi/vmops.py")
    assert driver is not None and driver.kind == "virt"
    # Ironic's kinds are not Nova's: a hardware type is refused there.
    path.write_text(path.read_text().replace("kind: virt", "kind: hardware-type"))
    with pytest.raises(ConfigError, match=rf"^{path}:5: drivers\[0\]\.kind: unknown kind"):
        load_registry(path)
