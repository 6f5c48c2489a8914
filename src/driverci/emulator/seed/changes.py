"""Planning the changes of a seeded project: who uploads what, when, touching which files.

Pure planning with a seeded :class:`random.Random`, no I/O: the plan is later written as git
history (:mod:`driverci.emulator.seed.history`) and as emulator operations
(:mod:`driverci.emulator.seed.seeder`). Upstream Zuul's verdicts are planned here too, because they
decide when (and whether) a change can merge.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from driverci.emulator.seed.ironic_tree import DRIVER_MODULES, is_irrelevant
from driverci.emulator.seed.scenario import Latency, Scenario
from driverci.emulator.state.model import FileChange, change_ref

HOUR = timedelta(hours=1)
_Z95 = 1.6448536269514722  # standard normal quantile of 0.95

_FIRST_NAMES = (
    "Julia", "Dmitry", "Riccardo", "Jay", "Iury", "Steve", "Aija", "Harald", "Verónica",
    "Kaifeng", "Adam", "Doug", "Masahiro", "Clif", "Cid", "Afonso", "Mahnoor", "Ruby",
)  # fmt: skip
_LAST_NAMES = (
    "Kreger", "Tantsur", "Pittau", "Faulkner", "Pina", "Baker", "Jankowska", "Jensen",
    "Gomez", "Wang", "McArthur", "Smith", "Kojima", "Houle", "da Silva", "Ribeiro", "Amir",
    "Osei",
)  # fmt: skip
_SUBJECTS = (
    "Fix {module} error handling in the {thing}",
    "Add a timeout to {module} in the {thing}",
    "Refactor {module} of the {thing}",
    "Log more details in {thing} {module}",
    "Clean up {thing} {module}",
    "Support newer firmware in {thing} {module}",
    "Remove deprecated options from {thing} {module}",
    "Handle missing fields in {thing} {module}",
)
_DOC_VERBS = ("Update", "Fix typo in", "Clarify", "Document", "Reword")


def lognormal_hours(rng: random.Random, latency: Latency) -> timedelta:
    """A delay drawn from the log-normal with ``latency``'s median and 95th percentile."""
    mu = math.log(latency.median)
    sigma = (math.log(latency.p95) - mu) / _Z95
    return timedelta(hours=rng.lognormvariate(mu, sigma)) if sigma > 0 else latency.median * HOUR


def poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method for small means, a rounded normal for large ones."""
    if mean > 60:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


@dataclass(frozen=True)
class Person:
    username: str
    name: str

    @property
    def email(self) -> str:
        return f"{self.username}@example.org"


@dataclass(frozen=True)
class People:
    developers: list[Person]
    cores: list[Person]

    @classmethod
    def for_scenario(cls, scenario: Scenario) -> People:
        people: list[Person] = []
        for index in range(scenario.developers):
            first = _FIRST_NAMES[index % len(_FIRST_NAMES)]
            last = _LAST_NAMES[(index * 7) % len(_LAST_NAMES)]
            suffix = "" if index < len(_FIRST_NAMES) else str(index // len(_FIRST_NAMES))
            username = (first[0] + last).lower().replace(" ", "").replace("ó", "o") + suffix
            people.append(Person(username, f"{first} {last}"))
        return cls(developers=people, cores=people[: max(1, len(people) // 4)])


@dataclass
class UpstreamRun:
    """One report of upstream Zuul's check pipeline."""

    at: datetime
    passed: bool
    broken: bool = False  # could not even install/import: every job failed fast


@dataclass
class PlannedPatchSet:
    number: int
    created: datetime
    uploader: str
    edits: dict[str, bytes]  # path -> appended text, or the whole content of an added file
    added: frozenset[str]
    upstream: UpstreamRun | None = None
    boundary: datetime | None = None  # until then it is the current patch set of an open change
    # Filled in by the git writer.
    mark: int = 0
    parent_mark: int = 0
    revision: str = ""
    parent_revision: str = ""
    contents: dict[str, bytes] = field(default_factory=dict)
    file_changes: list[FileChange] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        return sorted(self.edits)


@dataclass
class PlannedChange:
    project: str
    branch: str
    change_id: str
    subject: str
    owner: str
    docs_only: bool
    patch_sets: list[PlannedPatchSet]
    fate: str = "open"  # merged, abandoned or open
    closed_at: datetime | None = None
    core: str | None = None
    review_at: datetime | None = None
    for_ci: str | None = None  # sandbox changes: the CI account that tested it
    number: int = 0
    merge_mark: int = 0
    merged_revision: str = ""

    @property
    def created(self) -> datetime:
        return self.patch_sets[0].created

    def ref(self, patch_set: PlannedPatchSet) -> str:
        return change_ref(self.number, patch_set.number)

    @property
    def commit_message(self) -> str:
        body = f"{self.subject}.\n\nThis change was written by the driverci seeder."
        return f"{self.subject}\n\n{body}\n\nChange-Id: {self.change_id}\n"


class FilePools:
    """The tree's files grouped the way changes touch them."""

    def __init__(self, tree: dict[str, bytes]) -> None:
        paths = sorted(tree)
        self.driver_files: dict[str, list[str]] = {}
        for driver, (package, modules) in DRIVER_MODULES.items():
            where = "ironic/drivers/modules" + (f"/{package}" if package else "")
            self.driver_files[driver] = [f"{where}/{m}.py" for m in modules]
        self.areas: dict[str, list[str]] = {
            area: [p for p in paths if p.startswith(prefix) and p.endswith(".py")]
            for area, prefix in (
                ("conductor", "ironic/conductor/"),
                ("api", "ironic/api/"),
                ("common", "ironic/common/"),
                ("conf", "ironic/conf/"),
                ("db", "ironic/db/"),
            )
        }
        self.docs = [p for p in paths if p.startswith("doc/source/") and p.endswith(".rst")]
        self.tests = [p for p in paths if p.startswith("ironic/tests/") and "/test_" in p]
        self.api_ref = [p for p in paths if p.startswith("api-ref/")]
        self.tooling = ["tox.ini", "tools/check-releasenotes.py", "tools/run_bandit.sh"]
        self.tree = tree

    def test_for(self, path: str) -> str | None:
        directory, _, name = path.rpartition("/")
        candidate = directory.replace("ironic/", "ironic/tests/unit/", 1) + f"/test_{name}"
        return candidate if candidate in self.tree else None


class ChangePlanner:
    """Draws the changes of the scenario's project, day by day."""

    WEEKDAY_FACTOR = (1.2, 1.2, 1.2, 1.2, 1.2, 0.5, 0.5)  # mean 1.0 over a week
    PATCH_SET_GAP = Latency(median=18.0, p95=72.0)
    MIN_PATCH_SET_GAP = 2 * HOUR
    REVIEW_DELAY = Latency(median=10.0, p95=48.0)
    GATE_DELAY = Latency(median=1.5, p95=3.0)
    BROKEN_SHARE = 0.3  # upstream failures where nothing even installs
    MAX_PATCH_SETS = 15
    DRIVER_WEIGHTS = {
        "redfish": 30, "idrac": 14, "ilo": 10, "irmc": 8, "ipmi": 16, "intel-ipmi": 4,
        "snmp": 4, "fake-hardware": 4,
    }  # fmt: skip

    def __init__(self, scenario: Scenario, people: People, pools: FilePools) -> None:
        self.scenario = scenario
        self.people = people
        self.pools = pools
        self.rng = random.Random(f"{scenario.seed}:changes")

    def plan(self) -> list[PlannedChange]:
        changes: list[PlannedChange] = []
        branches = list(self.scenario.branches)
        weights = list(self.scenario.branches.values())
        for day in range(self.scenario.days):
            day_start = self.scenario.start + timedelta(days=day)
            mean = self.scenario.changes_per_day * self.WEEKDAY_FACTOR[day_start.weekday()]
            for _ in range(poisson(self.rng, mean)):
                created = day_start + timedelta(seconds=self.rng.uniform(0, 86400))
                branch = self.rng.choices(branches, weights)[0]
                changes.append(self._plan_change(created, branch))
        return changes

    def _geometric(self, mean: float) -> int:
        if mean <= 1.0:
            return 1
        p = 1.0 / mean
        drawn = 1 + int(math.log(1.0 - self.rng.random()) / math.log(1.0 - p))
        return min(drawn, self.MAX_PATCH_SETS)

    def _plan_change(self, created: datetime, branch: str) -> PlannedChange:
        rng, end = self.rng, self.scenario.end
        owner = rng.choice(self.people.developers)
        docs_only = rng.random() < self.scenario.docs_only_share
        subject, paths, added = self._pick_files(docs_only)
        change = PlannedChange(
            project=self.scenario.project,
            branch=branch,
            change_id=f"I{rng.getrandbits(160):040x}",
            subject=subject,
            owner=owner.username,
            docs_only=docs_only,
            patch_sets=[],
        )
        at = created
        for number in range(1, self._geometric(self.scenario.patchsets_per_change) + 1):
            if number > 1:
                at += max(self.MIN_PATCH_SET_GAP, lognormal_hours(rng, self.PATCH_SET_GAP))
            if at > end:
                break
            edits = {p: self._edit(p, p in added, change, number) for p in paths}
            change.patch_sets.append(
                PlannedPatchSet(number, at, owner.username, edits, frozenset(added))
            )
        self._plan_upstream_and_fate(change)
        return change

    def _plan_upstream_and_fate(self, change: PlannedChange) -> None:
        rng, scenario, end = self.rng, self.scenario, self.scenario.end
        roll = rng.random()
        fate = "merged" if roll < scenario.merge_share else "open"
        if fate == "open" and roll < scenario.merge_share + scenario.abandon_share:
            fate = "abandoned"
        sets = change.patch_sets
        for index, ps in enumerate(sets):
            ps.boundary = sets[index + 1].created if index + 1 < len(sets) else end
            delay = lognormal_hours(rng, scenario.upstream.latency_hours)
            delay = max(timedelta(minutes=10), min(delay, (ps.boundary - ps.created) * 0.8))
            last_of_merge = fate == "merged" and index == len(sets) - 1
            passed = last_of_merge or rng.random() >= scenario.upstream.failure_rate
            broken = not passed and rng.random() < self.BROKEN_SHARE
            if ps.created + delay <= end:
                ps.upstream = UpstreamRun(ps.created + delay, passed, broken)
        last = sets[-1]
        if fate == "merged" and last.upstream is not None:
            review_at = last.upstream.at + lognormal_hours(rng, self.REVIEW_DELAY)
            closed_at = review_at + lognormal_hours(rng, self.GATE_DELAY)
            if closed_at <= end:
                change.fate, change.review_at, change.closed_at = "merged", review_at, closed_at
                change.core = rng.choice(self.people.cores).username
        elif fate == "abandoned":
            closed_at = last.created + timedelta(days=rng.uniform(1, 10))
            if last.upstream is not None:
                closed_at = max(closed_at, last.upstream.at + HOUR)
            if closed_at <= end:
                change.fate, change.closed_at = "abandoned", closed_at
        if change.closed_at is not None:
            last.boundary = change.review_at or change.closed_at

    def _pick_files(self, docs_only: bool) -> tuple[str, list[str], set[str]]:
        rng, pools = self.rng, self.pools
        if docs_only:
            kind = rng.choices(["doc", "note", "tests", "api-ref", "tooling"], [35, 20, 30, 10, 5])
            if kind[0] == "doc":
                paths = rng.sample(pools.docs, rng.randint(1, 3))
                page = paths[0].rsplit("/", 1)[-1].removesuffix(".rst")
                return f"{rng.choice(_DOC_VERBS)} {page} documentation", paths, set()
            if kind[0] == "note":
                note = self._release_note_path("missing-note")
                return "Add missing release note", [note], {note}
            if kind[0] == "tests":
                paths = rng.sample(pools.tests, rng.randint(1, 2))
                module = paths[0].rsplit("/", 1)[-1].removeprefix("test_").removesuffix(".py")
                return f"Add unit tests for {module}", paths, set()
            if kind[0] == "api-ref":
                return "Fix api-ref for nodes", list(pools.api_ref), set()
            return "Update tox and tooling", [rng.choice(pools.tooling)], set()
        area = rng.choices(["driver", "conductor", "api", "common"], [50, 20, 15, 15])[0]
        if area == "driver":
            drivers = list(self.DRIVER_WEIGHTS)
            driver = rng.choices(drivers, [self.DRIVER_WEIGHTS[d] for d in drivers])[0]
            candidates = pools.driver_files[driver]
            thing = f"{driver} driver"
        elif area == "common":
            group = rng.choice(["common", "conf", "db"])
            candidates, thing = pools.areas[group], f"ironic {group}"
        else:
            candidates, thing = pools.areas[area], area
        code = rng.sample(candidates, min(len(candidates), rng.randint(1, 2)))
        code = [p for p in code if not p.endswith("__init__.py")] or [candidates[-1]]
        paths = list(code)
        for path in code:
            test = pools.test_for(path)
            if test is not None and rng.random() < 0.7:
                paths.append(test)
        added: set[str] = set()
        if rng.random() < 0.4:
            note = self._release_note_path(thing.replace(" ", "-"))
            paths.append(note)
            added.add(note)
        module = code[0].rsplit("/", 1)[-1].removesuffix(".py").replace("_", " ")
        return rng.choice(_SUBJECTS).format(module=module, thing=thing), paths, added

    def _release_note_path(self, slug: str) -> str:
        return f"releasenotes/notes/{slug}-{self.rng.getrandbits(64):016x}.yaml"

    def _edit(self, path: str, added: bool, change: PlannedChange, number: int) -> bytes:
        if added:
            return (f"---\nfixes:\n  - |\n    {change.subject} (patch set {number}).\n").encode()
        lines = self.rng.randint(1, 8)
        if path.endswith((".rst", ".inc")):
            text = "".join(
                f"\n{change.subject}, note {i} (patch set {number}).\n" for i in range(lines)
            )
        else:
            text = "".join(
                f"# {change.subject}: step {i} (patch set {number}).\n" for i in range(lines)
            )
        return text.encode()


def plan_sandbox_changes(scenario: Scenario, people: People) -> list[PlannedChange]:
    """Test changes on the sandbox project, one set per CI with ``sandbox: true``."""
    rng = random.Random(f"{scenario.seed}:sandbox")
    changes: list[PlannedChange] = []
    for ci in scenario.cis:
        if not ci.sandbox:
            continue
        if ci.sandbox_only:
            first, last = ci.started, ci.stops_at or scenario.end
            count = max(2, int((last - first).days // 4))
        else:
            first, last, count = ci.started - timedelta(days=14), ci.started, 3
        for index in range(count):
            at = first + (last - first) * ((index + rng.random()) / count)
            if at > scenario.end:
                continue
            owner = rng.choice(people.developers)
            edits = {"sandbox.txt": f"Testing {ci.name}, run {index + 1}.\n".encode()}
            ps = PlannedPatchSet(1, at, owner.username, edits, frozenset())
            ps.boundary = min(at + timedelta(days=2), scenario.end)
            changes.append(
                PlannedChange(
                    project=scenario.sandbox_project,
                    branch="master",
                    change_id=f"I{rng.getrandbits(160):040x}",
                    subject=f"Test {ci.account} third-party CI",
                    owner=owner.username,
                    docs_only=False,
                    patch_sets=[ps],
                    for_ci=ci.account,
                )
            )
    return changes


def is_docs_only(paths: list[str]) -> bool:
    """True when every file is one the default exclusion rule ignores."""
    return all(is_irrelevant(p) for p in paths)
