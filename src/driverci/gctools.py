"""Keep Python's cyclic garbage collector out of bulk work (loading, collecting, serving).

Bulk work builds hundreds of thousands of short-lived, acyclic objects (parsed changes, rows,
facts); reference counting frees them. The cyclic collector meanwhile wakes every few hundred
allocations and, as objects survive, walks everything alive: measured at two thirds of the
time to validate a page of changes and a third of the time to load a year of facts.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic collector for the block; nested use is fine. Long loops inside free
    garbage cycles now and then with a :class:`YoungCycleCollector`."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class YoungCycleCollector:
    """Frees cycles among objects made since the last collection (the young generations
    only) once every ``every`` units of bulk work (pages, batches).

    A collection walks every young object still alive, such as the work fetched or parsed
    ahead, so its cost does not shrink with the garbage: not worth paying at every unit.
    """

    def __init__(self, every: int) -> None:
        self.every = every
        self._units = 0

    def unit_done(self) -> None:
        self._units += 1
        if self._units % self.every == 0:
            gc.collect(1)


def freeze_long_lived() -> None:
    """Move every object alive now out of the collector's sight (``gc.freeze``): for a server
    whose large state, loaded once, would otherwise be walked again at every full collection."""
    gc.collect()
    gc.freeze()
