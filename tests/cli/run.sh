#!/usr/bin/env bash
# The vmprep command.
#   1. golden output of plan, doctor and status on recorded host trees
#      (tests/cli/hosts.sh), and their --json forms parsed and checked;
#   2. on this machine for real: doctor's view of the IOMMU, NUMA, hugepages
#      and cgroups; tag/show/untag through a real libvirtd; reconcile after a
#      hook was SIGKILLed mid-prepare restores the real hugepage pool.
#   tests/cli/run.sh [--update]     (--update rewrites the golden files)
# shellcheck disable=SC2015  # t_ok never fails, so "cond && t_ok || t_fail" is an if/else
set -uo pipefail
here=$(cd -- "$(dirname -- "$0")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
T_SUITE=cli
# shellcheck source=tests/lib.sh
. "$repo/tests/lib.sh"
# shellcheck source=tests/cli/hosts.sh
. "$here/hosts.sh"
# shellcheck source=tests/cli/topologies.sh
. "$here/topologies.sh"
VMPREP=$repo/build/vmprep
export VMPREP_PROFILEDIR=$repo/profiles   # this tree's profiles, installed or not
TEST_HOOK=$repo/build/test/hooks/20-vmprep-hugepages
UPDATE=0; [ "${1:-}" = --update ] && UPDATE=1
W=$(mktemp -d /tmp/vmprep-cli-XXXXXX)
cleanup_fns=()
cleanup() {
        local f
        for f in "${cleanup_fns[@]}"; do "$f"; done
        rm -rf "$W"
}
trap cleanup EXIT
[ -x "$VMPREP" ] || { echo "missing $VMPREP (make)"; exit 1; }

# golden NAME COMMAND...: stdout+exit status of COMMAND against tests/cli/golden/NAME
golden() {
        local name=$1; shift
        local out=$W/$name.out
        "$@" > "$out" 2>&1
        echo "exit $?" >> "$out"
        if [ $UPDATE = 1 ]; then cp "$out" "$here/golden/$name"; fi
        if diff -u "$here/golden/$name" "$out" > "$W/$name.diff"; then
                t_ok "golden: $name"
        else
                t_fail "golden: $name" "$(head -40 "$W/$name.diff")"
        fi
}

# json_check NAME PYTHON-EXPR COMMAND...: the output parses as JSON and EXPR (over `j`) is true
json_check() {
        local name=$1 expr=$2; shift 2
        if ! command -v python3 >/dev/null; then t_skip "json: $name" "no python3"; return; fi
        local out
        out=$("$@" 2>/dev/null)
        if python3 -c "import json,sys; j=json.loads(sys.stdin.read()); sys.exit(0 if ($expr) else 1)" <<<"$out"; then
                t_ok "json: $name"
        else
                t_fail "json: $name" "expression: $expr" "${out:0:600}"
        fi
}

for h in workstation nfv laptop; do mkdir -p "$W/$h"; "host_$h" "$W/$h"; done
D=$repo/tests/fixtures/domains

golden doctor-workstation "$VMPREP" --root "$W/workstation" doctor
golden doctor-nfv "$VMPREP" --root "$W/nfv" doctor
golden doctor-laptop "$VMPREP" --root "$W/laptop" doctor
golden doctor-nfv-vm "$VMPREP" --root "$W/nfv" doctor "$D/vnf-1g.xml"
golden plan-workstation-db "$VMPREP" --root "$W/workstation" plan "$D/db-node1-2g.xml"
golden plan-nfv-vnf "$VMPREP" --root "$W/nfv" plan "$D/vnf-1g.xml"
golden plan-laptop-db "$VMPREP" --root "$W/laptop" plan "$D/db-node1-2g.xml"
# ksm='off' without <nosharepages/>, a governor on a policy shared with host CPUs
golden plan-workstation-rt-ksm "$VMPREP" --root "$W/workstation" plan "$D/rt-ksm-off.xml"
golden doctor-workstation-rt-ksm "$VMPREP" --root "$W/workstation" doctor "$D/rt-ksm-off.xml"
golden show-db "$VMPREP" --root "$W/workstation" show "$D/db-node1-2g.xml"
# Looking Glass memory on an AppArmor host with libvirt's profile, SELinux
# enforcing too, a kvmfr device node, a /dev/shm file that is already there
mkdir -p "$W/lg"; host_workstation "$W/lg"
mkdir -p "$W/lg/sys/kernel/security/apparmor" "$W/lg/etc/apparmor.d" "$W/lg/sys/fs/selinux" "$W/lg/dev/shm"
: > "$W/lg/etc/apparmor.d/usr.sbin.libvirtd"; echo 1 > "$W/lg/sys/fs/selinux/enforce"
mknod -m 0600 "$W/lg/dev/kvmfr0" c 1 3; truncate -s 32M "$W/lg/dev/shm/lg-spare"; chmod 0600 "$W/lg/dev/shm/lg-spare"
golden plan-workstation-looking-glass "$VMPREP" --root "$W/lg" plan "$D/looking-glass.xml"
golden doctor-workstation-looking-glass "$VMPREP" --root "$W/lg" doctor "$D/looking-glass.xml"
# the workstation on 6.12 (machine.slice has cpuset.cpus.exclusive): a VM in
# mode='partition' named rt_vm.1, whose scope and vCPU cgroups libvirt makes
# at start, listed "at started" with ID for its domain id
mkdir -p "$W/ws612"; host_workstation "$W/ws612"
_w "$W/ws612/sys/fs/cgroup/machine.slice/cpuset.cpus.exclusive" ""
_w "$W/ws612/sys/fs/cgroup/machine.slice/cpuset.cpus.partition" member
sed -e 's|<name>rt1</name>|<name>rt_vm.1</name>|' -e 's|<vmprep:isolate irqs="no" workqueues="no"/>|<vmprep:isolate mode="partition" irqs="no" workqueues="no"/>|' \
        -e '/<vmprep:tune/d' "$D/rt-ksm-off.xml" > "$W/rt-partition.xml"
golden plan-workstation-612-partition "$VMPREP" --root "$W/ws612" plan "$W/rt-partition.xml"
# ... and on a fresh boot, before anything enabled the cpuset controller for
# the root's children: machine.slice has no cpuset files yet (the lab found
# the plan failing there), the root's cpuset.cpus.isolated says 6.7+
mkdir -p "$W/ws612f"; host_workstation "$W/ws612f"
rm -f "$W/ws612f/sys/fs/cgroup/"*/cpuset.cpus
_w "$W/ws612f/sys/fs/cgroup/cpuset.cpus.isolated" ""
golden plan-workstation-612-fresh-partition "$VMPREP" --root "$W/ws612f" plan "$W/rt-partition.xml"
# a fake PCI host (tests/fake/pci_fixture.c): GPU+HDA in one group, an SR-IOV NIC
mkdir -p "$W/pci/run" "$W/pci/.fake"
"$repo/build/test/pci-fixture" "$W/pci" base gpu-hda sriov-nic
golden plan-gpu-hda-sriov "$VMPREP" --root "$W/pci" plan "$D/gpu-hda-sriov.xml"
json_check "plan vfio: 2 VFs on the PF (count/autoprobe as journalled), then the GPU and its audio function to vfio-pci (driver/override)" \
        "[(s['kind'], s['object'], s['old'], s['new']) for s in j['steps']] == [('numvfs', '/sys/bus/pci/devices/0000:43:00.0/sriov_numvfs', '0/1', '2'), ('bind', '/sys/bus/pci/devices/0000:41:00.0', 'nvidia/', 'vfio-pci'), ('bind', '/sys/bus/pci/devices/0000:41:00.1', 'snd_hda_intel/', 'vfio-pci')] and all(s['journal'] == j['uuid'] + '.vfio' and s['reason'] for s in j['steps'])" \
        "$VMPREP" --root "$W/pci" plan --json "$D/gpu-hda-sriov.xml"

json_check "doctor workstation: IOMMU passes, GPU sharing a group warns, 0 failures" \
        "j['summary']['fail']==0 and any(c['check']=='iommu' and c['status']=='pass' for c in j['checks']) and any(c['check']=='gpu' and c['status']=='warn' and '0000:44:00.0' in c['detail'] for c in j['checks'])" \
        "$VMPREP" --root "$W/workstation" doctor --json
json_check "doctor laptop: no IOMMU fails with the AMD fix" \
        "any(c['check']=='iommu' and c['status']=='fail' and 'amd_iommu=on' in c['fix'] for c in j['checks'])" \
        "$VMPREP" --root "$W/laptop" doctor --json
json_check "doctor laptop with a VM that passes nothing through: the missing IOMMU is only a warning" \
        "any(c['check']=='iommu' and c['status']=='warn' for c in j['checks']) and any(c['check']=='vfio-pci' and c['status']=='warn' for c in j['checks'])" \
        "$VMPREP" --root "$W/laptop" doctor --json "$D/db-node1-2g.xml"
json_check "doctor laptop with a VM that has a <hostdev>: the missing IOMMU fails" \
        "any(c['check']=='iommu' and c['status']=='fail' for c in j['checks'])" \
        "$VMPREP" --root "$W/laptop" doctor --json "$repo/tests/fixtures/seed/02-gpu-passthrough.xml"
json_check "doctor nfv: SR-IOV PF with 8 of 64 VFs" \
        "any(c['check']=='sr-iov' and '8 of 64' in c['detail'] for c in j['checks'])" \
        "$VMPREP" --root "$W/nfv" doctor --json
json_check "plan workstation: +1024 x 2 MiB on node 1, 512 -> 1536" \
        "j['tagged'] and j['steps'][0]['delta']==1024 and j['steps'][0]['old']=='512' and j['steps'][0]['new']=='1536' and 'node1/' in j['steps'][0]['path']" \
        "$VMPREP" --root "$W/workstation" plan --json "$D/db-node1-2g.xml"
json_check "plan workstation: db1 claims CPUs 8-11; cpuset enabled, each host cgroup's cpuset.cpus 0-7,12-15; workqueue mask ffff -> f0ff (hex, as written)" \
        "[(s['kind'], s['object'], s['old'], s['new']) for s in j['steps'] if s['capability'] == 'cpus'] == [('claim', 'ledger cpus:' + j['uuid'], 'isolate,workqueues', '8-11'), ('cg2ctl', '/sys/fs/cgroup/cgroup.subtree_control', '', '+cpuset')] + [('restore', '/sys/fs/cgroup/%s/cpuset.cpus' % c, '', '0-7,12-15') for c in ('init.scope', 'system.slice', 'user.slice')] + [('restore', '/sys/devices/virtual/workqueue/cpumask', 'ffff', 'f0ff')] and all(s['journal'] == '00000000-0000-0000-0000-000000000000.cpus' for s in j['steps'] if s['kind'] == 'restore')" \
        "$VMPREP" --root "$W/workstation" plan --json "$D/db-node1-2g.xml"
json_check "plan nfv: 1 GiB pages interleaved, 4 per node" \
        "[s['delta'] for s in j['steps']]==[4,4] and all('hugepages-1048576kB' in s['path'] for s in j['steps'])" \
        "$VMPREP" --root "$W/nfv" plan --json "$D/vnf-1g.xml"

# vmprep pin --dry-run on recorded CPU topologies (tests/cli/topologies.sh):
# a gaming VM of 4, 8 and 16 vCPUs on each, the domain given as a file
for tp in 7950x3d 13900k 3970x xeon2s laptop4; do
        mkdir -p "$W/topo-$tp"; "topo_$tp" "$W/topo-$tp"
        for n in 4 8 16; do
                extra=""
                # the 16-vCPU VM on the dual Xeon has a GPU on node 0
                [ $tp = xeon2s ] && [ $n = 16 ] && extra="<devices><hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x3b' slot='0x00' function='0x0'/></source></hostdev></devices>"
                # the 8-vCPU one has an iothread and a <cputune> of its own (kept)
                [ $n = 8 ] && extra="<iothreads>1</iothreads><cputune><shares>2048</shares><vcpupin vcpu='0' cpuset='0'/><vcpusched vcpus='0' scheduler='fifo' priority='1'/></cputune>"
                pin_domain "$W/pin-$tp-$n.xml" "win10" $n gaming "$extra"
                golden "pin-$tp-$n" "$VMPREP" --root "$W/topo-$tp" pin --dry-run "$W/pin-$tp-$n.xml"
        done
done
# hot-pluggable vCPUs (current= below the maximum) are pinned too; <vcpu cpuset>
# goes (the pins replace it); a <topology> with dies= is rewritten, dies='1'
pin_domain "$W/pin-hotplug.xml" "hp_vm.2" 4 gaming ""
sed -i "s#<vcpu placement='static'>4</vcpu>#<vcpu placement='static' cpuset='0-7' current='2'>4</vcpu>#; s#<cpu mode='host-passthrough' check='none' migratable='on'/>#<cpu mode='host-passthrough'><topology sockets='2' dies='2' cores='1' threads='1'/><feature policy='require' name='topoext'/></cpu>#" "$W/pin-hotplug.xml"
golden pin-7950x3d-hotplug "$VMPREP" --root "$W/topo-7950x3d" pin --dry-run "$W/pin-hotplug.xml"
# not a gaming VM: the L3 with the fewest free cores it fits in, not the largest
pin_domain "$W/pin-db.xml" "db.1" 4 database
golden pin-7950x3d-4-database "$VMPREP" --root "$W/topo-7950x3d" pin --dry-run "$W/pin-db.xml"
# a running VM pinned onto V-Cache cores 1-4: the next gaming VM goes around it
cp -r "$W/topo-7950x3d" "$W/topo-7950x3d-busy"
mkdir -p "$W/topo-7950x3d-busy/proc/4343"
printf "<domstatus state='running' reason='booted' pid='4343'><domain type='kvm' id='4'><name>rig_1.a</name><uuid>5a1e0000-0000-4000-8000-0000000000aa</uuid><vcpu>8</vcpu><cputune>%s<emulatorpin cpuset='0,16'/></cputune></domain></domstatus>\n" \
        "$(for i in 0 1 2 3; do printf "<vcpupin vcpu='%d' cpuset='%d'/><vcpupin vcpu='%d' cpuset='%d'/>" $((2 * i)) $((i + 1)) $((2 * i + 1)) $((i + 17)); done)" \
        > "$W/topo-7950x3d-busy/run/libvirt/qemu/rig_1.a.xml"
golden pin-7950x3d-8-beside-running "$VMPREP" --root "$W/topo-7950x3d-busy" pin --dry-run "$W/pin-7950x3d-8.xml"
# a tagged and pinned VM that is only defined claims its cores too
pin_domain "$W/topo-7950x3d/etc/libvirt/qemu/stream.xml" "stream" 4 gaming \
        "<cputune><vcpupin vcpu='0' cpuset='1'/><vcpupin vcpu='1' cpuset='17'/><vcpupin vcpu='2' cpuset='2'/><vcpupin vcpu='3' cpuset='18'/></cputune>"
sed -i 's/000000000004</0000000000b4</' "$W/topo-7950x3d/etc/libvirt/qemu/stream.xml"
out=$("$VMPREP" --root "$W/topo-7950x3d" pin --dry-run "$W/pin-7950x3d-4.xml" 2>&1)
grep -q "^win10: 4 vCPUs on 2 whole cores (CPUs 3-4,19-20)" <<<"$out" \
        && t_ok "pin: the cores of a defined, tagged and pinned VM are left to it" || t_fail "pin beside a defined VM" "$out"
rm "$W/topo-7950x3d/etc/libvirt/qemu/stream.xml"
# plan and show of an unpinned gaming VM: the cpus refusal points to vmprep pin, and what pin would write
sed 's#use="gaming"/>#use="gaming"><vmprep:hugepages enabled="no"/></vmprep:profile>#' "$W/pin-7950x3d-8.xml" > "$W/plan-7950x3d-8.xml"
golden plan-7950x3d-unpinned "$VMPREP" --root "$W/topo-7950x3d" plan "$W/plan-7950x3d-8.xml"
golden show-13900k-unpinned "$VMPREP" --root "$W/topo-13900k" show "$W/pin-13900k-4.xml"
out=$("$VMPREP" --root "$W/topo-7950x3d" pin "$W/pin-7950x3d-4.xml" 2>&1); st=$?
[ $st = 2 ] && grep -q "is a file: --dry-run" <<<"$out" && t_ok "pin FILE.xml without --dry-run: usage error" \
        || t_fail "pin FILE without --dry-run" "exit $st" "$out"
out=$("$VMPREP" --root "$W/topo-7950x3d" show --bogus 2>&1); st=$?
[ $st = 2 ] && grep -q "unknown option --bogus" <<<"$out" && t_ok "show --bogus: an unknown option is a usage error (exit 2), not a VM name" \
        || t_fail "show --bogus" "exit $st" "$out"

# status with state: a test-build hook prepares db1 in the workstation tree
if VMPREP_ROOT=$W/workstation "$TEST_HOOK" db1 prepare begin - < "$D/db-node1-2g.xml" 2>"$W/err"; then
        sed -i 's/^[0-9TZ:-]* /TIME /; s/\[[0-9]*\]/[PID]/' "$W/workstation/run/vmprep/events.log"
        golden status-workstation "$VMPREP" --root "$W/workstation" status --map
        json_check "status: db1 holds 1024 pages of node 1" \
                "j['vms'][0]['name']=='db1' and j['holds'][0]['resource']=='hugepages/node1/2048kB' and j['holds'][0]['amount']==1024 and not j['pending']" \
                "$VMPREP" --root "$W/workstation" status --json
        json_check "status --json map: node 1's 2 MiB pool 1536, held by db1 with 1024" \
                "sorted((p['size_kib'], p['pages'], [(h['name'], h['amount']) for h in p['held_by']]) for p in j['map']['nodes'][1]['hugepages']) == [(2048, 1536, [('db1', 1024)]), (1048576, 0, [])]" \
                "$VMPREP" --root "$W/workstation" status --json
        # reconcile in the tree: no libvirt status files there, so db1 is not running
        if "$VMPREP" --root "$W/workstation" reconcile --offline > "$W/rec" 2>&1 \
                && [ "$(cat "$W/workstation/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages")" = 512 ] \
                && [ ! -e "$W/workstation/run/vmprep/3f6c2a10-5b7e-4d2a-9c1e-8a7b6c5d4e01.hugepages.journal" ]; then
                t_ok "reconcile --offline gives back the pages of a VM that does not run (pool 1536 -> 512)"
        else
                t_fail "reconcile --offline in a tree" "$(cat "$W/rec")"
        fi
else
        t_fail "prepare db1 in the workstation tree" "$(cat "$W/err")"
fi

# as libvirt's daemon hook at libvirtd start (the test build reads VMPREP_ROOT)
if VMPREP_ROOT=$W/workstation "$TEST_HOOK" db1 prepare begin - < "$D/db-node1-2g.xml" 2>"$W/err"; then
        ln -sf "$repo/build/test/vmprep" "$W/vmprep-reconcile"
        out=$(VMPREP_ROOT=$W/workstation "$W/vmprep-reconcile" - start - start 2>"$W/err"); st=$?
        if [ $st = 0 ] && [ -z "$out" ] && [ "$(cat "$W/workstation/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages")" = 512 ] \
                && grep -q "vmprep-reconcile: db1: gave back 1024" "$W/workstation/run/vmprep/events.log"; then
                t_ok "as libvirt's daemon start hook: reconciles offline, prints nothing, exits 0, logs to events.log"
        else
                t_fail "daemon start hook" "exit $st, stdout '$out'" "$(cat "$W/err")"
        fi
fi

# modular daemons: each of virtqemud, virtnetworkd, virtstoraged, ... runs the
# daemon hook when it starts; only the QEMU daemon's call reconciles.  The
# hook's parent is the daemon: a bash whose comm the tree records stands in
# for it (the test build reads /proc through VMPREP_ROOT).
daemon_hook_as() { # COMM: run the daemon hook as that daemon's child
        VMPREP_ROOT=$W/workstation bash -c 'mkdir -p "$VMPREP_ROOT/proc/$$"; printf "%s\n" "$1" > "$VMPREP_ROOT/proc/$$/comm"
                "$2" - start - start; st=$?; rm -rf "${VMPREP_ROOT:?}/proc/$$"; exit $st' daemon-hook "$1" "$W/vmprep-reconcile"
}
pool1=$W/workstation/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages
if VMPREP_ROOT=$W/workstation "$TEST_HOOK" db1 prepare begin - < "$D/db-node1-2g.xml" 2>"$W/err"; then
        out=$(daemon_hook_as virtnetworkd 2>"$W/err"); st=$?
        if [ $st = 0 ] && [ -z "$out" ] && [ "$(cat "$pool1")" = 1536 ]; then
                t_ok "daemon hook called by virtnetworkd: stays quiet (pool still 1536, journal kept)"
        else
                t_fail "daemon hook as virtnetworkd" "exit $st, pool $(cat "$pool1"), stdout '$out'" "$(cat "$W/err")"
        fi
        out=$(daemon_hook_as virtqemud 2>"$W/err"); st=$?
        if [ $st = 0 ] && [ -z "$out" ] && [ "$(cat "$pool1")" = 512 ]; then
                t_ok "daemon hook called by virtqemud: reconciles (pool 1536 -> 512)"
        else
                t_fail "daemon hook as virtqemud" "exit $st, pool $(cat "$pool1"), stdout '$out'" "$(cat "$W/err")"
        fi
fi

# other VMs on the cores (libvirt status files of running VMs, tagged or not):
# plan refuses db1 while gamer_2 is pinned on its CPU 9, warns of web.x that
# pins nothing; status maps every running VM's vCPUs per CPU
vm_status() { # TREE NAME PID UUID INNER
        mkdir -p "$1/run/libvirt/qemu" "$1/proc/$3"
        printf "<domstatus state='running' pid='%s'>\n<domain type='kvm' id='%s'><name>%s</name><uuid>%s</uuid>%s</domain></domstatus>\n" \
                "$3" "$3" "$2" "$4" "$5" > "$1/run/libvirt/qemu/$2.xml"
}
mkdir -p "$W/shared"; host_workstation "$W/shared"
vm_status "$W/shared" gamer_2 4001 5d0c5c39-96a4-4c3e-8a43-1f2e3d4c5b01 \
        "<vcpu>2</vcpu><cputune><vcpupin vcpu='0' cpuset='9'/><vcpupin vcpu='1' cpuset='9'/><emulatorpin cpuset='2-3'/></cputune>"
golden plan-workstation-db-shared "$VMPREP" --root "$W/shared" plan "$D/db-node1-2g.xml"
rm "$W/shared/run/libvirt/qemu/gamer_2.xml"
vm_status "$W/shared" web.x 4002 5d0c5c39-96a4-4c3e-8a43-1f2e3d4c5b02 "<vcpu>2</vcpu>"
golden plan-workstation-db-unpinned "$VMPREP" --root "$W/shared" plan "$D/db-node1-2g.xml"
json_check "doctor db1 beside the unpinned web.x: a cpu-sharing warning naming web.x, pointing to mode='partition'" \
        "any(c['check']=='cpu-sharing' and c['status']=='warn' and 'web.x' in c['detail'] and 'partition' in c['fix'] for c in j['checks'])" \
        "$VMPREP" --root "$W/shared" doctor --json "$D/db-node1-2g.xml"
vm_status "$W/shared" gamer_2 4001 5d0c5c39-96a4-4c3e-8a43-1f2e3d4c5b01 \
        "<vcpu>2</vcpu><cputune><vcpupin vcpu='0' cpuset='2'/><vcpupin vcpu='1' cpuset='3'/><emulatorpin cpuset='2-3'/></cputune>"
vm_status "$W/shared" db1 4003 3f6c2a10-5b7e-4d2a-9c1e-8a7b6c5d4e01 "$(sed -n '/<vcpu/,/<\/cputune>/p' "$D/db-node1-2g.xml")"
golden status-workstation-vms "$VMPREP" --root "$W/shared" status --map
json_check "status --json map: untagged gamer_2 pinned on CPUs 2-3 and db1 on 8-11, none isolated (no vmprep claim), web.x unpinned" \
        "[(c['cpu'], [(v['name'], v['tagged'], v['vcpus']) for v in c['pinned']], c['isolated']) for n in j['map']['nodes'] for c in n['cpus'] if c['pinned']] == [(2, [('gamer_2', False, [0])], False), (3, [('gamer_2', False, [1])], False), (8, [('db1', False, [0])], False), (9, [('db1', False, [1])], False), (10, [('db1', False, [2])], False), (11, [('db1', False, [3])], False)] and [u['name'] for u in j['map']['unpinned'] if u['vcpus']] == ['web.x']" \
        "$VMPREP" --root "$W/shared" status --json

# holders on a host where a tagged VM runs (its hooks ran in the tree: the
# GPU and its audio function bound, CPUs 2-3 claimed) beside an untagged VM
# pinned on CPUs 6-7 and one that pins nothing: which VM holds which core,
# isolated or not, and which IOMMU group, in the text map and the JSON
H=$W/holders
mkdir -p "$H/run" "$H/.fake"
"$repo/build/test/pci-fixture" "$H" base gpu-hda sriov-nic
_w "$H/sys/devices/system/node/online" "0-1"; _w "$H/sys/devices/system/node/has_memory" "0-1"
_node "$H" 0 "0-3" "10 21" 8388608; _node "$H" 1 "4-7" "21 10" 8388608
_cpus "$H" 8
_pool "$H" 0 2048 0 0; _pool "$H" 1 2048 0 0
_w "$H/proc/meminfo" "MemTotal:       16777216 kB"
for d in host init machine; do _w "$H/sys/fs/cgroup/$d/cpuset.cpus" ""; _w "$H/sys/fs/cgroup/$d/cpuset.cpus.partition" member; _w "$H/sys/fs/cgroup/$d/cgroup.procs" 77; done
_w "$H/sys/fs/cgroup/cgroup.controllers" "cpuset cpu io memory pids"; _w "$H/sys/fs/cgroup/cgroup.subtree_control" "cpu memory"
_w "$H/sys/fs/cgroup/cgroup.procs" 1
RF=render.farm_gpu-worker-with-a-name-longer-than-sixty-four-characters-01
RF_INNER="<vcpu>2</vcpu><cputune><vcpupin vcpu='0' cpuset='2'/><vcpupin vcpu='1' cpuset='3'/><emulatorpin cpuset='2-3'/></cputune>
<metadata><vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:vfio/><vmprep:isolate irqs='no' workqueues='no'/></vmprep:profile></metadata>
<devices><hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x41' slot='0x00' function='0x0'/></source></hostdev></devices>"
printf "<domain type='kvm'><name>%s</name><uuid>7d8e9f00-1111-4222-8333-944455556667</uuid><memory unit='MiB'>256</memory>%s</domain>\n" \
        "$RF" "$RF_INNER" > "$W/rf.xml"
prepared=1
for h in 10-vmprep-vfio 30-vmprep-cpus; do
        VMPREP_ROOT=$H "$repo/build/test/hooks/$h" "$RF" prepare begin - < "$W/rf.xml" 2>>"$W/err" || prepared=0
done
if [ $prepared = 1 ]; then
        vm_status "$H" "$RF" 4100 7d8e9f00-1111-4222-8333-944455556667 "$RF_INNER"
        vm_status "$H" web_2 4101 5d0c5c39-96a4-4c3e-8a43-1f2e3d4c5b03 "<vcpu>2</vcpu><cputune><vcpupin vcpu='0' cpuset='6'/><vcpupin vcpu='1' cpuset='7'/></cputune>"
        vm_status "$H" build.x 4102 5d0c5c39-96a4-4c3e-8a43-1f2e3d4c5b04 "<vcpu>1</vcpu>"
        golden status-holders "$VMPREP" --root "$H" status --map
        json_check "status --json map: CPUs 2-3 held and isolated for the tagged VM (its vCPUs pinned there); 6-7 pinned by untagged web_2, not isolated, held by none; 0-1 and 4-5 free" \
                "(lambda c: [(x['cpu'], [h['name'] for h in x['held_by']], x['isolated'], [(v['name'], v['tagged'], v['vcpus']) for v in x['pinned']]) for x in c])([x for n in j['map']['nodes'] for x in n['cpus']]) == [(0, [], False, []), (1, [], False, []), (2, ['$RF'], True, [('$RF', True, [0])]), (3, ['$RF'], True, [('$RF', True, [1])]), (4, [], False, []), (5, [], False, []), (6, [], False, [('web_2', False, [0])]), (7, [], False, [('web_2', False, [1])])] and [n['cpus'][0]['siblings'] for n in j['map']['nodes']] == ['0-1', '4-5']" \
                "$VMPREP" --root "$H" status --json
        json_check "status --json map: IOMMU group 20 (GPU + HDA) held by the tagged VM on vfio-pci, group 22 (the PF) by none" \
                "[(g['group'], [(d['address'], d['driver'], [h['uuid'] for h in d['held_by']]) for d in g['devices']]) for g in j['map']['iommu_groups']] == [('20', [('0000:41:00.0', 'vfio-pci', ['7d8e9f00-1111-4222-8333-944455556667']), ('0000:41:00.1', 'vfio-pci', ['7d8e9f00-1111-4222-8333-944455556667'])]), ('22', [('0000:43:00.0', 'ixgbe', [])])]" \
                "$VMPREP" --root "$H" status --json
        json_check "status --json map: build.x (untagged) may run anywhere; --no-map leaves the map out" \
                "[(u['name'], u['tagged'], u['vcpus']) for u in j['map']['unpinned'] if u['vcpus']] == [('build.x', False, [0])]" \
                "$VMPREP" --root "$H" status --json
        json_check "status --json --no-map: no map" "'map' not in j and j['vms']" "$VMPREP" --root "$H" status --json --no-map
        # a hook that has just created a journal and not yet written its
        # header (the commands take no lock): status, reconcile --dry-run and
        # --before-removal read it as absent and leave it to its hook
        NEWJ=$H/run/vmprep/0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0.hugepages.journal
        : > "$NEWJ"
        "$VMPREP" --root "$H" status > "$W/st.out" 2>&1; rc1=$?
        "$VMPREP" --root "$H" reconcile --dry-run --offline > "$W/rc.out" 2>&1
        "$VMPREP" --root "$H" reconcile --offline --before-removal > "$W/br.out" 2>&1
        [ -e "$NEWJ" ] && [ ! -s "$NEWJ" ] && [ $rc1 = 0 ] && ! grep -q "could not be read\|0f1e2d3c" "$W/st.out" \
                && t_ok "a journal whose hook has not written its header yet: status and reconcile --dry-run/--before-removal leave it, no error" \
                || t_fail "a journal being created" "exists: $([ -e "$NEWJ" ] && echo yes || echo no), status exit $rc1" "$(cat "$W/st.out" "$W/rc.out" "$W/br.out")"
        rm -f "$NEWJ"
else
        t_fail "prepare the tagged VM in the holders tree" "$(cat "$W/err")"
fi

# before removal (debian/prerm, make uninstall): a running VM that holds host
# state is named with what stopping it gives back, and nothing changes; once
# it no longer runs, its journal is finished and removal may go on
pool_shared=$W/shared/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages
if VMPREP_ROOT=$W/shared "$TEST_HOOK" db1 prepare begin - < "$D/db-node1-2g.xml" 2>"$W/err"; then
        out=$("$VMPREP" --root "$W/shared" reconcile --offline --before-removal 2>&1); st=$?
        if [ $st = 1 ] && grep -q "^  db1 (3f6c2a10-5b7e-4d2a-9c1e-8a7b6c5d4e01): virsh shutdown db1" <<<"$out" \
                && grep -q "hugepages/node1/2048kB: +1024 added, taken away" <<<"$out" && grep -q "not removing vmprep" <<<"$out" \
                && ! grep -q "gamer_2" <<<"$out" && [ "$(cat "$pool_shared")" = 1536 ] \
                && [ -e "$W/shared/run/vmprep/3f6c2a10-5b7e-4d2a-9c1e-8a7b6c5d4e01.hugepages.journal" ]; then
                t_ok "reconcile --before-removal: running db1 named with the pages stopping it gives back, exit 1, nothing changed"
        else
                t_fail "reconcile --before-removal with db1 running" "exit $st, pool $(cat "$pool_shared")" "$out"
        fi
        rm -f "$W/shared/run/libvirt/qemu/db1.xml"
        out=$("$VMPREP" --root "$W/shared" reconcile --offline --before-removal 2>&1); st=$?
        if [ $st = 1 ] && grep -q "1 VM that does not run left host state behind; .vmprep reconcile. gives it back" <<<"$out" \
                && grep -q "^  db1 (3f6c2a10-5b7e-4d2a-9c1e-8a7b6c5d4e01)$" <<<"$out" && [ "$(cat "$pool_shared")" = 1536 ]; then
                t_ok "reconcile --before-removal: db1 stopped with a journal left: named for reconcile, exit 1, nothing changed"
        else
                t_fail "reconcile --before-removal with db1 stopped" "exit $st, pool $(cat "$pool_shared")" "$out"
        fi
        "$VMPREP" --root "$W/shared" reconcile --offline >/dev/null 2>&1
        out=$("$VMPREP" --root "$W/shared" reconcile --offline --before-removal 2>&1); st=$?
        if [ $st = 0 ] && [ -z "$out" ] && [ "$(cat "$pool_shared")" = 512 ]; then
                t_ok "reconcile --before-removal after reconcile: nothing held, says nothing, exit 0"
        else
                t_fail "reconcile --before-removal with nothing held" "exit $st, pool $(cat "$pool_shared")" "$out"
        fi
else
        t_fail "prepare db1 in the shared tree" "$(cat "$W/err")"
fi

t_check "usage errors exit 2" bash -c "'$VMPREP' nosuchcommand >/dev/null 2>&1; [ \$? = 2 ] && '$VMPREP' plan >/dev/null 2>&1; [ \$? = 2 ]"
t_check "--help for every command" bash -c "for c in plan show tag untag status doctor reconcile; do '$VMPREP' \$c --help | grep -q \"Usage: vmprep \$c\" || exit 1; done"
# errors a person can act on, each naming the path, changing nothing
out=$("$VMPREP" --root /nonexistent-vmprep-root status 2>&1); st=$?
[ $st = 2 ] && grep -q -- "--root /nonexistent-vmprep-root: No such file or directory" <<<"$out" \
        && t_ok "--root that does not exist: usage error naming it (not an empty host)" || t_fail "--root missing" "exit $st" "$out"
out=$("$VMPREP" --root "$D/db-node1-2g.xml" doctor 2>&1); st=$?
[ $st = 2 ] && grep -q "not a directory" <<<"$out" && t_ok "--root that is a file: usage error" || t_fail "--root file" "exit $st" "$out"
out=$(cd "$W" && "$VMPREP" --root workstation status 2>&1); st=$?
[ $st = 2 ] && grep -q "give an absolute path" <<<"$out" && t_ok "--root relative: usage error" || t_fail "--root relative" "exit $st" "$out"
out=$("$VMPREP" --root "$W/workstation" plan "$W" 2>&1); st=$?
[ $st = 1 ] && grep -q "$W is a directory, not a domain XML file" <<<"$out" \
        && t_ok "plan DIR: says it is a directory" || t_fail "plan DIR" "exit $st" "$out"
: > "$W/empty.xml"
out=$("$VMPREP" --root "$W/workstation" show "$W/empty.xml" 2>&1); st=$?
[ $st = 1 ] && grep -q "empty.xml is empty" <<<"$out" && t_ok "show of an empty file: says it is empty" || t_fail "show empty" "exit $st" "$out"
truncate -s 65M "$W/huge.xml"
out=$("$VMPREP" --root "$W/workstation" plan "$W/huge.xml" 2>&1); st=$?
[ $st = 1 ] && grep -q "huge.xml is 68157440 bytes, more than the 67108864 vmprep reads" <<<"$out" \
        && t_ok "plan of a file over the size limit: says how large" || t_fail "plan huge" "exit $st" "$out"
rm -f "$W/huge.xml"
json_check "plan --json of a domain that cannot be prepared prints a JSON error object" \
        "j['domain']=='db1' and 'node 1' in j['error'] and j['exit']==1" \
        "$VMPREP" --root "$W/laptop" plan --json "$D/db-node1-2g.xml"
json_check "plan --json of a missing file prints a JSON error object" \
        "'cannot read' in j['error'] and 'No such file' in j['error']" \
        "$VMPREP" --root "$W/laptop" plan --json "$W/no-such.xml"
# NO_COLOR changes colour only: on a terminal the host map is shown either way
if command -v script >/dev/null; then
        with=$(script -qec "'$VMPREP' --root '$W/workstation' status" /dev/null | sed 's/\x1b\[[0-9;]*m//g; s/\r//')
        without=$(NO_COLOR=1 script -qec "'$VMPREP' --root '$W/workstation' status" /dev/null | sed 's/\r//')
        if grep -q "host map" <<<"$without" && [ "$with" = "$without" ] && ! grep -q $'\x1b\[' <<<"$without"; then
                t_ok "NO_COLOR on a terminal: same text and host map, no colour"
        else
                t_fail "NO_COLOR" "with colour (stripped):" "$with" "NO_COLOR=1:" "$without"
        fi
else
        t_skip "NO_COLOR on a terminal" "no script(1)"
fi
# doctor names the libvirt daemon it finds, and warns when it started before
# any hook existed (libvirt then runs none until SIGHUP): recorded process
# trees, the daemon's start from /proc/PID/stat field 22 and btime
daemon_tree() { # DIR COMM START_EPOCH [RELOADED_EPOCH]
        mkdir -p "$1"; cp -a "$W/workstation/." "$1/"; rm -f "$1/proc/123/comm"
        mkdir -p "$1/proc/4321" "$1/etc/libvirt/hooks/qemu.d" "$1/run/vmprep"
        printf '%s\n' "$2" > "$1/proc/4321/comm"
        printf 'cpu  1 2 3 4\nbtime %s\nprocesses 9\n' "$(( $3 - 100 ))" > "$1/proc/stat"
        printf '4321 (%s) S 1 4321 4321 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 17 0 %s 1 1\n' "$2" "$(( 100 * $(getconf CLK_TCK) ))" > "$1/proc/4321/stat"
        for h in 10-vmprep-vfio 20-vmprep-hugepages 30-vmprep-cpus 40-vmprep-tune; do
                printf '#!/bin/sh\n' > "$1/etc/libvirt/hooks/qemu.d/$h"; chmod 755 "$1/etc/libvirt/hooks/qemu.d/$h"
        done
        [ -n "${4:-}" ] && printf '4321 %s\n' "$4" > "$1/run/vmprep/daemon-reloaded"
        :
}
now=$(date +%s)
daemon_tree "$W/d-old" virtqemud $((now - 3600))
out=$("$VMPREP" --root "$W/d-old" doctor 2>&1)
grep -q "WARN  virtqemud .*virtqemud (pid 4321) started before any hook was in /etc/libvirt/hooks/qemu.d" <<<"$out" \
        && grep -q "fix: kill -HUP 4321" <<<"$out" \
        && t_ok "doctor: virtqemud started before the hooks existed: warned, with the one command that fixes it" \
        || t_fail "doctor: daemon older than the hooks" "$out"
mkdir -p "$W/d-old/run/systemd/system"
out=$("$VMPREP" --root "$W/d-old" doctor 2>&1)
grep -q "fix: systemctl reload virtqemud" <<<"$out" && t_ok "doctor: under systemd the fix is systemctl reload virtqemud" \
        || t_fail "doctor: systemd fix" "$out"
daemon_tree "$W/d-hup" libvirtd $((now - 3600)) $((now + 5))
out=$("$VMPREP" --root "$W/d-hup" doctor 2>&1)
grep -q "PASS  libvirtd .*libvirtd (pid 4321) runs and has seen the hooks" <<<"$out" \
        && t_ok "doctor: a libvirtd reloaded by vmprep-reload-libvirt after the hooks appeared passes" \
        || t_fail "doctor: reloaded daemon" "$out"
daemon_tree "$W/d-new" libvirtd $((now + 60))
out=$("$VMPREP" --root "$W/d-new" doctor 2>&1)
grep -q "PASS  libvirtd .*(pid 4321) runs and has seen the hooks" <<<"$out" && ! grep -q "WARN  libvirtd" <<<"$out" \
        && t_ok "doctor: a libvirtd started after the hooks passes" || t_fail "doctor: new daemon" "$out"

# doctor VM says "this host can do it now" only when it can: a 40 GiB
# hugepage VM on node 1 (4 GiB free) fails with its own fix, once, also in
# the JSON; the same VM at 2 GiB passes
sed "s/<memory unit='GiB'>2</<memory unit='GiB'>40</" "$D/db-node1-2g.xml" > "$W/db-40g.xml"
"$VMPREP" --root "$W/workstation" doctor "$W/db-40g.xml" > "$W/doc.out" 2> "$W/doc.err"; st=$?
if [ $st = 1 ] && grep -q "FAIL  hugepages    node 1 needs 20480 more 2M pages (40960 MiB) but has 4096 MiB free or reclaimable" "$W/doc.out" \
        && grep -q "fix: free memory on node 1, or reserve the pages at boot: hugepagesz=2M hugepages=1:20480" "$W/doc.out" \
        && ! grep -q "hugepages .*this host can do it now" "$W/doc.out" && [ "$(grep -c 'node 1 needs' "$W/doc.out" "$W/doc.err" | awk -F: '{s+=$2} END {print s}')" = 1 ]; then
        t_ok "doctor VM: pages a node cannot give fail with their own fix line, printed once (exit 1)"
else
        t_fail "doctor VM pages" "exit $st" "$(cat "$W/doc.out" "$W/doc.err")"
fi
json_check "doctor VM --json: the pages failure with its fix, counted in the summary" \
        "any(c['check']=='hugepages' and c['status']=='fail' and 'hugepages=1:20480' in c['fix'] for c in j['checks']) and j['summary']['fail']>=1" \
        "$VMPREP" --root "$W/workstation" doctor --json "$W/db-40g.xml"
out=$("$VMPREP" --root "$W/workstation" doctor "$D/db-node1-2g.xml" 2>&1)
grep -q "PASS  hugepages    this host can do it now" <<<"$out" && t_ok "doctor VM: 2 GiB on node 1 passes" || t_fail "doctor VM 2G" "$out"
# a capability's refusal is said once, in doctor's own line, with its own fix
"$VMPREP" --root "$W/laptop" doctor "$D/db-node1-2g.xml" > "$W/doc.out" 2> "$W/doc.err"
if grep -q "FAIL  hugepages    <numatune> places the VM on node 1" "$W/doc.out" && ! grep -q "node 1" "$W/doc.err" \
        && grep -q "fix: free memory on the node, or reserve" "$W/doc.out"; then
        t_ok "doctor VM: a capability's refusal is in doctor's line (not also on stderr), with a fix of its own"
else
        t_fail "doctor VM refusal once" "$(cat "$W/doc.out" "$W/doc.err")"
fi

# a person without root: status and reconcile say they need root (not
# "Permission denied" or "holds nothing"); show of a file needs no privilege
made_rundir=
if [ "$(id -u)" = 0 ] && [ ! -e /run/vmprep ]; then mkdir -m 0700 /run/vmprep && made_rundir=1; fi
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && [ -d /run/vmprep ] && [ "$(stat -c %a /run/vmprep)" = 700 ]; then
        cp "$D/vnf-1g.xml" "$W/vnf-nobody.xml"; chmod 755 "$W"; chmod 644 "$W/vnf-nobody.xml"
        nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
        out=$(nobody "$VMPREP" status 2>&1); st=$?
        [ $st = 1 ] && grep -q "needs root to read /run/vmprep (or run \`vmprep show VM|FILE.xml\` for the profile alone)" <<<"$out" \
                && t_ok "status as a user: needs root, says what works without it (exit 1)" || t_fail "status as a user" "exit $st" "$out"
        out=$(nobody "$VMPREP" show "$W/vnf-nobody.xml" 2>&1); st=$?
        [ $st = 0 ] && grep -q '<vmprep:hugepages compact="no"/>' <<<"$out" && grep -q "run as root" <<<"$out" \
                && t_ok "show FILE.xml as a user: the effective profile, no privilege needed" || t_fail "show as a user" "exit $st" "$out"
        chmod 700 "$W"
else
        t_skip "vmprep as a user" "needs root, setpriv and a root-only /run/vmprep"
fi
[ -n "$made_rundir" ] && rmdir /run/vmprep 2>/dev/null

# every option a command takes is in its --help and in the top-level help
t_check "--help names every option (tag --replace --force, status --map --no-map, reconcile --dry-run)" bash -c \
        "'$VMPREP' tag --help | grep -q -- '--replace.*--force' && '$VMPREP' status --help | grep -q -- '--no-map' \
         && '$VMPREP' reconcile --help | grep -q -- '--dry-run' && '$VMPREP' --help | grep -q -- '--map|--no-map' \
         && '$VMPREP' --help | grep -q -- '--dry-run'"

# ---- for real on this machine ----
if [ "$(id -u)" != 0 ] || [ ! -e /dev/kvm ] || [ "${VMPREP_SKIP_HOST:-0}" = 1 ]; then
        t_skip "real host checks" "needs root and /dev/kvm"
        t_done; exit
fi

out=$("$VMPREP" doctor 2>&1)
groups=$(find /sys/kernel/iommu_groups -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
if [ "$groups" = 0 ]; then
        grep -q "^FAIL  iommu        no IOMMU groups" <<<"$out" && t_ok "doctor here: no IOMMU groups, reported as a failure with its fix" \
                || t_fail "doctor here: IOMMU" "$out"
else
        grep -q "^PASS  iommu        $groups IOMMU groups" <<<"$out" && t_ok "doctor here: $groups IOMMU groups" || t_fail "doctor here: IOMMU" "$out"
fi
nodes=$(cat /sys/devices/system/node/online)
nr=$(cat /sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages)
fr=$(cat /sys/devices/system/node/node0/hugepages/hugepages-2048kB/free_hugepages)
grep -q "node 0: .*2 MiB: $nr ($fr free)" <<<"$out" && grep -q "^PASS  numa.*node 0: cpus $(cat /sys/devices/system/node/node0/cpulist)" <<<"$out" \
        && t_ok "doctor here: node 0's 2 MiB pool ($nr, $fr free) and NUMA nodes $nodes as the kernel reports them" \
        || t_fail "doctor here: hugepages and NUMA" "$out"
if grep -q ' /sys/fs/cgroup cgroup2 ' /proc/mounts; then want="cgroup v2"; elif grep -q 'cgroup .*cpuset' /proc/mounts; then want="cgroup v1 (hybrid) with the v1 cpuset"; else want="no cpuset"; fi
grep -q "cgroups .*$want" <<<"$out" && t_ok "doctor here: cgroup layout ($want)" || t_fail "doctor here: cgroups" "want '$want'" "$out"

# tag / show / untag through a real libvirtd, and reconcile after a crash
# shellcheck source=tests/host/libvirt-env.sh
. "$repo/tests/host/libvirt-env.sh"
if ! lv_lock; then t_fail "libvirtd" "cannot take /run/vmprep-libvirt.lock"; t_done; exit; fi
if ! lv_up >/dev/null 2>&1; then
        t_fail "libvirtd" "lv_up failed"; t_done; exit
fi
VM=vmprep-cli-tag
lv_cleanup_vm "$VM" >/dev/null 2>&1
undef_vm() { lv_cleanup_vm "$VM" >/dev/null 2>&1; }
cleanup_fns+=(undef_vm)
lv_define_vm "$VM" 256 "" "" yes >/dev/null 2>&1
# tag checks what the prepare hooks would: gaming isolates the VM's cores,
# and this VM pins none, so it would not start -- nothing is written
before=$(lv_virsh dumpxml "$VM")
out=$("$VMPREP" tag "$VM" gaming hugepages.compact=no 2>&1); st=$?
if [ $st = 1 ] && grep -q "would not start with this profile" <<<"$out" && grep -q "run 'vmprep pin $VM'" <<<"$out" \
        && [ "$(lv_virsh dumpxml "$VM")" = "$before" ]; then
        t_ok "tag of a profile the VM would not start with (gaming, nothing pinned): says why, writes nothing"
else
        t_fail "tag validates in full" "exit $st" "$out"
fi
if "$VMPREP" tag "$VM" gaming hugepages.compact=no --force > "$W/tag" 2>&1 \
        && grep -q '<vmprep:profile xmlns:vmprep="urn:vmprep:1" use="gaming">' <<<"$(lv_virsh dumpxml "$VM")" \
        && grep -q '<vmprep:hugepages compact="no"/>' <<<"$(lv_virsh dumpxml "$VM")"; then
        t_ok "tag writes <vmprep:profile use=gaming> with the override into the domain through libvirt"
else
        t_fail "tag" "$(cat "$W/tag")" "$(lv_virsh dumpxml "$VM" | grep -A3 metadata)"
fi
out=$("$VMPREP" show "$VM" 2>&1); st=$?
if [ $st = 1 ] && grep -q "vCPU 0 .* has neither a <vcpupin> nor a <vcpu cpuset>" <<<"$out" && grep -q "run 'vmprep pin $VM'" <<<"$out" \
        && grep -q "^# vCPU 0 unpinned: vmprep pin $VM would write" <<<"$out"; then
        t_ok "show of a gaming VM that pins nothing fails, points to vmprep pin and shows what it would write"
else
        t_fail "show of an unpinned gaming VM" "exit $st" "$out"
fi
"$VMPREP" tag "$VM" gaming isolate.enabled=no > "$W/tag" 2>&1 || t_fail "tag isolate.enabled=no" "$(cat "$W/tag")"
out=$("$VMPREP" show "$VM" 2>&1)
if grep -q '<vmprep:hugepages nodes="auto" compact="no"/>' <<<"$out" && grep -q '<vmprep:vfio group="whole" single-gpu="auto"/>' <<<"$out" \
        && grep -q 'isolate cpus="auto" irqs="yes" workqueues="yes" enabled="no"' <<<"$out" && grep -q 'needs 128 x 2 MiB pages on node 0' <<<"$out"; then
        t_ok "show: gaming merged with the overrides, and the 128 pages derived"
else
        t_fail "show" "$out"
fi
before=$(lv_virsh dumpxml "$VM")
out=$("$VMPREP" tag "$VM" gaming hugepages.size=2X 2>&1); st=$?
[ $st = 1 ] && grep -q "<vmprep:hugepages size='2X'>" <<<"$out" && [ "$(lv_virsh dumpxml "$VM")" = "$before" ] \
        && t_ok "tag with a bad value fails naming it and leaves the domain unchanged" || t_fail "tag bad value" "exit $st" "$out"
out=$("$VMPREP" tag "$VM" nosuch 2>&1); st=$?
[ $st = 1 ] && grep -q "there is no profile 'nosuch'" <<<"$out" && t_ok "tag with an unknown profile fails and says where it looked" || t_fail "tag unknown profile" "$out"
out=$("$VMPREP" tag no-such-vm-here gaming 2>&1); st=$?
[ $st = 3 ] && grep -q "no domain 'no-such-vm-here'" <<<"$out" && t_ok "tag of an unknown VM exits 3" || t_fail "tag unknown VM" "exit $st" "$out"
# what tag cannot express on its command line stays: a hand-written
# <vmprep:device> (in a vfio element switched off, so that this host passes)
lv_virsh metadata "$VM" urn:vmprep:1 --key vmprep --config --set \
        '<profile use="gaming"><isolate enabled="no"/><vfio enabled="no"><device address="0000:41:00.0" force="yes"/></vfio><tune thp="never"/></profile>' >/dev/null
out=$("$VMPREP" tag "$VM" gaming hugepages.compact=yes tune.swappiness=10 2>&1); st=$?
x=$(lv_virsh dumpxml "$VM")
if [ $st = 0 ] && grep -q '<vmprep:device address="0000:41:00.0" force="yes"/>' <<<"$x" && grep -q '<vmprep:tune thp="never" swappiness="10"/>' <<<"$x" \
        && grep -q '<vmprep:hugepages compact="yes"/>' <<<"$x" && grep -q '<vmprep:isolate enabled="no"/>' <<<"$x"; then
        t_ok "tag merges into the profile the domain has: a hand-written <vmprep:device> and other attributes stay"
else
        t_fail "tag keeps what it cannot express" "exit $st" "$out" "$(grep -A8 '<metadata' <<<"$x")"
fi
"$VMPREP" tag "$VM" gaming isolate.enabled=no --replace > "$W/tag" 2>&1
x=$(lv_virsh dumpxml "$VM")
grep -q '<vmprep:isolate enabled="no"/>' <<<"$x" && ! grep -q 'vmprep:device' <<<"$x" \
        && t_ok "tag --replace starts from an empty profile" || t_fail "tag --replace" "$(cat "$W/tag")" "$(grep -A8 '<metadata' <<<"$x")"
# names are checked, not only values: markup in ELEMENT or ATTR never reaches libvirt
before=$(lv_virsh dumpxml "$VM")
bad=0
for arg in 'hugepages/><vmprep:tune.governor=performance' 'hugepages.xmlns=urn:x' 'hugepages.xmlns:v=urn:x' \
        'nosuch.size=1G' 'hugepages.nosuch=1' 'sriov.vfs=4' 'hugepages size.x=1'; do
        out=$("$VMPREP" tag "$VM" gaming "$arg" 2>&1); st=$?
        if [ $st != 2 ] || [ "$(lv_virsh dumpxml "$VM")" != "$before" ]; then
                bad=1; t_fail "tag refuses the name in '$arg'" "exit $st" "$out"
        fi
done
[ $bad = 0 ] && t_ok "tag refuses element and attribute names the profile grammar does not have (markup, xmlns, sriov), exit 2, domain unchanged"
out=$("$VMPREP" tag "$VM" gaming 'hugepages.size=2M"/><x a="' 2>&1); st=$?
[ $st = 1 ] && [ "$(lv_virsh dumpxml "$VM")" = "$before" ] && grep -q "2M\"/><x a=\"" <<<"$out" \
        && t_ok "a value with markup stays a value (refused as a size, naming it)" || t_fail "tag value with markup" "exit $st" "$out"
# argument parsing: one VM at a time, unknown options are usage errors
"$VMPREP" untag a b c >/dev/null 2>&1; st1=$?
"$VMPREP" untag --bogus "$VM" >/dev/null 2>&1; st2=$?
"$VMPREP" tag "$VM" gaming --bogus >/dev/null 2>&1; st3=$?
[ $st1 = 2 ] && [ $st2 = 2 ] && [ $st3 = 2 ] && grep -q 'urn:vmprep:1' <<<"$(lv_virsh dumpxml "$VM")" \
        && t_ok "untag a b c, untag --bogus, tag --bogus: usage errors (exit 2), nothing untagged" \
        || t_fail "argument parsing" "untag a b c: $st1, untag --bogus: $st2, tag --bogus: $st3"

"$VMPREP" untag "$VM" >/dev/null 2>&1
if ! grep -q 'urn:vmprep:1' <<<"$(lv_virsh dumpxml "$VM")" && grep -q "has no vmprep profile" <<<"$("$VMPREP" show "$VM")"; then
        t_ok "untag removes the profile"
else
        t_fail "untag" "$(lv_virsh dumpxml "$VM" | grep -A3 metadata)"
fi

# vmprep pin through the real libvirtd: this machine's CPUs only allow a
# 1-vCPU VM, so this checks the mechanics (the choice is in the goldens)
PVM="vmprep_pin.cli-$(printf 'n%.0s' $(seq 1 60))"   # _ . and 76 characters
undef_pvm() { lv_cleanup_vm "$PVM" >/dev/null 2>&1; }
cleanup_fns+=(undef_pvm)
undef_pvm
printf "<iothreads>1</iothreads>\n<cputune><shares>2048</shares></cputune>\n" > "$W/pin-extra.xml"
lv_define_vm "$PVM" 256 "$W/pin-extra.xml" "" no >/dev/null 2>&1 || t_fail "define $PVM" ""
# the lines pin may change taken out: what is left must not change
rest() { sed -e '/<vcpupin /d; /<emulatorpin /d; /<iothreadpin /d; /<topology /d' -e '/^ *<cpu[ >]/,/<\/cpu>/{/^ *<cpu[ >]/d; /<\/cpu>/d}' -e '/^ *<cpu .*\/>$/d'; }
before=$(lv_virsh dumpxml --inactive "$PVM")
out=$("$VMPREP" pin "$PVM" --dry-run 2>&1); st=$?
if [ $st = 0 ] && grep -q '^+   <vcpupin vcpu="0" cpuset=' <<<"$out" && grep -q '^+   <emulatorpin cpuset=' <<<"$out" \
        && grep -q '^+   <iothreadpin iothread="1" cpuset=' <<<"$out" && grep -q '^    <shares>2048</shares>' <<<"$out" \
        && grep -q "dry run: nothing written" <<<"$out" && [ "$(lv_virsh dumpxml --inactive "$PVM")" = "$before" ]; then
        t_ok "pin --dry-run on a defined VM: the diff (vcpupin, emulatorpin, iothreadpin added, <shares> kept), nothing written"
else
        t_fail "pin --dry-run" "exit $st" "$out"
fi
out=$("$VMPREP" pin "$PVM" 2>&1); st=$?
after=$(lv_virsh dumpxml --inactive "$PVM")
cpu1=$(cut -d, -f1 < /sys/devices/system/cpu/cpu0/topology/thread_siblings_list | cut -d- -f1)
if [ $st = 0 ] && grep -q "<vcpupin vcpu='0' cpuset='[0-9]*'/>" <<<"$after" && ! grep -q "<vcpupin vcpu='0' cpuset='$cpu1'/>" <<<"$after" \
        && grep -q "<emulatorpin cpuset='0'/>" <<<"$after" && grep -q "<iothreadpin iothread='1' cpuset='0'/>" <<<"$after" \
        && grep -q "<topology sockets='1' \(dies='1' \)\?cores='1' threads='1'/>" <<<"$after" && grep -q "<shares>2048</shares>" <<<"$after" \
        && [ "$(rest <<<"$after")" = "$(rest <<<"$before")" ]; then
        t_ok "pin writes vcpupin (off CPU 0), emulatorpin and iothreadpin on CPU 0, topology 1/1/1 through libvirt; the rest of the definition is as it was"
else
        t_fail "pin" "exit $st" "$out" "$(diff <(rest <<<"$before") <(rest <<<"$after"))"
fi
# a running VM (started unpinned): refused without --config, written to its next start with it
lv_virsh dumpxml --inactive "$PVM" | sed "/<vcpupin /d; /<emulatorpin /d; /<iothreadpin /d; /<topology /d" > "$W/unpinned.xml"
lv_virsh define "$W/unpinned.xml" >/dev/null 2>&1
if lv_virsh start "$PVM" >/dev/null 2>&1; then
        before=$(lv_virsh dumpxml --inactive "$PVM")
        out=$("$VMPREP" pin "$PVM" 2>&1); st=$?
        [ $st = 1 ] && grep -q "is running: pinning changes its definition; write it for the next start with --config" <<<"$out" \
                && [ "$(lv_virsh dumpxml --inactive "$PVM")" = "$before" ] \
                && t_ok "pin of a running VM without --config: refused, nothing written" || t_fail "pin running" "exit $st" "$out"
        out=$("$VMPREP" pin "$PVM" --config 2>&1); st=$?
        inactive=$(lv_virsh dumpxml --inactive "$PVM"); live=$(lv_virsh dumpxml "$PVM")
        [ $st = 0 ] && grep -q "takes effect at the next start" <<<"$out" && grep -q "<vcpupin vcpu='0'" <<<"$inactive" \
                && ! grep -q "<vcpupin vcpu='0'" <<<"$live" \
                && t_ok "pin --config of a running VM: the persistent definition only" || t_fail "pin --config" "exit $st" "$out"
        lv_virsh destroy "$PVM" >/dev/null 2>&1
else
        t_fail "start $PVM" "$(lv_virsh start "$PVM" 2>&1)"
fi
# tag --pin: profile and pins in one definition; the gaming VM would now start here
lv_virsh dumpxml --inactive "$PVM" | sed "/<vcpupin /d; /<emulatorpin /d; /<iothreadpin /d; /<topology /d" > "$W/unpinned.xml"
lv_virsh define "$W/unpinned.xml" >/dev/null 2>&1
out=$("$VMPREP" tag "$PVM" gaming hugepages.enabled=no --pin 2>&1); st=$?
x=$(lv_virsh dumpxml --inactive "$PVM")
if [ $st = 0 ] && grep -q 'use="gaming"' <<<"$x" && grep -q "<vcpupin vcpu='0'" <<<"$x" && grep -q "<emulatorpin cpuset='0'/>" <<<"$x" \
        && grep -q "^+   <vcpupin" <<<"$out"; then
        t_ok "tag gaming --pin: the profile and the pins written together (the plain tag refused this VM)"
else
        t_fail "tag --pin" "exit $st" "$out"
fi
undef_pvm

# reconcile after SIGKILL mid-prepare, against the real pool: the test build
# with VMPREP_ROOT=/ is the real hook plus crash points
POOL=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
orig=$(cat "$POOL")
restore_pool() { echo "$orig" > "$POOL"; }
cleanup_fns+=(restore_pool)
"$VMPREP" tag "$VM" custom hugepages.enabled=yes >/dev/null 2>&1
lv_virsh dumpxml "$VM" > "$W/vm.xml"
uuid=$(lv_virsh domuuid "$VM" | head -c 36)
fails=() crashed=0
for k in 1 2 3 4 5 6 7 8; do
        VMPREP_ROOT=/ VMPREP_TEST_CRASH_AT=$k bash -c '"$@"; exit $?' _ "$TEST_HOOK" "$VM" prepare begin - < "$W/vm.xml" > /dev/null 2>&1
        st=$?
        [ $st = 0 ] && { "$VMPREP" reconcile --offline >/dev/null 2>&1; break; }
        crashed=$((crashed + 1))
        "$VMPREP" reconcile > "$W/rec" 2>&1 || fails+=("k=$k: reconcile failed: $(cat "$W/rec")")
        [ "$(cat "$POOL")" = "$orig" ] || fails+=("k=$k: pool $(cat "$POOL"), want $orig")
        [ -e "/run/vmprep/$uuid.hugepages.journal" ] && fails+=("k=$k: journal left")
done
if [ ${#fails[@]} = 0 ] && [ $crashed -ge 3 ]; then
        t_ok "SIGKILL at each of $crashed points of a real prepare, then vmprep reconcile: the real pool is back to $orig"
else
        t_fail "reconcile after SIGKILL" "${fails[@]}" "crashed=$crashed"
fi
t_done
