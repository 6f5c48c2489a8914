"""Patch sets a dump left out, rebuilt from Gerrit's "Uploaded patch set N." messages.

``gerrit query --current-patch-set`` (without ``--patch-sets``) and a REST answer with only
CURRENT_REVISION hold the last patch set of each change; the earlier ones would vanish from
the coverage denominator without a word. Gerrit writes a message when each patch set is
uploaded, so its number, date and uploader can be read back; its revision and files cannot.
A patch set whose files are unknown is stored without files, and the judge then counts it as
one every CI must test: exclusion needs every file to be irrelevant, which nobody can show.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from driverci.audit.intake.normalize import (
    NormalizedChange,
    NormalizedMessage,
    NormalizedPatchSet,
)

# Gerrit 2.x and 3.x: "Uploaded patch set 3." or "Uploaded patch set 3: Commit message was
# updated." (ChangeMessages of ReplaceOp / PatchSetInserter).
_UPLOADED = re.compile(r"[ \t]*Uploaded patch set (\d+)[.:]")
ADVICE = "run gerrit query with --patch-sets for full data (REST: o=ALL_REVISIONS)"


def change_ref(change: int, patch_set: int) -> str:
    """The ref Gerrit gives every patch set (refs/changes/<last two digits>/<change>/<ps>)."""
    return f"refs/changes/{change % 100:02d}/{change}/{patch_set}"


def complete_patch_sets(change: NormalizedChange, partial: bool) -> None:
    """Add the patch sets ``change`` lacks (``partial``: its record may hold only the current
    one) that an upload message names; note on the change how many it has and lacks."""
    if not partial:
        return
    present = {ps.number for ps in change.patch_sets}
    uploads: dict[int, NormalizedMessage] = {}
    for msg in change.messages:
        match = _UPLOADED.match(msg.message)
        if match:
            number = int(match.group(1))
            if number not in uploads or msg.date < uploads[number].date:
                uploads[number] = msg
    highest = max(present | uploads.keys(), default=0)
    missing = [n for n in range(1, highest + 1) if n not in present]
    if present and not missing:
        return
    change.partial = "current" if present else "none"
    for number in missing:
        upload = uploads.get(number)
        if upload is None:
            change.patch_sets_unknown += 1
            continue
        change.patch_sets.append(
            NormalizedPatchSet(
                number,
                "",  # the revision is not in the message
                upload.date,
                change_ref(change.row.number, number),
                upload.author_username,
                upload.author_account_id,
                None,
                [],
                files_known=False,
            )
        )
        change.patch_sets_rebuilt += 1
    change.patch_sets.sort(key=lambda ps: ps.number)


@dataclass
class PatchSetGaps:
    """What a dump lacked, over all its changes, for one warning per kind."""

    current_only: int = 0  # changes holding only their current patch set
    current_rebuilt: int = 0
    current_unknown: int = 0  # earlier patch sets no message names
    without: int = 0  # changes holding no patch set at all
    without_rebuilt: int = 0

    def add(self, change: NormalizedChange) -> None:
        if change.partial == "current":
            self.current_only += 1
            self.current_rebuilt += change.patch_sets_rebuilt
            self.current_unknown += change.patch_sets_unknown
        elif change.partial == "none":
            self.without += 1
            self.without_rebuilt += change.patch_sets_rebuilt

    def warnings(self) -> list[str]:
        out = []
        if self.current_only:
            text = (
                f"{_changes(self.current_only)} only {_their(self.current_only)} current "
                f"patch set; rebuilt {_patch_sets(self.current_rebuilt, 'earlier ')} from "
                "their 'Uploaded patch set N.' messages"
            )
            if self.current_unknown:
                text += (
                    f"; {_patch_sets(self.current_unknown, 'earlier ')} no message names "
                    f"{'are' if self.current_unknown > 1 else 'is'} not counted"
                )
            out.append(f"{text}; {ADVICE}")
        if self.without:
            rebuilt = (
                f"rebuilt {_patch_sets(self.without_rebuilt)} from their 'Uploaded patch set "
                "N.' messages"
                if self.without_rebuilt
                else "no 'Uploaded patch set N.' message tells what they were"
            )
            out.append(f"{_changes(self.without)} no patch set; {rebuilt}; {ADVICE}")
        return out


def _changes(count: int) -> str:
    return f"{count} change holds" if count == 1 else f"{count} changes hold"


def _their(count: int) -> str:
    return "its" if count == 1 else "their"


def _patch_sets(count: int, kind: str = "") -> str:
    return f"{count} {kind}patch set" + ("" if count == 1 else "s")
