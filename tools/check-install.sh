#!/bin/sh
# Check what `make install` promises, into a scratch DESTDIR: every
# file in its place, an edited sluiced.json never overwritten (the
# example goes next to it as sluiced.json.dist, and make says so), and
# uninstall keeping the edited file but removing the rest.
#   tools/check-install.sh [BUILDDIR]     default: build
set -eu
cd "$(dirname "$0")/.."
b=${1:-build}
dest=$(mktemp -d /tmp/sluice-install.XXXXXX)
trap 'rm -rf "$dest" "$dest.log"' EXIT INT TERM
fail() { echo "check-install: FAILED: $*" >&2; exit 1; }

make -s -C "$b" install DESTDIR="$dest" >"$dest.log" 2>&1 ||
    { cat "$dest.log"; rm -f "$dest.log"; fail "make install"; }
# The installation directories, as make expands them.
dir() {
    printf 'print-dir:\n\t@echo $(%s)\n' "$1" |
        make -s -C "$b" -f Makefile -f - print-dir
}
for v in sbindir bindir libdir includedir sysconfdir mandir docdir \
    bashcompletiondir; do
    eval "$v=\$(dir $v)"
done
# shellcheck disable=SC2154 # set by the eval above
for f in "$sbindir/sluiced" "$bindir/sluice" "$libdir/libsluice.so.1" \
    "$includedir/sluice.h" "$libdir/pkgconfig/libsluice.pc" \
    "$sysconfdir/sluice/sluiced.json" "$mandir/man8/sluiced.8" \
    "$mandir/man1/sluice.1" "$mandir/man5/sluiced.json.5" \
    "$mandir/man3/libsluice.3" "$bashcompletiondir/sluice" \
    "$docdir/README.md" "$docdir/conf/README.md" \
    "$docdir/protocol/PROTOCOL.md" "$docdir/contrib/sluice-alerts.yml"; do
    [ -e "$dest$f" ] || fail "$f is not installed"
done

conf="$dest$sysconfdir/sluice/sluiced.json"
echo '{ "port": 7471 }' >"$conf"
make -s -C "$b" install DESTDIR="$dest" >"$dest.log" 2>&1 ||
    { cat "$dest.log"; rm -f "$dest.log"; fail "make install, again"; }
grep -q "kept .*sluiced.json" "$dest.log" ||
    { rm -f "$dest.log"; fail "the second install did not say it kept the config"; }
rm -f "$dest.log"
[ "$(cat "$conf")" = '{ "port": 7471 }' ] || fail "the edited config was overwritten"
cmp -s conf/sluiced.json "$conf.dist" || fail "no sluiced.json.dist"

make -s -C "$b" uninstall DESTDIR="$dest" >/dev/null 2>&1 || fail "make uninstall"
[ -f "$conf" ] || fail "uninstall removed the edited config"
left=$(find "$dest" -type f ! -path "$conf")
[ -z "$left" ] || fail "uninstall left $left"
echo "check-install: files in place, an edited config kept, uninstall clean"
