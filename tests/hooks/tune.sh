#!/usr/bin/env bash
# 40-vmprep-tune driven as libvirt drives it against fake kernel trees:
# per-core governor and C-states, host-wide THP, KSM, RT throttling,
# swappiness, stat_interval counted across VMs, the realtime checks, and
# SIGKILL at every crash point.
#   tests/hooks/tune.sh build/test
set -uo pipefail
here=$(cd -- "$(dirname -- "$0")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
B=${1:-build/test}
case $B in /*) ;; *) B=$repo/$B ;; esac
HOOK=$B/hooks/40-vmprep-tune
T_SUITE=tune-hooks
# shellcheck source=tests/lib.sh
. "$repo/tests/lib.sh"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
[ -x "$HOOK" ] || { echo "missing $HOOK"; exit 1; }

UUID_A=2a6e2f58-8c5c-4c1e-9a57-3f1c2b4d5e01
UUID_B=2a6e2f58-8c5c-4c1e-9a57-3f1c2b4d5e02
UUID_C=2a6e2f58-8c5c-4c1e-9a57-3f1c2b4d5e03

# shellcheck source=tests/hooks/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/hooks/tune_tree.sh
. "$here/tune_tree.sh"
# every file under sys/ and proc/ as the kernel shows it
SNAPSHOT=("text:sys,proc")
# domain NAME UUID TUNE-ELEMENT [USE] [EXTRA]
domain() {
        printf "<domain type='kvm'><name>%s</name><uuid>%s</uuid><vcpu>2</vcpu>" "$1" "$2"
        printf "<cputune><vcpupin vcpu='0' cpuset='2'/><vcpupin vcpu='1' cpuset='3'/>%s</cputune>%s" "${6:-}" "${5:-}"
        printf "<metadata><vmprep:profile xmlns:vmprep='urn:vmprep:1'%s>%s</vmprep:profile></metadata></domain>\n" "${4:+ use='$4'}" "$3"
}
RT="<vmprep:tune governor='performance' max-cstate='1' thp='never' ksm='off' rt-runtime='unlimited' swappiness='0' stat-interval='10'/>"
values() { echo "$(rd sys/devices/system/cpu/cpu2/cpufreq/scaling_governor) $(rd sys/devices/system/cpu/cpu1/cpufreq/scaling_governor) $(rd sys/devices/system/cpu/cpu3/cpuidle/state1/disable)$(rd sys/devices/system/cpu/cpu3/cpuidle/state2/disable)$(rd sys/devices/system/cpu/cpu3/cpuidle/state3/disable) $(rd sys/kernel/mm/transparent_hugepage/enabled) ksm=$(rd sys/kernel/mm/ksm/run) rt=$(rd proc/sys/kernel/sched_rt_runtime_us) sw=$(rd proc/sys/vm/swappiness) si=$(rd proc/sys/vm/stat_interval)"; }

case_round_trip() {
        tune_tree
        local x=$ROOT/x.xml before
        domain vm1 "$UUID_A" "$RT" > "$x"
        before=$(snapshot)
        hook "$x" vm1 prepare begin || { t_fail "tune round trip" "$(cat "$ERR")"; return; }
        local got; got=$(values)
        [ "$got" = "performance schedutil 011 always madvise [never] ksm=0 rt=-1 sw=0 si=10" ] \
                && t_ok "tune: governor performance and idle states 2-3 off on the VM's CPUs 2-3 only; THP never, ksmd stopped, RT unthrottled, swappiness 0, stat_interval 10" \
                || t_fail "tune prepare" "$got"
        [ -s "$OUT" ] && t_fail "tune prints nothing on stdout" "$(cat "$OUT")"
        local mid; mid=$(snapshot)
        hook "$x" vm1 start begin && hook "$x" vm1 started begin && hook "$x" vm1 reconnect begin \
                && hook "$x" vm1 migrate begin && [ ! -s "$OUT" ] && hook "$x" vm1 restore begin && [ ! -s "$OUT" ] \
                && [ "$(snapshot)" = "$mid" ] \
                && t_ok "tune: start, started, reconnect, migrate, restore: exit 0, nothing on stdout, nothing changed" \
                || t_fail "tune: the other phases change nothing" "$(cat "$ERR")" "stdout: $(cat "$OUT")"
        stop_phases "$x" vm1
        [ "$(snapshot)" = "$before" ] && ! grep -q "hold" "$ROOT/run/vmprep/ledger" \
                && t_ok "tune: release restores every value exactly and leaves no hold or baseline in the ledger" \
                || t_fail "tune release" "$(diff <(echo "$before") <(snapshot) | head -6)" "$(cat "$ROOT/run/vmprep/ledger")"
}

case_two_vms_overlap() {
        tune_tree
        local a=$ROOT/a.xml b=$ROOT/b.xml c=$ROOT/c.xml before
        domain vm-a "$UUID_A" "<vmprep:tune thp='never' swappiness='10'/>" > "$a"
        printf "<domain><name>vm-b</name><uuid>%s</uuid><vcpu>1</vcpu><metadata><vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:tune thp='never' ksm='off'/></vmprep:profile></metadata></domain>" "$UUID_B" > "$b"
        printf "<domain><name>vm-c</name><uuid>%s</uuid><vcpu>1</vcpu><metadata><vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:tune swappiness='30'/></vmprep:profile></metadata></domain>" "$UUID_B" > "$c"
        before=$(snapshot)
        hook "$a" vm-a prepare begin && hook "$b" vm-b prepare begin || { t_fail "two VMs" "$(cat "$ERR")"; return; }
        local s1; s1="$(rd sys/kernel/mm/transparent_hugepage/enabled) $(rd sys/kernel/mm/ksm/run) $(rd proc/sys/vm/swappiness)"
        stop_phases "$a" vm-a
        local s2; s2="$(rd sys/kernel/mm/transparent_hugepage/enabled) $(rd sys/kernel/mm/ksm/run) $(rd proc/sys/vm/swappiness)"
        stop_phases "$b" vm-b
        if [ "$s1" = "always madvise [never] 0 10" ] && [ "$s2" = "always madvise [never] 0 60" ] && [ "$(snapshot)" = "$before" ]; then
                t_ok "two VMs overlapping in time: THP stays 'never' until the last VM that asked stops, swappiness comes back with its only VM; all exact at the end"
        else
                t_fail "two VMs" "both: $s1" "after vm-a: $s2" "$(diff <(echo "$before") <(snapshot) | head -4)"
        fi
        hook "$a" vm-a prepare begin
        if hook "$c" vm-c prepare begin; then t_fail "different values are refused" "vm-c started"
        elif grep -q "vm.swappiness is '10' for the running VM 'vm-a'; vm-c asks for '30'" "$ERR"; then
                t_ok "a VM asking for another value of a tunable a running VM holds is refused, naming it"
        else t_fail "conflict message" "$(cat "$ERR")"; fi
        stop_phases "$c" vm-c; stop_phases "$a" vm-a
        [ "$(snapshot)" = "$before" ] || t_fail "after the conflict everything is back" "$(diff <(echo "$before") <(snapshot) | head -4)"
}

# The ledger damaged while two VMs share THP='never': vm-a's release
# rebuilds it from the journals, so THP stays for vm-b and swappiness comes
# back; vm-b's release restores exactly.  With a journal that cannot be
# read the release changes nothing and says why.
case_damaged_ledger_release() {
        tune_tree
        local a=$ROOT/a.xml b=$ROOT/b.xml before fails=() bad
        domain vm-a "$UUID_A" "<vmprep:tune thp='never' swappiness='10'/>" > "$a"
        printf "<domain><name>vm-b</name><uuid>%s</uuid><vcpu>1</vcpu><metadata><vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:tune thp='never'/></vmprep:profile></metadata></domain>" "$UUID_B" > "$b"
        before=$(snapshot)
        hook "$a" vm-a prepare begin && hook "$b" vm-b prepare begin || { t_fail "damaged ledger" "$(cat "$ERR")"; return; }
        damage_ledger "$ROOT"
        bad=$(unreadable_journal "$ROOT")
        hook "$a" vm-a release end && fails+=("with an unreadable journal vm-a's release exited 0")
        grep -q "nothing was given back, and the ledger cannot be rebuilt while a journal cannot be read" "$ERR" \
                || fails+=("with an unreadable journal vm-a's release says: $(cat "$ERR")")
        [ "$(rd proc/sys/vm/swappiness)" = 10 ] || fails+=("with an unreadable journal swappiness is $(rd proc/sys/vm/swappiness)")
        rm -f "$bad"
        stop_phases "$a" vm-a
        grep -qF "$(ledger_rebuilt_msg 2)" "$ERR" || fails+=("vm-a's release says: $(cat "$ERR")")
        local s2; s2="$(rd sys/kernel/mm/transparent_hugepage/enabled) $(rd proc/sys/vm/swappiness)"
        stop_phases "$b" vm-b
        [ "$s2" = "always madvise [never] 60" ] || fails+=("after vm-a: $s2 (want 'always madvise [never] 60')")
        [ "$(snapshot)" = "$before" ] || fails+=("after both: $(diff <(echo "$before") <(snapshot) | head -4)")
        [ -z "$(ls "$ROOT/run/vmprep/"*.journal 2>/dev/null)" ] || fails+=("journals left: $(ls "$ROOT/run/vmprep/")")
        if [ ${#fails[@]} -eq 0 ]; then t_ok "ledger damaged under two VMs sharing THP=never: vm-a's release rebuilds it from the journals, THP stays for vm-b, swappiness comes back, vm-b's release restores exactly; with an unreadable journal nothing changes and the release says why"; else t_fail "ledger damaged under two VMs sharing THP=never: vm-a's release rebuilds it from the journals, THP stays for vm-b, swappiness comes back, vm-b's release restores exactly; with an unreadable journal nothing changes and the release says why" "${fails[@]}"; fi
}

# A host without a cpufreq driver (the firmware sets the frequency): the
# shipped nfv and realtime profiles ask for governor='performance'; the
# start goes on, saying the governor was left aside, the rest applied
case_governor_without_cpufreq() {
        tune_tree
        rm -rf "$ROOT"/sys/devices/system/cpu/cpu*/cpufreq "$ROOT/sys/devices/system/cpu/cpufreq"
        local x=$ROOT/x.xml before
        domain vm1 "$UUID_A" "<vmprep:tune governor='performance' swappiness='10'/>" > "$x"
        before=$(snapshot)
        if hook "$x" vm1 prepare begin && grep -q "no cpufreq driver: the firmware sets the frequency): governor='performance' left aside" "$ERR" \
                && [ "$(rd proc/sys/vm/swappiness)" = 10 ]; then
                stop_phases "$x" vm1
                [ "$(snapshot)" = "$before" ] && t_ok "no cpufreq driver: governor='performance' left aside with a warning, the rest applied and given back" \
                        || t_fail "no cpufreq: release" "$(diff <(echo "$before") <(snapshot) | head -4)"
        else
                t_fail "no cpufreq driver: the start goes on" "$(cat "$ERR")"
                stop_phases "$x" vm1
        fi
}

case_refusals() {
        tune_tree
        local x=$ROOT/x.xml before
        printf "<domain><name>vm1</name><uuid>%s</uuid><vcpu>2</vcpu><metadata><vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:tune governor='performance'/></vmprep:profile></metadata></domain>" "$UUID_A" > "$x"
        if hook "$x" vm1 prepare begin; then t_fail "governor for an unpinned VM is refused" "started"
        else grep -q "apply to the VM's own cores: <vmprep:isolate>: vCPU 0-1" "$ERR" && t_ok "a governor for a VM that pins nothing is refused (which cores?), with the <cputune> suggestion" \
                || t_fail "unpinned governor" "$(cat "$ERR")"; fi
        domain vm1 "$UUID_A" "<vmprep:tune thp='never' governor='ondemand'/>" > "$x"
        before=$(snapshot)
        if hook "$x" vm1 prepare begin; then t_fail "a governor the kernel lacks fails" "started"
        elif grep -q "cannot set the cpufreq governor of policy2" "$ERR" && [ "$(snapshot)" = "$before" ]; then
                t_ok "a governor the kernel refuses fails the start and undoes what was set before it (THP back to madvise)"
        else t_fail "bad governor" "$(cat "$ERR")" "$(diff <(echo "$before") <(snapshot) | head -4)"; fi
        stop_phases "$x" vm1
}

case_shared_policy_warns() {
        SHARED_POLICY=1 tune_tree
        local x=$ROOT/x.xml
        domain vm1 "$UUID_A" "<vmprep:tune governor='performance'/>" > "$x"
        hook "$x" vm1 prepare begin \
                && grep -q "cpufreq policy0 covers CPUs 0-3: the governor applies to the host's cores too (governor='performance' reaches CPU 0-1, which the VM does not claim)" "$ERR" \
                && [ "$(grep -c scaling_governor "$ROOT/.fake/writes.log")" = 1 ] \
                && t_ok "a governor on a cpufreq policy shared with host CPUs warns, naming the policy and its CPUs, and is written once for the policy" \
                || t_fail "shared policy warning" "$(cat "$ERR")" "$(cat "$ROOT/.fake/writes.log")"
        stop_phases "$x" vm1
}

# one_cpu_vm NAME UUID CPU TUNE-ELEMENT: one vCPU pinned to CPU
one_cpu_vm() {
        printf "<domain type='kvm'><name>%s</name><uuid>%s</uuid><vcpu>1</vcpu><cputune><vcpupin vcpu='0' cpuset='%s'/></cputune>" "$1" "$2" "$3"
        printf "<metadata><vmprep:profile xmlns:vmprep='urn:vmprep:1'>%s</vmprep:profile></metadata></domain>\n" "$4"
}

case_shared_policy_three_vms_every_stop_order() {
        local order fails=() gov=sys/devices/system/cpu/cpufreq/policy0/scaling_governor
        for order in "a b c" "a c b" "b a c" "b c a" "c a b" "c b a"; do
                SHARED_POLICY=1 tune_tree
                local v left=3 before
                one_cpu_vm vm-a "$UUID_A" 1 "<vmprep:tune governor='performance'/>" > "$ROOT/a.xml"
                one_cpu_vm vm-b "$UUID_B" 2 "<vmprep:tune governor='performance'/>" > "$ROOT/b.xml"
                one_cpu_vm vm-c "$UUID_C" 3 "<vmprep:tune governor='performance'/>" > "$ROOT/c.xml"
                before=$(snapshot)
                for v in a b c; do hook "$ROOT/$v.xml" "vm-$v" prepare begin || fails+=("$order: prepare vm-$v: $(cat "$ERR")"); done
                for v in $order; do
                        [ "$(rd $gov)" = performance ] || fails+=("$order: before vm-$v stops: $(rd $gov)")
                        stop_phases "$ROOT/$v.xml" "vm-$v"
                        left=$((left - 1))
                        [ $left -gt 0 ] && [ "$(rd $gov)" != performance ] && fails+=("$order: after vm-$v stops, $left still run: $(rd $gov)")
                done
                [ "$(snapshot)" = "$before" ] || fails+=("$order: at the end: $(diff <(echo "$before") <(snapshot) | head -4 | tr '\n' ' ')")
                grep -q hold "$ROOT/run/vmprep/ledger" && fails+=("$order: holds left: $(cat "$ROOT/run/vmprep/ledger")")
        done
        [ ${#fails[@]} -eq 0 ] \
                && t_ok "three VMs on one cpufreq policy, stopped in each of the 6 orders: performance while any runs, the host's schedutil back after the last" \
                || t_fail "three VMs on one policy" "${fails[@]:0:5}"
}

case_governor_changed_while_vms_run_stays() {
        SHARED_POLICY=1 tune_tree
        local gov=sys/devices/system/cpu/cpufreq/policy0/scaling_governor
        one_cpu_vm vm-a "$UUID_A" 1 "<vmprep:tune governor='performance'/>" > "$ROOT/a.xml"
        one_cpu_vm vm-b "$UUID_B" 2 "<vmprep:tune governor='performance'/>" > "$ROOT/b.xml"
        hook "$ROOT/a.xml" vm-a prepare begin && hook "$ROOT/b.xml" vm-b prepare begin || { t_fail "admin governor" "$(cat "$ERR")"; return; }
        echo powersave > "$ROOT/$gov"   # the admin, while both run
        stop_phases "$ROOT/a.xml" vm-a
        stop_phases "$ROOT/b.xml" vm-b
        [ "$(rd $gov)" = powersave ] && grep -q "is 'powersave', not the 'performance' vmprep set: it was changed while VMs ran, and stays (it was 'schedutil' before the first VM)" "$ERR" \
                && ! grep -q hold "$ROOT/run/vmprep/ledger" \
                && t_ok "a governor the admin changed while VMs ran stays the admin's when the last VM stops, with a warning" \
                || t_fail "admin governor" "$(rd $gov)" "$(cat "$ERR")"
}

case_ksm() {
        local x
        tune_tree; x=$ROOT/x.xml
        domain vm1 "$UUID_A" "<vmprep:tune ksm='off'/>" > "$x"
        hook "$x" vm1 prepare begin
        local during; during=$(rd sys/kernel/mm/ksm/run)
        stop_phases "$x" vm1
        [ "$during" = 0 ] && [ "$(rd sys/kernel/mm/ksm/run)" = 1 ] && ! grep -q "ksm/run 2" "$ROOT/.fake/writes.log" \
                && t_ok "ksm='off' writes 0 (ksmd stops, merged pages stay merged), never 2, and 1 is back after" \
                || t_fail "ksm='off'" "during: $during, after: $(rd sys/kernel/mm/ksm/run)" "$(cat "$ROOT/.fake/writes.log")" "$(cat "$ERR")"

        KSM_RUN=2 tune_tree; x=$ROOT/x.xml
        domain vm1 "$UUID_A" "<vmprep:tune ksm='off'/>" > "$x"
        hook "$x" vm1 prepare begin && stop_phases "$x" vm1
        [ "$(rd sys/kernel/mm/ksm/run)" = 2 ] && ! grep -q "ksm/run" "$ROOT/.fake/writes.log" \
                && t_ok "ksm='off' on a host whose admin set run=2: nothing written, before or after (no second unmerge)" \
                || t_fail "ksm='off' with run=2" "$(cat "$ROOT/.fake/writes.log")" "$(cat "$ERR")"

        tune_tree; x=$ROOT/x.xml
        domain vm1 "$UUID_A" "<vmprep:tune ksm='unmerge'/>" > "$x"
        hook "$x" vm1 prepare begin
        during=$(rd sys/kernel/mm/ksm/run)
        stop_phases "$x" vm1
        [ "$during" = 2 ] && [ "$(rd sys/kernel/mm/ksm/run)" = 1 ] \
                && t_ok "ksm='unmerge' writes 2 (stop and unmerge), and 1 is back after" \
                || t_fail "ksm='unmerge'" "during: $during, after: $(rd sys/kernel/mm/ksm/run)" "$(cat "$ERR")"

        NO_KSM=1 tune_tree; x=$ROOT/x.xml
        domain vm1 "$UUID_A" "<vmprep:tune ksm='off' swappiness='10'/>" > "$x"
        if hook "$x" vm1 prepare begin && [ "$(rd proc/sys/vm/swappiness)" = 10 ]; then
                stop_phases "$x" vm1
                t_ok "ksm='off' on a host without KSM starts (nothing merges there)"
        else
                t_fail "ksm='off' without KSM" "$(cat "$ERR")"
        fi
        domain vm1 "$UUID_A" "<vmprep:tune ksm='on'/>" > "$x"
        if hook "$x" vm1 prepare begin; then t_fail "ksm='on' without KSM fails" "started"
        else grep -q "cannot set KSM to '1'" "$ERR" && t_ok "ksm='on' on a host without KSM fails, naming the file" || t_fail "ksm='on' without KSM" "$(cat "$ERR")"; fi
        stop_phases "$x" vm1
}

case_realtime_checks() {
        tune_tree
        local x=$ROOT/x.xml
        domain vm1 "$UUID_A" "<vmprep:tune rt-runtime='unlimited'/>" realtime > "$x"
        hook "$x" vm1 prepare begin || { t_fail "realtime checks" "$(cat "$ERR")"; return; }
        if grep -q "vCPU 0-1 have no realtime scheduler; add <cputune><vcpusched vcpus='0-1' scheduler='fifo' priority='1'/></cputune>" "$ERR" \
                && grep -q "add <memoryBacking><locked/></memoryBacking>" "$ERR" \
                && grep -q "realtime: KSM may merge guest pages, .*add <memoryBacking><nosharepages/></memoryBacking>" "$ERR" \
                && grep -q "lacks isolcpus, nohz_full, rcu_nocbs for the vCPUs' CPUs 2-3 (boot-time only); add: isolcpus=managed_irq,domain,2-3 nohz_full=2-3 rcu_nocbs=2-3" "$ERR"; then
                t_ok "realtime: warns of missing <vcpusched>, <locked/>, <nosharepages/> and isolcpus/nohz_full/rcu_nocbs, printing what to add"
        else t_fail "realtime warnings" "$(cat "$ERR")"; fi
        stop_phases "$x" vm1
        CMDLINE_EXTRA="isolcpus=domain,2-3 nohz_full=2-3 rcu_nocbs=1-3" tune_tree
        x=$ROOT/x.xml
        domain vm1 "$UUID_A" "<vmprep:tune rt-runtime='unlimited'/>" realtime "<memoryBacking><nosharepages/><locked/></memoryBacking>" \
                "<vcpusched vcpus='0-1' scheduler='fifo' priority='1'/>" > "$x"
        hook "$x" vm1 prepare begin && ! grep -q realtime "$ERR" \
                && t_ok "realtime: a domain with <vcpusched>, <locked/>, <nosharepages/> and a matching command line gets no warning" \
                || t_fail "realtime without warnings" "$(cat "$ERR")"
        stop_phases "$x" vm1
}

# thp_held_by_vm_a: vm-a holds THP at never; vm1 asks for every setting
thp_held_by_vm_a() {
        tune_tree
        domain vm-a "$UUID_B" "<vmprep:tune thp='never'/>" > "$ROOT/a.xml"
        hook "$ROOT/a.xml" vm-a prepare begin || crash_fail "vm-a: $(cat "$ERR")"
        domain vm1 "$UUID_A" "$RT" > "$ROOT/x.xml"
}
rt_vm() { tune_tree; domain vm1 "$UUID_A" "$RT" > "$ROOT/x.xml"; }
case_crash_points() {
        crash_sweep thp_held_by_vm_a vm1 prepare begin
        crash_verdict 10 "SIGKILL at each of $CRASHED crash points of prepare (another VM holding THP), then release: exactly as before, THP still the other VM's" \
                "tune crash points of prepare"
        crash_sweep rt_vm vm1 release end
        crash_verdict 10 "SIGKILL at each of $CRASHED crash points of release, then release again: exactly as before" \
                "tune crash points of release"
}

# ---- Looking Glass shared memory (<vmprep:shmem>, carried by this hook) ----
SHM_DEV="<devices><shmem name='looking-glass'><model type='ivshmem-plain'/><size unit='M'>32</size></shmem></devices>"
# a user and a group of this host that are not root's (getpwnam_r reads the
# host's own passwd/group, as the hook does on a real host)
SHM_USER=nobody SHM_GROUP=$(getent group nogroup >/dev/null && echo nogroup || echo nobody)
shm_state() { [ -e "$ROOT/$1" ] && stat -c '%s %U:%G %a %F' "$ROOT/$1" || echo absent; }
dev_snapshot() { (cd "$ROOT" && find dev -exec stat -c '%n %s %u:%g %a %F' {} + 2>/dev/null | sort); }

case_shmem_created_and_removed() {
        tune_tree; mkdir -p "$ROOT/dev/shm"
        local x=$ROOT/x.xml got
        domain vm1 "$UUID_A" "<vmprep:shmem name='looking-glass' owner='$SHM_USER' group='$SHM_GROUP' mode='0660'/>" "" "$SHM_DEV" > "$x"
        hook "$x" vm1 prepare begin || { t_fail "shmem prepare" "$(cat "$ERR")"; return; }
        got=$(shm_state dev/shm/looking-glass)
        [ "$got" = "33554432 $SHM_USER:$SHM_GROUP 660 regular file" ] \
                && t_ok "shmem: /dev/shm/looking-glass created before QEMU starts, 32 MiB as the domain's <size unit='M'>32</size> says, $SHM_USER:$SHM_GROUP 0660" \
                || t_fail "shmem created" "$got" "$(cat "$ERR")"
        grep -q "^S .* shmem shmem:/dev/shm/looking-glass /dev/shm/looking-glass absent" "$ROOT/run/vmprep/$UUID_A.tune.journal" \
                && t_ok "shmem: the creation is journalled (old value 'absent') before the file exists" \
                || t_fail "shmem journal" "$(cat "$ROOT/run/vmprep/$UUID_A.tune.journal")"
        stop_phases "$x" vm1
        got=$(shm_state dev/shm/looking-glass)
        [ "$got" = absent ] && [ ! -e "$ROOT/run/vmprep/$UUID_A.tune.journal" ] \
                && t_ok "shmem: release removes the file vmprep created, and the journal" \
                || t_fail "shmem removed" "$got" "$(cat "$ERR")"
        # no size: libvirt's (and QEMU's) default of 4 MiB; bytes when no unit
        domain vm1 "$UUID_A" "<vmprep:shmem name='lg2' owner='$SHM_USER'/>" "" "<devices><shmem name='lg2'><model type='ivshmem-plain'/></shmem><shmem name='lg3'><size>65536</size></shmem></devices>" > "$x"
        hook "$x" vm1 prepare begin
        got=$(shm_state dev/shm/lg2)
        [ "$got" = "4194304 $SHM_USER:root 660 regular file" ] \
                && t_ok "shmem: a <shmem> without <size> gets libvirt's 4 MiB; no group= leaves root's group, mode 0660 by default" \
                || t_fail "shmem default size" "$got" "$(cat "$ERR")"
        stop_phases "$x" vm1
}

case_shmem_existing_kept() {
        tune_tree; mkdir -p "$ROOT/dev/shm"
        local x=$ROOT/x.xml got
        head -c 65536 /dev/zero > "$ROOT/dev/shm/looking-glass"; truncate -s 64M "$ROOT/dev/shm/looking-glass"
        chmod 0600 "$ROOT/dev/shm/looking-glass"
        domain vm1 "$UUID_A" "<vmprep:shmem name='looking-glass' owner='$SHM_USER' group='$SHM_GROUP'/>" "" "$SHM_DEV" > "$x"
        hook "$x" vm1 prepare begin || { t_fail "shmem existing prepare" "$(cat "$ERR")"; return; }
        got=$(shm_state dev/shm/looking-glass)
        [ "$got" = "67108864 $SHM_USER:$SHM_GROUP 660 regular file" ] \
                && t_ok "shmem: a file that was there (64 MiB, larger than asked: QEMU maps it) is given to $SHM_USER:$SHM_GROUP 0660, not recreated" \
                || t_fail "shmem existing" "$got"
        stop_phases "$x" vm1
        got=$(shm_state dev/shm/looking-glass)
        [ "$got" = "67108864 root:root 600 regular file" ] \
                && t_ok "shmem: release keeps a file vmprep did not create and gives back its owner root:root and mode 0600" \
                || t_fail "shmem existing kept" "$got" "$(cat "$ERR")"
}

case_shmem_refusals() {
        tune_tree; mkdir -p "$ROOT/dev/shm"
        local x=$ROOT/x.xml before
        before=$(dev_snapshot)
        domain vm1 "$UUID_A" "<vmprep:tune thp='never'/><vmprep:shmem name='looking-glass' owner='vmprep-no-such-user'/>" "" "$SHM_DEV" > "$x"
        if hook "$x" vm1 prepare begin; then t_fail "unknown owner refused" "started"
        elif grep -q "<vmprep:shmem name='looking-glass' owner='vmprep-no-such-user'>: no such user on this host" "$ERR" \
                && [ "$(dev_snapshot)" = "$before" ] && [ "$(rd sys/kernel/mm/transparent_hugepage/enabled)" = "always [madvise] never" ]; then
                t_ok "shmem: an owner this host does not know is refused by name, before anything (THP either) is touched"
        else t_fail "unknown owner" "$(cat "$ERR")"; fi
        stop_phases "$x" vm1
        domain vm1 "$UUID_A" "<vmprep:shmem name='looking-glass' group='vmprep-no-such-group'/>" "" "$SHM_DEV" > "$x"
        if hook "$x" vm1 prepare begin; then t_fail "unknown group refused" "started"
        else grep -q "group='vmprep-no-such-group'>: no such group on this host" "$ERR" && t_ok "shmem: an unknown group is refused by name" \
                || t_fail "unknown group" "$(cat "$ERR")"; fi
        domain vm1 "$UUID_A" "<vmprep:shmem name='lg'/>" "" "$SHM_DEV" > "$x"
        if hook "$x" vm1 prepare begin; then t_fail "shmem without a domain <shmem> refused" "started"
        else grep -q "<vmprep:shmem name='lg'>: the domain has no <shmem name='lg'> device" "$ERR" && [ "$(dev_snapshot)" = "$before" ] \
                && t_ok "shmem: a name the domain has no <shmem> for is refused, with the element to add" \
                || t_fail "no domain shmem" "$(cat "$ERR")"; fi
        domain vm1 "$UUID_A" "<vmprep:shmem name='lg'/>" "" "<devices><shmem name='lg'><model type='ivshmem-doorbell'/><server path='/run/ivsh.sock'/></shmem></devices>" > "$x"
        if hook "$x" vm1 prepare begin; then t_fail "doorbell refused" "started"
        else grep -q "has model 'ivshmem-doorbell'; only ivshmem-plain maps /dev/shm/lg" "$ERR" && t_ok "shmem: an ivshmem-doorbell <shmem> (memory from its server) is refused by model" \
                || t_fail "doorbell" "$(cat "$ERR")"; fi
        truncate -s 16M "$ROOT/dev/shm/looking-glass"; chmod 0644 "$ROOT/dev/shm/looking-glass"
        before=$(dev_snapshot)
        domain vm1 "$UUID_A" "<vmprep:shmem name='looking-glass' owner='$SHM_USER'/>" "" "$SHM_DEV" > "$x"
        if hook "$x" vm1 prepare begin; then t_fail "smaller file refused" "started"
        else grep -q "/dev/shm/looking-glass exists with 16 MiB, less than the 32 MiB" "$ERR" && [ "$(dev_snapshot)" = "$before" ] \
                && t_ok "shmem: an existing file smaller than the domain's <size> (QEMU refuses it) fails the start and is left as it was" \
                || t_fail "smaller file" "$(cat "$ERR")" "$(diff <(echo "$before") <(dev_snapshot))"; fi
        stop_phases "$x" vm1
        rm -f "$ROOT/dev/shm/looking-glass"; ln -s /etc/passwd "$ROOT/dev/shm/looking-glass"
        if hook "$x" vm1 prepare begin; then t_fail "symlink refused" "started"
        else grep -q "/dev/shm/looking-glass is a symbolic link, not a regular file" "$ERR" && [ "$(stat -c %U /etc/passwd)" = root ] \
                && t_ok "shmem: a symbolic link at /dev/shm/NAME is refused, never followed" \
                || t_fail "symlink" "$(cat "$ERR")"; fi
        stop_phases "$x" vm1
}

case_shmem_kvmfr() {
        tune_tree; mkdir -p "$ROOT/dev"
        local x=$ROOT/x.xml got
        domain vm1 "$UUID_A" "<vmprep:shmem device='/dev/kvmfr0' owner='$SHM_USER' group='$SHM_GROUP' mode='0660'/>" > "$x"
        if hook "$x" vm1 prepare begin; then t_fail "kvmfr missing refused" "started"
        else grep -q "<vmprep:shmem device='/dev/kvmfr0'>: there is no /dev/kvmfr0 (load the kvmfr module" "$ERR" \
                && t_ok "shmem: a kvmfr device that is not there is refused, naming the module to load" \
                || t_fail "kvmfr missing" "$(cat "$ERR")"; fi
        stop_phases "$x" vm1
        # a character device node like the module's (major/minor do not matter: only stat, chown and chmod touch it)
        mknod -m 0600 "$ROOT/dev/kvmfr0" c 1 3 || { t_fail "mknod in the fake tree" ""; return; }
        hook "$x" vm1 prepare begin || { t_fail "kvmfr prepare" "$(cat "$ERR")"; return; }
        got=$(shm_state dev/kvmfr0)
        [ "$got" = "0 $SHM_USER:$SHM_GROUP 660 character special file" ] \
                && t_ok "shmem: /dev/kvmfr0 handed to $SHM_USER:$SHM_GROUP 0660 at prepare" || t_fail "kvmfr owner" "$got"
        stop_phases "$x" vm1
        got=$(shm_state dev/kvmfr0)
        [ "$got" = "0 root:root 600 character special file" ] \
                && t_ok "shmem: release gives /dev/kvmfr0 back to root:root 0600 and leaves the node" || t_fail "kvmfr back" "$got"
}

# shm_vm: vm1 with a Looking Glass file in /dev/shm, THP never
shm_vm() {
        tune_tree; mkdir -p "$ROOT/dev/shm"
        domain vm1 "$UUID_A" "<vmprep:tune thp='never'/><vmprep:shmem name='looking-glass' owner='$SHM_USER' group='$SHM_GROUP'/>" "" "$SHM_DEV" > "$ROOT/x.xml"
}
shm_snapshot() { snapshot; dev_snapshot; }
case_shmem_crash_points() {
        crash_sweep -m 100 -s shm_snapshot shm_vm vm1 prepare begin
        crash_verdict 3 "shmem: SIGKILL at each of $CRASHED crash points of prepare, then release: no /dev/shm file left, THP back" \
                "shmem crash points"
}
epp_of() { rd "sys/devices/system/cpu/cpufreq/policy$1/energy_performance_preference"; }
# A damaged ledger under two VMs sharing /dev/shm/looking-glass (vm-a made
# it, vm-b found it): vm-a's release rebuilds the ledger from the journals,
# vm-b's hold on the file with it, so vm-a's stop leaves the file to vm-b.
case_shmem_damaged_ledger() {
        tune_tree; mkdir -p "$ROOT/dev/shm"
        local a=$ROOT/a.xml b=$ROOT/b.xml got
        domain vm-a "$UUID_A" "<vmprep:shmem name='looking-glass' owner='$SHM_USER'/>" "" "$SHM_DEV" > "$a"
        domain vm-b "$UUID_B" "<vmprep:shmem name='looking-glass' owner='$SHM_USER'/>" "" "$SHM_DEV" > "$b"
        hook "$a" vm-a prepare begin && hook "$b" vm-b prepare begin || { t_fail "shmem damaged ledger" "$(cat "$ERR")"; return; }
        damage_ledger "$ROOT"
        stop_phases "$a" vm-a
        got=$(shm_state dev/shm/looking-glass)
        if grep -qF "$(ledger_rebuilt_msg 2)" "$ERR" && [ "$got" = "33554432 $SHM_USER:root 660 regular file" ]; then
                t_ok "shmem: a ledger damaged under two VMs sharing /dev/shm/looking-glass is rebuilt with vm-b's hold: vm-a's stop leaves the file to vm-b"
        else
                t_fail "shmem and a damaged ledger" "file: $got" "$(cat "$ERR")"
        fi
        stop_phases "$b" vm-b
}

case_epp() {
        EPP=1 tune_tree
        local x=$ROOT/x.xml y=$ROOT/y.xml before
        domain vm1 "$UUID_A" "<vmprep:tune epp='performance'/>" > "$x"
        hook "$x" vm1 prepare begin || { t_fail "epp prepare" "$(cat "$ERR")"; return; }
        [ "$(epp_of 0) $(epp_of 1) $(epp_of 2) $(epp_of 3)" = "balance_performance balance_performance performance performance" ] \
                && t_ok "epp: energy_performance_preference 'performance' on the VM's CPUs 2-3 only" \
                || t_fail "epp set" "$(epp_of 0) $(epp_of 1) $(epp_of 2) $(epp_of 3)"
        # a second VM on CPU 3 with the same wish shares the count; another wish is refused by name
        printf "<domain><name>vm2</name><uuid>%s</uuid><vcpu>1</vcpu><cputune><vcpupin vcpu='0' cpuset='3'/></cputune><metadata><vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:tune epp='power'/></vmprep:profile></metadata></domain>" "$UUID_B" > "$y"
        if hook "$y" vm2 prepare begin; then t_fail "epp conflict refused" "started"
        else grep -q "the EPP of policy3 is 'performance' for the running VM 'vm1'; vm2 asks for 'power'" "$ERR" \
                && t_ok "epp: a second VM asking another EPP on a shared policy is refused, naming the VM that holds it" \
                || t_fail "epp conflict" "$(cat "$ERR")"; fi
        stop_phases "$y" vm2
        stop_phases "$x" vm1
        [ "$(epp_of 2) $(epp_of 3)" = "balance_performance balance_performance" ] && [ ! -e "$ROOT/run/vmprep/$UUID_A.tune.journal" ] \
                && t_ok "epp: release writes back the preference each policy had" || t_fail "epp restore" "$(epp_of 2) $(epp_of 3)"
        echo "default performance" > "$ROOT/sys/devices/system/cpu/cpufreq/policy2/energy_performance_available_preferences"
        domain vm1 "$UUID_A" "<vmprep:tune epp='power'/>" > "$x"
        before=$(snapshot)
        if hook "$x" vm1 prepare begin; then t_fail "epp not offered refused" "started"
        else grep -q "<vmprep:tune epp='power'>: cpufreq policy2 (driver amd-pstate-epp) offers only: default performance" "$ERR" && [ "$(snapshot)" = "$before" ] \
                && t_ok "epp: a value the CPU does not offer is refused, naming driver and the values offered; nothing changed" \
                || t_fail "epp not offered" "$(cat "$ERR")"; fi
        stop_phases "$x" vm1
        tune_tree; x=$ROOT/x.xml
        domain vm1 "$UUID_A" "<vmprep:tune epp='performance'/>" > "$x"
        if hook "$x" vm1 prepare begin; then t_fail "epp without driver refused" "started"
        else grep -q "cpufreq policy2 has no energy_performance_preference (its driver is acpi-cpufreq; EPP needs amd-pstate or intel_pstate in active mode" "$ERR" \
                && t_ok "epp: a driver without EPP (acpi-cpufreq, or passive mode) is refused, naming the driver and the boot option" \
                || t_fail "epp no driver" "$(cat "$ERR")"; fi
        stop_phases "$x" vm1
        EPP=1 SHARED_POLICY=1 tune_tree; x=$ROOT/x.xml
        domain vm1 "$UUID_A" "<vmprep:tune epp='performance'/>" > "$x"
        hook "$x" vm1 prepare begin
        grep -q "cpufreq policy0 covers CPUs 0-3: the energy performance preference applies to the host's cores too (epp='performance' reaches CPU 0-1" "$ERR" \
                && t_ok "epp: a policy shared with host cores is warned of, as for the governor" || t_fail "epp shared warn" "$(cat "$ERR")"
        stop_phases "$x" vm1
}

case_round_trip
case_two_vms_overlap
case_governor_without_cpufreq
case_damaged_ledger_release
case_refusals
case_shared_policy_warns
case_shared_policy_three_vms_every_stop_order
case_governor_changed_while_vms_run_stays
case_ksm
case_realtime_checks
case_crash_points
case_shmem_created_and_removed
case_shmem_existing_kept
case_shmem_refusals
case_shmem_kvmfr
case_shmem_crash_points
case_shmem_damaged_ledger
case_epp
t_done
