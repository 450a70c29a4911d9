#!/usr/bin/env bash
# CPU isolation for real on this machine (cgroup v1 cpuset, 2 CPUs), with
# host-scope naming a cgroup that holds only this test's busy processes:
# the machine's own processes (PID 1, its agent), IRQs and workqueue mask
# are never touched (the VMs here say irqs='no' workqueues='no', and the
# hooks refuse to run on the real root without host-scope).
#
#   1. the test-build hook driven directly (VMPREP_ROOT=/): a VM pinned on
#      CPU 1 confines the busy processes to CPU 0, release gives 0-1 back;
#      SIGKILL at every crash point of prepare, then release: as before.
#   2. under flock /run/vmprep-libvirt.lock, with a real libvirtd: a VM with
#      vcpupin on CPU 1 runs while the busy processes are on CPU 0; a second
#      VM pinned on CPU 1 and one on CPU 0 fail with a message; after the
#      stop the processes are back on 0-1.  An untagged VM pinned on CPU 1
#      runs: the tagged VM on CPU 1 is refused, naming it, nothing changes.
#   3. the default scope (no vmprep.conf; the test build asks for it with
#      $CONF_DIR/default-scope): every task of the root cpuset, libvirtd and
#      this shell among them, goes into /vmprep.host on CPU 0 while the VM
#      runs; three starts and stops leave nothing behind (libvirtd's release
#      hook is born inside /vmprep.host and must move itself out).
# Everything is put back in a trap.
set -uo pipefail
here=$(cd -- "$(dirname -- "$0")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
T_SUITE=host-cpus
# shellcheck source=tests/lib.sh
. "$repo/tests/lib.sh"
cd "$repo" || exit 1

CG=/sys/fs/cgroup/cpuset
SCOPE=/vmprep-cpus-test-$$
CONF_DIR=/run/vmprep-cpus-test
CONF=$CONF_DIR/vmprep.conf          # build/hosttest's compiled-in path
HOOK_T=$repo/build/test/hooks/30-vmprep-cpus
HOOK_H=$repo/build/hosttest/hooks/30-vmprep-cpus
QEMUD=/etc/libvirt/hooks/qemu.d
DAEMOND=/etc/libvirt/hooks/daemon.d
LOCK=/run/vmprep-libvirt.lock
UUID_A=5c0e1d2f-3a4b-4c5d-8e6f-7a8b9c0d1e01
UUID_B=5c0e1d2f-3a4b-4c5d-8e6f-7a8b9c0d1e02
UUID_C=5c0e1d2f-3a4b-4c5d-8e6f-7a8b9c0d1e03
HOST_JOURNAL=/run/vmprep/00000000-0000-0000-0000-000000000000.cpus.journal
ISOLATE="<vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:isolate irqs='no' workqueues='no'/></vmprep:profile>"

if [ "$(id -u)" != 0 ]; then t_skip "host cpus" "needs root"; t_done; exit; fi
if [ ! -e $CG/cpuset.cpus ] || ! grep -qE '^0-1$|^0-[1-9]' /sys/devices/system/cpu/online; then
        t_skip "host cpus" "needs the cgroup v1 cpuset controller and CPUs 0-1"; t_done; exit
fi
for b in "$HOOK_T" "$HOOK_H"; do [ -x "$b" ] || { t_fail "host cpus" "missing $b (make check builds it)"; t_done; exit 1; }; done

BUSY=() WORK=$(mktemp -d) INSTALLED=no VMS=() MADE_DAEMOND=no
ERR=$WORK/err

# domain NAME UUID PIN
domain() {
        printf "<domain type='kvm'><name>%s</name><uuid>%s</uuid><memory unit='MiB'>64</memory><vcpu>1</vcpu>" "$1" "$2"
        printf "<cputune><vcpupin vcpu='0' cpuset='%s'/></cputune><metadata>%s</metadata></domain>\n" "$3" "$ISOLATE"
}
domain vmprep-cpus-a "$UUID_A" 1 > "$WORK/a.xml"
domain vmprep-cpus-b "$UUID_B" 1 > "$WORK/b.xml"
domain vmprep-cpus-c "$UUID_C" 0 > "$WORK/c.xml"
hook() { VMPREP_ROOT=/ VMPREP_CONF=$CONF "$HOOK_T" "$2" "$3" "$4" - < "$1" 2> "$ERR"; }

allowed() { awk '/^Cpus_allowed_list/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
busy_allowed() { local p s=""; for p in "${BUSY[@]}"; do s+="$(allowed "$p") "; done; echo "${s% }"; }
busy_where() { local p s=""; for p in "${BUSY[@]}"; do s+="$(awk -F: '$2 == "cpuset" { print $3 }' "/proc/$p/cgroup") "; done; echo "${s% }"; }
want_n() { local w=$1 s=""; for _ in "${BUSY[@]}"; do s+="$w "; done; echo "${s% }"; }

# the daemon hook as it was before this test
daemon_hook_back() {
        if [ ! -L "$DAEMOND/vmprep-reconcile" ] && grep -qs "$repo/build/test/vmprep" "$DAEMOND/vmprep-reconcile"; then
                rm -f "$DAEMOND/vmprep-reconcile"
        fi
        if [ -e "$WORK/daemon-hook.orig" ] || [ -L "$WORK/daemon-hook.orig" ]; then
                mv "$WORK/daemon-hook.orig" "$DAEMOND/vmprep-reconcile"
        fi
        [ "$MADE_DAEMOND" = yes ] && rmdir "$DAEMOND" 2>/dev/null && MADE_DAEMOND=no
}

cleanup() {
        local x p
        for x in a b c; do hook "$WORK/$x.xml" "vmprep-cpus-$x" release end 2>/dev/null; done
        if [ "$INSTALLED" = yes ]; then
                . "$repo/tests/host/libvirt-env.sh"
                for x in "${VMS[@]}"; do lv_cleanup_vm "$x"; done
                [ "$(readlink "$QEMUD/30-vmprep-cpus")" = "$HOOK_H" ] && rm -f "$QEMUD/30-vmprep-cpus"
                daemon_hook_back
                for x in a b c; do VMPREP_ROOT=/ VMPREP_CONF=$CONF "$HOOK_T" "vmprep-cpus-$x" release end - < "$WORK/$x.xml" 2>/dev/null; done
        fi
        # the default-scope case: every task back into the root cpuset
        if [ -d "$CG/vmprep.host" ]; then
                for p in $(cat "$CG/vmprep.host/cgroup.procs"); do echo "$p" > "$CG/cgroup.procs" 2>/dev/null; done
                rmdir "$CG/vmprep.host"
                for x in a b c; do hook "$WORK/$x.xml" "vmprep-cpus-$x" release end 2>/dev/null; done
        fi
        # journals of the libvirt-defined test VMs (their UUIDs are libvirt's)
        for x in /run/vmprep/*.cpus.journal; do
                [ -e "$x" ] || continue
                read -r _ _ u _ p _ < "$x"
                case $p in vmprep-cpus*) domain "$p" "$u" 1 > "$WORK/j.xml" && hook "$WORK/j.xml" "$p" release end 2>/dev/null ;; esac
        done
        rm -f "$CONF_DIR/default-scope"
        for p in "${BUSY[@]}" ${PINNED:+"$PINNED"}; do kill "$p" 2>/dev/null; done
        # only those: a libvirtd this test restarted (lv_up) is a child too
        wait "${BUSY[@]}" ${PINNED:+"$PINNED"} 2>/dev/null
        if [ -d "$CG$SCOPE/vmprep.host" ]; then
                for p in $(cat "$CG$SCOPE/vmprep.host/cgroup.procs"); do echo "$p" > "$CG$SCOPE/cgroup.procs"; done
                rmdir "$CG$SCOPE/vmprep.host"
        fi
        # (killed processes leave the cgroup when they are reaped: retry)
        for _ in $(seq 50); do [ -d "$CG$SCOPE" ] || break; rmdir "$CG$SCOPE" 2>/dev/null || sleep 0.1; done
        rm -f "$CONF"; rmdir "$CONF_DIR" 2>/dev/null
        rm -rf "$WORK"
}
trap cleanup EXIT

# the host-scope cgroup: only our busy processes (nice 19, so they disturb nobody)
mkdir "$CG$SCOPE" && cat $CG/cpuset.cpus > "$CG$SCOPE/cpuset.cpus" && cat $CG/cpuset.mems > "$CG$SCOPE/cpuset.mems" \
        || { t_fail "create the host-scope cgroup $SCOPE" ""; t_done; exit 1; }
for _ in 1 2 3; do
        nice -n 19 sh -c 'while :; do :; done' &
        BUSY+=($!)
        echo $! > "$CG$SCOPE/cgroup.procs"
done
# and one that asked for CPU 1 only itself (sched_setaffinity): it must get
# exactly that back after release
sleep 1000 &
PINNED=$!
echo $PINNED > "$CG$SCOPE/cgroup.procs"
taskset -p -c 1 $PINNED > /dev/null
mkdir -p "$CONF_DIR"
echo "host-scope = $SCOPE" > "$CONF"
ALL=$(cat /sys/devices/system/cpu/online)
pid1() { echo "$(awk -F: '$2 == "cpuset" { print $3 }' /proc/1/cgroup) $(allowed 1)"; }
pid1_before=$(pid1)

# ---- 1. the hook, directly ----
if hook "$WORK/a.xml" vmprep-cpus-a prepare begin; then
        got=$(busy_allowed) where=$(busy_where)
        pid1_during=$(pid1) confined=$(sort -n "$CG$SCOPE/vmprep.host/cgroup.procs" | tr '\n' ' ')
        if [ "$got" = "$(want_n 0)" ] && [ "$where" = "$(want_n "$SCOPE/vmprep.host")" ] && [ "$(cat "$CG$SCOPE/vmprep.host/cpuset.cpus")" = 0 ]; then
                t_ok "prepare of a VM pinned on CPU 1: the host-scope's busy processes are confined to CPU 0 (in $SCOPE/vmprep.host)"
        else
                t_fail "prepare confines the busy processes" "allowed: $got" "cgroups: $where"
        fi
        hook "$WORK/b.xml" vmprep-cpus-b prepare begin && t_fail "overlap refused (direct)" "accepted" \
                || { grep -q "already isolated for the running VM 'vmprep-cpus-a'" "$ERR" && t_ok "a second VM on CPU 1 is refused, naming vmprep-cpus-a" || t_fail "overlap message" "$(cat "$ERR")"; }
        hook "$WORK/b.xml" vmprep-cpus-b release end
        hook "$WORK/c.xml" vmprep-cpus-c prepare begin && t_fail "no CPU left refused (direct)" "accepted" \
                || { grep -q "would leave the host no CPU" "$ERR" && t_ok "a VM on CPU 0 while CPU 1 is isolated is refused: the host would have no CPU" || t_fail "no-CPU message" "$(cat "$ERR")"; }
        hook "$WORK/c.xml" vmprep-cpus-c release end
        pinned_during=$(allowed $PINNED)
        hook "$WORK/a.xml" vmprep-cpus-a release end
        [ "$pinned_during" = 0 ] && [ "$(allowed $PINNED)" = 1 ] \
                && t_ok "a process that had pinned itself to CPU 1 runs on CPU 0 meanwhile and gets its own affinity (1) back after release" \
                || t_fail "a self-pinned process gets its affinity back" "during: $pinned_during, after: $(allowed $PINNED)"
        if [ "$(busy_allowed)" = "$(want_n "$ALL")" ] && [ "$(busy_where)" = "$(want_n "$SCOPE")" ] && [ ! -e "$CG$SCOPE/vmprep.host" ] \
                && [ ! -e /run/vmprep/$UUID_A.cpus.journal ] && [ ! -e $HOST_JOURNAL ]; then
                t_ok "release: the busy processes are back in $SCOPE on CPU $ALL, vmprep.host and the journals are gone"
        else
                t_fail "release restores" "allowed: $(busy_allowed)" "cgroups: $(busy_where)" "$(ls /run/vmprep)"
        fi
else
        t_fail "prepare (direct)" "$(cat "$ERR")"
fi

k=1 crashed=0 fails=()
while [ $k -le 60 ]; do
        (VMPREP_ROOT=/ VMPREP_CONF=$CONF VMPREP_TEST_CRASH_AT=$k "$HOOK_T" vmprep-cpus-a prepare begin - < "$WORK/a.xml" > /dev/null 2> "$ERR"; echo $? > "$WORK/st") 2>/dev/null
        st=$(cat "$WORK/st")
        hook "$WORK/a.xml" vmprep-cpus-a release end
        [ "$st" = 0 ] && break
        crashed=$((crashed + 1))
        [ "$st" = 137 ] || fails+=("crash point $k: exit $st $(head -c 200 "$ERR")")
        [ "$(busy_allowed)" = "$(want_n "$ALL")" ] && [ "$(busy_where)" = "$(want_n "$SCOPE")" ] && [ ! -e "$CG$SCOPE/vmprep.host" ] \
                && [ ! -e /run/vmprep/$UUID_A.cpus.journal ] && [ ! -e $HOST_JOURNAL ] \
                || fails+=("crash point $k: allowed $(busy_allowed), cgroups $(busy_where), $(ls /run/vmprep | tr '\n' ' ')")
        k=$((k + 1))
done
[ ${#fails[@]} -eq 0 ] && [ $crashed -ge 5 ] \
        && t_ok "SIGKILL of the real hook at each of its $crashed crash points (journal appends, mkdir, moves, writes), then release: processes back on CPU $ALL in $SCOPE, nothing left" \
        || t_fail "SIGKILL at each crash point, for real" "${fails[@]:0:5}" "crashed=$crashed"
[ "$pid1_during" = "$pid1_before" ] && [ "$(pid1)" = "$pid1_before" ] \
        && [ "$confined" = "$(printf '%s\n' "${BUSY[@]}" "$PINNED" | sort -n | tr '\n' ' ')" ] \
        && t_ok "PID 1 stayed in the root cpuset on CPU $ALL throughout; vmprep.host held exactly the busy processes" \
        || t_fail "only the test's processes moved" "PID 1 before/during/after: $pid1_before / $pid1_during / $(pid1)" "confined: $confined"

# ---- 2. with a real libvirtd ----
if [ ! -e /dev/kvm ] || ! command -v virsh >/dev/null; then
        t_skip "real libvirtd" "needs /dev/kvm and libvirt"; t_done; exit
fi
# shellcheck source=tests/host/libvirt-env.sh
. "$repo/tests/host/libvirt-env.sh"
echo "# waiting for $LOCK (other developers' libvirt runs)"
if ! LV_LOCK_WAIT=600 lv_lock; then t_fail "take $LOCK" "timeout"; t_done; exit 1; fi
if ! lv_up; then t_fail "libvirtd" "lv_up failed"; t_done; exit 1; fi
INSTALLED=yes
mkdir -p "$QEMUD" && ln -sf "$HOOK_H" "$QEMUD/30-vmprep-cpus" && lv_hup
echo "<cputune><vcpupin vcpu='0' cpuset='1'/></cputune>" > "$WORK/pin1"
echo "<cputune><vcpupin vcpu='0' cpuset='0'/></cputune>" > "$WORK/pin0"
meta="<vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:isolate irqs='no' workqueues='no'/></vmprep:profile>"
VMS=(vmprep-cpus-a vmprep-cpus-b vmprep-cpus-c)
for v in "${VMS[@]}"; do lv_cleanup_vm "$v"; done
lv_define_vm vmprep-cpus-a 64 "$WORK/pin1" "$meta" >/dev/null 2>&1 && lv_define_vm vmprep-cpus-b 64 "$WORK/pin1" "$meta" >/dev/null 2>&1 \
        && lv_define_vm vmprep-cpus-c 64 "$WORK/pin0" "$meta" >/dev/null 2>&1 || t_fail "define the test VMs" ""
if lv_virsh start vmprep-cpus-a > /dev/null 2> "$ERR" && lv_wait_state vmprep-cpus-a running 20; then
        got=$(busy_allowed)
        [ "$got" = "$(want_n 0)" ] \
                && t_ok "libvirtd: vmprep-cpus-a (vcpupin on CPU 1) runs; the busy processes are confined to CPU 0" \
                || t_fail "libvirtd: busy processes on CPU 0 while the VM runs" "allowed: $got"
        if lv_virsh start vmprep-cpus-b > /dev/null 2> "$ERR"; then t_fail "libvirtd: an overlapping VM fails" "it started"
        else grep -q "already isolated for the running VM 'vmprep-cpus-a'" "$ERR" \
                && t_ok "libvirtd: vmprep-cpus-b on CPU 1 fails to start: $(grep -o "CPU 1: already isolated[^;]*" "$ERR" | head -1)" \
                || t_fail "libvirtd: overlap message" "$(cat "$ERR")"; fi
        if lv_virsh start vmprep-cpus-c > /dev/null 2> "$ERR"; then t_fail "libvirtd: a VM on CPU 0 fails" "it started"
        else grep -q "would leave the host no CPU" "$ERR" \
                && t_ok "libvirtd: vmprep-cpus-c on CPU 0 fails to start: it would leave the host no CPU" \
                || t_fail "libvirtd: no-CPU message" "$(cat "$ERR")"; fi
        [ "$(busy_allowed)" = "$(want_n 0)" ] || t_fail "the failed starts left vmprep-cpus-a's isolation alone" "$(busy_allowed)"
        # `vmprep reconcile` (cron, a person) while the VM runs: its isolation stays
        VMPREP_ROOT=/ VMPREP_CONF=$CONF "$repo/build/test/vmprep" reconcile > "$WORK/rec" 2>&1
        if [ "$(busy_allowed)" = "$(want_n 0)" ] && [ "$(cat "$CG$SCOPE/vmprep.host/cpuset.cpus" 2>&1)" = 0 ] \
                && grep -q "host isolation kept: VM vmprep-cpus-a holds core 1" "$WORK/rec"; then
                t_ok "vmprep reconcile with vmprep-cpus-a running: the busy processes stay on CPU 0 ('host isolation kept: VM vmprep-cpus-a holds core 1')"
        else
                t_fail "vmprep reconcile keeps a running VM's isolation" "allowed: $(busy_allowed)" "$(cat "$WORK/rec")"
        fi
        # libvirtd restarted with vmprep's daemon hook installed (it runs
        # `vmprep reconcile --offline` at libvirtd's start), then reconnects
        # (an installed vmprep's daemon hook, a symlink to it, is put aside
        # and back; never written through)
        [ -d "$DAEMOND" ] || { mkdir -p "$DAEMOND" && MADE_DAEMOND=yes; }
        if [ -e "$DAEMOND/vmprep-reconcile" ] || [ -L "$DAEMOND/vmprep-reconcile" ]; then
                mv "$DAEMOND/vmprep-reconcile" "$WORK/daemon-hook.orig"
        fi
        printf '#!/bin/bash\nVMPREP_ROOT=/ VMPREP_CONF=%s exec -a vmprep-reconcile %s "$@"\n' "$CONF" "$repo/build/test/vmprep" > "$WORK/daemon-hook"
        install -m 0755 "$WORK/daemon-hook" "$DAEMOND/vmprep-reconcile"
        ev=$(grep -c "vmprep-reconcile: host isolation kept" /run/vmprep/events.log 2>/dev/null)
        pid=$(lv_libvirtd_pid)
        kill -TERM "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        rm -f "$LV_STATE_DIR/libvirtd.started"
        lv_up > /dev/null 2>&1
        lv_wait_state vmprep-cpus-a running 20
        if [ "$(lv_virsh domstate vmprep-cpus-a 2>&1 | head -1)" = running ] && [ "$(busy_allowed)" = "$(want_n 0)" ] \
                && [ "$(cat "$CG$SCOPE/vmprep.host/cpuset.cpus" 2>&1)" = 0 ] \
                && [ "$(grep -c "vmprep-reconcile: host isolation kept" /run/vmprep/events.log)" -gt "$ev" ]; then
                t_ok "libvirtd restarted (its daemon hook ran vmprep reconcile --offline): vmprep-cpus-a still runs, the busy processes stay on CPU 0"
        else
                t_fail "libvirtd restart keeps a running VM's isolation" "state $(lv_virsh domstate vmprep-cpus-a 2>&1 | head -1)" \
                        "allowed: $(busy_allowed)" "$(tail -3 /run/vmprep/events.log)"
        fi
        lv_virsh destroy vmprep-cpus-a > /dev/null 2>&1
        lv_wait_state vmprep-cpus-a "shut off" 10
        for _ in $(seq 50); do [ "$(busy_allowed)" = "$(want_n "$ALL")" ] && break; sleep 0.1; done
        [ "$(busy_allowed)" = "$(want_n "$ALL")" ] && [ ! -e "$CG$SCOPE/vmprep.host" ] && [ ! -e /run/vmprep/$UUID_A.cpus.journal ] \
                && t_ok "libvirtd: after the stop the busy processes are back on CPU $ALL and vmprep.host is gone" \
                || t_fail "libvirtd: restored after stop" "allowed: $(busy_allowed)" "$(ls /run/vmprep)"
        # the VM gone while libvirtd is down (no release ran): the daemon hook's
        # reconcile at the next start finishes everything
        if lv_virsh start vmprep-cpus-a > /dev/null 2> "$ERR" && lv_wait_state vmprep-cpus-a running 20; then
                pid=$(lv_libvirtd_pid) qemu=$(pgrep -f "guest=vmprep-cpus-a," | head -1)
                kill -TERM "$pid"
                for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
                [ -n "$qemu" ] && kill -KILL "$qemu"
                for _ in $(seq 50); do [ -n "$qemu" ] && kill -0 "$qemu" 2>/dev/null || break; sleep 0.1; done
                rm -f "$LV_STATE_DIR/libvirtd.started"
                lv_up > /dev/null 2>&1
                for _ in $(seq 50); do [ "$(busy_allowed)" = "$(want_n "$ALL")" ] && break; sleep 0.1; done
                [ -n "$qemu" ] && [ "$(busy_allowed)" = "$(want_n "$ALL")" ] && [ ! -e "$CG$SCOPE/vmprep.host" ] \
                        && [ ! -e /run/vmprep/$UUID_A.cpus.journal ] && [ ! -e $HOST_JOURNAL ] \
                        && t_ok "a VM killed while libvirtd was down: after libvirtd starts again (daemon hook reconcile, then libvirt's own release) CPU 1 is the host's again (processes on $ALL, no journal)" \
                        || t_fail "reconcile at libvirtd start after the VM died" "qemu pid '$qemu'" "allowed: $(busy_allowed)" "$(ls /run/vmprep)"
        else
                t_fail "libvirtd: start vmprep-cpus-a again" "$(cat "$ERR")"
        fi
else
        t_fail "libvirtd: start vmprep-cpus-a" "$(cat "$ERR")"
fi

# another VM, untagged, pinned on CPU 1 (a name with '_' and '.'): the tagged
# VM on CPU 1 is refused, naming it and its vCPU; nothing on the host changes
U=vmprep-cpus_u.1
VMS+=("$U")
lv_cleanup_vm "$U"
if lv_define_vm "$U" 64 "$WORK/pin1" "" >/dev/null 2>&1 && lv_virsh start "$U" > /dev/null 2> "$ERR" && lv_wait_state "$U" running 20; then
        before="$(busy_allowed) $(busy_where) $(ls /run/vmprep | tr '\n' ' ') $(cat "$CG$SCOPE/cpuset.cpus")"
        if lv_virsh start vmprep-cpus-a > /dev/null 2> "$ERR"; then
                t_fail "libvirtd: a tagged VM on CPU 1 beside $U fails" "it started"
                lv_virsh destroy vmprep-cpus-a > /dev/null 2>&1; lv_wait_state vmprep-cpus-a "shut off" 10
        elif grep -q "VM '$U' has vCPU 0 pinned to CPU 1, which this VM isolates" "$ERR" \
                && [ "$before" = "$(busy_allowed) $(busy_where) $(ls /run/vmprep | tr '\n' ' ') $(cat "$CG$SCOPE/cpuset.cpus")" ] \
                && [ ! -e "$CG$SCOPE/vmprep.host" ] && [ ! -e /run/vmprep/$UUID_A.cpus.journal ]; then
                t_ok "libvirtd: vmprep-cpus-a (isolate CPU 1) fails to start while the untagged $U runs pinned on CPU 1, naming it and its vCPU; nothing changed"
        else
                t_fail "libvirtd: refused beside an untagged pinned VM" "$(cat "$ERR")" "before: $before" "after: $(busy_allowed) $(busy_where) $(ls /run/vmprep | tr '\n' ' ')"
        fi
else
        t_fail "libvirtd: start the untagged $U" "$(cat "$ERR")"
fi
lv_cleanup_vm "$U"

# ---- 3. the default scope: no vmprep.conf, the whole root cpuset ----
cg_of() { awk -F: '$2 == "cpuset" { print $3 }' "/proc/$1/cgroup" 2>/dev/null; }
LVD=$(lv_libvirtd_pid)
rm -f "$CONF"; : > "$CONF_DIR/default-scope"
self_before=$(cg_of $$) lvd_before=$(cg_of "$LVD") pid1_before=$(pid1)
fails=()
for round in 1 2 3; do
        if ! lv_virsh start vmprep-cpus-a > /dev/null 2> "$ERR" || ! lv_wait_state vmprep-cpus-a running 20; then
                fails+=("round $round: start: $(cat "$ERR")"); break
        fi
        [ "$(cg_of "$LVD")" = /vmprep.host ] && [ "$(allowed "$LVD")" = 0 ] && [ "$(cg_of $$)" = /vmprep.host ] \
                || fails+=("round $round: libvirtd in '$(cg_of "$LVD")' on CPU $(allowed "$LVD"), this shell in '$(cg_of $$)' while the VM runs")
        lv_virsh destroy vmprep-cpus-a > /dev/null 2>&1
        lv_wait_state vmprep-cpus-a "shut off" 10
        for _ in $(seq 50); do [ ! -e "$CG/vmprep.host" ] && [ ! -e $HOST_JOURNAL ] && break; sleep 0.1; done
        left=""
        [ -e "$CG/vmprep.host" ] && left+="vmprep.host ($(tr '\n' ' ' < "$CG/vmprep.host/cgroup.procs")) "
        [ -e /run/vmprep/$UUID_A.cpus.journal ] && left+="the VM's journal "
        [ -e $HOST_JOURNAL ] && left+="the host journal "
        grep -q "^hold [0-9a-f-]* cpus" /run/vmprep/ledger 2>/dev/null && left+="a claim "
        [ "$(cg_of "$LVD")" = "$lvd_before" ] && [ "$(cg_of $$)" = "$self_before" ] && [ "$(pid1)" = "$pid1_before" ] \
                || left+="libvirtd in '$(cg_of "$LVD")', this shell in '$(cg_of $$)', PID 1 '$(pid1)' "
        [ -z "$left" ] || { fails+=("round $round: left behind: $left" "$(grep -a vmprep-cpus "$LV_LOG" 2>/dev/null | tail -3)"); break; }
done
[ ${#fails[@]} -eq 0 ] \
        && t_ok "default scope: vmprep-cpus-a (CPU 1) started and stopped 3 times; each time libvirtd and this shell ran in /vmprep.host on CPU 0, and after the stop no vmprep.host, journal or claim was left, every task back in the root cpuset" \
        || t_fail "default scope: start/stop x3 leaves nothing behind" "${fails[@]}"
rm -f "$CONF_DIR/default-scope"; echo "host-scope = $SCOPE" > "$CONF"

for v in "${VMS[@]}"; do lv_cleanup_vm "$v"; done
daemon_hook_back
rm -f "$QEMUD/30-vmprep-cpus"; INSTALLED=no
flock -u 9
t_done
