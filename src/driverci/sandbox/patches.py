"""The patch sets the rehearsal pushes, as edits of files every Ironic tree has (the fake
tree too): one that breaks the redfish driver, one docs-only, one good."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from driverci.errors import DriverCIError

Expect = Literal["FAILURE", "SUCCESS", "excluded"]

POWER = "ironic/drivers/modules/redfish/power.py"
DOCS = "doc/source/admin/drivers/redfish.rst"
POWER_STATE_LINE = "        return GET_POWER_STATE_MAP.get(system.power_state)\n"


@dataclass(frozen=True)
class PlannedPatch:
    """One commit: ``old`` replaced by ``new`` in ``path`` (``old`` empty: append ``new``)."""

    key: str
    subject: str
    path: str
    old: str
    new: str
    expect: Expect
    failing_test: str | None = None  # a test id the breaking patch must fail

    def apply(self, checkout: Path) -> None:
        target = checkout / self.path
        if not target.is_file():
            raise DriverCIError(f"{self.key} patch: {self.path} is not in the imported tree")
        text = target.read_text(encoding="utf-8")
        if not self.old:
            target.write_text(text + self.new, encoding="utf-8")
            return
        if self.old not in text:
            raise DriverCIError(
                f"{self.key} patch: {self.path} no longer holds {self.old.strip()!r}; "
                "this Ironic version needs another breaking edit"
            )
        target.write_text(text.replace(self.old, self.new, 1), encoding="utf-8")

    def message(self) -> str:
        bodies = {
            "FAILURE": "Rehearsal: this patch set must get FAILURE from the redfish CI.",
            "SUCCESS": "Rehearsal: this patch set must get SUCCESS from the redfish CI.",
            "excluded": "Rehearsal: docs only, excluded by policy: no CI comment expected.",
        }
        return f"{self.subject}\n\n{bodies[self.expect]}\n"


BREAKING = PlannedPatch(
    key="breaking",
    subject="Redfish: report every node as powered off",
    path=POWER,
    old=POWER_STATE_LINE,
    new="        return states.POWER_OFF  # ignores what the BMC says\n",
    expect="FAILURE",
    failing_test="test_power.RedfishPowerTestCase.test_get_power_state",
)
DOCS_ONLY = PlannedPatch(
    key="docs-only",
    subject="Redfish docs: mention the sandbox CI",
    path=DOCS,
    old="",
    new="\nThe Sandbox Redfish CI tests every non-excluded patch set of this driver.\n",
    expect="excluded",
)
GOOD = PlannedPatch(
    key="good",
    subject="Redfish: explain where the power state comes from",
    path=POWER,
    old=POWER_STATE_LINE,
    new="        # The BMC's own view, mapped to Ironic's power states.\n" + POWER_STATE_LINE,
    expect="SUCCESS",
)
PATCHES = (BREAKING, DOCS_ONLY, GOOD)
