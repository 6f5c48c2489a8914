"""Writing a whole git history through one ``git fast-import`` process.

Seeding creates thousands of commits; running ``git commit-tree`` per commit would take
minutes. Instead the seeder describes commits here (with marks, explicit dates in the past
and inline file contents) and :meth:`FastImportStream.run` feeds them to a single
``git fast-import``, then reads the marks back to learn every commit's sha.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from driverci.errors import DriverCIError


class FastImportError(DriverCIError):
    """git fast-import refused the stream (the message holds git's stderr)."""


@dataclass(frozen=True)
class Ident:
    name: str
    email: str

    def line(self, when: datetime) -> bytes:
        seconds = int(when.astimezone(UTC).timestamp())
        return f"{self.name} <{self.email}> {seconds} +0000".encode()


class FastImportStream:
    """Accumulates a fast-import stream in memory; marks are small integers handed out here."""

    GIT = "git"

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._next_mark = 1
        self.commit_count = 0

    @staticmethod
    def _data(payload: bytes) -> bytes:
        return b"data %d\n%s\n" % (len(payload), payload)

    def commit(
        self,
        ref: str,
        author: Ident,
        when: datetime,
        message: str,
        parents: list[int] | None = None,
        files: Mapping[str, bytes | None] | None = None,
        delete_all: bool = False,
    ) -> int:
        """Add a commit on ``ref``; ``files`` maps path -> content (None deletes). Returns its mark.

        ``parents`` are marks; the first is the commit's base tree (``from``), the rest are
        merged (``merge``). With no parents the commit starts from an empty tree.
        """
        mark = self._next_mark
        self._next_mark += 1
        ident = author.line(when)
        out = [b"commit %s\nmark :%d\n" % (ref.encode(), mark)]
        out.append(b"author " + ident + b"\ncommitter " + ident + b"\n")
        out.append(self._data(message.encode()))
        for index, parent in enumerate(parents or []):
            out.append(b"%s :%d\n" % (b"from" if index == 0 else b"merge", parent))
        if delete_all:
            out.append(b"deleteall\n")
        for path, content in (files or {}).items():
            if content is None:
                out.append(b"D %s\n" % path.encode())
            else:
                out.append(b"M 100644 inline %s\n" % path.encode())
                out.append(self._data(content))
        out.append(b"\n")
        self._parts.append(b"".join(out))
        self.commit_count += 1
        return mark

    def reset(self, ref: str, mark: int) -> None:
        """Point ``ref`` at the commit with ``mark`` (a fast-forward, or a new branch)."""
        self._parts.append(b"reset %s\nfrom :%d\n\n" % (ref.encode(), mark))

    def run(self, repo: Path) -> dict[int, str]:
        """Feed the stream to ``git fast-import`` in ``repo``; return mark -> commit sha."""
        self._parts.append(b"done\n")
        stream = b"".join(self._parts)
        with tempfile.TemporaryDirectory(prefix="driverci-fastimport-") as tmp:
            marks_path = Path(tmp) / "marks"
            result = subprocess.run(
                [
                    self.GIT,
                    "fast-import",
                    "--quiet",
                    "--force",
                    "--done",
                    "--date-format=raw",
                    f"--export-marks={marks_path}",
                ],
                cwd=repo,
                input=stream,
                capture_output=True,
                check=False,
            )
            if result.returncode != 0:
                stderr = result.stderr.decode(errors="replace").strip().splitlines()
                detail = stderr[0] if stderr else f"exit status {result.returncode}"
                raise FastImportError(f"git fast-import into {repo} failed: {detail}")
            marks: dict[int, str] = {}
            for line in marks_path.read_text(encoding="ascii").splitlines():
                mark, sha = line.split()
                marks[int(mark.lstrip(":"))] = sha
        return marks
