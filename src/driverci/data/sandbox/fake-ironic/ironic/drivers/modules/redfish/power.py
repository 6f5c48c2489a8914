"""Redfish power interface (a stand-in for ironic's)."""

from ironic.common import states

GET_POWER_STATE_MAP = {
    "on": states.POWER_ON,
    "powering on": states.POWER_ON,
    "off": states.POWER_OFF,
    "powering off": states.POWER_OFF,
}


class RedfishPower:
    def get_power_state(self, system):
        """Get the current power state of the node behind ``system``."""
        return GET_POWER_STATE_MAP.get(system.power_state)
