#!/usr/bin/env bash
# The Debian package built where Debian builds it: a clean bookworm chroot
# with build-essential only (mmdebstrap --variant=buildd), the Build-Depends
# of debian/control installed from the archive with
# `apt-get build-dep --no-install-recommends`, the source package made with
# `dpkg-source -b`, the binary package built from that source package (not
# from the checkout) by an unprivileged user, lintian over both, and the
# hardening flags checked in the binaries.  Nothing of the host's vmprep or
# libvirt is touched: the chroot runs in its own mount and PID namespaces.
#
#   tests/deb-chroot.sh
#
# The chroot (buildd variant + lintian, nothing of vmprep's) is kept as a zstd
# tarball in $DEB_CHROOT_CACHE (default /var/cache/vmprep-deb-chroot), keyed by
# a hash of its package list and of the recipe below; a missing one is built
# anew (CI starts from nothing; DEB_CHROOT_NO_CACHE=1 forces it).  Needs root,
# mmdebstrap, uidmap, zstd (tests/lab/deps.sh installs them), unshare and the
# Debian archive.  Prints "# stage NAME SECONDS" lines.  DEB_CHROOT_KEEP=1
# keeps the unpacked chroot and the logs of each step.
set -uo pipefail
repo=$(cd -- "$(dirname -- "$0")/.." && pwd)
T_SUITE=deb-chroot
# shellcheck source=tests/lib.sh
. "$repo/tests/lib.sh"

CACHE=${DEB_CHROOT_CACHE:-/var/cache/vmprep-deb-chroot}
MIRROR=${LAB_MIRROR:-http://deb.debian.org/debian}
SECURITY=${LAB_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
SUITE=bookworm
# what the chroot has besides the buildd variant (build-essential, apt)
CHROOT_PKGS="lintian devscripts"
# Bump when the mmdebstrap command below changes: it is part of the cache key.
RECIPE="recipe 1: mmdebstrap unshare buildd variant, main bookworm bookworm-updates bookworm-security"

now() { local t=${EPOCHREALTIME/./}; echo "${t:0:-3}"; } # ms
stage() { local ms=$(($(now) - $2)); printf '# stage %s %d.%01d\n' "$1" $((ms / 1000)) $((ms % 1000 / 100)); }

if [ "$(id -u)" != 0 ]; then
        t_skip "debian package in a clean chroot" "needs root"; t_done; exit
fi
"$repo/tests/lab/deps.sh" >/dev/null || { t_fail "tests/lab/deps.sh (mmdebstrap, uidmap, zstd)"; t_done; exit; }
for cmd in mmdebstrap zstd unshare chroot; do
        command -v "$cmd" >/dev/null || { t_fail "'$cmd' not found"; t_done; exit; }
done

key=$(printf '%s\n' "$RECIPE" "$MIRROR" "$SECURITY" "$SUITE" $CHROOT_PKGS | sha256sum | cut -c1-16)
mkdir -p "$CACHE"
tarball=$CACHE/buildd-$key.tar.zst

# ---- the chroot tarball, built once per key (one builder at a time) ----
t0=$(now)
exec 8>"$CACHE/.lock"
flock -w 1800 8 || { t_fail "take $CACHE/.lock"; t_done; exit; }
if [ "${DEB_CHROOT_NO_CACHE:-0}" = 1 ] || [ ! -s "$tarball" ]; then
        tmp=$tarball.tmp.$$
        include=$(tr ' ' ',' <<<"$CHROOT_PKGS")
        if mmdebstrap --mode=unshare --variant=buildd --format=tar --components=main --include="$include" \
                "$SUITE" - "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" \
                "deb $SECURITY $SUITE-security main" 2>"$CACHE/mmdebstrap.log" | zstd -q -T0 -3 -o "$tmp" \
                && [ -s "$tmp" ]; then
                mv -f -- "$tmp" "$tarball"
                find "$CACHE" -maxdepth 1 -name 'buildd-*.tar.zst' ! -name "buildd-$key.tar.zst" -delete
                stage chroot-build "$t0"
                t_ok "clean $SUITE buildd chroot made with mmdebstrap ($(du -h "$tarball" | cut -f1), key $key)"
        else
                rm -f -- "$tmp"
                t_fail "mmdebstrap $SUITE buildd chroot" "$(tail -20 "$CACHE/mmdebstrap.log")"
                t_done; exit
        fi
else
        stage chroot-cached "$t0"
        t_ok "clean $SUITE buildd chroot from the cache ($tarball)"
fi
exec 8>&-

W=$(mktemp -d /var/tmp/vmprep-deb-chroot-XXXXXX)
# DEB_CHROOT_KEEP=1: keep the chroot and the logs (said at the end)
if [ "${DEB_CHROOT_KEEP:-0}" = 1 ]; then
        trap 'echo "# kept: $W (logs: $W/*.log)"' EXIT
else
        trap 'rm -rf --one-file-system "$W"' EXIT
fi
R=$W/root
mkdir -p "$R"
t0=$(now)
# drained after tar's end marker: zstd must not die of SIGPIPE on the padding (build-image.sh)
zstd -dc -- "$tarball" | {
        tar -x -C "$R" --numeric-owner -p --exclude='./dev/*'
        st=$?
        cat >/dev/null
        exit "$st"
} || { t_fail "unpack the chroot"; t_done; exit; }
# the build runs as an unprivileged user, as on Debian's buildds
echo "builder:x:1000:1000::/build:/bin/sh" >>"$R/etc/passwd"
echo "builder:x:1000:" >>"$R/etc/group"
mkdir -p "$R/build/vmprep"
(cd "$repo" && git ls-files -z -co --exclude-standard | xargs -0 cp -P --parents -t "$R/build/vmprep")
chown -R 1000:1000 "$R/build"
cp -L /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || true
stage unpack "$t0"

# in_chroot USER SCRIPT: run SCRIPT (sh) in the chroot, with its own /proc and
# a /dev of the few nodes a build needs, in private mount and PID namespaces
in_chroot() {
        unshare --mount --pid --fork --propagation private -- /bin/sh -ec '
                R=$1; user=$2; script=$3
                mount -t proc proc "$R/proc"
                mount -t tmpfs -o mode=0755,nosuid dev "$R/dev"
                for n in null zero full random urandom tty; do
                        : > "$R/dev/$n"; mount --bind "/dev/$n" "$R/dev/$n"
                done
                ln -s /proc/self/fd "$R/dev/fd"; mkdir "$R/dev/pts" "$R/dev/shm"
                mount -t tmpfs -o mode=1777 tmp "$R/tmp"
                exec chroot --userspec="$user" "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
                        HOME=/build LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive /bin/sh -ec "$script"
        ' in-chroot "$R" "$1" "$2"
}

# step NAME USER SCRIPT: one timed step, its log in $W/NAME.log
step() {
        local t0; t0=$(now)
        if in_chroot "$2" "$3" >"$W/$1.log" 2>&1; then stage "$1" "$t0"; return 0; fi
        stage "$1" "$t0"; return 1
}

if step build-deps 0:0 'apt-get update -qq && apt-get build-dep -y -qq --no-install-recommends /build/vmprep'; then
        t_ok "Build-Depends install with apt-get build-dep --no-install-recommends"
else
        t_fail "apt-get build-dep" "$(tail -20 "$W/build-deps.log")"; t_done; exit
fi
if step source 1000:1000 'cd /build && dpkg-source -b vmprep'; then
        t_ok "dpkg-source -b accepts the format and version: $(cd "$R/build" && ls vmprep_*.dsc)"
else
        t_fail "dpkg-source -b" "$(tail -20 "$W/source.log")"; t_done; exit
fi
if step binary 1000:1000 'cd /build && mkdir from-dsc && cd from-dsc && dpkg-source -x ../vmprep_*.dsc src && cd src && dpkg-buildpackage -us -uc -b'; then
        t_ok "dpkg-buildpackage -us -uc -b from the source package, as an unprivileged user: $(cd "$R/build/from-dsc" && ls vmprep_*.deb)"
else
        t_fail "dpkg-buildpackage in the chroot" "$(tail -30 "$W/binary.log")"; t_done; exit
fi
# lintian: errors and warnings fail; every override says why where it is
# (debian/vmprep.lintian-overrides).  --show-overrides would make lintian
# exit 2 on the overridden tags themselves: they are listed by a second run.
if step lintian 1000:1000 'cd /build && lintian --fail-on error,warning --display-info vmprep_*.dsc from-dsc/vmprep_*.deb'; then
        t_ok "lintian: no error or warning ($(grep -c '^I:' "$W/lintian.log") info tags)"
else
        t_fail "lintian" "$(grep -E '^[EW]:' "$W/lintian.log" | head -30)" "$(tail -5 "$W/lintian.log")"
fi
in_chroot 1000:1000 'cd /build && lintian --show-overrides vmprep_*.dsc from-dsc/vmprep_*.deb' 2>&1 | grep -E '^[IO]:' | sed 's/^/# /'
# hardening=+all reaches the binaries: RELRO everywhere, BIND_NOW and PIE in
# the dynamic ones (a static hook has no dynamic section: no lazy binding to
# turn off), fortified and stack-protected objects.  Bookworm's
# dpkg-buildflags has no stack clash or CET flags in hardening=+all (they
# came with dpkg 1.22): hardening-check is told not to look for CET (stack
# clash it reports as "unknown", which does not fail).
if step hardening 1000:1000 'cd /build/from-dsc && dpkg-deb -x vmprep_*.deb x && for f in x/usr/sbin/vmprep x/usr/libexec/vmprep/vmprep-hook x/usr/libexec/vmprep/hooks/*; do
                echo "== $f"; readelf -d "$f" | grep -E "BIND_NOW|FLAGS|no dynamic section"; readelf -lW "$f" | grep -E "GNU_RELRO"; readelf -hW "$f" | grep Type:
        done; hardening-check --nocfprotection x/usr/sbin/vmprep x/usr/libexec/vmprep/vmprep-hook'; then
        t_ok "hardening-check: vmprep and vmprep-hook have PIE, stack protector, fortify, RELRO and BIND_NOW"
else
        t_fail "hardening of the dynamic binaries" "$(grep -vE ': yes' "$W/hardening.log" | tail -20)"
fi
bad=$(awk '/^== /{f=$2; now=0; relro=0} /BIND_NOW|no dynamic section/{now=1} /GNU_RELRO/{relro=1} /Type:/{if (!now || !relro) print f}' "$W/hardening.log")
if [ -z "$bad" ] && [ "$(grep -c '^== ' "$W/hardening.log")" -ge 6 ]; then
        t_ok "every binary has RELRO, the dynamic ones BIND_NOW (readelf -d, -l)"
else
        t_fail "RELRO and BIND_NOW (readelf)" "missing in: ${bad:-(no binaries listed)}" "$(head -40 "$W/hardening.log")"
fi
t_done
