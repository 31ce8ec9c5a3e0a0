#!/bin/sh
# The Python client's tests (client/python/tests, standard unittest)
# against a real sluiced started on an ephemeral port.
#   SLUICED     the daemon (default: ../../build/daemon/sluiced from here)
#   SLUICE_CLI  the C CLI for the cross-language tests
#               (default: ../../build/client/sluice)
# The last line is "python: N passed, M failed[, K skipped]"; the exit
# status is non-zero when a test failed.
cd "$(dirname "$0")" || exit 1
here=$(pwd)
SLUICED=${SLUICED:-$here/../../build/daemon/sluiced}
SLUICE_CLI=${SLUICE_CLI:-$here/../../build/client/sluice}
export SLUICED SLUICE_CLI
# Debian's interpreter, as the README promises (python3 from tools/deps.sh).
py=/usr/bin/python3
if [ ! -x "$py" ]; then
    echo "no $py: install python3 (tools/deps.sh does)"
    echo "python: 0 passed, 1 failed"
    exit 1
fi
if [ ! -x "$SLUICED" ]; then
    echo "no daemon at $SLUICED: build first, or set SLUICED"
    echo "python: 0 passed, 1 failed"
    exit 1
fi
# Bytecode stays out of the tree.
PYTHONDONTWRITEBYTECODE=1 exec "$py" -W default tests/run.py 2>&1
