#!/usr/bin/env bash
# Fault injection: for each hook and each kernel write K of a full prepare,
# that write fails with each errno the kernel really returns there (EBUSY,
# EINVAL, ENOMEM, ENODEV, EIO; VMPREP_TEST_FAIL_AT in the test build).  The
# hook must fail cleanly (or cope), and libvirt's follow-up stopped+release
# must leave every kernel file of the fake tree exactly as before.
#   tests/hooks/faults.sh build/test
set -uo pipefail
here=$(cd -- "$(dirname -- "$0")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
B=${1:-build/test}
case $B in /*) ;; *) B=$repo/$B ;; esac
T_SUITE=faults
# shellcheck source=tests/lib.sh
. "$repo/tests/lib.sh"
# shellcheck source=tests/hooks/lib.sh
. "$here/lib.sh"
# the trees of the hooks' own suites
# shellcheck source=tests/hooks/hp_tree.sh
. "$here/hp_tree.sh"
# shellcheck source=tests/hooks/cpus_tree.sh
. "$here/cpus_tree.sh"
# shellcheck source=tests/hooks/tune_tree.sh
. "$here/tune_tree.sh"
ERRNOS=(EBUSY EINVAL ENOMEM ENODEV EIO)

# Each scenario sets HOOK and NAME and writes $ROOT/x.xml (the VM), in a fresh tree.
scenario_hugepages() {
        HOOK=$B/hooks/20-vmprep-hugepages NAME=vm1
        hp_tree
        set_pool "$P0" 7
        echo 100 > "$ROOT/.fake/node1-2048kB.max"
        echo 200 > "$ROOT/.fake/node1.compact-gain"
        domain vm1 "$UUID_A" 512 "$TAG" "<numatune><memory mode='interleave' nodeset='0-1'/></numatune>" > "$ROOT/x.xml"
}
scenario_vfio() {
        HOOK=$B/hooks/10-vmprep-vfio NAME=g1
        hp_tree
        "$B/pci-fixture" "$ROOT" base gpu-hda sriov-nic
        cp "$repo/tests/fixtures/domains/gpu-hda-sriov.xml" "$ROOT/x.xml"
}
# the isolated VM of the cpus scenarios
cpus_vm() {
        printf "<domain type='kvm'><name>vm1</name><uuid>%s</uuid><vcpu>2</vcpu><cputune><vcpupin vcpu='0' cpuset='2'/><vcpupin vcpu='1' cpuset='3'/></cputune><metadata><vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:isolate/></vmprep:profile></metadata></domain>\n" "$UUID_A" > "$ROOT/x.xml"
}
scenario_cpus_v1() {
        HOOK=$B/hooks/30-vmprep-cpus NAME=vm1
        tree_v1
        cpus_vm
}
scenario_cpus_v2() {
        HOOK=$B/hooks/30-vmprep-cpus NAME=vm1
        tree_v2
        cpus_vm
}
scenario_tune() {
        HOOK=$B/hooks/40-vmprep-tune NAME=vm1
        tune_tree
        printf "<domain type='kvm'><name>vm1</name><uuid>%s</uuid><vcpu>2</vcpu><cputune><vcpupin vcpu='0' cpuset='2'/><vcpupin vcpu='1' cpuset='3'/></cputune><metadata><vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:tune governor='performance' max-cstate='1' thp='never' ksm='off' rt-runtime='unlimited' swappiness='0' stat-interval='10'/></vmprep:profile></metadata></domain>\n" "$UUID_A" > "$ROOT/x.xml"
}

# Every kernel-side file as the kernel shows it (a trailing newline is no
# difference), every symlink with its target (drivers, IOMMU groups), every
# directory (cgroups): vmprep's state and the fake kernel's controls excluded.
# (compact_memory is a trigger: what was written to it is no state)
SNAPSHOT=("text:sys,proc,dev,run/systemd" "links:sys,dev" "dirs:sys,dev" "skip:proc/sys/vm/compact_memory")

SCENARIOS=(hugepages vfio cpus_v1 cpus_v2 tune)

for sc in "${SCENARIOS[@]}"; do
        "scenario_$sc"
        [ -x "$HOOK" ] || { t_skip "$sc" "no $HOOK"; continue; }
        cap=${HOOK##*-vmprep-}
        hook "$ROOT/x.xml" "$NAME" prepare begin || { t_fail "$sc: a clean prepare" "$(cat "$ERR")"; continue; }
        tried=0 fails=() writes=0
        # K counts the hook's kernel writes; past the last one no fault is injected
        for ((k = 1; k <= 500; k++)); do
                injected=0
                for e in "${ERRNOS[@]}"; do
                        "scenario_$sc"
                        before=$(snapshot)
                        VMPREP_TEST_FAIL_AT=$k:$e "$HOOK" "$NAME" prepare begin - < "$ROOT/x.xml" > "$OUT" 2> "$ERR"
                        st=$?
                        if ! grep -q "test fault: write $k " "$ERR"; then
                                stop_phases "$ROOT/x.xml" "$NAME"
                                break
                        fi
                        injected=1
                        tried=$((tried + 1))
                        [ -s "$OUT" ] && fails+=("write $k $e: prepare printed to stdout")
                        if [ $st != 0 ] && [ $st != 1 ]; then fails+=("write $k $e: prepare exited $st: $(head -c 300 "$ERR")"); fi
                        if [ $st = 1 ] && ! grep -q "vmprep-$cap: $NAME: " "$ERR"; then
                                fails+=("write $k $e: failed without saying why: $(head -c 300 "$ERR")")
                        fi
                        # said where it failed (log.h), never only by hook_main's net for a path that forgot,
                        # and said once
                        if grep -q "said nothing about why" "$ERR"; then
                                fails+=("write $k $e: no message where it failed: $(head -c 300 "$ERR")")
                        fi
                        dup=$(grep -v "test fault" "$ERR" | sort | uniq -d | head -2)
                        [ -z "$dup" ] || fails+=("write $k $e: the same line twice: $dup")
                        stop_phases "$ROOT/x.xml" "$NAME"
                        after=$(snapshot)
                        [ "$after" = "$before" ] || fails+=("write $k $e: the tree differs after release: $(diff <(echo "$before") <(echo "$after") | head -4)")
                        ls "$ROOT"/run/vmprep/*.journal >/dev/null 2>&1 && fails+=("write $k $e: a journal is left")
                done
                [ $injected = 1 ] || break
                writes=$k
        done
        if [ ${#fails[@]} = 0 ] && [ $tried -gt 0 ]; then
                t_ok "$sc: each of $writes writes of prepare failing with each of ${#ERRNOS[@]} errnos ($tried runs): clean failure, tree exactly restored"
        else
                t_fail "$sc: fault injection" "${fails[@]:0:10}" "tried=$tried"
        fi
done
t_done
