# shellcheck shell=bash
# Recorded CPU topologies for `vmprep pin`: the /sys files it reads, as the
# kernel lays them out on these machines (CPU numbering, SMT sibling lists,
# cache/index3 shared_cpu_list and size in the kernel's "32768K" form).
#   topo_7950x3d DIR    Ryzen 9 7950X3D: 16 cores / 32 threads (CPU n and n+16
#                       are siblings), CCD0 = CPUs 0-7,16-23 with 96 MiB of L3
#                       (3D V-Cache), CCD1 = 8-15,24-31 with 32 MiB; one node
#   topo_13900k DIR     Core i9-13900K: 8 P-cores with HT (CPUs 0-15, siblings
#                       2k,2k+1), 16 E-cores (16-31); one 36 MiB L3;
#                       /sys/devices/cpu_core and cpu_atom
#   topo_3970x DIR      Threadripper 3970X: 32 cores / 64 threads (n, n+32), 4 CCDs
#                       of two CCXs, each CCX 4 cores with its own 16 MiB L3; NPS1
#   topo_xeon2s DIR     two Xeon Gold 6248 (20 cores, HT): node 0 = CPUs 0-19,40-59,
#                       node 1 = 20-39,60-79, 27.5 MiB L3 per socket, a GPU on node 0
#   topo_laptop4 DIR    4 cores / 8 threads (n, n+4), one 8 MiB L3, one node
# Every tree also has a running VM that is not pinned ("office", which claims
# nothing) so that the status-file reader is exercised.

_tw() { mkdir -p "$(dirname "$1")"; printf '%s\n' "$2" > "$1"; }

# _tcpu ROOT CPU SIBLINGS L3CPUS L3SIZE
_tcpu() {
        local c=$1/sys/devices/system/cpu/cpu$2
        _tw "$c/topology/thread_siblings_list" "$3"
        _tw "$c/cache/index3/shared_cpu_list" "$4"
        _tw "$c/cache/index3/size" "$5"
        _tw "$c/cache/index3/level" 3
}

# _tbase ROOT NCPUS NODES...: online/present, nodeM/cpulist from "M:LIST"
_tbase() {
        local r=$1 n=$2 spec; shift 2
        _tw "$r/sys/devices/system/cpu/online" "0-$((n - 1))"
        _tw "$r/sys/devices/system/cpu/present" "0-$((n - 1))"
        local ids=()
        for spec in "$@"; do
                _tw "$r/sys/devices/system/node/node${spec%%:*}/cpulist" "${spec#*:}"
                ids+=("${spec%%:*}")
        done
        if [ ${#ids[@]} = 1 ]; then
                _tw "$r/sys/devices/system/node/online" 0
                _tw "$r/sys/devices/system/node/node0/distance" 10
        else
                _tw "$r/sys/devices/system/node/online" "0-$((${#ids[@]} - 1))"
                _tw "$r/sys/devices/system/node/node0/distance" "10 21"
                _tw "$r/sys/devices/system/node/node1/distance" "21 10"
        fi
        mkdir -p "$r/run/libvirt/qemu" "$r/proc/4242" "$r/etc/libvirt/qemu"
        _tw "$r/proc/meminfo" "MemTotal:       65536000 kB
MemFree:        60000000 kB
Hugepagesize:       2048 kB"
        _tw "$r/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages" 0
        for spec in "$@"; do
                local d=$r/sys/devices/system/node/node${spec%%:*}/hugepages/hugepages-2048kB
                _tw "$d/nr_hugepages" 0; _tw "$d/free_hugepages" 0; _tw "$d/surplus_hugepages" 0
                _tw "$r/sys/devices/system/node/node${spec%%:*}/meminfo" "Node ${spec%%:*} MemTotal:       32768000 kB
Node ${spec%%:*} MemFree:        30000000 kB"
        done
        # a running VM without pins: it claims no core
        printf "<domstatus state='running' reason='booted' pid='4242'><domain type='kvm' id='3'><name>office</name><uuid>5a1e0000-0000-4000-8000-00000000000f</uuid><vcpu>2</vcpu></domain></domstatus>\n" \
                > "$r/run/libvirt/qemu/office.xml"
}

topo_7950x3d() {
        local r=$1 c
        _tbase "$r" 32 "0:0-31"
        for ((c = 0; c < 16; c++)); do
                if [ $c -lt 8 ]; then
                        _tcpu "$r" $c "$c,$((c + 16))" "0-7,16-23" 98304K
                        _tcpu "$r" $((c + 16)) "$c,$((c + 16))" "0-7,16-23" 98304K
                else
                        _tcpu "$r" $c "$c,$((c + 16))" "8-15,24-31" 32768K
                        _tcpu "$r" $((c + 16)) "$c,$((c + 16))" "8-15,24-31" 32768K
                fi
        done
}

topo_13900k() {
        local r=$1 c
        _tbase "$r" 32 "0:0-31"
        for ((c = 0; c < 16; c++)); do
                _tcpu "$r" $c "$((c / 2 * 2))-$((c / 2 * 2 + 1))" "0-31" 36864K
        done
        for ((c = 16; c < 32; c++)); do
                _tcpu "$r" $c "$c" "0-31" 36864K
        done
        _tw "$r/sys/devices/cpu_core/cpus" "0-15"
        _tw "$r/sys/devices/cpu_atom/cpus" "16-31"
}

topo_3970x() {
        local r=$1 c x
        _tbase "$r" 64 "0:0-63"
        for ((c = 0; c < 32; c++)); do
                x=$((c / 4 * 4))
                _tcpu "$r" $c "$c,$((c + 32))" "$x-$((x + 3)),$((x + 32))-$((x + 35))" 16384K
                _tcpu "$r" $((c + 32)) "$c,$((c + 32))" "$x-$((x + 3)),$((x + 32))-$((x + 35))" 16384K
        done
}

topo_xeon2s() {
        local r=$1 c l3
        _tbase "$r" 80 "0:0-19,40-59" "1:20-39,60-79"
        for ((c = 0; c < 40; c++)); do
                if [ $c -lt 20 ]; then l3="0-19,40-59"; else l3="20-39,60-79"; fi
                _tcpu "$r" $c "$c,$((c + 40))" "$l3" 28160K
                _tcpu "$r" $((c + 40)) "$c,$((c + 40))" "$l3" 28160K
        done
        # a GPU on socket 0 (bus 0x3b: this machine has none such)
        _tw "$r/sys/bus/pci/devices/0000:3b:00.0/numa_node" 0
        _tw "$r/sys/bus/pci/devices/0000:3b:00.0/vendor" 0x10de
        _tw "$r/sys/bus/pci/devices/0000:3b:00.0/device" 0x2204
        _tw "$r/sys/bus/pci/devices/0000:3b:00.0/class" 0x030000
}

topo_laptop4() {
        local r=$1 c
        _tbase "$r" 8 "0:0-7"
        for ((c = 0; c < 4; c++)); do
                _tcpu "$r" $c "$c,$((c + 4))" "0-7" 8192K
                _tcpu "$r" $((c + 4)) "$c,$((c + 4))" "0-7" 8192K
        done
}

# pin_domain FILE NAME VCPUS PROFILE [EXTRA...]: a domain XML with that many
# vCPUs, tagged with PROFILE ("" for none); EXTRA goes inside <domain>
pin_domain() {
        local f=$1 name=$2 n=$3 use=$4; shift 4
        local meta=""
        [ -n "$use" ] && meta="<metadata><vmprep:profile xmlns:vmprep=\"urn:vmprep:1\" use=\"$use\"/></metadata>"
        cat > "$f" <<EOF
<domain type='kvm'>
  <name>$name</name>
  <uuid>5a1e0000-0000-4000-8000-0000000000$(printf %02d "$n")</uuid>
  $meta
  <memory unit='GiB'>8</memory>
  <vcpu placement='static'>$n</vcpu>
  $*
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <cpu mode='host-passthrough' check='none' migratable='on'/>
</domain>
EOF
}
