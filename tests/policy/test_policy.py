"""The spec's rules as data: the shipped policies, and the rules a judge and a CI apply."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest

from driverci.errors import ConfigError
from driverci.policy.loader import load_packaged_policy, load_policy, packaged_policy_path
from driverci.policy.schema import Policy

UTC = dt.UTC


@pytest.fixture(scope="module")
def ironic() -> Policy:
    return load_policy()


def _broken_copy(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    text = packaged_policy_path().read_text(encoding="utf-8")
    assert old in text, old
    line = text[: text.index(old)].count("\n") + 1
    path = tmp_path / "policy.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path, line


def test_both_shipped_policies_validate() -> None:
    assert load_policy().project == "openstack/ironic"
    cinder = load_packaged_policy("policy-cinder.yaml")
    assert cinder.project == "openstack/cinder"
    assert cinder.liveness.max_days_without_success == 14
    assert cinder.compliance_checks[0].grace_days == 14


@pytest.mark.parametrize(
    ("when", "hours"),
    [
        (dt.datetime(2016, 5, 10, 12, 0, tzinfo=UTC), 8.0),
        (dt.datetime(2017, 2, 21, 23, 59, tzinfo=UTC), 8.0),
        (dt.datetime(2017, 2, 22, 0, 0, tzinfo=UTC), 4.0),
        (dt.datetime(2017, 8, 1, 0, 0, tzinfo=UTC), 4.0),
        (dt.datetime(2026, 1, 5, 9, 30, tzinfo=UTC), 4.0),
    ],
)
def test_the_deadline_in_force_depends_on_the_date(
    ironic: Policy, when: dt.datetime, hours: float
) -> None:
    assert ironic.deadline_hours(when) == hours


def test_the_deadline_day_is_taken_in_utc(ironic: Policy) -> None:
    # 2017-02-22 01:00 in UTC+2 is still 2017-02-21 in UTC: the 8 h rule applies.
    athens = dt.timezone(dt.timedelta(hours=2))
    assert ironic.deadline_hours(dt.datetime(2017, 2, 22, 1, 0, tzinfo=athens)) == 8.0


def test_cinder_sets_no_deadline() -> None:
    cinder = load_packaged_policy("policy-cinder.yaml")
    assert math.isinf(cinder.deadline_hours(dt.datetime(2026, 1, 5, tzinfo=UTC)))


def test_the_specs_branch_example(ironic: Policy) -> None:
    """CI started in Mitaka: in Newton it tests master and stable/mitaka, not stable/liberty."""
    started_in_mitaka = dt.date(2016, 1, 20)
    liberty_created = dt.datetime(2015, 9, 25, tzinfo=UTC)
    mitaka_created = dt.datetime(2016, 3, 17, tzinfo=UTC)
    assert ironic.branch_required("master", None, started_in_mitaka)
    assert ironic.branch_required("stable/mitaka", mitaka_created, started_in_mitaka)
    assert not ironic.branch_required("stable/liberty", liberty_created, started_in_mitaka)
    assert not ironic.branch_required("feature/foo", mitaka_created, started_in_mitaka)
    assert not ironic.branch_required("stable/newton", None, started_in_mitaka)


def test_docs_only_patch_sets_are_excluded(ironic: Policy) -> None:
    assert ironic.is_excluded(
        ["/COMMIT_MSG", "doc/source/admin/drivers/redfish.rst", "releasenotes/notes/x.yaml"]
    )
    assert ironic.is_excluded(["ironic/tests/unit/drivers/test_redfish.py", "tox.ini"])


def test_one_driver_file_makes_the_patch_set_expected(ironic: Policy) -> None:
    assert not ironic.is_excluded(
        ["doc/source/index.rst", "ironic/drivers/modules/redfish/power.py"]
    )
    assert not ironic.is_excluded([])
    assert not ironic.is_excluded(["/COMMIT_MSG", "/MERGE_LIST"])


def test_an_approved_extra_exclusion_is_honoured(ironic: Policy) -> None:
    files = ["ironic/drivers/modules/ilo/boot.py", "doc/source/index.rst"]
    assert not ironic.is_excluded(files)
    assert ironic.is_excluded(files, extra_patterns=[r"^ironic/drivers/modules/ilo/"])


def test_recheck_comments_are_recognised(ironic: Policy) -> None:
    name, account = "Acme Ironic CI", "acme-ironic-ci"
    assert ironic.is_recheck("Patch Set 3:\n\nrecheck", name, account)
    assert ironic.is_recheck("recheck", name, account)
    assert ironic.is_recheck("Patch Set 2:\n\nAcme Ironic: recheck", name, account)
    assert ironic.is_recheck("acme-ironic-ci: recheck", name, account)
    assert ironic.is_recheck("run-Acme Ironic CI", name, account)
    assert ironic.is_recheck("Patch Set 2:\n\nrecheck-acme-ironic-ci", name, account)
    # Gerrit 3 writes "(1 comment)" first when inline comments come with the text.
    assert ironic.is_recheck("Patch Set 8:\n\n(1 comment)\n\nrecheck", name, account)
    assert ironic.is_recheck("Patch Set 8:\n\nrecheck\n\ngrenade timed out", name, account)
    assert not ironic.is_recheck("Other Vendor CI: recheck", name, account)
    assert not ironic.is_recheck("Patch Set 2:\n\nrecheck-vmware", name, account)
    assert not ironic.is_recheck("Patch Set 3: Code-Review+2\n\nplease recheck later", name)


def test_milestones_follow_the_spec_and_later_cis_get_relative_dates(ironic: Policy) -> None:
    assert ironic.milestone_due("intent", None) == dt.date(2016, 1, 21)
    assert ironic.milestone_due("sandbox", dt.date(2015, 12, 1)) == dt.date(2016, 3, 3)
    assert ironic.milestone_due("per_patch", None) == dt.date(2016, 9, 1)
    assert ironic.milestone_due("per_patch", dt.date(2025, 10, 1)) == dt.date(2025, 10, 8)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (r"    - ^tools/.*$", r"    - ^tools/(.*$", r"exclusions\.default\[5\]: invalid regular"),
        ("    hours: 4\n", "    hours: four\n", r"deadlines\[1\]\.hours: Input should be"),
        ("  coverage_min: 0.95", "  coverage_min: 1.5", r"thresholds\.coverage_min: Input"),
        ("  retention_days: 30", "  retention_days: []", r"artifacts\.retention_days: Input"),
        ("  min_days_reliable: 90", "  min_days_reliable: 90\n  bogus: 1", r"voting\.bogus"),
        (
            "  - key: sandbox",
            "  - key: mitaka_ff",
            r"milestones\[1\]: milestone 'mitaka_ff' needs evidence: one of intent, sandbox, "
            "per_patch",
        ),
        ("  max_per_patch_set: 1", "  max_per_patch_set: 0", r"comments\.max_per_patch_set: "),
    ],
)
def test_a_broken_policy_names_file_line_and_field(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    path, line = _broken_copy(tmp_path, old, new)
    if "bogus" in new:
        line += 1
    with pytest.raises(ConfigError, match=rf"^{path}:{line}: {expected}") as caught:
        load_policy(path)
    assert "\n" not in str(caught.value)


def test_malformed_policy_yaml_names_the_line(tmp_path: Path) -> None:
    path, line = _broken_copy(tmp_path, "window_days: 30", "window_days: [30")
    with pytest.raises(ConfigError, match=rf"^{path}:\d+: invalid YAML"):
        load_policy(path)
    assert line > 0
