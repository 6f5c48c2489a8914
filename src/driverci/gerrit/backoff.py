"""How long to wait before retrying Gerrit, shared by the REST client and the event stream."""

from __future__ import annotations

import random

# 2.0**1024 overflows a float: an exponent this large already exceeds any sane maximum.
_MAX_EXPONENT = 64


def backoff_delay(attempt: int, base: float, maximum: float) -> float:
    """Seconds before retry ``attempt`` (0 first): doubling from ``base`` up to ``maximum``,
    with jitter within the upper half so that many clients do not retry in lockstep. Safe to
    call for ever-growing attempts (a connection retried for days)."""
    ceiling = min(maximum, base * (2.0 ** min(attempt, _MAX_EXPONENT)))
    return ceiling * random.uniform(0.5, 1.0)
