"""Log retention: infra asks that artifacts be kept one month; older runs are purged.

A run directory sits six levels under ``logs.dir`` (``NN/change/ps/pipeline/job/uuid``). Its
age is the manifest's ``finished`` time, else the directory's mtime. Symlinks are never
followed and nothing outside ``logs.dir`` is touched; emptied parents are removed. With
``logs.s3`` the same rule applies to the bucket's runs (see :func:`driverci.ci.s3.purge_s3`).
"""

from __future__ import annotations

import json
import logging
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from driverci.ci.config import CIConfig
from driverci.ci.publish import MANIFEST

log = logging.getLogger(__name__)

RUN_DEPTH = 6


def purge(config: CIConfig, now: datetime | None = None) -> int:
    """Delete runs finished more than ``logs.retention_days`` ago; return how many."""
    root = config.logs.dir
    if root is None:
        from driverci.ci.s3 import purge_s3  # boto3 only when S3 is configured

        return purge_s3(config.logs, now)
    if not root.is_dir():
        return 0
    root = root.resolve()
    cutoff = (now or datetime.now(UTC)) - timedelta(days=config.logs.retention_days)
    removed = 0
    for run_dir in _run_dirs(root):
        if _finished(run_dir) >= cutoff:
            continue
        shutil.rmtree(run_dir)
        removed += 1
        log.info("purged %s (older than %d days)", run_dir, config.logs.retention_days)
        _remove_empty_parents(root, run_dir.parent)
    return removed


def _run_dirs(root: Path) -> list[Path]:
    level = [root]
    for _ in range(RUN_DEPTH):
        level = [
            child
            for parent in level
            for child in sorted(parent.iterdir())
            if child.is_dir() and not child.is_symlink()
        ]
    return [d for d in level if d.resolve().is_relative_to(root) and d.resolve() != root]


def _finished(run_dir: Path) -> datetime:
    manifest = run_dir / MANIFEST
    if manifest.is_file() and not manifest.is_symlink():
        try:
            finished = json.loads(manifest.read_text(encoding="utf-8")).get("finished")
            if isinstance(finished, str):
                parsed = datetime.fromisoformat(finished)
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except (OSError, ValueError, AttributeError):
            log.warning("%s: unreadable manifest, using the directory's mtime", manifest)
    return datetime.fromtimestamp(run_dir.stat().st_mtime, UTC)


def _remove_empty_parents(root: Path, directory: Path) -> None:
    while directory != root and directory.is_relative_to(root):
        try:
            directory.rmdir()
        except OSError:
            return  # not empty
        directory = directory.parent
