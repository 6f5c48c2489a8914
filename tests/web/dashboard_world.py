"""What the dashboard tests share besides fixtures: the seeded store and the served dashboard.

Kept out of conftest.py so test modules can import it: pytest puts every test directory's
conftest on the path as ``conftest``, and two of them clash when their directories run together.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from driverci.emulator.seed.scenario import Scenario
from driverci.store.db import Store

DAYS = 14
ADMIN_TOKEN = "test-admin-token-42"
#: CIs whose result links are probed (probing every link would take too long for a test):
#: Delta's die after a week; Acme's, probed, make it reliable; the others' links were never
#: probed, so a CI with nothing else wrong (Golf) is unproven, not reliable.
PROBED = ("delta-irmc", "acme-redfish")


@dataclass
class SeededStore:
    scenario: Scenario
    store: Store
    registry_path: Path
    gerrit_url: str


@dataclass
class Dashboard:
    url: str
    seeded: SeededStore
    registry_path: Path

    @property
    def scenario(self) -> Scenario:
        return self.seeded.scenario
