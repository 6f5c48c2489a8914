import unittest

from ironic.common import states
from ironic.drivers.modules.redfish import power


class FakeSystem:
    def __init__(self, power_state):
        self.power_state = power_state


class RedfishPowerTestCase(unittest.TestCase):
    def test_get_power_state(self):
        for current, expected in (("on", states.POWER_ON), ("off", states.POWER_OFF)):
            got = power.RedfishPower().get_power_state(FakeSystem(current))
            self.assertEqual(expected, got)
