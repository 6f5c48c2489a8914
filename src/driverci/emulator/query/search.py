"""Gerrit's change search language (``GET /changes/?q=``, ``gerrit query``) over EmulatorState.

A query is tokenised, parsed into nested AND/OR/NOT of operator terms, and each term is
compiled into a predicate on :class:`~driverci.emulator.state.model.Change`. Results come in
Gerrit's order: ``updated`` descending, then change number descending. Syntax errors and
unknown operators raise ``EmulatorError(400, ...)`` with a message like Gerrit's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from driverci.emulator.query.operators import (
    OPERATORS,
    Predicate,
    QueryContext,
    parse_age,
    parse_timestamp,
)
from driverci.emulator.state.journal import EmulatorError, EmulatorState
from driverci.emulator.state.model import Account, Change

__all__ = ["QueryResult", "parse_age", "parse_timestamp", "run_query", "search_changes"]

_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<lparen>\()
    | (?P<rparen>\))
    | (?P<neg>-(?=\S))
    | (?P<term>
        (?:[^\s()"'{}]|"[^"]*"|'[^']*'|\{[^}]*\})+
      )
    """,
    re.VERBOSE,
)
_CHANGE_ID_RE = re.compile(r"^I[0-9a-f]{4,40}$")
_SHA_RE = re.compile(r"^[0-9a-f]{7,40}$")


@dataclass(frozen=True)
class QueryResult:
    """Matching changes in Gerrit order, and the ``limit:`` the query asked for (if any)."""

    changes: list[Change]
    limit: int | None


def search_changes(state: EmulatorState, query: str, viewer: Account | None = None) -> list[Change]:
    """All changes matching ``query``, newest update first, cut at the query's ``limit:``."""
    result = run_query(state, query, viewer)
    if result.limit is not None:
        return result.changes[: result.limit]
    return result.changes


def run_query(state: EmulatorState, query: str, viewer: Account | None = None) -> QueryResult:
    """Parse and evaluate ``query``; the ``limit:`` is reported, not applied (for paging)."""
    parser = _Parser(state, query, viewer)
    predicate = parser.parse()
    matches = [change for change in state.changes.values() if predicate(change)]
    matches.sort(key=lambda c: (c.updated, c.number), reverse=True)
    return QueryResult(matches, parser.limit)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    if len(value) >= 2 and value[0] == "{" and value[-1] == "}":
        return value[1:-1]
    return value


def _tokens(query: str) -> Iterator[tuple[str, str, int]]:
    position = 0
    while position < len(query):
        match = _TOKEN_RE.match(query, position)
        if match is None:
            raise EmulatorError(
                400, f"line 1:{position} token recognition error at: '{query[position:]}'"
            )
        kind = match.lastgroup or "space"
        if kind != "space":
            yield kind, match.group(), position
        position = match.end()


class _Parser:
    """Recursive descent: or := and (OR and)*; and := unary ([AND] unary)*; unary := -x | (x)."""

    def __init__(self, state: EmulatorState, query: str, viewer: Account | None) -> None:
        self.context = QueryContext(state, viewer)
        self.query = query
        self.tokens = list(_tokens(query))
        self.position = 0

    @property
    def limit(self) -> int | None:
        return self.context.limit

    def parse(self) -> Predicate:
        if not self.tokens:
            raise EmulatorError(400, "query is empty")
        predicate = self._or()
        if self.position < len(self.tokens):
            _, text, offset = self.tokens[self.position]
            raise EmulatorError(400, f"line 1:{offset} extraneous input '{text}' expecting EOF")
        return predicate

    def _peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _or(self) -> Predicate:
        parts = [self._and()]
        while (token := self._peek()) is not None and token[:2] == ("term", "OR"):
            self.position += 1
            parts.append(self._and())
        if len(parts) == 1:
            return parts[0]
        return lambda change: any(part(change) for part in parts)

    def _and(self) -> Predicate:
        parts = [self._unary()]
        while (token := self._peek()) is not None and token[0] != "rparen":
            if token[:2] == ("term", "OR"):
                break
            if token[:2] == ("term", "AND"):
                self.position += 1
            parts.append(self._unary())
        if len(parts) == 1:
            return parts[0]
        return lambda change: all(part(change) for part in parts)

    def _unary(self) -> Predicate:
        token = self._peek()
        if token is None:
            raise EmulatorError(400, f"line 1:{len(self.query)} mismatched input '<EOF>'")
        kind, text, offset = token
        self.position += 1
        if kind == "neg" or (kind == "term" and text == "NOT"):
            inner = self._unary()
            return lambda change: not inner(change)
        if kind == "lparen":
            inner = self._or()
            closing = self._peek()
            if closing is None or closing[0] != "rparen":
                raise EmulatorError(400, f"line 1:{len(self.query)} missing ')' at '<EOF>'")
            self.position += 1
            return inner
        if kind == "rparen" or text in ("AND", "OR"):
            raise EmulatorError(400, f"line 1:{offset} mismatched input '{text}'")
        return self._term(text)

    def _term(self, text: str) -> Predicate:
        name, colon, raw_value = text.partition(":")
        if not colon:
            return self._default_field(_unquote(text))
        value = _unquote(raw_value)
        handler = OPERATORS.get(name.lower())
        if handler is None:
            raise EmulatorError(400, f"Unsupported operator {name}:{value}")
        return handler(self.context, value)

    def _default_field(self, word: str) -> Predicate:
        if word.isdigit() or _CHANGE_ID_RE.match(word):
            return OPERATORS["change"](self.context, word)
        if _SHA_RE.match(word):
            return OPERATORS["commit"](self.context, word)
        return OPERATORS["message"](self.context, word)
