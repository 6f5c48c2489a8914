"""The "Patch Set N: votes" first line Gerrit puts in front of every review message.

Gerrit 2.8+ and 3.x write votes as ``Label+N``/``Label-N`` and a removed vote as ``-Label``;
Gerrit 2.4-2.7 wrote the value's description instead ("Patch Set 1: Verified", "Fails",
"Looks good to me, approved"), joined by "; ".
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

__all__ = ["MessageHeader", "split_header"]

_HEADER_LINE = re.compile(r"[ \t]*Patch Set (\d+):([^\n]*)")
_VOTE_TOKEN = re.compile(r"([A-Za-z][\w-]*?)([+-]\d+)")
_REMOVED_VOTE_TOKEN = re.compile(r"-([A-Za-z][\w-]*)")

# Gerrit 2.4-era value descriptions (OpenStack's labels) and the vote each stood for.
_OLD_STYLE_VOTES: dict[str, tuple[str, int]] = {
    "verified": ("Verified", 1),
    "fails": ("Verified", -1),
    "doesn't seem to work": ("Verified", -1),
    "works for me": ("Verified", 1),
    "looks good to me, approved": ("Code-Review", 2),
    "looks good to me, but someone else must approve": ("Code-Review", 1),
    "looks good to me (core reviewer)": ("Code-Review", 2),
    "i would prefer that you didn't merge this": ("Code-Review", -1),
    "i would prefer that you didn't submit this": ("Code-Review", -1),
    "do not merge": ("Code-Review", -2),
    "do not submit": ("Code-Review", -2),
    "approved": ("Approved", 1),
}


@dataclass(frozen=True, slots=True)
class MessageHeader:
    """What the first line says: the patch set number and the votes cast with the message."""

    patch_set: int | None
    votes: dict[str, int]
    #: Offset in the text where the body (after the header line) starts; 0 without a header.
    body_start: int


@functools.lru_cache(maxsize=4096)
def _vote_items(rest: str) -> tuple[tuple[str, int], ...]:
    # Few distinct vote lines exist ("Verified+1", "Code-Review+2 Workflow+1" ...): a million
    # CI comments are read with a few hundred parses.
    return tuple(_parse_votes(rest).items())


def _parse_votes(rest: str) -> dict[str, int]:
    votes: dict[str, int] = {}
    for token in rest.split():
        if (match := _VOTE_TOKEN.fullmatch(token)) is not None:
            votes[match.group(1)] = int(match.group(2))
        elif (match := _REMOVED_VOTE_TOKEN.fullmatch(token)) is not None:
            # "-Verified" removes a vote: the label is now 0 (Zuul does this on "Starting").
            votes[match.group(1)] = 0
    if votes or not rest.strip():
        return votes
    for part in rest.split(";"):
        old_style = _OLD_STYLE_VOTES.get(part.strip().lower())
        if old_style is not None:
            votes[old_style[0]] = old_style[1]
    return votes


def split_header(text: str) -> MessageHeader:
    """Read the "Patch Set N: votes" line at the start of ``text``, if there is one."""
    match = _HEADER_LINE.match(text)
    if match is None:
        return MessageHeader(patch_set=None, votes={}, body_start=0)
    rest = match.group(2)
    return MessageHeader(
        patch_set=int(match.group(1)),
        votes=dict(_vote_items(rest)) if rest else {},
        body_start=match.end(),
    )
