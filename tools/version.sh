#!/bin/sh
# Print libsluice's version, MAJOR.MINOR.PATCH, from client/sluice.h:
# the one place it is written.  configure.ac's AC_INIT runs this.
cd "$(dirname "$0")/.." || exit 1
v=
for part in MAJOR MINOR PATCH; do
    n=$(sed -n "s/^#define SLUICE_VERSION_$part \([0-9][0-9]*\)\$/\1/p" client/sluice.h)
    [ -n "$n" ] || { echo "tools/version.sh: no SLUICE_VERSION_$part in client/sluice.h" >&2; exit 1; }
    v=${v:+$v.}$n
done
printf '%s' "$v"
