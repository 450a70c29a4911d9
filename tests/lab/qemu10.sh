#!/usr/bin/env bash
# tests/lab/qemu10.sh - QEMU 10 from bookworm-backports beside the system QEMU,
# for the lab's igb (an SR-IOV NIC that QEMU 7.2 lacks; ../shared/LAB.md).
#
# The .debs (qemu-system-x86, -common, -data, seabios) are fetched with a
# private apt state, so the host's sources and package database are left
# alone, and unpacked with dpkg -x into $LAB_CACHE/qemu10 (default
# /var/cache/vmprep-lab).  A cached copy that starts and offers igb is used
# as it is; LAB_NO_CACHE=1 fetches anew.  Nothing depends on the cache.
#
# Prints the directory (its usr/bin/qemu-system-x86_64 needs
# QEMU_MODULE_DIR=DIR/usr/lib/x86_64-linux-gnu/qemu and -L DIR/usr/share/seabios
# -L DIR/usr/share/qemu); exits 1 with the reason on stderr when QEMU 10 cannot
# be had.
set -euo pipefail

CACHE=${LAB_CACHE:-/var/cache/vmprep-lab}
MIRROR=${LAB_MIRROR:-http://deb.debian.org/debian}
DIR=$CACHE/qemu10
PKGS=(qemu-system-x86 qemu-system-common qemu-system-data seabios)

die() { echo "qemu10: $*" >&2; exit 1; }

# usable DIR: the unpacked QEMU runs and knows the igb device
usable() {
        QEMU_MODULE_DIR=$1/usr/lib/x86_64-linux-gnu/qemu \
                "$1/usr/bin/qemu-system-x86_64" -device igb,help 2>/dev/null | grep -q '^igb options'
}

if [[ ${LAB_NO_CACHE:-0} != 1 ]] && [[ -x $DIR/usr/bin/qemu-system-x86_64 ]] && usable "$DIR"; then
        echo "$DIR"
        exit 0
fi

command -v apt-get >/dev/null && command -v dpkg >/dev/null || die "needs apt-get and dpkg (Debian)"
W=$(mktemp -d /tmp/vmprep-qemu10.XXXXXX)
trap 'rm -rf -- "$W"' EXIT
mkdir -p "$W/lists/partial" "$W/archives/partial" "$W/x"
echo "deb $MIRROR bookworm-backports main" >"$W/sources.list"
APT=(-o "Dir::Etc::SourceList=$W/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=$W/lists" -o "Dir::Cache::archives=$W/archives"
        -o APT::Sandbox::User=root -o Debug::NoLocking=1)
apt-get "${APT[@]}" -qq update >"$W/apt.log" 2>&1 || die "apt-get update of bookworm-backports failed: $(tail -n 3 "$W/apt.log")"
(cd "$W" && apt-get "${APT[@]}" -qq download "${PKGS[@]/%//bookworm-backports}") >"$W/apt.log" 2>&1 ||
        die "downloading ${PKGS[*]} from bookworm-backports failed: $(tail -n 3 "$W/apt.log")"
for deb in "$W"/*.deb; do dpkg -x "$deb" "$W/x" || die "dpkg -x $deb failed"; done
usable "$W/x" || die "the unpacked QEMU does not start or has no igb device"
mkdir -p "$CACHE"
rm -rf -- "$DIR.new" "$DIR"
mv -- "$W/x" "$DIR.new"
mv -- "$DIR.new" "$DIR"
echo "$DIR"
