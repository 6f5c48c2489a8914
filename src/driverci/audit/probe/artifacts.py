"""Probe the result links of CI comments and record what was found, with the time, so that
availability, the standard format and retention (link rot) can be judged and plotted."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import func, select

from driverci.audit.evaluate.facts import first_link
from driverci.audit.probe.fetch import ArtifactProber, ProbeLimits, ProbeResult
from driverci.store.db import Store
from driverci.store.models import ArtifactProbe, Change, ReviewMessage

log = logging.getLogger(__name__)


class ProbeTarget(NamedTuple):
    """A link to probe and the result comment that posted it (``review_messages.id``)."""

    url: str
    message_pk: int


class ArtifactSurvey:
    """Probes one link per CI result comment, skipping links probed recently."""

    CONCURRENCY = 8
    REPROBE_AFTER = timedelta(hours=20)

    def __init__(self, store: Store, limits: ProbeLimits, now: datetime | None = None) -> None:
        self.store = store
        self.limits = limits
        self.now = now or datetime.now(UTC)

    def links_to_probe(
        self, project: str, since: datetime, until: datetime, skip_accounts: Iterable[str] = ()
    ) -> list[ProbeTarget]:
        """One link per result comment in the window, except the reference (upstream) CIs',
        in link order; a link posted by several comments is probed once, for the last."""
        with self.store.transaction() as session:
            rows = session.execute(
                select(ReviewMessage.id, ReviewMessage.job_urls)
                .join(Change, Change.id == ReviewMessage.change_pk)
                .where(
                    Change.project == project,
                    ReviewMessage.parse_status == "result",
                    ReviewMessage.date >= since,
                    ReviewMessage.date < until,
                    ReviewMessage.ci_account.not_in(list(skip_accounts)),
                )
                .order_by(ReviewMessage.date, ReviewMessage.id)
            ).all()
            # Rows oldest first: a link posted again belongs to the last comment posting it.
            owner = {link: pk for pk, jobs in rows if (link := first_link(jobs))}
            links = sorted(owner)
            recent: set[str] = set()
            for start in range(0, len(links), 2000):
                chunk = links[start : start + 2000]
                recent.update(
                    url
                    for url, last in session.execute(
                        select(ArtifactProbe.url, func.max(ArtifactProbe.checked_at))
                        .where(ArtifactProbe.url.in_(chunk))
                        .group_by(ArtifactProbe.url)
                    )
                    if self.now - last < self.REPROBE_AFTER
                )
        return [ProbeTarget(url, owner[url]) for url in links if url not in recent]

    async def run(
        self, targets: Sequence[ProbeTarget], progress: Callable[[int, int], None] | None = None
    ) -> dict[str, int]:
        semaphore = asyncio.Semaphore(self.CONCURRENCY)
        done = 0
        counts = {"probed": 0, "available": 0, "standard": 0, "refused": 0}

        async def one(prober: ArtifactProber, url: str) -> ProbeResult:
            nonlocal done
            async with semaphore:
                result = await prober.probe(url, now=self.now)
            done += 1
            if progress:
                progress(done, len(targets))
            return result

        async with ArtifactProber(self.limits) as prober:
            results = await asyncio.gather(*(one(prober, target.url) for target in targets))
        with self.store.transaction() as session:
            for target, result in zip(targets, results, strict=True):
                manifest = result.manifest or {}
                session.add(
                    ArtifactProbe(
                        url=result.url,
                        message_pk=target.message_pk,
                        checked_at=result.checked_at,
                        status=result.status,
                        available=result.available,
                        browsable=result.browsable,
                        standard=result.standard,
                        missing_json=json.dumps(result.missing),
                        manifest_revision=_text(manifest.get("revision")),
                        manifest_driver=_text(manifest.get("driver")),
                        error=result.error,
                    )
                )
                counts["probed"] += 1
                counts["available"] += result.available
                counts["standard"] += result.standard
                counts["refused"] += bool(result.error and "non-public" in result.error)
        return counts


def _text(value: object) -> str | None:
    return str(value)[:255] if isinstance(value, str | int) and value != "" else None
