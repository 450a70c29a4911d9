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
vm_status "$W/shared" gamer_2 4001 5d0c5c39-96a4-4c3e-8a43-1f2e3d4c5b01 \
        "<vcpu>2</vcpu><cputune><vcpupin vcpu='0' cpuset='2'/><vcpupin vcpu='1' cpuset='3'/><emulatorpin cpuset='2-3'/></cputune>"
vm_status "$W/shared" db1 4003 3f6c2a10-5b7e-4d2a-9c1e-8a7b6c5d4e01 "$(sed -n '/<vcpu/,/<\/cputune>/p' "$D/db-node1-2g.xml")"
golden status-workstation-vms "$VMPREP" --root "$W/shared" status --map

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
if [ $st = 1 ] && grep -q "would not start with this profile" <<<"$out" && grep -q "<vcpupin vcpu='0' cpuset=" <<<"$out" \
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
if [ $st = 1 ] && grep -q "vCPU 0 .* has neither a <vcpupin> nor a <vcpu cpuset>" <<<"$out" && grep -q "<vcpupin vcpu='0' cpuset=" <<<"$out"; then
        t_ok "show of a gaming VM that pins nothing fails and suggests the <cputune> to add"
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
