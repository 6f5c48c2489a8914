"""The S3 log backend: upload a run's files to ``s3://bucket/prefix`` and purge old runs.

Works with AWS and S3-compatible stores (Ceph RGW, MinIO, ...) through ``logs.s3_endpoint``.
Credentials come from ``logs.s3_credentials_file`` (INI, read by the CI's process only and
never given to jobs) or else boto3's usual chain of the CI's own process. Objects carry the
content type the built-in log server would send (``.gz`` as the inner type with
``Content-Encoding: gzip``) so a browser shows them inline; readers use ``logs.url``.
boto3 is optional: it is imported only here, when S3 is configured.
"""

from __future__ import annotations

import configparser
import importlib
import importlib.util
import logging
import mimetypes
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from driverci.ci.config import LogsConfig
from driverci.errors import ConfigError, DriverCIError

log = logging.getLogger(__name__)

# Same as the built-in log server's: these are shown as text, not downloaded.
TEXT_SUFFIXES = frozenset({".txt", ".log", ".conf", ".ini", ".cfg", ".yaml", ".yml", ".subunit"})
RUN_DEPTH = 6  # NN/change/ps/pipeline/job/uuid under the prefix
DELETE_BATCH = 1000  # the most keys one DeleteObjects request accepts


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # without leading or trailing "/"; may be empty

    @classmethod
    def parse(cls, url: str) -> S3Location:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ConfigError(f"logs.s3 must look like s3://bucket/prefix (got {url!r})")
        return cls(parts.netloc, parts.path.strip("/"))

    def key(self, *parts: str) -> str:
        return "/".join(p.strip("/") for p in (self.prefix, *parts) if p.strip("/"))


def check_s3_backend(logs: LogsConfig) -> None:
    """Fail at startup when S3 cannot work here: no boto3, bad URL, unreadable credentials."""
    assert logs.s3 is not None
    if importlib.util.find_spec("boto3") is None:
        raise ConfigError("logs.s3 needs the boto3 package (pip install 'driverci[s3]')")
    S3Location.parse(logs.s3)
    read_s3_credentials(logs.s3_credentials_file)


def read_s3_credentials(path: Path | None) -> tuple[str, str] | None:
    """(access key id, secret key) from an INI file: its [default] section, else its only one."""
    if path is None:
        return None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with path.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the S3 credentials ({exc.strerror})") from None
    except configparser.Error as exc:
        raise ConfigError(f"{path}: not an INI file ({exc.message.splitlines()[0]})") from None
    sections = parser.sections()
    name = "default" if "default" in sections else (sections[0] if len(sections) == 1 else None)
    if name is None:
        raise ConfigError(f"{path}: needs a [default] section (found {', '.join(sections)})")
    section = parser[name]
    key_id = section.get("aws_access_key_id", "").strip()
    secret = section.get("aws_secret_access_key", "").strip()
    if not key_id or not secret:
        raise ConfigError(f"{path}: [{name}] needs aws_access_key_id and aws_secret_access_key")
    return key_id, secret


def s3_client(logs: LogsConfig) -> Any:
    """A boto3 S3 client for ``logs`` (typed Any: boto3 ships no type hints)."""
    boto3 = importlib.import_module("boto3")
    botocore_config = importlib.import_module("botocore.config")
    options: dict[str, Any] = {}
    if logs.s3_endpoint is not None:
        options["endpoint_url"] = logs.s3_endpoint
        # S3-compatible stores rarely have wildcard DNS for bucket.host: use path style.
        options["config"] = botocore_config.Config(s3={"addressing_style": "path"})
    credentials = read_s3_credentials(logs.s3_credentials_file)
    if credentials is not None:
        options["aws_access_key_id"], options["aws_secret_access_key"] = credentials
    return boto3.session.Session().client("s3", **options)


def object_headers(name: str) -> dict[str, str]:
    """put_object arguments so a browser shows ``name`` inline, as the log server serves it."""
    headers: dict[str, str] = {}
    if name.endswith(".gz") and len(name) > 3:
        headers["ContentEncoding"] = "gzip"
        name = name[:-3]
    suffix = Path(name).suffix.lower()
    if suffix in TEXT_SUFFIXES or suffix == "":
        headers["ContentType"] = "text/plain; charset=utf-8"
        return headers
    guessed, _ = mimetypes.guess_type(name)
    if guessed is None:
        headers["ContentType"] = "application/octet-stream"
    else:
        headers["ContentType"] = guessed + (
            "; charset=utf-8" if guessed.startswith("text/") else ""
        )
    return headers


def upload_run(logs: LogsConfig, log_path: str, files: list[tuple[str, bytes]]) -> None:
    """Put every (relative path, content) under ``<prefix>/<log_path>/``."""
    assert logs.s3 is not None
    location = S3Location.parse(logs.s3)
    client = s3_client(logs)
    for relative, data in files:
        key = location.key(log_path, relative)
        with _s3_errors(location, key):
            client.put_object(
                Bucket=location.bucket, Key=key, Body=data, **object_headers(relative)
            )
    log.info(
        "published %d files to s3://%s/%s", len(files), location.bucket, location.key(log_path)
    )


@contextmanager
def _s3_errors(location: S3Location, key: str) -> Iterator[None]:
    """boto3's errors as one line naming the object (and the endpoint's answer)."""
    exceptions = importlib.import_module("botocore.exceptions")
    try:
        yield
    except (exceptions.BotoCoreError, exceptions.ClientError) as exc:
        raise DriverCIError(f"s3://{location.bucket}/{key}: {exc}") from None


def purge_s3(logs: LogsConfig, now: datetime | None = None) -> int:
    """Delete the runs whose newest object is older than ``retention_days``; return how many.

    A run is the set of keys sharing ``<prefix>/NN/change/ps/pipeline/job/uuid/``; keys less
    deep than that are never touched. Its age is its newest object's LastModified (written
    when the run was published, i.e. when it finished).
    """
    assert logs.s3 is not None
    location = S3Location.parse(logs.s3)
    client = s3_client(logs)
    cutoff = (now or datetime.now(UTC)) - timedelta(days=logs.retention_days)
    runs: dict[str, list[str]] = {}
    newest: dict[str, datetime] = {}
    listing_prefix = location.prefix + "/" if location.prefix else ""
    paginator = client.get_paginator("list_objects_v2")
    with _s3_errors(location, listing_prefix):
        for page in paginator.paginate(Bucket=location.bucket, Prefix=listing_prefix):
            for entry in page.get("Contents", []):
                key: str = entry["Key"]
                parts = key[len(listing_prefix) :].split("/")
                if len(parts) <= RUN_DEPTH or "" in parts[:RUN_DEPTH]:
                    continue  # not inside a run directory
                run = "/".join(parts[:RUN_DEPTH])
                runs.setdefault(run, []).append(key)
                modified: datetime = entry["LastModified"]
                newest[run] = max(newest.get(run, modified), modified)
    removed = 0
    for run, keys in sorted(runs.items()):
        if newest[run] >= cutoff:
            continue
        for start in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": key} for key in keys[start : start + DELETE_BATCH]]
            with _s3_errors(location, location.key(run)):
                answer = client.delete_objects(
                    Bucket=location.bucket, Delete={"Objects": batch, "Quiet": True}
                )
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise DriverCIError(
                    f"s3://{location.bucket}/{first.get('Key')}: cannot delete "
                    f"({first.get('Code')}: {first.get('Message')})"
                )
        removed += 1
        log.info(
            "purged s3://%s/%s (older than %d days)",
            location.bucket,
            location.key(run),
            logs.retention_days,
        )
    return removed
