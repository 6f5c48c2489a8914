"""Writing planned changes as real git history (one ``git fast-import`` per repository).

Every patch set becomes a commit at ``refs/changes/NN/N/P`` on top of its branch's tip at
upload time; merged changes move the branch (fast-forward when possible, otherwise a merge
commit, as Gerrit's "merge if necessary" submit type does).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from driverci.emulator.git.fastimport import FastImportStream, Ident
from driverci.emulator.seed.changes import PlannedChange, PlannedPatchSet
from driverci.emulator.state.model import FileChange

RELEASE_BOT = Ident("OpenStack Release Bot", "infra-root@openstack.org")


@dataclass
class BranchTip:
    mark: int
    tree: dict[str, bytes]
    revision: str = ""


@dataclass
class HistoryResult:
    commits: int
    branches: dict[str, tuple[datetime, str]]  # branch -> (created, revision at creation)
    tips: dict[str, str]  # branch -> final revision


def _gitreview(project: str, branch: str) -> bytes:
    text = f"[gerrit]\nhost=review.opendev.org\nport=29418\nproject={project}.git\n"
    if branch != "master":
        text += f"defaultbranch={branch}\n"
    return text.encode()


def write_history(
    repo: Path,
    project: str,
    base_tree: dict[str, bytes],
    branch_created: dict[str, datetime],
    changes: list[PlannedChange],
    idents: dict[str, Ident],
    submitter: Ident,
) -> HistoryResult:
    """Write the history of one project into the bare ``repo``; fill revisions into the plan."""
    stream = FastImportStream()
    master_created = branch_created["master"]
    base = stream.commit(
        "refs/heads/master", RELEASE_BOT, master_created, f"Import {project}\n", files=base_tree
    )
    tips: dict[str, BranchTip] = {"master": BranchTip(base, dict(base_tree))}
    creation_marks: dict[str, int] = {"master": base}
    for branch, created in sorted(branch_created.items(), key=lambda item: item[1]):
        if branch == "master":
            continue
        gitreview = _gitreview(project, branch)
        mark = stream.commit(
            f"refs/heads/{branch}",
            RELEASE_BOT,
            created,
            f"Update .gitreview for {branch}\n",
            parents=[base],
            files={".gitreview": gitreview},
        )
        tips[branch] = BranchTip(mark, {**base_tree, ".gitreview": gitreview})
        creation_marks[branch] = mark

    events: list[tuple[datetime, int, int, PlannedChange, PlannedPatchSet | None]] = []
    for change in changes:
        for ps in change.patch_sets:
            events.append((ps.created, 0, change.number, change, ps))
        if change.fate == "merged" and change.closed_at is not None:
            events.append((change.closed_at, 1, change.number, change, None))
    events.sort(key=lambda event: event[:3])
    for at, _, _, change, uploaded in events:
        tip = tips[change.branch]
        if uploaded is not None:
            _write_patch_set(stream, change, uploaded, tip, idents[uploaded.uploader])
        else:
            _write_merge(stream, change, tip, at, submitter)

    marks = stream.run(repo)
    for change in changes:
        for ps in change.patch_sets:
            ps.revision = marks[ps.mark]
            ps.parent_revision = marks[ps.parent_mark]
            ps.contents = {}  # only needed while writing
        if change.merge_mark:
            change.merged_revision = marks[change.merge_mark]
    return HistoryResult(
        commits=stream.commit_count,
        branches={b: (branch_created[b], marks[m]) for b, m in creation_marks.items()},
        tips={b: marks[t.mark] for b, t in tips.items()},
    )


def _write_patch_set(
    stream: FastImportStream,
    change: PlannedChange,
    ps: PlannedPatchSet,
    tip: BranchTip,
    author: Ident,
) -> None:
    files: dict[str, bytes | None] = {}
    ps.file_changes = []
    for path, edit in sorted(ps.edits.items()):
        old = None if path in ps.added else tip.tree.get(path, b"")
        new = edit if old is None else old + edit
        files[path] = new
        ps.contents[path] = new
        ps.file_changes.append(
            FileChange(
                path=path,
                status="A" if old is None else "M",
                lines_inserted=edit.count(b"\n"),
                lines_deleted=0,
                size=len(new),
                size_delta=len(new) - len(old or b""),
            )
        )
    ps.parent_mark = tip.mark
    ps.mark = stream.commit(
        change.ref(ps), author, ps.created, change.commit_message, parents=[tip.mark], files=files
    )


def _write_merge(
    stream: FastImportStream,
    change: PlannedChange,
    tip: BranchTip,
    at: datetime,
    submitter: Ident,
) -> None:
    last = change.patch_sets[-1]
    if tip.mark == last.parent_mark:
        stream.reset(f"refs/heads/{change.branch}", last.mark)
        tip.tree.update(last.contents)
        tip.mark = last.mark
    else:
        files: dict[str, bytes | None] = {}
        for path, edit in last.edits.items():
            files[path] = edit if path in last.added else tip.tree.get(path, b"") + edit
        tip.mark = stream.commit(
            f"refs/heads/{change.branch}",
            submitter,
            at,
            f'Merge "{change.subject}"\n',
            parents=[tip.mark, last.mark],
            files=files,
        )
        tip.tree.update({p: c for p, c in files.items() if c is not None})
    change.merge_mark = tip.mark
