#!/bin/bash
# tests/host/selftest-env.sh - check that tests/host/libvirt-env.sh works on
# this machine, with a real libvirtd and real (tiny) VMs.  Run as root.
#
#   tests/host/selftest-env.sh           leave libvirtd running at the end
#   tests/host/selftest-env.sh --down    also lv_down, and lv_up/lv_down again
#                                        (only stops a libvirtd lv_up started)
#
# Steps: lv_up; build the boot sector; define a VM (with metadata and extra
# XML) and check its XML; start it; wait for the guest; `virsh shutdown` ->
# "shut off" within 10 s; start again; `virsh destroy`; lv_hup; then a
# hugepages VM after raising nr_hugepages (2 MiB pages) by exactly 128 (256
# MiB), restored to the value found on every exit path.  No VM is left
# defined.  Prints the timings in ms.
set -u -o pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=libvirt-env.sh
. "$HERE/libvirt-env.sh"

VM=vmprep-selftest-env
VMH=vmprep-selftest-env-huge
HP=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
HP_NEED=128 # 256 MiB / 2 MiB
hp_orig=""
do_down=no

case ${1:-} in
    "") ;;
    --down) do_down=yes ;;
    *)
        echo "usage: $0 [--down]" >&2
        exit 2
        ;;
esac

say() { printf 'selftest-env: %s\n' "$*"; }
fail() {
    printf 'selftest-env: FAIL: %s\n' "$*" >&2
    exit 1
}

restore_hugepages() {
    [[ -n $hp_orig ]] || return 0
    local now
    # Pages of a QEMU that just exited may take a moment to come back.
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        echo "$hp_orig" >"$HP" 2>/dev/null
        now=$(cat "$HP")
        if [[ $now == "$hp_orig" ]]; then
            hp_orig=""
            return 0
        fi
        sleep 0.2
    done
    echo "selftest-env: ERROR: nr_hugepages is $now, could not restore $hp_orig" >&2
    return 1
}

cleanup() {
    local rc=$?
    trap - EXIT
    lv_cleanup_vm "$VM"
    lv_cleanup_vm "$VMH"
    restore_hugepages || rc=1
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

((EUID == 0)) || fail "must run as root"

# --- libvirtd ---------------------------------------------------------------
t=$(lv_now_ms)
lv_up || fail "lv_up"
t_up=$(($(lv_now_ms) - t))
say "libvirtd answers (lv_up ${t_up} ms, pid $(lv_libvirtd_pid))"

# --- boot sector ------------------------------------------------------------
lv_bootsector || fail "lv_bootsector"
sig=$(od -An -tx1 -j510 -N2 "$LV_BOOTSECTOR" | tr -d ' \n')
[[ $sig == 55aa ]] || fail "boot sector signature is '$sig', not 55aa"
say "boot sector built: $LV_BOOTSECTOR"

# --- define -----------------------------------------------------------------
lv_cleanup_vm "$VM"
lv_cleanup_vm "$VMH"
extra=$(mktemp) || fail "mktemp"
echo "<description>vmprep selftest-env</description>" >"$extra"
lv_define_vm "$VM" 256 "$extra" \
    '<vt:selftest xmlns:vt="urn:vmprep-test:selftest" ok="yes"/>' no 2>/dev/null ||
    fail "lv_define_vm $VM"
rm -f "$extra"
xml=$(lv_virsh dumpxml "$VM") || fail "dumpxml $VM"
grep -q 'urn:vmprep-test:selftest' <<<"$xml" || fail "metadata missing from $VM"
grep -q '<description>vmprep selftest-env</description>' <<<"$xml" ||
    fail "extra XML missing from $VM"
if grep -Eq '<hostdev|<interface' <<<"$xml"; then
    fail "$VM has a hostdev or interface"
fi
say "defined $VM"

# --- start, shutdown ----------------------------------------------------------
t=$(lv_now_ms)
lv_virsh start "$VM" >/dev/null || fail "virsh start $VM"
t_start=$(($(lv_now_ms) - t))
lv_wait_state "$VM" running 5 || fail "$VM not running"
t=$(lv_now_ms)
lv_wait_booted "$VM" 20 || fail "$VM guest did not come up"
t_boot=$(($(lv_now_ms) - t + t_start))
t=$(lv_now_ms)
lv_virsh shutdown "$VM" >/dev/null || fail "virsh shutdown $VM"
lv_wait_state "$VM" "shut off" 10 || fail "$VM did not power off on virsh shutdown"
t_shutdown=$(($(lv_now_ms) - t))
reason=$(lv_virsh domstate --reason "$VM" | head -n 1)
say "start ${t_start} ms, guest ready ${t_boot} ms after start, shutdown ${t_shutdown} ms ($reason)"

# --- start, destroy -----------------------------------------------------------
t=$(lv_now_ms)
lv_virsh start "$VM" >/dev/null || fail "virsh start $VM (2nd)"
t_start2=$(($(lv_now_ms) - t))
lv_wait_state "$VM" running 5 || fail "$VM not running (2nd)"
t=$(lv_now_ms)
lv_virsh destroy "$VM" >/dev/null || fail "virsh destroy $VM"
t_destroy=$(($(lv_now_ms) - t))
lv_wait_state "$VM" "shut off" 5 || fail "$VM not shut off after destroy"
say "start ${t_start2} ms, destroy ${t_destroy} ms"

# --- SIGHUP -------------------------------------------------------------------
t=$(lv_now_ms)
lv_hup || fail "lv_hup"
say "lv_hup $(($(lv_now_ms) - t)) ms"

# --- hugepages ----------------------------------------------------------------
[[ -w $HP ]] || fail "$HP not writable"
hp_found=$(cat "$HP")
hp_orig=$hp_found # from here on, the EXIT trap restores it
echo $((hp_found + HP_NEED)) >"$HP" || fail "cannot write $HP"
hp_now=$(cat "$HP")
((hp_now == hp_found + HP_NEED)) ||
    fail "nr_hugepages is $hp_now after asking for $((hp_found + HP_NEED)) (memory too fragmented?)"
free_before=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
lv_define_vm "$VMH" 256 "" "" yes 2>/dev/null || fail "lv_define_vm $VMH"
lv_virsh dumpxml "$VMH" | grep -q '<hugepages/>' || fail "$VMH has no <hugepages/>"
t=$(lv_now_ms)
lv_virsh start "$VMH" >/dev/null || fail "virsh start $VMH"
t_hstart=$(($(lv_now_ms) - t))
lv_wait_state "$VMH" running 5 || fail "$VMH not running"
free_after=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
((free_before - free_after == HP_NEED)) ||
    fail "$VMH took $((free_before - free_after)) huge pages, expected $HP_NEED"
t=$(lv_now_ms)
lv_virsh destroy "$VMH" >/dev/null || fail "virsh destroy $VMH"
t_hdestroy=$(($(lv_now_ms) - t))
lv_cleanup_vm "$VMH"
restore_hugepages || fail "could not restore nr_hugepages"
say "hugepages: start ${t_hstart} ms (used $HP_NEED pages), destroy ${t_hdestroy} ms, nr_hugepages back to $hp_found"

# --- cleanup ------------------------------------------------------------------
lv_cleanup_vm "$VM"
for name in "$VM" "$VMH"; do
    if lv_virsh dominfo "$name" >/dev/null 2>&1; then
        fail "$name still defined"
    fi
done

if [[ $do_down == yes ]]; then
    t=$(lv_now_ms)
    lv_down || fail "lv_down"
    say "lv_down $(($(lv_now_ms) - t)) ms"
    if [[ -z $(lv_libvirtd_pid) ]]; then
        t=$(lv_now_ms)
        lv_up || fail "lv_up (again)"
        say "lv_up again $(($(lv_now_ms) - t)) ms"
        lv_down || fail "lv_down (again)"
        lv_ping && fail "libvirtd still answers after lv_down"
        say "lv_down again: libvirtd stopped"
    else
        say "libvirtd was not started by lv_up: left running"
    fi
fi

say "timings (ms): lv_up=$t_up start=$t_start guest_ready=$t_boot shutdown=$t_shutdown start2=$t_start2 destroy=$t_destroy hugepages_start=$t_hstart hugepages_destroy=$t_hdestroy"
say "PASS"
