"""Gerrit's push vocabulary: magic refs with their options, and the Change-Id footer.

Pure functions shared by the receive processing (:mod:`driverci.emulator.git.receive`).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

CHANGE_ID_LINE = re.compile(r"^Change-Id:\s*(\S*)\s*$", re.IGNORECASE)
VALID_CHANGE_ID = re.compile(r"^I[0-9a-f]{40}$")
MAGIC_PREFIX = "refs/for/"


@dataclass(frozen=True)
class RefUpdate:
    old: str
    new: str
    ref: str


@dataclass
class PushOptions:
    """What ``%topic=x,wip`` suffixes and ``git push -o`` options ask for."""

    topic: str | None = None
    wip: bool | None = None  # None: leave as it is
    hashtags: list[str] = field(default_factory=list)


def parse_magic_ref(ref: str, push_options: Sequence[str] = ()) -> tuple[str, PushOptions]:
    """``refs/for/master%topic=x,wip`` -> ("master", PushOptions(topic="x", wip=True))."""
    target, _, suffix = ref[len(MAGIC_PREFIX) :].partition("%")
    options = PushOptions()
    raw = [o for o in suffix.split(",") if o] + list(push_options)
    for option in raw:
        key, _, value = option.partition("=")
        if key == "topic":
            options.topic = value or None
        elif key in ("wip", "work-in-progress"):
            options.wip = True
        elif key == "ready":
            options.wip = False
        elif key in ("t", "hashtag") and value:
            options.hashtags.append(value)
        else:
            log.debug("ignoring push option %r on %s", option, ref)
    return target, options


def find_change_id(message: str) -> tuple[str | None, str | None]:
    """(Change-Id, None) or (None, Gerrit's complaint) for a commit message."""
    paragraphs = [p for p in re.split(r"\n\s*\n", message.strip()) if p.strip()]
    footer = paragraphs[-1].splitlines() if len(paragraphs) > 1 else []
    found = [m.group(1) for m in map(CHANGE_ID_LINE.match, footer) if m]
    if not found:
        if CHANGE_ID_LINE.match(message.strip().split("\n", 1)[0]):
            return None, "missing subject; Change-Id must be in message footer"
        return None, "missing Change-Id in message footer"
    if len(found) > 1:
        return None, "multiple Change-Id lines in message footer"
    if not VALID_CHANGE_ID.match(found[0]):
        return None, "invalid Change-Id line format in message footer"
    return found[0], None


def make_change_id(*parts: str) -> str:
    return "I" + hashlib.sha1("\0".join(parts).encode()).hexdigest()


def normalize_project(path: str) -> str:
    """``'/openstack/ironic.git/'`` (as git sends it over SSH) -> ``openstack/ironic``."""
    project = path.strip().strip("'\"").strip("/")
    return project.removesuffix(".git")
