"""Functional check of sushy against a Redfish BMC emulator: connect, list the systems,
read the power state, power on and off, and see each change land. Exit 1 on any failure."""

import sys
import time
import urllib.error
import urllib.request

import sushy

READY_TIMEOUT = 30.0  # seconds for the emulator to answer
POWER_TIMEOUT = 30.0  # the fake driver applies power actions 1 to 11 s later


def wait_for(what, probe, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.5)
    sys.exit(f"FAILED: {what} within {timeout:g}s")


def answers(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def main(url):
    wait_for(f"the Redfish emulator to answer at {url}", lambda: answers(url), READY_TIMEOUT)
    root = sushy.Sushy(url, username="admin", password="password")
    print(f"connected: Redfish {root.redfish_version}, service {root.uuid}")
    members = root.get_system_collection().get_members()
    if not members:
        sys.exit("FAILED: the emulator exposes no system")
    for system in members:
        print(f"system {system.identity} ({system.name}): power {system.power_state}")
    system = members[0]
    for action, wanted in (
        (sushy.RESET_ON, sushy.SYSTEM_POWER_STATE_ON),
        (sushy.RESET_FORCE_OFF, sushy.SYSTEM_POWER_STATE_OFF),
    ):
        print(f"reset_system({action}) on {system.identity}")
        system.reset_system(action)

        def reached(expected=wanted):
            system.refresh()
            return system.power_state == expected

        wait_for(f"power state {wanted}", reached, POWER_TIMEOUT)
        print(f"power state is now {system.power_state}")
    print("redfish functional check: OK")


if __name__ == "__main__":
    main(sys.argv[1])
