#!/bin/sh
# Compare libsluice's ABI with the last release's, client/libsluice.abi.
#
#   tools/abicheck.sh            check build/'s library (builds it if needed)
#   tools/abicheck.sh --update   write the baseline from build/'s library
#
# Uses abidw and abidiff (Debian: abigail-tools; `tools/deps.sh ci`
# installs it).  Only what client/sluice.h declares counts: the types
# private to the library are dropped.
#
# An incompatible change (a function removed, a signature or a public
# struct's layout changed, the soname changed) fails.  A compatible one
# (a function added) is shown and passes: at the next release, bump the
# libtool age in configure.ac and update the baseline.  After a
# deliberate incompatible change: bump the libtool current and reset
# the age (a new soname), then run this with --update and commit
# client/libsluice.abi with the change.  HACKING.md says more.
set -e
cd "$(dirname "$0")/.."
baseline=client/libsluice.abi
for tool in abidw abidiff; do
    command -v $tool >/dev/null || {
        echo "abicheck: $tool is missing (apt-get install abigail-tools, or tools/deps.sh ci)" >&2
        exit 1
    }
done

# The library with its debug information (test.sh builds with -g).
[ -x configure ] || ./autogen.sh >/dev/null
mkdir -p build
if [ ! -f build/Makefile ]; then
    (cd build && ../configure -q CFLAGS="-g -O2" && echo "-g -O2" >.cflags)
fi
make -C build -s client/libsluice.la >build/abicheck.log 2>&1 || {
    tail -n 40 build/abicheck.log
    exit 1
}
lib=$(ls build/client/.libs/libsluice.so.*.*.* 2>/dev/null | head -n 1)
[ -n "$lib" ] || { echo "abicheck: no build/client/.libs/libsluice.so.*" >&2; exit 1; }

# abidw matches the public headers by directory, and client/ also
# holds the library's private header: give it sluice.h alone.
hdrs=$(mktemp -d)
trap 'rm -rf "$hdrs"' EXIT
cp client/sluice.h "$hdrs/"
dump() {
    abidw --headers-dir "$hdrs" --drop-private-types \
        --drop-undefined-syms --no-corpus-path --short-locs \
        --out-file "$1" "$lib"
}

if [ "${1:-}" = --update ]; then
    dump "$baseline"
    echo "abicheck: wrote $baseline from $lib"
    exit 0
fi
[ -f "$baseline" ] || { echo "abicheck: no $baseline; run $0 --update" >&2; exit 1; }
current=$hdrs/current.abi
dump "$current"
# abidiff's exit status is a bit field: 1 error, 2 usage, 4 the ABI
# changed, 8 the change is incompatible (symbols removed).  Type changes
# only set 4, so the check is in two steps: without added functions,
# any change left (but the growth client/libsluice.abignore allows)
# fails; then added functions are reported and pass.
check() {
    status=0
    abidiff --no-linkage-name --suppressions client/libsluice.abignore \
        "$@" "$baseline" "$current" >"$current.report" 2>&1 || status=$?
    if [ $((status & 3)) -ne 0 ]; then
        cat "$current.report" >&2
        echo "abicheck: abidiff failed (status $status)" >&2
        exit 1
    fi
}
check --no-added-syms
if [ $((status & 12)) -ne 0 ]; then
    cat "$current.report"
    echo "abicheck: libsluice's ABI changed incompatibly from $baseline" >&2
    echo "abicheck: if you mean it, see HACKING.md (\"libsluice's ABI\")" >&2
    exit 1
fi
check
if [ $((status & 4)) -ne 0 ]; then
    cat "$current.report"
    echo "abicheck: compatible additions since $baseline: at the release, libtool age+1 and --update"
    exit 0
fi
echo "abicheck: libsluice ABI matches $baseline ($(sed -n "s/.*soname='\([^']*\)'.*/\1/p" "$baseline" | head -n 1))"
