"""``ci.yaml``: the reference CI's configuration, validated with file:line errors.

Paths in the file (secrets, logs, state) are relative to the file's own directory, so a
CI directory can be moved as a whole. Secrets are read only when needed and never passed
to jobs.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from driverci.errors import ConfigError
from driverci.yamlload import load_yaml_model


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as err:
        raise ValueError(f"invalid regular expression {value!r}: {err}") from None
    return value


class GerritConfig(_Strict):
    url: str = Field(description="Gerrit web/REST base URL, e.g. https://review.opendev.org")
    ssh: str = Field(description="host:port of Gerrit's SSH (stream-events)")
    username: str
    http_password_file: Path | None = None
    ssh_key: Path | None = None
    known_hosts: Path | None = None  # None: accept the host key on first use (rehearsal only)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("ssh")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError("must be host:port, e.g. review.opendev.org:29418")
        return value

    @property
    def ssh_host(self) -> str:
        return self.ssh.rpartition(":")[0]

    @property
    def ssh_port(self) -> int:
        return int(self.ssh.rpartition(":")[2])


class Step(_Strict):
    run: str | None = None  # a shell command
    playbook: Path | None = None  # an Ansible playbook, run through ansible-runner
    timeout: int | None = Field(None, gt=0, description="seconds; default: the job's")
    name: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        if (self.run is None) == (self.playbook is None):
            raise ValueError("a step has exactly one of run or playbook")
        return self


class JobConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    timeout: int = Field(3600, gt=0, description="seconds for the whole job")
    voting: bool = True
    label: str | None = None  # testbed label (heterogeneous hardware)
    steps: list[Step] = Field(min_length=1)
    artifacts: list[str] = Field(default_factory=list, description="globs to publish")
    output_limit_bytes: int = Field(50_000_000, gt=0)


class LogsConfig(_Strict):
    dir: Path | None = None  # local directory served by `driverci ci logs serve`
    url: str = Field(description="public base URL of the logs")
    s3: str | None = None  # s3://bucket/prefix for S3-compatible storage (alternative)
    # S3-compatible stores (Ceph RGW, MinIO, ...): their URL; None means AWS itself.
    s3_endpoint: str | None = None
    # INI file with aws_access_key_id / aws_secret_access_key, read by the CI's process
    # only (never given to jobs); None: boto3's usual chain of the CI's own process.
    s3_credentials_file: Path | None = None
    retention_days: int = Field(30, ge=30, description="infra asks one month at least")

    @model_validator(mode="after")
    def _one_backend(self) -> LogsConfig:
        if (self.dir is None) == (self.s3 is None):
            raise ValueError("logs need exactly one of dir or s3")
        if self.s3 is None and (self.s3_endpoint or self.s3_credentials_file):
            raise ValueError("s3_endpoint and s3_credentials_file only apply with s3")
        return self

    @field_validator("s3_endpoint")
    @classmethod
    def _endpoint_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value


class TestbedConfig(_Strict):
    """One machine under test (a server with a BMC), used by one job at a time."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    labels: list[str] = Field(min_length=1, description="what it offers, e.g. [idrac, redfish]")
    bmc: str | None = Field(None, description="BMC address given to the job (BMC_ADDRESS)")
    # A file of the BMC's credentials, relative to ci.yaml. Only the executor reads it, and
    # only for a job that holds this testbed; it is hidden from every job's sandbox.
    credentials: Path | None = None


class CeleryConfig(_Strict):
    """``executor: celery``: jobs go to Celery workers (``driverci ci worker``) on many hosts."""

    broker: str = Field("amqp://guest@127.0.0.1:5672//", description="RabbitMQ URL")
    # Result backend, testbed locks and cancellation flags.
    backend: str = Field("redis://127.0.0.1:6379/0", description="Redis URL")
    # Passwords kept out of ci.yaml: inserted into the URLs as user:password@.
    broker_password_file: Path | None = None
    backend_password_file: Path | None = None
    queue_prefix: str = Field("driverci", pattern=r"^[A-Za-z0-9_.\-]+$")
    lock_ttl: int = Field(
        60, ge=2, description="seconds: a dead worker's testbed lock expires after this"
    )

    @field_validator("broker")
    @classmethod
    def _amqp_url(cls, value: str) -> str:
        if not value.startswith(("amqp://", "amqps://", "pyamqp://")):
            raise ValueError("must be an amqp:// URL (RabbitMQ)")
        return value

    @field_validator("backend")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://")):
            raise ValueError("must be a redis:// URL")
        return value


class EmailConfig(_Strict):
    smtp: str = "127.0.0.1:25"
    sender: str = "driverci@localhost"
    to: list[str] = Field(default_factory=list)


class CIConfig(_Strict):
    name: str
    gerrit: GerritConfig
    project: str
    driver: str
    started: dt.date
    wiki: str
    pipeline: str = "check"
    slots: int = Field(1, ge=1, description="runs at once")
    # Declared testbeds; ``{label: n}`` is the short form for n anonymous ones per label.
    testbeds: list[TestbedConfig] = Field(default_factory=list)
    testbed_max_failures: int = Field(
        3, ge=1, description="failed jobs in a row that take a testbed out of service"
    )
    executor: Literal["local", "celery"] = "local"
    celery: CeleryConfig | None = None
    recheck: str = r"(?i)^(Patch Set \d+:)?\s*recheck\s*$"
    ignore_accounts: list[str] = Field(default_factory=list, description="bots to ignore")
    test_wip: bool = False
    vote: bool = False  # post Verified where the project allows this account to vote
    silent: bool = False  # rehearsal: results by e-mail only, nothing posted
    max_consecutive_failures: int = Field(5, ge=1)
    exclusions: list[str] = Field(default_factory=list, description="approved extra patterns")
    policy: Path | None = None  # default: the shipped Ironic policy
    reconcile_interval: int = Field(300, ge=10, description="seconds between reconciliations")
    reconcile_min_age: int = Field(
        60, ge=0, description="seconds: a younger patch set or recheck is left to the stream"
    )
    jobs: list[JobConfig] = Field(min_length=1)
    logs: LogsConfig
    state: str = "sqlite:///./ci.sqlite"
    email: EmailConfig | None = None

    _recheck_ok = field_validator("recheck")(_regex)
    #: The ci.yaml this was loaded from (hidden from jobs with the CI's other files).
    _source: Path | None = PrivateAttr(None)

    @property
    def source(self) -> Path | None:
        return self._source

    @field_validator("testbeds", mode="before")
    @classmethod
    def _short_form(cls, value: object) -> object:
        if isinstance(value, dict):  # {label: n}: n anonymous testbeds <label>-1..n
            return [
                {"name": f"{label}-{index}", "labels": [label]}
                for label, count in value.items()
                for index in range(1, int(count) + 1)
            ]
        return value

    @field_validator("exclusions")
    @classmethod
    def _patterns_ok(cls, value: list[str]) -> list[str]:
        return [_regex(v) for v in value]

    @field_validator("name")
    @classmethod
    def _ends_in_ci(cls, value: str) -> str:
        if not value.endswith(" CI"):
            raise ValueError(f"must end in ' CI' so comment parsers recognise it (got {value!r})")
        return value

    @model_validator(mode="after")
    def _unique_jobs(self) -> CIConfig:
        names = [job.name for job in self.jobs]
        if len(names) != len(set(names)):
            raise ValueError("job names must be unique")
        offered = {label for testbed in self.testbeds for label in testbed.labels}
        for job in self.jobs:
            if job.label is not None and job.label not in offered:
                raise ValueError(f"job {job.name}: no testbed has the label {job.label!r}")
        testbeds = [testbed.name for testbed in self.testbeds]
        if len(testbeds) != len(set(testbeds)):
            raise ValueError("testbed names must be unique")
        if self.executor == "celery" and self.celery is None:
            self.celery = CeleryConfig.model_validate({})
        return self

    @property
    def labels(self) -> list[str]:
        """The testbed labels the jobs ask for, in job order."""
        return list(dict.fromkeys(job.label for job in self.jobs if job.label))


def load_ci_config(path: Path) -> CIConfig:
    """Load and validate ci.yaml; relative paths become relative to the file's directory."""
    if not path.exists():
        raise ConfigError(f"{path}: no such file")
    config, _ = load_yaml_model(CIConfig, path, str(path))
    base = path.resolve().parent

    def rel(value: Path | None) -> Path | None:
        return None if value is None or value.is_absolute() else base / value

    gerrit = config.gerrit
    gerrit.http_password_file = rel(gerrit.http_password_file) or gerrit.http_password_file
    gerrit.ssh_key = rel(gerrit.ssh_key) or gerrit.ssh_key
    gerrit.known_hosts = rel(gerrit.known_hosts) or gerrit.known_hosts
    config.logs.dir = rel(config.logs.dir) or config.logs.dir
    logs = config.logs
    logs.s3_credentials_file = rel(logs.s3_credentials_file) or logs.s3_credentials_file
    config.policy = rel(config.policy) or config.policy
    for testbed in config.testbeds:
        testbed.credentials = rel(testbed.credentials) or testbed.credentials
    if config.celery is not None:
        celery = config.celery
        celery.broker_password_file = (
            rel(celery.broker_password_file) or celery.broker_password_file
        )
        celery.backend_password_file = (
            rel(celery.backend_password_file) or celery.backend_password_file
        )
    config._source = path.resolve()
    for job in config.jobs:
        for step in job.steps:
            step.playbook = rel(step.playbook) or step.playbook
    if config.state.startswith("sqlite:///./"):
        config.state = f"sqlite:///{base / config.state.removeprefix('sqlite:///./')}"
    return config


def read_secret(path: Path | None, what: str) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what} ({exc.strerror})") from None


ResultName = Literal["SUCCESS", "FAILURE", "TIMED_OUT", "MERGE_CONFLICT", "ERROR", "CANCELED"]
