"""Conduct: what infra asks of every CI account's comments, beyond the spec's criteria.

Duplicate comments are counted with the other results (``measure.count_results``); the wiki
link rule needs the comments' text, which no other part of the judge reads, so its matching
is one query of its own, done by the database over the loaded window.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, not_, or_, select
from sqlalchemy.orm import Session

from driverci.audit.evaluate.columns import project_results
from driverci.store.models import Change, ReviewMessage


@dataclass(frozen=True)
class WikiLinkRule:
    """What counts as the link to a CI's wiki page that every one of its comments must carry.

    A comment has it when it contains one of ``links`` (the policy's ``comments.wiki_links``)
    or its CI's own page (``pages``: account -> the registry's ``wiki``), compared without
    case and without the URL's scheme. ``exempt`` accounts (upstream CIs) are not checked.
    """

    links: tuple[str, ...] = ()
    pages: Mapping[str, str] = field(default_factory=dict)
    exempt: frozenset[str] = frozenset()

    @staticmethod
    def page_forms(url: str) -> tuple[str, ...]:
        """A wiki URL as comments write it: no scheme, any case, spaces or underscores."""
        bare = url.strip().lower().split("://", 1)[-1].rstrip("/")
        return tuple(dict.fromkeys((bare, bare.replace(" ", "_"), bare.replace("_", " "))))


def load_unlinked(
    session: Session, project: str, since: datetime, until: datetime, rule: WikiLinkRule
) -> dict[str, frozenset[int]]:
    """Per account, its result comments in [since, until) without a wiki link (ids only), for
    ``ProjectFacts.unlinked``.

    The one query of the judge that reads message text, so the database does the matching
    and only the ids of comments at fault come back; the window (not a year) bounds it.
    """
    text = func.lower(ReviewMessage.message)
    has_link: list[ColumnElement[bool]] = [
        text.contains(link.lower(), autoescape=True) for link in rule.links
    ]
    for account, url in rule.pages.items():
        for form in WikiLinkRule.page_forms(url):
            has_link.append(
                and_(ReviewMessage.ci_account == account, text.contains(form, autoescape=True))
            )
    query = (
        select(ReviewMessage.ci_account, ReviewMessage.id)
        .join(Change, Change.id == ReviewMessage.change_pk)
        .where(*project_results(project, until), ReviewMessage.date >= since)
    )
    if has_link:
        query = query.where(not_(or_(*has_link)))
    if rule.exempt:
        query = query.where(ReviewMessage.ci_account.not_in(sorted(rule.exempt)))
    found: dict[str, set[int]] = defaultdict(set)
    for author, message_pk in session.execute(query):
        if author is not None:  # excluded by the query; the column type allows it
            found[author].add(message_pk)
    return {account: frozenset(ids) for account, ids in found.items()}
