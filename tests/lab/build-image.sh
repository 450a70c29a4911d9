#!/usr/bin/env bash
# tests/lab/build-image.sh - build the lab guest's disk image (see ../../../shared/LAB.md):
#
#   1. a root filesystem from Debian packages (tests/lab/packages: bookworm and
#      bookworm-backports), mmdebstrap in unshare mode, no loop or host mounts;
#      kept as a zstd tarball in $LAB_CACHE (default /var/cache/vmprep-lab),
#      keyed by a hash of the package list and of the recipe below; built anew
#      whenever that tarball is missing (CI starts from nothing) or
#      LAB_NO_CACHE=1;
#   2. the tarball unpacked (without /dev) into $LAB_OUT/root, vmprep built
#      for /usr (its own build directory) and laid down there with
#      `make install DESTDIR=`, the scenarios and their domain XMLs, a oneshot
#      unit that runs them, writes TAP to /dev/ttyS1 and powers off;
#   3. `mke2fs -t ext4 -d` into $LAB_OUT/lab.ext4 (4G, sparse), and the kernels
#      and initrds copied out to $LAB_OUT/kernels/ (one "VERSION VMLINUZ INITRD"
#      line each in $LAB_OUT/kernels/list).
#
# Prints "# stage NAME SECONDS" lines for run.sh, and nothing else on stdout
# but progress.  Needs root, mmdebstrap, uidmap, zstd, e2fsprogs
# (tests/lab/deps.sh installs them).
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd -- "$HERE/../.." && pwd)
OUT=${LAB_OUT:-$REPO/build/lab}
CACHE=${LAB_CACHE:-/var/cache/vmprep-lab}
MIRROR=${LAB_MIRROR:-http://deb.debian.org/debian}
SECURITY=${LAB_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
SUITE=bookworm
IMAGE_SIZE=${LAB_IMAGE_SIZE:-4G}
# Bump when the mmdebstrap command below changes: it is part of the cache key.
RECIPE="recipe 1: mmdebstrap unshare apt-variant, no docs/man/locales, backports kernel in a customize hook"

log() { printf 'lab-image: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
now() { local t=${EPOCHREALTIME/./}; echo "${t:0:-3}"; } # ms
stage() { local ms=$(($(now) - $2)); printf '# stage %s %d.%01d\n' "$1" $((ms / 1000)) $((ms % 1000 / 100)); }

[[ $EUID == 0 ]] || die "must run as root"
for cmd in mmdebstrap newuidmap zstd mke2fs tar make; do
        command -v "$cmd" >/dev/null || die "'$cmd' not found: run tests/lab/deps.sh"
done

mapfile -t main_pkgs < <(grep -vE '^[[:space:]]*(#|$)' "$HERE/packages" | grep -v '^backports:' | tr -d ' ')
mapfile -t bpo_pkgs < <(sed -n 's/^backports:[[:space:]]*//p' "$HERE/packages")
key=$({
        printf '%s\n' "$RECIPE" "$MIRROR" "$SECURITY" "$SUITE"
        grep -vE '^[[:space:]]*(#|$)' "$HERE/packages"
} | sha256sum | cut -c1-16)

mkdir -p "$OUT"
if ! mkdir -p "$CACHE" 2>/dev/null || [[ ! -w $CACHE ]]; then
        log "cache $CACHE not writable: keeping the rootfs in $OUT"
        CACHE=$OUT
fi
tarball=$CACHE/rootfs-$key.tar.zst

# ---- 1. the root filesystem --------------------------------------------------------
t0=$(now)
if [[ ${LAB_NO_CACHE:-0} == 1 || ! -s $tarball ]]; then
        log "building the root filesystem (key $key) with mmdebstrap: ${main_pkgs[*]}; backports: ${bpo_pkgs[*]}"
        include=$(IFS=,; echo "${main_pkgs[*]}")
        hook="chroot \"\$1\" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -t $SUITE-backports ${bpo_pkgs[*]}"
        tmp=$tarball.tmp.$$
        trap 'rm -f -- "$tmp"' EXIT
        # stdout of mmdebstrap is the tarball; its progress goes to stderr
        mmdebstrap --mode=unshare --variant=apt --format=tar --components=main \
                --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
                --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
                --dpkgopt='path-exclude=/usr/share/info/*' \
                --include="$include" --customize-hook="$hook" \
                "$SUITE" - \
                "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" \
                "deb $SECURITY $SUITE-security main" "deb $MIRROR $SUITE-backports main" |
                zstd -q -T0 -3 -o "$tmp"
        mv -f -- "$tmp" "$tarball"
        trap - EXIT
        stage rootfs-build "$t0"
        # old tarballs of other package lists go; this one stays
        find "$CACHE" -maxdepth 1 -name 'rootfs-*.tar.zst' ! -name "rootfs-$key.tar.zst" -delete 2>/dev/null || true
else
        log "root filesystem from the cache: $tarball"
        stage rootfs-cached "$t0"
fi

# ---- 2. unpack, install vmprep and the scenarios --------------------------------------
t0=$(now)
root=$OUT/root
rm -rf -- "$root"
mkdir -p "$root"
# tar stops reading at the archive's end marker, and zstd, still writing the
# padding after it, may then die of SIGPIPE (exit 141 under pipefail, seen once
# in CI): the rest is drained, and tar's own status is the verdict
zstd -dc -- "$tarball" | {
        tar -x -C "$root" --numeric-owner -p --exclude='./dev/*'
        st=$?
        cat >/dev/null
        exit "$st"
}

# vmprep, built for /usr in its own build directory (the host's build/ may be
# for another PREFIX: the hooks have the full handler's path compiled in)
make -s -C "$REPO" B=build/lab-bin PREFIX=/usr all >&2
make -s -C "$REPO" B=build/lab-bin PREFIX=/usr DESTDIR="$root" install >&2
lab=$root/usr/lib/vmprep-lab
install -d "$lab/domains"
install -m 0755 "$HERE/scenarios.sh" "$HERE/guest-run.sh" "$lab/"
install -m 0644 "$REPO/tests/lib.sh" "$lab/lib.sh"
install -m 0644 "$HERE"/domains/*.xml "$lab/domains/"
# the isolation benchmark's helpers (bench/baselines), for the guest's glibc
install -d "$lab/bin"
cc -O2 -Wall -Wextra -Werror -pthread -o "$lab/bin/threads" "$REPO/bench/baselines/threads.c"
cc -O2 -Wall -Wextra -Werror -o "$lab/bin/affinity-all" "$REPO/bench/baselines/affinity-all.c"
install -m 0644 "$HERE/vmprep-lab.service" "$root/etc/systemd/system/vmprep-lab.service"
ln -sf ../vmprep-lab.service "$root/etc/systemd/system/multi-user.target.wants/vmprep-lab.service"
# LAB_MOCK_HOOKS=1: shell stand-ins for the vfio and cpus hooks not merged yet,
# to check those scenarios themselves (never for a verdict on vmprep)
if [[ ${LAB_MOCK_HOOKS:-0} == 1 ]]; then
        for h in "$HERE"/mock-hooks/*; do
                [[ -e $root/etc/libvirt/hooks/qemu.d/${h##*/} ]] || install -m 0755 "$h" "$root/etc/libvirt/hooks/qemu.d/"
        done
fi
install -m 0644 "$HERE/lab-display.service" "$root/etc/systemd/system/lab-display.service"
ln -sf lab-display.service "$root/etc/systemd/system/display-manager.service"

# nothing periodic, nothing that waits: the guest lives for one run
for u in apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer fstrim.timer \
        logrotate.timer dpkg-db-backup.timer e2scrub_reap.service libvirt-guests.service; do
        ln -sf /dev/null "$root/etc/systemd/system/$u"
done
sed -i 's/^root:[^:]*:/root::/' "$root/etc/shadow"
echo vmprep-lab >"$root/etc/hostname"
printf '/dev/vda / ext4 rw,errors=remount-ro 0 0\n' >"$root/etc/fstab"
: >"$root/etc/machine-id"

# the kernels, for -kernel/-initrd
kdir=$OUT/kernels
rm -rf -- "$kdir"
mkdir -p "$kdir"
for vmlinuz in "$root"/boot/vmlinuz-*; do
        [[ -e $vmlinuz ]] || continue
        kver=${vmlinuz##*/vmlinuz-}
        [[ -s $root/boot/initrd.img-$kver ]] || die "no initrd for $kver"
        cp -- "$vmlinuz" "$kdir/vmlinuz-$kver"
        cp -- "$root/boot/initrd.img-$kver" "$kdir/initrd.img-$kver"
        short=$(sed -E 's/^([0-9]+\.[0-9]+).*/\1/' <<<"$kver")
        printf '%s %s %s\n' "$short" "vmlinuz-$kver" "initrd.img-$kver" >>"$kdir/list"
done
[[ -s $kdir/list ]] || die "no kernel in the root filesystem"
sort -V -o "$kdir/list" "$kdir/list"
stage rootfs-unpack-install "$t0"

# ---- 3. the image ------------------------------------------------------------------
t0=$(now)
rm -f -- "$OUT/lab.ext4"
mke2fs -q -F -t ext4 -L vmprep-lab -d "$root" "$OUT/lab.ext4" "$IMAGE_SIZE"
stage mke2fs "$t0"
rm -rf -- "$root"
log "image $OUT/lab.ext4; kernels: $(cut -d' ' -f2 "$kdir/list" | tr '\n' ' ')"
