#!/usr/bin/env bash
# shellcheck disable=SC2015  # t_ok never fails, so "cond && t_ok || t_fail" is an if/else
# libvirt's migrate phase on the DESTINATION: every hook is run as
# `HOOK NAME migrate begin -` with the incoming domain XML on stdin, before
# anything is transferred.  A non-zero exit aborts the migration and libvirt
# shows the hook's stderr; stdout would be taken as a replacement XML.  The
# hooks check what their prepare will need and change nothing.  On the
# recorded workstation tree (tests/cli/hosts.sh: two nodes, GPU+HDA in one
# IOMMU group, an I210 NIC carrying the default route), beside an untagged VM
# that pins nothing and a tagged VM holding pages on node 1.  Test build:
#   tests/hooks/migrate.sh build/test
set -uo pipefail
here=$(cd -- "$(dirname -- "$0")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
B=${1:-build/test}
case $B in /*) ;; *) B=$repo/$B ;; esac
T_SUITE=migrate
# shellcheck source=tests/lib.sh
. "$repo/tests/lib.sh"
# shellcheck source=tests/hooks/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/cli/hosts.sh
. "$repo/tests/cli/hosts.sh"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export VMPREP_PROFILEDIR=$repo/profiles
HOOKS=(10-vmprep-vfio 20-vmprep-hugepages 30-vmprep-cpus 40-vmprep-tune)
for h in "${HOOKS[@]}"; do [ -x "$B/hooks/$h" ] || { echo "missing $B/hooks/$h (make $B/hooks/$h)"; exit 1; }; done

W=$(mktemp -d /tmp/vmprep-migrate-XXXXXX)
TMP_FILES+=("$W")
UUID=3f6c2a10-5b7e-4d2a-9c1e-8a7b6c5d4e01          # the incoming VM
OTHER=7c1d9e22-4a5b-4c3d-8e9f-0a1b2c3d4e5f         # a tagged VM running here

# A ledger line as vmprep writes it: fields and an FNV-1a checksum.
ledger_line() {
        python3 -c 'import sys
h = 2166136261
for b in sys.argv[1].encode(): h = ((h ^ b) * 16777619) & 0xffffffff
print("%s ~0x%08x" % (sys.argv[1], h))' "$1"
}
# ledger HOLD...: /run/vmprep/ledger with "UUID RESOURCE AMOUNT" holds
ledger() {
        mkdir -p "$ROOT/run"; [ -d "$ROOT/run/vmprep" ] || mkdir -m 0700 "$ROOT/run/vmprep"
        { ledger_line "vmprep-ledger 1"; local h; for h in "$@"; do ledger_line "hold $h"; done; } > "$ROOT/run/vmprep/ledger"
        chmod 0600 "$ROOT/run/vmprep/ledger"
}
# running NAME PID UUID INNER: libvirt's status file of a running VM
running() {
        mkdir -p "$ROOT/run/libvirt/qemu" "$ROOT/proc/$2"
        printf "<domstatus state='running' pid='%s'>\n<domain type='kvm' id='%s'><name>%s</name><uuid>%s</uuid>%s</domain></domstatus>\n" \
                "$2" "$2" "$1" "$3" "$4" > "$ROOT/run/libvirt/qemu/$1.xml"
}

# The destination: the workstation, its NIC eno1 carrying the default route,
# web.x (untagged, nothing pinned) running, and big_db (tagged) holding 256
# pages it added to node 1's pool.
new_host() {
        cleanup
        ROOT=$(mktemp -d /tmp/vmprep-migrate-host-XXXXXX)
        export VMPREP_ROOT=$ROOT
        host_workstation "$ROOT"
        mkdir -p "$ROOT/sys/bus/pci/devices/0000:42:00.0/net/eno1" "$ROOT/sys/class/net" "$ROOT/proc/net"
        ln -s ../../bus/pci/devices/0000:42:00.0/net/eno1 "$ROOT/sys/class/net/eno1"
        printf 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\neno1\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n' \
                > "$ROOT/proc/net/route"
        running web.x 4002 5d0c5c39-96a4-4c3e-8a43-1f2e3d4c5b02 "<vcpu>2</vcpu>"
        ledger "$OTHER hugepages/node1/2048kB 256"
}

# The incoming VM as the source's libvirt sends it (migratable XML): 2 GiB
# of 2 MiB pages on node 1, vCPUs pinned on 8-11, the GPU (group 20, with its
# HDA function) passed through; PROFILE-EXTRA and DEVICE change it.
incoming() { # [PROFILE-EXTRA] [BUS]
        cat <<EOF
<domain type='kvm'>
  <name>db1</name>
  <uuid>$UUID</uuid>
  <memory unit='KiB'>2097152</memory>
  <currentMemory unit='KiB'>2097152</currentMemory>
  <vcpu placement='static'>4</vcpu>
  <memoryBacking><hugepages/></memoryBacking>
  <numatune><memory mode='strict' nodeset='1'/></numatune>
  <cputune>
    <vcpupin vcpu='0' cpuset='8'/><vcpupin vcpu='1' cpuset='9'/>
    <vcpupin vcpu='2' cpuset='10'/><vcpupin vcpu='3' cpuset='11'/>
  </cputune>
  <metadata>
    <vmprep:profile xmlns:vmprep="urn:vmprep:1" use="database">
      <vmprep:isolate irqs="no"/>
      <vmprep:vfio group="whole"/>${1:-}
    </vmprep:profile>
  </metadata>
  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <source><address domain='0x0000' bus='0x${2:-41}' slot='0x00' function='0x0'/></source>
    </hostdev>
    <serial type='pty'/>
  </devices>
</domain>
EOF
}

# Every path, its type, mode and link target, and every file's content.
SNAPSHOT=("modes:." "bytes:.")

# migrate XML: every hook as libvirt runs it; $W/st.HOOK, $W/out.HOOK, $W/err.HOOK
migrate() {
        local h
        for h in "${HOOKS[@]}"; do
                "$B/hooks/$h" db1 migrate begin - < "$1" > "$W/out.$h" 2> "$W/err.$h"
                echo $? > "$W/st.$h"
        done
}

# refused NAME HOOK PATTERN XML: HOOK exits 1 with PATTERN and the refusal on
# stderr, the other hooks exit 0, nothing on stdout, the tree byte-identical
refused() {
        local name=$1 bad=$2 pattern=$3 xml=$4 h fails=()
        local before; before=$(snapshot)
        migrate "$xml"
        for h in "${HOOKS[@]}"; do
                [ -s "$W/out.$h" ] && fails+=("$h printed on stdout: $(head -c 200 "$W/out.$h")")
                if [[ " $bad " == *" $h "* ]] || [ "$bad" = all ]; then
                        [ "$(cat "$W/st.$h")" = 1 ] || fails+=("$h: exit $(cat "$W/st.$h"), want 1")
                        grep -q -- "$pattern" "$W/err.$h" || fails+=("$h: stderr lacks '$pattern': $(cat "$W/err.$h")")
                        grep -q "refusing the incoming migration" "$W/err.$h" || fails+=("$h: no refusal: $(cat "$W/err.$h")")
                else
                        [ "$(cat "$W/st.$h")" = 0 ] || fails+=("$h: exit $(cat "$W/st.$h"), want 0: $(cat "$W/err.$h")")
                fi
        done
        [ "$(snapshot)" = "$before" ] || fails+=("the tree changed: $(diff <(echo "$before") <(snapshot) | head -6)")
        [ -s "$ROOT/.fake/writes.log" ] && fails+=("kernel writes: $(head -3 "$ROOT/.fake/writes.log")")
        ls "$ROOT"/run/vmprep/*.journal >/dev/null 2>&1 && fails+=("a journal was written")
        if [ ${#fails[@]} = 0 ]; then t_ok "$name"; else t_fail "$name" "${fails[@]}"; fi
}

# ---- a destination that can take the VM ----
new_host
incoming > "$W/db1.xml"
before=$(snapshot)
migrate "$W/db1.xml"
fails=()
for h in "${HOOKS[@]}"; do
        [ "$(cat "$W/st.$h")" = 0 ] || fails+=("$h: exit $(cat "$W/st.$h"): $(cat "$W/err.$h")")
        [ -s "$W/out.$h" ] && fails+=("$h printed on stdout")
        # a warning (an unpinned VM beside an isolated one) may go to stderr; a refusal may not
        grep -qi "refus" "$W/err.$h" && fails+=("$h said: $(cat "$W/err.$h")")
done
[ "$(snapshot)" = "$before" ] || fails+=("the tree changed: $(diff <(echo "$before") <(snapshot) | head -6)")
[ -e "$ROOT/run/vmprep/events.log" ] && fails+=("events.log written")
[ ${#fails[@]} = 0 ] && t_ok "a destination that can take db1 (pages, cores 8-11, the GPU): every hook exits 0, refuses nothing, changes nothing" \
        || t_fail "destination that can take the VM" "${fails[@]}"

# the same XML prepared afterwards: the check said yes and prepare agrees
if VMPREP_ROOT=$ROOT "$B/hooks/20-vmprep-hugepages" db1 prepare begin - < "$W/db1.xml" 2>"$W/err" \
        && [ "$(cat "$ROOT/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages")" = 1536 ]; then
        t_ok "after the check, prepare at the destination reserves the 1024 pages (512 -> 1536)"
else
        t_fail "prepare after the migrate check" "$(cat "$W/err")"
fi

# pages free in the pool count, though the node has no free memory
new_host
printf 'Node 1 MemTotal: 33554432 kB\nNode 1 MemFree: 102400 kB\n' > "$ROOT/sys/devices/system/node/node1/meminfo"
echo 1024 > "$ROOT/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages"
echo 1024 > "$ROOT/sys/devices/system/node/node1/hugepages/hugepages-2048kB/free_hugepages"
migrate "$W/db1.xml"
[ "$(cat "$W/st.20-vmprep-hugepages")" = 0 ] && [ ! -s "$W/err.20-vmprep-hugepages" ] \
        && t_ok "pages: 1024 free in node 1's pool take the VM although the node has 100 MiB free" \
        || t_fail "pages from the pool" "$(cat "$W/err.20-vmprep-hugepages")"

# ---- each reason to refuse ----
new_host
printf 'Node 1 MemTotal: 33554432 kB\nNode 1 MemFree: 409600 kB\nNode 1 FilePages: 204800 kB\n' \
        > "$ROOT/sys/devices/system/node/node1/meminfo"
refused "pages: node 1 has 512 free and 600 MiB of memory for 1024 pages: refused with both figures" \
        20-vmprep-hugepages "needs 1024 x 2 MiB pages on node 1, and node 1 has room for 812: 512 free in the pool and 600 MiB of free or reclaimable memory" \
        "$W/db1.xml"

new_host
incoming "" > "$W/x.xml"; sed -i "s/nodeset='1'/nodeset='2'/" "$W/x.xml"
refused "pages: <numatune> names node 2, which the destination lacks (hugepages and the cpus NUMA check refuse)" \
        "20-vmprep-hugepages 30-vmprep-cpus" "node 2" "$W/x.xml"

new_host
echo 0-7,12-15 > "$ROOT/sys/devices/system/cpu/online"
refused "cores: CPUs 8-11 offline on the destination: refused naming the pin and the CPU" 30-vmprep-cpus \
        "<vcpupin vcpu='0' cpuset='8'>: CPU 8 is offline (online: 0-7,12-15)" "$W/db1.xml"

new_host
running gamer_2 4001 5d0c5c39-96a4-4c3e-8a43-1f2e3d4c5b01 \
        "<vcpu>2</vcpu><cputune><vcpupin vcpu='0' cpuset='9'/><vcpupin vcpu='1' cpuset='9'/></cputune>"
refused "cores: an untagged running VM (gamer_2) pinned on CPU 9: refused naming it" 30-vmprep-cpus "gamer_2" "$W/db1.xml"

new_host
ledger "$OTHER hugepages/node1/2048kB 256" "$OTHER cpus/10 1" "$OTHER cpus/11 1"
refused "cores: a tagged VM here claims CPUs 10-11 (ledger): refused naming them" 30-vmprep-cpus "CPU 10-11: already isolated for the running VM" "$W/db1.xml"

new_host
rm -rf "$ROOT/sys/bus/pci/devices/0000:41:00.0" "$ROOT/sys/kernel/iommu_groups/20/devices/0000:41:00.0"
refused "devices: the GPU 0000:41:00.0 is not on the destination: refused naming it" 10-vmprep-vfio \
        "names 0000:41:00.0, which this host does not have" "$W/db1.xml"

new_host
ledger "$OTHER hugepages/node1/2048kB 256" "$OTHER pci/0000:41:00.1 1"
refused "devices: another VM here holds the GPU's audio function (same IOMMU group): refused naming it" 10-vmprep-vfio \
        "cannot pass 0000:41:00.1 .* the running VM $OTHER holds it" "$W/db1.xml"

new_host
incoming "" 42 > "$W/nic.xml"
refused "devices: the NIC carrying the host's default route: refused by the host-use interlock" 10-vmprep-vfio \
        "eno1 and it carries the default route" "$W/nic.xml"

new_host
incoming "
      <vmprep:hugepages size='2X'/>" > "$W/bad.xml"
refused "profile: an invalid value (hugepages size='2X') is refused by every hook, naming element, attribute and value" all \
        "<vmprep:hugepages size='2X'>: not a page size" "$W/bad.xml"

new_host
incoming "
      <vmprep:hugepages size='1G'/>" > "$W/disagree.xml"
refused "profile: a page size the domain does not use (profile 1G, domain 2 MiB): refused by the hugepages hook" 20-vmprep-hugepages \
        "<vmprep:hugepages size='1G'>: the domain backs the VM with 2 MiB pages" "$W/disagree.xml"

new_host
printf 'vmprep-ledger 1 ~0xd0516da4\nhold %s cpus/9 1 ~0x00000000\n' "$OTHER" > "$ROOT/run/vmprep/ledger"
refused "a damaged ledger (what VMs here hold is unknown): refused by every hook, naming the file and vmprep reconcile" all \
        "/run/vmprep/ledger is damaged (line 2), so what the running VMs hold is unknown: refusing the incoming migration.*vmprep reconcile" "$W/db1.xml"

# ---- nothing to check ----
new_host
sed '/<metadata>/,/<\/metadata>/d' "$W/db1.xml" > "$W/plain.xml"
printf 'Node 1 MemTotal: 33554432 kB\nNode 1 MemFree: 1024 kB\n' > "$ROOT/sys/devices/system/node/node1/meminfo"
before=$(snapshot)
migrate "$W/plain.xml"
ok=1
for h in "${HOOKS[@]}"; do
        { [ "$(cat "$W/st.$h")" = 0 ] && [ ! -s "$W/out.$h" ] && [ ! -s "$W/err.$h" ]; } || ok=0
done
[ $ok = 1 ] && [ "$(snapshot)" = "$before" ] \
        && t_ok "an untagged VM: every hook exits 0 and says nothing (libvirt's own checks only)" \
        || t_fail "untagged incoming VM" "$(cat "$W"/err.*)"
t_done
