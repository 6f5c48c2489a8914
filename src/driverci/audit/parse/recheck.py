r"""Human requests to run CI again, and which CI each one asks.

Upstream Zuul's trigger, ``(?i)^(Patch Set [0-9]+:)?( [\w\\+-]*)*(\n\n)?\s*(recheck|reverify)``,
wants the body (after the "Patch Set N: votes" line) to start with the word; Gerrit 3 puts a
"(1 comment)" line first when inline comments were posted with it, which is skipped. The same
start rule applies to every form read here:

- ``recheck`` / ``reverify`` (also ``recheck bug 123``, ``recheck no bug``, ``recheck <why>``)
  asks every CI (infra: "a single recheck comment should re-trigger all testing systems");
- ``recheck-<vendor>`` (VMware's and NEC's 2014 form, ``recheck-vmware``), the namespaced
  ``<ci>: recheck`` of infra's third-party example config, and Cinder's ``run-<CI Name>``
  ask only the CI so named;
- a CI's own declared regexes (the registry's ``recheck_pattern``) and the policy's
  ``recheck.patterns`` with ``{ci}`` ask only that CI; a policy pattern without ``{ci}`` asks
  every CI.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from driverci.audit.parse.attribution import CiIdentity
from driverci.audit.parse.header import split_header
from driverci.errors import ConfigError
from driverci.policy.rules import CI_PLACEHOLDER, recheck_regexes

__all__ = [
    "RecheckAttributor",
    "RecheckRequest",
    "is_recheck",
    "normalize_ci_name",
    "recheck_body",
]

# "recheck" not followed by a word character or "-" (recheck-vmware asks one CI).
_PLAIN = re.compile(r"\s*(?:recheck|reverify)(?![\w-])", re.IGNORECASE)
_VENDOR = re.compile(
    r"\s*(?:recheck|reverify)-(?P<target>[^\s:][^\n]{0,79}?)\s*(?:\n|$)", re.IGNORECASE
)
_NAMESPACED = re.compile(r"\s*(?P<target>[^\s:][^:\n]{0,79}?)\s*:\s*recheck(?!\w)", re.IGNORECASE)
_RUN = re.compile(r"\s*run-(?P<target>[^\n]{1,80}?)\s*(?:\n|$)", re.IGNORECASE)
_COMMENT_COUNT = re.compile(r"\s*\(\d+ (?:inline )?comments?\)[ \t]*(?:\n|$)")
_NAME_SEPARATORS = re.compile(r"[\s_\-.]+")
_CI_SUFFIX = " CI"


@dataclass(frozen=True, slots=True)
class RecheckRequest:
    """A request to rerun CI: every system (``recheck``) or one (``target`` names it)."""

    all_systems: bool
    #: The CI asked for: its registry account from :class:`RecheckAttributor`; from
    #: :func:`is_recheck`, the name as given in ``ci_names`` (or as written when none given).
    target: str | None = None


def normalize_ci_name(name: str) -> str:
    """Fold case and separators so "run-IBM-DB2-CI" finds "IBM DB2 CI"."""
    return _NAME_SEPARATORS.sub("-", name.strip()).strip("-").lower()


def recheck_body(text: str) -> str:
    """The part of a review message a recheck must start: after "Patch Set N: votes",
    Gerrit's "(N comments)" line and the blank lines (so ``^`` anchors a declared pattern)."""
    body = text[split_header(text).body_start :]
    if "comment" in body and (count := _COMMENT_COUNT.match(body)) is not None:
        body = body[count.end() :]
    return body.lstrip()


def _written_target(body: str) -> str | None:
    """The CI named by ``recheck-<name>``, ``<name>: recheck`` or ``run-<name>``, as written."""
    for form in (_VENDOR, _NAMESPACED, _RUN):
        if (match := form.match(body)) is not None:
            return match.group("target")
    return None


def _might_ask(lowered: str) -> bool:
    # Fast reject: every built-in form contains "recheck", "reverify" or "run-".
    return "recheck" in lowered or "reverify" in lowered or "run-" in lowered


def is_recheck(text: str, ci_names: Iterable[str] = ()) -> RecheckRequest | None:
    """The rerun ``text`` asks for by the built-in forms, or None.

    ``ci_names`` are the names a CI answers to (its display name, account, namespace); when
    given, ``recheck-<name>``, ``<name>: recheck`` and ``run-<name>`` only count for those
    names. For a registry's CIs (with their declared patterns) use :class:`RecheckAttributor`.
    """
    if not _might_ask(text.lower()):
        return None
    body = recheck_body(text)
    if _PLAIN.match(body) is not None:
        return RecheckRequest(all_systems=True)
    written = _written_target(body)
    if written is None:
        return None
    names = tuple(ci_names)
    if not names:
        return RecheckRequest(all_systems=False, target=written.strip())
    wanted = normalize_ci_name(written)
    for name in names:
        if normalize_ci_name(name) == wanted:
            return RecheckRequest(all_systems=False, target=name)
    return None


def _compile_declared(pattern: str, owner: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as error:
        raise ConfigError(f"{owner}: invalid recheck pattern {pattern!r}: {error}") from error


def _names_of(identity: CiIdentity) -> list[str]:
    names = [*identity.recheck_names, *identity.aliases]
    if identity.username:
        names.append(identity.username)
    if identity.name:
        names.append(identity.name)
        if identity.name.endswith(_CI_SUFFIX):
            names.append(identity.name[: -len(_CI_SUFFIX)])
    return [name for name in names if name and name.strip()]


def _vendor_word(display_name: str) -> str | None:
    words = display_name.split()
    if len(words) < 2 or len(words[0]) < 2:
        return None
    return normalize_ci_name(words[0])


class RecheckAttributor:
    """Which registered CI a person's message asks to test again (one per message).

    Built once per registry: ``identities`` with their names and declared ``recheck_patterns``
    (searched case-insensitively in the message after its header), and the policy's
    ``recheck.patterns`` (searched in the whole message, ``{ci}`` standing for a CI's name,
    name without " CI", or account, as the reference CI reads them).
    """

    def __init__(
        self, identities: Sequence[CiIdentity], policy_patterns: Sequence[str] = ()
    ) -> None:
        self._by_name: dict[str, str] = {}
        self._declared: list[tuple[str, tuple[re.Pattern[str], ...]]] = []
        vendors: dict[str, list[str]] = {}
        for identity in identities:
            account = identity.username or identity.name
            if account is None:
                continue
            for name in _names_of(identity):
                # The first CI registered under a name keeps it, as attribution does.
                self._by_name.setdefault(normalize_ci_name(name), account)
            if identity.name and (vendor := _vendor_word(identity.name)) is not None:
                vendors.setdefault(vendor, []).append(account)
            if identity.recheck_patterns:
                self._declared.append(
                    (
                        account,
                        tuple(_compile_declared(p, account) for p in identity.recheck_patterns),
                    )
                )
        # "recheck-vmware" for "VMware NSX CI": a display name's first word stands for its
        # CI when no other CI's name starts with it ("Dell EMC CI" and "Dell iDRAC CI" share
        # "dell", so neither answers to it unless the registry declares a pattern).
        for vendor, accounts in vendors.items():
            if len(accounts) == 1:
                self._by_name.setdefault(vendor, accounts[0])
        self._every_ci: list[re.Pattern[str]] = []
        # Per policy pattern with {ci}: a filter with {ci} as any name (a superset, so a text
        # it rejects no CI's regex accepts: one search per pattern, not one per CI), then the
        # regex of each CI.
        self._per_ci: list[tuple[re.Pattern[str], list[tuple[str, re.Pattern[str]]]]] = []
        for pattern in policy_patterns:
            try:
                if CI_PLACEHOLDER not in pattern:
                    self._every_ci.append(re.compile(pattern))
                    continue
                prefilter = re.compile(pattern.replace(CI_PLACEHOLDER, "[^\\n]+?"))
            except re.error as error:
                message = f"policy: invalid recheck pattern {pattern!r}: {error}"
                raise ConfigError(message) from error
            self._per_ci.append(
                (
                    prefilter,
                    [
                        (identity.username, regex)
                        for identity in identities
                        if identity.username and identity.name
                        for regex in recheck_regexes([pattern], identity.name, identity.username)
                    ],
                )
            )
        self._always_search = bool(self._declared or self._per_ci or self._every_ci)

    def request(self, text: str) -> RecheckRequest | None:
        """The rerun ``text`` asks for: every CI, one CI (``target`` its account), or None.

        A request naming a CI the registry does not know is None: it asks no CI judged here.
        """
        if not self._always_search and not _might_ask(text.lower()):
            return None
        body = recheck_body(text)
        for account, regexes in self._declared:
            if any(regex.search(body) for regex in regexes):
                return RecheckRequest(all_systems=False, target=account)
        for prefilter, regexes_by_ci in self._per_ci:
            if prefilter.search(text) is not None:
                for account, regex in regexes_by_ci:
                    if regex.search(text) is not None:
                        return RecheckRequest(all_systems=False, target=account)
        if _might_ask(body.lower()):
            if _PLAIN.match(body) is not None:
                return RecheckRequest(all_systems=True)
            written = _written_target(body)
            if written is not None:
                named = self._by_name.get(normalize_ci_name(written))
                return None if named is None else RecheckRequest(False, named)
        if any(regex.search(text) for regex in self._every_ci):
            return RecheckRequest(all_systems=True)
        return None
