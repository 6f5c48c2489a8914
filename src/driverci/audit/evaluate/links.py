"""The judge's facts about result links: every stored probe, and for CIs whose links were not
probed, whether they post any link at all (so "posts no links" is told from "not probed")."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from driverci.audit.evaluate.columns import project_results, utc_column
from driverci.audit.evaluate.facts import ProbeFact, ResultFact
from driverci.store.models import ArtifactProbe, Change, ReviewMessage


def load_probes(session: Session, project: str, until: datetime) -> dict[str, list[ProbeFact]]:
    """Each stored probe by CI, with the result comment it probed (joined by ``message_pk``),
    in probing order."""
    posted_column, to_utc = utc_column(session, ReviewMessage.date)
    rows = session.execute(
        select(
            ArtifactProbe,
            ReviewMessage.ci_account,
            Change.number,
            ReviewMessage.patch_set_number,
            posted_column,
        )
        .join(ReviewMessage, ReviewMessage.id == ArtifactProbe.message_pk)
        .join(Change, Change.id == ReviewMessage.change_pk)
        .where(*project_results(project, until))
        .order_by(ArtifactProbe.checked_at, ArtifactProbe.id)
    )
    probes: dict[str, list[ProbeFact]] = defaultdict(list)
    for probe, account, number, patch_set, raw_posted in rows:
        probes[account].append(
            ProbeFact(
                probe.url,
                probe.checked_at,
                to_utc(raw_posted),
                probe.available,
                probe.standard,
                number,
                patch_set,
                probe.manifest_revision,
                probe.manifest_driver,
                tuple(json.loads(probe.missing_json or "[]")),
                account,
            )
        )
    return probes


def load_links_posted(
    session: Session,
    project: str,
    since: datetime,
    until: datetime,
    results: Mapping[str, Sequence[ResultFact]],
    probes: Mapping[str, Sequence[ProbeFact]],
) -> dict[str, bool]:
    """For each CI with results in [since, until) and no probe of them: whether one of those
    results carries a result link (one that ``audit probe`` would fetch).

    Links are not in the judge's covering index, so this reads message rows: one query per
    such CI, stopping at its first link. A CI that posts links is answered at once (before
    ``audit probe`` runs, every CI is asked); only a CI posting none is read through.
    """
    probed = {
        account
        for account, items in probes.items()
        if any(since <= probe.posted < until for probe in items)
    }
    found: dict[str, bool] = {}
    for account, items in results.items():
        if account in probed or not any(since <= r.posted < until for r in items):
            continue
        link = session.execute(
            select(ReviewMessage.id)
            .join(Change, Change.id == ReviewMessage.change_pk)
            .where(
                Change.project == project,
                ReviewMessage.parse_status == "result",  # the comments audit probe reads
                ReviewMessage.date >= since,
                ReviewMessage.date < until,
                ReviewMessage.ci_account == account,
                ReviewMessage.patch_set_number.is_not(None),
                ReviewMessage.job_urls.is_not(None),
            )
            .limit(1)
        ).first()
        found[account] = link is not None
    return found
