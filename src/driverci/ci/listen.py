"""Listen: Gerrit's event stream (with REST catch-up) plus a periodic reconciliation.

The stream is fast but can lose events (the CI down for hours, Gerrit's ``dropped-output``);
reconciliation asks REST for the project's open changes updated recently whose current
patch set is old enough to have been seen yet has no run and no comment of ours, and takes
them in; so too a recheck posted after our last report on the current patch set that no run
answers (posted while the CI was down, say). Intake is idempotent (see
:mod:`driverci.ci.queue`), so both paths may find the same patch set.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import Protocol

from driverci.ci import decide
from driverci.ci.config import CIConfig
from driverci.ci.decide import Decision, PatchSetFacts
from driverci.errors import DriverCIError
from driverci.gerrit.models_base import format_query_time
from driverci.gerrit.models_events import (
    ChangeAbandonedEvent,
    ChangeMergedEvent,
    ChangeRestoredEvent,
    CommentAddedEvent,
    GerritEvent,
    PatchsetCreatedEvent,
    PatchSetEvent,
    WipStateChangedEvent,
)
from driverci.gerrit.models_rest import ChangeInfo, ChangeMessageInfo
from driverci.gerrit.rest import GerritRestClient
from driverci.gerrit.stream import GerritEventStream
from driverci.policy.schema import Policy

log = logging.getLogger(__name__)


class Intake(Protocol):
    """What the listener hands decisions to (the service)."""

    def submit(self, facts: PatchSetFacts, decision: Decision) -> None: ...

    def new_patch_set(self, change: int, patch_set: int) -> None: ...

    def change_closed(self, change: int, why: str) -> None: ...

    def has_result(self, change: int, patch_set: int) -> bool: ...

    def has_recheck_run_near(
        self, change: int, patch_set: int, moment: dt.datetime, slack: dt.timedelta
    ) -> bool: ...


def facts_from_change(change: ChangeInfo, patch_set: int | None = None) -> PatchSetFacts:
    """Facts about ``patch_set`` (default: the current one) of a ChangeInfo.

    The change must have been fetched with CURRENT_REVISION and CURRENT_FILES.
    """
    current = change.current_revision_number or 1
    number = patch_set or current
    found = change.revision_by_number(number)
    sha, revision = found if found else ("", None)
    files = tuple(revision.files) if revision is not None and number == current else ()
    ref = (revision.ref if revision else None) or (
        f"refs/changes/{change.number % 100:02d}/{change.number}/{number}"
    )
    return PatchSetFacts(
        project=change.project,
        branch=change.branch,
        change=change.number,
        patch_set=number,
        revision=sha,
        ref=ref,
        current_patch_set=current,
        status=change.status,
        wip=change.work_in_progress,
        files=files,
        created=revision.created if revision else None,
    )


class Listener:
    """Turns events and reconciliation findings into decisions for the intake."""

    CHANGE_OPTIONS = ("CURRENT_REVISION", "CURRENT_FILES")
    RECONCILE_OPTIONS = ("CURRENT_REVISION", "CURRENT_FILES", "MESSAGES", "DETAILED_ACCOUNTS")
    #: How far back reconciliation looks (never before the CI's ``started`` day).
    RECONCILE_LOOKBACK = dt.timedelta(days=2)
    RECONCILE_PAGE = 200
    #: A recheck run triggered this close to a recheck's message date answers it (the
    #: stream's eventCreatedOn and the message's date can differ by a second or so).
    RECHECK_SLACK = dt.timedelta(seconds=5)

    def __init__(
        self,
        config: CIConfig,
        policy: Policy,
        rest: GerritRestClient,
        intake: Intake,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.config = config
        self.policy = policy
        self.rest = rest
        self.intake = intake
        self.clock = clock
        # A patch set younger than this is left to the stream (its event may be on the way;
        # taking it twice would be harmless, intake being idempotent, only wasted queries).
        self.RECONCILE_MIN_AGE = dt.timedelta(seconds=config.reconcile_min_age)
        self.handled = 0
        self.reconciled = 0

    # -- events ---------------------------------------------------------------------------------

    async def handle(self, event: GerritEvent) -> None:
        """Decide on one event; Gerrit errors are logged (reconciliation retries later)."""
        if not isinstance(event, PatchSetEvent) or event.project_name != self.config.project:
            return
        number, patch_set = event.change.number, event.patch_set.number
        at = event.event_created_on or self.clock()
        self.handled += 1
        if isinstance(event, ChangeMergedEvent | ChangeAbandonedEvent):
            self.intake.change_closed(
                number, decide.decide_closed(event.change.status or "").reason
            )
            return
        if isinstance(event, CommentAddedEvent):
            author = event.author.username if event.author else None
            if decide.is_ignored_author(self.config, author) or not decide.is_recheck(
                self.config, self.policy, event.comment
            ):
                return  # cheap rejection before any REST call
        elif not isinstance(
            event, PatchsetCreatedEvent | WipStateChangedEvent | ChangeRestoredEvent
        ):
            return
        try:
            change = await self.rest.get_change(
                f"{self.config.project}~{number}", self.CHANGE_OPTIONS
            )
        except DriverCIError as exc:
            log.warning(
                "%d,%d: cannot read the change (%s); reconciliation will retry",
                number,
                patch_set,
                exc,
            )
            return
        facts = facts_from_change(change, patch_set)
        decision = self._decide(event, facts, at)
        if isinstance(event, PatchsetCreatedEvent):
            # Any new patch set makes the older ones' runs pointless, tested or not.
            self.intake.new_patch_set(number, patch_set)
        if decision.action == "enqueue":
            self.intake.submit(facts, decision)
        else:
            log.debug("%s: %s ignored: %s", facts.label, event.type, decision.reason)

    def _decide(self, event: GerritEvent, facts: PatchSetFacts, at: dt.datetime) -> Decision:
        if isinstance(event, CommentAddedEvent):
            author = event.author.username if event.author else None
            return decide.decide_comment(self.config, self.policy, facts, author, event.comment, at)
        if isinstance(event, WipStateChangedEvent):
            return decide.decide_ready(self.config, self.policy, facts, at)
        if isinstance(event, ChangeRestoredEvent):
            return decide.decide_restored(self.config, self.policy, facts, at)
        return decide.decide_patch_set(self.config, self.policy, facts, at)

    async def listen(self, stream: GerritEventStream) -> None:
        async for event in stream.events():
            await self.handle(event)

    # -- reconciliation -------------------------------------------------------------------------

    def reconcile_query(self, now: dt.datetime) -> str:
        started = dt.datetime.combine(self.config.started, dt.time(), dt.UTC)
        since = max(started, now - self.RECONCILE_LOOKBACK)
        return f'project:{self.config.project} status:open after:"{format_query_time(since)}"'

    def _our_comments_on(self, change: ChangeInfo, patch_set: int) -> list[ChangeMessageInfo]:
        return [
            message
            for message in change.messages
            if (message.author.username if message.author else None) == self.config.gerrit.username
            and (message.tag or "").startswith("autogenerated:driverci:")
            and message.revision_number == patch_set
        ]

    def _unanswered_recheck(
        self, change: ChangeInfo, facts: PatchSetFacts, now: dt.datetime
    ) -> Decision | None:
        """The newest recheck of the current patch set after our last report, unless a recheck
        run was triggered at its moment (the stream saw it) or it is young enough to be on its
        way."""
        ours = {message.id for message in self._our_comments_on(change, facts.patch_set)}
        if not ours:
            return None
        # Gerrit lists messages oldest first; those after our last report are unanswered.
        last = max(index for index, message in enumerate(change.messages) if message.id in ours)
        for message in reversed(change.messages[last + 1 :]):
            if message.revision_number != facts.patch_set or now - message.date < (
                self.RECONCILE_MIN_AGE
            ):
                continue
            author = message.author.username if message.author else None
            decision = decide.decide_comment(
                self.config, self.policy, facts, author, message.message, message.date
            )
            if decision.action != "enqueue":
                continue
            if self.intake.has_recheck_run_near(
                facts.change, facts.patch_set, message.date, self.RECHECK_SLACK
            ):
                return None
            return decision
        return None

    async def reconcile_once(self) -> int:
        """Take in every open patch set (or recheck) that was missed; returns how many."""
        now = self.clock()
        submitted = 0
        query = self.reconcile_query(now)
        async for change in self.rest.iter_changes(
            query, self.RECONCILE_OPTIONS, self.RECONCILE_PAGE
        ):
            facts = facts_from_change(change)
            if facts.created is not None and now - facts.created < self.RECONCILE_MIN_AGE:
                continue
            if self.intake.has_result(facts.change, facts.patch_set) or self._our_comments_on(
                change, facts.patch_set
            ):
                recheck = self._unanswered_recheck(change, facts, now)
                if recheck is not None:
                    log.warning("%s: %s found by reconciliation", facts.label, recheck.reason)
                    self.intake.submit(facts, recheck)
                    submitted += 1
                continue
            decision = decide.decide_patch_set(self.config, self.policy, facts, now)
            if decision.action != "enqueue":
                continue
            found = Decision(
                "enqueue",
                "found by reconciliation",
                decide.RECONCILE,
                decide.PATCHSET,
                facts.created or now,
            )
            self.intake.new_patch_set(facts.change, facts.patch_set)
            self.intake.submit(facts, found)
            submitted += 1
        self.reconciled += submitted
        if submitted:
            log.warning("reconciliation %r: %d missed patch sets taken in", query, submitted)
        return submitted

    async def reconcile_forever(self, interval: float) -> None:
        while True:
            try:
                await self.reconcile_once()
            except DriverCIError as exc:
                log.warning("reconciliation failed (%s); next try in %gs", exc, interval)
            await asyncio.sleep(interval)
