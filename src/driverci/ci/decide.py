"""Decide: which Gerrit happenings make the reference CI test a patch set (pure functions).

Nothing here talks to Gerrit or the store: the listener gathers the facts (the change as
REST shows it), these functions say what to do, and the queue does it. Choices made here:

- Branches: the policy's rule (master, plus stable branches created after the CI started).
  Gerrit's REST API does not tell when a branch was created, so a stable branch whose
  creation time is unknown is treated as created after the CI started, i.e. tested: testing
  one branch too many costs testbed time, missing a required one breaks the coverage rule.
- Exclusions: the policy's rule engine with this CI's approved extra patterns; a patch set
  is skipped only when every file is irrelevant.
- Work in progress: skipped unless ``test_wip``; becoming ready for review triggers a run.
- Recheck: this CI's regex, or any of the policy's recheck forms naming this CI, written by
  a person (not this CI, not a listed bot) on the current patch set.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from driverci.ci.config import CIConfig
from driverci.policy.schema import Policy

Action = Literal["enqueue", "ignore", "cancel"]

#: Trigger kinds recorded on a run.
PATCHSET, RECHECK, READY, RESTORED, RECONCILE = (
    "patchset",
    "recheck",
    "ready",
    "restored",
    "reconcile",
)

#: A deadline far in the future, for a policy without deadlines.
NO_DEADLINE = dt.timedelta(days=3650)


@dataclass(frozen=True)
class PatchSetFacts:
    """What the CI knows about one patch set when deciding."""

    project: str
    branch: str
    change: int
    patch_set: int
    revision: str
    ref: str
    current_patch_set: int
    status: str  # NEW, MERGED, ABANDONED
    wip: bool
    files: tuple[str, ...]
    created: dt.datetime | None = None
    branch_created: dt.datetime | None = None

    @property
    def label(self) -> str:
        """``change,patchset`` as Zuul writes it, for messages."""
        return f"{self.change},{self.patch_set}"


@dataclass(frozen=True)
class Decision:
    """What to do: enqueue a run (``trigger``, ``intake_key``), cancel, or ignore (why)."""

    action: Action
    reason: str
    trigger: str | None = None
    #: Distinguishes triggers of the same patch set: the same key never makes two runs.
    trigger_id: str | None = None
    triggered_at: dt.datetime | None = None


def ignore(reason: str) -> Decision:
    return Decision("ignore", reason)


def deadline_for(policy: Policy, triggered_at: dt.datetime) -> dt.datetime:
    """When the result is due: the trigger time plus the policy's hours in force then."""
    hours = policy.deadline_hours(triggered_at)
    if hours == float("inf"):
        return triggered_at + NO_DEADLINE
    return triggered_at + dt.timedelta(hours=hours)


def branch_covered(
    config: CIConfig, policy: Policy, branch: str, created: dt.datetime | None
) -> bool:
    """The branch rule; an unknown creation time of a stable branch counts as after the start."""
    if created is None:
        stable = policy.branches.stable_pattern
        if stable is not None and re.search(stable, branch):
            return True
    return policy.branch_required(branch, created, config.started)


def not_covered_reason(config: CIConfig, policy: Policy, facts: PatchSetFacts) -> str | None:
    """Why this patch set is not for this CI, or None when it must be tested."""
    if facts.project != config.project:
        return f"project {facts.project} is not {config.project}"
    if facts.status != "NEW":
        return f"change is {facts.status.lower()}"
    if facts.patch_set != facts.current_patch_set:
        return f"patch set {facts.patch_set} is outdated (current is {facts.current_patch_set})"
    if not branch_covered(config, policy, facts.branch, facts.branch_created):
        return f"branch {facts.branch} is not covered by the branch rule"
    if facts.wip and not config.test_wip:
        return "work in progress"
    if policy.is_excluded(facts.files, config.exclusions):
        return "every file is excluded (e.g. docs only)"
    return None


def is_ignored_author(config: CIConfig, author: str | None) -> bool:
    """This CI itself, and the bots the configuration names, never trigger anything."""
    if author is None:
        return True
    return author == config.gerrit.username or author in config.ignore_accounts


def is_recheck(config: CIConfig, policy: Policy, comment: str) -> bool:
    """This CI's recheck regex, or a policy recheck form naming this CI (or all CIs)."""
    if re.search(config.recheck, comment.strip()):
        return True
    return policy.is_recheck(comment, config.name, config.gerrit.username)


def _epoch(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def decide_patch_set(
    config: CIConfig, policy: Policy, facts: PatchSetFacts, at: dt.datetime
) -> Decision:
    """A patch set was uploaded (or found by reconciliation): test it if covered."""
    reason = not_covered_reason(config, policy, facts)
    if reason is not None:
        return ignore(reason)
    return Decision("enqueue", "new patch set", PATCHSET, PATCHSET, at)


def decide_comment(
    config: CIConfig,
    policy: Policy,
    facts: PatchSetFacts,
    author: str | None,
    comment: str,
    at: dt.datetime,
) -> Decision:
    """A review comment: a person's recheck on the current patch set makes a new run."""
    if is_ignored_author(config, author):
        return ignore(f"comment by {author or 'Gerrit'} (this CI or an ignored account)")
    if not is_recheck(config, policy, comment):
        return ignore("not a recheck")
    reason = not_covered_reason(config, policy, facts)
    if reason is not None:
        return ignore(f"recheck, but {reason}")
    # One run per recheck comment: its author and second identify it across live events,
    # catch-up and restarts.
    return Decision(
        "enqueue", f"recheck by {author}", RECHECK, f"recheck:{author}:{_epoch(at)}", at
    )


def decide_ready(
    config: CIConfig, policy: Policy, facts: PatchSetFacts, at: dt.datetime
) -> Decision:
    """Work in progress was cleared: the current patch set is now due (once)."""
    if facts.wip:
        return ignore("still work in progress")
    decision = decide_patch_set(config, policy, facts, at)
    if decision.action != "enqueue":
        return decision
    # Same intake key as the upload: a patch set already tested when it was uploaded
    # (test_wip) is not tested again.
    return Decision("enqueue", "ready for review", READY, PATCHSET, at)


def decide_restored(
    config: CIConfig, policy: Policy, facts: PatchSetFacts, at: dt.datetime
) -> Decision:
    """An abandoned change came back: its queued runs were cancelled, so test it again."""
    decision = decide_patch_set(config, policy, facts, at)
    if decision.action != "enqueue":
        return decision
    return Decision("enqueue", "change restored", RESTORED, f"restored:{_epoch(at)}", at)


def decide_closed(status: str) -> Decision:
    """Merged or abandoned: queued runs of the change are pointless."""
    return Decision("cancel", f"change {status.lower()}")


def intake_key(ci_account: str, facts: PatchSetFacts, trigger_id: str) -> str:
    """The store's unique key of a run: CI, project, change, patch set, trigger."""
    return f"{ci_account}|{facts.project}|{facts.change}|{facts.patch_set}|{trigger_id}"
