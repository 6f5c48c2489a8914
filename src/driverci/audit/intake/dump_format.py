"""The JSON values of a dump, whatever its layout, each with the line it starts on.

A dump is told apart by its content, never its name: ``gerrit query --format=JSON`` lines
(one object per line, then a stats row), the same records pretty-printed (``jq .``: objects
concatenated, each spread over lines), a single REST ChangeInfo, or a JSON list of them; each
may start with Gerrit's ``)]}'`` line. Lines are read one by one; anything else is decoded with
:meth:`json.JSONDecoder.raw_decode` over text read in growing chunks, so a large pretty-printed
dump is never held whole. A broken value is reported with its line and column and reading goes
on at the next object that opens at the broken one's indentation (how ``jq`` and Gerrit's
pretty printer lay out consecutive records), so what is valid around it is kept.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, BinaryIO

from driverci.errors import PayloadError
from driverci.gerrit.models_base import JSON_MAGIC

ACCEPTED = (
    "expected gerrit query JSON (one object per line, or pretty-printed), a ChangeInfo, "
    "or a JSON list of ChangeInfo"
)

_BOM = codecs.BOM_UTF8
_GZIP = b"\x1f\x8b"
_MAGIC_BYTES = JSON_MAGIC.encode()
_NOT_WHITESPACE = re.compile(r"[^ \t\n\r]")  # JSON's four whitespace characters
# Bytes that are not UTF-8, as surrogateescape decoded them.
_NOT_UTF8 = re.compile("[\udc80-\udcff]")
_DECODER = json.JSONDecoder()


class Layout(Enum):
    LINES = "one JSON object per line"
    VALUES = "JSON values spread over lines"


@dataclass(frozen=True, slots=True)
class Sniffed:
    """How a dump is laid out, and where its JSON begins (past blank lines and ``)]}'``)."""

    layout: Layout
    first_line: int
    offset: int  # in bytes


@dataclass(frozen=True, slots=True)
class DumpValue:
    line: int
    value: Any


@dataclass(frozen=True, slots=True)
class DumpProblem:
    """A value that could not be decoded: ``what`` says why, with its column where useful."""

    line: int
    what: str


class SniffTuning:
    # A first line longer than this is not taken for a JSON line (it is read as values).
    first_line_bytes = 16 << 20
    chunk_bytes = 1 << 20  # text read at a time when decoding values
    max_chunk_bytes = 64 << 20


def sniff(path: Path) -> Sniffed:
    """The layout of ``path``; PayloadError for a file with no JSON text in it."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise PayloadError(f"{path}: cannot read dump ({exc.strerror})") from None
    with handle:
        offset, line_number, magic_seen = 0, 0, False
        while True:
            try:
                raw = handle.readline(SniffTuning.first_line_bytes)
            except OSError as exc:
                raise PayloadError(f"{path}: cannot read dump ({exc.strerror})") from None
            if not raw:
                what = "holds only Gerrit's )]}' line" if magic_seen else "is empty"
                raise PayloadError(f"{path}: the file {what}, no JSON; {ACCEPTED}")
            line_number += 1
            start = offset
            offset += len(raw)
            if line_number == 1 and raw.startswith(_BOM):
                raw, start = raw[len(_BOM) :], start + len(_BOM)
            _refuse_binary(path, raw)
            stripped = raw.strip()
            if not stripped:
                continue
            if stripped == _MAGIC_BYTES and not magic_seen:
                magic_seen = True
                continue
            break
    if stripped.startswith(b"{") and raw.endswith(b"\n"):
        try:
            first = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            first = None
        if isinstance(first, dict):
            return Sniffed(Layout.LINES, line_number, start)
    return Sniffed(Layout.VALUES, line_number, start)


def _refuse_binary(path: Path, raw: bytes) -> None:
    """Refuse a compressed or binary file at once. (Text with a byte that is not UTF-8 is
    read: the record holding it is named, the others kept.)"""
    why = None
    if raw.startswith(_GZIP):
        why = "gzip-compressed: decompress it first"
    elif b"\x00" in raw:  # no JSON text holds one; UTF-16 text and binary formats do
        why = "it holds NUL bytes"
    if why is not None:
        raise PayloadError(f"{path}: a binary file ({why}), not JSON text; {ACCEPTED}")


def read_lines(lines: Iterable[bytes], first_line: int) -> Iterator[DumpValue | DumpProblem]:
    """Each non-blank line of a line dump as one JSON value (or the problem with it)."""
    for number, raw in enumerate(lines, start=first_line):
        stripped = raw.strip()
        if not stripped or stripped == _MAGIC_BYTES:  # pages saved one after the other
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield DumpProblem(
                number, f"not UTF-8 text (byte {raw[exc.start]:#04x} at column {exc.start + 1})"
            )
            continue
        try:  # without its newline, so an error at the line's end gets the line's column
            value = json.loads(text.rstrip("\r\n"))
        except json.JSONDecodeError as exc:
            # json's messages may end in " at" ("Invalid control character at").
            msg = exc.msg.removesuffix(" at")
            yield DumpProblem(number, f"invalid JSON ({msg} at column {exc.colno})")
            continue
        yield DumpValue(number, value)


def read_values(handle: BinaryIO, first_line: int) -> Iterator[DumpValue | DumpProblem]:
    """The top-level values of a dump read from ``handle``'s position (the items of a list
    one by one), whatever their layout."""
    yield from _ValueReader(handle, first_line)


class _ValueReader:
    """Decodes values from text read in chunks; ``buf[0]`` is at (``line``, ``column``)."""

    def __init__(self, handle: BinaryIO, first_line: int) -> None:
        self._handle = handle
        # Bytes that are not UTF-8 survive as lone surrogates, so one bad record is named
        # and skipped (see _NOT_UTF8) instead of ending the read.
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        self._chunk = SniffTuning.chunk_bytes
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.line, self.column = first_line, 1
        self.list_line: int | None = None  # where the list being read opened
        self.list_items = 0
        self.after_item = False  # in a list, after an item: a ',' or ']' comes next
        self.item_indent: str | None = ""
        self.skipped_to_end = False

    def __iter__(self) -> Iterator[DumpValue | DumpProblem]:
        while self._skip_whitespace():
            char = self.buf[self.pos]
            if self.list_line is not None:
                consumed, problem = self._list_punctuation(char)
                if problem is not None:
                    yield problem
                if consumed:
                    continue
            elif char == "[":
                self.list_line, self.list_items = self.where(self.pos)[0], 0
                self.pos += 1
                continue
            elif self.buf.startswith(JSON_MAGIC, self.pos):  # REST answers saved one by one
                self.pos += len(JSON_MAGIC)
                continue
            yield self._value()
        if self.list_line is not None and not self.skipped_to_end:
            yield DumpProblem(
                self.where(self.pos)[0],
                f"the list opened at line {self.list_line} is never closed (no ']')",
            )

    def where(self, pos: int) -> tuple[int, int]:
        """(line, column) of ``buf[pos]``; the column counts characters, as json's does."""
        newlines = self.buf.count("\n", 0, pos)
        if not newlines:
            return self.line, self.column + pos
        return self.line + newlines, pos - self.buf.rfind("\n", 0, pos)

    def _more(self) -> int:
        """Read the next chunk, first dropping the text before ``pos``'s line; chars added."""
        cut = self.buf.rfind("\n", 0, self.pos) + 1
        if not cut and (self.column != 1 or self.buf[: self.pos].strip(" \t")):
            cut = self.pos  # the line's start is gone already, or is not blanks: not needed
        if cut:
            self.line, self.column = self.where(cut)
            self.buf, self.pos = self.buf[cut:], self.pos - cut
        data = self._handle.read(self._chunk)
        if not data:
            self.eof = True
            self.buf += self._decoder.decode(b"", final=True)
            return 0
        text = self._decoder.decode(data)
        self.buf += text
        return len(text)

    def _skip_whitespace(self) -> bool:
        """Move ``pos`` to the next non-blank character; False at the end of the file."""
        while True:
            match = _NOT_WHITESPACE.search(self.buf, self.pos)
            if match:
                self.pos = match.start()
                # Enough text to tell a )]}' line, even where a chunk ends inside it.
                if len(self.buf) - self.pos >= len(JSON_MAGIC) or self.eof:
                    return True
                self._more()
                continue
            self.pos = len(self.buf)
            if self.eof:
                return False
            self._more()

    def _list_punctuation(self, char: str) -> tuple[bool, DumpProblem | None]:
        """Read a list's ',' or ']' at ``pos``: (consumed, problem); False before an item."""
        line, column = self.where(self.pos)
        if char == "]":
            trailing = not self.after_item and self.list_items > 0
            self.pos += 1
            self.list_line, self.after_item = None, False
            return True, DumpProblem(line, f"a ',' before ']' at column {column}") if (
                trailing
            ) else None
        if not self.after_item:
            return False, None  # an item (a stray ',' is decoded as one, and refused)
        if char == ",":
            self.pos += 1
            self.after_item = False
            return True, None
        problem = DumpProblem(line, f"invalid JSON (Expecting ',' or ']' at column {column})")
        if char == "{" and self.item_indent is not None and self._indent() == self.item_indent:
            self.after_item = False  # only the ',' is missing: the next item is read
            return False, problem
        self._resync(self.pos, self.item_indent)
        return True, problem

    def _value(self) -> DumpValue | DumpProblem:
        start_line = self.where(self.pos)[0]
        indent = self.item_indent = self._indent()
        decoded = self._decode()
        if self.list_line is not None:
            self.list_items += 1
            self.after_item = True
        if isinstance(decoded, json.JSONDecodeError):
            line, column = self.where(decoded.pos)
            msg = decoded.msg.removesuffix(" at")
            inside = "" if line == start_line else f", in the record from line {start_line}"
            self._resync(self.pos + 1, indent)
            return DumpProblem(line, f"invalid JSON ({msg} at column {column}{inside})")
        value, end = decoded
        bad = _NOT_UTF8.search(self.buf, self.pos, end)
        self.pos = end
        if bad is not None:
            line, column = self.where(bad.start())
            return DumpProblem(line, f"not UTF-8 text (at column {column})")
        return DumpValue(start_line, value)

    def _indent(self) -> str | None:
        """The blanks before ``pos`` on its line; None when something else precedes it."""
        line_start = self.buf.rfind("\n", 0, self.pos) + 1
        if line_start == 0 and self.column != 1:
            return None  # the line began before the text kept
        before = self.buf[line_start : self.pos]
        return None if before.strip(" \t") else before

    def _decode(self) -> tuple[Any, int] | json.JSONDecodeError:
        """The value at ``pos`` and where it ends, reading more text while it is cut short."""
        last: tuple[int, str] | None = None
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self.eof:
                    return exc
                # More text changes nothing before a real mistake: the same error at the
                # same place once more text came is one (but a string may outrun a chunk).
                seen = (exc.pos - self.pos, exc.msg)
                if seen == last and not exc.msg.startswith("Unterminated string"):
                    return exc
                if self._grow():
                    last = seen
                continue
            if end == len(self.buf) and not self.eof and not isinstance(value, dict | list):
                self._grow()  # a number at the chunk's end may go on in the next one
                continue
            self._chunk = SniffTuning.chunk_bytes
            return value, end

    def _grow(self) -> int:
        """Read more for one value, twice as much each time: a huge value is decoded a few
        times, not once per chunk."""
        added = self._more()
        self._chunk = min(self._chunk * 2, SniffTuning.max_chunk_bytes)
        return added

    def _resync(self, start: int, indent: str | None) -> None:
        """Skip to the next object opening at ``indent`` at a line's start; to the end when
        the broken value began mid-line (nothing there tells where the next one begins)."""
        if self.list_line is not None:
            self.after_item = False
        needle = None if indent is None else "\n" + indent + "{"
        search = start
        while True:
            found = -1 if needle is None else self.buf.find(needle, search)
            if needle is not None and found >= 0:
                self.pos = found + len(needle) - 1
                return
            if self.eof:
                self.pos = len(self.buf)
                self.skipped_to_end = True
                return
            # Keep the tail that may hold the needle's beginning.
            self.pos = max(self.pos, len(self.buf) - len(needle or ""))
            self._more()
            search = self.pos
