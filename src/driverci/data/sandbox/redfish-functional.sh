#!/bin/sh
# The redfish-functional job of the sandbox CI: sushy (the Redfish driver's library) against
# the sushy-tools Redfish emulator with its fake driver, started here on a free loopback port.
# Usage: redfish-functional.sh <venv bin dir> <directory of this script>
# Writes sushy-emulator.conf and sushy-emulator.log in the checkout (the job publishes them).
set -eu
VENV_BIN=$1
SCRIPTS=$2
mkdir -p "$HOME/sushy-state"
PORT=$("$VENV_BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > sushy-emulator.conf <<CONF
SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'
SUSHY_EMULATOR_LISTEN_PORT = $PORT
SUSHY_EMULATOR_FAKE_DRIVER = True
SUSHY_EMULATOR_STATE_DIR = '$HOME/sushy-state'
CONF
echo "starting sushy-emulator (fake driver) on 127.0.0.1:$PORT, log in sushy-emulator.log"
"$VENV_BIN/sushy-emulator" --config sushy-emulator.conf --fake \
    --interface 127.0.0.1 --port "$PORT" > sushy-emulator.log 2>&1 &
"$VENV_BIN/python" "$SCRIPTS/redfish_functional.py" "http://127.0.0.1:$PORT/redfish/v1"
