"""Which registered CI wrote a message: by Gerrit username, then account id, then display name.

Gerrit 3.x payloads carry ``_account_id`` (REST) and ``username``; 2.x stream events often carry
only ``username``/``name``/``email`` and ids as strings, so every key is optional here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["CiAttributor", "CiIdentity", "attribute_author", "looks_like_ci"]

# hideci.js (system-config): CI authors are named "<anything> CI", "Jenkins" or "Zuul".
_HIDECI_NAME = re.compile(r"^(.* CI|Jenkins|Zuul)$")
# ciwatch: the name contains CI, Jenkins, Bot or Zuul; as whole words, so "Ciaran" is a person.
_CIWATCH_NAME = re.compile(r"(?:^|[\s_\-.(])(?:ci|bot)(?:$|[\s_\-.)])|jenkins|zuul", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class CiIdentity:
    """What the parser needs to know about one registered CI."""

    #: Gerrit username (the registry's ``account``).
    username: str | None
    account_id: int | None
    #: Gerrit display name ("Vendor Product CI").
    name: str | None
    #: Its own result regexes (DriverLog's, one pair per driver it tests), case-insensitive.
    success_patterns: tuple[str, ...] = ()
    failure_patterns: tuple[str, ...] = ()
    #: Names it answers to in ``recheck-<name>``, ``<name>: recheck`` and ``run-<name>``
    #: (besides its username, display name and display name without " CI").
    recheck_names: tuple[str, ...] = ()
    #: Other usernames it posts as (e.g. a separate sandbox account).
    aliases: tuple[str, ...] = ()
    #: Its own declared recheck regexes (``check hyper-v``), searched after the header.
    recheck_patterns: tuple[str, ...] = ()


def _account_id(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


class CiAttributor:
    """Index of identities for attributing many messages (dictionary look-ups, no scans)."""

    def __init__(self, identities: Sequence[CiIdentity]) -> None:
        self._by_username: dict[str, CiIdentity] = {}
        self._by_account_id: dict[int, CiIdentity] = {}
        self._by_name: dict[str, CiIdentity] = {}
        # The first identity registered for a key wins, like a linear search would.
        for identity in identities:
            for username in (identity.username, *identity.aliases):
                if username:
                    self._by_username.setdefault(username.casefold(), identity)
            if identity.account_id is not None:
                self._by_account_id.setdefault(identity.account_id, identity)
            if identity.name:
                self._by_name.setdefault(identity.name.strip().casefold(), identity)

    def attribute(self, author: Mapping[str, object]) -> CiIdentity | None:
        """The identity that ``author`` (a Gerrit AccountInfo-like mapping) belongs to."""
        username = _text(author.get("username"))
        if username is not None and (found := self._by_username.get(username.casefold())):
            return found
        account_id = _account_id(author.get("account_id", author.get("_account_id")))
        if account_id is not None and (found := self._by_account_id.get(account_id)):
            return found
        name = _text(author.get("name"))
        if name is not None:
            return self._by_name.get(name.casefold())
        return None


def attribute_author(
    author: Mapping[str, object], identities: Sequence[CiIdentity]
) -> CiIdentity | None:
    """The CI among ``identities`` that wrote as ``author``, or None (a person, or unregistered).

    ``author`` has any of ``account_id`` (or REST's ``_account_id``), ``username``, ``name``,
    ``email``. Username decides first, then account id, then display name (case-insensitive).
    For many messages build one :class:`CiAttributor` instead.
    """
    return CiAttributor(identities).attribute(author)


def looks_like_ci(name: str) -> bool:
    """True when a display name or username looks like a CI account (used to flag unregistered CIs).

    hideci.js's ``^(.* CI|Jenkins|Zuul)$`` or ciwatch's CI/Jenkins/Bot/Zuul words.
    """
    stripped = name.strip()
    return bool(_HIDECI_NAME.match(stripped) or _CIWATCH_NAME.search(stripped))
