#!/usr/bin/env bash
# The unit tests and a hook round trip under valgrind (a plain test build,
# no sanitizers): any invalid access or leak fails.
#   tests/valgrind.sh build/valgrind
set -uo pipefail
here=$(cd -- "$(dirname -- "$0")" && pwd)
repo=$(cd -- "$here/.." && pwd)
B=${1:-build/valgrind}
case $B in /*) ;; *) B=$repo/$B ;; esac
T_SUITE=valgrind
# shellcheck source=tests/lib.sh
. "$repo/tests/lib.sh"
# shellcheck disable=SC2054  # the commas belong to valgrind's own option values
VG=(valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect)

if ! command -v valgrind >/dev/null; then
        t_skip "valgrind" "valgrind is not installed"
        t_done; exit
fi

log=$(mktemp)
trap 'rm -f "$log"; [ -n "${ROOT:-}" ] && rm -rf "$ROOT"' EXIT
cd "$repo" || exit 1
if "${VG[@]}" "$B/unit-tests" > "$log" 2>&1; then
        t_ok "unit tests under valgrind: no invalid access, no leak ($(grep -c '^ok' "$log") tests)"
else
        t_fail "unit tests under valgrind" "$(grep -E '^==|not ok' "$log" | head -20)"
fi

# The full handler through a prepare/release round trip on a fake tree.
ROOT=$(mktemp -d /tmp/vmprep-vg-XXXXXX)
export VMPREP_ROOT=$ROOT
n=$ROOT/sys/devices/system/node
mkdir -p "$ROOT/run" "$ROOT/proc" "$n/node0/hugepages/hugepages-2048kB" "$ROOT/sys/kernel/mm/hugepages/hugepages-2048kB"
echo 0 > "$n/has_memory"
printf 'MemTotal: 16777216 kB\nHugepagesize: 2048 kB\n' > "$ROOT/proc/meminfo"
echo 0 > "$n/node0/hugepages/hugepages-2048kB/nr_hugepages"
echo 0 > "$ROOT/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
printf 'Node 0 MemTotal: 16777216 kB\nNode 0 MemFree: 1048576 kB\n' > "$n/node0/meminfo"
xml="<domain><name>vg</name><uuid>7d8e9f00-1111-4222-8333-944455556666</uuid><memory unit='MiB'>64</memory><memoryBacking><hugepages/></memoryBacking><metadata><vmprep:profile xmlns:vmprep='urn:vmprep:1' use='gaming'/></metadata></domain>"
ok=1
for phase in "migrate begin" "prepare begin" "start begin" "reconnect begin" "release end"; do
        # shellcheck disable=SC2086
        if ! echo "$xml" | "${VG[@]}" "$B/vmprep-hook" hugepages vg $phase - > "$log" 2>&1; then
                ok=0; t_fail "vmprep-hook $phase under valgrind" "$(head -20 "$log")"
        fi
        [ "$phase" = "prepare begin" ] && [ "$(cat "$n/node0/hugepages/hugepages-2048kB/nr_hugepages")" != 32 ] && ok=0
done
[ "$(cat "$n/node0/hugepages/hugepages-2048kB/nr_hugepages")" = 0 ] || ok=0
[ $ok = 1 ] && t_ok "vmprep-hook migrate/prepare/start/reconnect/release under valgrind: clean, pool 0 -> 32 -> 0"

# The vmprep command on a recorded host tree (tests/cli/hosts.sh), every read-only subcommand.
# shellcheck source=tests/cli/hosts.sh
. "$repo/tests/cli/hosts.sh"
H=$(mktemp -d /tmp/vmprep-vg-host-XXXXXX)
host_workstation "$H"
VMPREP_ROOT=$H "$B/vmprep-hook" hugepages db1 prepare begin - < "$repo/tests/fixtures/domains/db-node1-2g.xml" > /dev/null 2>&1
ok=1
for args in "doctor" "doctor $repo/tests/fixtures/domains/vnf-1g.xml" "plan --json $repo/tests/fixtures/domains/db-node1-2g.xml" \
            "show $repo/tests/fixtures/domains/db-node1-2g.xml" "status --map" "status --json" "reconcile --offline"; do
        # shellcheck disable=SC2086
        "${VG[@]}" "$B/vmprep" --root "$H" $args > "$log" 2>&1
        if [ $? = 99 ]; then ok=0; t_fail "vmprep $args under valgrind" "$(grep '^==' "$log" | head -20)"; fi
done
rm -rf "$H"
[ $ok = 1 ] && t_ok "vmprep doctor, plan, show, status and reconcile on a recorded tree under valgrind: clean"
# cpus and tune through a round trip on a fake cgroup v1 host with IRQs
rm -rf "$ROOT"; ROOT=$(mktemp -d /tmp/vmprep-vg-XXXXXX); export VMPREP_ROOT=$ROOT
c=$ROOT/sys/devices/system/cpu g=$ROOT/sys/fs/cgroup/cpuset
mkdir -p "$ROOT/run" "$ROOT/.fake" "$c/cpu0" "$c/cpu1/cpufreq" "$g" "$ROOT/proc/irq/5" "$ROOT/proc/sys/vm" "$ROOT/sys/kernel/mm/transparent_hugepage"
echo 0-1 > "$c/online"; echo 0-1 > "$c/present"
echo schedutil > "$c/cpu1/cpufreq/scaling_governor"; echo "performance schedutil" > "$c/cpu1/cpufreq/scaling_available_governors"
echo 0-1 > "$g/cpuset.cpus"; echo 0 > "$g/cpuset.mems"; printf '1\n77\n' > "$g/cgroup.procs"
echo 0-1 > "$ROOT/proc/irq/5/smp_affinity_list"; echo 3 > "$ROOT/proc/irq/default_smp_affinity"
echo 60 > "$ROOT/proc/sys/vm/swappiness"; echo "always [madvise] never" > "$ROOT/sys/kernel/mm/transparent_hugepage/enabled"
tree() { find "$ROOT/sys" "$ROOT/proc" -type f | sort | xargs awk 'FNR == 1 { print "== " FILENAME } { print }'; find "$ROOT/sys" -type d | sort; }
tree > "$ROOT/before"
xml="<domain><name>vg</name><uuid>7d8e9f00-1111-4222-8333-944455556667</uuid><vcpu>1</vcpu><cputune><vcpupin vcpu='0' cpuset='1'/></cputune><metadata><vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:isolate/><vmprep:tune governor='performance' thp='never' swappiness='0'/></vmprep:profile></metadata></domain>"
ok=1
for cap in cpus tune; do
        for phase in "prepare begin" "started begin" "reconnect begin" "release end"; do
                # shellcheck disable=SC2086
                if ! echo "$xml" | "${VG[@]}" "$B/vmprep-hook" $cap vg $phase - > "$log" 2>&1; then
                        ok=0; t_fail "vmprep-hook $cap $phase under valgrind" "$(head -20 "$log")"
                fi
                if [ "$phase" = "prepare begin" ] && [ $cap = cpus ] && [ "$(cat "$g/vmprep.host/cpuset.cpus" 2>/dev/null)" != 0 ]; then ok=0; fi
                if [ "$phase" = "prepare begin" ] && [ $cap = tune ] && [ "$(cat "$ROOT/proc/sys/vm/swappiness")" != 0 ]; then ok=0; fi
        done
done
[ "$(tree)" = "$(cat "$ROOT/before")" ] || { ok=0; t_fail "cpus and tune under valgrind: the fake host is back as found" "$(diff "$ROOT/before" <(tree) | head -5)"; }
[ $ok = 1 ] && t_ok "cpus and tune prepare/started/reconnect/release under valgrind: clean, the fake host back as found"
# pci_tree FIXTURE...: a fresh fake PCI tree in $ROOT
pci_tree() {
        rm -rf "$ROOT"; ROOT=$(mktemp -d /tmp/vmprep-vg-XXXXXX); export VMPREP_ROOT=$ROOT
        mkdir -p "$ROOT/run" "$ROOT/.fake"
        "$B/pci-fixture" "$ROOT" base "$@"
}
drv() { t=$(readlink "$ROOT/sys/bus/pci/devices/$1/driver") && echo "${t##*/}"; }
# vfio_phases LABEL CHECK PHASE...: $xml through the vfio handler under
# valgrind, phase by phase; CHECK (a command) must hold after prepare
vfio_phases() {
        local label=$1 check=$2 phase; shift 2
        for phase in "$@"; do
                # shellcheck disable=SC2086
                if ! echo "$xml" | "${VG[@]}" "$B/vmprep-hook" vfio vg $phase - > "$log" 2>&1; then
                        ok=0; t_fail "vmprep-hook vfio$label $phase under valgrind" "$(head -20 "$log")"
                fi
                if [ "$phase" = "prepare begin" ] && ! $check; then ok=0; fi
        done
}
# The vfio handler through a GPU+HDA round trip on a fake PCI tree.
pci_tree gpu-hda sriov-nic
xml="<domain><name>vg</name><uuid>7d8e9f00-1111-4222-8333-944455556667</uuid><metadata><vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:vfio reset-method='bus'><vmprep:device address='0000:43:10.2' reset-method='default'/></vmprep:vfio><vmprep:sriov pf='0000:43:00.0' vfs='2'><vmprep:vf index='1' mac='52:54:00:00:00:01' vlan='7'/></vmprep:sriov></vmprep:profile></metadata><devices><hostdev mode='subsystem' type='pci'><source><address domain='0x0000' bus='0x41' slot='0x00' function='0x0'/></source></hostdev><interface type='hostdev'><source><address type='pci' domain='0x0000' bus='0x43' slot='0x10' function='0x2'/></source></interface></devices></domain>"
ok=1
echo "$xml" > "$ROOT/x.xml"
"${VG[@]}" "$B/vmprep" --root "$ROOT" plan --json "$ROOT/x.xml" > "$log" 2>&1
if [ $? = 99 ]; then ok=0; t_fail "vmprep plan (vfio, SR-IOV, reset-method) under valgrind" "$(grep '^==' "$log" | head -20)"; fi
gpu_vf_bound() {
        [ "$(drv 0000:41:00.1)" = vfio-pci ] && [ "$(drv 0000:43:10.2)" = vfio-pci ] \
                && [ "$(cat "$ROOT/sys/bus/pci/devices/0000:41:00.0/reset_method")" = bus ]
}
vfio_phases "" gpu_vf_bound "prepare begin" "reconnect begin" "release end"
[ "$(drv 0000:41:00.0)" = nvidia ] && [ "$(drv 0000:41:00.1)" = snd_hda_intel ] || ok=0
[ "$(cat "$ROOT/sys/bus/pci/devices/0000:41:00.0/reset_method")" = "flr bus" ] || ok=0
[ "$(cat "$ROOT/sys/bus/pci/devices/0000:43:00.0/sriov_numvfs")" = 0 ] || ok=0
[ $ok = 1 ] && t_ok "vmprep plan and vmprep-hook vfio prepare/reconnect/release under valgrind: clean, GPU+HDA and a VF (2 VFs made, one set) to vfio-pci and back, the GPU's reset_method bus and back"

# single GPU: the display manager double, consoles and framebuffer
pci_tree boot-vga
xml="<domain><name>vg</name><uuid>7d8e9f00-1111-4222-8333-944455556668</uuid><metadata><vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:vfio single-gpu='auto'/></vmprep:profile></metadata><devices><hostdev mode='subsystem' type='pci'><source><address domain='0x0000' bus='0x45' slot='0x00' function='0x0'/></source></hostdev></devices></domain>"
ok=1
boot_gpu_bound() { [ "$(drv 0000:45:00.0)" = vfio-pci ]; }
vfio_phases " single-GPU" boot_gpu_bound "prepare begin" "release end"
[ "$(drv 0000:45:00.0)" = amdgpu ] && grep -q "gdm.service active" "$ROOT/.fake/systemd/units/gdm.service" || ok=0
[ $ok = 1 ] && t_ok "vmprep-hook vfio single-GPU prepare/release under valgrind: clean, display manager stopped and started"

# nvidia-persistenced holding the GPU's /dev/nvidia0: stopped over the D-Bus double, started again
pci_tree gpu-persistenced
xml="<domain><name>vg</name><uuid>7d8e9f00-1111-4222-8333-944455556669</uuid><metadata><vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:vfio/></vmprep:profile></metadata><devices><hostdev mode='subsystem' type='pci'><source><address domain='0x0000' bus='0x41' slot='0x00' function='0x0'/></source></hostdev></devices></domain>"
ok=1
gpu_bound_pd_stopped() { [ "$(drv 0000:41:00.0)" = vfio-pci ] && [ ! -e "$ROOT/proc/1234" ]; }
vfio_phases " with nvidia-persistenced" gpu_bound_pd_stopped "prepare begin" "release end"
[ "$(drv 0000:41:00.0)" = nvidia ] && grep -q "nvidia-persistenced.service active" "$ROOT/.fake/systemd/units/nvidia-persistenced.service" || ok=0
[ $ok = 1 ] && t_ok "vmprep-hook vfio prepare/release with nvidia-persistenced holding /dev/nvidia0 under valgrind: clean, the service stopped and started"
t_done
