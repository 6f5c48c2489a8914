"""What every page is computed from: the judge's report and the facts behind it, loaded once
per (project, window, store change counter, registry version) and cached.

Pages are read-mostly and the store changes only when a collector writes, so a small cache
keyed by a cheap "has anything changed" stamp makes every page after the first one fast.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from pathlib import Path

from sqlalchemy import func, select

from driverci.audit.engine import Judge
from driverci.audit.evaluate.criteria import CiRules
from driverci.audit.evaluate.facts import PatchSetFact, ResultFact, Window
from driverci.audit.evaluate.load import ProjectFacts
from driverci.audit.govern.report import AuditReport, SystemReport
from driverci.errors import ConfigError
from driverci.policy.schema import Policy
from driverci.registry.schema import CISystem, Registry
from driverci.store.db import Store
from driverci.store.models import ArtifactProbe, Change, PatchSet, ReviewMessage

log = logging.getLogger(__name__)

Key = tuple[int, int]
StoreStamp = tuple[object, ...]


@dataclass(frozen=True)
class WebConfig:
    """How ``driverci web`` was started (see :mod:`driverci.web.cli`)."""

    store: Store
    registry: Registry
    policy: Policy
    #: The registry file admin actions write back to; None means the shipped, read-only one.
    registry_path: Path | None = None
    gerrit_url: str = "https://review.opendev.org"
    admin_token: str | None = None
    window_days: int | None = None  # None: the policy's window
    until: datetime | None = None  # None: now (the window follows the clock)


@dataclass
class Analysis:
    """One window's report and facts; derived indexes are computed on first use."""

    project: str
    window: Window
    now: datetime
    report: AuditReport
    facts: ProjectFacts
    judge: Judge
    gerrit_url: str
    _rules: dict[str, CiRules] = field(default_factory=dict)
    #: Page data already computed from this analysis (e.g. one CI's detail), by key.
    pages: dict[tuple[str, object], object] = field(default_factory=dict)

    @property
    def registry(self) -> Registry:
        return self.judge.registry

    @property
    def policy(self) -> Policy:
        return self.judge.policy

    @cached_property
    def systems(self) -> dict[str, SystemReport]:
        return {item.evaluation.account: item for item in self.report.systems}

    @cached_property
    def excluded_by_default(self) -> dict[Key, bool]:
        return {ps.key: self.policy.is_excluded(ps.files) for ps in self.facts.patch_sets}

    @cached_property
    def patch_sets(self) -> dict[Key, PatchSetFact]:
        return {ps.key: ps for ps in self.facts.patch_sets}

    @cached_property
    def results_by_key(self) -> dict[str, dict[Key, list[ResultFact]]]:
        """Per CI account, its results per patch set, oldest first."""
        index: dict[str, dict[Key, list[ResultFact]]] = {}
        for account, results in self.facts.results.items():
            by_key: dict[Key, list[ResultFact]] = defaultdict(list)
            for result in sorted(results, key=lambda r: r.posted):
                by_key[(result.change, result.patch_set)].append(result)
            index[account] = dict(by_key)
        return index

    def prepare(self) -> None:
        """Build the indexes every grid and CI page needs now, not on a visitor's request."""
        _ = self.results_by_key, self.excluded_by_default, self.patch_sets

    def rules(self, account: str) -> CiRules:
        if account not in self._rules:
            ci = self.judge.registry.ci_by_account(account)
            self._rules[account] = self.judge.rules_for(
                ci, account, self.facts, self.excluded_by_default
            )
        return self._rules[account]

    def started(self, account: str) -> date:
        return self.rules(account).started

    def branch_created(self, branch: str) -> datetime | None:
        """When ``branch`` was created: the registry's date if it has one (as the judge does),
        else the first change seen on it."""
        day = self.registry.branch_created.get(branch)
        if day is not None:
            return datetime.combine(day, time(), tzinfo=UTC)
        return self.facts.branch_created.get(branch)

    def change_url(self, change: int, patch_set: int | None = None) -> str:
        url = f"{self.gerrit_url.rstrip('/')}/c/{self.project}/+/{change}"
        return f"{url}/{patch_set}" if patch_set else url


def not_expected_reason(
    ci: CISystem | None,
    started: date,
    branch: str,
    created: datetime,
    files: tuple[str, ...],
    branch_created: datetime | None,
    policy: Policy,
) -> str | None:
    """Why a CI is not expected to test a patch set (None when it is): the judge's rules."""
    if created.date() < started:
        return f"created before the CI started ({started:%Y-%m-%d})"
    ci_started = ci.started if ci else started
    if not policy.branch_required(branch, branch_created, ci_started):
        return f"branch {branch} is not required for this CI"
    if policy.is_excluded(files):
        return "only files the policy excludes (docs, release notes, ...)"
    if ci and ci.exclusion_patterns and policy.is_excluded(files, ci.exclusion_patterns):
        return "only files covered by an approved exclusion"
    return None


def parse_until(value: str | None) -> datetime | None:
    """``YYYY-MM-DD`` (UTC, the window ends at the start of that day) or None."""
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
    except ValueError:
        raise ConfigError(f"until {value!r}: expected a date like 2026-03-01") from None


class DashboardData:
    """The dashboard's shared state: store, registry, policy and the analysis cache."""

    #: Without --until the window follows the clock, rounded so that the cache still helps.
    NOW_RESOLUTION = timedelta(minutes=1)
    CACHE_ENTRIES = 8
    MAX_WINDOW_DAYS = 400

    def __init__(self, config: WebConfig) -> None:
        self.config = config
        self.registry = config.registry
        self.registry_version = 0
        self._cache: OrderedDict[tuple[object, ...], Analysis] = OrderedDict()
        self._lock = threading.Lock()
        self.admin_lock = threading.Lock()

    @property
    def store(self) -> Store:
        return self.config.store

    @property
    def policy(self) -> Policy:
        return self.config.policy

    def replace_registry(self, registry: Registry) -> None:
        """Use ``registry`` from now on (after an admin write); cached reports are dropped."""
        with self._lock:
            self.registry = registry
            self.registry_version += 1
            self._cache.clear()

    def now(self) -> datetime:
        if self.config.until is not None:
            return self.config.until
        moment = datetime.now(UTC)
        step = self.NOW_RESOLUTION.total_seconds()
        return datetime.fromtimestamp(moment.timestamp() // step * step, UTC)

    def window(self, days: int | None = None, until: str | None = None) -> Window:
        length = days or self.config.window_days or self.policy.window_days
        if not 1 <= length <= self.MAX_WINDOW_DAYS:
            raise ConfigError(f"days {length}: choose 1 to {self.MAX_WINDOW_DAYS}")
        end = parse_until(until) or self.now()
        return Window(end - timedelta(days=length), end)

    def projects(self) -> list[str]:
        with self.store.transaction() as session:
            found = set(session.scalars(select(Change.project).distinct()))
        found.add(self.registry.project)
        found.discard(self.registry.sandbox_project or "")
        return sorted(found)

    def store_stamp(self) -> StoreStamp:
        """Cheap indexed look-ups that change whenever a collector or prober writes."""
        with self.store.transaction() as session:
            row = session.execute(
                select(
                    select(func.max(ReviewMessage.id)).scalar_subquery(),
                    select(func.max(PatchSet.id)).scalar_subquery(),
                    select(func.max(Change.updated)).scalar_subquery(),
                    select(func.max(ArtifactProbe.id)).scalar_subquery(),
                )
            ).one()
        return tuple(row)

    def analysis(
        self, project: str | None = None, days: int | None = None, until: str | None = None
    ) -> Analysis:
        window = self.window(days, until)
        project = project or self.registry.project
        key = (project, window.start, window.end, self.store_stamp(), self.registry_version)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
            # The judge rates CIs as seen at the window's end (as `driverci audit report`).
            built = self._build(project, window, window.end)
            self._cache[key] = built
            while len(self._cache) > self.CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return built

    def _build(self, project: str, window: Window, now: datetime) -> Analysis:
        registry = self.registry
        if project != registry.project:
            registry = registry.model_copy(update={"project": project})
        judge = Judge(self.store, registry, self.policy, now)
        # The judge's facts reach back further (voting looks back): the pages show the window.
        report, judged_facts = judge.report_and_facts(window)
        facts = judged_facts.created_since(window.start)
        log.info(
            "analysed %s %s..%s: %d CIs, %d patch sets",
            project,
            window.start.date(),
            window.end.date(),
            len(report.systems),
            len(facts.patch_sets),
        )
        analysis = Analysis(project, window, now, report, facts, judge, self.config.gerrit_url)
        analysis.prepare()
        return analysis
