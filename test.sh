#!/bin/sh
# Build everything and run the whole test suite.
#   ./test.sh             in build/
#   ./test.sh --sanitize  in build-sanitize/, with AddressSanitizer and
#                         UndefinedBehaviorSanitizer (any report fails)
set -e
cd "$(dirname "$0")"
sh tools/deps.sh
[ -x configure ] || ./autogen.sh >/dev/null

dir=build
cflags="-g -O2"
if [ "${1:-}" = --sanitize ]; then
    dir=build-sanitize
    cflags="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all"
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
mkdir -p "$dir"
cd "$dir"
if [ ! -f Makefile ] || [ "$(cat .cflags 2>/dev/null)" != "$cflags" ]; then
    ../configure -q CFLAGS="$cflags"
    echo "$cflags" > .cflags
fi
make -j"$(nproc)" -s
status=0
make -s check || status=$?
# Each suite's own summary, then one line for the whole run.
passed=0 failed=0
for log in tests/*.log; do
    [ -f "$log" ] || continue
    line=$(grep -E '^[0-9]+%: Checks: ' "$log" | tail -n 1)
    [ -n "$line" ] || { failed=$((failed + 1)); echo "$log: no summary"; continue; }
    echo "$(basename "$log" .log): $line"
    n=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
    f=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2/')
    bad=$(( $(echo "$f" | cut -d' ' -f1) + $(echo "$f" | cut -d' ' -f2) ))
    passed=$((passed + n - bad))
    failed=$((failed + bad))
done
[ "$status" -eq 0 ] || { cat test-suite.log; [ "$failed" -gt 0 ] || failed=1; }

# The language clients' suites (client/<lang>/test.sh), against this
# build's sluiced.  Each prints "<lang>: N passed, M failed" last and
# exits non-zero on a failure.
for suite in ../client/*/test.sh; do
    [ -f "$suite" ] || continue
    out=$(SLUICED="$PWD/daemon/sluiced" SLUICE_CLI="$PWD/client/sluice" \
        sh "$suite" 2>&1) || status=1
    echo "$out" | tail -n 40
    line=$(echo "$out" | grep -E '^[a-z]+: [0-9]+ passed, [0-9]+ failed' | tail -n 1)
    [ -n "$line" ] || { failed=$((failed + 1)); echo "$suite: no summary"; continue; }
    n=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    passed=$((passed + n))
    failed=$((failed + f))
done
echo "tests: $passed passed, $failed failed" | tee test-summary.txt
exit "$status"
