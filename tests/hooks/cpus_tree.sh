# shellcheck shell=bash
# Fake CPU hosts for the cpus hook suites (tests/hooks/cpus.sh, faults.sh,
# planjournal.sh): cgroup v1, cgroup v2 without systemd, systemd (its D-Bus
# side a test double), 6.7+ exclusive CPUs; a VM as libvirt runs it.
# Needs tests/hooks/lib.sh.
CG1=sys/fs/cgroup/cpuset

# The CPUs of a fake host: 4 CPUs, one node, SMT pairs 0-1 and 2-3; IRQs
# 0, 1, 24 (all CPUs) and 25 (managed: refuses), the workqueue mask.
base_tree() {
        new_root cpus
        mkdir -p "$ROOT/etc"
        local c d=$ROOT/sys/devices/system
        mkdir -p "$d/cpu" "$d/node/node0"
        echo 0-3 > "$d/cpu/online"; echo 0-3 > "$d/cpu/present"
        for c in 0 1 2 3; do
                mkdir -p "$d/cpu/cpu$c/topology"
                echo "$((c & ~1))-$((c | 1))" > "$d/cpu/cpu$c/topology/thread_siblings_list"
        done
        echo 0 > "$d/node/online"; echo 0-3 > "$d/node/node0/cpulist"; echo 10 > "$d/node/node0/distance"
        for c in 0 1 24 25; do mkdir -p "$ROOT/proc/irq/$c"; echo 0-3 > "$ROOT/proc/irq/$c/smp_affinity_list"; done
        echo "25 ${MANAGED_ERR:-EIO}" > "$ROOT/.fake/managed-irqs"
        echo f > "$ROOT/proc/irq/default_smp_affinity"
        mkdir -p "$ROOT/sys/devices/virtual/workqueue"; echo f > "$ROOT/sys/devices/virtual/workqueue/cpumask"
}

# cgroup v1 cpuset: the root with PID 1, two host processes and a kernel
# thread (2, may not move); libvirt's /machine; a /hostscope cgroup.
tree_v1() {
        base_tree
        local r=$ROOT/$CG1
        mkdir -p "$r/machine" "$r/hostscope"
        for f in "$r" "$r/machine" "$r/hostscope"; do
                echo 0-3 > "$f/cpuset.cpus"; echo 0 > "$f/cpuset.mems"; : > "$f/tasks"
        done
        echo 0-3 > "$r/cpuset.effective_cpus"; echo 0 > "$r/cpuset.effective_mems"
        printf '1\n2\n100\n101\n' > "$r/cgroup.procs"
        printf '500\n' > "$r/machine/cgroup.procs"
        printf '300\n301\n' > "$r/hostscope/cgroup.procs"
        echo 2 > "$ROOT/.fake/kthreads"
}

# cgroup v2 without systemd: host work in /host and /init, VMs in /machine.
tree_v2() {
        base_tree
        local r=$ROOT/sys/fs/cgroup d
        mkdir -p "$r"
        echo "cpuset cpu io memory pids" > "$r/cgroup.controllers"
        echo "cpu memory" > "$r/cgroup.subtree_control"
        printf '1\n' > "$r/cgroup.procs"
        for d in host init machine; do
                mkdir -p "$r/$d"; : > "$r/$d/cpuset.cpus"; echo member > "$r/$d/cpuset.cpus.partition"
                printf '%s\n' "$((RANDOM + 10))" > "$r/$d/cgroup.procs"
        done
}

# systemd: /run/systemd/system, its units' AllowedCPUs= in the double.
tree_systemd() {
        tree_v2
        local r=$ROOT/sys/fs/cgroup u
        rm -rf "$r/host" "$r/init" "$r/machine"
        echo "cpuset cpu io memory pids" > "$r/cgroup.subtree_control"
        mkdir -p "$ROOT/run/systemd/system" "$r/machine.slice"
        : > "$r/machine.slice/cpuset.cpus"; echo member > "$r/machine.slice/cpuset.cpus.partition"
        : > "$r/machine.slice/cgroup.procs"
        for u in system.slice user.slice init.scope machine.slice; do
                mkdir -p "$ROOT/run/systemd/fake-units/$u" "$r/$u"
                : > "$ROOT/run/systemd/fake-units/$u/AllowedCPUs"
                : > "$r/$u/cgroup.procs"
        done
}

# libvirt's layout of a running VM on cgroup v2 + systemd (libvirt 9.0, seen
# in the lab; the same in 11.x): machine.slice/SCOPE/libvirt/{emulator,vcpuN}
# (every cgroup with its cgroup.procs and cpuset files), QEMU's pid in the
# status file /run/libvirt/qemu/NAME.xml (<domstatus pid=...> around the live
# XML), and /proc/PID/cgroup naming the emulator cgroup.
#   lv_running XML NAME PID SCOPE VCPU-CPUS...
lv_running() {
        local xml=$1 name=$2 pid=$3 scope=$4 ms=$ROOT/sys/fs/cgroup/machine.slice d i=0 c; shift 4
        local dirs=("$ms/$scope" "$ms/$scope/libvirt" "$ms/$scope/libvirt/emulator")
        for c in "$@"; do dirs+=("$ms/$scope/libvirt/vcpu$i"); i=$((i + 1)); done
        for d in "${dirs[@]}"; do
                mkdir -p "$d"; : > "$d/cgroup.procs"; : > "$d/cpuset.cpus"; : > "$d/cpuset.cpus.exclusive"
                echo member > "$d/cpuset.cpus.partition"
        done
        i=0; for c in "$@"; do echo "$c" > "$ms/$scope/libvirt/vcpu$i/cpuset.cpus"; i=$((i + 1)); done
        echo "$pid" > "$ms/$scope/libvirt/emulator/cgroup.procs"
        mkdir -p "$ROOT/proc/$pid" "$ROOT/run/libvirt/qemu"
        printf '0::/machine.slice/%s/libvirt/emulator\n' "$scope" > "$ROOT/proc/$pid/cgroup"
        { printf "<domstatus state='running' reason='booted' pid='%s'>\n" "$pid"; cat "$xml"; echo "</domstatus>"; } \
                > "$ROOT/run/libvirt/qemu/$name.xml"
        echo "$pid" > "$ROOT/run/libvirt/qemu/$name.pid"
}
# systemd on 6.7+: machine.slice with cpuset.cpus.exclusive
tree_systemd_exclusive() {
        tree_systemd
        : > "$ROOT/sys/fs/cgroup/machine.slice/cpuset.cpus.exclusive"
}
