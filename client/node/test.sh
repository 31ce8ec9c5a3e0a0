#!/bin/sh
# Run the Node.js client's tests against a real sluiced.
#   SLUICED     the daemon (default: ../../build/daemon/sluiced)
#   SLUICE_CLI  the C CLI, for the cross-language tests
#               (default: ../../build/client/sluice)
# The last line is "node: N passed, M failed, K skipped"; the exit status
# is non-zero when a test failed.
cd "$(dirname "$0")" || exit 1
: "${SLUICED:=../../build/daemon/sluiced}"
: "${SLUICE_CLI:=../../build/client/sluice}"
SLUICED=$(realpath "$SLUICED" 2>/dev/null || echo "$SLUICED")
SLUICE_CLI=$(realpath "$SLUICE_CLI" 2>/dev/null || echo "$SLUICE_CLI")
export SLUICED SLUICE_CLI

if ! command -v node >/dev/null; then
	echo "node is not installed (Debian package nodejs; tools/deps.sh installs it)"
	echo "node: 0 passed, 1 failed"
	exit 1
fi
if [ ! -x "$SLUICED" ]; then
	echo "no daemon at $SLUICED: build it first or set SLUICED"
	echo "node: 0 passed, 1 failed"
	exit 1
fi

tap=$(mktemp "${TMPDIR:-/tmp}/sluice-node-tap.XXXXXX")
trap 'rm -f "$tap"' EXIT INT TERM
# --expose-gc lets the backpressure test measure memory after collecting.
# Dots (and every failure in full) on stdout; TAP to a file for counting.
node --expose-gc --test --test-timeout=60000 \
	--test-reporter=dot --test-reporter-destination=stdout \
	--test-reporter=tap --test-reporter-destination="$tap" \
	test/*.test.js
status=$?
echo
# What was skipped, and why (features the daemon lacks yet).
sed -n 's/^ *ok [0-9]* - \(.*\) # SKIP \(.*\)$/skipped: \1 -- \2/p' "$tap"

count() { sed -n "s/^# $1 \([0-9][0-9]*\)\$/\1/p" "$tap" | tail -n 1; }
passed=$(count pass)
failed=$(count fail)
cancelled=$(count cancelled)
skipped=$(count skipped)
: "${passed:=0}" "${failed:=0}" "${cancelled:=0}" "${skipped:=0}"
failed=$((failed + cancelled))
# A run that died before its summary still fails.
[ "$status" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
echo "node: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
