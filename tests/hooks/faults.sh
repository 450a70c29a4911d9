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
# shellcheck source=tests/hooks/tree.sh
. "$here/tree.sh"
ERRNOS=(EBUSY EINVAL ENOMEM ENODEV EIO)

# Each scenario sets HOOK and writes $ROOT/x.xml (the VM), in a fresh tree.
scenario_hugepages() {
        HOOK=$B/hooks/20-vmprep-hugepages
        new_tree
        set_pool "$P0" 7
        echo 100 > "$ROOT/.fake/node1-2048kB.max"
        echo 200 > "$ROOT/.fake/node1.compact-gain"
        domain vm1 "$UUID_A" 512 "$TAG" "<numatune><memory mode='interleave' nodeset='0-1'/></numatune>" > "$ROOT/x.xml"
}

SCENARIOS=(hugepages)

for sc in "${SCENARIOS[@]}"; do
        "scenario_$sc"
        [ -x "$HOOK" ] || { t_skip "$sc" "no $HOOK"; continue; }
        # how many kernel writes a clean prepare makes
        hook "$ROOT/x.xml" vm1 prepare begin || { t_fail "$sc: a clean prepare" "$(cat "$ERR")"; continue; }
        writes=$(wc -l < "$ROOT/.fake/writes.log")
        tried=0 fails=()
        for ((k = 1; k <= writes; k++)); do
                for e in "${ERRNOS[@]}"; do
                        "scenario_$sc"
                        before=$(snapshot)
                        VMPREP_TEST_FAIL_AT=$k:$e "$HOOK" vm1 prepare begin - < "$ROOT/x.xml" > "$OUT" 2> "$ERR"
                        st=$?
                        tried=$((tried + 1))
                        [ -s "$OUT" ] && fails+=("write $k $e: prepare printed to stdout")
                        if [ $st != 0 ] && [ $st != 1 ]; then fails+=("write $k $e: prepare exited $st: $(head -c 300 "$ERR")"); fi
                        if [ $st = 1 ] && ! grep -q "vmprep-$sc: vm1: " "$ERR"; then
                                fails+=("write $k $e: failed without saying why: $(head -c 300 "$ERR")")
                        fi
                        stop_phases "$ROOT/x.xml" vm1
                        after=$(snapshot)
                        [ "$after" = "$before" ] || fails+=("write $k $e: the tree differs after release: $(diff <(echo "$before") <(echo "$after") | head -4)")
                        ls "$ROOT"/run/vmprep/*.journal >/dev/null 2>&1 && fails+=("write $k $e: a journal is left")
                done
        done
        if [ ${#fails[@]} = 0 ] && [ $tried -gt 0 ]; then
                t_ok "$sc: each of $writes writes of prepare failing with each of ${#ERRNOS[@]} errnos ($tried runs): clean failure, tree exactly restored"
        else
                t_fail "$sc: fault injection" "${fails[@]:0:10}" "tried=$tried"
        fi
done
t_done
