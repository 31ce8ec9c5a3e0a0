#!/bin/sh
# Build everything and run sluiced in the foreground on 127.0.0.1:7470
# with built-in defaults.  Extra arguments go to sluiced (try -h).
set -e
cd "$(dirname "$0")"
sh tools/deps.sh
[ -x configure ] || ./autogen.sh >/dev/null
mkdir -p build
cd build
[ -f Makefile ] || ../configure -q
make -j"$(nproc)" -s
exec ./daemon/sluiced "$@"
