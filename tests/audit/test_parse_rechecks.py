"""Which CI a person's recheck asks: a bare ``recheck`` asks every CI; ``recheck-<vendor>``,
``<CI name>: recheck``, ``run-<CI name>``, a CI's own declared pattern (registry) or the
project's ``{ci}`` patterns (policy) ask that CI only."""

from __future__ import annotations

import pytest

from driverci.audit.parse.comment import (
    CiIdentity,
    RecheckAttributor,
    RecheckRequest,
    is_recheck,
)
from driverci.errors import ConfigError
from driverci.policy.loader import load_packaged_policy, load_policy

DELL = CiIdentity("openstack-ironic-ci", None, "Dell EMC Ironic third-party CI")
FUJITSU = CiIdentity("Fujitsu_iRMC_CI", 13264, "Fujitsu iRMC CI", aliases=("irmc-sandbox",))
HYPERV = CiIdentity(
    "hyper-v-ci", None, "Hyper-V CI", recheck_patterns=(r"^check hyper-v\s*$",)
)
CIS = [DELL, FUJITSU, HYPERV]


@pytest.fixture(scope="module")
def ironic() -> RecheckAttributor:
    return RecheckAttributor(CIS, load_policy().recheck.patterns)


@pytest.mark.parametrize(
    ("text", "asked"),
    [
        ("Patch Set 3:\n\nrecheck", None),
        ("recheck bug 1526410", None),
        ("Patch Set 3: Code-Review+1\n\nrecheck grenade timed out on the mirror", None),
        ("Patch Set 8:\n\n(1 comment)\n\nrecheck", None),
        ("Patch Set 2:\n\nrecheck-fujitsu", "Fujitsu_iRMC_CI"),
        ("Patch Set 2:\n\nFujitsu iRMC: recheck", "Fujitsu_iRMC_CI"),
        ("Patch Set 2:\n\n(2 comments)\n\nfujitsu_irmc_ci: recheck", "Fujitsu_iRMC_CI"),
        ("irmc-sandbox: recheck", "Fujitsu_iRMC_CI"),
        ("run-Dell EMC Ironic third-party CI", "openstack-ironic-ci"),
        ("recheck-dell", "openstack-ironic-ci"),
        ("Patch Set 5:\n\ncheck hyper-v", "hyper-v-ci"),
    ],
)
def test_each_form_asks_every_ci_or_the_one_it_names(
    ironic: RecheckAttributor, text: str, asked: str | None
) -> None:
    request = ironic.request(text)

    assert request == RecheckRequest(all_systems=asked is None, target=asked)


@pytest.mark.parametrize(
    "text",
    [
        "Patch Set 2:\n\nrecheck-vmware",  # a CI this registry does not list
        "Patch Set 2:\n\nOther Vendor CI: recheck",
        "Please do not recheck blindly",
        "Patch Set 1:\n\n(1 comment)",
        "Patch Set 5:\n\nwe should check hyper-v later",  # the declared pattern is anchored
    ],
)
def test_requests_for_other_cis_and_prose_ask_none_of_ours(
    ironic: RecheckAttributor, text: str
) -> None:
    assert ironic.request(text) is None


def test_a_vendor_suffix_no_longer_reads_as_a_recheck_of_every_ci() -> None:
    assert is_recheck("Patch Set 1:\n\nrecheck-vmware") == RecheckRequest(False, "vmware")
    assert is_recheck("recheck-vmware", ["VMware CI", "vmware"]) == RecheckRequest(
        False, "vmware"
    )
    assert is_recheck("recheck-vmware", ["Dell EMC CI"]) is None


def test_a_vendor_word_two_cis_share_names_neither() -> None:
    dell_idrac = CiIdentity("dell-idrac-ci", None, "Dell iDRAC CI")
    attributor = RecheckAttributor([DELL, dell_idrac])

    assert attributor.request("recheck-dell") is None
    assert attributor.request("recheck-dell-idrac") == RecheckRequest(False, "dell-idrac-ci")


def test_the_policy_declares_forms_for_every_ci_and_for_each_ci() -> None:
    # Searched in the whole comment, header included, as the reference CI searches them.
    header = r"(?i)^(Patch Set \d+:[^\n]*)?\s*"
    patterns = [header + r"retest all\s*$", header + r"please rerun {ci}\s*$"]
    attributor = RecheckAttributor(CIS, patterns)

    assert attributor.request("Patch Set 4:\n\nretest all") == RecheckRequest(True)
    assert attributor.request("Patch Set 4:\n\nplease rerun Fujitsu iRMC") == RecheckRequest(
        False, "Fujitsu_iRMC_CI"
    )
    # Without the policy these are no requests at all.
    assert RecheckAttributor(CIS).request("Patch Set 4:\n\nretest all") is None


def test_cinders_policy_reads_run_ci_name(ironic: RecheckAttributor) -> None:
    cinder = RecheckAttributor(CIS, load_packaged_policy("policy-cinder.yaml").recheck.patterns)

    assert cinder.request("run-Fujitsu-iRMC-CI") == RecheckRequest(False, "Fujitsu_iRMC_CI")
    assert cinder.request("Patch Set 1:\n\n(1 comment)\n\nrecheck") == RecheckRequest(True)


def test_an_invalid_declared_pattern_is_a_config_error_naming_the_ci() -> None:
    broken = CiIdentity("acme-ci", None, "Acme CI", recheck_patterns=("check (acme",))

    with pytest.raises(ConfigError, match=r"acme-ci: invalid recheck pattern 'check \(acme'"):
        RecheckAttributor([broken])
