#!/usr/bin/env bash
# Wall time of prepare+release of 10-vmprep-vfio against fake PCI trees
# (the test build without sanitizers, build/valgrind: the only build that
# may run against a fake root), median/min/max of ROUNDS (default 20), ms:
#   gpu-hda   a GPU + HDA pair in one IOMMU group
#   8-vfs     a PF raised to 8 VFs through 0, all 8 VFs bound (8 groups)
#   single    the boot GPU + HDA with the display manager double, fbcon, efifb
# Each round starts from a fresh tree (building it is not timed) and checks
# that the tree came back.  A fake tree is files on tmpfs or disk: these are
# the costs of vmprep's own work (journal fsyncs included), not of a
# kernel's driver probe, which on real hardware dominates (seconds for a GPU).
#   bench/vfio-cost.sh [ROUNDS]     (BENCH_TMP=/dev/shm: the tree on tmpfs, as /run is)
set -euo pipefail
here=$(cd -- "$(dirname -- "$0")" && pwd)
repo=$(cd -- "$here/.." && pwd)
ROUNDS=${1:-20}
B=$repo/build/valgrind
make -s -C "$repo" "$B/vmprep-hook" "$B/hooks/10-vmprep-vfio" "$B/pci-fixture"
HOOK=$B/hooks/10-vmprep-vfio
W=$(mktemp -d "${BENCH_TMP:-/tmp}/vmprep-vfio-bench-XXXXXX")
trap 'rm -rf "$W"' EXIT

hostdev() {
        local b=${1#*:}; local bus=${b%%:*} s=${b#*:}; s=${s%%.*}
        printf "<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x%s' slot='0x%s' function='0x%s'/></source></hostdev>" "$bus" "$s" "${1##*.}"
}
xml() { # NAME PROFILE-ELEMENTS BDF...
        local name=$1 prof=$2; shift 2
        printf "<domain type='kvm'><name>%s</name><uuid>3f2504e0-4f89-41d3-9a0c-0305e82c3301</uuid><memory unit='MiB'>512</memory>" "$name"
        printf "<metadata><vmprep:profile xmlns:vmprep='urn:vmprep:1'>%s</vmprep:profile></metadata><devices>" "$prof"
        local b; for b in "$@"; do hostdev "$b"; done
        printf "</devices></domain>\n"
}

# run LABEL FIXTURE XMLFILE CHECK-DEVICE CHECK-DRIVER
run() {
        local label=$1 fixture=$2 x=$3 dev=$4 want=$5 times=() i
        for i in $(seq 1 "$ROUNDS"); do
                local root=$W/root
                rm -rf "$root"; mkdir -p "$root/run" "$root/.fake"
                "$B/pci-fixture" "$root" base "$fixture"
                export VMPREP_ROOT=$root
                local t0=$EPOCHREALTIME
                "$HOOK" bench prepare begin - < "$x" > /dev/null
                "$HOOK" bench release end - < "$x" > /dev/null
                local t1=$EPOCHREALTIME
                local d; d=$(readlink "$root/sys/bus/pci/devices/$dev/driver" || echo none)
                [ "${d##*/}" = "$want" ] || { echo "$label: round $i: $dev on ${d##*/}, want $want" >&2; exit 1; }
                times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) * 1000 }')")
        done
        printf '%s\n' "${times[@]}" | sort -n | awk -v l="$label" -v n="$ROUNDS" '
                { v[NR] = $1 }
                END { m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
                      printf "%-8s median %8.2f ms   min %8.2f   max %8.2f   (n=%d, prepare+release)\n", l, m, v[1], v[n], n }'
}

xml bench "<vmprep:vfio/>" 0000:41:00.0 > "$W/gpu.xml"
vfs=(); for i in 0 1 2 3 4 5 6 7; do vfs+=("0000:43:1$((i / 4)).$(((i % 4) * 2))"); done
xml bench "<vmprep:vfio/><vmprep:sriov pf='0000:43:00.0' vfs='8'/>" "${vfs[@]}" > "$W/vfs.xml"
xml bench "<vmprep:vfio single-gpu='auto'/>" 0000:45:00.0 > "$W/single.xml"

echo "# $(nproc) CPUs, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); tree in $(df -P "$W" | awk 'NR==2 {print $1}')"
run gpu-hda gpu-hda "$W/gpu.xml" 0000:41:00.1 snd_hda_intel
run 8-vfs sriov-nic "$W/vfs.xml" 0000:43:00.0 ixgbe
run single boot-vga "$W/single.xml" 0000:45:00.0 amdgpu
