#!/usr/bin/env bash
# vmprep plan = the journal: on every fake tree the hook suites use, for
# every capability, `vmprep plan --json` (test build, --root) lists exactly
# the steps the real hooks then journal when libvirt starts the VM (prepare
# and start phases, hooks 10 to 40 in libvirt's order): same journal, kind,
# resource, object path, old value and new value, in the same order.  The
# plan itself writes nothing (the whole tree, state included, compared).
# A start the hooks refuse is refused by the plan too.
#   tests/hooks/planjournal.sh build/test
set -uo pipefail
here=$(cd -- "$(dirname -- "$0")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
B=${1:-build/test}
case $B in /*) ;; *) B=$repo/$B ;; esac
VMPREP=$B/vmprep
FIXTURE=$B/pci-fixture
HOOKS=("$B/hooks/10-vmprep-vfio" "$B/hooks/20-vmprep-hugepages" "$B/hooks/30-vmprep-cpus" "$B/hooks/40-vmprep-tune")
T_SUITE=planjournal
# shellcheck source=tests/lib.sh
. "$repo/tests/lib.sh"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
unset VMPREP_CONF
for f in "$VMPREP" "$FIXTURE" "${HOOKS[@]}"; do [ -x "$f" ] || { echo "missing $f"; exit 1; }; done

# shellcheck source=tests/hooks/lib.sh
. "$here/lib.sh"
# the trees of the hook suites: hp_tree, pci_tree (pci-fixture's hosts),
# tree_v1, tree_v2, tree_systemd..., tune_tree
# shellcheck source=tests/hooks/hp_tree.sh
. "$here/hp_tree.sh"
# shellcheck source=tests/hooks/pci_tree.sh
. "$here/pci_tree.sh"
# shellcheck source=tests/hooks/cpus_tree.sh
. "$here/cpus_tree.sh"
# shellcheck source=tests/hooks/tune_tree.sh
. "$here/tune_tree.sh"
PLAN=$(mktemp) CMP=$(mktemp)
TMP_FILES+=("$PLAN" "$CMP")

U1=6c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e01
U2=6c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e02
# vm NAME UUID DEVICES-AND-MORE PROFILE-ELEMENTS: a domain for any capability
vm() {
        printf "<domain type='kvm'><name>%s</name><uuid>%s</uuid>%s" "$1" "$2" "$3"
        printf "<metadata><vmprep:profile xmlns:vmprep='urn:vmprep:1'>%s</vmprep:profile></metadata></domain>\n" "$4"
}
devices() { local s="<devices>" b; for b in "$@"; do s+=$(hostdev "$b"); done; echo "$s</devices>"; }
pins() { local i=0 c s="<vcpu>$#</vcpu><cputune>"; for c in "$@"; do s+="<vcpupin vcpu='$i' cpuset='$c'/>"; i=$((i + 1)); done; echo "$s</cputune>"; }
MEM="<memory unit='MiB'>512</memory>"
HP="<memoryBacking><hugepages/></memoryBacking>"

# everything under the root, state included: what a plan must leave as it was
SNAPSHOT=("modes:." "bytes:.")
journal_counts() {
        local f
        for f in "$ROOT"/run/vmprep/*.journal; do
                [ -e "$f" ] && echo "${f##*/} $(grep -c '^S ' "$f")"
        done
        return 0
}
# start NAME XML: libvirt's start of a VM: prepare begin, start begin, each
# hook in turn; stops at the first hook that fails (as libvirt does)
start() {
        local h op
        for op in prepare start; do
                for h in "${HOOKS[@]}"; do
                        "$h" "$1" "$op" begin - < "$2" > "$OUT" 2> "$ERR" || return 1
                done
        done
}
# started NAME XML: libvirt's started phase, once QEMU runs in its cgroups
started() {
        local h
        for h in "${HOOKS[@]}"; do
                "$h" "$1" started begin - < "$2" > "$OUT" 2> "$ERR" || return 1
        done
}
stop() {
        local h op
        for op in stopped release; do
                for h in "${HOOKS[@]}"; do "$h" "$1" "$op" end - < "$2" > /dev/null 2>&1; done
        done
}

# (plan, then start, then compare; leaves the VM running)
# agree LABEL NAME XML [runs|refused]: the plan and the hooks agree; with a
# 4th word, also that both start it (runs) or both refuse it (refused).
# With AT_STARTED (a command: what libvirt makes once QEMU runs) and
# LIVE_XML (the XML libvirt passes, with its domain id), the hooks get
# LIVE_XML and the started phase too, and the plan's ID is that id.
agree() {
        local label=$1 name=$2 x=$3 want=${4:-} before counts prc=0 hrc=0
        counts=$(journal_counts)
        before=$(snapshot)
        "$VMPREP" --root "$ROOT" plan --json "$x" > "$PLAN" 2> "$ERR" || prc=$?
        if [ "$(snapshot)" != "$before" ]; then
                t_fail "$label: the plan wrote nothing" "$(diff <(echo "$before") <(snapshot) | head -8)"
                return
        fi
        local hx=${LIVE_XML:-$x}
        start "$name" "$hx" || hrc=$?
        if [ "$hrc" -eq 0 ] && [ -n "${AT_STARTED:-}" ]; then
                $AT_STARTED
                started "$name" "$hx" || hrc=$?
        fi
        if [ "$want" = runs ] && { [ "$prc" -ne 0 ] || [ "$hrc" -ne 0 ]; }; then
                t_fail "$label: plan exit $prc, hooks exit $hrc, want both to start it" "plan: $(cat "$PLAN")" "hook: $(cat "$ERR")"
                return
        fi
        if [ "$want" = refused ] && { [ "$prc" -eq 0 ] || [ "$hrc" -eq 0 ]; }; then
                t_fail "$label: plan exit $prc, hooks exit $hrc, want both to refuse it" "plan: $(cat "$PLAN")" "hook: $(cat "$ERR")"
                return
        fi
        if [ "$prc" -ne 0 ] || [ "$hrc" -ne 0 ]; then
                if [ "$prc" -ne 0 ] && [ "$hrc" -ne 0 ]; then
                        t_ok "$label: refused by the plan and by the hooks alike ($(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["error"])' "$PLAN" | cut -c1-90)...)"
                else
                        t_fail "$label: plan exit $prc, hooks exit $hrc" "plan: $(cat "$PLAN")" "hook: $(cat "$ERR")"
                fi
                return
        fi
        if DOMID=$(sed -n "s/^<domain [^>]*id='\([0-9]*\)'.*/\1/p" "$hx") python3 "$here/planjournal.py" "$PLAN" "$ROOT" <(echo "$counts") > "$CMP"; then
                t_ok "$label: $(cat "$CMP") with the journal"
        else
                t_fail "$label" "$(cat "$CMP")"
        fi
}

# ---- hugepages ----
case_hugepages() {
        local x
        hp_tree
        x=$ROOT/x.xml; vm db1 "$U1" "<memory unit='MiB'>512</memory>$HP<numatune><memory nodeset='1'/></numatune>" "<vmprep:hugepages/>" > "$x"
        agree "hugepages, 2 MiB on node 1 (two-node host)" db1 "$x"
        local y=$ROOT/y.xml
        vm db2 "$U2" "<memory unit='MiB'>1024</memory><memoryBacking><hugepages><page size='1' unit='GiB'/></hugepages></memoryBacking>" "<vmprep:hugepages/>" > "$y"
        echo 2 > "$ROOT/.fake/node0-1048576kB.max" 2>/dev/null || true
        agree "hugepages, 1 GiB pages, interleaved, beside a running VM" db2 "$y"
        stop db2 "$y"; stop db1 "$x"
}

# ---- vfio ----
case_vfio() {
        local x
        pci_tree gpu-hda
        x=$ROOT/x.xml; vm g1 "$U1" "$MEM$(devices 0000:41:00.0)" "<vmprep:vfio/>" > "$x"
        agree "vfio gpu-hda: GPU with its audio function (whole group)" g1 "$x"
        pci_tree gpu-hda
        x=$ROOT/x.xml; vm g1 "$U1" "$MEM$(devices 0000:41:00.0)" "<vmprep:vfio unload-modules='nvidia-drm,nvidia'/>" > "$x"
        agree "vfio gpu-hda: unload-modules nvidia-drm,nvidia" g1 "$x"
        pci_tree gpu-persistenced
        x=$ROOT/x.xml; vm g1 "$U1" "$MEM$(devices 0000:41:00.0)" "<vmprep:vfio/>" > "$x"
        agree "vfio gpu-persistenced: nvidia-persistenced, holding /dev/nvidia0, stopped over D-Bus first" g1 "$x"
        # single-gpu='on' for that GPU, whose /dev/nvidia0 the display's Xorg holds too: the
        # plan cannot see Xorg go with the display manager, and must not refuse it
        pci_tree boot-vga gpu-persistenced
        ln -s /dev/nvidia0 "$ROOT/proc/4242/fd/13"
        x=$ROOT/x.xml; vm g1 "$U1" "$MEM$(devices 0000:41:00.0)" "<vmprep:vfio single-gpu='on'/>" > "$x"
        agree "vfio single-gpu='on' and nvidia-persistenced: display manager, consoles, then nvidia-persistenced, then the GPU" g1 "$x"
        pci_tree gpu-bridge-usb
        x=$ROOT/x.xml; vm g1 "$U1" "$MEM$(devices 0000:42:00.0)" "<vmprep:vfio/>" > "$x"
        agree "vfio gpu-bridge-usb: a GPU whose group holds a USB controller behind a bridge" g1 "$x"
        pci_tree boot-vga
        x=$ROOT/x.xml; vm g1 "$U1" "$MEM$(devices 0000:45:00.0)" "<vmprep:vfio single-gpu='auto'/>" > "$x"
        agree "vfio boot-vga: single GPU (display manager over D-Bus, fbcon, efifb, GPU+HDA)" g1 "$x"
        pci_tree nvme-mounted
        x=$ROOT/x.xml; vm n1 "$U1" "$MEM$(devices 0000:44:00.0)" "<vmprep:vfio/>" > "$x"
        agree "vfio nvme-mounted: a mounted disk" n1 "$x"
        pci_tree host-nic
        x=$ROOT/x.xml; vm n1 "$U1" "$MEM$(devices 0000:46:00.0)" "<vmprep:vfio/>" > "$x"
        agree "vfio host-nic: the host's own NIC" n1 "$x"
        pci_tree gpu-hda
        x=$ROOT/x.xml; vm g1 "$U1" "$MEM$(devices 0000:41:00.0)" "<vmprep:vfio reset-method='bus'><vmprep:device address='0000:41:00.1' reset-method='flr'/></vmprep:vfio>" > "$x"
        agree "vfio gpu-hda: reset-method bus on the GPU, flr on its HDA function (its <vmprep:device>)" g1 "$x"
        local n; n=$(grep -c '^S [0-9]* reset ' "$ROOT/run/vmprep/$U1.vfio.journal" 2>/dev/null)
        [ "$n" = 2 ] && t_ok "vfio gpu-hda: 2 reset steps journalled, as the plan above listed them" \
                || t_fail "vfio gpu-hda: 2 reset steps journalled" "got ${n:-none}: $(cat "$ERR")"
        pci_tree gpu-hda
        x=$ROOT/x.xml; vm g1 "$U1" "$MEM$(devices 0000:41:00.0)" "<vmprep:vfio reset-method='pm'/>" > "$x"
        agree "vfio gpu-hda: a reset-method the GPU does not offer" g1 "$x"
        grep -qF "the device does not offer pm; its reset_method lists flr bus" "$PLAN" \
                && t_ok "vfio gpu-hda: the plan refuses reset-method='pm' naming what the GPU offers" \
                || t_fail "vfio gpu-hda: the plan refuses reset-method='pm'" "$(cat "$PLAN")"
}

# ---- SR-IOV ----
case_sriov() {
        local x PF=sys/bus/pci/devices/0000:43:00.0
        pci_tree sriov-nic-2vfs
        rm "$ROOT/sys/bus/pci/devices/0000:43:10.0/driver" "$ROOT/sys/bus/pci/devices/0000:43:10.2/driver"
        echo 0 > "$ROOT/$PF/sriov_drivers_autoprobe"
        x=$ROOT/x.xml
        vm s1 "$U1" "$MEM<devices>$(iface 0000:43:10.0)$(hostdev 0000:43:11.6)</devices>" \
                "<vmprep:vfio/><vmprep:sriov pf='0000:43:00.0' vfs='8'><vmprep:vf index='0' mac='52:54:00:6d:90:02' vlan='100' qos='3' trust='on' spoofchk='off'/><vmprep:vf index='5' mac='52:54:00:6d:90:05'/></vmprep:sriov>" > "$x"
        agree "sriov-nic-2vfs: 2 -> 8 VFs through 0, VF 0 MAC/VLAN/trust/spoofchk and VF 5 MAC over netlink, 2 VFs to vfio-pci" s1 "$x"
        pci_tree sriov-nic
        x=$ROOT/x.xml
        vm s1 "$U1" "$MEM<devices>$(iface 0000:43:10.0)</devices>" \
                "<vmprep:vfio/><vmprep:sriov pf='0000:43:00.0'><vmprep:vf index='0' vlan='7' trust='on'/></vmprep:sriov>" > "$x"
        agree "sriov-nic: VF settings on the VFs there are, count left as it is" s1 "$x"
        pci_tree sriov-nic
        x=$ROOT/x.xml
        vm s1 "$U1" "$MEM<devices>$(hostdev 0000:43:10.2)</devices>" \
                "<vmprep:vfio/><vmprep:sriov pf='0000:43:00.0' vfs='4' autoprobe='yes'/>" > "$x"
        agree "sriov-nic: 4 VFs with autoprobe='yes' (they come up on ixgbevf), VF 1 from ixgbevf to vfio-pci" s1 "$x" runs
        pci_tree nfv-host
        x=$ROOT/x.xml
        vm v1 "$U1" "$MEM<devices>$(iface 0000:41:02.6)</devices>" \
                "<vmprep:vfio/><vmprep:sriov pf='0000:41:00.0' vfs='8'><vmprep:vf index='6' mac='52:54:00:00:00:11' spoofchk='off'/></vmprep:sriov>" > "$x"
        agree "nfv-host: uses the VFs there are, the free VF 6 set and to vfio-pci" v1 "$x" runs
        stop v1 "$x"
        vm v1 "$U1" "$MEM<devices>$(iface 0000:41:02.1)</devices>" \
                "<vmprep:vfio/><vmprep:sriov pf='0000:41:00.0' vfs='4'><vmprep:vf index='1' mac='52:54:00:00:00:11' spoofchk='off'/></vmprep:sriov>" > "$x"
        agree "nfv-host: VF 1, which carries the host's 10.0.0.5/24" v1 "$x" refused
        pci_tree nfv-host
        x=$ROOT/x.xml
        vm v1 "$U1" "$MEM<devices>$(iface 0000:41:02.6)</devices>" \
                "<vmprep:vfio reset-method='default'/><vmprep:sriov pf='0000:41:00.0'/>" > "$x"
        agree "nfv-host: a free VF to vfio-pci, reset-method='default' on it" v1 "$x" runs
}

# ---- cpus ----
# what libvirt makes for rt_vm.1 (domain id 3) once QEMU runs (pid 4003)
rt_vm_runs() { lv_running "$LIVE_XML" rt_vm.1 4003 'machine-qemu\x2d3\x2drtvm.1.scope' 2 3 2-3; }
case_cpus() {
        local x y t
        for t in tree_v1 tree_v2 tree_systemd; do
                "$t"
                x=$ROOT/x.xml; vm c1 "$U1" "$MEM$(pins 2 3)" "<vmprep:isolate/>" > "$x"
                agree "cpus $t: claim, host confined, IRQs (one managed) and masks" c1 "$x"
                y=$ROOT/y.xml; vm c2 "$U2" "$MEM$(pins 1)" "<vmprep:isolate irqs='no'/>" > "$y"
                agree "cpus $t: a second VM beside it (host journal already there)" c2 "$y"
        done
        tree_systemd
        x=$ROOT/x.xml; vm p1 "$U1" "$MEM$(pins 2 3)" "<vmprep:isolate mode='partition'/>" > "$x"
        agree "cpus tree_systemd before 6.7: machine.slice AllowedCPUs= and an isolated partition at prepare" p1 "$x"
        # 6.7+: the VM's scope and vCPU cgroups, made by libvirt after
        # prepare, become partitions at started; the plan names them with
        # ID for the domain id libvirt gives the VM at start (here 3)
        tree_systemd_exclusive
        x=$ROOT/x.xml; vm rt_vm.1 "$U1" "$MEM<vcpu>3</vcpu><cputune><vcpupin vcpu='0' cpuset='2'/><vcpupin vcpu='1' cpuset='3'/><vcpupin vcpu='2' cpuset='2-3'/></cputune>" "<vmprep:isolate mode='partition'/>" > "$x"
        LIVE_XML=$ROOT/live.xml
        sed "s/<domain type='kvm'>/<domain type='kvm' id='3'>/" "$x" > "$LIVE_XML"
        AT_STARTED=rt_vm_runs agree "cpus tree_systemd 6.7+: rt_vm.1's scope, its libvirt/ and 3 vCPU cgroups made partitions at started" rt_vm.1 "$x" runs
        unset LIVE_XML
        grep -qF 'machine-qemu\\x2dID\\x2drtvm.1.scope/libvirt/vcpu2/cpuset.cpus.partition' "$PLAN" \
                && grep -qF '"phase":"started"' "$PLAN" \
                && t_ok "cpus 6.7+ partition: the plan names the scope libvirt will make (rtvm.1, ID for the domain id), its steps phase started" \
                || t_fail "cpus 6.7+ partition: the plan names the scope" "$(cat "$PLAN")"
        tree_v2
        x=$ROOT/x.xml; vm c1 "$U1" "$MEM$(pins 0 1 2 3)" "<vmprep:isolate/>" > "$x"
        agree "cpus tree_v2: a claim of every CPU" c1 "$x"
}

# ---- tune ----
case_tune() {
        local x y
        tune_tree
        x=$ROOT/x.xml
        vm t1 "$U1" "$MEM$(pins 2 3)" "<vmprep:tune governor='performance' max-cstate='1' thp='never' ksm='off' rt-runtime='unlimited' swappiness='0' stat-interval='10'/>" > "$x"
        agree "tune: governor, C-states, THP, KSM, RT runtime, sysctls" t1 "$x"
        y=$ROOT/y.xml
        vm t2 "$U2" "$MEM$(pins 1)" "<vmprep:tune thp='never' ksm='off'/>" > "$y"
        agree "tune: a second VM sharing THP and KSM (already as it wants)" t2 "$y"
        SHARED_POLICY=1 NO_KSM=1 tune_tree
        x=$ROOT/x.xml
        vm t1 "$U1" "$MEM$(pins 2 3)" "<vmprep:tune governor='performance' ksm='off'/>" > "$x"
        agree "tune: one cpufreq policy for all CPUs, no KSM" t1 "$x"
}

# ---- all four at once ----
case_everything() {
        local x
        pci_tree gpu-hda
        # the CPUs and pools of the other trees on the same root
        local keep=$ROOT
        base_tree_into "$keep"
        x=$ROOT/x.xml
        vm all "$U1" "<memory unit='MiB'>512</memory>$HP$(pins 2 3)$(devices 0000:41:00.0)" \
                "<vmprep:vfio/><vmprep:hugepages/><vmprep:isolate/><vmprep:tune thp='never'/>" > "$x"
        agree "vfio + hugepages + cpus + tune on one host" all "$x"
}
# base_tree_into DIR: the cgroup v2 CPU host and a 2 MiB pool added to DIR
base_tree_into() {
        local d=$1 c
        mkdir -p "$d/sys/devices/system/cpu" "$d/sys/devices/system/node/node0/hugepages/hugepages-2048kB" "$d/proc/irq/24" \
                "$d/sys/devices/virtual/workqueue" "$d/sys/fs/cgroup/host" "$d/sys/kernel/mm/transparent_hugepage" \
                "$d/sys/kernel/mm/hugepages/hugepages-2048kB"
        echo 0-3 > "$d/sys/devices/system/cpu/online"; echo 0-3 > "$d/sys/devices/system/cpu/present"
        for c in 0 1 2 3; do
                mkdir -p "$d/sys/devices/system/cpu/cpu$c/topology"
                echo "$((c & ~1))-$((c | 1))" > "$d/sys/devices/system/cpu/cpu$c/topology/thread_siblings_list"
        done
        echo 0 > "$d/sys/devices/system/node/online"; echo 0 > "$d/sys/devices/system/node/has_memory"
        echo 0-3 > "$d/sys/devices/system/node/node0/cpulist"; echo 10 > "$d/sys/devices/system/node/node0/distance"
        printf 'Node 0 MemTotal: 8388608 kB\nNode 0 MemFree: 4194304 kB\n' > "$d/sys/devices/system/node/node0/meminfo"
        : > "$d/sys/devices/system/node/node0/compact"
        echo 0 > "$d/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages"
        echo 0 > "$d/sys/devices/system/node/node0/hugepages/hugepages-2048kB/free_hugepages"
        echo 0 > "$d/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
        printf 'MemTotal:       16777216 kB\nHugepagesize:       2048 kB\n' > "$d/proc/meminfo"
        echo 0-3 > "$d/proc/irq/24/smp_affinity_list"; echo f > "$d/proc/irq/default_smp_affinity"
        echo f > "$d/sys/devices/virtual/workqueue/cpumask"
        echo "cpuset cpu io memory pids" > "$d/sys/fs/cgroup/cgroup.controllers"
        echo "cpu memory" > "$d/sys/fs/cgroup/cgroup.subtree_control"
        : > "$d/sys/fs/cgroup/host/cpuset.cpus"; echo 77 > "$d/sys/fs/cgroup/host/cgroup.procs"
        echo "always [madvise] never" > "$d/sys/kernel/mm/transparent_hugepage/enabled"
}

case_hugepages
case_vfio
case_sriov
case_cpus
case_tune
case_everything
t_done
