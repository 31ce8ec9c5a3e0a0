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

# The pages against what they describe, so that a new command, option,
# key or function cannot go undocumented: sluice's commands and long
# options (from its --help), sluiced's long options, every key of
# conf/README.md's table, every function in client/sluice.h.
cli=${SLUICE_CLI:-build/client/sluice}
daemon=${SLUICED:-build/daemon/sluiced}
missing=0
need() {
    # need PAGE WORD WHAT: WORD must appear in man/PAGE.scd.
    grep -qwF -- "$2" "man/$1.scd" && return 0
    echo "check-man: man/$1.scd does not mention $2 ($3)" >&2
    missing=$((missing + 1))
}
if [ -x "$cli" ] && [ -x "$daemon" ]; then
    cmds=$("$cli" --help | awk '/^Commands:/ { on = 1; next }
        on && /^$/ { exit } on && /^  [a-z]/ { print $1 }')
    [ -n "$cmds" ] || { echo "check-man: no commands in sluice --help" >&2; missing=1; }
    for c in $cmds; do
        need sluice.1 "*$c*" "a sluice command"
        for o in $("$cli" "$c" --help | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
            need sluice.1 "$o" "an option of sluice $c"
        done
    done
    for o in $("$cli" --help | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
        need sluice.1 "$o" "a global option of sluice"
    done
    for o in $("$daemon" --help | grep -oE -- '(^| )-(-[a-z][a-z-]*|[a-zA-Z])' | sort -u); do
        need sluiced.8 "$o" "an option of sluiced"
    done
else
    echo "check-man: $cli or $daemon not built: options not compared" >&2
fi
for k in $(sed -n 's/^| `\([a-z_.]*\)`.*/\1/p' conf/README.md); do
    need sluiced.json.5 "*${k##*.}*" "a key in conf/README.md"
done
for f in $(grep -oE '\bsluice_[a-z_]+\(' client/sluice.h | sort -u | tr -d '('); do
    need libsluice.3 "$f" "a function in client/sluice.h"
done
if [ "$missing" -gt 0 ]; then
    echo "check-man: $missing things undocumented (see above)" >&2
    status=1
else
    echo "check-man: every command, option, key and function documented"
fi
exit "$status"
