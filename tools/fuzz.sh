#!/bin/sh
# Build the libFuzzer targets (fuzz/) with clang in build-fuzz/ and run
# each for a bounded time, starting from its seed corpus in
# fuzz/corpus/<target>/.  Exits non-zero when a target crashes, leaks,
# or trips a sanitizer; the input that did it is left in
# build-fuzz/artifacts/ (rerun it: build-fuzz/fuzz/fuzz_<target> FILE).
#
#   tools/fuzz.sh                    every target, FUZZ_SECONDS (30) each
#   FUZZ_SECONDS=600 tools/fuzz.sh request     one target, longer
#   FUZZ_SEED=1 tools/fuzz.sh        the same mutations as CI's run
#
# New inputs the fuzzer finds interesting go to build-fuzz/corpus/, not
# to the committed seeds; copy one into fuzz/corpus/ when it is worth
# keeping (a crash's reproducer, once fixed, always is).
set -e
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-30}
targets=${*:-request response config}
command -v clang >/dev/null || { echo "fuzz: clang is not installed (tools/deps.sh ci)" >&2; exit 1; }
[ -x configure ] || ./autogen.sh >/dev/null
mkdir -p build-fuzz
cd build-fuzz
if [ ! -f Makefile ] || ! grep -q '^ENABLE_FUZZERS_TRUE = $' Makefile; then
    ../configure -q CC=clang CFLAGS="-g -O1" --enable-fuzzers
fi
progs=
for t in $targets; do
    [ -d "../fuzz/corpus/$t" ] || { echo "fuzz: no target \"$t\" (request, response, config)" >&2; exit 64; }
    progs="$progs fuzz/fuzz_$t"
done
# shellcheck disable=SC2086
make -j2 -s $progs >build.log 2>&1 || { tail -n 40 build.log; exit 1; }
mkdir -p artifacts
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
for t in $targets; do
    mkdir -p "corpus/$t"
    log="fuzz-$t.log"
    # stdin from /dev/null: a config naming /dev/stdin as its token
    # file must not wait for a terminal.
    if ./fuzz/fuzz_$t -max_total_time="$seconds" -timeout=10 \
        ${FUZZ_SEED:+-seed="$FUZZ_SEED"} \
        -rss_limit_mb=1024 -print_final_stats=1 \
        -artifact_prefix="artifacts/$t-" \
        "corpus/$t" "../fuzz/corpus/$t" </dev/null >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        echo "fuzz $t: ok, $runs runs in ${seconds}s, corpus $(ls "corpus/$t" | wc -l) inputs"
    else
        status=1
        echo "fuzz $t: FAILED; the log's end (all of it in build-fuzz/$log):"
        grep -v '^#' "$log" | tail -n 40
        ls -1 artifacts/"$t"-* 2>/dev/null | sed 's/^/  reproducer: build-fuzz\//'
    fi
done
exit $status
