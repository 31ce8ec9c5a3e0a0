#!/bin/sh
# Make sure the Debian packages sluice builds and tests with are present.
# As root, installs what is missing with apt-get; otherwise names it and
# fails.  Run by run.sh and test.sh; `tools/deps.sh --list` prints the
# list.  `tools/deps.sh ci` adds what only CI's extra steps need: clang
# and its sanitizer/libFuzzer runtime (tools/clang-build.sh,
# tools/fuzz.sh) and abigail-tools (tools/abicheck.sh).
set -e

SLUICE_DEPS="autoconf automake libtool pkg-config make gcc
libevent-dev libjansson-dev libisal-dev libssl-dev openssl
libraft-dev libuv1-dev liblz4-dev check libsystemd-dev
systemd nodejs scdoc man-db python3 python3-pip python3-setuptools python3-wheel"
SLUICE_CI_DEPS="clang libclang-rt-14-dev abigail-tools"

case "${1:-}" in
--list) echo $SLUICE_DEPS; exit 0 ;;
ci) SLUICE_DEPS="$SLUICE_DEPS $SLUICE_CI_DEPS" ;;
esac

missing=
for p in $SLUICE_DEPS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        echo "installing:$missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # shellcheck disable=SC2086
        apt-get install -y -qq --no-install-recommends $missing >/dev/null
    else
        echo "missing build dependencies:$missing" >&2
        echo "install them with: sudo apt-get install$missing" >&2
        exit 1
    fi
fi
