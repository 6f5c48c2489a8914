"""The scenario file of ``driverci emulator seed``: what past to write into an emulated Gerrit.

A scenario describes a project's activity (changes per day, patch sets, branches, how many
merge) and the third-party CI systems commenting on it, each with its behaviour (how often
it reports, how late, in which format, how long its logs live, how accurate it is).
docs/scenario-format.md documents every field; errors name ``file:line``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from driverci.errors import ConfigError
from driverci.yamlload import Locator, format_validation_error, make_locator, read_text


def _to_datetime(value: Any) -> Any:
    """Accept YAML dates, datetimes and ISO 8601 text; naive values are UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f"invalid date {value!r}: expected ISO 8601 such as 2026-01-05 or "
                "2026-01-05T00:00:00Z"
            ) from None
    else:
        return value  # pydantic reports the type error
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _positive_when_set(value: float | None) -> float | None:
    if value is not None and value < 0:
        raise ValueError("must not be negative")
    return value


UtcDateTime = Annotated[datetime, BeforeValidator(_to_datetime)]
Share = Annotated[float, Field(ge=0.0, le=1.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Latency(_Strict):
    """Hours from patch set upload to the CI's comment: a log-normal with this median and p95."""

    median: float = Field(gt=0)
    p95: float = Field(gt=0)

    @model_validator(mode="after")
    def _p95_not_below_median(self) -> Latency:
        if self.p95 < self.median:
            raise ValueError(f"p95 ({self.p95}) must not be below median ({self.median})")
        return self


class Artifacts(_Strict):
    """How a CI publishes its logs."""

    available: Share = 1.0  # share of result links that work at all
    dead_after_days: Annotated[float | None, AfterValidator(_positive_when_set)] = None
    standard: bool = True  # command trace, UTC timestamps, testr_results, subunit, service logs
    archive_only: bool = False  # non-standard: only a download-only .tar.gz


class UpstreamSpec(_Strict):
    """The project's own gating CI (OpenDev's Zuul), the only account allowed to vote Verified."""

    account: str = "zuul"
    name: str = "Zuul"
    failure_rate: Share = 0.15
    latency_hours: Latency = Latency(median=1.2, p95=2.5)
    http_password: str | None = None


class CISpec(_Strict):
    """One third-party CI system and its behaviour."""

    account: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    name: str = Field(min_length=1)
    started: UtcDateTime
    report_rate: Share = 1.0
    latency_hours: Latency = Latency(median=1.5, p95=3.0)
    format: Literal["zuul", "infra"] = "zuul"
    artifacts: Artifacts = Artifacts()
    false_failure_rate: Share = 0.0
    failure_detection_rate: Share = 0.95  # FAILURE when upstream failed (accuracy)
    tests_revision: bool = True
    stops_at: UtcDateTime | None = None
    sandbox: bool = False
    sandbox_only: bool = False
    driver: str = "ipmi"
    jobs: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]+$")]] | None = None
    http_password: str | None = None
    email: str | None = None
    wiki: str | None = None
    behaviour: str = ""  # free text carried into scenario-truth.json

    @model_validator(mode="after")
    def _consistent(self) -> CISpec:
        if self.sandbox_only and not self.sandbox:
            raise ValueError("sandbox_only needs sandbox: true")
        if self.stops_at is not None and self.stops_at <= self.started:
            raise ValueError("stops_at must be after started")
        if self.jobs is not None and not self.jobs:
            raise ValueError("jobs must not be empty")
        return self

    @property
    def job_names(self) -> list[str]:
        if self.jobs:
            return list(self.jobs)
        stem = self.account.lower().replace("_", "-").removesuffix("-ci")
        return [f"{stem}-tempest-{self.driver}"]

    @property
    def wiki_url(self) -> str:
        return self.wiki or (
            "https://wiki.openstack.org/wiki/ThirdPartySystems/" + self.name.replace(" ", "_")
        )


class Scenario(_Strict):
    """A whole scenario file."""

    start: UtcDateTime
    days: int = Field(gt=0, le=3660)
    seed: int = 0
    project: str = Field(
        default="openstack/ironic", pattern=r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$"
    )
    sandbox_project: str = Field(
        default="opendev/ci-sandbox", pattern=r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$"
    )
    branches: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: {"master": 1.0}
    )
    branch_created: dict[str, UtcDateTime] = Field(default_factory=dict)
    changes_per_day: float = Field(default=20.0, gt=0, le=10000)
    patchsets_per_change: float = Field(default=2.5, ge=1.0, le=50)
    docs_only_share: Share = 0.12
    merge_share: Share = 0.6
    abandon_share: Share = 0.1
    recheck_rate: Share = 0.3  # chance a human comments "recheck" after a CI failure
    first_change_number: int = Field(default=1000, ge=1)
    developers: int = Field(default=12, ge=1, le=500)
    upstream: UpstreamSpec = UpstreamSpec()
    cis: list[CISpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        if "master" not in self.branches:
            raise ValueError("branches must include master")
        for name in self.branches:
            if name != "master" and not name.startswith("stable/"):
                raise ValueError(f"branch {name!r}: only master and stable/* are supported")
        for name, created in self.branch_created.items():
            if name not in self.branches:
                raise ValueError(f"branch_created names {name!r}, which is not in branches")
            if created > self.start:
                raise ValueError(f"branch_created[{name}] must be at or before start")
        seen: set[str] = {self.upstream.account}
        for ci in self.cis:
            if ci.account in seen:
                raise ValueError(f"account {ci.account!r} appears twice")
            seen.add(ci.account)
        if self.merge_share + self.abandon_share > 1.0:
            raise ValueError("merge_share + abandon_share must not exceed 1")
        return self

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    def branch_creation(self, branch: str) -> datetime:
        """When a branch was created: from branch_created, else master long ago, stable at start."""
        if branch in self.branch_created:
            return self.branch_created[branch]
        if branch == "master":
            return self.start - timedelta(days=365)
        return self.start


class _ScenarioYamlLoader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as text, so a bad date is reported with its line."""


_ScenarioYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_scenario(text: str, source: str) -> Scenario:
    """Parse and validate scenario YAML ``text``; errors are ConfigError naming source:line."""
    loader = _ScenarioYamlLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}{line}: invalid YAML: {err.problem or err.context}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: invalid YAML: {err}") from None
    finally:
        loader.dispose()
    locate: Locator = make_locator(root)
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: a scenario must be a mapping of fields")
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(source, err, locate)) from None


def load_scenario(path: Path) -> Scenario:
    """Load a scenario file (see docs/scenario-format.md)."""
    return parse_scenario(read_text(path), str(path))


def bundled_scenario_path(name: str) -> Path:
    """Path of a scenario shipped with driverci (``example`` or ``judge-8cis``)."""
    return Path(__file__).resolve().parents[2] / "data" / "scenarios" / f"{name}.yaml"
