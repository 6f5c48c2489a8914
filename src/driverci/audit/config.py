"""The registry and policy a judge runs on, loaded together and checked to fit each other.

The judge runs any project's rules by configuration alone: a registry (its drivers, kinds and
CIs) and a policy (its deadlines, milestones, conduct rules). Both name the project; a
registry of Neutron judged with Ironic's policy would hold Neutron's CIs to Ironic's deadlines
and list Ironic's Mitaka milestones, so a mismatch is refused with one line naming both files.
"""

from __future__ import annotations

from pathlib import Path

from driverci.errors import ConfigError
from driverci.policy.loader import DEFAULT_POLICY_NAME, load_policy
from driverci.policy.schema import Policy
from driverci.registry.loader import DEFAULT_REGISTRY_NAME, load_registry_with_warnings
from driverci.registry.schema import Registry


def load_judge_config(
    registry_path: Path | None, policy_path: Path | None
) -> tuple[Registry, Policy, list[str]]:
    """The registry, the policy and the registry's warnings (one line each).

    Raises :class:`ConfigError` when either file is invalid or they are for different projects.
    """
    policy = load_policy(policy_path)
    registry, warnings = load_registry_with_warnings(registry_path, policy.comments.ci_name_suffix)
    check_same_project(
        registry,
        policy,
        str(registry_path or DEFAULT_REGISTRY_NAME),
        str(policy_path or DEFAULT_POLICY_NAME),
    )
    return registry, policy, warnings


def check_same_project(
    registry: Registry, policy: Policy, registry_source: str, policy_source: str
) -> None:
    if registry.project != policy.project:
        hint = (
            " (the shipped one is Ironic's: give --policy)"
            if policy_source == DEFAULT_POLICY_NAME
            else ""
        )
        raise ConfigError(
            f"{policy_source}: project: {policy.project!r}{hint}, but {registry_source} is "
            f"for {registry.project!r}: a project's CIs are judged by its own policy"
        )
