#!/usr/bin/env bash
# What one vmprep hook costs per phase, against the exec floor, measured in
# the same run on this machine (medians of ROUNDS runs, microseconds):
#   - untagged VM: floor (static read-stdin-exit), the vmprep hook (fast path),
#     the full handler run directly (what every VM would pay without the fast path),
#     and the community bash dispatcher (bench/baselines/qemu-dispatcher, in a
#     temporary BASEDIR whose qemu.d holds another VM's scripts, as on a host
#     where one VM is set up with it), and each of the four hooks alone
#   - the whole set for an untagged VM: all four vmprep hooks run one after the
#     other per phase, as libvirt runs qemu.d, against four floor execs
#   - hugepages VM (tagged, 256 MiB): every phase, prepare and release for
#     real against this machine's hugepage pool (put back as found)
# Needs root for the tagged part (it writes nr_hugepages); the untagged part runs anywhere.
#   bench/hook-cost.sh [ROUNDS]          (default 50; make bench-hooks)
set -euo pipefail
here=$(cd -- "$(dirname -- "$0")" && pwd)
repo=$(cd -- "$here/.." && pwd)
ROUNDS=${1:-50}
B=$repo/build
W=$(mktemp -d /tmp/vmprep-bench-XXXXXX)
POOL=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
orig_pool=
cleanup() {
        [ -n "$orig_pool" ] && echo "$orig_pool" > "$POOL"
        rm -rf "$W"
}
trap cleanup EXIT

make -s -C "$repo" all
cc -O2 -static -o "$W/floor" "$here/baselines/floor.c"
cc -O2 -Wall -o "$W/hookbench" "$here/hookbench.c"

# A typical desktop domain as libvirt hands it to hooks (a real user's XML).
corpus=$repo/../shared/corpus/user-xml/bryansteiner-win10.xml
if [ -f "$corpus" ]; then cp "$corpus" "$W/untagged.xml"; else cp "$repo/tests/fixtures/seed/02-gpu-passthrough.xml" "$W/untagged.xml"; fi

# The community dispatcher in a temporary BASEDIR (never /etc/libvirt): another
# VM (win10) has its start/stop scripts there; the VM under test has none.
mkdir -p "$W/hooks/qemu.d/win10/prepare/begin" "$W/hooks/qemu.d/win10/release/end"
cp "$here/baselines/qemu-dispatcher" "$W/hooks/qemu"
printf '#!/bin/bash\necho 3 > /dev/null\n' > "$W/hooks/qemu.d/win10/prepare/begin/start.sh"
printf '#!/bin/bash\necho 3 > /dev/null\n' > "$W/hooks/qemu.d/win10/release/end/revert.sh"
chmod +x "$W/hooks/qemu" "$W/hooks/qemu.d/win10/prepare/begin/start.sh" "$W/hooks/qemu.d/win10/release/end/revert.sh"

# The hook under test must exec the handler it was built for: run the installed
# one when it is this build, else the build tree's (which execs LIBEXECDIR's).
HOOK=$B/hooks/20-vmprep-hugepages
HOOKS=("$B/hooks/10-vmprep-vfio" "$B/hooks/20-vmprep-hugepages" "$B/hooks/30-vmprep-cpus" "$B/hooks/40-vmprep-tune")
echo "# machine: $(nproc) CPUs, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1 /proc/loadavg)"
echo "# rounds: $ROUNDS, interleaved (floor, hook, full handler, dispatcher, floor, ...) so that load hits all alike"
echo "# columns: label phase median_us p10_us p90_us; then ratios of medians"
ALL=(prepare start started stopped release)
RAW=$W/raw
# summarise RAW: per label and phase the median, 10th and 90th percentile;
# then each label's median over the floor's, per phase and for all phases
summarise() {
        sort -k1,1 -k2,2 -k3,3n "$1" | awk '
        { key = $1 " " $2; v[key, ++n[key]] = $3; if (!(key in seen)) { seen[key] = 1; order[++k] = key } }
        END {
                for (i = 1; i <= k; i++) {
                        key = order[i]; m = n[key]
                        med[key] = v[key, int((m + 1) / 2)]
                        printf "%s %.0f %.0f %.0f\n", key, med[key], v[key, int(m / 10) + 1], v[key, m - int(m / 10)]
                        split(key, kp, " "); sum[kp[1]] += med[key]
                }
                for (i = 1; i <= k; i++) {
                        split(order[i], kp, " ")
                        if (kp[1] != "floor" && ("floor " kp[2]) in med)
                                printf "ratio %s/floor %s %.2f\n", kp[1], kp[2], med[order[i]] / med["floor " kp[2]]
                }
                for (l in sum)
                        if (l != "floor" && ("floor" in sum))
                                printf "ratio %s/floor all-phases %.2f\n", l, sum[l] / sum["floor"]
                for (i = 1; i <= k; i++) {
                        split(order[i], kp, " ")
                        if (kp[1] ~ /^vmprep/ && ("bash-dispatcher " kp[2]) in med)
                                printf "ratio %s/bash-dispatcher %s %.2f\n", kp[1], kp[2], med[order[i]] / med["bash-dispatcher " kp[2]]
                        if (kp[1] == "vmprep-set" && ("floor-x4 " kp[2]) in med)
                                printf "ratio vmprep-set/floor-x4 %s %.2f\n", kp[2], med[order[i]] / med["floor-x4 " kp[2]]
                }
                if (("vmprep-set" in sum) && ("floor-x4" in sum))
                        printf "ratio vmprep-set/floor-x4 all-phases %.2f\n", sum["vmprep-set"] / sum["floor-x4"]
        }'
}
: > "$RAW"
for ((r = 0; r < ROUNDS; r++)); do
        "$W/hookbench" -n 1 -x "$W/untagged.xml" -l floor "$W/floor" "${ALL[@]}"
        "$W/hookbench" -n 1 -x "$W/untagged.xml" -l vmprep-untagged "$HOOK" "${ALL[@]}"
        # the full handler alone on the same input: what every VM would pay without the fast path
        "$W/hookbench" -n 1 -x "$W/untagged.xml" -l full-handler-untagged -c hugepages "$B/vmprep-hook" "${ALL[@]}"
        "$W/hookbench" -n 1 -x "$W/untagged.xml" -l bash-dispatcher "$W/hooks/qemu" "${ALL[@]}"
        # each of the four hooks alone (vmprep-10-vfio ...)
        for h in "${HOOKS[@]}"; do
                n=${h##*/}; "$W/hookbench" -n 1 -x "$W/untagged.xml" -l "vmprep-${n%%-vmprep*}-${n##*vmprep-}" "$h" "${ALL[@]}"
        done
done >> "$RAW"
summarise "$RAW"

# the whole set, untagged: four hooks per phase against four floor execs
echo "# the set: ${HOOKS[*]##*/} per phase, against floor x4 (interleaved)"
: > "$RAW"
for ((r = 0; r < ROUNDS; r++)); do
        "$W/hookbench" -n 1 -x "$W/untagged.xml" -l floor-x4 -k 4 "$W/floor" "$W/floor" "$W/floor" "$W/floor" "${ALL[@]}"
        "$W/hookbench" -n 1 -x "$W/untagged.xml" -l vmprep-set -k 4 "${HOOKS[@]}" "${ALL[@]}"
done >> "$RAW"
summarise "$RAW" | grep -v '^ratio vmprep-set/floor '

if [ "$(id -u)" = 0 ] && [ -w "$POOL" ] && [ -x /usr/local/libexec/vmprep/vmprep-hook ]; then
        # the pool is shared with the host suites and other benchmarks
        exec 9>/run/vmprep-libvirt.lock
        flock -w 900 9 || { echo "hook-cost: /run/vmprep-libvirt.lock is held"; exit 1; }
        orig_pool=$(cat "$POOL")
        uuid=5b1c0f0e-0d7b-4a4e-9a3e-6c8a1f2b3c4d
        rm -f "/run/vmprep/$uuid.hugepages.journal"
        cat > "$W/tagged.xml" <<EOX
<domain type='kvm'><name>bench-vm</name><uuid>$uuid</uuid><memory unit='MiB'>256</memory>
<memoryBacking><hugepages/></memoryBacking><vcpu>1</vcpu>
<metadata><vmprep:profile xmlns:vmprep="urn:vmprep:1"><vmprep:hugepages/></vmprep:profile></metadata>
<devices><serial type='pty'/></devices></domain>
EOX
        : > "$RAW"
        for ((r = 0; r < ROUNDS; r++)); do
                "$W/hookbench" -n 1 -x "$W/untagged.xml" -l floor "$W/floor" "${ALL[@]}"
                "$W/hookbench" -n 1 -x "$W/tagged.xml" -l vmprep-hugepages "$HOOK" "${ALL[@]}"
        done >> "$RAW"
        summarise "$RAW" | grep -v '^floor '
        [ "$(cat "$POOL")" = "$orig_pool" ] || { echo "pool not restored: $(cat "$POOL") vs $orig_pool"; exit 1; }
else
        echo "# tagged hugepages VM: skipped (needs root, $POOL and an installed vmprep: make install)"
fi
