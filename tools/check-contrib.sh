#!/bin/sh
# Check contrib/: the alert rules load and their unit tests pass
# (promtool check rules, promtool test rules), the dashboard is JSON,
# and every sluice_* metric either names one daemon/metrics.c exports
# or is one announced below, so a renamed metric cannot leave a dead
# panel or a silent alert behind.
#
# promtool comes with Debian's "prometheus" package: installed here when
# run as root, else this check is skipped with a message.
set -e
cd "$(dirname "$0")/.."

# Metrics the examples use before sluiced exports them (issue 14).
ANNOUNCED="sluice_memory_bytes sluice_memory_budget_bytes"

status=0
if ! command -v promtool >/dev/null && [ "$(id -u)" -eq 0 ] &&
    command -v apt-get >/dev/null; then
    echo "check-contrib: installing prometheus (for promtool)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends prometheus >/dev/null 2>&1 ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends prometheus \
            >/dev/null 2>&1; } || true
fi
if command -v promtool >/dev/null; then
    promtool check rules contrib/sluice-alerts.yml || status=1
    (cd contrib && promtool test rules sluice-alerts.test.yml) || status=1
else
    echo "check-contrib: skipped promtool: it is not installed" \
        "(apt-get install prometheus)" >&2
fi

python3 -c 'import json, sys; json.load(open(sys.argv[1]))' \
    contrib/sluice-dashboard.json || {
    echo "check-contrib: contrib/sluice-dashboard.json is not JSON" >&2
    status=1
}

exported=$(grep -o '"sluice_[a-z_]*' daemon/metrics.c | tr -d '"' | sort -u)
used=$(grep -ho 'sluice_[a-z_]*' contrib/sluice-alerts.yml \
    contrib/sluice-dashboard.json | sort -u)
for m in $used; do
    case " $ANNOUNCED " in *" $m "*) continue ;; esac
    echo "$exported" | grep -qx "$m" || {
        echo "check-contrib: $m is not a metric daemon/metrics.c exports" >&2
        status=1
    }
done
[ "$status" -eq 0 ] && echo "check-contrib: rules, rule tests," \
    "dashboard and metric names ok"
exit "$status"
