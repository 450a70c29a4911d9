#!/usr/bin/env bash
# The Debian package: built with dpkg-buildpackage from a copy of the tree,
# installed, the host end-to-end suite run against the installed files,
# then purged without a trace.  Needs root, dpkg-dev and debhelper.
#   tests/deb.sh
set -uo pipefail
repo=$(cd -- "$(dirname -- "$0")/.." && pwd)
T_SUITE=deb
# shellcheck source=tests/lib.sh
. "$repo/tests/lib.sh"

if [ "$(id -u)" != 0 ] || ! command -v dpkg-buildpackage >/dev/null || ! dpkg-query -W debhelper >/dev/null 2>&1; then
        t_skip "debian package" "needs root, dpkg-dev and debhelper"
        t_done; exit
fi
W=$(mktemp -d /tmp/vmprep-deb-XXXXXX)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/src"
(cd "$repo" && git ls-files -z -co --exclude-standard | xargs -0 cp -P --parents -t "$W/src")
if (cd "$W/src" && dpkg-buildpackage -us -uc -b) > "$W/build.log" 2>&1; then
        t_ok "dpkg-buildpackage -us -uc -b builds $(cd "$W" && ls vmprep_*.deb)"
else
        t_fail "dpkg-buildpackage" "$(tail -30 "$W/build.log")"
        t_done; exit
fi
deb=$(ls "$W"/vmprep_*.deb)

# one vmprep at a time: the package replaces a make install
make -s -C "$repo" uninstall > /dev/null 2>&1
if apt-get install -y -qq --no-install-recommends "$deb" > "$W/install.log" 2>&1; then
        t_ok "the package installs"
else
        t_fail "apt-get install ./vmprep.deb" "$(tail -20 "$W/install.log")"
        t_done; exit
fi
missing=()
for f in /usr/sbin/vmprep /usr/libexec/vmprep/vmprep-hook /usr/libexec/vmprep/hooks/20-vmprep-hugepages \
         /usr/share/vmprep/profiles/gaming.xml /usr/share/vmprep/profiles/profile.rng /usr/lib/tmpfiles.d/vmprep.conf \
         /usr/share/man/man8/vmprep.8.gz /usr/share/man/man5/vmprep-profile.5.gz /usr/share/bash-completion/completions/vmprep; do
        [ -e "$f" ] || missing+=("$f")
done
link=$(readlink /etc/libvirt/hooks/qemu.d/20-vmprep-hugepages)
if [ ${#missing[@]} = 0 ] && [ "$link" = /usr/libexec/vmprep/hooks/20-vmprep-hugepages ] && /usr/sbin/vmprep --version | grep -q vmprep; then
        t_ok "installed: command, handler, hook (a symlink in qemu.d), profiles, man pages, completion, tmpfiles"
else
        t_fail "installed files" "missing: ${missing[*]}" "hook link: $link"
fi
if VMPREP_USE_INSTALLED=1 PREFIX=/usr "$repo/tests/host/run.sh" > "$W/host.log" 2>&1; then
        t_ok "host end-to-end against the installed package: $(tail -1 "$W/host.log")"
else
        t_fail "host end-to-end against the installed package" "$(grep -E '^(not ok|#)' "$W/host.log" | head -20)" "$(tail -1 "$W/host.log")"
fi
dpkg --purge vmprep > "$W/purge.log" 2>&1
left=$(ls -d /usr/sbin/vmprep /usr/libexec/vmprep /usr/share/vmprep /etc/libvirt/hooks/qemu.d/20-vmprep-hugepages /etc/vmprep 2>/dev/null)
if ! dpkg-query -W vmprep >/dev/null 2>&1 || [ "$(dpkg-query -W -f='${Status}' vmprep)" = "unknown ok not-installed" ] && [ -z "$left" ]; then
        t_ok "dpkg --purge leaves nothing behind"
else
        t_fail "purge" "left: $left" "$(cat "$W/purge.log")"
fi
t_done
