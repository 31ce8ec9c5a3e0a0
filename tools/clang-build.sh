#!/bin/sh
# CI: build everything (tests included) with clang in build-clang/, with
# warnings as errors, and run the protocol suite, which needs no daemon.
# gcc builds and runs the whole suite in test.sh; this step catches what
# only clang warns about.
set -e
cd "$(dirname "$0")/.."
command -v clang >/dev/null || { echo "clang-build: clang is not installed" >&2; exit 1; }
[ -x configure ] || ./autogen.sh >/dev/null
mkdir -p build-clang
cd build-clang
if [ ! -f Makefile ] || ! grep -q '^CC = clang$' Makefile; then
    ../configure -q CC=clang --enable-werror
fi
make -j2 -s >build.log 2>&1 || { tail -n 40 build.log; exit 1; }
make -j2 -s check TESTS=tests/check_proto >>build.log 2>&1 || {
    tail -n 40 build.log
    tail -n 30 tests/check_proto.log 2>/dev/null
    exit 1
}
grep -E '^[0-9]+%: Checks: ' tests/check_proto.log | sed 's/^/clang check_proto: /'
