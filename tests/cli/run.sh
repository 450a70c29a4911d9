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
golden show-db "$VMPREP" --root "$W/workstation" show "$D/db-node1-2g.xml"
# a fake PCI host (tests/fake/pci_fixture.c): GPU+HDA in one group, an SR-IOV NIC
mkdir -p "$W/pci/run" "$W/pci/.fake"
"$repo/build/test/pci-fixture" "$W/pci" base gpu-hda sriov-nic
golden plan-gpu-hda-sriov "$VMPREP" --root "$W/pci" plan "$D/gpu-hda-sriov.xml"
json_check "plan vfio: the GPU and its audio function to vfio-pci, 2 VFs on the PF" \
        "[(s['old'], s['new']) for s in j['steps']] == [('0','2'), ('nvidia','vfio-pci'), ('snd_hda_intel','vfio-pci')]" \
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
json_check "plan workstation: db1 claims CPUs 8-11, host tasks keep 0-7,12-15" \
        "any(s['capability']=='cpus' and s['new']=='8-11' for s in j['steps']) and any(s['resource']=='cpus/host' and s['old']=='0-15' and s['new']=='0-7,12-15' for s in j['steps'])" \
        "$VMPREP" --root "$W/workstation" plan --json "$D/db-node1-2g.xml"
json_check "plan nfv: 1 GiB pages interleaved, 4 per node" \
        "[s['delta'] for s in j['steps']]==[4,4] and all('hugepages-1048576kB' in s['path'] for s in j['steps'])" \
        "$VMPREP" --root "$W/nfv" plan --json "$D/vnf-1g.xml"

# status with state: a test-build hook prepares db1 in the workstation tree
if VMPREP_ROOT=$W/workstation "$TEST_HOOK" db1 prepare begin - < "$D/db-node1-2g.xml" 2>"$W/err"; then
        sed -i 's/^[0-9TZ:-]* /TIME /; s/\[[0-9]*\]/[PID]/' "$W/workstation/run/vmprep/events.log"
        golden status-workstation "$VMPREP" --root "$W/workstation" status --map
        json_check "status: db1 holds 1024 pages of node 1" \
                "j['vms'][0]['name']=='db1' and j['holds'][0]['resource']=='hugepages/node1/2048kB' and j['holds'][0]['amount']==1024 and not j['pending']" \
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

t_check "usage errors exit 2" bash -c "'$VMPREP' nosuchcommand >/dev/null 2>&1; [ \$? = 2 ] && '$VMPREP' plan >/dev/null 2>&1; [ \$? = 2 ]"
t_check "--help for every command" bash -c "for c in plan show tag untag status doctor reconcile; do '$VMPREP' \$c --help | grep -q \"Usage: vmprep \$c\" || exit 1; done"

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
if "$VMPREP" tag "$VM" gaming hugepages.compact=no > "$W/tag" 2>&1 \
        && grep -q '<vmprep:profile xmlns:vmprep="urn:vmprep:1" use="gaming">' <<<"$(lv_virsh dumpxml "$VM")" \
        && grep -q '<vmprep:hugepages compact="no"/>' <<<"$(lv_virsh dumpxml "$VM")"; then
        t_ok "tag writes <vmprep:profile use=gaming> with the override into the domain through libvirt"
else
        t_fail "tag" "$(cat "$W/tag")" "$(lv_virsh dumpxml "$VM" | grep -A3 metadata)"
fi
out=$("$VMPREP" show "$VM" 2>&1); st=$?
if [ $st = 1 ] && grep -q "vCPU 0 .* has neither a <vcpupin> nor a <vcpu cpuset>" <<<"$out" && grep -q "<vcpupin vcpu='0' cpuset=" <<<"$out"; then
        t_ok "show of a gaming VM that pins nothing fails and suggests the <cputune> to add"
else
        t_fail "show of an unpinned gaming VM" "exit $st" "$out"
fi
"$VMPREP" tag "$VM" gaming hugepages.compact=no isolate.enabled=no > /dev/null 2>&1
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
"$VMPREP" untag "$VM" >/dev/null 2>&1
if ! grep -q 'urn:vmprep:1' <<<"$(lv_virsh dumpxml "$VM")" && grep -q "has no vmprep profile" <<<"$("$VMPREP" show "$VM")"; then
        t_ok "untag removes the profile"
else
        t_fail "untag" "$(lv_virsh dumpxml "$VM" | grep -A3 metadata)"
fi

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
