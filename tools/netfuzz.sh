#!/bin/sh
# Fuzz a sanitized sluiced over the network for a bounded time.
#
#   tools/netfuzz.sh                   60 s (NETFUZZ_SECONDS), a new seed
#   NETFUZZ_SECONDS=10 NETFUZZ_SEED=42 tools/netfuzz.sh
#
# Uses build-sanitize/ (ASan + UBSan, as `./test.sh --sanitize` makes
# it), configuring and building it first when it is not there.  Starts
# build-sanitize/daemon/sluiced on a free loopback port with small
# bounds (so the fuzzer also meets full queues and TOO_MANY_QUEUES) and
# its metrics port on, runs tests/netfuzz against both (see
# tests/netfuzz.c), then stops the daemon.  Fails when the fuzzer's checks fail (the daemon must answer
# PING and a STATS that adds up), when the daemon died, did not exit 0,
# or when a sanitizer reported anything.  The daemon's log is kept in
# build-sanitize/netfuzz.log.
set -e
cd "$(dirname "$0")/.."
seconds=${NETFUZZ_SECONDS:-60}
dir=build-sanitize
cflags="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

if [ ! -f "$dir/Makefile" ]; then
    sh tools/deps.sh
    [ -x configure ] || ./autogen.sh >/dev/null
    mkdir -p "$dir"
    (cd "$dir" && ../configure -q CFLAGS="$cflags" && echo "$cflags" > .cflags)
fi
make -s -C "$dir" -j2 daemon/sluiced tests/netfuzz

log=$dir/netfuzz.log
conf=$dir/netfuzz.json
cat > "$conf" <<'EOF'
{
  "max_connections": 512,
  "max_queues": 200,
  "max_message": 65536,
  "max_reserved": 64,
  "queue_defaults": { "capacity": 16, "max_bytes": 262144 },
  "max_memory": 8388608,
  "request_timeout_ms": 2000,
  "metrics": "127.0.0.1:0"
}
EOF
"$dir/daemon/sluiced" -c "$conf" -l 127.0.0.1 -p 0 >"$log" 2>&1 &
pid=$!
trap 'kill -INT $pid 2>/dev/null || true' EXIT

# Wait (bounded) for the daemon to say where it listens.
port= mport=
i=0
while [ $i -lt 200 ]; do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -n 1)
    mport=$(sed -n 's/.*metrics on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -n 1)
    [ -n "$port" ] && [ -n "$mport" ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.05
    i=$((i + 1))
done
if [ -z "$port" ] || [ -z "$mport" ]; then
    echo "netfuzz.sh: sluiced did not start:" >&2
    cat "$log" >&2
    exit 1
fi

status=0
"$dir/tests/netfuzz" -p "$port" -m "$mport" -t "$seconds" ${NETFUZZ_SEED:+-s "$NETFUZZ_SEED"} \
    || status=1
if kill -0 $pid 2>/dev/null; then
    # SIGTERM then SIGINT: stop now (drain skipped); a clean exit is 0.
    kill -TERM $pid
    kill -INT $pid 2>/dev/null || true
    rc=0
    wait $pid || rc=$?
    [ $rc -eq 0 ] || { echo "netfuzz.sh: sluiced exited $rc" >&2; status=1; }
else
    wait $pid || true
    echo "netfuzz.sh: sluiced died during the run" >&2
    status=1
fi
trap - EXIT
if grep -E -q 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: ' "$log"; then
    echo "netfuzz.sh: sanitizer report:" >&2
    grep -E -A 30 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log" | head -n 80 >&2
    status=1
fi
[ $status -eq 0 ] && echo "netfuzz.sh: ok ($seconds s, log in $log)" \
    || { echo "netfuzz.sh: FAILED (log in $log)" >&2; tail -n 20 "$log" >&2; }
exit $status
