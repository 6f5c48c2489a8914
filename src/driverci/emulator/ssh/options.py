"""A small args4j-like option parser for the emulated SSH commands.

Options may come anywhere among the arguments (as with args4j), ``--name=value`` and
``--name value`` both work, ``--`` ends the options. Errors are worded like Gerrit's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


class UsageError(Exception):
    """A command line the command refuses; the message is printed after ``fatal: ``."""


def _never(word: str) -> bool:
    return False


@dataclass
class OptionSpec:
    """Accepted option names (aliases included) mapped to the key they set."""

    flags: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    # Keys whose option may be given more than once (all values kept).
    repeated: set[str] = field(default_factory=set)
    # Words starting with "-" that are arguments, not options (query negation).
    dash_positional: Callable[[str], bool] = _never


@dataclass
class ParsedOptions:
    flags: set[str] = field(default_factory=set)
    values: dict[str, list[str]] = field(default_factory=dict)

    def flag(self, key: str) -> bool:
        return key in self.flags

    def value(self, key: str, default: str | None = None) -> str | None:
        given = self.values.get(key)
        return given[-1] if given else default

    def all(self, key: str) -> list[str]:
        return list(self.values.get(key, []))


def parse_options(argv: list[str], spec: OptionSpec) -> tuple[ParsedOptions, list[str]]:
    """Split ``argv`` into options and positional arguments."""
    parsed = ParsedOptions()
    positional: list[str] = []
    index = 0
    while index < len(argv):
        word = argv[index]
        index += 1
        if word == "--":
            positional.extend(argv[index:])
            break
        if not word.startswith("-") or word == "-" or spec.dash_positional(word):
            positional.append(word)
            continue
        name, has_inline, inline = word.partition("=")
        if name in spec.flags and not has_inline:
            parsed.flags.add(spec.flags[name])
            continue
        key = spec.values.get(name)
        if key is None:
            raise UsageError(f'"{word}" is not a valid option')
        if has_inline:
            value = inline
        elif index < len(argv):
            value = argv[index]
            index += 1
        else:
            raise UsageError(f'Option "{name}" takes an operand')
        if key in spec.repeated:
            parsed.values.setdefault(key, []).append(value)
        else:
            parsed.values[key] = [value]
    return parsed, positional
