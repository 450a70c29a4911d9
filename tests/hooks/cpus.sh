#!/usr/bin/env bash
# 30-vmprep-cpus driven as libvirt drives it (argv, domain XML on stdin,
# every phase) against fake kernel trees: cgroup v1 (this machine's kind),
# cgroup v2 without systemd, systemd (its D-Bus side a test double), IRQs
# with a managed one, partitions.
#   tests/hooks/cpus.sh build/test
set -uo pipefail
here=$(cd -- "$(dirname -- "$0")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
B=${1:-build/test}
case $B in /*) ;; *) B=$repo/$B ;; esac
HOOK=$B/hooks/30-vmprep-cpus
T_SUITE=cpus-hooks
# shellcheck source=tests/lib.sh
. "$repo/tests/lib.sh"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
unset VMPREP_CONF

[ -x "$HOOK" ] || { echo "missing $HOOK"; exit 1; }

UUID_A=1a6e2f58-8c5c-4c1e-9a57-3f1c2b4d5e01
UUID_B=1a6e2f58-8c5c-4c1e-9a57-3f1c2b4d5e02
UUID_C=1a6e2f58-8c5c-4c1e-9a57-3f1c2b4d5e03
CG1=sys/fs/cgroup/cpuset

# shellcheck source=tests/hooks/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/hooks/cpus_tree.sh
. "$here/cpus_tree.sh"
# every kernel-side file (not vmprep's state, not the fake kernel's
# controls) as the kernel shows it, and the cgroups
SNAPSHOT=("text:sys,proc,run/systemd" "dirs:sys")

# domain NAME UUID VCPUS CPUTUNE [PROFILE-ELEMENTS]; $DOMID: the live
# XML's <domain id=...> (libvirt's id of a running domain)
domain() {
        printf "<domain type='kvm'%s><name>%s</name><uuid>%s</uuid><memory unit='MiB'>256</memory><vcpu>%s</vcpu>" \
                "${DOMID:+ id='$DOMID'}" "$1" "$2" "$3"
        [ -n "$4" ] && printf "<cputune>%s</cputune>" "$4"
        printf "<metadata><vmprep:profile xmlns:vmprep='urn:vmprep:1'>%s</vmprep:profile></metadata>" "${5:-<vmprep:isolate/>}"
        printf "<devices><serial type='pty'/></devices></domain>\n"
}
pins() { local i=0 c s=""; for c in "$@"; do s+="<vcpupin vcpu='$i' cpuset='$c'/>"; i=$((i + 1)); done; echo "$s"; }

no_claims() { ! grep -q "^hold [0-9a-f-]* cpus" "$ROOT/run/vmprep/ledger" 2>/dev/null; }

# ---- cases ----

# as `vmprep pin` writes a VM: vCPUs on core 2-3, emulator and iothread on
# CPU 0's core (the host's share): only the vCPUs' core is claimed
case_host_share_pins_stay_with_the_host() {
        tree_v1
        local x=$ROOT/x.xml before fails=()
        domain vm_p.1 "$UUID_A" 2 "$(pins 2 3)<emulatorpin cpuset='0-1'/><iothreadpin iothread='1' cpuset='0-1'/>" \
                | sed "s#<vcpu>2</vcpu>#<vcpu>2</vcpu><iothreads>1</iothreads>#" > "$x"
        before=$(snapshot)
        hook "$x" vm_p.1 prepare begin || { t_fail "host share" "prepare: $(cat "$ERR")"; return; }
        [ "$(rd "$CG1/vmprep.host/cpuset.cpus")" = 0-1 ] || fails+=("host cgroup cpus: $(rd "$CG1/vmprep.host/cpuset.cpus" 2>&1)")
        grep -q "isolated CPU 2-3 for vm_p.1" "$ROOT/run/vmprep/events.log" || fails+=("events.log: $(tail -2 "$ROOT/run/vmprep/events.log")")
        grep -q "cpus/0\b\|cpus/1\b" "$ROOT/run/vmprep/ledger" && fails+=("CPU 0's core claimed: $(cat "$ROOT/run/vmprep/ledger")")
        stop_phases "$x" vm_p.1
        [ "$(snapshot)" = "$before" ] || fails+=("release did not restore the tree")
        [ ${#fails[@]} = 0 ] \
                && t_ok "emulator and iothread pinned on CPU 0's core (as vmprep pin writes them): only the vCPUs' core 2-3 is claimed, the host keeps 0-1" \
                || t_fail "host share pins" "${fails[@]}"
}

case_untagged_costs_nothing() {
        tree_v1
        local x=$ROOT/x.xml before op
        printf "<domain><name>plain</name><uuid>%s</uuid><vcpu>2</vcpu></domain>" "$UUID_A" > "$x"
        before=$(snapshot)
        for op in "prepare begin" "started begin" "stopped end" "release end" "reconnect begin"; do
                # shellcheck disable=SC2086
                hook "$x" plain $op || { t_fail "untagged VM" "$op: $(cat "$ERR")"; return; }
        done
        [ "$(snapshot)" = "$before" ] && [ ! -s "$ROOT/.fake/writes.log" ] \
                && t_ok "cpus: an untagged VM passes every phase without a write" \
                || t_fail "cpus: untagged VM touches nothing" "$(cat "$ROOT/.fake/writes.log")"
}

case_v1_round_trip() {
        tree_v1
        local x=$ROOT/x.xml before
        domain vm1 "$UUID_A" 2 "$(pins 2 3)<emulatorpin cpuset='3'/>" > "$x"
        before=$(snapshot)
        hook "$x" vm1 prepare begin || { t_fail "v1 round trip" "prepare: $(cat "$ERR")"; return; }
        local h=$CG1/vmprep.host fails=()
        [ "$(rd $h/cpuset.cpus)" = 0-1 ] || fails+=("host cgroup cpus: $(rd $h/cpuset.cpus 2>&1)")
        [ "$(rd $h/cpuset.mems)" = 0 ] || fails+=("host cgroup mems: $(rd $h/cpuset.mems 2>&1)")
        [ "$(sort -n "$ROOT/$h/cgroup.procs" | tr '\n' ' ')" = "1 100 101 " ] || fails+=("host procs: $(tr '\n' ' ' < "$ROOT/$h/cgroup.procs")")
        [ "$(rd $CG1/cgroup.procs)" = 2 ] || fails+=("root keeps only the kernel thread: $(tr '\n' ' ' < "$ROOT/$CG1/cgroup.procs")")
        [ "$(rd $CG1/machine/cgroup.procs)" = 500 ] || fails+=("libvirt's machine cgroup was touched")
        [ "$(rd $CG1/hostscope/cgroup.procs | tr '\n' ' ')" = "300 301 " ] || fails+=("a child cgroup was touched")
        local i; for i in 0 1 24; do [ "$(rd proc/irq/$i/smp_affinity_list)" = 0-1 ] || fails+=("irq $i: $(rd proc/irq/$i/smp_affinity_list)"); done
        [ "$(rd proc/irq/25/smp_affinity_list)" = 0-3 ] || fails+=("managed irq 25 changed")
        [ "$(rd proc/irq/default_smp_affinity)" = 3 ] || fails+=("default_smp_affinity: $(rd proc/irq/default_smp_affinity)")
        [ "$(rd sys/devices/virtual/workqueue/cpumask)" = 3 ] || fails+=("workqueue mask: $(rd sys/devices/virtual/workqueue/cpumask)")
        [ -s "$OUT" ] && fails+=("prepare printed to stdout")
        grep -q "isolated CPU 2-3 for vm1" "$ROOT/run/vmprep/events.log" || fails+=("events.log: $(tail -3 "$ROOT/run/vmprep/events.log")")
        grep -q "IRQ 25: managed by the kernel" "$ROOT/run/vmprep/events.log" || fails+=("the managed IRQ is not reported")
        if [ ${#fails[@]} -eq 0 ]; then
                t_ok "cgroup v1: host tasks in vmprep.host on CPU 0-1 (kernel thread and libvirt's cgroup left), IRQs, default_smp_affinity, workqueue mask off CPU 2-3; managed IRQ reported, not fatal"
        else
                t_fail "cgroup v1 prepare" "${fails[@]}"
        fi
        local mid; mid=$(snapshot)
        hook "$x" vm1 start begin && hook "$x" vm1 started begin && hook "$x" vm1 reconnect begin \
                && hook "$x" vm1 migrate begin && [ ! -s "$OUT" ] && hook "$x" vm1 restore begin && [ ! -s "$OUT" ] \
                && [ "$(snapshot)" = "$mid" ] \
                && t_ok "start, started, reconnect, migrate, restore of the running VM: exit 0, nothing on stdout, nothing changed" \
                || t_fail "the other phases change nothing" "$(cat "$ERR")" "stdout: $(cat "$OUT")"
        stop_phases "$x" vm1
        if [ "$(snapshot)" = "$before" ] && no_claims && ! ls "$ROOT"/run/vmprep/*.journal >/dev/null 2>&1; then
                t_ok "cgroup v1: release restores every file and task exactly, removes vmprep.host, no claim or journal left"
        else
                t_fail "cgroup v1 release restores the tree" "$(diff <(echo "$before") <(snapshot) | head -8)" "$(cat "$ROOT/run/vmprep/ledger")"
        fi
}

case_host_scope_confines_only_its_tasks() {
        tree_v1
        mkdir -p "$ROOT/etc/vmprep"
        echo "host-scope = /hostscope   # only the test's processes" > "$ROOT/etc/vmprep/vmprep.conf"
        local x=$ROOT/x.xml before
        domain vm1 "$UUID_A" 1 "$(pins 3)" > "$x"
        before=$(snapshot)
        hook "$x" vm1 prepare begin || { t_fail "host-scope" "$(cat "$ERR")"; return; }
        local h=$CG1/hostscope/vmprep.host
        if [ "$(rd $h/cpuset.cpus)" = 0-2 ] && [ "$(sort -n "$ROOT/$h/cgroup.procs" | tr '\n' ' ')" = "300 301 " ] \
                && [ "$(rd $CG1/cgroup.procs | tr '\n' ' ')" = "1 2 100 101 " ] && [ ! -e "$ROOT/$CG1/vmprep.host" ]; then
                t_ok "host-scope=/hostscope: only that cgroup's processes move (into /hostscope/vmprep.host, CPU 0-2); PID 1 and the rest stay"
        else
                t_fail "host-scope" "$(rd $h/cpuset.cpus 2>&1) / $(tr '\n' ' ' < "$ROOT/$h/cgroup.procs" 2>&1) / root: $(tr '\n' ' ' < "$ROOT/$CG1/cgroup.procs")"
        fi
        stop_phases "$x" vm1
        [ "$(snapshot)" = "$before" ] && t_ok "host-scope: release puts them back exactly" \
                || t_fail "host-scope release" "$(diff <(echo "$before") <(snapshot) | head -5)"
        # vmprep.conf broken while the VM runs: the release still gives back, from the journals
        hook "$x" vm1 prepare begin || { t_fail "host-scope, second start" "$(cat "$ERR")"; return; }
        echo "host-scope = ../etc" > "$ROOT/etc/vmprep/vmprep.conf"
        stop_phases "$x" vm1
        [ "$(snapshot)" = "$before" ] && grep -q "giving back with the default settings instead" "$ERR" \
                && t_ok "vmprep.conf broken while the VM ran: release still puts everything back exactly, saying so" \
                || t_fail "release with a broken vmprep.conf" "$(cat "$ERR")" "$(diff <(echo "$before") <(snapshot) | head -5)"
        if hook "$x" vm1 prepare begin; then t_fail "a bad host-scope is refused" "accepted"
        else grep -q "host-scope '../etc' is not a cgroup path" "$ERR" && t_ok "a host-scope that is no cgroup path is refused, naming it" \
                || t_fail "bad host-scope message" "$(cat "$ERR")"; fi
        stop_phases "$x" vm1
}

case_refusals() {
        tree_v1
        local a=$ROOT/a.xml b=$ROOT/b.xml c=$ROOT/c.xml e=$ROOT/e.xml u=$ROOT/u.xml
        domain vm-a "$UUID_A" 2 "$(pins 2 3)" > "$a"
        domain vm-b "$UUID_B" 1 "$(pins 3)" > "$b"
        domain vm-c "$UUID_C" 2 "$(pins 0 1)" > "$c"
        hook "$a" vm-a prepare begin || { t_fail "refusals: vm-a" "$(cat "$ERR")"; return; }
        local mid; mid=$(snapshot)
        if hook "$b" vm-b prepare begin; then t_fail "overlapping claims are refused" "vm-b started"
        elif grep -q "CPU 3: already isolated for the running VM 'vm-a' ($UUID_A), which claims CPU 2-3" "$ERR" && [ "$(snapshot)" = "$mid" ]; then
                t_ok "a second VM pinned onto a running VM's core is refused, naming that VM and the CPUs; nothing changes"
        else t_fail "overlap message" "$(cat "$ERR")"; fi
        stop_phases "$b" vm-b
        [ "$(snapshot)" = "$mid" ] || t_fail "release of the refused VM leaves the running one alone" "$(diff <(echo "$mid") <(snapshot) | head -5)"
        if hook "$c" vm-c prepare begin; then t_fail "a claim leaving the host no CPU is refused" "vm-c started"
        elif grep -q "isolating CPU 0-1 for vm-c would leave the host no CPU (online: 0-3; other running VMs claim 2-3)" "$ERR"; then
                t_ok "a VM whose pins would leave the host no online CPU is refused, saying why"
        else t_fail "no-CPU message" "$(cat "$ERR")"; fi
        stop_phases "$c" vm-c
        stop_phases "$a" vm-a
        domain vm-e "$UUID_C" 1 "$(pins 7)" > "$e"
        if hook "$e" vm-e prepare begin; then t_fail "a nonexistent CPU is refused" "started"
        else grep -q "<vcpupin vcpu='0' cpuset='7'>: CPU 7 does not exist on this host (it has CPUs 0-3)" "$ERR" \
                && t_ok "a pin on a CPU the host lacks is refused, naming the element" || t_fail "nonexistent CPU" "$(cat "$ERR")"; fi
        echo 0-2 > "$ROOT/sys/devices/system/cpu/online"
        domain vm-e "$UUID_C" 1 "$(pins 3)" > "$e"
        if hook "$e" vm-e prepare begin; then t_fail "an offline CPU is refused" "started"
        else grep -q "CPU 3 is offline (online: 0-2)" "$ERR" && t_ok "a pin on an offline CPU is refused" || t_fail "offline CPU" "$(cat "$ERR")"; fi
        echo 0-3 > "$ROOT/sys/devices/system/cpu/online"
        domain vm-u "$UUID_C" 2 "" > "$u"
        local before; before=$(snapshot)
        if hook "$u" vm-u prepare begin; then t_fail "unpinned vCPUs are refused" "started"
        elif grep -q "vCPU 0-1 (of 2, .* have neither a <vcpupin> nor a <vcpu cpuset>" "$ERR" && grep -q "run 'vmprep pin vm-u' to pin every vCPU" "$ERR" \
                && [ "$(snapshot)" = "$before" ]; then
                t_ok "isolating a VM that pins nothing is refused, pointing to 'vmprep pin VM', nothing changed"
        else t_fail "unpinned message" "$(cat "$ERR")"; fi
}

case_two_vms_host_set_recomputed() {
        tree_v1
        local a=$ROOT/a.xml b=$ROOT/b.xml before
        domain vm-a "$UUID_A" 1 "$(pins 2)" > "$a"
        domain vm-b "$UUID_B" 1 "$(pins 3)" "<vmprep:isolate irqs='no'/>" > "$b"
        before=$(snapshot)
        hook "$a" vm-a prepare begin && hook "$b" vm-b prepare begin || { t_fail "two VMs" "$(cat "$ERR")"; return; }
        local h=$CG1/vmprep.host s1 s2 s3
        s1="$(rd $h/cpuset.cpus) $(rd proc/irq/0/smp_affinity_list) $(rd sys/devices/virtual/workqueue/cpumask)"
        stop_phases "$a" vm-a
        s2="$(rd $h/cpuset.cpus) $(rd proc/irq/0/smp_affinity_list) $(rd sys/devices/virtual/workqueue/cpumask)"
        hook "$a" vm-a prepare begin
        stop_phases "$b" vm-b
        s3="$(rd $h/cpuset.cpus) $(rd proc/irq/0/smp_affinity_list) $(rd sys/devices/virtual/workqueue/cpumask)"
        stop_phases "$a" vm-a
        if [ "$s1" = "0-1 0-1,3 3" ] && [ "$s2" = "0-2 0-3 7" ] && [ "$s3" = "0-1,3 0-1,3 b" ] && [ "$(snapshot)" = "$before" ]; then
                t_ok "two VMs: host set = online minus both claims (IRQs only off the VM that asks), recomputed as each stops; the last out restores exactly"
        else
                t_fail "two VMs" "both: $s1 (want '0-1 0-1,3 3')" "after a: $s2 (want '0-2 0-3 7')" "after b: $s3 (want '0-1,3 0-1,3 b')" "$(diff <(echo "$before") <(snapshot) | head -5)"
        fi
}

# The ledger damaged while two isolated VMs run: vm-a's release rebuilds it
# from the journals and recomputes the host set with vm-b's claim still in
# it; vm-b's release restores exactly.  With a journal that cannot be read,
# the release changes nothing and says why.
case_damaged_ledger_release() {
        tree_v1
        local a=$ROOT/a.xml b=$ROOT/b.xml before fails=()
        domain vm-a "$UUID_A" 1 "$(pins 2)" > "$a"
        domain vm-b "$UUID_B" 1 "$(pins 3)" "<vmprep:isolate irqs='no'/>" > "$b"
        before=$(snapshot)
        hook "$a" vm-a prepare begin && hook "$b" vm-b prepare begin || { t_fail "damaged ledger" "$(cat "$ERR")"; return; }
        local h=$CG1/vmprep.host s1 s2 bad
        s1="$(rd $h/cpuset.cpus) $(rd proc/irq/0/smp_affinity_list) $(rd sys/devices/virtual/workqueue/cpumask)"
        damage_ledger "$ROOT"
        bad=$(unreadable_journal "$ROOT")
        hook "$a" vm-a release end && fails+=("with an unreadable journal vm-a's release exited 0")
        grep -q "nothing was given back, and the ledger cannot be rebuilt while a journal cannot be read" "$ERR" \
                || fails+=("with an unreadable journal vm-a's release says: $(cat "$ERR")")
        [ "$(rd $h/cpuset.cpus) $(rd proc/irq/0/smp_affinity_list) $(rd sys/devices/virtual/workqueue/cpumask)" = "$s1" ] \
                || fails+=("with an unreadable journal vm-a's release changed the host set")
        rm -f "$bad"
        stop_phases "$a" vm-a
        grep -qF "$(ledger_rebuilt_msg 3)" "$ERR" || fails+=("vm-a's release says: $(cat "$ERR")")
        s2="$(rd $h/cpuset.cpus) $(rd proc/irq/0/smp_affinity_list) $(rd sys/devices/virtual/workqueue/cpumask)"
        stop_phases "$b" vm-b
        [ "$s1" = "0-1 0-1,3 3" ] || fails+=("both: $s1 (want '0-1 0-1,3 3')")
        [ "$s2" = "0-2 0-3 7" ] || fails+=("after vm-a: $s2 (want '0-2 0-3 7': vm-b keeps CPU 3)")
        [ "$(snapshot)" = "$before" ] || fails+=("after both: $(diff <(echo "$before") <(snapshot) | head -5)")
        [ -z "$(ls "$ROOT/run/vmprep/"*.journal 2>/dev/null)" ] || fails+=("journals left: $(ls "$ROOT/run/vmprep/")")
        if [ ${#fails[@]} -eq 0 ]; then t_ok "ledger damaged under two isolated VMs: vm-a's release rebuilds it from the journals and keeps vm-b's CPU off the host set, vm-b's release restores exactly; with an unreadable journal the release changes nothing and says why"; else t_fail "ledger damaged under two isolated VMs: vm-a's release rebuilds it from the journals and keeps vm-b's CPU off the host set, vm-b's release restores exactly; with an unreadable journal the release changes nothing and says why" "${fails[@]}"; fi
}

# irqbalance undoes the IRQ moves within seconds: the start says so, with
# the line that keeps it off the VM's CPUs
case_irqbalance_warned() {
        tree_v1
        mkdir -p "$ROOT/proc/555"; echo irqbalance > "$ROOT/proc/555/comm"
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" 1 "$(pins 3)" > "$x"
        if hook "$x" vm1 prepare begin && grep -q "irqbalance (pid 555) runs: it spreads IRQs over every CPU again within seconds; add IRQBALANCE_BANNED_CPULIST=3 to /etc/default/irqbalance" "$ERR"; then
                t_ok "irqbalance running: the start warns that it undoes the IRQ moves, with IRQBALANCE_BANNED_CPULIST=3"
        else
                t_fail "irqbalance warned of" "$(cat "$ERR")"
        fi
        stop_phases "$x" vm1
}

case_v2_without_systemd() {
        tree_v2
        local x=$ROOT/x.xml before r=$ROOT/sys/fs/cgroup
        domain vm1 "$UUID_A" 1 "$(pins 3)" > "$x"
        before=$(snapshot)
        hook "$x" vm1 prepare begin || { t_fail "cgroup v2" "$(cat "$ERR")"; return; }
        if [ "$(cat "$r/host/cpuset.cpus")" = 0-2 ] && [ "$(cat "$r/init/cpuset.cpus")" = 0-2 ] && [ ! -s "$r/machine/cpuset.cpus" ] \
                && grep -qw cpuset "$r/cgroup.subtree_control"; then
                t_ok "cgroup v2 without systemd: cpuset enabled at the root, cpuset.cpus 0-2 on every child but machine"
        else
                t_fail "cgroup v2 prepare" "host $(cat "$r/host/cpuset.cpus") init $(cat "$r/init/cpuset.cpus") machine $(cat "$r/machine/cpuset.cpus") ctl $(cat "$r/cgroup.subtree_control")"
        fi
        stop_phases "$x" vm1
        [ "$(snapshot)" = "$before" ] && t_ok "cgroup v2: release empties cpuset.cpus again and disables cpuset at the root (exactly as found)" \
                || t_fail "cgroup v2 release" "$(diff <(echo "$before") <(snapshot) | head -5)"
}

# A 512-CPU host whose administrator confined /host to the even CPUs: a
# cpuset.cpus of 1,400 characters.  Isolating CPU 510 gives host tasks every
# CPU but 510, and release puts the administrator's whole list back (a value
# read into 256 bytes was journalled cut, and undo wrote the cut list back).
case_v2_long_cpu_lists() {
        tree_v2
        local d=$ROOT/sys/devices/system r=$ROOT/sys/fs/cgroup c even="" x=$ROOT/x.xml before
        for c in $(seq 4 511); do mkdir -p "$d/cpu/cpu$c/topology"; echo "$c" > "$d/cpu/cpu$c/topology/thread_siblings_list"; done
        for c in 0 1 2 3; do echo "$c" > "$d/cpu/cpu$c/topology/thread_siblings_list"; done
        echo 0-511 > "$d/cpu/online"; echo 0-511 > "$d/cpu/present"; echo 0-511 > "$d/node/node0/cpulist"
        for c in 0 1 24 25; do echo 0-511 > "$ROOT/proc/irq/$c/smp_affinity_list"; done
        printf 'ffffffff,%.0s' $(seq 15) > "$ROOT/proc/irq/default_smp_affinity"; echo ffffffff >> "$ROOT/proc/irq/default_smp_affinity"
        cp "$ROOT/proc/irq/default_smp_affinity" "$ROOT/sys/devices/virtual/workqueue/cpumask"
        for c in $(seq 0 2 510); do even+="${even:+,}$c"; done
        echo "$even" > "$r/host/cpuset.cpus"
        domain vm1 "$UUID_A" 1 "$(pins 510)" > "$x"
        before=$(snapshot)
        hook "$x" vm1 prepare begin || { t_fail "long CPU lists: prepare" "$(cat "$ERR")"; return; }
        if [ "$(cat "$r/host/cpuset.cpus")" = "0-509,511" ]; then
                t_ok "cgroup v2, 512 CPUs: host tasks on every CPU but the VM's (0-509,511)"
        else
                t_fail "long CPU lists: prepare" "host cpuset.cpus: $(head -c 200 "$r/host/cpuset.cpus")..."
        fi
        stop_phases "$x" vm1
        [ "$(snapshot)" = "$before" ] && t_ok "cgroup v2, 512 CPUs: release puts the whole list back" \
                || t_fail "long CPU lists: release" "$(diff <(echo "$before") <(snapshot) | head -5 | cut -c1-300)"
}

case_systemd_allowed_cpus() {
        tree_systemd
        local x=$ROOT/x.xml before u=$ROOT/run/systemd/fake-units
        domain vm1 "$UUID_A" 2 "$(pins 2 3)" > "$x"
        before=$(snapshot)
        hook "$x" vm1 prepare begin || { t_fail "systemd" "$(cat "$ERR")"; return; }
        if [ "$(cat "$u/system.slice/AllowedCPUs") $(cat "$u/user.slice/AllowedCPUs") $(cat "$u/init.scope/AllowedCPUs")" = "0-1 0-1 0-1" ]; then
                t_ok "systemd: AllowedCPUs=0-1 on system.slice, user.slice, init.scope (runtime, over the D-Bus double)"
        else
                t_fail "systemd AllowedCPUs" "$(cat "$u"/*/AllowedCPUs | tr '\n' ' ')"
        fi
        stop_phases "$x" vm1
        [ "$(snapshot)" = "$before" ] && t_ok "systemd: release resets AllowedCPUs= on all three units" \
                || t_fail "systemd release" "$(diff <(echo "$before") <(snapshot) | head -5)"
}

# A fresh systemd host has no machine.slice until the first VM starts (seen
# in the lab on 6.1): prepare defers, started makes the partition.
# The same on 6.7+: the machine slice's exclusive CPUs (a vCPU partition
# below needs them there first) could not be written at prepare; started
# writes them, in the host's journal, before the VM's own cgroups, and the
# release gives everything back.
case_partition_67_machine_slice_created_by_the_vm() {
        local x ms before got
        tree_systemd_exclusive
        ms=$ROOT/sys/fs/cgroup/machine.slice
        x=$ROOT/x.xml
        DOMID=3 domain vm1 "$UUID_A" 1 "$(pins 3)" "<vmprep:isolate mode='partition'/>" > "$x"
        local saved; saved=$(mktemp -d); cp -a "$ms" "$saved/"; rm -rf "$ms"
        before=$(snapshot)
        if ! hook "$x" vm1 prepare begin; then t_fail "6.7+ partition without machine.slice at prepare" "$(cat "$ERR")"; rm -rf "$saved"; return; fi
        cp -a "$saved/machine.slice" "$ms"; rm -rf "$saved"   # what libvirt/machined create at start
        lv_running "$x" vm1 4003 'machine-qemu\x2d3\x2dvm1.scope' 3
        : > "$ROOT/.fake/writes.log"
        if hook "$x" vm1 started begin; then
                got=$(sed -n "s|^/sys/fs/cgroup/machine.slice/||p" "$ROOT/.fake/writes.log" | tr '\n' ';')
                local want="cpuset.cpus.exclusive 3;machine-qemu\x2d3\x2dvm1.scope/cpuset.cpus.exclusive 3;machine-qemu\x2d3\x2dvm1.scope/libvirt/cpuset.cpus.exclusive 3;machine-qemu\x2d3\x2dvm1.scope/libvirt/vcpu0/cpuset.cpus.exclusive 3;machine-qemu\x2d3\x2dvm1.scope/libvirt/vcpu0/cpuset.cpus.partition isolated;"
                [ "$got" = "$want" ] && grep -q "machine.slice/cpuset.cpus.exclusive" "$ROOT/run/vmprep/00000000-0000-0000-0000-000000000000.cpus.journal" \
                        && t_ok "6.7+, no machine.slice at prepare: started gives the slice its exclusive CPUs (host journal) before the VM's scope and vCPU cgroup" \
                        || t_fail "6.7+ partition made at started" "wrote: $got" "want:  $want"
        else
                t_fail "6.7+ partition made at started" "$(cat "$ERR")"
        fi
        stop_phases "$x" vm1
        rm -rf "$ms/machine-qemu\x2d3\x2dvm1.scope" "$ROOT/run/libvirt/qemu/vm1.xml" "$ROOT/run/libvirt/qemu/vm1.pid" "$ROOT/proc/4003"
        got=$(cat "$ms/cpuset.cpus.exclusive")
        [ -z "$got" ] && [ ! -e "$ROOT/run/vmprep/$UUID_A.cpus.journal" ] \
                && t_ok "... and release gives the slice's exclusive CPUs back" \
                || t_fail "6.7+ partition made at started: release" "machine.slice exclusive '$got'" "$(cat "$ERR")"
}

case_partition_machine_slice_created_by_the_vm() {
        local x ms u
        tree_systemd
        ms=$ROOT/sys/fs/cgroup/machine.slice u=$ROOT/run/systemd/fake-units
        x=$ROOT/x.xml
        DOMID=3 domain vm1 "$UUID_A" 2 "$(pins 2 3)" "<vmprep:isolate mode='partition'/>" > "$x"
        local saved; saved=$(mktemp -d); cp -a "$ms" "$saved/"; rm -rf "$ms"
        if ! hook "$x" vm1 prepare begin; then t_fail "partition without machine.slice at prepare" "$(cat "$ERR")"; rm -rf "$saved"; return; fi
        cp -a "$saved/machine.slice" "$ms"; rm -rf "$saved"   # what libvirt/machined create at start
        lv_running "$x" vm1 4003 'machine-qemu\x2d3\x2dvm1.scope' 2 3
        if hook "$x" vm1 started begin && [ "$(cat "$ms/cpuset.cpus.partition")" = isolated ] \
                && [ "$(cat "$u/machine.slice/AllowedCPUs")" = 2-3 ]; then
                t_ok "no machine.slice at prepare (fresh boot): the partition is made at started, once the VM runs"
        else
                t_fail "partition made at started" "$(cat "$ERR")" "partition $(cat "$ms/cpuset.cpus.partition" 2>&1)"
        fi
        stop_phases "$x" vm1
        [ "$(cat "$ms/cpuset.cpus.partition")" = member ] && t_ok "... and release makes it a member again" \
                || t_fail "partition made at started: release" "$(cat "$ms/cpuset.cpus.partition")"
}

# every file under one VM's scope with its content, to compare before/after
scope_bytes() { (cd "$ROOT/sys/fs/cgroup/machine.slice/$1" && find . -type f | sort | xargs -d '\n' awk 'FNR == 1 { print "== " FILENAME } { print }'); }
# the writes under machine.slice, "PATH-BELOW-IT VALUE", in order
slice_writes() { sed -n "s|^/sys/fs/cgroup/machine.slice/||p" "$ROOT/.fake/writes.log"; }

# Each of several running VMs whose names libvirt changes, or that are
# suffixes of one another, gets exactly its own scope (issue 11, defect 6):
# a VM named win10_rt runs in machine-qemu\x2d3\x2dwin10rt.scope, and VM b
# must not take a-b's scope although "\x2db.scope" ends both.
case_partition_each_vm_gets_its_own_scope() {
        local long=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbb
        # name, id, pid, the scope libvirt 9.0 makes (its own sanitiser's output)
        local -a vms=(
                "a-b|9|4009|machine-qemu\\x2d9\\x2da\\x2db.scope"
                "b|7|4007|machine-qemu\\x2d7\\x2db.scope"
                "win10_rt|3|4003|machine-qemu\\x2d3\\x2dwin10rt.scope"
                "rt_vm.1|4|4004|machine-qemu\\x2d4\\x2drtvm.1.scope"
                "my vm|5|4005|machine-qemu\\x2d5\\x2dmyvm.scope"
                "$long|6|4006|machine-qemu\\x2d6\\x2daaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.scope"
        )
        local v name id pid scope k=0 fails=()
        for v in "${vms[@]}"; do
                IFS='|' read -r name id pid scope <<< "$v"
                tree_systemd_exclusive
                # every VM runs (untagged, 1 vCPU on CPU 1), the one under test is tagged on CPU 3
                local o oname oid opid oscope x
                for o in "${vms[@]}"; do
                        IFS='|' read -r oname oid opid oscope <<< "$o"
                        x=$ROOT/vm$oid.xml
                        if [ "$oname" = "$name" ]; then
                                DOMID=$oid domain "$oname" "1a6e2f58-8c5c-4c1e-9a57-3f1c2b4d6$(printf %03d "$oid")" 1 "$(pins 3)" "<vmprep:isolate mode='partition'/>" > "$x"
                                lv_running "$x" "$oname" "$opid" "$oscope" 3
                        else
                                DOMID=$oid domain "$oname" "1a6e2f58-8c5c-4c1e-9a57-3f1c2b4d6$(printf %03d "$oid")" 1 "$(pins 1)" "" \
                                        | sed 's|<metadata>.*</metadata>||' > "$x"
                                lv_running "$x" "$oname" "$opid" "$oscope" 1
                        fi
                done
                x=$ROOT/vm$id.xml
                local others=() before; before=$(snapshot)
                for o in "${vms[@]}"; do IFS='|' read -r oname oid opid oscope <<< "$o"; [ "$oname" = "$name" ] || others+=("$(scope_bytes "$oscope")"); done
                : > "$ROOT/.fake/writes.log"
                if ! { hook "$x" "$name" prepare begin && hook "$x" "$name" start begin && hook "$x" "$name" started begin; }; then
                        fails+=("'$name': $(head -c 400 "$ERR")"); stop_phases "$x" "$name"; continue
                fi
                local got want
                got=$(slice_writes | tr '\n' ';')
                want="cpuset.cpus.exclusive 3;$scope/cpuset.cpus.exclusive 3;$scope/libvirt/cpuset.cpus.exclusive 3;$scope/libvirt/vcpu0/cpuset.cpus.exclusive 3;$scope/libvirt/vcpu0/cpuset.cpus.partition isolated;"
                [ "$got" = "$want" ] || fails+=("'$name' wrote: $got" "  want: $want")
                local i=0
                for o in "${vms[@]}"; do
                        IFS='|' read -r oname oid opid oscope <<< "$o"
                        [ "$oname" = "$name" ] && continue
                        [ "$(scope_bytes "$oscope")" = "${others[$i]}" ] || fails+=("'$name' changed '$oname's scope $oscope")
                        i=$((i + 1))
                done
                stop_phases "$x" "$name"
                [ "$(snapshot)" = "$before" ] || fails+=("'$name' release: $(diff <(echo "$before") <(snapshot) | head -4 | tr '\n' ' ')")
                k=$((k + 1))
        done
        [ ${#fails[@]} -eq 0 ] && [ $k = ${#vms[@]} ] \
                && t_ok "partition on 6.7+ with six VMs running: a-b, b, win10_rt, rt_vm.1, 'my vm' and a 70-character name each get exactly their own scope's files written (found from QEMU's pid), the others' byte-identical, all undone" \
                || t_fail "each VM gets its own scope" "${fails[@]:0:8}"
}

# The pid in a status file that is not this start's QEMU (a pid reused by
# another VM's QEMU): the cgroup it names is not the one libvirt names for
# the domain id, so nothing is written and the start fails, saying why.
case_partition_pid_in_another_scope_is_refused() {
        tree_systemd_exclusive
        local x=$ROOT/x.xml o=$ROOT/o.xml mine='machine-qemu\x2d3\x2dvm1.scope' theirs='machine-qemu\x2d2\x2dother.scope'
        DOMID=2 domain other "$UUID_B" 1 "$(pins 1)" > "$o"
        DOMID=3 domain vm1 "$UUID_A" 1 "$(pins 3)" "<vmprep:isolate mode='partition'/>" > "$x"
        lv_running "$o" other 4002 "$theirs" 1
        lv_running "$x" vm1 4003 "$mine" 3
        printf '0::/machine.slice/%s/libvirt/emulator\n' "$theirs" > "$ROOT/proc/4003/cgroup"
        local before; before=$(scope_bytes "$theirs")
        hook "$x" vm1 prepare begin || { t_fail "pid in another scope" "prepare: $(cat "$ERR")"; return; }
        if hook "$x" vm1 started begin; then t_fail "a QEMU pid in another VM's scope is refused" "started"
        elif grep -qF "runs in /sys/fs/cgroup/machine.slice/$theirs, but libvirt names the cgroup of domain id 3 $mine" "$ERR" \
                && [ "$(scope_bytes "$theirs")" = "$before" ] && ! slice_writes | grep -q 'scope/'; then
                t_ok "a status file's pid whose cgroup is not the one libvirt names for the domain id: refused, no scope written"
        else t_fail "pid in another scope" "$(cat "$ERR")" "$(slice_writes | tr '\n' ';')"; fi
        stop_phases "$x" vm1
}

# Before 6.7 machine.slice as a whole is the partition: every other VM in it
# (untagged, tagged without isolate, another tool's) would run on this VM's
# cores, so the start is refused, naming them (issue 11, defect 8).
case_partition_before_6_7_refuses_other_vms() {
        local x o before fails=()
        tree_systemd
        x=$ROOT/x.xml o=$ROOT/o.xml
        DOMID=5 domain vm1 "$UUID_A" 2 "$(pins 2 3)" "<vmprep:isolate mode='partition'/>" > "$x"
        DOMID=2 domain win10_rt "$UUID_B" 1 "" | sed 's|<metadata>.*</metadata>||' > "$o"
        lv_running "$o" win10_rt 4002 'machine-qemu\x2d2\x2dwin10rt.scope' 0-3
        before=$(snapshot)
        if hook "$x" vm1 prepare begin; then fails+=("prepare with an untagged VM running: accepted")
        elif ! grep -qF "and 'win10_rt' also runs in it: it would be confined to vm1's CPUs" "$ERR"; then fails+=("message: $(cat "$ERR")"); fi
        stop_phases "$x" vm1
        [ "$(snapshot)" = "$before" ] || fails+=("untagged VM: $(diff <(echo "$before") <(snapshot) | head -4 | tr '\n' ' ')")
        # a cgroup no status file explains (another tool's machine)
        rm -f "$ROOT/run/libvirt/qemu/win10_rt."*
        mkdir -p "$ROOT/sys/fs/cgroup/machine.slice/machine-box.scope"; : > "$ROOT/sys/fs/cgroup/machine.slice/machine-box.scope/cgroup.procs"
        before=$(snapshot)
        if hook "$x" vm1 prepare begin; then fails+=("prepare with foreign cgroups: accepted")
        elif ! grep -qF "the cgroup machine-box.scope, the cgroup machine-qemu\x2d2\x2dwin10rt.scope also run in it" "$ERR"; then fails+=("message: $(cat "$ERR")"); fi
        stop_phases "$x" vm1
        [ "$(snapshot)" = "$before" ] || fails+=("foreign cgroups: $(diff <(echo "$before") <(snapshot) | head -4 | tr '\n' ' ')")
        # machine.slice made at the VM's start (fresh boot): its own scope is not "another VM"
        tree_systemd
        x=$ROOT/x.xml
        DOMID=5 domain vm1 "$UUID_A" 2 "$(pins 2 3)" "<vmprep:isolate mode='partition'/>" > "$x"
        local ms=$ROOT/sys/fs/cgroup/machine.slice saved; saved=$(mktemp -d); cp -a "$ms" "$saved/"; rm -rf "$ms"
        hook "$x" vm1 prepare begin || fails+=("prepare without machine.slice: $(cat "$ERR")")
        cp -a "$saved/machine.slice" "$ms"; rm -rf "$saved"
        lv_running "$x" vm1 4005 'machine-qemu\x2d5\x2dvm1.scope' 2 3
        hook "$x" vm1 started begin && [ "$(cat "$ms/cpuset.cpus.partition")" = isolated ] \
                || fails+=("started with only its own scope: $(cat "$ERR")")
        stop_phases "$x" vm1
        [ ${#fails[@]} -eq 0 ] \
                && t_ok "partition before 6.7: refused while another VM (untagged) or a cgroup no status file explains runs in machine.slice, naming them, nothing changed; the VM's own scope does not count" \
                || t_fail "partition before 6.7 with other VMs" "${fails[@]:0:6}"
}

case_partition() {
        local x
        # 6.1-6.6: no cpuset.cpus.exclusive: machine.slice as a whole
        tree_systemd
        x=$ROOT/x.xml
        domain vm1 "$UUID_A" 2 "$(pins 2 3)" "<vmprep:isolate mode='partition'/>" > "$x"
        local before; before=$(snapshot) ms=$ROOT/sys/fs/cgroup/machine.slice
        hook "$x" vm1 prepare begin || { t_fail "partition (6.1)" "$(cat "$ERR")"; return; }
        local u=$ROOT/run/systemd/fake-units
        [ "$(cat "$u/machine.slice/AllowedCPUs") $(cat "$ms/cpuset.cpus.partition") $(cat "$u/system.slice/AllowedCPUs")" = "2-3 isolated 0-1" ] \
                && t_ok "partition before 6.7: machine.slice gets AllowedCPUs=2-3 (the host's units 0-1) and is an isolated partition (read back)" \
                || t_fail "partition (6.1)" "$(cat "$u/machine.slice/AllowedCPUs") $(cat "$ms/cpuset.cpus.partition")"
        stop_phases "$x" vm1
        [ "$(snapshot)" = "$before" ] && t_ok "partition before 6.7: release makes it a member again, exactly as found" \
                || t_fail "partition (6.1) release" "$(diff <(echo "$before") <(snapshot) | head -5)"

        echo "Cpu list in cpuset.cpus not exclusive" > "$ROOT/.fake/partition-invalid"
        if hook "$x" vm1 prepare begin; then t_fail "an invalid partition fails the start" "started"
        elif grep -q "reads 'isolated invalid (Cpu list in cpuset.cpus not exclusive)' after writing 'isolated'" "$ERR" \
                && [ "$(snapshot)" = "$before" ]; then
                t_ok "a partition that reads back 'isolated invalid (reason)' fails the start with the reason, all undone"
        else t_fail "invalid partition" "$(cat "$ERR")" "$(diff <(echo "$before") <(snapshot) | head -5)"; fi
        stop_phases "$x" vm1
        rm -f "$ROOT/.fake/partition-invalid"

        # 6.7+: the vCPU cgroups, exclusive CPUs top-down, at started
        local sc='machine-qemu\x2d3\x2dvm1.scope'
        mkdir -p "$ms/$sc/libvirt/vcpu0" "$ms/$sc/libvirt/vcpu1" "$ms/$sc/libvirt/emulator"
        local d; for d in "$ms" "$ms/$sc" "$ms/$sc/libvirt" "$ms/$sc/libvirt/vcpu0" "$ms/$sc/libvirt/vcpu1" "$ms/$sc/libvirt/emulator"; do
                : > "$d/cpuset.cpus.exclusive"; [ -e "$d/cpuset.cpus.partition" ] || echo member > "$d/cpuset.cpus.partition"
                [ -e "$d/cpuset.cpus" ] || : > "$d/cpuset.cpus"; [ -e "$d/cgroup.procs" ] || : > "$d/cgroup.procs"
        done
        # (no status file here: the cgroup is found by libvirt's exact name for id 3)
        DOMID=3 domain vm1 "$UUID_A" 2 "$(pins 2 3)" "<vmprep:isolate mode='partition'/>" > "$x"
        echo 2 > "$ms/$sc/libvirt/vcpu0/cpuset.cpus"; echo 3 > "$ms/$sc/libvirt/vcpu1/cpuset.cpus"
        before=$(snapshot)
        hook "$x" vm1 prepare begin && hook "$x" vm1 start begin && hook "$x" vm1 started begin \
                || { t_fail "partition (6.7+)" "$(cat "$ERR")"; return; }
        local got; got="$(cat "$ms/cpuset.cpus.exclusive") $(cat "$ms/$sc/cpuset.cpus.exclusive") $(cat "$ms/$sc/libvirt/cpuset.cpus.exclusive") $(cat "$ms/$sc/libvirt/vcpu0/cpuset.cpus.exclusive") $(cat "$ms/$sc/libvirt/vcpu1/cpuset.cpus.exclusive") $(cat "$ms/$sc/libvirt/vcpu0/cpuset.cpus.partition") $(cat "$ms/$sc/libvirt/vcpu1/cpuset.cpus.partition")"
        [ "$got" = "2-3 2-3 2-3 2 3 isolated isolated" ] \
                && t_ok "partition on 6.7+: cpuset.cpus.exclusive top-down (machine.slice, scope, libvirt, vcpuN), each vcpuN an isolated partition" \
                || t_fail "partition (6.7+)" "$got"
        local order; order=$(grep -E 'exclusive|partition' "$ROOT/.fake/writes.log" | sed "s|$ROOT||" | awk '{print $1}' | sed 's|.*machine.slice||' | tr '\n' ' ')
        stop_phases "$x" vm1
        local undo; undo=$(grep -E 'exclusive|partition' "$ROOT/.fake/writes.log" | tail -7 | awk '{print $1}' | sed 's|.*machine.slice||' | tr '\n' ' ')
        [ "$(snapshot)" = "$before" ] && [ "${undo%% *}" = "/$sc/libvirt/vcpu1/cpuset.cpus.partition" ] \
                && t_ok "partition on 6.7+: release undoes bottom-up (vcpu partitions first), exactly as found" \
                || t_fail "partition (6.7+) release" "undo order: $undo" "$(diff <(echo "$before") <(snapshot) | head -5)"
        : "$order"

        # two partition VMs stopping out of order: the machine slice's
        # exclusive CPUs follow the ledger, not the order of the journals
        local y=$ROOT/y.xml sc2='machine-qemu\x2d4\x2dvm2.scope'
        DOMID=3 domain vm1 "$UUID_A" 1 "$(pins 2)" "<vmprep:isolate mode='partition'/>" > "$x"
        DOMID=4 domain vm2 "$UUID_B" 1 "$(pins 3)" "<vmprep:isolate mode='partition'/>" > "$y"
        rm -rf "${ms:?}/$sc/libvirt/vcpu1"
        mkdir -p "$ms/$sc2/libvirt/vcpu0"
        for d in "$ms/$sc2" "$ms/$sc2/libvirt" "$ms/$sc2/libvirt/vcpu0"; do
                : > "$d/cpuset.cpus.exclusive"; echo member > "$d/cpuset.cpus.partition"; : > "$d/cpuset.cpus"; : > "$d/cgroup.procs"
        done
        echo 3 > "$ms/$sc2/libvirt/vcpu0/cpuset.cpus"
        before=$(snapshot)
        hook "$x" vm1 prepare begin && hook "$x" vm1 started begin && hook "$y" vm2 prepare begin && hook "$y" vm2 started begin \
                || { t_fail "two partition VMs" "$(cat "$ERR")"; return; }
        local e1 e2; e1="$(cat "$ms/cpuset.cpus.exclusive") $(cat "$ms/$sc2/libvirt/vcpu0/cpuset.cpus.partition")"
        stop_phases "$x" vm1
        e2="$(cat "$ms/cpuset.cpus.exclusive") $(cat "$ms/$sc2/libvirt/vcpu0/cpuset.cpus.partition")"
        stop_phases "$y" vm2
        [ "$e1" = "2-3 isolated" ] && [ "$e2" = "3 isolated" ] && [ "$(snapshot)" = "$before" ] \
                && t_ok "two partition VMs stopping out of order: machine.slice's exclusive CPUs 2-3, then 3 (the VM still running), then as found" \
                || t_fail "two partition VMs" "both: $e1" "after vm1: $e2 (want '3 isolated')" "$(diff <(echo "$before") <(snapshot) | head -4)"

        tree_v1
        x=$ROOT/x.xml
        domain vm1 "$UUID_A" 1 "$(pins 3)" "<vmprep:isolate mode='partition'/>" > "$x"
        before=$(snapshot)
        if hook "$x" vm1 prepare begin; then t_fail "partition on cgroup v1 is refused" "started"
        elif grep -q "mode='partition'> needs cgroup v2" "$ERR"; then
                stop_phases "$x" vm1
                [ "$(snapshot)" = "$before" ] && t_ok "mode='partition' on cgroup v1 is refused with the requirement, nothing left changed" \
                        || t_fail "partition v1 leftovers" "$(diff <(echo "$before") <(snapshot) | head -5)"
        else t_fail "partition v1 message" "$(cat "$ERR")"; fi
}

case_leftover_host_cgroup_is_adopted() {
        tree_v1
        local x=$ROOT/x.xml h=$ROOT/$CG1/vmprep.host
        mkdir -p "$h"; echo 0-1 > "$h/cpuset.cpus"; echo 0 > "$h/cpuset.mems"; echo 101 > "$h/cgroup.procs"; : > "$h/tasks"
        printf '1\n2\n100\n' > "$ROOT/$CG1/cgroup.procs"
        domain vm1 "$UUID_A" 1 "$(pins 3)" > "$x"
        hook "$x" vm1 prepare begin && [ "$(cat "$h/cpuset.cpus")" = 0-2 ] || { t_fail "leftover vmprep.host" "$(cat "$ERR")"; return; }
        stop_phases "$x" vm1
        [ ! -e "$h" ] && [ "$(sort -n "$ROOT/$CG1/cgroup.procs" | tr '\n' ' ')" = "1 2 100 101 " ] \
                && t_ok "a vmprep.host left by a run whose journal is gone is adopted and removed by the last VM out" \
                || t_fail "leftover vmprep.host" "$(ls "$ROOT/$CG1")" "$(cat "$ROOT/$CG1/cgroup.procs")"
}

# libvirtd itself is among the host tasks moved into vmprep.host, so its
# release hook is born there: it must move itself out too before the rmdir
# (sh -c 'echo $$ >> procs; exec hook' puts the hook's own pid in the cgroup).
case_release_hook_born_in_vmprep_host() {
        tree_v1
        local x=$ROOT/x.xml before h=$ROOT/$CG1/vmprep.host pid
        domain vm1 "$UUID_A" 1 "$(pins 3)" > "$x"
        before=$(snapshot)
        hook "$x" vm1 prepare begin && hook "$x" vm1 stopped end || { t_fail "hook born in vmprep.host" "$(cat "$ERR")"; return; }
        pid=$(sh -c 'echo $$ >> "$1"; echo $$ > "$2"; exec "$3" vm1 release end - < "$4" > /dev/null 2> "$5"' _ \
                "$h/cgroup.procs" "$ROOT/.fake/hookpid" "$HOOK" "$x" "$ERR"; cat "$ROOT/.fake/hookpid")
        local where; where=$(grep -lx "$pid" "$ROOT/$CG1/cgroup.procs" 2>/dev/null)
        sed -i "/^$pid\$/d" "$ROOT/$CG1/cgroup.procs"
        if [ ! -e "$h" ] && [ -n "$where" ] && [ "$(snapshot)" = "$before" ] && no_claims \
                && ! ls "$ROOT"/run/vmprep/*.journal >/dev/null 2>&1; then
                t_ok "a release hook born inside vmprep.host (libvirtd's child) moves itself out too: vmprep.host, journals and claim gone"
        else
                t_fail "hook born in vmprep.host" "$(cat "$ERR")" "hook's pid $pid in root: ${where:-no}" "$(ls "$ROOT/run/vmprep")"
        fi
}

# A task that cannot leave vmprep.host (a kernel thread that became
# PF_NO_SETAFFINITY inside: EINVAL) keeps it from going: release gives it
# the parent's CPUs, names it, and still gives the VM's CPUs back.
case_release_with_a_task_that_cannot_leave() {
        tree_v1
        local x=$ROOT/x.xml h=$ROOT/$CG1/vmprep.host
        domain vm1 "$UUID_A" 1 "$(pins 3)" > "$x"
        hook "$x" vm1 prepare begin || { t_fail "unmovable task" "$(cat "$ERR")"; return; }
        echo 77 >> "$h/cgroup.procs"; echo 77 >> "$ROOT/.fake/kthreads"
        stop_phases "$x" vm1
        if [ -d "$h" ] && [ "$(cat "$h/cpuset.cpus")" = 0-3 ] && [ "$(cat "$h/cgroup.procs")" = 77 ] && no_claims \
                && ! ls "$ROOT"/run/vmprep/*.journal >/dev/null 2>&1 && grep -q "process 77 still in it" "$ERR"; then
                t_ok "a task that cannot leave vmprep.host: it gets CPU 0-3 back there, is named, and the VM's claim and journals still go"
        else
                t_fail "unmovable task" "$(cat "$ERR")" "cpus $(cat "$h/cpuset.cpus" 2>&1) procs $(cat "$h/cgroup.procs" 2>&1)" "$(ls "$ROOT/run/vmprep")"
        fi
}

# running NAME PID DOMAIN-INNER: a libvirt status file of a running VM
# (/run/libvirt/qemu/NAME.xml, <domstatus pid> with the live <domain>), its
# QEMU pid alive in the tree (/proc/PID)
running() {
        mkdir -p "$ROOT/run/libvirt/qemu" "$ROOT/proc/$2"
        printf "<domstatus state='running' reason='booted' pid='%s'><domain type='kvm' id='%s'><name>%s</name>%s</domain></domstatus>\n" \
                "$2" "$2" "$1" "$3" > "$ROOT/run/libvirt/qemu/$1.xml"
}

# Other VMs on the cores: a running VM pinned onto the claim refuses the
# start, naming it and its threads; unpinned ones are warned about.
case_other_vms_on_the_claimed_cores() {
        tree_v1
        local x=$ROOT/x.xml before
        domain vm1 "$UUID_A" 1 "$(pins 3)" > "$x"
        running gamer_2 4001 "<uuid>$UUID_B</uuid><vcpu>2</vcpu><cputune>$(pins 3 2-3)<emulatorpin cpuset='0'/></cputune>"
        running db.1 4002 "<uuid>$UUID_C</uuid><vcpu>1</vcpu><iothreads>1</iothreads><cputune>$(pins 1)<emulatorpin cpuset='2-3'/><iothreadpin iothread='1' cpuset='3'/></cputune>"
        running gone 4999 "<vcpu>1</vcpu><cputune>$(pins 3)</cputune>"; rmdir "$ROOT/proc/4999"
        before=$(snapshot)
        if hook "$x" vm1 prepare begin; then t_fail "a VM pinned on the claimed core refuses the start" "started"
        elif grep -q "VM 'gamer_2' has vCPU 0,1 pinned to CPU 3, which this VM isolates" "$ERR" \
                && grep -q "VM 'db.1' has iothread 1 and its emulator threads pinned to CPU 3, which this VM isolates" "$ERR" \
                && ! grep -q "'gone'" "$ERR" && [ "$(snapshot)" = "$before" ] && [ ! -s "$ROOT/.fake/writes.log" ]; then
                t_ok "running VMs pinned onto the claimed CPU 3 refuse the start, each named with its vCPUs, iothreads, emulator (a dead one ignored); nothing written"
        else
                t_fail "other VMs pinned on the claim" "$(cat "$ERR")" "$(diff <(echo "$before") <(snapshot) | head -4)"
        fi
        stop_phases "$x" vm1
        [ "$(snapshot)" = "$before" ] || t_fail "the refused start's release changes nothing" "$(diff <(echo "$before") <(snapshot) | head -4)"

        rm -f "$ROOT/run/libvirt/qemu/gamer_2.xml" "$ROOT/run/libvirt/qemu/db.1.xml"
        running web.x 4003 "<uuid>$UUID_B</uuid><vcpu>2</vcpu>"
        running odd 4004 "<uuid>$UUID_C</uuid><vcpu>many</vcpu>"
        if hook "$x" vm1 prepare begin \
                && grep -q "VM 'web.x' has vCPU 0,1 and its emulator threads unpinned: they may run on CPU 3 too, which this VM isolates" "$ERR" \
                && grep -q "mode='partition'> on a 6.7 or later kernel" "$ERR" \
                && grep -q "cannot tell which CPUs the running VM 'odd' uses" "$ERR"; then
                t_ok "unpinned running VMs (and one whose status file vmprep cannot read) are warned about, pointing to mode='partition'; the start goes on"
        else
                t_fail "unpinned VMs warned about" "$(cat "$ERR")"
        fi
        stop_phases "$x" vm1
        [ "$(snapshot)" = "$before" ] || t_fail "release after the warned start" "$(diff <(echo "$before") <(snapshot) | head -4)"
}

case_irqs_no_touches_no_mask() {
        tree_v1
        local x=$ROOT/x.xml
        domain vm1 "$UUID_A" 1 "$(pins 3)" "<vmprep:isolate irqs='no' workqueues='no'/>" > "$x"
        hook "$x" vm1 prepare begin || { t_fail "irqs=no" "$(cat "$ERR")"; return; }
        local w; w=$(grep -cE '^/proc/irq|workqueue' "$ROOT/.fake/writes.log")
        stop_phases "$x" vm1
        w=$((w + $(grep -cE '^/proc/irq|workqueue' "$ROOT/.fake/writes.log")))
        [ "$w" = 0 ] && t_ok "irqs='no' workqueues='no': not one write to /proc/irq or the workqueue mask, in prepare or release" \
                || t_fail "irqs=no writes nothing" "$(grep -E '^/proc/irq|workqueue' "$ROOT/.fake/writes.log")"
}

case_concurrent_vms() {
        tree_v1
        local i pids=() bad=0 before
        for i in 1 2 3; do domain "vm$i" "1a6e2f58-8c5c-4c1e-9a57-3f1c2b4d5f0$i" 1 "$(pins $i)" > "$ROOT/vm$i.xml"; done
        before=$(snapshot)
        for i in 1 2 3; do "$HOOK" "vm$i" prepare begin - < "$ROOT/vm$i.xml" > /dev/null 2>> "$ERR" & pids+=($!); done
        for i in "${pids[@]}"; do wait "$i" || bad=$((bad + 1)); done
        local mid; mid="$(rd $CG1/vmprep.host/cpuset.cpus) $(rd proc/irq/0/smp_affinity_list) $(rd sys/devices/virtual/workqueue/cpumask)"
        pids=()
        for i in 1 2 3; do "$HOOK" "vm$i" release end - < "$ROOT/vm$i.xml" > /dev/null 2>> "$ERR" & pids+=($!); done
        for i in "${pids[@]}"; do wait "$i" || bad=$((bad + 1)); done
        [ $bad = 0 ] && [ "$mid" = "0 0 1" ] && [ "$(snapshot)" = "$before" ] && no_claims \
                && t_ok "three VMs (CPU 1, 2, 3) prepared at once: host on CPU 0; released at once: exactly as before" \
                || t_fail "concurrent VMs" "failures $bad, with all three: $mid (want '0 0 1')" "$(head -3 "$ERR")"
}

case_managed_irq_eperm() {
        MANAGED_ERR=EPERM tree_v1
        local x=$ROOT/x.xml before
        domain vm1 "$UUID_A" 1 "$(pins 3)" > "$x"
        before=$(snapshot)
        hook "$x" vm1 prepare begin && [ "$(rd proc/irq/0/smp_affinity_list)" = 0-2 ] && [ "$(rd proc/irq/25/smp_affinity_list)" = 0-3 ] \
                || { t_fail "managed IRQ with EPERM (6.12)" "$(cat "$ERR")"; return; }
        stop_phases "$x" vm1
        [ "$(snapshot)" = "$before" ] && t_ok "a managed IRQ refusing with EPERM (6.12) is reported, the others move and come back" \
                || t_fail "EPERM irq release" "$(diff <(echo "$before") <(snapshot) | head -5)"
}

# SIGKILL at every crash point of prepare, then stopped+release: every file
# as before; then the same for release.  Also with a second VM running.
# crash_vm TREE: TREE (tree_v1, tree_v2, tree_systemd) and vm1 isolating CPU 2-3
crash_vm() { "$1"; domain vm1 "$UUID_A" 2 "$(pins 2 3)" > "$ROOT/x.xml"; }
crash_no_claim() { no_claims || crash_fail "a claim is left"; }
crash_loop() {
        local label=$1 tree=$2
        crash_sweep -c crash_no_claim -c crash_no_journal "crash_vm $tree" vm1 prepare begin
        crash_verdict 5 "$label: SIGKILL at each of $CRASHED crash points of prepare, then stopped+release: every file exactly as before" \
                "$label: crash points of prepare"
        crash_sweep "crash_vm $tree" vm1 release end
        crash_verdict 3 "$label: SIGKILL at each of $CRASHED crash points of release, then release again: exactly as before" \
                "$label: crash points of release"
}

# beside_vm_a: cgroup v1, vm-a isolating CPU 1 runs, vm1 asks for CPU 3
beside_vm_a() {
        tree_v1
        domain vm-a "$UUID_B" 1 "$(pins 1)" > "$ROOT/a.xml"
        domain vm1 "$UUID_A" 1 "$(pins 3)" > "$ROOT/x.xml"
        hook "$ROOT/a.xml" vm-a prepare begin || crash_fail "vm-a: $(cat "$ERR")"
}
case_crash_with_other_vm_running() {
        crash_sweep beside_vm_a vm1 prepare begin
        crash_verdict 3 "SIGKILL at each of $CRASHED crash points of a second VM's prepare: after its release the first VM's isolation is exactly as it was" \
                "crash with another VM running"
}

# libvirtd restarts (its daemon hook runs `vmprep reconcile --offline`), or
# cron runs `vmprep reconcile`, while an isolated VM runs: its isolation
# stays (the host's journal is not replayed while a VM claims cores).  Once
# the VM is gone without a release, reconcile finishes everything.
case_reconcile_keeps_running_vms_isolation() {
        tree_v1
        local x=$ROOT/x.xml before fails=() h=$CG1/vmprep.host
        domain vm1 "$UUID_A" 1 "$(pins 2)" > "$x"
        before=$(snapshot)
        hook "$x" vm1 prepare begin || { t_fail "reconcile with an isolated VM running" "prepare: $(cat "$ERR")"; return; }
        # libvirt's status file of the running VM (QEMU's pid: this shell, alive)
        mkdir -p "$ROOT/run/libvirt/qemu" "$ROOT/proc/$$"
        printf "<domstatus state='running' pid='%s'>%s</domstatus>\n" "$$" "$(cat "$x")" > "$ROOT/run/libvirt/qemu/vm1.xml"
        local mid; mid=$(snapshot)
        "$B/vmprep" reconcile --offline > "$OUT" 2> "$ERR" || fails+=("reconcile exited $?: $(cat "$ERR")")
        grep -q "vmprep-reconcile: host isolation kept: VM vm1 holds core 2" "$ERR" || fails+=("reconcile says: $(cat "$OUT" "$ERR")")
        [ "$(rd $h/cpuset.cpus)" = 0-1,3 ] || fails+=("after reconcile the host cpuset is $(rd $h/cpuset.cpus 2>&1), want 0-1,3")
        [ "$(snapshot)" = "$mid" ] || fails+=("reconcile changed the host: $(diff <(echo "$mid") <(snapshot) | head -4 | tr '\n' ' ')")
        ln -sf "$B/vmprep" "$ROOT/vmprep-reconcile"
        "$ROOT/vmprep-reconcile" - start - start > "$OUT" 2> "$ERR" || fails+=("daemon hook exited $?")
        [ -s "$OUT" ] && fails+=("the daemon hook printed: $(cat "$OUT")")
        [ "$(rd $h/cpuset.cpus)" = 0-1,3 ] && [ "$(rd proc/irq/24/smp_affinity_list)" = 0-1,3 ] \
                || fails+=("after libvirtd's daemon hook: host cpuset $(rd $h/cpuset.cpus 2>&1), IRQ 24 on $(rd proc/irq/24/smp_affinity_list)")
        if [ ${#fails[@]} -eq 0 ]; then
                t_ok "reconcile and libvirtd's daemon start hook with an isolated VM running: host tasks and IRQs stay off its core, 'host isolation kept: VM vm1 holds core 2'"
        else
                t_fail "reconcile with an isolated VM running" "${fails[@]}"
        fi
        # the VM went away without a release (libvirtd was down)
        rm "$ROOT/run/libvirt/qemu/vm1.xml"
        if "$B/vmprep" reconcile --offline > "$OUT" 2> "$ERR" && [ "$(snapshot)" = "$before" ] && no_claims \
                && ! ls "$ROOT"/run/vmprep/*.journal >/dev/null 2>&1; then
                t_ok "reconcile after the VM is gone: its claim finished first, then the host restored exactly, no journal left"
        else
                t_fail "reconcile after the VM is gone" "$(cat "$OUT" "$ERR")" "$(diff <(echo "$before") <(snapshot) | head -6)"
        fi
}

case_untagged_costs_nothing
case_v1_round_trip
case_host_share_pins_stay_with_the_host
case_reconcile_keeps_running_vms_isolation
case_host_scope_confines_only_its_tasks
case_refusals
case_two_vms_host_set_recomputed
case_damaged_ledger_release
case_irqbalance_warned
case_v2_without_systemd
case_v2_long_cpu_lists
case_systemd_allowed_cpus
case_partition
case_partition_machine_slice_created_by_the_vm
case_partition_67_machine_slice_created_by_the_vm
case_partition_each_vm_gets_its_own_scope
case_partition_pid_in_another_scope_is_refused
case_partition_before_6_7_refuses_other_vms
case_managed_irq_eperm
case_leftover_host_cgroup_is_adopted
case_release_hook_born_in_vmprep_host
case_release_with_a_task_that_cannot_leave
case_other_vms_on_the_claimed_cores
case_irqs_no_touches_no_mask
case_concurrent_vms
crash_loop "cgroup v1" tree_v1
crash_loop "cgroup v2" tree_v2
crash_loop "systemd" tree_systemd
case_crash_with_other_vm_running
t_done
