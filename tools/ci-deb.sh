#!/bin/sh
# CI: build the Debian packages from this tree, check them with lintian,
# install them, try what they installed, and remove them again.
#
#   tools/ci-deb.sh            everything (install and run need root)
#   KEEP=1 tools/ci-deb.sh     keep the build directory (it says where)
#
# The build runs in a copy of the tree (git's tracked and untracked,
# not ignored, files), so the working tree stays as it was; the .debs
# land next to that copy.  The test suites are not run again in the
# package build (DEB_BUILD_OPTIONS=nocheck): CI has run them twice by
# then.  The installed daemon listens on 127.0.0.1:7499 only, for a
# few seconds.  The packages are purged at the end, and the "sluice"
# system user too when this script made it.
set -eu
cd "$(dirname "$0")/.."
top=$PWD
port=7499
start=$(date +%s)
root=no
[ "$(id -u)" -eq 0 ] && root=yes

say() { echo "ci-deb: $*"; }
fail() { echo "ci-deb: FAILED: $*" >&2; exit 1; }

# Build dependencies and the tools, installed when root.
# (What debian/control's Build-Depends name, but for the test suites'
# own, and what the checks below run: cc, man, bash-completion.)
tools="build-essential dpkg-dev debhelper fakeroot lintian scdoc
libevent-dev libjansson-dev libsystemd-dev pkg-config man-db
bash-completion"
missing=
for p in $tools; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    [ "$root" = yes ] || fail "missing:$missing (apt-get install$missing)"
    say "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq -o DPkg::Lock::Timeout=300 \
        --no-install-recommends $missing >/dev/null
fi

version=$(dpkg-parsechangelog -l debian/changelog -S Version)
work=$(mktemp -d /tmp/sluice-deb.XXXXXX)
pid=
installed=no
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
    # Interrupted between install and purge: leave the machine clean.
    if [ "$installed" = yes ]; then purge || true; fi
    if [ "${KEEP:-}" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- build ---------------------------------------------------------------
src="$work/sluice-$version"
mkdir -p "$src"
if git rev-parse --git-dir >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard |
        (cd "$top" && xargs -0 tar -cf - --no-recursion) | tar -xf - -C "$src"
else
    tar -cf - --exclude='./build*' --exclude=./debian/.debhelper . |
        tar -xf - -C "$src"
fi
say "dpkg-buildpackage -b -us -uc in $src"
t0=$(date +%s)
(cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=2" \
    DEB_BUILD_PROFILES=nocheck dpkg-buildpackage -b -us -uc) >"$work/build.log" 2>&1 || {
    tail -n 60 "$work/build.log"
    fail "dpkg-buildpackage (log above)"
}
say "built in $(($(date +%s) - t0)) s:" \
    "$(cd "$work" && ls ./*.deb | sed 's|^\./||' | tr '\n' ' ')"

# ---- lintian -------------------------------------------------------------
t0=$(date +%s)
changes=$(ls "$work"/sluice_"$version"_*.changes)
# As nobody when root: lintian unpacks what it checks.
asuser=
if [ "$root" = yes ] && command -v setpriv >/dev/null; then
    chmod -R a+rX "$work"
    asuser="setpriv --reuid=nobody --regid=nogroup --clear-groups"
fi
# shellcheck disable=SC2086
(cd /tmp && HOME=/tmp $asuser lintian --fail-on error,warning \
    --display-info "$changes") >"$work/lintian.log" 2>&1 || {
    cat "$work/lintian.log"
    fail "lintian"
}
say "lintian in $(($(date +%s) - t0)) s: $(grep -c '^[EWIP]: ' \
    "$work/lintian.log") tags (errors, warnings, info)"
sed 's/^/  /' "$work/lintian.log"

if [ "$root" = no ]; then
    say "not root: built and checked; install and run skipped"
    exit 0
fi

# ---- install, try, purge ---------------------------------------------------
# Other jobs may hold dpkg's lock for a while: wait for it.
dpkg_retry() {
    i=0
    until out=$("$@" 2>&1); do
        if echo "$out" | grep -q "lock" && [ $i -lt 60 ]; then
            i=$((i + 1)); sleep 5; continue
        fi
        echo "$out"
        return 1
    done
    echo "$out" | grep -v '^\(Selecting\|Preparing\|Unpacking\|(Reading\)' || true
}
pkgs="sluiced sluice-tools libsluice1 libsluice-dev"
for p in $pkgs; do
    ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q installed ||
        fail "$p is installed already: not touching it"
done
had_user=no
getent passwd sluice >/dev/null && had_user=yes
purge() {
    # shellcheck disable=SC2086
    dpkg_retry dpkg --purge $pkgs >/dev/null || return 1
    if [ "$had_user" = no ] && getent passwd sluice >/dev/null; then
        userdel sluice 2>/dev/null || true
        if getent group sluice >/dev/null; then
            groupdel sluice 2>/dev/null || true
        fi
    fi
}
debs=$(cd "$work" && for p in $pkgs; do ls "$PWD/${p}_${version}_"*.deb; done)
installed=yes
say "dpkg -i $pkgs"
# shellcheck disable=SC2086
if ! dpkg_retry dpkg -i $debs; then
    say "dpkg -i left dependencies out: apt-get -f install"
    apt-get install -f -y -qq -o DPkg::Lock::Timeout=300 >/dev/null ||
        fail "installing the packages"
fi

status=0
check() {
    # check DESCRIPTION COMMAND...: run it, report it, remember a failure.
    d=$1; shift
    if out=$("$@" 2>&1); then
        say "ok: $d"
    else
        echo "$out" | sed 's/^/  /'
        say "FAILED: $d"
        status=1
    fi
}
check "sluiced -t -c /etc/sluice/sluiced.json" \
    timeout 10 /usr/sbin/sluiced -t -c /etc/sluice/sluiced.json
check "the config is a conffile" \
    sh -c 'dpkg-query -W -f="\${Conffiles}" sluiced | grep -q /etc/sluice/sluiced.json'
check "system user sluice, /var/lib/sluice its own" \
    sh -c 'getent passwd sluice >/dev/null &&
        [ "$(stat -c %U /var/lib/sluice)" = sluice ]'
check "sluiced.service enabled the Debian way" \
    test -L /etc/systemd/system/multi-user.target.wants/sluiced.service
check "sluice --version finds libsluice.so.1" timeout 10 sluice --version
check "man pages" man -w sluiced sluice sluiced.json libsluice
check "docs, and contrib/ uncompressed" sh -c "
    cd /usr/share/doc/sluiced && test -f protocol/PROTOCOL.md.gz &&
    test -f contrib/sluice-dashboard.json && test -f contrib/sluice-alerts.yml"
check "bash completion of the commands" bash -c "
    . /usr/share/bash-completion/bash_completion
    . /usr/share/bash-completion/completions/sluice
    COMP_WORDS=(sluice ''); COMP_CWORD=1; COMP_LINE='sluice '
    COMP_POINT=7; _sluice 2>/dev/null
    w=\" \${COMPREPLY[*]} \"; [[ \$w == *' put '* && \$w == *' get '* ]]"
check "a program builds with pkg-config libsluice" sh -c "
    printf '#include <sluice.h>\nint main(void){return sluice_connect(\"127.0.0.1\",1,100)==0;}\n' \
        >'$work/t.c' &&
    cc -o '$work/t' '$work/t.c' \$(pkg-config --cflags --libs libsluice) &&
    '$work/t'"

# The installed daemon, as the sluice user, on 127.0.0.1:$port.
run=
command -v setpriv >/dev/null &&
    run="setpriv --reuid=sluice --regid=sluice --clear-groups"
: >"$work/sluiced.log"
$run timeout 30 /usr/sbin/sluiced -c /etc/sluice/sluiced.json \
    -l 127.0.0.1 -p $port >"$work/sluiced.log" 2>&1 &
pid=$!
i=0
until grep -q "listening on" "$work/sluiced.log" || [ $i -ge 100 ]; do
    kill -0 "$pid" 2>/dev/null || break
    i=$((i + 1)); sleep 0.1
done
check "the installed sluiced answers sluice -p $port ping" \
    timeout 10 sluice -p $port ping
check "a message through it" sh -c "
    timeout 10 sluice -p $port put ci-deb hello &&
    [ \"\$(timeout 10 sluice -p $port get ci-deb)\" = hello ]"
check "bash completion offers the server's queues" bash -c "
    . /usr/share/bash-completion/bash_completion
    . /usr/share/bash-completion/completions/sluice
    COMP_WORDS=(sluice -p $port get ci-); COMP_CWORD=4
    COMP_LINE='sluice -p $port get ci-'; COMP_POINT=\${#COMP_LINE}
    _sluice 2>/dev/null; [ \"\${COMPREPLY[*]}\" = ci-deb ]"
kill -TERM "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
pid=
grep -q "stopped" "$work/sluiced.log" || {
    sed 's/^/  /' "$work/sluiced.log"
    say "FAILED: sluiced did not stop cleanly on SIGTERM"
    status=1
}

check "an edited conffile survives a reinstall" sh -c "
    sed -i 's/\"port\": 7470/\"port\": 7471/' /etc/sluice/sluiced.json &&
    dpkg -i $work/sluiced_${version}_*.deb >/dev/null 2>&1 &&
    grep -q '\"port\": 7471' /etc/sluice/sluiced.json"

say "dpkg --purge $pkgs"
installed=no
purge || fail "purging the packages"
for f in /etc/sluice /var/lib/sluice /usr/sbin/sluiced /usr/bin/sluice; do
    [ ! -e "$f" ] || { say "FAILED: $f is left after purge"; status=1; }
done
say "$([ $status -eq 0 ] && echo passed || echo FAILED)" \
    "in $(($(date +%s) - start)) s"
exit $status
