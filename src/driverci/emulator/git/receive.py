"""Gerrit's magic refs: a push to ``refs/for/<branch>`` becomes a change or a new patch set.

A push is handled in two steps, both reached from hooks inside ``git receive-pack`` (they
POST to the emulator's internal endpoint, see :mod:`driverci.emulator.git.http`):

* :func:`check_push` (pre-receive, objects still quarantined): every new commit needs a
  ``Change-Id`` footer, the branch must exist, the revision must not be uploaded already;
  only admins may update ``refs/heads/*`` directly. A refusal fails the push.
* :func:`process_push` (post-receive): for each new commit, write
  ``refs/changes/NN/N/P``, record the patch set (which emits patchset-created once the
  ref exists), delete the ``refs/for/...`` ref and answer Gerrit's ``SUCCESS`` lines.

:func:`upload_change` (tests, seeding) and :func:`run_git_service` (SSH) share this path.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Protocol

from driverci.emulator.git.magic_refs import (
    MAGIC_PREFIX,
    PushOptions,
    RefUpdate,
    find_change_id,
    make_change_id,
    normalize_project,
    parse_magic_ref,
)
from driverci.emulator.git.parse import CommitInfo
from driverci.emulator.git.store import GitError, GitStore, PushSession
from driverci.emulator.state.journal import EmulatorError, EmulatorState
from driverci.emulator.state.model import ZERO_SHA, Account, Change, PatchSet, change_ref

log = logging.getLogger(__name__)

PIPE_CHUNK = 65536


def _change_url(state: EmulatorState, change: Change) -> str:
    return f"{state.web_url}/c/{change.project}/+/{change.number}"


def _missing_change_id_hint(state: EmulatorState) -> list[str]:
    return [
        "",
        "Hint: to automatically insert a Change-Id, install the hook:",
        '  f="$(git rev-parse --git-dir)/hooks/commit-msg"; '
        f'curl -o "$f" {state.web_url}/tools/hooks/commit-msg ; chmod +x "$f"',
        "and then amend the commit:",
        "  git commit --amend --no-edit",
        "Finally, push your changes again.",
        "",
    ]


async def _new_commits(
    state: EmulatorState,
    git: GitStore,
    project: str,
    branch: str,
    tip: str,
    env: Mapping[str, str] | None = None,
) -> list[str]:
    """Commits of the push not on the branch and not uploaded yet, oldest first."""
    base = await git.branch_tip(project, branch)
    args = ["rev-list", "--reverse", "--topo-order", tip] + (["--not", base] if base else [])
    listed = (await git.run_git(project, *args, env=env)).decode().split()
    known = {
        ps.revision for c in state.changes.values() if c.project == project for ps in c.patch_sets
    }
    return [sha for sha in listed if sha not in known]


def _closed_change(
    state: EmulatorState, project: str, branch: str, change_id: str
) -> Change | None:
    for change in state.changes.values():
        key = (change.project, change.branch, change.change_id)
        if key == (project, branch, change_id) and not change.is_open:
            return change
    return None


async def check_push(
    state: EmulatorState,
    git: GitStore,
    project: str,
    account: Account,
    updates: Sequence[RefUpdate],
    env: Mapping[str, str] | None = None,
) -> list[str]:
    """Gerrit's refusals for this push (empty: accept). ``env``: the quarantine variables."""
    errors: list[str] = []
    proj = state.get_project(project)
    for update in updates:
        if update.ref.startswith(MAGIC_PREFIX):
            branch, _ = parse_magic_ref(update.ref)
            if update.new == ZERO_SHA:
                errors.append(f"ERROR: cannot delete {update.ref}")
            elif branch not in proj.branches:
                errors.append(f"ERROR: branch {branch} not found")
            else:
                errors += await _check_commits(state, git, project, branch, update.new, env)
        elif update.ref.startswith("refs/heads/") and account.is_admin:
            continue
        else:
            errors.append(f"ERROR: prohibited by Gerrit: not permitted: update on {update.ref}")
    return errors


async def _check_commits(
    state: EmulatorState,
    git: GitStore,
    project: str,
    branch: str,
    tip: str,
    env: Mapping[str, str] | None,
) -> list[str]:
    commits = await _new_commits(state, git, project, branch, tip, env)
    if not commits:
        return ["ERROR: no new changes"]
    errors: list[str] = []
    seen: set[str] = set()
    for sha in commits:
        info = await git.commit_info(project, sha, env=env)
        change_id, problem = find_change_id(info.message)
        if change_id is None:
            errors.append(f"ERROR: commit {sha[:7]}: {problem}")
            errors += _missing_change_id_hint(state)
            continue
        closed = _closed_change(state, project, branch, change_id)
        if closed is not None and state.open_change_for(project, branch, change_id) is None:
            errors.append(f"ERROR: commit {sha[:7]}: change {_change_url(state, closed)} closed")
        if change_id in seen:
            errors.append(f"ERROR: commit {sha[:7]}: same Change-Id in multiple changes")
        seen.add(change_id)
    return errors


async def process_push(
    state: EmulatorState,
    git: GitStore,
    project: str,
    account: Account,
    updates: Sequence[RefUpdate],
    push_options: Sequence[str] = (),
) -> list[str]:
    """Turn accepted ref updates into changes; return the lines the pusher sees."""
    created: list[tuple[Change, bool]] = []
    errors: list[str] = []
    for update in updates:
        try:
            if update.ref.startswith(MAGIC_PREFIX):
                branch, options = parse_magic_ref(update.ref, push_options)
                try:
                    for sha in await _new_commits(state, git, project, branch, update.new):
                        change, patch_set = await _upload_commit(
                            state, git, project, branch, sha, account, options, state.now()
                        )
                        created.append((change, patch_set.number == 1))
                finally:
                    await git.delete_ref(project, update.ref)
            elif update.ref.startswith("refs/heads/") and update.new != ZERO_SHA:
                branch = update.ref[len("refs/heads/") :]
                state.set_branch(project, branch, update.new, submitter_id=account.account_id)
        except (EmulatorError, GitError) as exc:
            log.warning(
                "push to %s %s by %s failed: %s", project, update.ref, account.username, exc
            )
            errors.append(f"ERROR: {update.ref}: {exc}")
    if not created:
        return errors
    lines = ["", "SUCCESS", ""]
    for change, is_new in created:
        flags = (" [NEW]" if is_new else "") + (" [WIP]" if change.wip else "")
        lines.append(f"  {_change_url(state, change)} {change.subject}{flags}")
    return [*lines, "", *errors]


async def _upload_commit(
    state: EmulatorState,
    git: GitStore,
    project: str,
    branch: str,
    sha: str,
    account: Account,
    options: PushOptions,
    at: datetime,
) -> tuple[Change, PatchSet]:
    info = await git.commit_info(project, sha)
    change_id, problem = find_change_id(info.message)
    if change_id is None:
        raise EmulatorError(400, f"commit {sha[:7]}: {problem}")
    parent = info.parents[0] if info.parents else None
    files = await git.diff_files(project, parent, sha)
    author = state.find_account(info.author_email) if info.author_email else None
    async with git.upload_lock:
        existing = state.open_change_for(project, branch, change_id)
        kind = await _patch_set_kind(git, project, existing, info)
        number = existing.number if existing else state.next_change_number
        ref = change_ref(number, len(existing.patch_sets) + 1 if existing else 1)
        # The ref must exist before patchset-created goes out: CIs fetch on that event.
        await git.update_ref(project, ref, sha)
        try:
            change, patch_set = state.upload_patch_set(
                project,
                branch,
                change_id,
                revision=sha,
                parents=info.parents,
                commit_message=info.message,
                files=files,
                uploader=account,
                at=at,
                author=author,
                kind=kind,
                topic=options.topic,
                wip=bool(options.wip),
            )
        except EmulatorError:
            await git.delete_ref(project, ref)
            raise
    if patch_set.ref != ref:  # only if something bypassed upload_lock
        log.warning("change %d: expected ref %s, state says %s", change.number, ref, patch_set.ref)
        await git.update_ref(project, patch_set.ref, sha)
    log.info("change %d patch set %d uploaded as %s", change.number, patch_set.number, sha)
    if existing is not None and options.wip is not None and options.wip != change.wip:
        state.set_work_in_progress(change, account, options.wip, at=at)
    if options.hashtags:
        state.set_hashtags(change, account, add=options.hashtags, at=at)
    return change, patch_set


async def _patch_set_kind(
    git: GitStore, project: str, existing: Change | None, info: CommitInfo
) -> str:
    """Gerrit's ChangeKind, for the cases that need no diff comparison."""
    if existing is None or existing.current.parents != info.parents:
        return "REWORK"
    if await git.tree_of(project, existing.current.revision) != info.tree:
        return "REWORK"
    same_message = existing.current.commit_message == info.message
    return "NO_CHANGE" if same_message else "NO_CODE_CHANGE"


async def upload_change(
    state: EmulatorState,
    git: GitStore,
    project: str,
    branch: str,
    files: Mapping[str, bytes | None],
    subject: str,
    account: Account,
    change_id: str | None = None,
    parent: str | None = None,
    at: datetime | None = None,
    body: str = "",
    topic: str | None = None,
) -> tuple[Change, PatchSet]:
    """Create a commit and upload it as if pushed to refs/for/<branch> (same checks)."""
    at = at or state.now()
    if parent is None:
        parent = state.get_project(project).branches[branch].revision
    change_id = change_id or make_change_id(project, branch, subject, account.username, str(at))
    message = subject + ("\n\n" + body.strip() if body.strip() else "")
    message += f"\n\nChange-Id: {change_id}\n"
    sha = await git.create_commit(project, parent, files, message, account, at)
    async with git.project_lock(project):
        update = RefUpdate(ZERO_SHA, sha, MAGIC_PREFIX + branch)
        errors = await check_push(state, git, project, account, [update])
        if errors:
            raise EmulatorError(409 if "no new changes" in errors[0] else 400, errors[0][7:])
        return await _upload_commit(
            state, git, project, branch, sha, account, PushOptions(topic=topic), at
        )


class ByteReader(Protocol):
    async def read(self, n: int = -1) -> bytes: ...


class ByteWriter(Protocol):
    def write(self, data: bytes) -> object: ...


GIT_SERVICES = ("git-upload-pack", "git-receive-pack")


def internal_receive_url(base_url: str, project: str) -> str:
    return f"{base_url.rstrip('/')}/_emulator/receive/{project}"


@contextmanager
def push_session(git: GitStore, project: str, account: Account) -> Iterator[PushSession]:
    """Register a push so that its hooks may call the internal endpoint with its token."""
    session = PushSession(secrets.token_hex(20), project, account)
    git.push_sessions[session.token] = session
    try:
        yield session
    finally:
        del git.push_sessions[session.token]


async def process_leftovers(
    state: EmulatorState, git: GitStore, project: str, account: Account
) -> list[str]:
    """Process refs/for/* refs a failed post-receive hook left behind (never keep them)."""
    refs = await git.list_refs(project, MAGIC_PREFIX)
    updates = [RefUpdate(ZERO_SHA, sha, ref) for ref, sha in refs.items()]
    if not updates:
        return []
    log.warning("%s: processing %d ref(s) the post-receive hook left", project, len(updates))
    return await process_push(state, git, project, account, updates)


async def run_git_service(
    state: EmulatorState,
    git: GitStore,
    service: str,
    project: str,
    account: Account,
    stdin: ByteReader,
    stdout: ByteWriter,
    stderr: ByteWriter,
    protocol: str | None = None,
) -> int:
    """Serve ``git-upload-pack``/``git-receive-pack '<project>'`` over byte streams (SSH)."""
    project = normalize_project(project)
    if service not in GIT_SERVICES:
        stderr.write(f"fatal: unknown git service {service}\n".encode())
        return 1
    if project not in state.projects:
        stderr.write(f"fatal: project {project} not found\n".encode())
        return 1
    repo = await git.ensure_repo(project)
    env = {"GIT_PROTOCOL": protocol} if protocol else {}
    command = [git.GIT, service.removeprefix("git-"), str(repo)]
    if service == "git-upload-pack":
        return await _pipe_process(git, command, env, stdin, stdout, stderr)
    async with git.project_lock(project):
        with push_session(git, project, account) as session:
            env["DRIVERCI_RECEIVE_URL"] = internal_receive_url(state.web_url, project)
            env["DRIVERCI_RECEIVE_TOKEN"] = session.token
            status = await _pipe_process(git, command, env, stdin, stdout, stderr)
        for line in await process_leftovers(state, git, project, account):
            stderr.write(f"{line}\n".encode())
    return status


async def _pipe_process(
    git: GitStore,
    command: list[str],
    env: dict[str, str],
    stdin: ByteReader,
    stdout: ByteWriter,
    stderr: ByteWriter,
) -> int:
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=git.git_env(env),
    )
    assert process.stdin and process.stdout and process.stderr

    async def feed() -> None:
        assert process.stdin
        try:
            while chunk := await stdin.read(PIPE_CHUNK):
                process.stdin.write(chunk)
                await process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            return  # git exited first: it had all it needed
        process.stdin.close()

    async def drain(source: asyncio.StreamReader, sink: ByteWriter) -> None:
        while chunk := await source.read(PIPE_CHUNK):
            sink.write(chunk)
            flush = getattr(sink, "drain", None)
            if flush is not None:
                await flush()

    feeder = asyncio.create_task(feed())
    try:
        await asyncio.gather(drain(process.stdout, stdout), drain(process.stderr, stderr))
        return await process.wait()
    finally:
        feeder.cancel()
        if process.returncode is None:
            process.kill()
            await process.wait()
