# shellcheck shell=bash
# Recorded host trees for the vmprep command's golden tests.  Each function
# builds one under $1: the sysfs/procfs subset vmprep reads.  PCI addresses
# are on buses this machine lacks (never 0000:00:xx.x).
#   host_workstation DIR   two NUMA nodes, two GPUs (one sharing its IOMMU group
#                          with a USB controller behind a bridge), an I210 NIC,
#                          cgroup v2, systemd, IOMMU on, one cpufreq policy per
#                          node (policy0: CPUs 0-7, policy8: 8-15), KSM running
#   host_nfv DIR           SR-IOV NIC (X710, 8 of 64 VFs), 1 GiB pages reserved at
#                          boot, cgroup v1, no systemd
#   host_laptop DIR        one node, no IOMMU, no hugetlbfs, no vfio-pci, no pdpe1gb

_w() { mkdir -p "$(dirname "$1")"; printf '%s\n' "$2" > "$1"; }

_node() { # ROOT NODE CPULIST DISTANCE MEMFREE_KB
        local n=$1/sys/devices/system/node/node$2
        _w "$n/cpulist" "$3"
        _w "$n/distance" "$4"
        _w "$n/meminfo" "Node $2 MemTotal:       33554432 kB
Node $2 MemFree:        $5 kB"
        _w "$n/compact" ""
}

_pool() { # ROOT NODE SIZE_KB NR FREE
        local d=$1/sys/devices/system/node/node$2/hugepages/hugepages-$3kB
        _w "$d/nr_hugepages" "$4"; _w "$d/free_hugepages" "$5"; _w "$d/surplus_hugepages" 0
        mkdir -p "$1/sys/kernel/mm/hugepages/hugepages-$3kB"
        [ -e "$1/sys/kernel/mm/hugepages/hugepages-$3kB/nr_hugepages" ] || _w "$1/sys/kernel/mm/hugepages/hugepages-$3kB/nr_hugepages" 0
}

_cpus() { # ROOT N (pairs of SMT siblings: 2k, 2k+1)
        local c
        _w "$1/sys/devices/system/cpu/online" "0-$(($2 - 1))"
        _w "$1/sys/devices/system/cpu/present" "0-$(($2 - 1))"
        for ((c = 0; c < $2; c++)); do
                _w "$1/sys/devices/system/cpu/cpu$c/topology/thread_siblings_list" "$((c / 2 * 2))-$((c / 2 * 2 + 1))"
        done
}

_cpufreq() { # ROOT POLICY "CPU CPU ...": cpuN/cpufreq -> ../cpufreq/policyP (schedutil)
        local p=$1/sys/devices/system/cpu/cpufreq/policy$2 c
        _w "$p/scaling_governor" schedutil
        _w "$p/scaling_available_governors" "performance schedutil powersave"
        _w "$p/affected_cpus" "$3"; _w "$p/related_cpus" "$3"
        for c in $3; do ln -sfn "../cpufreq/policy$2" "$1/sys/devices/system/cpu/cpu$c/cpufreq"; done
}

_pci() { # ROOT BDF VENDOR DEVICE CLASS GROUP DRIVER
        local d=$1/sys/bus/pci/devices/$2
        _w "$d/vendor" "$3"; _w "$d/device" "$4"; _w "$d/class" "$5"
        if [ -n "$6" ]; then
                mkdir -p "$1/sys/kernel/iommu_groups/$6/devices"
                ln -sfn "../../../bus/pci/devices/$2" "$1/sys/kernel/iommu_groups/$6/devices/$2"
                ln -sfn "../../../../kernel/iommu_groups/$6" "$d/iommu_group"
        fi
        if [ -n "$7" ]; then
                mkdir -p "$1/sys/bus/pci/drivers/$7"
                ln -sfn "../../../bus/pci/drivers/$7" "$d/driver"
        fi
}

_common() { # ROOT
        _w "$1/proc/sys/kernel/osrelease" "6.1.0-27-amd64"
        _w "$1/dev/kvm" ""
        local h
        for h in 10-vmprep-vfio 20-vmprep-hugepages 30-vmprep-cpus 40-vmprep-tune; do
                _w "$1/etc/libvirt/hooks/qemu.d/$h" "#!hook"
                chmod 0755 "$1/etc/libvirt/hooks/qemu.d/$h"
        done
        _w "$1/proc/123/comm" "libvirtd"
        mkdir -p "$1/run" "$1/.fake"
}

host_workstation() {
        local r=$1
        _common "$r"
        _w "$r/proc/cmdline" "BOOT_IMAGE=/vmlinuz-6.1.0-27-amd64 root=/dev/nvme0n1p2 ro quiet intel_iommu=on iommu=pt"
        _w "$r/proc/cpuinfo" "vendor_id	: GenuineIntel
flags		: fpu vme de pse tsc msr pae mce pdpe1gb rdtscp lm"
        _w "$r/proc/mounts" "sysfs /sys sysfs rw 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0
hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0"
        _w "$r/sys/fs/cgroup/cgroup.controllers" "cpuset cpu io memory hugetlb pids rdma misc"
        # cpuset not yet enabled for the root's children; their cpuset.cpus
        # empty (the parent's CPUs), as after boot
        _w "$r/sys/fs/cgroup/cgroup.subtree_control" "cpu io memory pids"
        local s
        for s in init.scope system.slice user.slice machine.slice; do
                _w "$r/sys/fs/cgroup/$s/cgroup.procs" ""; _w "$r/sys/fs/cgroup/$s/cpuset.cpus" ""
        done
        _w "$r/sys/devices/virtual/workqueue/cpumask" "ffff"
        _w "$r/proc/irq/default_smp_affinity" "ffff"
        # IRQs: the timer on CPU 0, the NIC on every CPU, the GPU on CPU 10
        _w "$r/proc/irq/0/smp_affinity_list" "0"
        _w "$r/proc/irq/120/smp_affinity_list" "0-15"
        _w "$r/proc/irq/130/smp_affinity_list" "10"
        _w "$r/proc/1/comm" "systemd"
        _w "$r/proc/meminfo" "MemTotal:       67108864 kB
Hugepagesize:       2048 kB"
        _w "$r/proc/buddyinfo" "Node 0, zone   Normal   2048   1024    512    256    128     64     32     16      8      4    900
Node 1, zone   Normal   4096   2048   1024    512    256    128     64     32     16      8     20"
        _w "$r/sys/devices/system/node/online" "0-1"
        _w "$r/sys/devices/system/node/has_memory" "0-1"
        _node "$r" 0 "0-7" "10 21" 20971520
        _node "$r" 1 "8-15" "21 10" 4194304
        _cpus "$r" 16
        _cpufreq "$r" 0 "0 1 2 3 4 5 6 7"; _cpufreq "$r" 8 "8 9 10 11 12 13 14 15"
        _w "$r/sys/kernel/mm/ksm/run" 1
        _pool "$r" 0 2048 0 0; _pool "$r" 1 2048 512 512
        _pool "$r" 0 1048576 0 0; _pool "$r" 1 1048576 0 0
        _w "$r/lib/modules/6.1.0-27-amd64/modules.dep" "kernel/drivers/vfio/pci/vfio-pci.ko: kernel/drivers/vfio/vfio.ko"
        _pci "$r" 0000:41:00.0 0x10de 0x2204 0x030000 20 nvidia
        _pci "$r" 0000:41:00.1 0x10de 0x1aef 0x040300 20 snd_hda_intel
        _pci "$r" 0000:42:00.0 0x8086 0x1533 0x020000 21 igb
        _pci "$r" 0000:40:01.0 0x1022 0x1483 0x060400 22 pcieport
        _pci "$r" 0000:43:00.0 0x1002 0x731f 0x030000 22 amdgpu
        _pci "$r" 0000:44:00.0 0x1022 0x149c 0x0c0330 22 xhci_hcd
}

host_nfv() {
        local r=$1 v
        _common "$r"
        _w "$r/proc/cmdline" "BOOT_IMAGE=/vmlinuz ro intel_iommu=on iommu=pt default_hugepagesz=1G hugepagesz=1G hugepages=16"
        _w "$r/proc/cpuinfo" "vendor_id	: GenuineIntel
flags		: fpu pse pdpe1gb lm"
        _w "$r/proc/mounts" "cgroup /sys/fs/cgroup/cpuset cgroup rw,relatime,cpuset 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0
hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=1024M 0 0"
        _w "$r/proc/1/comm" "init"
        _w "$r/proc/meminfo" "MemTotal:       134217728 kB
Hugepagesize:       1048576 kB"
        _w "$r/proc/buddyinfo" "Node 0, zone   Normal    300    200    100     50     25     12      6      3      2      1     40
Node 1, zone   Normal    300    200    100     50     25     12      6      3      2      1     60"
        _w "$r/sys/devices/system/node/online" "0-1"
        _w "$r/sys/devices/system/node/has_memory" "0-1"
        _node "$r" 0 "0-23" "10 20" 8388608
        _node "$r" 1 "24-47" "20 10" 8388608
        _cpus "$r" 48
        _pool "$r" 0 1048576 8 8; _pool "$r" 1 1048576 8 6
        _pool "$r" 0 2048 0 0; _pool "$r" 1 2048 0 0
        mkdir -p "$r/sys/bus/pci/drivers/vfio-pci"
        _pci "$r" 0000:5e:00.0 0x8086 0x1572 0x020000 40 i40e
        _w "$r/sys/bus/pci/devices/0000:5e:00.0/sriov_totalvfs" 64
        _w "$r/sys/bus/pci/devices/0000:5e:00.0/sriov_numvfs" 8
        for v in 2 3 4 5 6 7 8 9; do
                _pci "$r" "0000:5e:0$((v / 8)).$((v % 8))" 0x8086 0x154c 0x020000 "$((40 + v))" iavf
        done
}

host_laptop() {
        local r=$1
        _common "$r"
        _w "$r/proc/cmdline" "BOOT_IMAGE=/vmlinuz ro quiet splash"
        _w "$r/proc/cpuinfo" "vendor_id	: AuthenticAMD
flags		: fpu pse lm"
        _w "$r/proc/mounts" "cgroup2 /sys/fs/cgroup cgroup2 rw 0 0"
        _w "$r/sys/fs/cgroup/cgroup.controllers" "cpu io memory pids"
        _w "$r/proc/1/comm" "systemd"
        _w "$r/proc/meminfo" "MemTotal:       16777216 kB
Hugepagesize:       2048 kB"
        _w "$r/proc/buddyinfo" "Node 0, zone   Normal   5000   3000   1000    400    100     20      5      1      0      0      0"
        _w "$r/sys/devices/system/node/online" "0"
        _w "$r/sys/devices/system/node/has_memory" "0"
        _node "$r" 0 "0-3" "10" 2097152
        _cpus "$r" 4
        _pool "$r" 0 2048 0 0
        _w "$r/lib/modules/6.1.0-27-amd64/modules.dep" "kernel/drivers/gpu/drm/amd/amdgpu/amdgpu.ko:"
        _pci "$r" 0000:64:00.0 0x1002 0x1638 0x030000 "" amdgpu
        _pci "$r" 0000:65:00.0 0x10ec 0x8168 0x020000 "" r8169
        rm -f "$r/proc/123/comm"
}
