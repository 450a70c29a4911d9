#!/bin/sh
# Install what the lab (tests/lab) needs on the host, as root, on Debian 12:
# mmdebstrap builds the guest's root filesystem in unshare mode (uidmap and
# subordinate ids for root), mke2fs -d makes the image, QEMU boots it.
set -eu
PKGS="mmdebstrap uidmap zstd e2fsprogs qemu-system-x86 coreutils"
missing=""
for p in $PKGS; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
        echo "installing:$missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # shellcheck disable=SC2086
        apt-get install -y -qq --no-install-recommends $missing
fi
# unshare mode maps root's subordinate ids
for f in /etc/subuid /etc/subgid; do
        grep -q '^root:' "$f" 2>/dev/null || echo "root:100000:65536" >>"$f"
done
