"""Seeding an emulated Gerrit with a scenario's past: accounts, projects, git history, comments.

``seed_scenario`` plans everything from the scenario's seed (deterministic), writes the git
history of each project through one ``git fast-import``, then applies the emulator
operations in time order (each with its explicit past timestamp) inside one journal batch,
and finally writes ``artifacts.jsonl`` (for the log server) and ``scenario-truth.json``
(what each CI actually did, for the judge's tests) into the state directory.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from driverci.emulator.git.fastimport import Ident
from driverci.emulator.git.store import GitStore
from driverci.emulator.seed.changes import (
    ChangePlanner,
    FilePools,
    People,
    PlannedChange,
    PlannedPatchSet,
    plan_sandbox_changes,
)
from driverci.emulator.seed.comments import CommentPlanner, PlannedReview, truth_document
from driverci.emulator.seed.history import write_history
from driverci.emulator.seed.ironic_tree import build_tree, sandbox_tree
from driverci.emulator.seed.scenario import Scenario
from driverci.emulator.state.journal import EmulatorState
from driverci.emulator.state.model import Account
from driverci.errors import DriverCIError

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]

ARTIFACTS_FILE = "artifacts.jsonl"
TRUTH_FILE = "scenario-truth.json"


class SeedError(DriverCIError):
    """The scenario cannot be seeded into this state (for example: already seeded)."""


@dataclass(frozen=True)
class SeedSummary:
    projects: list[str]
    accounts: int
    changes: int
    patch_sets: int
    merged: int
    abandoned: int
    docs_only: int
    comments: int
    ci_comments: int
    commits: int
    artifacts: int
    seconds: float

    def __str__(self) -> str:
        return (
            f"{self.changes} changes ({self.patch_sets} patch sets, {self.merged} merged, "
            f"{self.abandoned} abandoned, {self.docs_only} docs-only), {self.comments} comments "
            f"({self.ci_comments} by third-party CIs), {self.commits} commits, "
            f"{self.artifacts} artifact directories, {self.accounts} accounts "
            f"in {self.seconds:.1f} s"
        )


def _ensure_repo(store: GitStore, project: str) -> Path:
    """Run the git store's async ensure_repo from synchronous code (loop running or not)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(store.ensure_repo(project))
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, store.ensure_repo(project)).result()


def _refuse_if_seeded(state: EmulatorState, store: GitStore, scenario: Scenario) -> None:
    for project in (scenario.project, scenario.sandbox_project):
        if project in state.projects:
            raise SeedError(
                f"state {state.state_dir or '(in memory)'} already has project {project}; "
                "seed into a new state directory"
            )
        repo = store.repo_path(project)
        if (repo / "HEAD").exists():
            refs = subprocess.run(
                ["git", "for-each-ref", "--count=1"], cwd=repo, capture_output=True, check=False
            )
            if refs.stdout.strip():
                raise SeedError(f"git repository {repo} already has history; use a new state")


class _Seeder:
    """Holds the accounts and counters while the plan is applied to the state."""

    def __init__(self, state: EmulatorState, scenario: Scenario, people: People) -> None:
        self.state = state
        self.scenario = scenario
        self.people = people
        self.accounts: dict[str, Account] = {}
        self.idents: dict[str, Ident] = {}

    def add_accounts(self) -> None:
        upstream = self.scenario.upstream
        self._account(upstream.account, upstream.name, "zuul@openstack.org",
                      upstream.http_password, ["SERVICE_USER"])  # fmt: skip
        for ci in self.scenario.cis:
            email = ci.email or f"{ci.account}@ci.example.com"
            self._account(ci.account, ci.name, email, ci.http_password, [])
        for person in self.people.developers:
            self._account(person.username, person.name, person.email, None, [])

    def _account(
        self, username: str, name: str, email: str, password: str | None, tags: list[str]
    ) -> None:
        account = self.state.account_by_username(username)
        if account is None:
            account = self.state.add_account(
                username, name, email=email, http_password=password or f"{username}-secret",
                tags=tags,
            )  # fmt: skip
        self.accounts[username] = account
        self.idents[username] = Ident(account.name, account.email or f"{username}@example.org")


def seed_scenario(
    state: EmulatorState,
    git_root: Path,
    scenario: Scenario,
    progress: Progress | None = None,
) -> SeedSummary:
    """Write the scenario's past into ``state`` and the bare repositories under ``git_root``."""
    began = time.monotonic()
    report: Progress = progress or (lambda stage, done, total: None)
    store = GitStore(git_root)
    _refuse_if_seeded(state, store, scenario)

    report("planning", 0, 1)
    people = People.for_scenario(scenario)
    tree = build_tree()
    changes = ChangePlanner(scenario, people, FilePools(tree)).plan()
    sandbox = plan_sandbox_changes(scenario, people)
    everything = sorted(changes + sandbox, key=lambda c: c.created)
    first_number = max(state.next_change_number, scenario.first_change_number)
    for offset, change in enumerate(everything):
        change.number = first_number + offset
    # Not journalled: replay takes every change's number from its patch_set operation.
    state.next_change_number = first_number
    report("planning", 1, 1)

    seeder = _Seeder(state, scenario, people)
    with state.batch():
        seeder.add_accounts()

    report("git history", 0, 2)
    main_created = {b: scenario.branch_creation(b) for b in scenario.branches}
    earliest = min([*main_created.values(), *(c.created for c in sandbox)])
    project_created = earliest - timedelta(days=1)
    main_created["master"] = min(main_created["master"], project_created)
    zuul = seeder.idents[scenario.upstream.account]
    main_history = write_history(
        _ensure_repo(store, scenario.project), scenario.project, tree, main_created,
        changes, seeder.idents, zuul,
    )  # fmt: skip
    report("git history", 1, 2)
    sandbox_history = write_history(
        _ensure_repo(store, scenario.sandbox_project), scenario.sandbox_project,
        sandbox_tree(), {"master": project_created}, sandbox, seeder.idents, zuul,
    )  # fmt: skip
    report("git history", 2, 2)

    plan = CommentPlanner(scenario, state.web_url).plan(changes, sandbox)
    with state.batch():
        for project, history, voters in (
            (scenario.project, main_history, [scenario.upstream.account]),
            (scenario.sandbox_project, sandbox_history, ["*"]),
        ):
            state.create_project(project, at=project_created, voters={"Verified": voters})
            for branch, (created, revision) in sorted(history.branches.items()):
                state.set_branch(project, branch, revision, at=created)
        _apply(state, seeder, everything, plan.reviews, report)

    if state.state_dir is not None:
        _write_jsonl(state.state_dir / ARTIFACTS_FILE, plan.artifacts)
        truth = truth_document(scenario, plan, CommentPlanner.DEADLINE)
        (state.state_dir / TRUTH_FILE).write_text(json.dumps(truth, indent=1) + "\n")
    ci_accounts = {ci.account for ci in scenario.cis}
    summary = SeedSummary(
        projects=[scenario.project, scenario.sandbox_project],
        accounts=len(seeder.accounts),
        changes=len(changes),
        patch_sets=sum(len(c.patch_sets) for c in changes),
        merged=sum(c.fate == "merged" for c in changes),
        abandoned=sum(c.fate == "abandoned" for c in changes),
        docs_only=sum(c.docs_only for c in changes),
        comments=len(plan.reviews),
        ci_comments=sum(r.account in ci_accounts for r in plan.reviews),
        commits=main_history.commits + sandbox_history.commits,
        artifacts=len(plan.artifacts),
        seconds=time.monotonic() - began,
    )
    log.info("seeded %s: %s", scenario.project, summary)
    return summary


def _apply(
    state: EmulatorState,
    seeder: _Seeder,
    changes: list[PlannedChange],
    reviews: list[PlannedReview],
    report: Progress,
) -> None:
    """Apply uploads, reviews, merges and abandons in time order."""
    # (time, order within the same instant, sequence) -> operation
    ops: list[tuple[datetime, int, int, Callable[[], None]]] = []
    zuul = seeder.accounts[seeder.scenario.upstream.account]
    for change in changes:
        for ps in change.patch_sets:
            ops.append((ps.created, 0, len(ops), _upload(state, seeder, change, ps)))
        if change.fate == "merged" and change.closed_at is not None:
            ops.append((change.closed_at, 2, len(ops), _merge(state, change, zuul)))
        elif change.fate == "abandoned" and change.closed_at is not None:
            owner = seeder.accounts[change.owner]
            ops.append((change.closed_at, 2, len(ops), _abandon(state, change, owner)))
    for review in reviews:
        ops.append((review.at, 1, len(ops), _review(state, seeder, review)))
    ops.sort(key=lambda op: op[:3])
    total = len(ops)
    step = max(1, total // 100)
    for done, (_, _, _, apply) in enumerate(ops, start=1):
        apply()
        if done % step == 0 or done == total:
            report("comments and patch sets", done, total)


def _upload(
    state: EmulatorState, seeder: _Seeder, change: PlannedChange, ps: PlannedPatchSet
) -> Callable[[], None]:
    def apply() -> None:
        uploader = seeder.accounts[ps.uploader]
        created, _ = state.upload_patch_set(
            change.project, change.branch, change.change_id, ps.revision, [ps.parent_revision],
            change.commit_message, list(ps.file_changes), uploader, at=ps.created,
        )  # fmt: skip
        if created.number != change.number:
            raise SeedError(
                f"seeding out of order: planned change {change.number}, got {created.number}"
            )

    return apply


def _review(state: EmulatorState, seeder: _Seeder, review: PlannedReview) -> Callable[[], None]:
    def apply() -> None:
        change = state.changes[review.change.number]
        patch_set = change.patch_sets[review.patch_set.number - 1]
        state.post_review(
            change, patch_set, seeder.accounts[review.account], review.message,
            labels=review.labels, tag=review.tag, at=review.at,
        )  # fmt: skip

    return apply


def _merge(state: EmulatorState, planned: PlannedChange, zuul: Account) -> Callable[[], None]:
    def apply() -> None:
        change = state.changes[planned.number]
        state.merge_change(change, zuul, at=planned.closed_at, new_rev=planned.merged_revision)
        state.set_branch(
            planned.project, planned.branch, planned.merged_revision, at=planned.closed_at,
            submitter_id=zuul.account_id,
        )  # fmt: skip

    return apply


def _abandon(state: EmulatorState, planned: PlannedChange, owner: Account) -> Callable[[], None]:
    def apply() -> None:
        state.abandon_change(state.changes[planned.number], owner, at=planned.closed_at)

    return apply


def _write_jsonl(path: Path, records: list[dict[str, object]]) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.writelines(json.dumps(record, separators=(",", ":")) + "\n" for record in records)
