"""Wait for a condition by polling: used where no event says "done" (a comment landing on a
remote Gerrit, a queue draining)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

Predicate = Callable[[], bool | Awaitable[bool]]


async def wait_until(
    predicate: Predicate,
    timeout: float,
    what: str,
    interval: float = 0.05,
    error: Callable[[str], Exception] = TimeoutError,
) -> None:
    """Poll ``predicate`` (sync or async) until it holds; raise ``error`` naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = predicate()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return
        if time.monotonic() > deadline:
            raise error(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(interval)
