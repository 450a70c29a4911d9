#!/bin/sh
# Install what vmprep needs to build, test and run on Debian 12, as root.
# Only missing packages are installed (--no-install-recommends: the
# recommends of libvirt pull in udev, whose postinst must not run in a
# container).
#   tools/install-deps.sh --bench   also what `make bench` needs (gnuplot-nox for the plots)
set -eu
PKGS="gcc make pkg-config libc6-dev libxml2-dev libxml2-utils libvirt-dev libpci-dev libkmod-dev libmnl-dev valgrind libsystemd-dev shellcheck git dpkg-dev debhelper python3 clang libclang-rt-14-dev
      libvirt-daemon-system libvirt-clients qemu-system-x86 tini"
[ "${1:-}" = --bench ] && PKGS="$PKGS gnuplot-nox"
missing=""
for p in $PKGS; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
