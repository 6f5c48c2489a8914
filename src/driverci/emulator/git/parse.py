"""Git's plumbing output read into values: commits (``cat-file``), ``diff-tree --raw -z`` and
``--numstat -z`` (pure functions; :mod:`driverci.emulator.git.store` runs the commands)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str
    parents: list[str]
    author_name: str
    author_email: str
    author_time: datetime
    committer_name: str
    committer_email: str
    committer_time: datetime
    message: str


@dataclass(frozen=True)
class RawEntry:
    status: str
    path: str
    old_path: str | None
    old_blob: str
    new_blob: str


def parse_raw(raw: bytes) -> list[RawEntry]:
    """Parse ``diff-tree --raw -z``: ``:mode mode sha sha STATUS\\0path\\0[path\\0]``."""
    fields = raw.decode(errors="surrogateescape").split("\0")
    entries = []
    i = 0
    while i < len(fields) and fields[i].startswith(":"):
        _, _, old_blob, new_blob, status = fields[i][1:].split(" ")
        letter = status[0]
        if letter in "RC":
            old_path, path = fields[i + 1], fields[i + 2]
            i += 3
        else:
            old_path, path = None, fields[i + 1]
            i += 2
        gerrit_status = {"T": "M", "U": "M", "X": "M"}.get(letter, letter)
        entries.append(RawEntry(gerrit_status, path, old_path, old_blob, new_blob))
    return entries


def parse_numstat(raw: bytes) -> dict[str, tuple[int, int, bool]]:
    """Parse ``--numstat -z``: ``ins\\tdel\\tpath\\0`` or ``ins\\tdel\\t\\0old\\0new\\0``."""
    fields = raw.decode(errors="surrogateescape").split("\0")
    counts = {}
    i = 0
    while i < len(fields) and fields[i]:
        inserted, deleted, path = fields[i].split("\t", 2)
        if path == "":  # a rename: the old and new names follow
            path = fields[i + 2]
            i += 3
        else:
            i += 1
        binary = inserted == "-"
        counts[path] = (0 if binary else int(inserted), 0 if binary else int(deleted), binary)
    return counts


def _parse_ident(value: str) -> tuple[str, str, datetime]:
    """``Name <email> 1700000000 +0100`` -> (name, email, aware datetime)."""
    name, _, rest = value.partition(" <")
    email, _, stamp = rest.partition("> ")
    seconds, _, _offset = stamp.partition(" ")
    return name, email, datetime.fromtimestamp(int(seconds), UTC)


def parse_commit(sha: str, raw: bytes) -> CommitInfo:
    header, _, body = raw.decode(errors="replace").partition("\n\n")
    tree = ""
    parents: list[str] = []
    author = committer = ("", "", datetime.fromtimestamp(0, UTC))
    for line in header.splitlines():
        key, _, value = line.partition(" ")
        if key == "tree":
            tree = value
        elif key == "parent":
            parents.append(value)
        elif key == "author":
            author = _parse_ident(value)
        elif key == "committer":
            committer = _parse_ident(value)
    return CommitInfo(
        sha=sha,
        tree=tree,
        parents=parents,
        author_name=author[0],
        author_email=author[1],
        author_time=author[2],
        committer_name=committer[0],
        committer_email=committer[1],
        committer_time=committer[2],
        message=body,
    )
