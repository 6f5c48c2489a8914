"""Load and validate a policy file (the packaged Ironic policy when no path is given)."""

from __future__ import annotations

import logging
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from driverci.policy.schema import Policy
from driverci.yamlload import load_yaml_model

log = logging.getLogger(__name__)

DEFAULT_POLICY_NAME = "policy.yaml"
CINDER_POLICY_NAME = "policy-cinder.yaml"


def packaged_policy_path(name: str = DEFAULT_POLICY_NAME) -> Traversable:
    """A policy file shipped in the package (``policy.yaml`` or ``policy-cinder.yaml``)."""
    return files("driverci") / "data" / name


def load_policy(path: Path | None = None) -> Policy:
    """Load and validate a policy; errors raise ConfigError ``file:line: field: problem``."""
    source: Path | Traversable = path if path is not None else packaged_policy_path()
    name = str(path) if path is not None else DEFAULT_POLICY_NAME
    policy, _ = load_yaml_model(Policy, source, name)
    log.debug("loaded policy %s (%s, project %s)", name, policy.name, policy.project)
    return policy


def load_packaged_policy(name: str) -> Policy:
    """Load one of the shipped example policies by file name, e.g. ``policy-cinder.yaml``."""
    policy, _ = load_yaml_model(Policy, packaged_policy_path(name), name)
    return policy
