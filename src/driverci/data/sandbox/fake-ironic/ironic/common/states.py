"""Power states, as in ironic.common.states."""

POWER_ON = "power on"
POWER_OFF = "power off"
