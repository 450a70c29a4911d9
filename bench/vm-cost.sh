#!/usr/bin/env bash
# VM start and stop with a real libvirtd and QEMU/KVM (tests/host/libvirt-env.sh):
#   A. an untagged 256 MiB VM: `virsh start` (returns with the VM running) and
#      `virsh destroy` (shut off), with no hooks in qemu.d vs with the four
#      vmprep hooks, and (to tell libvirt's own cost of running hooks from
#      vmprep's) four copies of the static exec floor installed as hooks; the
#      states rotate in blocks (each round starts with the next state), each
#      switch a SIGHUP to libvirtd, so that load on this shared machine hits all alike.
#   B. a 1 GiB hugepages VM: tagged, vmprep adding 512 x 2 MiB pages at prepare
#      and taking them away at release, vs the same VM untagged using a pool of
#      512 pages that the administrator set up beforehand (allocated once, before
#      the section, kept for its whole length, as a pool reserved at boot is):
#      the cost of dynamic allocation; and, to tell the kernel's share from
#      vmprep's, the untagged VM with the same 512 pages written into the pool
#      just before its start and out of it just after its destroy (no hook).
#      Alternating VM by VM.
# Prints per label median, p10, p90 and n (ms), and ratios of medians.
# Needs root, /dev/kvm, the 2 MiB pool; takes /run/vmprep-libvirt.lock; installs
# vmprep (make install) and puts qemu.d, the pool and libvirtd's hooks back as found.
#   bench/vm-cost.sh [ROUNDS] [BLOCK]   (defaults 8 and 3: ROUNDS x 2 blocks of BLOCK starts per state)
set -uo pipefail
here=$(cd -- "$(dirname -- "$0")" && pwd)
repo=$(cd -- "$here/.." && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/host/libvirt-env.sh
. "$repo/tests/host/libvirt-env.sh"
ROUNDS=${1:-8}
BLOCK=${2:-3}
POOL=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
HOOKDIR=/etc/libvirt/hooks/qemu.d
HOOKS=(10-vmprep-vfio 20-vmprep-hugepages 30-vmprep-cpus 40-vmprep-tune)
FLOORS=(10-vmprep-bench-floor 20-vmprep-bench-floor 30-vmprep-bench-floor 40-vmprep-bench-floor)
VM=vmprep-bench-plain HPT=vmprep-bench-hp-tagged HPU=vmprep-bench-hp-pool
if [ "$(id -u)" != 0 ] || [ ! -e /dev/kvm ] || [ ! -w "$POOL" ]; then
        echo "vm-cost: needs root, /dev/kvm and a 2 MiB pool"; exit 1
fi
lv_lock || { echo "vm-cost: /run/vmprep-libvirt.lock is held"; exit 1; }
W=$(mktemp -d /tmp/vmprep-bench-vm-XXXXXX)
orig_pool=$(cat "$POOL")
# what was there before: the hooks directory, vmprep installed or not
had_hooks_dir=no; [ -d /etc/libvirt/hooks ] && had_hooks_dir=yes
had_qemu_d=no; [ -d "$HOOKDIR" ] && had_qemu_d=yes
was_installed=no; [ -x "$HOOKDIR/20-vmprep-hugepages" ] && [ -x /usr/local/libexec/vmprep/vmprep-hook ] && was_installed=yes
mkdir -p "$W/stash"
cleanup() {
        local v h
        for v in $VM $HPT $HPU; do lv_cleanup_vm "$v" >/dev/null 2>&1; done
        for h in "${HOOKS[@]}"; do [ -e "$W/stash/$h" ] && mv "$W/stash/$h" "$HOOKDIR/$h"; done
        for h in "${FLOORS[@]}"; do rm -f "$HOOKDIR/$h"; done
        if [ $was_installed = no ]; then
                make -s -C "$repo" uninstall >/dev/null 2>&1
                rm -f /etc/libvirt/hooks/daemon.d/vmprep-reconcile
                rmdir /etc/libvirt/hooks/daemon.d 2>/dev/null
                [ $had_qemu_d = no ] && rmdir "$HOOKDIR" 2>/dev/null
                [ $had_hooks_dir = no ] && rmdir /etc/libvirt/hooks 2>/dev/null
        fi
        lv_hup >/dev/null 2>&1
        echo "$orig_pool" > "$POOL"
        [ "$(cat "$POOL")" = "$orig_pool" ] || echo "vm-cost: pool $(cat "$POOL"), was $orig_pool" >&2
        rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

make -s -C "$repo" all install > "$W/make.log" 2>&1 || { echo "vm-cost: make install failed"; tail "$W/make.log"; exit 1; }
lv_up >/dev/null 2>&1 || { echo "vm-cost: libvirtd is not usable"; exit 1; }
TAG='<vmprep:profile xmlns:vmprep="urn:vmprep:1"><vmprep:hugepages/></vmprep:profile>'
for v in $VM $HPT $HPU; do lv_cleanup_vm "$v" >/dev/null 2>&1; done
lv_define_vm $VM 256 >/dev/null 2>&1 || { echo "vm-cost: cannot define $VM"; exit 1; }
lv_define_vm $HPT 1024 "" "$TAG" yes >/dev/null 2>&1 || { echo "vm-cost: cannot define $HPT"; exit 1; }
lv_define_vm $HPU 1024 "" "" yes >/dev/null 2>&1 || { echo "vm-cost: cannot define $HPU"; exit 1; }

cc -O2 -static -o "$W/floor" "$here/baselines/floor.c" || exit 1
hooks_state() { # vmprep|nohooks|floor
        local h
        for h in "${HOOKS[@]}"; do
                if [ "$1" = vmprep ]; then [ -e "$W/stash/$h" ] && mv "$W/stash/$h" "$HOOKDIR/$h"
                else [ -e "$HOOKDIR/$h" ] && mv "$HOOKDIR/$h" "$W/stash/$h"; fi
        done
        for h in "${FLOORS[@]}"; do
                if [ "$1" = floor ]; then install -m 0755 "$W/floor" "$HOOKDIR/$h"; else rm -f "$HOOKDIR/$h"; fi
        done
        lv_hup >/dev/null 2>&1
}
fail=0
# one start + destroy of $1, timed; appends "$2-start MS", "$2-destroy MS", "$2-total MS" to RAW.
# With $3 and $4, the pool is set to $3 pages before the start and to $4 after the
# destroy, inside the timed span (what the kernel alone costs a dynamic pool).
cycle() {
        local t0 t1 t2 st
        t0=${EPOCHREALTIME/[.,]/}
        if [ -n "${3:-}" ]; then
                echo "$3" > "$POOL"
                [ "$(cat "$POOL")" = "$3" ] || { echo "vm-cost: pool $(cat "$POOL"), wanted $3" >&2; fail=1; }
        fi
        if ! lv_virsh start "$1" > "$W/out" 2>&1; then echo "vm-cost: start $1: $(cat "$W/out")" >&2; fail=1; return 1; fi
        t1=${EPOCHREALTIME/[.,]/}
        st=$(lv_virsh domstate "$1" 2>&1 | head -1)
        [ "$st" = running ] || { echo "vm-cost: $1 is '$st' after start" >&2; fail=1; }
        lv_virsh destroy "$1" > "$W/out" 2>&1 || { echo "vm-cost: destroy $1: $(cat "$W/out")" >&2; fail=1; }
        [ -n "${4:-}" ] && echo "$4" > "$POOL"
        t2=${EPOCHREALTIME/[.,]/}
        st=$(lv_virsh domstate "$1" 2>&1 | head -1)
        [ "$st" = "shut off" ] || { echo "vm-cost: $1 is '$st' after destroy" >&2; fail=1; }
        awk -v l="$2" -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "%s-start %.1f\n%s-destroy %.1f\n%s-total %.1f\n", l, (b - a) / 1000, l, (c - b) / 1000, l, (c - a) / 1000 }' >> "$RAW"
}

bench_machine
echo "# A: untagged 256 MiB VM: no hooks, vmprep's four hooks, four floor execs as hooks; $ROUNDS rounds, states rotating, $BLOCK start+destroy per block; ms"
RAW=$W/raw.a; : > "$RAW"
cycle $VM warmup >/dev/null; : > "$RAW"    # first start of the run pays for caches: not counted
STATES=(nohooks vmprep floor)
for ((r = 0; r < ROUNDS; r++)); do
        for ((j = 0; j < 3; j++)); do
                s=${STATES[(r + j) % 3]}
                hooks_state "$s"
                for ((i = 0; i < BLOCK; i++)); do cycle $VM "$s"; done
        done
done
hooks_state vmprep
bench_stats "$RAW" | tee "$W/stats.a"
for x in start destroy total; do
        echo "ratio vmprep/nohooks $x $(bench_ratio vmprep-$x nohooks-$x "$W/stats.a")"
        echo "ratio floor/nohooks $x $(bench_ratio floor-$x nohooks-$x "$W/stats.a")"
        echo "ratio vmprep/floor $x $(bench_ratio vmprep-$x floor-$x "$W/stats.a")"
done
pct=$(awk '{ printf "%+.1f", ($1 - 1) * 100 }' <<<"$(bench_ratio vmprep-total nohooks-total "$W/stats.a")")
echo "goal set-adds-<2%-to-start+destroy: $pct% $(awk -v p="$pct" 'BEGIN { print (p < 2 ? "met" : "missed") }')"

echo "# B: 1 GiB hugepages VM, tagged (vmprep adds and removes 512 x 2 MiB) vs untagged with a pre-allocated pool vs untagged with the 512 pages written in before start and out after destroy (kernel); alternating, $((ROUNDS * BLOCK)) each; ms"
RAW=$W/raw.b; : > "$RAW"
base=$((orig_pool + 512))
echo "$base" > "$POOL"
[ "$(cat "$POOL")" = $base ] || { echo "vm-cost: could not pre-allocate 512 pages" >&2; fail=1; }
for ((r = 0; r < ROUNDS * BLOCK; r++)); do
        cycle $HPT dynamic
        [ "$(cat "$POOL")" = "$base" ] || { echo "vm-cost: pool $(cat "$POOL") after $HPT, want $base" >&2; fail=1; }
        cycle $HPU prealloc
        # the kernel's share: the same 512 pages added before the untagged VM's
        # start and taken away after its destroy, by a plain write, no hook
        cycle $HPU kernel $((base + 512)) "$base"
done
echo "$orig_pool" > "$POOL"
bench_stats "$RAW" | tee "$W/stats.b"
for x in start destroy total; do
        echo "ratio dynamic/prealloc $x $(bench_ratio dynamic-$x prealloc-$x "$W/stats.b")"
        echo "ratio kernel/prealloc $x $(bench_ratio kernel-$x prealloc-$x "$W/stats.b")"
        echo "ratio dynamic/kernel $x $(bench_ratio dynamic-$x kernel-$x "$W/stats.b")"
done
pct=$(awk '{ printf "%+.1f", ($1 - 1) * 100 }' <<<"$(bench_ratio dynamic-total prealloc-total "$W/stats.b")")
echo "goal dynamic-allocation-adds-<=10%: $pct% $(awk -v p="$pct" 'BEGIN { print (p <= 10 ? "met" : "missed") }')"
exit $fail
