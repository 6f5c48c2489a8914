"""YAML loading that remembers line numbers, so validation errors can say ``file:line``.

Every data file of driverci (registry, policy, CI configuration, emulator scenario) is
validated with pydantic. Pydantic reports *where* in the data a value is wrong as a location
tuple such as ``("ci_systems", 3, "name")``; this module maps that tuple back to the line of
the YAML file, using the node marks that PyYAML's composer keeps, and formats one clear line:
``registry.yaml:42: ci_systems[3].name: must end in ' CI'``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from driverci.errors import ConfigError

#: Maps a pydantic location tuple to a 1-based line number (None when nothing matches).
Locator = Callable[[Sequence[int | str]], int | None]

ModelT = TypeVar("ModelT", bound=BaseModel)


def _child(node: yaml.Node, step: int | str) -> tuple[yaml.Node, int] | None:
    """The child of ``node`` at ``step`` and the line that best names it (the key's line)."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(step):
                return value_node, key_node.start_mark.line + 1
        return None
    if (
        isinstance(node, yaml.SequenceNode)
        and isinstance(step, int)
        and 0 <= step < len(node.value)
    ):
        item: yaml.Node = node.value[step]
        return item, item.start_mark.line + 1
    return None


def make_locator(root: yaml.Node | None) -> Locator:
    """A :data:`Locator` over a composed YAML document.

    Steps that are not in the document (a missing field, or pydantic's internal location
    parts such as union member names) are skipped; the deepest node found gives the line.
    """

    def locate(loc: Sequence[int | str]) -> int | None:
        if root is None:
            return None
        node = root
        line = root.start_mark.line + 1
        for step in loc:
            found = _child(node, step)
            if found is None:
                continue
            node, line = found
        return line

    return locate


def parse_yaml_with_lines(text: str, source: str) -> tuple[Any, Locator]:
    """Parse YAML ``text`` (named ``source`` in errors); return the data and a locator."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = err.problem or err.context or "invalid YAML"
        raise ConfigError(f"{source}{line}: invalid YAML: {problem}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: invalid YAML: {err}") from None
    finally:
        loader.dispose()
    return data, make_locator(root)


def read_text(path: Path | Traversable, source: str | None = None) -> str:
    """Read a UTF-8 file, turning OS errors into one-line :class:`ConfigError`."""
    name = source or str(path)
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise ConfigError(f"{name}: cannot read: {reason}") from None


def load_yaml_with_lines(
    path: Path | Traversable, source: str | None = None
) -> tuple[Any, Locator]:
    """Load a YAML file; return its data and a locator. Errors name ``source`` (or the path)."""
    name = source or str(path)
    return parse_yaml_with_lines(read_text(path, name), name)


def format_location(loc: Sequence[int | str]) -> str:
    """``("ci_systems", 3, "name")`` -> ``ci_systems[3].name``."""
    text = ""
    for step in loc:
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            text += f".{step}" if text else str(step)
    return text


def _clean_message(message: str) -> str:
    # Pydantic prefixes messages raised by our validators with "Value error, "; drop it.
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


#: Fields named after the first error, before "N more".
MORE_ERRORS_NAMED = 4


def format_validation_error(source: str, err: ValidationError, locate: Locator) -> str:
    """One line naming file, line, field and problem of the first error, then the other
    fields at fault."""
    errors = err.errors()
    if not errors:
        return f"{source}: invalid"
    first = errors[0]
    loc: tuple[int | str, ...] = tuple(first["loc"])
    where = format_location(loc)
    line = locate(loc)
    head = f"{source}:{line}" if line is not None else source
    text = (
        f"{head}: {where}: {_clean_message(first['msg'])}"
        if where
        else f"{head}: {_clean_message(first['msg'])}"
    )
    if len(errors) > 1:
        # Name the other fields too, so one run shows everything to fix.
        others = []
        for error in errors[1 : 1 + MORE_ERRORS_NAMED]:
            other_loc: tuple[int | str, ...] = tuple(error["loc"])
            other_line = locate(other_loc)
            name = format_location(other_loc) or "(top level)"
            at = f"{name} (line {other_line})" if other_line is not None else name
            others.append(f"{at}: {_clean_message(error['msg'])}")
        unnamed = len(errors) - 1 - len(others)
        if unnamed:
            others.append(f"{unnamed} more")
        text += f" (also {'; '.join(others)})"
    return text


def config_error_at(
    source: str, locate: Locator, loc: Sequence[int | str], message: str
) -> ConfigError:
    """A :class:`ConfigError` for a cross-check failure found after validation."""
    line = locate(loc)
    head = f"{source}:{line}" if line is not None else source
    return ConfigError(f"{head}: {format_location(loc)}: {message}")


def validate_yaml_model(model: type[ModelT], data: Any, source: str, locate: Locator) -> ModelT:
    """Validate parsed YAML ``data`` into ``model``; errors become a one-line ConfigError."""
    if data is None:
        raise ConfigError(f"{source}: empty file")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(source, err, locate)) from None


def load_yaml_model(
    model: type[ModelT], path: Path | Traversable, source: str | None = None
) -> tuple[ModelT, Locator]:
    """Load, parse and validate a YAML file into ``model``; return it and the locator."""
    name = source or str(path)
    data, locate = load_yaml_with_lines(path, name)
    return validate_yaml_model(model, data, name, locate), locate
