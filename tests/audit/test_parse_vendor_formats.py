"""Vendor CIs' own formats, on the real comments of review.openstack.org change 92468 (May 2014,
tests/audit/corpus/*-driverlog.yaml) read with the patterns DriverLog kept for those CIs
(/work/shared/reference/driverlog-default_data.json, one pair per driver)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from driverci.audit.parse.comment import (
    CiIdentity,
    RecheckAttributor,
    RecheckRequest,
    parse_ci_message,
)
from driverci.audit.parse.recheck import is_recheck
from driverci.policy.loader import load_policy

CORPUS = Path(__file__).parent / "corpus"
SHARED = Path(os.environ.get("DRIVERCI_SHARED", Path(__file__).parents[3] / "shared"))


def _comments(name: str) -> dict[str, dict[str, Any]]:
    document = yaml.safe_load((CORPUS / name).read_text(encoding="utf-8"))
    return {comment["id"]: comment for comment in document["comments"]}


THIRD_PARTY = _comments("third-party-openstack-2014-driverlog.yaml")
RECHECKS = _comments("recheck-vendor-openstack-2014-driverlog.yaml")


def _driverlog_patterns(ci_id: str) -> tuple[list[str], list[str]]:
    """Every success and failure pattern DriverLog lists for the CI, one per driver."""
    path = SHARED / "reference" / "driverlog-default_data.json"
    if not path.is_file():
        pytest.skip(f"no DriverLog data at {path}")
    drivers = json.loads(path.read_text(encoding="utf-8"))["drivers"]
    entries = [d["ci"] for d in drivers if (d.get("ci") or {}).get("id") == ci_id]
    return [e["success_pattern"] for e in entries], [e["failure_pattern"] for e in entries]


def _message(comment_id: str) -> str:
    text: str = THIRD_PARTY[comment_id]["message"]
    return text


def test_every_vendor_result_is_read_from_its_text_and_leaves_a_link_to_probe() -> None:
    results = [c for c in THIRD_PARTY.values() if c["expected"]["kind"] == "result"]
    assert len(results) >= 15
    for comment in results:
        parsed = parse_ci_message(comment["message"])
        # Not from the vote alone: "PASSED: <url>" and "testing PASSED [ <url> ]" state it.
        assert parsed.result_source in ("header", "jobs"), comment["id"]
        assert parsed.links, comment["id"]


def test_free_text_passed_keeps_its_link_without_the_brackets() -> None:
    plumgrid = parse_ci_message(_message("tp-92468-ps1-plumgrid-passed"))
    arista = parse_ci_message(_message("tp-92468-ps1-arista-passed-brackets"))

    assert (plumgrid.result, plumgrid.links) == ("SUCCESS", ("https://db.tt/RAjWd5SM",))
    assert (arista.result, arista.links) == ("SUCCESS", ("https://arista.box.com/s/80xp",))


def test_a_plain_words_result_keeps_its_link_and_duration() -> None:
    [job] = parse_ci_message(_message("tp-92468-ps1-hyperv-looks-good-to-me")).jobs

    assert (job.url, job.result, job.duration_seconds) == (
        "http://64.119.130.115/92468/1/",
        "Looks good to me",
        36 * 60 + 10,
    )
    assert job.succeeded and not job.counts_against


def test_the_stated_build_failed_wins_over_a_driver_pattern_that_matches() -> None:
    # Mellanox's ML2 pattern matches its passing ML2 job line; the run still "Build failed.".
    success, failure = _driverlog_patterns("mellanox")
    text = _message("tp-92468-ps1-mellanox-failed")

    parsed = parse_ci_message(text, success_pattern=success, failure_pattern=failure)
    without_status = parse_ci_message(
        text.replace("Build failed.\n\n", ""), success_pattern=success, failure_pattern=failure
    )

    assert (parsed.result, parsed.result_source) == ("FAILURE", "header")
    # With no status line the per-driver patterns decide: the plugin's job failed.
    assert (without_status.result, without_status.result_source) == ("FAILURE", "pattern")


def test_patterns_are_a_list_per_ci_and_ignore_case() -> None:
    # DriverLog keeps three pairs for VMware ("Build successful", "Build Successful",
    # "success"); only the lower-case "success" can match its job line "... : SUCCESS".
    success, failure = _driverlog_patterns("vmwareminesweeper")
    assert len(success) == 3

    parsed = parse_ci_message(
        _message("tp-92468-ps1-vmware-job-line-only"),
        success_pattern=success,
        failure_pattern=failure,
    )
    single = parse_ci_message(
        "Patch Set 1:\n\nBuild failed.", success_pattern="Build Successful", failure_pattern="x"
    )

    assert (parsed.result, parsed.result_source) == ("SUCCESS", "pattern")
    assert (single.result, single.result_source) == ("FAILURE", "header")


VMWARE = CiIdentity(
    "vmwareminesweeper",
    None,
    "VMware Mine Sweeper",
    recheck_patterns=(r"^recheck-vmware\s*$",),
)
BIGSWITCH = CiIdentity("bsn", None, "Big Switch CI", recheck_names=("bigswitch",))
NEC = CiIdentity("nec-openstack-ci", None, "NEC OpenStack CI")


def test_recheck_vmware_asks_vmware_and_no_other_ci() -> None:
    text = RECHECKS["rc-92468-ps1-recheck-vmware-1"]["message"]
    attributor = RecheckAttributor([BIGSWITCH, NEC, VMWARE], load_policy().recheck.patterns)
    without_vmware = RecheckAttributor([BIGSWITCH, NEC], load_policy().recheck.patterns)

    assert attributor.request(text) == RecheckRequest(False, "vmwareminesweeper")
    # A request for a CI the registry does not list asks none of those it does.
    assert without_vmware.request(text) is None
    assert is_recheck(text) == RecheckRequest(False, "vmware")


def test_the_syntaxes_vendors_documented_in_their_comments_ask_only_them() -> None:
    attributor = RecheckAttributor([BIGSWITCH, NEC, VMWARE], load_policy().recheck.patterns)

    # Big Switch: "Leave a comment with 'recheck-bigswitch'"; NEC: "'recheck-nec'".
    assert attributor.request("Patch Set 2:\n\nrecheck-bigswitch") == RecheckRequest(False, "bsn")
    assert attributor.request("Patch Set 2:\n\nrecheck-nec") == RecheckRequest(
        False, "nec-openstack-ci"
    )
    assert attributor.request("Patch Set 2:\n\nrecheck") == RecheckRequest(True)


@pytest.mark.parametrize("comment_id", sorted(RECHECKS))
def test_gerrits_inline_comment_counts_are_not_rechecks(comment_id: str) -> None:
    comment = RECHECKS[comment_id]
    attributor = RecheckAttributor([BIGSWITCH, NEC, VMWARE], load_policy().recheck.patterns)

    asked = attributor.request(comment["message"])

    assert (asked is not None) == (comment["expected"]["kind"] == "recheck")
