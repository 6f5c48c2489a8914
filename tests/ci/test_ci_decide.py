"""What the reference CI tests, and what it leaves alone (pure decisions, no Gerrit)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from driverci.ci import decide
from driverci.ci.config import CIConfig
from driverci.ci.decide import PatchSetFacts
from driverci.policy.loader import load_policy
from driverci.policy.schema import Policy

AT = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def config() -> CIConfig:
    return CIConfig.model_validate(
        {
            "name": "Sandbox Redfish CI",
            "gerrit": {"url": "http://g", "ssh": "g:29418", "username": "sandbox-redfish-ci"},
            "project": "openstack/ironic",
            "driver": "redfish",
            "started": "2026-01-01",
            "wiki": "https://wiki.example.org/CI",
            "recheck": r"(?i)^(Patch Set \d+:)?\s*(recheck|sandbox-redfish: recheck)\s*$",
            "ignore_accounts": ["zuul"],
            "exclusions": [r"^ironic/drivers/modules/ipmitool\.py$"],
            "jobs": [{"name": "redfish-unit", "steps": [{"run": "true"}]}],
            "logs": {"dir": "/tmp/logs", "url": "http://logs/"},
        }
    )


@pytest.fixture
def policy() -> Policy:
    return load_policy()


FACTS = PatchSetFacts(
    project="openstack/ironic",
    branch="master",
    change=42,
    patch_set=2,
    revision="a" * 40,
    ref="refs/changes/42/42/2",
    current_patch_set=2,
    status="NEW",
    wip=False,
    files=("/COMMIT_MSG", "ironic/drivers/modules/redfish/power.py"),
)


def test_a_code_change_on_master_is_tested(config: CIConfig, policy: Policy) -> None:
    decision = decide.decide_patch_set(config, policy, FACTS, AT)
    assert (decision.action, decision.trigger_id) == ("enqueue", "patchset")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (
            {"files": ("/COMMIT_MSG", "doc/source/index.rst", "releasenotes/notes/x.yaml")},
            "excluded",
        ),
        ({"files": ("ironic/drivers/modules/ipmitool.py",)}, "excluded"),  # approved pattern
        ({"project": "openstack/nova"}, "project"),
        ({"branch": "feature/x"}, "branch"),
        ({"wip": True}, "work in progress"),
        ({"status": "MERGED"}, "merged"),
        ({"patch_set": 1}, "outdated"),
    ],
)
def test_what_is_not_tested_says_why(
    config: CIConfig, policy: Policy, change: dict[str, object], why: str
) -> None:
    decision = decide.decide_patch_set(config, policy, replace(FACTS, **change), AT)  # type: ignore[arg-type]
    assert decision.action == "ignore" and why in decision.reason


def test_stable_branches_count_as_created_after_the_start_unless_known_older(
    config: CIConfig, policy: Policy
) -> None:
    assert decide.branch_covered(config, policy, "stable/2026.1", None)
    old = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
    assert not decide.branch_covered(config, policy, "stable/2025.1", old)
    assert decide.branch_covered(config, policy, "stable/2026.1", AT)


def test_work_in_progress_is_tested_once_ready_or_always_with_test_wip(
    config: CIConfig, policy: Policy
) -> None:
    ready = decide.decide_ready(config, policy, FACTS, AT)
    assert (ready.action, ready.trigger, ready.trigger_id) == ("enqueue", "ready", "patchset")
    wip_config = config.model_copy(update={"test_wip": True})
    assert decide.decide_patch_set(wip_config, policy, replace(FACTS, wip=True), AT).action == (
        "enqueue"
    )


@pytest.mark.parametrize(
    "comment",
    [
        "recheck",
        "Patch Set 2:\n\nrecheck",
        "sandbox-redfish: recheck",
        "Patch Set 2: Code-Review+1\n\nsandbox-redfish-ci: recheck",
        "Sandbox Redfish CI: recheck",
    ],
)
def test_a_person_asking_for_a_recheck_gets_a_new_run(
    config: CIConfig, policy: Policy, comment: str
) -> None:
    decision = decide.decide_comment(config, policy, FACTS, "bob", comment, AT)
    assert decision.action == "enqueue" and decision.trigger == "recheck"
    assert decision.trigger_id == f"recheck:bob:{int(AT.timestamp())}"


@pytest.mark.parametrize(
    ("author", "comment"),
    [
        ("sandbox-redfish-ci", "recheck"),  # ourselves
        ("zuul", "recheck"),  # an ignored bot
        (None, "recheck"),  # Gerrit itself
        ("bob", "Looks good to me"),
        ("bob", "other-vendor: recheck"),
    ],
)
def test_bots_and_other_comments_never_trigger(
    config: CIConfig, policy: Policy, author: str | None, comment: str
) -> None:
    assert decide.decide_comment(config, policy, FACTS, author, comment, AT).action == "ignore"


def test_a_recheck_on_an_old_patch_set_is_ignored(config: CIConfig, policy: Policy) -> None:
    old = replace(FACTS, patch_set=1)
    assert decide.decide_comment(config, policy, old, "bob", "recheck", AT).action == "ignore"


def test_the_deadline_is_the_policys_hours_after_the_trigger(policy: Policy) -> None:
    assert decide.deadline_for(policy, AT) == AT + dt.timedelta(hours=4)


def test_the_same_patch_set_and_trigger_have_one_intake_key() -> None:
    key = decide.intake_key("ci", FACTS, "patchset")
    assert key == decide.intake_key("ci", replace(FACTS, revision="b" * 40), "patchset")
    assert key != decide.intake_key("ci", replace(FACTS, patch_set=3), "patchset")
