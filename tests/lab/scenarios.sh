#!/bin/bash
# tests/lab/scenarios.sh - the lab scenarios, run INSIDE the lab guest (a QEMU
# q35 machine with an intel-iommu, two NUMA nodes, a VGA+HDA pair, an SR-IOV
# NVMe and an e1000e on node 1; systemd, cgroup v2; see tests/lab/run.sh) by
# vmprep-lab.service, as root.  Never run it on a real host: it binds PCI
# devices to vfio-pci, creates VFs and confines systemd's slices.
#
# vmprep's hooks are driven as libvirt drives them: every executable of
# /etc/libvirt/hooks/qemu.d, in byte order, with "NAME OP SUBOP -" and the
# domain XML (tests/lab/domains) on stdin, in libvirt's environment; a failed
# prepare/start/started is followed by stopped and release, as libvirt does.
#
# Kinds of scenario:
#   env-*, doctor-*, cli-*  the lab machine is what the others assume, and the
#                           vmprep command sees it right;
#   hp-*                    the hugepages hook, for real;
#   kernel-*                what the vfio, SR-IOV, single-GPU and cpus hooks will
#                           rely on, done by hand through sysfs and systemd, and
#                           checked, on this kernel;
#   vfio-*, sriov-*, gpu-*, cpus-*
#                           those hooks driven for real; skipped while the hook
#                           they need is not installed;
#   l2-*                    a real `virsh start` by the guest's own libvirtd (a
#                           diskless TCG domain: no L2 kernel boots).
#
# Output: TAP ("ok N - ...", "not ok N - ..." with "#   " diagnostics, "# SKIP"),
# the plan line "1..N", then "lab-guest: N passed, N failed, N skipped".
set -u -o pipefail

LAB=${LAB_DIR:-/usr/lib/vmprep-lab}
DOMAINS=$LAB/domains
HOOKDIR=/etc/libvirt/hooks/qemu.d
RUNDIR=/run/vmprep
T_SUITE=lab-guest
# shellcheck source=tests/lib.sh
. "$LAB/lib.sh"

OUT=$(mktemp -d /tmp/lab.XXXXXX) || exit 1
trap 'rm -rf -- "$OUT"' EXIT

# The lab machine's devices (tests/lab/run.sh puts them there).
VGA=0000:00:05.0
HDA=0000:00:05.1
NVME=0000:01:00.0
NIC=0000:81:00.0
XHCI=0000:00:07.0 # with a USB keyboard on it
IGB=0000:02:00.0 # only in tests/lab/run.sh's QEMU 10 boot
PCI=/sys/bus/pci/devices

diags=()
diag() { diags+=("$*"); }
SKIP_REASON=""
KNOWN=""  # a scenario that fails because of a known vmprep bug says which, and returns 3
T_TODO=0
skip() { SKIP_REASON=$1; return 2; }

# ---- reading the machine -------------------------------------------------------------

hp_file() { # NODE KB FILE
        printf '/sys/devices/system/node/node%s/hugepages/hugepages-%skB/%s\n' "$1" "$2" "${3:-nr_hugepages}"
}
hp() { cat "$(hp_file "$1" "$2" "${3:-nr_hugepages}")"; }
hp_all() { # "n0:2M=.. n1:2M=.. n0:1G=.. n1:1G=.."
        local n
        for n in 0 1; do printf 'n%s:2M=%s n%s:1G=%s ' "$n" "$(hp $n 2048)" "$n" "$(hp $n 1048576)"; done
}
driver_of() { # BDF -> driver name or "none"
        local l
        l=$(readlink "$PCI/$1/driver" 2>/dev/null) && basename -- "$l" || echo none
}
dir_list() { local f; for f in "$1"/*; do [[ -e $f ]] && printf '%s ' "${f##*/}"; done; }
members() { dir_list "/sys/kernel/iommu_groups/$1/devices"; } # GROUP: "BDF BDF "
group_of() { basename -- "$(readlink "$PCI/$1/iommu_group")"; }
uuid_of() { sed -n 's:.*<uuid>\(.*\)</uuid>.*:\1:p' "$1" | head -n 1; }
name_of() { sed -n 's:.*<name>\(.*\)</name>.*:\1:p' "$1" | head -n 1; }
journals_of() { # UUID: the journal files left for it
        local f
        for f in "$RUNDIR/$1".*.journal; do [[ -e $f ]] && printf '%s\n' "$f"; done
}
expect_eq() { # WHAT GOT WANT
        [[ $2 == "$3" ]] && return 0
        diag "$1: '$2', expected '$3'"
        return 1
}
expect_no_journal() { # UUID WHEN
        local left
        left=$(journals_of "$1")
        [[ -z $left ]] && return 0
        diag "$2: journal left: $left"
        return 1
}

# ---- driving the hooks as libvirt does -------------------------------------------------

# hooks_phase XML OP SUBOP: run every qemu.d executable; 0 when all succeeded.
# Their stderr goes to $OUT/hooks.err (appended), as libvirt shows it.
# one_hook HOOK XML OP SUB: run one qemu.d executable as libvirt does
one_hook() {
        (cd / && env -i LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
                timeout 120 "$HOOKDIR/$1" "$(name_of "$2")" "$3" "$4" - <"$2" >>"$OUT/hooks.out" 2>>"$OUT/hooks.err")
}
hooks_phase() {
        local xml=$1 op=$2 sub=$3 h rc=0
        for h in "$HOOKDIR"/*; do
                [[ -f $h && -x $h ]] || continue
                if ! one_hook "${h##*/}" "$xml" "$op" "$sub"; then
                        rc=1
                        printf '%s %s %s: failed\n' "${h##*/}" "$op" "$sub" >>"$OUT/hooks.err"
                fi
        done
        return "$rc"
}
# vm_start XML: prepare, start, started; on a failure stopped + release (libvirt's order).
vm_start() {
        : >"$OUT/hooks.err"
        : >"$OUT/hooks.out"
        local op
        for op in prepare start started; do
                if ! hooks_phase "$1" "$op" begin; then
                        hooks_phase "$1" stopped end || true
                        hooks_phase "$1" release end || true
                        return 1
                fi
        done
        if [[ -s $OUT/hooks.out ]]; then
                diag "a hook printed to stdout (libvirt would take it as XML): $(head -c 300 "$OUT/hooks.out")"
                return 1
        fi
}
vm_stop() {
        hooks_phase "$1" stopped end
        hooks_phase "$1" release end
}
hook_errors() { tr '\n' ' ' <"$OUT/hooks.err" | head -c 1500; }
need_hook() { # NAME: skip unless qemu.d has it
        [[ -x $HOOKDIR/$1 ]] || skip "needs the $1 hook (not in this branch yet)"
}

# ---- the vfio and SR-IOV primitives the kernel-* scenarios use --------------------------

# bind BDF DRIVER: driver_override, unbind, drivers_probe (the kernel's recommended order)
bind_to() {
        local bdf=$1 drv=$2
        echo "$drv" >"$PCI/$bdf/driver_override" || return 1
        if [[ -e $PCI/$bdf/driver ]]; then
                echo "$bdf" >"$PCI/$bdf/driver/unbind" || return 1
        fi
        echo "$bdf" >/sys/bus/pci/drivers_probe || true
        [[ $(driver_of "$bdf") == "$drv" ]]
}
# give_back BDF: clear the override ("\n": an empty write never reaches the
# kernel), unbind, probe: the host driver comes back
give_back() {
        local bdf=$1
        echo >"$PCI/$bdf/driver_override" || return 1
        if [[ -e $PCI/$bdf/driver ]]; then
                echo "$bdf" >"$PCI/$bdf/driver/unbind" || return 1
        fi
        echo "$bdf" >/sys/bus/pci/drivers_probe || true
}
wait_for() { # TENTHS COMMAND...: poll until it succeeds
        local n=$1
        shift
        while ((n-- > 0)); do
                "$@" && return 0
                sleep 0.1
        done
        "$@"
}
# holders PATH-PREFIX: "PID:COMM" of every process with an fd under it
holders() {
        local d pid
        find /proc/[0-9]*/fd -lname "$1*" -printf '%h\n' 2>/dev/null | sort -u | while read -r d; do
                pid=${d#/proc/}
                pid=${pid%%/*}
                printf '%s:%s\n' "$pid" "$(cat "/proc/$pid/comm" 2>/dev/null)"
        done
}

# unit_holds UNIT PATH: the unit's main process has PATH open
unit_holds() {
        local pid
        pid=$(systemctl show -P MainPID "$1")
        [[ $pid != 0 ]] && holders "$2" | grep -q "^$pid:"
}
# over D-Bus, as the vfio hook will: StopUnit/StartUnit return a job at once
dbus_unit() { # StopUnit|StartUnit UNIT
        busctl call org.freedesktop.systemd1 /org/freedesktop/systemd1 org.freedesktop.systemd1.Manager \
                "$1" ss "$2" replace >/dev/null
}
# the framebuffer console's vtcon ("(M) frame buffer device"), or nothing
fb_vtcon() {
        local v
        for v in /sys/class/vtconsole/vtcon*; do
                grep -q 'frame buffer' "$v/name" 2>/dev/null && { printf '%s\n' "$v"; return 0; }
        done
        return 1
}
# cpus_of LIST: "0-1 3" or "0-1,3" -> "0,1,3" ("" stays "")
cpus_of() {
        local part out=() a b i
        for part in ${1//,/ }; do
                if [[ $part == *-* ]]; then
                        a=${part%-*} b=${part#*-}
                        for ((i = a; i <= b; i++)); do out+=("$i"); done
                else
                        out+=("$part")
                fi
        done
        (IFS=,; echo "${out[*]}")
}
host_units_allowed() { # the three host units' AllowedCPUs, normalised, space-separated
        local u r=()
        for u in "${HOST_UNITS[@]}"; do r+=("$(cpus_of "$(systemctl show -P AllowedCPUs "$u")")"); done
        echo "${r[*]}"
}
HOST_UNITS=(system.slice user.slice init.scope)

# ---- env: the machine the other scenarios assume ------------------------------------------

sc_env_devices() {
        local ok=0 bdf want
        for bdf in "$VGA:bochs-drm" "$HDA:snd_hda_intel" "$NVME:nvme" "$NIC:e1000e" "$XHCI:xhci_hcd"; do
                want=${bdf##*:}
                bdf=${bdf%:*}
                if [[ ! -e $PCI/$bdf ]]; then
                        diag "no PCI device $bdf (lspci: $(lspci -n | tr '\n' ';'))"
                        ok=1
                        continue
                fi
                expect_eq "driver of $bdf" "$(driver_of "$bdf")" "$want" || ok=1
                [[ -e $PCI/$bdf/iommu_group ]] || { diag "$bdf is in no IOMMU group"; ok=1; }
        done
        return "$ok"
}

sc_env_numa() {
        local ok=0
        expect_eq "nodes online" "$(cat /sys/devices/system/node/online)" "0-1" || ok=1
        expect_eq "node0 cpus" "$(cat /sys/devices/system/node/node0/cpulist)" "0-1" || ok=1
        expect_eq "node1 cpus" "$(cat /sys/devices/system/node/node1/cpulist)" "2-3" || ok=1
        expect_eq "numa_node of the e1000e" "$(cat "$PCI/$NIC/numa_node")" "1" || ok=1
        return "$ok"
}

sc_env_hugepages_boot() {
        local ok=0
        expect_eq "node0 1 GiB pages (boot)" "$(hp 0 1048576)" 1 || ok=1
        expect_eq "node1 1 GiB pages (boot)" "$(hp 1 1048576)" 1 || ok=1
        expect_eq "node0 2 MiB pages" "$(hp 0 2048)" 0 || ok=1
        expect_eq "node1 2 MiB pages" "$(hp 1 2048)" 0 || ok=1
        grep -q 'hugepagesz=1G' /proc/cmdline || { diag "no hugepagesz=1G in /proc/cmdline"; ok=1; }
        awk '$2 == "/dev/hugepages" && $3 == "hugetlbfs" { f = 1 } END { exit !f }' /proc/mounts ||
                { diag "no hugetlbfs on /dev/hugepages"; ok=1; }
        ((ok == 0)) || mapfile -t -O "${#diags[@]}" diags < <(dmesg | grep -iE 'huge|memblock' | head -n 8)
        return "$ok"
}

sc_env_systemd_cgroup2() {
        local ok=0
        expect_eq "PID 1" "$(cat /proc/1/comm)" systemd || ok=1
        expect_eq "/sys/fs/cgroup" "$(stat -f -c %T /sys/fs/cgroup)" cgroup2fs || ok=1
        grep -qw cpuset /sys/fs/cgroup/cgroup.controllers || { diag "no cpuset in cgroup.controllers"; ok=1; }
        [[ -e /sys/fs/cgroup/system.slice ]] || { diag "no system.slice cgroup"; ok=1; }
        # booted to multi-user.target (run.sh): nothing opened card0 before the
        # GPU scenarios, which start the display manager themselves
        expect_eq "display-manager at boot" "$(systemctl is-active display-manager.service)" inactive || ok=1
        return "$ok"
}

# the NVMe's second namespace (a file on the lab's host, written for real), by
# its block device: the disk whose nsid is 2 with a live path.  The lab's NVMe
# is in a subsystem, so that disk is a multipath head node whose name counts
# heads, not namespaces: a head still held open when its controller went
# (a mount the vfio hook did not see) stays, pathless, and the namespace comes
# back under the next name (nvme0n3).
nvme_ns2() {
        local d paths
        for d in /sys/block/nvme*; do
                [[ ${d##*/} =~ ^nvme[0-9]+n[0-9]+$ && $(cat "$d/nsid" 2>/dev/null) == 2 ]] || continue
                if [[ -d $d/multipath ]]; then
                        paths=$(dir_list "$d/multipath")
                        [[ -n $paths ]] || continue
                fi
                echo "/dev/${d##*/}"
                return 0
        done
        return 1
}

sc_env_nvme_ns2() {
        local dev got
        wait_for 100 nvme_ns2 >/dev/null || { diag "no namespace 2: $(dir_list /sys/block)"; return 1; }
        dev=$(nvme_ns2)
        expect_eq "size of $dev (512-byte sectors)" "$(cat "/sys/block/${dev#/dev/}/size")" $((512 * 2048)) || return 1
        # it keeps what is written (namespace 1 is null-co: it reads zeros)
        printf 'vmprep-lab\n' | dd of="$dev" bs=512 seek=1000 conv=fsync status=none || { diag "cannot write $dev"; return 1; }
        echo 3 >/proc/sys/vm/drop_caches
        got=$(dd if="$dev" bs=512 skip=1000 count=1 iflag=direct status=none | head -n 1)
        expect_eq "read back from $dev" "$got" vmprep-lab
}

# the USB keyboard's input device under the xhci: "inputN:NAME"
xhci_keyboard() {
        local i
        for i in /sys/class/input/input*; do
                [[ $(readlink -f "$i") == */"$XHCI"/* ]] || continue
                grep -qi keyboard "$i/name" 2>/dev/null && { printf '%s:%s\n' "${i##*/}" "$(cat "$i/name")"; return 0; }
        done
        return 1
}

sc_env_usb_keyboard() {
        local ok=0 g
        g=$(group_of "$XHCI")
        expect_eq "members of the xhci's IOMMU group $g" "$(members "$g")" "$XHCI " || ok=1
        wait_for 100 xhci_keyboard >/dev/null || { diag "no keyboard input device under $XHCI: $(cat /sys/class/input/input*/name 2>/dev/null | tr '\n' ';')"; return 1; }
        diag "keyboard: $(xhci_keyboard)"
        return "$ok"
}

# ---- doctor, status, plan ----------------------------------------------------------------

DOCTOR_JSON=""
doctor_json() {
        [[ -n $DOCTOR_JSON ]] && return 0
        vmprep doctor --json >"$OUT/doctor.json" 2>"$OUT/doctor.err"
        local rc=$?
        if ! jq -e . "$OUT/doctor.json" >/dev/null 2>&1; then
                diag "vmprep doctor --json (exit $rc) is not JSON: $(head -c 500 "$OUT/doctor.json") $(head -c 300 "$OUT/doctor.err")"
                return 1
        fi
        DOCTOR_JSON=$OUT/doctor.json
}
# check NAME [STATUS]: the doctor lines of that check ("status: detail"), all of them
doctor_lines() {
        jq -r --arg c "$1" '.checks[] | select(.check == $c) | "\(.status): \(.detail)"' "$DOCTOR_JSON"
}
doctor_expect() { # CHECK STATUS REGEX
        local lines
        lines=$(doctor_lines "$1")
        if grep -qE "^$2: .*$3" <<<"$lines"; then return 0; fi
        diag "doctor check '$1': wanted $2 matching /$3/, got: ${lines:-nothing}"
        return 1
}

sc_doctor_iommu() {
        doctor_json || return 1
        doctor_expect iommu pass '[0-9]+ IOMMU groups'
}
sc_doctor_vfio() {
        doctor_json || return 1
        doctor_expect vfio-pci pass 'vfio-pci'
}
sc_doctor_gpu_group() {
        doctor_json || return 1
        local ok=0 g
        g=$(group_of "$VGA")
        expect_eq "IOMMU group of the HDA" "$(group_of "$HDA")" "$g" || ok=1
        # the group holds just those two (no bridge in between on pcie.0)
        expect_eq "members of group $g" "$(members "$g")" "$VGA $HDA " || ok=1
        doctor_expect gpu pass "$VGA .*IOMMU group $g\b" || ok=1
        return "$ok"
}
sc_doctor_sriov() {
        doctor_json || return 1
        doctor_expect sr-iov pass "$NVME .*SR-IOV capable, 0 of 4 VFs"
}
sc_doctor_numa() {
        doctor_json || return 1
        doctor_expect numa pass '2 nodes \(node 0: cpus 0-1, .*node 1: cpus 2-3'
}
sc_doctor_cgroups() {
        doctor_json || return 1
        doctor_expect cgroups pass 'cgroup v2 with the cpuset controller'
}
sc_doctor_systemd() {
        doctor_json || return 1
        doctor_expect systemd pass 'systemd is PID 1'
}
sc_doctor_1g() {
        doctor_json || return 1
        doctor_expect 1g-pages pass 'reserved at boot'
}

sc_cli_status_empty() {
        local rc=0
        vmprep status --json >"$OUT/status.json" 2>"$OUT/status.err" || rc=$?
        if ((rc != 0)) || ! jq -e '.vms == [] and .holds == [] and .pending == false' "$OUT/status.json" >/dev/null; then
                diag "vmprep status --json (exit $rc): $(head -c 600 "$OUT/status.json") $(head -c 300 "$OUT/status.err")"
                return 1
        fi
        vmprep status --no-map >"$OUT/status.txt" 2>&1 || { diag "vmprep status: $(head -c 600 "$OUT/status.txt")"; return 1; }
}

sc_cli_plan_node1() {
        local xml=$DOMAINS/hp-node1.xml before ok=0 rc=0
        before=$(hp_all)
        vmprep plan "$xml" --json >"$OUT/plan.json" 2>"$OUT/plan.err" || rc=$?
        if ((rc != 0)) || ! jq -e . "$OUT/plan.json" >/dev/null 2>&1; then
                diag "vmprep plan --json (exit $rc): $(head -c 600 "$OUT/plan.json") $(head -c 300 "$OUT/plan.err")"
                return 1
        fi
        # one step: node 1's 2 MiB pool, +128
        local want old
        want=$(hp_file 1 2048)
        old=$(hp 1 2048)
        if ! grep -qF "$want" "$OUT/plan.json" || ! grep -q '128' "$OUT/plan.json"; then
                diag "plan does not add 128 pages to $want: $(head -c 800 "$OUT/plan.json")"
                ok=1
        fi
        if grep -qF "$(hp_file 0 2048)" "$OUT/plan.json"; then
                diag "plan touches node 0: $(head -c 800 "$OUT/plan.json")"
                ok=1
        fi
        vmprep plan "$xml" >"$OUT/plan.txt" 2>&1 || { diag "vmprep plan (text): $(head -c 500 "$OUT/plan.txt")"; ok=1; }
        grep -q "$((old + 128))" "$OUT/plan.txt" || { diag "plan text lacks the new value $((old + 128)): $(head -c 500 "$OUT/plan.txt")"; ok=1; }
        vmprep show "$xml" >"$OUT/show.txt" 2>&1 || { diag "vmprep show: $(head -c 500 "$OUT/show.txt")"; ok=1; }
        expect_eq "pools after plan (applies nothing)" "$(hp_all)" "$before" || ok=1
        return "$ok"
}

# ---- hugepages, for real -------------------------------------------------------------------

# hp_roundtrip ADMIN: node 1 starts with ADMIN pages; the VM adds 128 there only.
hp_roundtrip() {
        local admin=$1 xml=$DOMAINS/hp-node1.xml uuid ok=0 n0 g0
        uuid=$(uuid_of "$xml")
        echo "$admin" >"$(hp_file 1 2048)"
        expect_eq "node1 pool set by the administrator" "$(hp 1 2048)" "$admin" || return 1
        n0=$(hp 0 2048)
        g0=$(hp 0 1048576)/$(hp 1 1048576)
        if ! vm_start "$xml"; then
                diag "start failed: $(hook_errors)"
                echo 0 >"$(hp_file 1 2048)"
                return 1
        fi
        expect_eq "node1 2 MiB pool while running" "$(hp 1 2048)" "$((admin + 128))" || ok=1
        expect_eq "node1 free 2 MiB pages while running" "$(hp 1 2048 free_hugepages)" "$((admin + 128))" || ok=1
        expect_eq "node0 2 MiB pool while running" "$(hp 0 2048)" "$n0" || ok=1
        expect_eq "1 GiB pools while running" "$(hp 0 1048576)/$(hp 1 1048576)" "$g0" || ok=1
        [[ -n $(journals_of "$uuid") ]] || { diag "no journal in $RUNDIR while running"; ok=1; }
        if vmprep status --json >"$OUT/status.json" 2>&1; then
                grep -qF "$uuid" "$OUT/status.json" ||
                        { diag "vmprep status --json does not name the VM: $(head -c 600 "$OUT/status.json")"; ok=1; }
        else
                diag "vmprep status --json failed while running: $(head -c 400 "$OUT/status.json")"
                ok=1
        fi
        vm_stop "$xml" || { diag "stop: $(hook_errors)"; ok=1; }
        expect_eq "node1 2 MiB pool after release" "$(hp 1 2048)" "$admin" || ok=1
        expect_eq "node0 2 MiB pool after release" "$(hp 0 2048)" "$n0" || ok=1
        expect_no_journal "$uuid" "after release" || ok=1
        echo 0 >"$(hp_file 1 2048)"
        return "$ok"
}
sc_hp_node1() { hp_roundtrip 0; }
sc_hp_node1_admin() { hp_roundtrip 16; }

# a prepare whose release never came (libvirtd died): reconcile --offline gives it back
sc_hp_reconcile_offline() {
        local xml=$DOMAINS/hp-node1.xml uuid ok=0 n1
        uuid=$(uuid_of "$xml")
        n1=$(hp 1 2048)
        : >"$OUT/hooks.err"
        hooks_phase "$xml" prepare begin || { diag "prepare failed: $(hook_errors)"; return 1; }
        expect_eq "node1 2 MiB pool after prepare" "$(hp 1 2048)" "$((n1 + 128))" || ok=1
        [[ -n $(journals_of "$uuid") ]] || { diag "no journal after prepare"; ok=1; }
        vmprep reconcile --offline >"$OUT/reconcile.out" 2>&1 || { diag "reconcile --offline failed: $(head -c 600 "$OUT/reconcile.out")"; ok=1; }
        expect_eq "node1 2 MiB pool after reconcile" "$(hp 1 2048)" "$n1" || ok=1
        expect_no_journal "$uuid" "after reconcile" || ok=1
        # libvirt's release, later, finds nothing left to do
        hooks_phase "$xml" release end || { diag "release after reconcile failed: $(hook_errors)"; ok=1; }
        expect_eq "node1 2 MiB pool after the late release" "$(hp 1 2048)" "$n1" || ok=1
        return "$ok"
}

sc_hp_1g_boot() {
        local xml=$DOMAINS/hp-1g-boot.xml uuid ok=0 before
        uuid=$(uuid_of "$xml")
        before=$(hp_all)
        expect_eq "node0 free 1 GiB pages (boot pool)" "$(hp 0 1048576 free_hugepages)" 1 || return 1
        if ! vm_start "$xml"; then
                diag "start failed with a free boot-time 1 GiB page on node 0: $(hook_errors)"
                ok=1
                # vmprep always adds the VM's pages on top of the pool, so a free
                # boot-time page cannot serve it and runtime 1 GiB allocation fails
                grep -q 'cannot reserve 1 x 1 GiB pages on node 0' "$OUT/hooks.err" &&
                        KNOWN="vmprep adds 1 GiB pages at runtime instead of using the free boot-time pool"
        else
                # the VM needs 1 page; the boot pool's free page serves it, or vmprep added one
                local n
                n=$(hp 0 1048576)
                ((n >= 1)) || { diag "node0 1 GiB pool is $n while running"; ok=1; }
                diag "node0 1 GiB pool while running: $n (boot pool 1)"
                vm_stop "$xml" || { diag "stop: $(hook_errors)"; ok=1; }
        fi
        expect_eq "pools after release" "$(hp_all)" "$before" || { ok=1; KNOWN=""; }
        expect_no_journal "$uuid" "after release" || { ok=1; KNOWN=""; }
        ((ok == 0)) || [[ -z $KNOWN ]] || return 3
        return "$ok"
}

sc_hp_1g_runtime_fails() {
        local xml=$DOMAINS/hp-1g-runtime.xml uuid ok=0 before
        uuid=$(uuid_of "$xml")
        before=$(hp_all)
        if vm_start "$xml"; then
                diag "the start succeeded; it should have failed (pools: $(hp_all))"
                vm_stop "$xml"
                return 1
        fi
        grep -q "hugepagesz=1G" "$OUT/hooks.err" || { diag "no boot-option advice: $(hook_errors)"; ok=1; }
        grep -q "node 1" "$OUT/hooks.err" || { diag "the error does not name node 1: $(hook_errors)"; ok=1; }
        expect_eq "pools after the failed start" "$(hp_all)" "$before" || ok=1
        expect_no_journal "$uuid" "after the failed start" || ok=1
        return "$ok"
}

# ---- kernel: what the vfio, SR-IOV, single-GPU and cpus hooks will rely on ----------------

sc_kernel_vfio_nic() {
        local ok=0 g
        modprobe vfio-pci || { diag "modprobe vfio-pci failed"; return 1; }
        g=$(group_of "$NIC")
        expect_eq "members of the e1000e's group $g" "$(members "$g")" "$NIC " || ok=1
        bind_to "$NIC" vfio-pci || { diag "e1000e not bound to vfio-pci: driver $(driver_of "$NIC")"; ok=1; }
        wait_for 30 test -c "/dev/vfio/$g" || { diag "no /dev/vfio/$g"; ok=1; }
        give_back "$NIC"
        wait_for 30 test "$(driver_of "$NIC")" = e1000e || { diag "e1000e not back: driver $(driver_of "$NIC")"; ok=1; }
        wait_for 30 test ! -e "/dev/vfio/$g" || { diag "/dev/vfio/$g still there after return"; ok=1; }
        return "$ok"
}

sc_kernel_vfio_gpu_group() {
        local ok=0 g bdf h
        modprobe vfio-pci || { diag "modprobe vfio-pci failed"; return 1; }
        g=$(group_of "$VGA")
        h=$(holders /dev/snd/)
        [[ -z $h ]] || { diag "/dev/snd is held (unbinding the HDA would block): $h"; return 1; }
        for bdf in "$HDA" "$VGA"; do
                bind_to "$bdf" vfio-pci || { diag "$bdf not bound to vfio-pci: driver $(driver_of "$bdf")"; ok=1; }
        done
        wait_for 30 test -c "/dev/vfio/$g" || { diag "no /dev/vfio/$g for the whole group"; ok=1; }
        [[ ! -e /sys/class/drm/card0 ]] || { diag "card0 still there with the VGA on vfio-pci"; ok=1; }
        for bdf in "$VGA" "$HDA"; do give_back "$bdf"; done
        wait_for 50 test "$(driver_of "$VGA")" = bochs-drm || { diag "VGA not back on bochs-drm: $(driver_of "$VGA")"; ok=1; }
        wait_for 50 test "$(driver_of "$HDA")" = snd_hda_intel || { diag "HDA not back: $(driver_of "$HDA")"; ok=1; }
        # the same card comes back as card0 (no stale fd held it)
        wait_for 50 test -e /sys/class/drm/card0 || { diag "no card0 after return: $(dir_list /sys/class/drm)"; ok=1; }
        expect_eq "card0's device" "$(basename -- "$(readlink /sys/class/drm/card0/device 2>/dev/null)")" "$VGA" || ok=1
        return "$ok"
}

sc_kernel_sriov_nvme() {
        local ok=0 p=$PCI/$NVME vf auto0
        modprobe vfio-pci || { diag "modprobe vfio-pci failed"; return 1; }
        expect_eq "sriov_totalvfs" "$(cat "$p/sriov_totalvfs")" 4 || return 1
        expect_eq "sriov_numvfs before" "$(cat "$p/sriov_numvfs")" 0 || return 1
        auto0=$(cat "$p/sriov_drivers_autoprobe")
        echo 0 >"$p/sriov_drivers_autoprobe"
        echo 2 >"$p/sriov_numvfs" || { diag "writing 2 to sriov_numvfs failed"; echo "$auto0" >"$p/sriov_drivers_autoprobe"; return 1; }
        expect_eq "sriov_numvfs" "$(cat "$p/sriov_numvfs")" 2 || ok=1
        vf=$(basename -- "$(readlink "$p/virtfn0")")
        expect_eq "virtfn0" "$vf" 0000:01:00.1 || ok=1
        expect_eq "driver of the new VF (autoprobe off)" "$(driver_of "$vf")" none || ok=1
        expect_eq "VF's physfn" "$(basename -- "$(readlink "$PCI/$vf/physfn")")" "$NVME" || ok=1
        bind_to "$vf" vfio-pci || { diag "VF $vf not on vfio-pci: $(driver_of "$vf")"; ok=1; }
        wait_for 30 test -c "/dev/vfio/$(group_of "$vf")" || { diag "no /dev/vfio for the VF"; ok=1; }
        echo >"$PCI/$vf/driver_override"
        echo 0 >"$p/sriov_numvfs" || { diag "writing 0 to sriov_numvfs failed"; ok=1; }
        echo "$auto0" >"$p/sriov_drivers_autoprobe"
        expect_eq "sriov_numvfs after" "$(cat "$p/sriov_numvfs")" 0 || ok=1
        expect_eq "autoprobe after" "$(cat "$p/sriov_drivers_autoprobe")" "$auto0" || ok=1
        expect_eq "PF driver after" "$(driver_of "$NVME")" nvme || ok=1
        [[ ! -e $PCI/$vf ]] || { diag "$vf still there"; ok=1; }
        return "$ok"
}

sc_kernel_holder_card0() {
        local ok=0 pid h
        [[ -e /dev/dri/card0 ]] || { diag "no /dev/dri/card0"; return 1; }
        expect_eq "card0's device" "$(basename -- "$(readlink /sys/class/drm/card0/device)")" "$VGA" || ok=1
        # a display server stand-in
        bash -c 'exec -a lab-holder sleep 300' 3</dev/dri/card0 &
        pid=$!
        sleep 0.2
        h=$(holders /dev/dri/)
        grep -qx "$pid:sleep" <<<"$h" || { diag "holder $pid not found by scanning /proc/*/fd: '$h'"; ok=1; }
        kill "$pid"
        wait "$pid" 2>/dev/null
        h=$(holders /dev/dri/)
        ! grep -q "^$pid:" <<<"$h" || { diag "$pid still listed after it exited"; ok=1; }
        return "$ok"
}

sc_kernel_holder_controlC0() {
        local ok=0 pid h
        [[ -e /dev/snd/controlC0 ]] || { diag "no /dev/snd/controlC0 (the HDA has no codec?)"; return 1; }
        expect_eq "controlC0's device" "$(basename -- "$(readlink -f /sys/class/sound/controlC0/device/device 2>/dev/null)")" "$HDA" || ok=1
        sleep 300 3</dev/snd/controlC0 &
        pid=$!
        sleep 0.2
        h=$(holders /dev/snd/)
        grep -qx "$pid:sleep" <<<"$h" || { diag "holder $pid not found: '$h'"; ok=1; }
        # never unbind while held: snd_hda_intel's remove() would block in D state
        kill "$pid"
        wait "$pid" 2>/dev/null
        [[ -z $(holders /dev/snd/) ]] || { diag "/dev/snd still held: $(holders /dev/snd/)"; ok=1; }
        return "$ok"
}

# the single-GPU hand-over by hand: the display manager stopped over D-Bus, the
# framebuffer console let go, the group to vfio-pci and back, all restarted
sc_kernel_single_gpu() {
        local ok=0 vt g
        modprobe vfio-pci || { diag "modprobe vfio-pci failed"; return 1; }
        g=$(group_of "$VGA")
        vt=$(fb_vtcon) || { diag "no framebuffer vtcon: $(cat /sys/class/vtconsole/vtcon*/name | tr '\n' ';')"; return 1; }
        expect_eq "$vt bound" "$(cat "$vt/bind")" 1 || ok=1
        systemctl start display-manager || { diag "cannot start display-manager (lab-display)"; return 1; }
        wait_for 30 unit_holds lab-display /dev/dri/card0 || { diag "lab-display does not hold card0"; ok=1; }
        dbus_unit StopUnit display-manager.service || { diag "StopUnit over D-Bus failed"; ok=1; }
        wait_for 100 test "$(systemctl is-active lab-display)" = inactive || { diag "lab-display still $(systemctl is-active lab-display)"; ok=1; }
        [[ -z $(holders /dev/dri/) ]] || { diag "card0 still held: $(holders /dev/dri/)"; ok=1; }
        echo 0 >"$vt/bind" || { diag "cannot unbind $vt"; ok=1; }
        bind_to "$HDA" vfio-pci || { diag "HDA not on vfio-pci: $(driver_of "$HDA")"; ok=1; }
        bind_to "$VGA" vfio-pci || { diag "VGA not on vfio-pci: $(driver_of "$VGA")"; ok=1; }
        wait_for 30 test -c "/dev/vfio/$g" || { diag "no /dev/vfio/$g"; ok=1; }
        give_back "$VGA"
        give_back "$HDA"
        wait_for 50 test "$(driver_of "$VGA")" = bochs-drm || { diag "VGA after: $(driver_of "$VGA")"; ok=1; }
        wait_for 50 test "$(driver_of "$HDA")" = snd_hda_intel || { diag "HDA after: $(driver_of "$HDA")"; ok=1; }
        wait_for 50 test -e /dev/dri/card0 || { diag "no /dev/dri/card0 after"; ok=1; }
        vt=$(fb_vtcon) || { diag "no framebuffer vtcon after the return"; ok=1; }
        if [[ -n $vt && $(cat "$vt/bind") != 1 ]]; then
                echo 1 >"$vt/bind" || { diag "cannot rebind $vt"; ok=1; }
        fi
        dbus_unit StartUnit display-manager.service || { diag "StartUnit over D-Bus failed"; ok=1; }
        wait_for 100 unit_holds lab-display /dev/dri/card0 || { diag "lab-display does not hold card0 after the restart"; ok=1; }
        systemctl stop lab-display
        return "$ok"
}

# unit_cpus UNIT: its cgroup's effective cpus, or "-" when the file is not there
unit_cpus() {
        local cg
        cg=$(systemctl show -P ControlGroup "$1" 2>/dev/null)
        if [[ -n $cg && -r /sys/fs/cgroup$cg/cpuset.cpus.effective ]]; then
                cat "/sys/fs/cgroup$cg/cpuset.cpus.effective"
        else
                echo -
        fi
}

sc_kernel_cgroup_confine() {
        local ok=0 u pid all
        all=$(cat /sys/fs/cgroup/cpuset.cpus.effective)
        expect_eq "root cpuset.cpus.effective" "$all" 0-3 || return 1
        systemd-run --quiet --unit=lab-hog --collect sleep 300 || { diag "systemd-run failed"; return 1; }
        pid=$(systemctl show -P MainPID lab-hog)
        for u in "${HOST_UNITS[@]}"; do
                systemctl set-property --runtime "$u" AllowedCPUs=0-1 || { diag "set-property $u failed"; ok=1; }
        done
        for u in "${HOST_UNITS[@]}"; do
                expect_eq "$u AllowedCPUs" "$(systemctl show -P AllowedCPUs "$u")" 0-1 || ok=1
                local c
                c=$(unit_cpus "$u")
                [[ $c == - || $c == 0-1 ]] || { diag "$u cpuset.cpus.effective $c, expected 0-1"; ok=1; }
        done
        expect_eq "a system.slice task's Cpus_allowed_list" \
                "$(awk '/^Cpus_allowed_list/ { print $2 }' "/proc/$pid/status")" 0-1 || ok=1
        for u in "${HOST_UNITS[@]}"; do
                systemctl set-property --runtime "$u" AllowedCPUs= || { diag "reset $u failed"; ok=1; }
                systemctl revert "$u" >/dev/null 2>&1 || true
        done
        for u in "${HOST_UNITS[@]}"; do
                expect_eq "$u AllowedCPUs after" "$(systemctl show -P AllowedCPUs "$u")" "" || ok=1
                local c
                c=$(unit_cpus "$u")
                # systemd may drop cpuset from the subtree: the file goes (LAB.md)
                [[ $c == - || $c == "$all" ]] || { diag "$u cpuset.cpus.effective $c after, expected $all or gone"; ok=1; }
        done
        expect_eq "the task's Cpus_allowed_list after" \
                "$(awk '/^Cpus_allowed_list/ { print $2 }' "/proc/$pid/status")" "$all" || ok=1
        systemctl stop lab-hog 2>/dev/null
        return "$ok"
}

# whole-VM isolation as the cpus hook will do it: host units on 0-1, machine.slice
# on 2-3 and an isolated partition; 6.12 lists it in the root's cpuset.cpus.isolated
sc_kernel_partition_isolated() {
        local ok=0 u part=/sys/fs/cgroup/machine.slice/cpuset.cpus.partition got
        systemctl start machine.slice || { diag "cannot start machine.slice"; return 1; }
        for u in "${HOST_UNITS[@]}"; do systemctl set-property --runtime "$u" AllowedCPUs=0-1 || ok=1; done
        systemctl set-property --runtime machine.slice AllowedCPUs=2-3 || ok=1
        expect_eq "machine.slice cpuset.cpus.effective" "$(unit_cpus machine.slice)" 2-3 || ok=1
        if echo isolated >"$part"; then
                got=$(cat "$part")
                expect_eq "machine.slice partition" "$got" isolated || ok=1
                if [[ -e /sys/fs/cgroup/cpuset.cpus.isolated ]]; then
                        expect_eq "root cpuset.cpus.isolated" "$(cat /sys/fs/cgroup/cpuset.cpus.isolated)" 2-3 || ok=1
                fi
                echo member >"$part" || { diag "cannot write member back"; ok=1; }
                expect_eq "machine.slice partition after" "$(cat "$part")" member || ok=1
        else
                diag "writing isolated to $part failed"
                ok=1
        fi
        for u in "${HOST_UNITS[@]}" machine.slice; do
                systemctl set-property --runtime "$u" AllowedCPUs= || ok=1
                systemctl revert "$u" >/dev/null 2>&1 || true
        done
        systemctl stop machine.slice 2>/dev/null
        expect_eq "root cpuset.cpus.effective after" "$(cat /sys/fs/cgroup/cpuset.cpus.effective)" 0-3 || ok=1
        if [[ -e /sys/fs/cgroup/cpuset.cpus.isolated ]]; then
                expect_eq "root cpuset.cpus.isolated after" "$(cat /sys/fs/cgroup/cpuset.cpus.isolated)" "" || ok=1
        fi
        for u in "${HOST_UNITS[@]}"; do
                got=$(unit_cpus "$u")
                [[ $got == - || $got == 0-3 ]] || { diag "$u cpuset.cpus.effective $got after"; ok=1; }
        done
        return "$ok"
}

# IRQ affinities and the unbound workqueue mask, as the cpus hook will move them
sc_kernel_irq_wq_masks() {
        local ok=0 wq=/sys/devices/virtual/workqueue/cpumask dflt=/proc/irq/default_smp_affinity old err irq
        old=$(cat "$wq")
        echo 3 >"$wq" || { diag "writing 3 to $wq failed"; ok=1; }
        expect_eq "workqueue cpumask" "$(cat "$wq")" 3 || ok=1
        if err=$( (echo 0 >"$wq") 2>&1); then
                diag "an empty workqueue mask was accepted"
                ok=1
        else
                grep -q 'Invalid argument' <<<"$err" || { diag "empty workqueue mask: '$err', expected EINVAL"; ok=1; }
        fi
        echo "$old" >"$wq"
        expect_eq "workqueue cpumask restored" "$(cat "$wq")" "$old" || ok=1
        old=$(cat "$dflt")
        echo 3 >"$dflt" || { diag "writing default_smp_affinity failed"; ok=1; }
        expect_eq "default_smp_affinity" "$(cat "$dflt")" 3 || ok=1
        echo "$old" >"$dflt"
        # a managed IRQ (virtio-blk's request queue) refuses: EIO on 6.1, EPERM on 6.12
        irq=$(awk '/virtio[0-9]+-req/ { sub(":", "", $1); print $1; exit }' /proc/interrupts)
        if [[ -z $irq ]]; then
                diag "no virtio request-queue IRQ in /proc/interrupts"
                ok=1
        elif err=$( (echo 0-1 >"/proc/irq/$irq/smp_affinity_list") 2>&1); then
                diag "managed IRQ $irq accepted an affinity"
                ok=1
        else
                grep -qE 'Input/output error|Operation not permitted' <<<"$err" ||
                        { diag "managed IRQ $irq: '$err', expected EIO or EPERM"; ok=1; }
        fi
        # an unmanaged one (the first serial port's) moves and comes back
        irq=4
        old=$(cat "/proc/irq/$irq/smp_affinity_list")
        echo 0-1 >"/proc/irq/$irq/smp_affinity_list" || { diag "IRQ $irq refused 0-1"; ok=1; }
        expect_eq "IRQ $irq affinity" "$(cat "/proc/irq/$irq/smp_affinity_list")" 0-1 || ok=1
        echo "$old" >"/proc/irq/$irq/smp_affinity_list"
        expect_eq "IRQ $irq affinity restored" "$(cat "/proc/irq/$irq/smp_affinity_list")" "$old" || ok=1
        return "$ok"
}

# ---- the hooks being written elsewhere, driven for real -----------------------------------

sc_vfio_nic() {
        need_hook 10-vmprep-vfio || return 2
        local xml=$DOMAINS/vfio-nic.xml uuid ok=0 g
        uuid=$(uuid_of "$xml")
        g=$(group_of "$NIC")
        vm_start "$xml" || { diag "start failed: $(hook_errors)"; return 1; }
        expect_eq "e1000e driver while running" "$(driver_of "$NIC")" vfio-pci || ok=1
        [[ -c /dev/vfio/$g ]] || { diag "no /dev/vfio/$g while running"; ok=1; }
        vm_stop "$xml" || { diag "stop: $(hook_errors)"; ok=1; }
        wait_for 30 test "$(driver_of "$NIC")" = e1000e || { diag "e1000e driver after: $(driver_of "$NIC")"; ok=1; }
        expect_eq "driver_override after" "$(cat "$PCI/$NIC/driver_override")" "(null)" || ok=1
        expect_no_journal "$uuid" "after release" || ok=1
        return "$ok"
}

# reset-method on a real kernel (5.15+): the e1000e's reset_method is
# written in another order while the VM runs and given back after
sc_vfio_nic_reset() {
        need_hook 10-vmprep-vfio || return 2
        local f=$PCI/$NIC/reset_method xml=$OUT/vfio-nic-reset.xml uuid ok=0 orig want methods
        [[ -r $f ]] || skip "the kernel has no reset_method (before 5.15)" || return 2
        orig=$(cat "$f")
        read -ra methods <<<"$orig"
        ((${#methods[@]} >= 2)) || skip "the e1000e offers one reset method ($orig)" || return 2
        want="${methods[-1]} ${methods[0]}"
        sed "s|<vmprep:vfio group=\"device\"/>|<vmprep:vfio group=\"device\" reset-method=\"$want\"/>|" "$DOMAINS/vfio-nic.xml" >"$xml"
        grep -q "reset-method=\"$want\"" "$xml" || { diag "the domain did not take reset-method"; return 1; }
        uuid=$(uuid_of "$xml")
        vm_start "$xml" || { diag "start failed: $(hook_errors)"; return 1; }
        expect_eq "e1000e driver while running" "$(driver_of "$NIC")" vfio-pci || ok=1
        expect_eq "reset_method while running" "$(cat "$f")" "$want" || ok=1
        vm_stop "$xml" || { diag "stop: $(hook_errors)"; ok=1; }
        wait_for 30 test "$(driver_of "$NIC")" = e1000e || { diag "e1000e driver after: $(driver_of "$NIC")"; ok=1; }
        expect_eq "reset_method after" "$(cat "$f")" "$orig" || ok=1
        expect_no_journal "$uuid" "after release" || ok=1
        return "$ok"
}

sc_vfio_gpu_group() {
        need_hook 10-vmprep-vfio || return 2
        local xml=$DOMAINS/vfio-gpu.xml uuid ok=0 g
        uuid=$(uuid_of "$xml")
        g=$(group_of "$VGA")
        vm_start "$xml" || { diag "start failed: $(hook_errors)"; return 1; }
        expect_eq "VGA driver while running" "$(driver_of "$VGA")" vfio-pci || ok=1
        expect_eq "HDA driver while running" "$(driver_of "$HDA")" vfio-pci || ok=1
        [[ -c /dev/vfio/$g ]] || { diag "no /dev/vfio/$g while running"; ok=1; }
        vm_stop "$xml" || { diag "stop: $(hook_errors)"; ok=1; }
        wait_for 50 test "$(driver_of "$VGA")" = bochs-drm || { diag "VGA after: $(driver_of "$VGA")"; ok=1; }
        wait_for 50 test "$(driver_of "$HDA")" = snd_hda_intel || { diag "HDA after: $(driver_of "$HDA")"; ok=1; }
        wait_for 50 test -e /sys/class/drm/card0 || { diag "no card0 after: $(dir_list /sys/class/drm)"; ok=1; }
        expect_no_journal "$uuid" "after release" || ok=1
        return "$ok"
}

sc_gpu_holder_refused() {
        need_hook 10-vmprep-vfio || return 2
        local xml=$DOMAINS/vfio-gpu.xml uuid ok=0 pid t0
        uuid=$(uuid_of "$xml")
        # in a unit of its own (not the display manager, not this test's cgroup)
        systemd-run --quiet --unit=lab-holder --collect /bin/sh -c 'exec sleep 300 3</dev/dri/card0' ||
                { diag "systemd-run failed"; return 1; }
        wait_for 30 unit_holds lab-holder /dev/dri/card0 || { diag "lab-holder does not hold card0"; systemctl stop lab-holder; return 1; }
        pid=$(systemctl show -P MainPID lab-holder)
        t0=$SECONDS
        if vm_start "$xml"; then
                diag "the start succeeded with $pid holding /dev/dri/card0"
                vm_stop "$xml"
                ok=1
        else
                grep -q "$pid" "$OUT/hooks.err" || { diag "the error does not name PID $pid: $(hook_errors)"; ok=1; }
                grep -q "sleep" "$OUT/hooks.err" || { diag "the error does not name 'sleep': $(hook_errors)"; ok=1; }
        fi
        ((SECONDS - t0 < 60)) || { diag "the refusal took $((SECONDS - t0)) s"; ok=1; }
        expect_eq "VGA driver after" "$(driver_of "$VGA")" bochs-drm || ok=1
        expect_eq "HDA driver after" "$(driver_of "$HDA")" snd_hda_intel || ok=1
        expect_eq "lab-holder after" "$(systemctl is-active lab-holder)" active || ok=1
        systemctl stop lab-holder
        expect_no_journal "$uuid" "after the refused start" || ok=1
        return "$ok"
}

# sriov_given_back PF DRIVER AUTOPROBE UUID: after the release of VFs made from
# none, the PF has 0 VFs, its autoprobe and driver back, and no journal is left
sriov_given_back() {
        local ok=0
        expect_eq "sriov_numvfs after" "$(cat "$PCI/$1/sriov_numvfs")" 0 || ok=1
        expect_eq "autoprobe after" "$(cat "$PCI/$1/sriov_drivers_autoprobe")" "$3" || ok=1
        expect_eq "PF driver after" "$(driver_of "$1")" "$2" || ok=1
        expect_no_journal "$4" "after release" || ok=1
        return "$ok"
}

sc_sriov_nvme() {
        need_hook 10-vmprep-vfio || return 2
        local xml=$DOMAINS/sriov-nvme.xml uuid ok=0 p=$PCI/$NVME vf=0000:01:00.1 auto0
        uuid=$(uuid_of "$xml")
        auto0=$(cat "$p/sriov_drivers_autoprobe")
        vm_start "$xml" || { diag "start failed: $(hook_errors)"; return 1; }
        expect_eq "sriov_numvfs while running" "$(cat "$p/sriov_numvfs")" 2 || ok=1
        expect_eq "autoprobe while running" "$(cat "$p/sriov_drivers_autoprobe")" 0 || ok=1
        expect_eq "VF $vf driver" "$(driver_of "$vf")" vfio-pci || ok=1
        expect_eq "the other VF's driver" "$(driver_of 0000:01:00.2)" none || ok=1
        vm_stop "$xml" || { diag "stop: $(hook_errors)"; ok=1; }
        sriov_given_back "$NVME" nvme "$auto0" "$uuid" || ok=1
        return "$ok"
}

sc_cpus_pin23() {
        need_hook 30-vmprep-cpus || return 2
        local xml=$DOMAINS/cpus-pin23.xml uuid ok=0 u all
        declare -A before=()
        uuid=$(uuid_of "$xml")
        all=$(cat /sys/fs/cgroup/cpuset.cpus.effective)
        for u in "${HOST_UNITS[@]}"; do before[$u]=$(systemctl show -P AllowedCPUs "$u"); done
        vm_start "$xml" || { diag "start failed: $(hook_errors)"; return 1; }
        for u in "${HOST_UNITS[@]}"; do
                expect_eq "$u AllowedCPUs while running" "$(systemctl show -P AllowedCPUs "$u")" 0-1 || ok=1
                local c
                c=$(unit_cpus "$u")
                [[ $c == - || $c == 0-1 ]] || { diag "$u cpuset.cpus.effective $c while running"; ok=1; }
        done
        vm_stop "$xml" || { diag "stop: $(hook_errors)"; ok=1; }
        for u in "${HOST_UNITS[@]}"; do
                expect_eq "$u AllowedCPUs after" "$(systemctl show -P AllowedCPUs "$u")" "${before[$u]}" || ok=1
                local c
                c=$(unit_cpus "$u")
                [[ $c == - || $c == "$all" ]] || { diag "$u cpuset.cpus.effective $c after, expected $all or gone"; ok=1; }
        done
        expect_no_journal "$uuid" "after release" || ok=1
        return "$ok"
}

# ---- igb (QEMU 10 only): VF settings over rtnetlink, for real ----------------------------

need_igb() {
        [[ -e $PCI/$IGB ]] && return 0
        # in the QEMU 10 boot made for them, a missing igb is a failure
        if grep -qw 'vmprep_lab.igb=1' /proc/cmdline; then
                diag "no igb at $IGB in the QEMU 10 boot (lspci: $(lspci -n | tr '\n' ';'))"
                return 1
        fi
        skip "no igb under QEMU 7.2: these run in tests/lab/run.sh's separate QEMU 10 boot"
}
igb_if() { dir_list "$PCI/$IGB/net" | tr -d ' '; }
# vf_settings N: "MAC vlan=V spoofchk=B trust=B" of VF N, as the kernel reports it
# over rtnetlink (ip -d, with the VF filter)
vf_settings() {
        ip -j -d link show dev "$(igb_if)" 2>/dev/null | jq -r --argjson n "$1" '.[0].vfinfo_list[]? | select(.vf == $n) |
                "\(.address) vlan=\(.vlan_list[0].vlan // 0) spoofchk=\(.spoofchk) trust=\(.trust)"'
}
igb_vfs() { cat "$PCI/$IGB/sriov_numvfs"; }
igb_vf0=0000:02:10.0

sc_sriov_igb_vf_settings() {
        need_hook 10-vmprep-vfio || return 2
        need_igb || return
        local xml=$DOMAINS/sriov-igb.xml uuid ok=0 p=$PCI/$IGB auto0
        uuid=$(uuid_of "$xml")
        auto0=$(cat "$p/sriov_drivers_autoprobe")
        expect_eq "igb VFs before" "$(igb_vfs)" 0 || return 1
        vm_start "$xml" || { diag "start failed: $(hook_errors)"; return 1; }
        expect_eq "sriov_numvfs while running" "$(igb_vfs)" 2 || ok=1
        expect_eq "VF $igb_vf0 driver" "$(driver_of "$igb_vf0")" vfio-pci || ok=1
        expect_eq "VF 0 over rtnetlink while running" "$(vf_settings 0)" \
                "52:54:00:6c:1a:b0 vlan=100 spoofchk=false trust=true" ||
                { diag "ip -d link: $(ip -d link show dev "$(igb_if)" | grep -E '^ +vf' | tr '\n' ';')"; ok=1; }
        vm_stop "$xml" || { diag "stop: $(hook_errors)"; ok=1; }
        sriov_given_back "$IGB" igb "$auto0" "$uuid" || ok=1
        return "$ok"
}

# An administrator's 2 VFs with settings of their own: the count stays, VF 0
# goes to the VM with the profile's settings and comes back to its host driver
# with the administrator's.
sc_sriov_igb_admin_vfs() {
        need_hook 10-vmprep-vfio || return 2
        need_igb || return
        local xml=$DOMAINS/sriov-igb.xml uuid ok=0 ifc admin vf0drv
        uuid=$(uuid_of "$xml")
        ifc=$(igb_if)
        echo 2 >"$PCI/$IGB/sriov_numvfs" || { diag "cannot make 2 VFs by hand"; return 1; }
        if ! ip link set dev "$ifc" vf 0 mac 02:00:00:00:0a:01 vlan 7 spoofchk on trust off 2>"$OUT/ip.err"; then
                diag "ip link set vf 0: $(cat "$OUT/ip.err")"
                echo 0 >"$PCI/$IGB/sriov_numvfs"
                return 1
        fi
        admin=$(vf_settings 0)
        vf0drv=$(driver_of "$igb_vf0")
        vm_start "$xml" || { diag "start failed: $(hook_errors)"; echo 0 >"$PCI/$IGB/sriov_numvfs"; return 1; }
        expect_eq "sriov_numvfs while running" "$(igb_vfs)" 2 || ok=1
        expect_eq "VF $igb_vf0 driver" "$(driver_of "$igb_vf0")" vfio-pci || ok=1
        expect_eq "VF 0 while running" "$(vf_settings 0)" "52:54:00:6c:1a:b0 vlan=100 spoofchk=false trust=true" || ok=1
        vm_stop "$xml" || { diag "stop: $(hook_errors)"; ok=1; }
        expect_eq "sriov_numvfs after" "$(igb_vfs)" 2 || ok=1
        expect_eq "VF 0 after (the administrator's)" "$(vf_settings 0)" "$admin" || ok=1
        expect_eq "VF $igb_vf0 driver after" "$(driver_of "$igb_vf0")" "$vf0drv" || ok=1
        expect_no_journal "$uuid" "after release" || ok=1
        echo 0 >"$PCI/$IGB/sriov_numvfs" || { diag "cannot remove the VFs made by hand"; ok=1; }
        return "$ok"
}

# ---- what the host is using: refused, naming it (issue 11) --------------------------------
# The refusal is checked as a user sees it: the start fails, the device keeps
# its driver, the host keeps using it, the message names the culprit (a key
# word, any case).  Then, with the use gone, the same VM starts.

# hooks_err_has WORD...: the hooks' stderr names each (fixed strings, any case)
hooks_err_has() {
        local w ok=0
        for w in "$@"; do
                grep -qiF -- "$w" "$OUT/hooks.err" || { diag "the refusal does not name '$w': $(hook_errors)"; ok=1; }
        done
        return "$ok"
}
nic_if() { dir_list "$PCI/$NIC/net" | tr -d ' '; }
kernel_tail() { dmesg | tail -n 6 | tr '\n' ';'; }
master_of() { ip -j link show dev "$1" 2>/dev/null | jq -r '.[0].master // "none"'; }

# refused_start XML WHAT WORD...: the start must fail naming each WORD
refused_start() {
        local xml=$1 what=$2
        shift 2
        if vm_start "$xml"; then
                diag "the start succeeded with $what"
                vm_stop "$xml" || diag "stop: $(hook_errors)"
                return 1
        fi
        hooks_err_has "$@"
}

# the e1000e as a port of BRIDGE (directly, or through a bond when BOND is
# given) carrying the host address 192.0.2.1/24 (TEST-NET-1: the guest's own)
nic_bridged() { # BRIDGE [BOND]
        local ifc=$1 br=$1 bond=${2:-}
        ifc=$(nic_if)
        [[ -n $ifc ]] || { diag "the e1000e has no interface"; return 1; }
        ip link add "$br" type bridge || return 1
        if [[ -n $bond ]]; then
                ip link add "$bond" type bond mode active-backup || return 1
                ip link set "$ifc" down
                ip link set "$ifc" master "$bond" || return 1
                ip link set "$bond" master "$br" || return 1
                ip link set "$bond" up
        else
                ip link set "$ifc" master "$br" || return 1
        fi
        ip link set "$ifc" up
        ip link set "$br" up
        ip addr add 192.0.2.1/24 dev "$br"
}
nic_unbridged() { # BRIDGE [BOND]
        local ifc
        ifc=$(nic_if)
        [[ -n $ifc ]] && ip link set "$ifc" nomaster 2>/dev/null
        [[ -n ${2:-} ]] && ip link del "$2" 2>/dev/null
        ip link del "$1" 2>/dev/null
        [[ -n $ifc ]] && ip link set "$ifc" down 2>/dev/null
        return 0
}

# hostuse_bridge BRIDGE [BOND]
hostuse_bridge() {
        need_hook 10-vmprep-vfio || return 2
        local xml=$DOMAINS/vfio-nic.xml ok=0 ifc upper=$1 names=("$1")
        [[ -n ${2:-} ]] && upper=$2 names+=("$2")
        [[ $(driver_of "$NIC") == e1000e ]] || { diag "the e1000e is on '$(driver_of "$NIC")' before"; return 1; }
        nic_bridged "$@" || { diag "cannot build the ${2:+bond and }bridge: $(ip -br link | tr '\n' ';')"; nic_unbridged "$@"; return 1; }
        ifc=$(nic_if)
        refused_start "$xml" "$ifc under ${names[*]} carrying 192.0.2.1/24" "${names[@]}" || ok=1
        expect_eq "e1000e driver after the refusal" "$(driver_of "$NIC")" e1000e || ok=1
        expect_eq "master of $ifc after the refusal" "$(master_of "$ifc")" "$upper" || ok=1
        ip -4 -br addr show dev "$1" | grep -qF 192.0.2.1/24 || { diag "$1 lost its address"; ok=1; }
        expect_no_journal "$(uuid_of "$xml")" "after the refused start" || ok=1
        nic_unbridged "$@"
        # nothing of the host's left on it: the same VM takes the NIC
        if vm_start "$xml"; then
                expect_eq "e1000e driver once unbridged" "$(driver_of "$NIC")" vfio-pci || ok=1
                vm_stop "$xml" || { diag "stop: $(hook_errors)"; ok=1; }
        else
                diag "start refused once the NIC left the bridge: $(hook_errors)"
                ok=1
        fi
        wait_for 50 nic_given_back || { diag "e1000e after: driver $(driver_of "$NIC"), override $(cat "$PCI/$NIC/driver_override")"; ok=1; }
        return "$ok"
}
sc_hostuse_bridge() { hostuse_bridge br0; }
sc_hostuse_bond_bridge() { hostuse_bridge br0 bond0; }

# nvme_given_back: the PF on nvme, no override, namespace 2 back
nvme_given_back() { [[ $(driver_of "$NVME") == nvme && $(cat "$PCI/$NVME/driver_override") == "(null)" ]] && nvme_ns2 >/dev/null; }

# nvme_passes_once_free XML: with the namespace let go, the PF goes and comes back
nvme_passes_once_free() {
        local ok=0
        if vm_start "$1"; then
                expect_eq "NVMe driver once free" "$(driver_of "$NVME")" vfio-pci || ok=1
                vm_stop "$1" || { diag "stop: $(hook_errors)"; ok=1; }
        else
                diag "start refused once the namespace was free: $(hook_errors)"
                ok=1
        fi
        wait_for 100 nvme_given_back || { diag "NVMe after: driver $(driver_of "$NVME"), override $(cat "$PCI/$NVME/driver_override"), block: $(dir_list /sys/block)"; ok=1; }
        expect_no_journal "$(uuid_of "$1")" "after release" || ok=1
        return "$ok"
}

# hostuse_mounted FSTYPE MKFS...: a filesystem made on namespace 2 and mounted
hostuse_mounted() {
        need_hook 10-vmprep-vfio || return 2
        local fs=$1 xml=$DOMAINS/vfio-nvme.xml ok=0 dev mnt=/mnt/lab-$1
        shift
        [[ $(driver_of "$NVME") == nvme ]] || { diag "the NVMe is on '$(driver_of "$NVME")' before"; return 1; }
        dev=$(wait_for 100 nvme_ns2) || { diag "no namespace 2: $(dir_list /sys/block)"; return 1; }
        "$@" "$dev" >"$OUT/mkfs.out" 2>&1 || { diag "$* $dev: $(head -c 400 "$OUT/mkfs.out")" "kernel: $(kernel_tail)"; return 1; }
        mkdir -p "$mnt"
        mount -t "$fs" "$dev" "$mnt" || { diag "mount -t $fs $dev $mnt failed" "kernel: $(kernel_tail)"; return 1; }
        echo lab >"$mnt/file" && sync
        refused_start "$xml" "$dev mounted on $mnt ($fs)" "$fs" "$mnt" || ok=1
        expect_eq "NVMe driver after the refusal" "$(driver_of "$NVME")" nvme || ok=1
        expect_eq "$mnt after the refusal" "$(cat "$mnt/file" 2>&1)" lab || ok=1
        expect_no_journal "$(uuid_of "$xml")" "after the refused start" || ok=1
        umount "$mnt" || { diag "umount $mnt failed"; umount -l "$mnt"; ok=1; }
        nvme_passes_once_free "$xml" || ok=1
        return "$ok"
}
sc_hostuse_ext4() { hostuse_mounted ext4 mkfs.ext4 -q -F; }
sc_hostuse_btrfs() { hostuse_mounted btrfs mkfs.btrfs -q -f; }

sc_hostuse_swap() {
        need_hook 10-vmprep-vfio || return 2
        local xml=$DOMAINS/vfio-nvme.xml ok=0 dev
        [[ $(driver_of "$NVME") == nvme ]] || { diag "the NVMe is on '$(driver_of "$NVME")' before"; return 1; }
        dev=$(wait_for 100 nvme_ns2) || { diag "no namespace 2: $(dir_list /sys/block)"; return 1; }
        mkswap "$dev" >"$OUT/mkswap.out" 2>&1 || { diag "mkswap $dev: $(head -c 400 "$OUT/mkswap.out")"; return 1; }
        swapon "$dev" || { diag "swapon $dev failed" "kernel: $(kernel_tail)"; return 1; }
        refused_start "$xml" "swap on $dev" swap || ok=1
        expect_eq "NVMe driver after the refusal" "$(driver_of "$NVME")" nvme || ok=1
        grep -q "^$dev " /proc/swaps || { diag "$dev no longer in /proc/swaps: $(tr '\n' ';' </proc/swaps)"; ok=1; }
        expect_no_journal "$(uuid_of "$xml")" "after the refused start" || ok=1
        swapoff "$dev" || { diag "swapoff $dev failed"; ok=1; }
        nvme_passes_once_free "$xml" || ok=1
        return "$ok"
}

# the keyboard on the xhci: passing the controller would take it from the host
sc_hostuse_usb_keyboard() {
        need_hook 10-vmprep-vfio || return 2
        local xml=$DOMAINS/vfio-xhci.xml ok=0 kbd name
        kbd=$(wait_for 100 xhci_keyboard) || { diag "no keyboard under $XHCI"; return 1; }
        name=${kbd#*:}
        refused_start "$xml" "the keyboard '$name' on $XHCI" "$name" || ok=1
        expect_eq "xhci driver after the refusal" "$(driver_of "$XHCI")" xhci_hcd || ok=1
        expect_eq "keyboard after the refusal" "$(xhci_keyboard)" "$kbd" || ok=1
        expect_no_journal "$(uuid_of "$xml")" "after the refused start" || ok=1
        if [[ $(driver_of "$XHCI") != xhci_hcd ]]; then
                give_back "$XHCI"
                wait_for 50 xhci_keyboard >/dev/null || diag "the keyboard did not come back"
        fi
        return "$ok"
}

sc_single_gpu() {
        need_hook 10-vmprep-vfio || return 2
        local xml=$DOMAINS/vfio-gpu.xml uuid ok=0
        uuid=$(uuid_of "$xml")
        systemctl start display-manager || { diag "cannot start display-manager (lab-display)"; return 1; }
        wait_for 30 unit_holds lab-display /dev/dri/card0 || { diag "lab-display does not hold card0"; systemctl stop lab-display; return 1; }
        if ! vm_start "$xml"; then
                diag "start failed: $(hook_errors)"
                systemctl stop lab-display
                return 1
        fi
        expect_eq "display manager while running" "$(systemctl is-active lab-display)" inactive || ok=1
        expect_eq "VGA driver while running" "$(driver_of "$VGA")" vfio-pci || ok=1
        expect_eq "HDA driver while running" "$(driver_of "$HDA")" vfio-pci || ok=1
        vm_stop "$xml" || { diag "stop: $(hook_errors)"; ok=1; }
        wait_for 50 test "$(driver_of "$VGA")" = bochs-drm || { diag "VGA after: $(driver_of "$VGA")"; ok=1; }
        wait_for 50 test "$(driver_of "$HDA")" = snd_hda_intel || { diag "HDA after: $(driver_of "$HDA")"; ok=1; }
        wait_for 100 unit_holds lab-display /dev/dri/card0 || { diag "display manager not back on card0: $(systemctl is-active lab-display)"; ok=1; }
        local vt
        vt=$(fb_vtcon) && { [[ $(cat "$vt/bind") == 1 ]] || { diag "framebuffer console not rebound"; ok=1; }; }
        systemctl stop lab-display
        expect_no_journal "$uuid" "after release" || ok=1
        return "$ok"
}

# two VMs on CPU 2 and CPU 3: the host set shrinks, then grows back one core at a time
cpus_two() { # FIRST_TO_STOP SECOND_TO_STOP
        local a=$DOMAINS/cpus-pin2.xml b=$DOMAINS/cpus-pin3.xml ok=0 before x
        before=$(host_units_allowed)
        vm_start "$a" || { diag "start pin2: $(hook_errors)"; return 1; }
        expect_eq "host units with pin2 running" "$(host_units_allowed)" "0,1,3 0,1,3 0,1,3" || ok=1
        if ! vm_start "$b"; then
                diag "start pin3: $(hook_errors)"
                vm_stop "$a"
                return 1
        fi
        expect_eq "host units with both running" "$(host_units_allowed)" "0,1 0,1 0,1" || ok=1
        x=$DOMAINS/$1.xml
        vm_stop "$x" || { diag "stop $1: $(hook_errors)"; ok=1; }
        if [[ $1 == cpus-pin2 ]]; then
                expect_eq "host units after pin2 stopped" "$(host_units_allowed)" "0,1,2 0,1,2 0,1,2" || ok=1
        else
                expect_eq "host units after pin3 stopped" "$(host_units_allowed)" "0,1,3 0,1,3 0,1,3" || ok=1
        fi
        vm_stop "$DOMAINS/$2.xml" || { diag "stop $2: $(hook_errors)"; ok=1; }
        expect_eq "host units after both stopped" "$(host_units_allowed)" "$before" || ok=1
        # systemd may have dropped cpuset from the root's subtree: files gone is fine
        local u c
        for u in "${HOST_UNITS[@]}"; do
                c=$(unit_cpus "$u")
                [[ $c == - || $c == 0-3 ]] || { diag "$u cpuset.cpus.effective $c after"; ok=1; }
        done
        expect_no_journal "$(uuid_of "$a")" "after both stopped" || ok=1
        expect_no_journal "$(uuid_of "$b")" "after both stopped" || ok=1
        return "$ok"
}
sc_cpus_two_vms_in_order() { need_hook 30-vmprep-cpus || return 2; cpus_two cpus-pin2 cpus-pin3; }
sc_cpus_two_vms_reverse() { need_hook 30-vmprep-cpus || return 2; cpus_two cpus-pin3 cpus-pin2; }

sc_cpus_irq_wq() {
        need_hook 30-vmprep-cpus || return 2
        local xml=$DOMAINS/cpus-irq-wq.xml ok=0 wq=/sys/devices/virtual/workqueue/cpumask dflt=/proc/irq/default_smp_affinity
        local wq0 d0
        wq0=$(cat "$wq")
        d0=$(cat "$dflt")
        vm_start "$xml" || { diag "start failed: $(hook_errors)"; return 1; }
        expect_eq "workqueue cpumask while running" "$(cat "$wq")" 3 || ok=1
        expect_eq "default_smp_affinity while running" "$(cat "$dflt")" 3 || ok=1
        vm_stop "$xml" || { diag "stop: $(hook_errors)"; ok=1; }
        expect_eq "workqueue cpumask after" "$(cat "$wq")" "$wq0" || ok=1
        expect_eq "default_smp_affinity after" "$(cat "$dflt")" "$d0" || ok=1
        expect_no_journal "$(uuid_of "$xml")" "after release" || ok=1
        return "$ok"
}

# ---- bench: isolation cost against host threads (cgroup v2 + systemd) ------------------
# BENCHMARKS.md section 4, on the backend this lab has and the development
# machine lacks.  The checks are on what the hook did; the timings are printed
# as "# bench" lines.  Runs only with LAB_BENCH_ROUNDS (vmprep_lab.bench_rounds=)
# rounds per size, medians: make lab-bench.

median_of() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
ms_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }

sc_bench_isolate() {
        need_hook 30-vmprep-cpus || return 2
        # Only when asked (make lab-bench): with 10,000 threads and cpuset
        # changes it provoked, twice in three full 6.12 runs, the guest
        # kernel's "Oops: int3" of multi-threaded TCG (code patched under a
        # running vCPU), which would make CI flaky for a figure, not a check.
        [[ -n ${LAB_BENCH_ROUNDS:-} ]] || { skip "the isolation benchmark runs on request: make lab-bench (LAB_BENCH_ROUNDS=N)"; return; }
        local xml=$DOMAINS/cpus-bench.xml uuid ok=0 units have=0 n r t0 t1 t2 f threads line
        local pids=() readies=() prep rel base summary=() first_p="" first_b="" bset=0 brefused=0 bms
        local rounds=${LAB_BENCH_ROUNDS:-1}
        uuid=$(uuid_of "$xml")
        units=$(host_units_allowed)
        : >"$OUT/hooks.err"
        for n in 100 1000 10000; do
                while ((have < n)); do
                        # made here, not by the child's redirection: that one
                        # may not have run yet when the loop below looks
                        : >"$OUT/ready.$have"
                        readies+=("$OUT/ready.$have")
                        "$LAB/bin/threads" 100 >>"$OUT/ready.$have" &
                        pids+=($!)
                        have=$((have + 100))
                done
                for f in "${readies[@]}"; do
                        wait_for 600 grep -q ready "$f" || { diag "$f: the threads did not start"; ok=1; break 2; }
                done
                threads=$(wc -l </sys/fs/cgroup/system.slice/vmprep-lab.service/cgroup.threads)
                prep="" rel="" base=""
                for ((r = 0; r < rounds; r++)); do
                        t0=${EPOCHREALTIME/./}
                        one_hook 30-vmprep-cpus "$xml" prepare begin || { diag "$n threads: prepare failed: $(hook_errors)"; ok=1; break 2; }
                        t1=${EPOCHREALTIME/./}
                        expect_eq "$n threads: host units while running" "$(host_units_allowed)" "0,1,2 0,1,2 0,1,2" || ok=1
                        t2=${EPOCHREALTIME/./}
                        one_hook 30-vmprep-cpus "$xml" release end || { diag "$n threads: release failed: $(hook_errors)"; ok=1; }
                        prep+=" $(ms_between "$t0" "$t1")"
                        rel+=" $(ms_between "$t2" "${EPOCHREALTIME/./}")"
                        expect_eq "$n threads: host units after" "$(host_units_allowed)" "$units" || ok=1
                        expect_no_journal "$uuid" "$n threads: after release" || ok=1
                        # the baseline: every thread pinned one by one, then back (not timed)
                        line=$("$LAB/bin/affinity-all" 0-2) || { diag "affinity-all failed"; ok=1; }
                        read -r bset brefused bms <<<"$line"
                        base+=" $bms"
                        "$LAB/bin/affinity-all" 0-3 >/dev/null
                done
                prep=$(median_of <<<"$prep") rel=$(median_of <<<"$rel") base=$(median_of <<<"$base")
                echo "# bench isolate: $threads threads in the service, cpus hook prepare $prep ms, release $rel ms, baseline (sched_setaffinity thread by thread: $bset threads, $brefused refused) $base ms; median of $rounds"
                [[ -z $first_p ]] && first_p=$prep first_b=$base
                summary+=("$n:$prep/$base")
        done
        kill "${pids[@]}" 2>/dev/null
        wait "${pids[@]}" 2>/dev/null
        if [[ -n $first_p && ${#summary[@]} == 3 ]]; then
                echo "# bench isolate: 10000 vs 100 threads: cpus hook prepare $(awk -v a="$first_p" -v b="$prep" 'BEGIN { printf "%.2f", b / a }')x, baseline $(awk -v a="$first_b" -v b="$base" 'BEGIN { printf "%.2f", b / a }')x (threads:prepare/baseline ms ${summary[*]})"
        fi
        return "$ok"
}

# ---- L2: a real virsh start in the guest; libvirtd runs the hooks itself ---------------

isolated_partitions() { # the cgroups under machine.slice whose partition reads isolated
        find /sys/fs/cgroup/machine.slice -name cpuset.cpus.partition 2>/dev/null | sort | while read -r f; do
                [[ $(cat "$f") == isolated ]] && printf '%s ' "${f%/*}"
        done
}

l2_libvirtd_up=""
# l2_start XML: libvirtd up (once), define, virsh start; on failure a diag and undefine
l2_start() {
        local xml=$1 name t0=$SECONDS
        name=$(name_of "$xml")
        if [[ -z $l2_libvirtd_up ]]; then
                systemctl start libvirtd.service virtlogd.socket || { diag "cannot start libvirtd"; return 1; }
                l2_libvirtd_up=yes
        fi
        timeout 120 virsh -q define "$xml" >"$OUT/virsh.out" 2>&1 || { diag "virsh define: $(head -c 500 "$OUT/virsh.out")"; return 1; }
        if ! timeout 180 virsh -q start "$name" >"$OUT/virsh.out" 2>&1; then
                diag "virsh start: $(head -c 800 "$OUT/virsh.out")"
                virsh -q undefine "$name" >/dev/null 2>&1
                return 1
        fi
        diag "virsh start of $name returned after $((SECONDS - t0)) s"
        expect_eq "domain state" "$(virsh domstate "$name" 2>&1 | head -n 1)" running
}
# l2_destroy XML [undefine]: virsh destroy (libvirtd runs stopped and release)
l2_destroy() {
        local name
        name=$(name_of "$1")
        timeout 120 virsh -q destroy "$name" >"$OUT/virsh.out" 2>&1 || { diag "virsh destroy: $(head -c 500 "$OUT/virsh.out")"; return 1; }
        [[ ${2:-} == undefine ]] && virsh -q undefine "$name" >/dev/null 2>&1
        return 0
}
l2_qemu_pid() { cat "/run/libvirt/qemu/$(name_of "$1").pid" 2>/dev/null; }
# l2_qemu_holds_nic XML: the domain's QEMU has the NIC's /dev/vfio/GROUP open
l2_qemu_holds_nic() {
        local pid g
        pid=$(l2_qemu_pid "$1")
        g=$(group_of "$NIC")
        [[ -n $pid && -n $g ]] || { diag "QEMU pid '$pid', group '$g'"; return 1; }
        holders "/dev/vfio/$g" | grep -q "^$pid:" ||
                { diag "QEMU (pid $pid) does not hold /dev/vfio/$g; holders: $(holders "/dev/vfio/$g" | tr '\n' ' ')"; return 1; }
}
# l2_status_holds XML CPUS VCPU_CPUS BDF: `vmprep status --json` in the guest
# names the running VM as the (isolating) holder of CPUS, shows its vCPUs
# pinned, tagged, on VCPU_CPUS (from libvirt's status file), and names it as
# the holder of BDF, on vfio-pci, in its IOMMU group
l2_status_holds() {
        local uuid rc=0 got ok=0
        uuid=$(uuid_of "$1")
        vmprep status --json >"$OUT/status.json" 2>"$OUT/status.err" || rc=$?
        ((rc == 0)) || { diag "vmprep status --json exit $rc: $(head -c 300 "$OUT/status.err")"; return 1; }
        got=$(jq -r --arg u "$uuid" '[.map.nodes[].cpus[] | select(.isolated and any(.held_by[]; .uuid == $u)) | .cpu | tostring] | join(" ")' "$OUT/status.json")
        expect_eq "status: CPUs held and isolated for the VM" "$got" "$2" || ok=1
        got=$(jq -r --arg u "$uuid" '[.map.nodes[].cpus[] | select(any(.pinned[]; .uuid == $u and .tagged and (.vcpus | length > 0))) | .cpu | tostring] | join(" ")' "$OUT/status.json")
        expect_eq "status: CPUs with the VM's vCPUs pinned" "$got" "$3" || ok=1
        got=$(jq -r --arg u "$uuid" --arg d "$4" '[.map.iommu_groups[].devices[] | select(.address == $d) | "\(.driver) \([.held_by[].uuid] | join(","))"] | join(";")' "$OUT/status.json")
        expect_eq "status: $4's driver and holder" "$got" "vfio-pci $uuid" || ok=1
        return "$ok"
}
# the NIC back on e1000e with no override left
nic_given_back() { [[ $(driver_of "$NIC") == e1000e && $(cat "$PCI/$NIC/driver_override") == "(null)" ]]; }

sc_l2_virsh_hugepages() {
        local xml=$DOMAINS/l2-hp-node1.xml uuid ok=0 n1 n0
        uuid=$(uuid_of "$xml")
        n1=$(hp 1 2048)
        n0=$(hp 0 2048)
        l2_start "$xml" || return 1
        expect_eq "node1 2 MiB pool while running" "$(hp 1 2048)" "$((n1 + 128))" || ok=1
        # QEMU preallocated its RAM from node 1's new pages
        expect_eq "node1 free 2 MiB pages while running" "$(hp 1 2048 free_hugepages)" "$n1" || ok=1
        expect_eq "node0 2 MiB pool while running" "$(hp 0 2048)" "$n0" || ok=1
        [[ -n $(journals_of "$uuid") ]] || { diag "no journal while running"; ok=1; }
        l2_destroy "$xml" undefine || ok=1
        wait_for 100 test "$(hp 1 2048)" = "$n1" || { diag "node1 2 MiB pool after destroy: $(hp 1 2048), expected $n1"; ok=1; }
        expect_no_journal "$uuid" "after virsh destroy" || ok=1
        return "$ok"
}

# Looking Glass memory: the tune hook creates /dev/shm/NAME before QEMU
# starts, QEMU maps that very file (same inode in /proc/PID/maps), and the
# release removes it.
sc_l2_shmem() {
        need_hook 40-vmprep-tune || return 2
        local xml=$DOMAINS/l2-shmem.xml uuid ok=0 f=/dev/shm/lab-looking-glass pid ino
        uuid=$(uuid_of "$xml")
        rm -f "$f"
        l2_start "$xml" || return 1
        expect_eq "$f while running" "$(stat -c '%s %U:%G %a' "$f" 2>&1)" "33554432 libvirt-qemu:kvm 660" || ok=1
        pid=$(l2_qemu_pid "$xml")
        ino=$(stat -c %i "$f" 2>/dev/null)
        # maps: ADDR PERMS OFFSET DEV INODE PATH
        if [[ -z $pid ]] || ! awk -v f="$f" -v i="$ino" '$6 == f && $5 == i { found = 1 } END { exit !found }' "/proc/$pid/maps"; then
                diag "QEMU (pid '$pid') does not map $f (inode $ino): $(grep -F /dev/shm "/proc/$pid/maps" 2>&1 | head -3 | tr '\n' ' ')"
                ok=1
        fi
        l2_destroy "$xml" undefine || ok=1
        wait_for 100 test ! -e "$f" || { diag "$f still there after destroy"; ok=1; }
        expect_no_journal "$uuid" "after virsh destroy" || ok=1
        return "$ok"
}

# The gaming profile with mode="partition" and the e1000e as <hostdev
# managed='no'>: every capability at once, around a real QEMU.
sc_l2_gaming_nic_unmanaged() {
        local xml=$DOMAINS/l2-gaming-nic.xml uuid ok=0 n1 units wq0 d0 want_p p
        local wq=/sys/devices/virtual/workqueue/cpumask dflt=/proc/irq/default_smp_affinity
        uuid=$(uuid_of "$xml")
        n1=$(hp 1 2048)
        units=$(host_units_allowed)
        wq0=$(cat "$wq")
        d0=$(cat "$dflt")
        [[ $(driver_of "$NIC") == e1000e ]] || { diag "the e1000e is on '$(driver_of "$NIC")' before the start"; return 1; }
        l2_start "$xml" || { diag "hooks: $(journalctl -q -t vmprep -t vmprep-hook --no-pager 2>/dev/null | tail -n 5 | tr '\n' ' ')"; return 1; }
        expect_eq "e1000e driver while running" "$(driver_of "$NIC")" vfio-pci || ok=1
        l2_qemu_holds_nic "$xml" || ok=1
        l2_status_holds "$xml" "2 3" 3 "$NIC" || ok=1
        expect_eq "node1 2 MiB pool while running" "$(hp 1 2048)" "$((n1 + 128))" || ok=1
        expect_eq "host units while running" "$(host_units_allowed)" "0,1 0,1 0,1" || ok=1
        expect_eq "workqueue cpumask while running" "$(cat "$wq")" 3 || ok=1
        expect_eq "default_smp_affinity while running" "$(cat "$dflt")" 3 || ok=1
        # 6.7+: the vCPU's own cgroup; before: machine.slice as a whole
        if [[ -e /sys/fs/cgroup/machine.slice/cpuset.cpus.exclusive ]]; then
                want_p='^/sys/fs/cgroup/machine\.slice/[^ ]*/libvirt/vcpu0 $'
        else
                want_p='^/sys/fs/cgroup/machine\.slice $'
        fi
        p=$(isolated_partitions)
        [[ $p =~ $want_p ]] || { diag "isolated partitions while running: '$p', expected /$want_p/"; ok=1; }
        if [[ -e /sys/fs/cgroup/cpuset.cpus.isolated ]]; then
                expect_eq "root cpuset.cpus.isolated while running" "$(cat /sys/fs/cgroup/cpuset.cpus.isolated)" 3 || ok=1
        fi
        l2_destroy "$xml" undefine || ok=1
        wait_for 100 nic_given_back || { diag "e1000e after destroy: driver $(driver_of "$NIC"), override $(cat "$PCI/$NIC/driver_override")"; ok=1; }
        wait_for 100 test "$(hp 1 2048)" = "$n1" || { diag "node1 2 MiB pool after destroy: $(hp 1 2048), expected $n1"; ok=1; }
        p=$(isolated_partitions)
        [[ -z $p ]] || { diag "still isolated after destroy: $p"; ok=1; }
        if [[ -e /sys/fs/cgroup/cpuset.cpus.isolated ]]; then
                expect_eq "root cpuset.cpus.isolated after" "$(cat /sys/fs/cgroup/cpuset.cpus.isolated)" "" || ok=1
        fi
        expect_eq "host units after" "$(host_units_allowed)" "$units" || ok=1
        expect_eq "workqueue cpumask after" "$(cat "$wq")" "$wq0" || ok=1
        expect_eq "default_smp_affinity after" "$(cat "$dflt")" "$d0" || ok=1
        expect_no_journal "$uuid" "after virsh destroy" || ok=1
        return "$ok"
}

# managed='yes', started and destroyed twice: libvirt's detach/reattach and
# vmprep's bind/release do not fight, and nothing drifts between runs.
sc_l2_nic_managed() {
        local xml=$DOMAINS/l2-nic-managed.xml uuid ok=0 round
        uuid=$(uuid_of "$xml")
        [[ $(driver_of "$NIC") == e1000e ]] || { diag "the e1000e is on '$(driver_of "$NIC")' before the start"; return 1; }
        for round in 1 2; do
                l2_start "$xml" || { ok=1; break; }
                expect_eq "round $round: e1000e driver while running" "$(driver_of "$NIC")" vfio-pci || ok=1
                l2_qemu_holds_nic "$xml" || ok=1
                l2_destroy "$xml" || ok=1
                wait_for 100 nic_given_back || { diag "round $round: e1000e after destroy: driver $(driver_of "$NIC"), override $(cat "$PCI/$NIC/driver_override")"; ok=1; }
                expect_no_journal "$uuid" "round $round: after virsh destroy" || ok=1
        done
        virsh -q undefine "$(name_of "$xml")" >/dev/null 2>&1
        return "$ok"
}

# ---- L2 (issue 11): what other VMs and libvirtd itself do beside vmprep's ------------------

# An untagged VM holds the NVMe's first VF (managed='yes': libvirt moved it to
# vfio-pci, QEMU has it open); a tagged VM wants 2 VFs, which the kernel only
# allows through 0: refused, naming the VF and the VM that holds it.  A hook
# that wrote 0 anyway would block in the kernel (vfio-pci waits for QEMU to
# let go of the VF, and a VM in SeaBIOS never does): the start runs in the
# background and the holder is destroyed after 60 s to free it.
sc_l2_sriov_vf_held() {
        need_hook 10-vmprep-vfio || return 2
        local holder=$DOMAINS/l2-vf-holder.xml xml=$DOMAINS/sriov-nvme-more.xml p=$PCI/$NVME vf=0000:01:00.1
        local ok=0 auto0 g pid bg rc name
        name=$(name_of "$holder")
        auto0=$(cat "$p/sriov_drivers_autoprobe")
        expect_eq "sriov_numvfs before" "$(cat "$p/sriov_numvfs")" 0 || return 1
        echo 0 >"$p/sriov_drivers_autoprobe"
        if ! echo 1 >"$p/sriov_numvfs"; then
                diag "cannot make 1 VF by hand"
                echo "$auto0" >"$p/sriov_drivers_autoprobe"
                return 1
        fi
        if ! l2_start "$holder"; then
                echo 0 >"$p/sriov_numvfs"
                echo "$auto0" >"$p/sriov_drivers_autoprobe"
                return 1
        fi
        g=$(group_of "$vf")
        pid=$(l2_qemu_pid "$holder")
        expect_eq "VF $vf driver with $name running" "$(driver_of "$vf")" vfio-pci || ok=1
        holders "/dev/vfio/$g" | grep -q "^$pid:" || { diag "$name's QEMU ($pid) does not hold /dev/vfio/$g"; ok=1; }
        : >"$OUT/hooks.err"
        vm_start "$xml" &
        bg=$!
        if ! wait_for 600 eval '! kill -0 "$bg" 2>/dev/null'; then
                diag "the tagged VM's start still blocked after 60 s (a VF removed under a running VM); destroying $name"
                l2_destroy "$holder"
                wait "$bg"
                diag "hooks: $(hook_errors)"
                ok=1
        else
                wait "$bg"
                rc=$?
                if ((rc == 0)); then
                        diag "the tagged VM started: sriov_numvfs $(cat "$p/sriov_numvfs"), VF $vf on $(driver_of "$vf")"
                        vm_stop "$xml"
                        ok=1
                else
                        hooks_err_has 01:00.1 "$name" || ok=1
                fi
                expect_eq "sriov_numvfs after the refusal" "$(cat "$p/sriov_numvfs")" 1 || ok=1
                expect_eq "VF $vf driver after the refusal" "$(driver_of "$vf")" vfio-pci || ok=1
                expect_eq "$name after the refusal" "$(virsh domstate "$name" 2>&1 | head -n 1)" running || ok=1
                expect_eq "$name's QEMU" "$(l2_qemu_pid "$holder")" "$pid" || ok=1
                holders "/dev/vfio/$g" | grep -q "^$pid:" || { diag "QEMU ($pid) no longer holds /dev/vfio/$g"; ok=1; }
                l2_destroy "$holder" || ok=1
        fi
        virsh -q undefine "$name" >/dev/null 2>&1
        expect_no_journal "$(uuid_of "$xml")" "after the refused start" || ok=1
        echo 0 >"$p/sriov_numvfs" || { diag "cannot remove the VF made by hand"; ok=1; }
        echo "$auto0" >"$p/sriov_drivers_autoprobe"
        expect_eq "PF driver after" "$(driver_of "$NVME")" nvme || ok=1
        return "$ok"
}

# "IRQ=affinity ..." of every IRQ
irq_affinities() {
        local f n
        for f in /proc/irq/[0-9]*/smp_affinity_list; do
                n=${f#/proc/irq/}
                printf '%s=%s ' "${n%%/*}" "$(cat "$f")"
        done
}
# isolation_state: what the cpus hook moves, in one line of words: "units=A/B/C
# wq=M default=M IRQ=LIST ..."
isolation_state() {
        local units
        units=$(host_units_allowed)
        printf 'units=%s wq=%s default=%s %s' "${units// //}" \
                "$(cat /sys/devices/virtual/workqueue/cpumask)" "$(cat /proc/irq/default_smp_affinity)" "$(irq_affinities)"
}
# expect_state WHAT GOT WANT: like expect_eq, the differing words only
expect_state() {
        [[ $2 == "$3" ]] && return 0
        diag "$1: got $(comm -23 <(tr ' ' '\n' <<<"$2" | sort) <(tr ' ' '\n' <<<"$3" | sort) | tr '\n' ' ')instead of $(comm -13 <(tr ' ' '\n' <<<"$2" | sort) <(tr ' ' '\n' <<<"$3" | sort) | tr '\n' ' ')"
        return 1
}

# libvirtd restarted while an isolated VM runs: its daemon hook (vmprep
# reconcile --offline) must see the VM running and leave its isolation alone
sc_l2_restart_isolated() {
        need_hook 30-vmprep-cpus || return 2
        local xml=$DOMAINS/l2-isolate.xml ok=0 name before during pid t
        local daemon_hook=/etc/libvirt/hooks/daemon.d/vmprep-reconcile
        [[ -x $daemon_hook ]] || { diag "no $daemon_hook: the restart would prove nothing"; return 1; }
        name=$(name_of "$xml")
        before=$(isolation_state)
        l2_start "$xml" || return 1
        during=$(isolation_state)
        expect_eq "host units while running" "$(host_units_allowed)" "0,1,2 0,1,2 0,1,2" || ok=1
        expect_eq "workqueue cpumask while running" "$(cat /sys/devices/virtual/workqueue/cpumask)" 7 || ok=1
        pid=$(l2_qemu_pid "$xml")
        t=$(date +%s)
        systemctl restart libvirtd.service || { diag "systemctl restart libvirtd failed"; ok=1; }
        wait_for 300 eval 'virsh -q list >/dev/null 2>&1' || { diag "libvirtd does not answer after the restart"; ok=1; }
        diag "daemon hook: $(journalctl -q -o cat --since="@$t" -t vmprep-reconcile -t vmprep --no-pager 2>/dev/null | tail -n 4 | tr '\n' ' ')"
        expect_eq "$name after the restart" "$(virsh domstate "$name" 2>&1 | head -n 1)" running || ok=1
        expect_eq "$name's QEMU after the restart" "$(l2_qemu_pid "$xml")" "$pid" || ok=1
        expect_state "isolation after the libvirtd restart" "$(isolation_state)" "$during" || ok=1
        [[ -n $(journals_of "$(uuid_of "$xml")") ]] || { diag "no journal left for the running VM after the restart"; ok=1; }
        l2_destroy "$xml" undefine || ok=1
        wait_for 100 eval '[[ $(isolation_state) == "$before" ]]' ||
                expect_state "isolation after destroy" "$(isolation_state)" "$before" || ok=1
        expect_no_journal "$(uuid_of "$xml")" "after virsh destroy" || ok=1
        return "$ok"
}

need_vcpu_partitions() {
        [[ -e /sys/fs/cgroup/cpuset.cpus.isolated ]] ||
                skip "vCPU partitions need cpuset.cpus.exclusive (6.7+): $(uname -r) isolates machine.slice whole"
}
# scope_of XML: the QEMU's scope under machine.slice, from /proc/PID/cgroup
scope_of() {
        local pid
        pid=$(l2_qemu_pid "$1")
        [[ -n $pid ]] || return 1
        sed -n 's|^0::/machine\.slice/\([^/]*\.scope\)/.*|\1|p' "/proc/$pid/cgroup"
}
# cpuset_files DIR: "path=value" of every cpuset.cpus, .exclusive and .partition
# under DIR (what vmprep may write; the .effective ones follow)
cpuset_files() {
        find "$1" \( -name cpuset.cpus -o -name cpuset.cpus.exclusive -o -name cpuset.cpus.partition \) 2>/dev/null |
                sort | while read -r f; do printf '%s=%s\n' "${f#/sys/fs/cgroup/}" "$(cat "$f")"; done
}
# exclusive_chain: the cgroups under machine.slice with CPUs given exclusively
exclusive_chain() {
        find /sys/fs/cgroup/machine.slice -name cpuset.cpus.exclusive 2>/dev/null | sort | while read -r f; do
                [[ -n $(cat "$f") ]] && printf '%s ' "${f%/*}"
        done
}

# partition_vm XML: started, its own vCPU cgroup (found from its QEMU) is the
# one isolated partition, the CPUs exclusive along its chain only; then destroyed
partition_vm_check() {
        local xml=$1 ok=0 scope m=/sys/fs/cgroup/machine.slice want
        scope=$(scope_of "$xml") || { diag "no QEMU pid for $(name_of "$xml")"; return 1; }
        diag "$(name_of "$xml"): QEMU in machine.slice/$scope"
        want="$m/$scope/libvirt/vcpu0 "
        expect_eq "isolated partitions" "$(isolated_partitions)" "$want" || ok=1
        expect_eq "cgroups with exclusive CPUs" "$(exclusive_chain)" "$m $m/$scope $m/$scope/libvirt $m/$scope/libvirt/vcpu0 " || ok=1
        expect_eq "root cpuset.cpus.isolated" "$(cat /sys/fs/cgroup/cpuset.cpus.isolated)" 3 || ok=1
        return "$ok"
}
partition_gone() {
        local ok=0
        expect_eq "isolated partitions after destroy" "$(isolated_partitions)" "" || ok=1
        expect_eq "root cpuset.cpus.isolated after destroy" "$(cat /sys/fs/cgroup/cpuset.cpus.isolated)" "" || ok=1
        expect_no_journal "$(uuid_of "$1")" "after virsh destroy" || ok=1
        return "$ok"
}

sc_l2_partition_name() {
        need_hook 30-vmprep-cpus || return 2
        need_vcpu_partitions || return 2
        local xml=$DOMAINS/l2-part-rtvm.xml ok=0 scope id planned ms=0
        # the plan names, before the start, the cgroups libvirt will make
        # (ID for the domain id): once it runs, the ones the kernel has
        # (unless no machine.slice exists yet to tell the layout)
        [[ -d /sys/fs/cgroup/machine.slice ]] && ms=1
        vmprep plan --json "$xml" >"$OUT/part-plan.json" 2>"$OUT/part-plan.err" ||
                { diag "vmprep plan: $(head -c 400 "$OUT/part-plan.err")"; ok=1; }
        l2_start "$xml" || return 1
        scope=$(scope_of "$xml")
        # libvirt 9.0 drops "_" from the machine name: qemu-N-rtvm.1
        [[ $scope =~ ^machine-qemu\\x2d[0-9]+\\x2drtvm\.1\.scope$ ]] || { diag "scope '$scope', expected machine-qemu\\x2dN\\x2drtvm.1.scope"; ok=1; }
        partition_vm_check "$xml" || ok=1
        id=$(virsh domid "$(name_of "$xml")" 2>/dev/null | head -n 1)
        planned=$(jq -r '.steps[] | select(.phase == "started") | .path' "$OUT/part-plan.json" 2>/dev/null |
                sed -e "s/qemu\\\\x2dID\\\\x2d/qemu\\\\x2d$id\\\\x2d/" -e 's|/cpuset\.cpus\.[a-z]*$||' | uniq | tr '\n' ' ')
        if ((ms)); then
                expect_eq "the plan's started-phase cgroups (ID = $id)" "$planned" "$(exclusive_chain | sed 's|^/sys/fs/cgroup/machine.slice ||')" || ok=1
        else
                diag "no machine.slice before the start: the plan could not name the started-phase cgroups ('$planned')"
        fi
        l2_destroy "$xml" undefine || ok=1
        wait_for 50 eval '[[ -z $(isolated_partitions) ]]'
        partition_gone "$xml" || ok=1
        return "$ok"
}

# the VM "b" beside a running "a-b" (whose scope name ends in "b.scope" too)
sc_l2_partition_beside() {
        need_hook 30-vmprep-cpus || return 2
        need_vcpu_partitions || return 2
        local a=$DOMAINS/l2-a-b.xml b=$DOMAINS/l2-part-b.xml ok=0 ascope abefore
        l2_start "$a" || return 1
        ascope=$(scope_of "$a")
        abefore=$(cpuset_files "/sys/fs/cgroup/machine.slice/$ascope")
        if l2_start "$b"; then
                partition_vm_check "$b" || ok=1
                expect_eq "a-b's cpuset files with b running" "$(cpuset_files "/sys/fs/cgroup/machine.slice/$ascope")" "$abefore" || ok=1
                l2_destroy "$b" undefine || ok=1
                wait_for 50 eval '[[ -z $(isolated_partitions) ]]'
                partition_gone "$b" || ok=1
        else
                ok=1
        fi
        expect_eq "a-b after b" "$(virsh domstate a-b 2>&1 | head -n 1)" running || ok=1
        expect_eq "a-b's cpuset files after b" "$(cpuset_files "/sys/fs/cgroup/machine.slice/$ascope")" "$abefore" || ok=1
        l2_destroy "$a" undefine || ok=1
        return "$ok"
}

# ---- running ---------------------------------------------------------------------------

SCENARIOS=(
        "env_devices:env: VGA, HDA, NVMe PF, e1000e and xhci where the domains name them, on their drivers, in IOMMU groups"
        "env_numa:env: two NUMA nodes (cpus 0-1 / 2-3), the e1000e on node 1"
        "env_hugepages_boot:env: one boot-time 1 GiB page per node, no 2 MiB pages, hugetlbfs mounted"
        "env_systemd_cgroup2:env: systemd is PID 1, cgroup v2 with cpuset, booted to multi-user.target (no display manager)"
        "env_nvme_ns2:env: the NVMe's namespace 2 (512 MiB) keeps what is written"
        "env_usb_keyboard:env: a USB keyboard on the qemu-xhci, alone in its IOMMU group"
        "doctor_iommu:doctor --json: IOMMU groups present"
        "doctor_vfio:doctor --json: vfio-pci available"
        "doctor_gpu_group:doctor --json: the VGA and its HDA function share one IOMMU group"
        "doctor_sriov:doctor --json: the NVMe is SR-IOV capable, 0 of 4 VFs"
        "doctor_numa:doctor --json: two NUMA nodes"
        "doctor_cgroups:doctor --json: cgroup v2 with the cpuset controller"
        "doctor_systemd:doctor --json: systemd is PID 1"
        "doctor_1g:doctor --json: 1 GiB pages reserved at boot"
        "cli_status_empty:status: nothing held, --json and text"
        "cli_plan_node1:plan/show: 128 x 2 MiB on node 1, applying nothing"
        "hp_node1:hugepages: 2 MiB pages placed on node 1 per <numatune>, read back per node, released exactly"
        "hp_node1_admin:hugepages: an administrator's 16 pages on node 1 survive the VM's start and stop"
        "hp_reconcile_offline:hugepages: a prepare without release is given back by vmprep reconcile --offline"
        "hp_1g_boot:hugepages: a 1 GiB-page VM on node 0 with the boot-time page free"
        "hp_1g_runtime_fails:hugepages: 4 x 1 GiB at runtime on node 1 fails with the boot-option advice, nothing left"
        "kernel_vfio_nic:kernel: the e1000e to vfio-pci and back, /dev/vfio/N"
        "kernel_vfio_gpu_group:kernel: the VGA+HDA group to vfio-pci and back to bochs-drm/snd_hda_intel, card0 again"
        "kernel_sriov_nvme:kernel: 2 VFs on the NVMe PF with autoprobe off, a VF to vfio-pci, count and autoprobe restored"
        "kernel_holder_card0:kernel: a holder of /dev/dri/card0 found by PID and name"
        "kernel_holder_controlC0:kernel: a holder of the HDA's /dev/snd/controlC0 found by PID and name"
        "kernel_single_gpu:kernel: display manager stopped over D-Bus, fbcon let go, the GPU group to vfio-pci and back, all restarted"
        "kernel_cgroup_confine:kernel: system.slice, user.slice, init.scope confined to CPUs 0-1 by systemd and restored"
        "kernel_partition_isolated:kernel: machine.slice on CPUs 2-3 as an isolated partition, read back and undone"
        "kernel_irq_wq_masks:kernel: workqueue mask and default IRQ affinity moved and restored, a managed IRQ refuses"
        "vfio_nic:vfio hook: the e1000e to vfio-pci at prepare, back to e1000e at release"
        "vfio_nic_reset:vfio hook: reset-method on the e1000e: its reset_method reordered while the VM runs, the kernel's list back after"
        "vfio_gpu_group:vfio hook: the VGA+HDA group whole to vfio-pci and back"
        "gpu_holder_refused:vfio hook: a holder of /dev/dri/card0 makes prepare refuse with its PID, nothing unbound"
        "sriov_nvme:vfio hook: 2 VFs made with autoprobe off, VF 01:00.1 to vfio-pci, count restored"
        "sriov_igb_vf_settings:vfio hook: igb (QEMU 10): 2 VFs, VF 0's MAC, VLAN, trust and spoofchk set over rtnetlink and read back, count 0 after"
        "sriov_igb_admin_vfs:vfio hook: igb (QEMU 10): an administrator's 2 VFs kept, VF 0's own settings and driver back after release"
        "hostuse_bridge:vfio hook: the e1000e as a port of br0 (192.0.2.1/24) refused naming br0, driver and port kept; passed once out"
        "hostuse_bond_bridge:vfio hook: the e1000e in bond0 in br0 refused naming both, driver and bond kept; passed once out"
        "hostuse_ext4:vfio hook: the NVMe refused while an ext4 on its namespace is mounted; passed and given back after umount"
        "hostuse_btrfs:vfio hook: the NVMe refused naming btrfs and the mount point while mounted; passed and given back after umount"
        "hostuse_swap:vfio hook: the NVMe refused naming swap while its namespace is swap; passed and given back after swapoff"
        "hostuse_usb_keyboard:vfio hook: the xhci refused naming its USB keyboard, driver and keyboard kept"
        "single_gpu:vfio hook: the only GPU handed over: display manager stopped, group passed, all restarted at release"
        "cpus_pin23:cpus hook: a VM pinned to CPUs 2-3 confines the host units to 0-1, restored after"
        "cpus_two_vms_in_order:cpus hook: VMs on CPU 2 and CPU 3, stopped in start order, the host set grows back a core at a time"
        "cpus_two_vms_reverse:cpus hook: VMs on CPU 2 and CPU 3, stopped in reverse order"
        "cpus_irq_wq:cpus hook: IRQ default affinity and the workqueue mask kept off CPUs 2-3, restored"
        "bench_isolate:bench: the cpus hook against 100, 1000, 10000 host threads under systemd and cgroup v2, host units confined and restored each time"
        "l2_virsh_hugepages:L2: virsh start in the guest: libvirtd's hooks put 128 x 2 MiB on node 1, QEMU takes them, destroy gives them back"
        "l2_gaming_nic_unmanaged:L2: gaming profile, mode=partition, e1000e managed=no: bound, opened by QEMU, pages on node 1, host on 0-1, vCPU isolated; all back after destroy"
        "l2_nic_managed:L2: e1000e managed=yes twice: vmprep and libvirt's detach/reattach agree, e1000e back each time"
        "l2_sriov_vf_held:L2: an untagged VM holds NVMe VF 01:00.1 (managed=yes); a tagged VM wanting 2 VFs is refused naming the VF and the VM, VF and VM untouched"
        "l2_restart_isolated:L2: libvirtd restarted (daemon hook: reconcile --offline) under an isolated VM: host units, IRQs, workqueues unchanged until it stops, then restored"
        "l2_partition_name:L2: a VM named rt_vm.1 with mode=partition: its own vCPU cgroup (scope rtvm.1) is the partition, nothing else"
        "l2_partition_beside:L2: a VM b with mode=partition beside a running a-b: b's own cgroup isolated, a-b's cpuset files untouched"
        "l2_shmem:L2: virsh start of an ivshmem-plain VM: vmprep creates /dev/shm/NAME (32 MiB, libvirt-qemu:kvm 0660), QEMU maps it, destroy removes it"
)

# LAB_ONLY=regex runs only the scenarios whose id matches
for s in "${SCENARIOS[@]}"; do
        id=${s%%:*}
        name=${s#*:}
        [[ -n ${LAB_ONLY:-} && ! $id =~ $LAB_ONLY ]] && continue
        diags=()
        SKIP_REASON=""
        KNOWN=""
        t0=${EPOCHREALTIME/./}
        "sc_$id" >"$OUT/sc.out" 2>&1
        rc=$?
        ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
        # a benchmark's figures, in the TAP whatever the verdict
        grep '^# bench ' "$OUT/sc.out"
        case $rc in
                0) t_ok "$name ($ms ms)" ;;
                2) t_skip "$name" "$SKIP_REASON" ;;
                3)
                        # TAP TODO: a known vmprep bug, reported, counted as skipped
                        T_N=$((T_N + 1)) T_SKIP=$((T_SKIP + 1)) T_TODO=$((T_TODO + 1))
                        echo "not ok $T_N - $name ($ms ms) # TODO known vmprep bug: $KNOWN"
                        printf '#   %s\n' "${diags[@]}"
                        ;;
                *)
                        mapfile -t extra <"$OUT/sc.out"
                        t_fail "$name ($ms ms)" "${diags[@]}" "${extra[@]: -15}"
                        ;;
        esac
done
((T_TODO == 0)) || echo "# $T_TODO known vmprep bug(s) marked TODO (counted as skipped)"
t_done
