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


def split_command_line(command_line: str) -> list[str]:
    """Split an exec request into words exactly as Gerrit's SSH daemon does.

    Gerrit does not use a shell's rules (``CommandFactoryProvider.split``): blanks and tabs end
    a word outside quotes; ``"`` and ``'`` open and close quoting and are dropped, each literal
    inside the other kind; a backslash takes the next character literally, except inside single
    quotes and at the very end. An unclosed quote is no error: gerritlib really sends
    ``... project:openstack/ironic"`` and Gerrit reads ``project:openstack/ironic``.
    """
    words: list[str] = []
    word: list[str] = []
    in_single = in_double = False
    position = 0
    while position < len(command_line):
        char = command_line[position]
        position += 1
        if char in " \t" and not (in_single or in_double):
            if word:
                words.append("".join(word))
                word = []
        elif char == '"' and not in_single:
            in_double = not in_double
        elif char == "'" and not in_double:
            in_single = not in_single
        elif char == "\\" and not in_single and position < len(command_line):
            word.append(command_line[position])
            position += 1
        else:
            word.append(char)
    if word:
        words.append("".join(word))
    return words
