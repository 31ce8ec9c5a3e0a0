#!/bin/sh
# Check the generated manual pages the way man-db and lintian read them:
# groff warnings (man --warnings), and a NAME section lexgrog can parse
# (whatis and apropos need it).  Any warning fails.
#   tools/check-man.sh [PAGE...]    default: build/man/*.[1-8]
set -e
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- build/man/*.[1-8]
if ! command -v man >/dev/null || ! command -v lexgrog >/dev/null; then
    echo "check-man: skipped: man-db is not installed" >&2
    exit 0
fi
status=0
for page in "$@"; do
    [ -f "$page" ] || { echo "check-man: $page: no such page" >&2; exit 1; }
    warn=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$page" \
        2>&1 >/dev/null) || status=1
    if [ -n "$warn" ]; then
        echo "$page: $warn" >&2
        status=1
    fi
    lexgrog "$page" >/dev/null || {
        echo "$page: lexgrog cannot parse its NAME section" >&2
        status=1
    }
done
[ "$status" -eq 0 ] && echo "check-man: $# pages, no warnings"
exit "$status"
