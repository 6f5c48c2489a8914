"""Load, cross-check and save registry.yaml.

``load_registry()`` with no path reads the registry shipped in the package
(``driverci/data/registry.yaml``), so it works from an installed wheel. Errors refuse the
file; :func:`load_registry_with_warnings` also returns what is allowed but against infra's
rules for new accounts (a display name without " CI"), one line each naming file and entry.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from driverci.errors import ConfigError
from driverci.registry.schema import CI_NAME_SUFFIX, Registry
from driverci.yamlload import Locator, config_error_at, format_location, load_yaml_model

log = logging.getLogger(__name__)

DEFAULT_REGISTRY_NAME = "registry.yaml"


def default_registry_path() -> Traversable:
    """The registry shipped inside the package."""
    return files("driverci") / "data" / DEFAULT_REGISTRY_NAME


def load_registry(path: Path | None = None) -> Registry:
    """Load and validate a registry (the packaged one when ``path`` is None).

    Raises :class:`ConfigError` with ``file:line: field: problem`` on any error.
    """
    return load_registry_with_warnings(path)[0]


def load_registry_with_warnings(
    path: Path | None = None, name_suffix: str = CI_NAME_SUFFIX
) -> tuple[Registry, list[str]]:
    """:func:`load_registry`, and the file's warnings (see :func:`naming_warnings`; a policy
    may name another suffix: ``comments.ci_name_suffix``)."""
    source: Path | Traversable = path if path is not None else default_registry_path()
    name = str(path) if path is not None else DEFAULT_REGISTRY_NAME
    registry, locate = load_yaml_model(Registry, source, name)
    check_registry(registry, name, locate)
    log.debug(
        "loaded registry %s: %d drivers, %d CI systems",
        name,
        len(registry.drivers),
        len(registry.ci_systems),
    )
    return registry, naming_warnings(registry, name, locate, name_suffix)


def naming_warnings(
    registry: Registry, source: str, locate: Locator, suffix: str = CI_NAME_SUFFIX
) -> list[str]:
    """One line per third-party CI whose display name does not end in ``suffix``.

    Infra's naming rule ("Organization Product CI", so that comment filters such as
    hideci.js recognise the account) is for accounts created since; real CIs of 2014 are
    named "Mellanox External Testing" or "VMware Mine Sweeper" and must still be judged.
    Upstream CIs (Zuul, Jenkins) are exempt.
    """
    warnings = []
    for index, ci in enumerate(registry.ci_systems):
        if ci.kind == "third-party" and not ci.name.endswith(suffix):
            loc = ("ci_systems", index, "name")
            line = locate(loc)
            head = f"{source}:{line}" if line is not None else source
            warnings.append(
                f"{head}: {format_location(loc)}: {ci.name!r} ({ci.account}) does not end in "
                f"{suffix!r}: infra asks it of new CI accounts, and comment filters that "
                "look for it will not recognise this one"
            )
    return warnings


def check_registry(registry: Registry, source: str, locate: Locator) -> None:
    """Checks that need the whole file: unique names and accounts, known drivers and kinds."""
    _check_unique(registry.driver_kinds, "driver_kinds", None, "kind", source, locate)
    kinds = set(registry.driver_kinds)
    for index, driver in enumerate(registry.drivers):
        if driver.kind not in kinds:
            raise config_error_at(
                source,
                locate,
                ("drivers", index, "kind"),
                f"unknown kind {driver.kind!r} (driver_kinds: {', '.join(registry.driver_kinds)})",
            )
    _check_unique(
        [item.name for item in registry.drivers], "drivers", "name", "driver name", source, locate
    )
    _check_unique(
        [ci.account for ci in registry.ci_systems],
        "ci_systems",
        "account",
        "account",
        source,
        locate,
    )
    ids = [ci.account_id for ci in registry.ci_systems]
    for index, account_id in enumerate(ids):
        if account_id is not None and ids.index(account_id) != index:
            raise config_error_at(
                source,
                locate,
                ("ci_systems", index, "account_id"),
                f"account id {account_id} already used by ci_systems[{ids.index(account_id)}]",
            )
    known = {item.name for item in registry.drivers}
    for ci_index, ci in enumerate(registry.ci_systems):
        for driver_index, driver_name in enumerate(ci.drivers):
            if driver_name not in known:
                raise config_error_at(
                    source,
                    locate,
                    ("ci_systems", ci_index, "drivers", driver_index),
                    f"unknown driver {driver_name!r} (not in drivers)",
                )


def _check_unique(
    values: list[str], section: str, field: str | None, what: str, source: str, locate: Locator
) -> None:
    counts = Counter(values)
    for index, value in enumerate(values):
        if counts[value] > 1 and values.index(value) != index:
            raise config_error_at(
                source,
                locate,
                (section, index) if field is None else (section, index, field),
                f"duplicate {what} {value!r} (first at {section}[{values.index(value)}])",
            )


def _plain(value: Any) -> Any:
    """Model dump -> YAML values: empty lists dropped, dates kept so YAML writes them bare."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items() if item != []}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


class _RegistryDumper(yaml.SafeDumper):
    """Block style, key order kept, lists indented under their key like the shipped file."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def dump_registry(registry: Registry) -> str:
    """The registry as YAML text, in schema key order, omitting empty optional fields.

    Comments of the original file are not kept: the dashboard writes admin actions back
    with this, so a hand-edited file loses its comments on the first save.
    """
    data = registry.model_dump(mode="python", exclude_none=True)
    return yaml.dump(
        _plain(data),
        Dumper=_RegistryDumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )


def save_registry(registry: Registry, path: Path) -> None:
    """Write ``registry`` to ``path`` atomically (write a sibling file, then rename).

    The written file is validated by loading it back, so a save never leaves a file that
    ``load_registry`` would refuse. Comments in the previous file are lost.
    """
    text = dump_registry(registry)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        load_registry(temporary)
        temporary.replace(path)
    except OSError as err:
        raise ConfigError(f"{path}: cannot write: {err.strerror or err}") from None
    finally:
        if temporary.exists():
            temporary.unlink()


def registry_summary(registry: Registry, today: dt.date) -> dict[str, int]:
    """Counts for a status line: drivers per status and CI systems active ``today``."""
    summary: dict[str, int] = {
        status: len(items) for status, items in registry.drivers_by_status().items()
    }
    summary["active_ci_systems"] = sum(1 for ci in registry.ci_systems if ci.active_on(today))
    return summary
