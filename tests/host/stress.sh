#!/usr/bin/env bash
# Reliability with a real libvirtd, QEMU/KVM and this machine's hugepage pool:
#   - 8 tagged VMs started at once and destroyed at once, ROUNDS times (20):
#     every VM starts, the pool returns exactly to its baseline, no journal is left;
#   - libvirtd killed and restarted while a tagged VM runs: the reconnect
#     hook changes nothing and exits 0 (else libvirt would kill the VM).
# Needs root and /dev/kvm; puts the pool back as found.   tests/host/stress.sh [ROUNDS]
set -uo pipefail
here=$(cd -- "$(dirname -- "$0")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
T_SUITE=stress
# shellcheck source=tests/lib.sh
. "$repo/tests/lib.sh"
# shellcheck source=tests/host/libvirt-env.sh
. "$here/libvirt-env.sh"
ROUNDS=${1:-20}
N=8
POOL=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
if [ "$(id -u)" != 0 ] || [ ! -e /dev/kvm ] || [ ! -w "$POOL" ]; then
        t_skip "stress" "needs root, /dev/kvm and a 2 MiB pool"; t_done; exit
fi
if ! lv_lock; then t_fail "take /run/vmprep-libvirt.lock" "timeout"; t_done; exit 1; fi
W=$(mktemp -d /tmp/vmprep-stress-XXXXXX)
orig=$(cat "$POOL")
cleanup() {
        local i
        for ((i = 1; i <= N; i++)); do lv_cleanup_vm "vmprep-stress-$i" >/dev/null 2>&1; done
        lv_cleanup_vm vmprep-stress-rc >/dev/null 2>&1
        echo "$orig" > "$POOL"
        rm -rf "$W"
}
trap cleanup EXIT
make -s -C "$repo" all install > "$W/make.log" 2>&1 || { t_fail "make install" "$(tail "$W/make.log")"; t_done; exit; }
lv_up >/dev/null 2>&1 || { t_fail "libvirtd" "lv_up failed"; t_done; exit; }
lv_hup >/dev/null 2>&1
TAG='<vmprep:profile xmlns:vmprep="urn:vmprep:1"><vmprep:hugepages/></vmprep:profile>'
for ((i = 1; i <= N; i++)); do
        lv_cleanup_vm "vmprep-stress-$i" >/dev/null 2>&1
        lv_define_vm "vmprep-stress-$i" 256 "" "$TAG" yes >/dev/null 2>&1 || { t_fail "define" "vmprep-stress-$i"; t_done; exit; }
done

fails=() started=0 t0=$(lv_now_ms)
for ((r = 1; r <= ROUNDS; r++)); do
        pids=()
        for ((i = 1; i <= N; i++)); do timeout 60 virsh -q -c "$LV_URI" start "vmprep-stress-$i" > "$W/start.$i" 2>&1 & pids+=($!); done
        for ((i = 1; i <= N; i++)); do
                if wait "${pids[i - 1]}"; then started=$((started + 1)); else fails+=("round $r: vmprep-stress-$i did not start: $(cat "$W/start.$i")"); fi
        done
        during=$(cat "$POOL")
        [ "$during" = $((orig + N * 128)) ] || fails+=("round $r: pool $during while $N run, want $((orig + N * 128))")
        pids=()
        for ((i = 1; i <= N; i++)); do timeout 60 virsh -q -c "$LV_URI" destroy "vmprep-stress-$i" > /dev/null 2>&1 & pids+=($!); done
        for p in "${pids[@]}"; do wait "$p"; done
        [ "$(cat "$POOL")" = "$orig" ] || fails+=("round $r: pool $(cat "$POOL") after all stopped, want $orig")
        ls /run/vmprep/*.journal >/dev/null 2>&1 && fails+=("round $r: journals left: $(ls /run/vmprep/*.journal)")
        [ ${#fails[@]} -gt 5 ] && break
done
secs=$(( ($(lv_now_ms) - t0) / 1000 ))
if [ ${#fails[@]} = 0 ]; then
        t_ok "$N tagged VMs started and destroyed at once, $ROUNDS rounds ($started starts, ${secs}s): pool back to $orig every round, no journal left"
else
        t_fail "$N VMs at once, $ROUNDS rounds" "${fails[@]:0:8}"
fi

# libvirtd restarted under a running tagged VM
VM=vmprep-stress-rc
lv_cleanup_vm "$VM" >/dev/null 2>&1
lv_define_vm "$VM" 256 "" "$TAG" yes >/dev/null 2>&1
lv_virsh start "$VM" >/dev/null 2>&1
before=$(cat "$POOL") journal=$(cat /run/vmprep/*.hugepages.journal 2>/dev/null | md5sum)
pid=$(lv_libvirtd_pid)
kill -TERM "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
rm -f "$LV_STATE_DIR/libvirtd.started"
lv_up >/dev/null 2>&1
state=$(lv_virsh domstate "$VM" 2>&1 | head -1)
ev=$(grep -c "$VM" /run/vmprep/events.log)
if [ "$state" = running ] && [ "$(cat "$POOL")" = "$before" ] \
        && [ "$(cat /run/vmprep/*.hugepages.journal 2>/dev/null | md5sum)" = "$journal" ]; then
        t_ok "libvirtd restarted under a running tagged VM: the VM still runs, pool and journal unchanged"
else
        t_fail "libvirtd restart" "state '$state', pool $(cat "$POOL") (was $before)"
fi
lv_virsh destroy "$VM" >/dev/null 2>&1
if [ "$(cat "$POOL")" = "$orig" ] && [ "$(grep -c "$VM" /run/vmprep/events.log)" -gt "$ev" ]; then
        t_ok "... and destroying it after the restart gives its pages back"
else
        t_fail "destroy after restart" "pool $(cat "$POOL"), want $orig"
fi
t_done
