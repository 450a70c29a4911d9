#!/usr/bin/env bash
# Isolation wall time against the number of host tasks, cgroup v1 cpuset
# backend (this machine's), next to a baseline that moves the tasks one by
# one, in the same run.  Host work = a host-scope cgroup holding only this
# benchmark's processes (N threads in processes of 100 threads each); the
# VM claims CPU 1 (irqs='no' workqueues='no': the machine's IRQs and
# workqueue mask are never touched).  Needs root and the v1 cpuset.
#   bench/cpus-isolate.sh [ROUNDS]     (default 5; medians, milliseconds)
# Columns: threads processes vmprep_hook_ms vmprep_isolate_ms baseline_ms release_ms
#   vmprep_hook_ms     the full handler's prepare, exec to exit
#   vmprep_isolate_ms  the part that confines the tasks (host_apply, as logged)
#   baseline_ms        mkdir + every thread written to `tasks`, one by one
set -uo pipefail
here=$(cd -- "$(dirname -- "$0")" && pwd)
repo=$(cd -- "$here/.." && pwd)
ROUNDS=${1:-5}
CG=/sys/fs/cgroup/cpuset
SCOPE=/vmprep-cpus-bench-$$
CONF_DIR=/run/vmprep-cpus-test CONF=/run/vmprep-cpus-test/vmprep.conf
W=$(mktemp -d /tmp/vmprep-cpus-bench-XXXXXX)
HOOKF=$repo/build/hosttest/vmprep-hook
UUID=7c0e1d2f-3a4b-4c5d-8e6f-7a8b9c0d1e01
PIDS=()

[ "$(id -u)" = 0 ] && [ -e $CG/cpuset.cpus ] || { echo "needs root and the cgroup v1 cpuset controller"; exit 1; }
make -s -C "$repo" build/hosttest/vmprep-hook >/dev/null
cc -O2 -pthread -o "$W/threads" "$here/baselines/threads.c"
cc -O2 -o "$W/move-tasks" "$here/baselines/move-tasks.c"

move_back() { # DIR: every process of DIR back into the scope, then rmdir
        local p
        [ -d "$1" ] || return 0
        for p in $(cat "$1/cgroup.procs"); do echo "$p" > "$CG$SCOPE/cgroup.procs" 2>/dev/null; done
        rmdir "$1" 2>/dev/null
}
cleanup() {
        "$HOOKF" cpus vmprep-cpus-bench release end - < "$W/vm.xml" 2>/dev/null
        local p; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
        wait 2>/dev/null
        move_back "$CG$SCOPE/vmprep.host"; move_back "$CG$SCOPE/baseline"
        for _ in $(seq 50); do [ -d "$CG$SCOPE" ] || break; rmdir "$CG$SCOPE" 2>/dev/null || sleep 0.1; done
        rm -f "$CONF"; rmdir "$CONF_DIR" 2>/dev/null
        rm -rf "$W"
}
trap cleanup EXIT

mkdir "$CG$SCOPE" && cat $CG/cpuset.cpus > "$CG$SCOPE/cpuset.cpus" && cat $CG/cpuset.mems > "$CG$SCOPE/cpuset.mems"
mkdir -p "$CONF_DIR"; echo "host-scope = $SCOPE" > "$CONF"
printf "<domain><name>vmprep-cpus-bench</name><uuid>%s</uuid><vcpu>1</vcpu><cputune><vcpupin vcpu='0' cpuset='1'/></cputune><metadata><vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:isolate irqs='no' workqueues='no'/></vmprep:profile></metadata></domain>" "$UUID" > "$W/vm.xml"

now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

echo "# machine: $(nproc) CPUs, $(uname -r); cgroup v1 cpuset; rounds: $ROUNDS (medians)"
echo "# threads processes vmprep_hook_ms vmprep_isolate_ms baseline_ms release_ms"
have=0
for N in 100 1000 10000; do
        # grow the scope's population to N threads, 100 per process
        while [ $have -lt "$N" ]; do
                "$W/threads" 100 > "$W/ready.$have" &
                PIDS+=($!)
                echo $! > "$CG$SCOPE/cgroup.procs"
                have=$((have + 100))
        done
        for _ in $(seq 50); do
                [ "$(cat "$CG$SCOPE/tasks" | wc -l)" -ge "$N" ] && break; sleep 0.1
        done
        hooks=() isol=() base=() rel=()
        for _ in $(seq "$ROUNDS"); do
                t0=$(now_ms)
                "$HOOKF" cpus vmprep-cpus-bench prepare begin - < "$W/vm.xml" 2> "$W/err" || { cat "$W/err"; exit 1; }
                t1=$(now_ms)
                hooks+=($((t1 - t0)))
                isol+=("$(grep 'vmprep-cpus-bench: isolated CPU 1' /run/vmprep/events.log | tail -1 | sed 's/.*(\([0-9.]*\) ms)$/\1/')")
                n=$(wc -l < "$CG$SCOPE/vmprep.host/tasks")
                [ "$n" -ge "$N" ] || { echo "only $n of $N threads confined"; exit 1; }
                t0=$(now_ms)
                "$HOOKF" cpus vmprep-cpus-bench release end - < "$W/vm.xml" 2> "$W/err"
                t1=$(now_ms)
                rel+=($((t1 - t0)))
                [ ! -e "$CG$SCOPE/vmprep.host" ] || { echo "release left vmprep.host"; exit 1; }
                # the baseline: same cgroup, same cpus, thread by thread
                t0=$(now_ms)
                mkdir "$CG$SCOPE/baseline" && cat "$CG$SCOPE/cpuset.mems" > "$CG$SCOPE/baseline/cpuset.mems" && echo 0 > "$CG$SCOPE/baseline/cpuset.cpus"
                "$W/move-tasks" "$CG$SCOPE" "$CG$SCOPE/baseline" > "$W/base"
                t1=$(now_ms)
                base+=($((t1 - t0)))
                move_back "$CG$SCOPE/baseline"
        done
        printf '%s %s %s %s %s %s\n' "$N" "$((N / 100))" "$(printf '%s\n' "${hooks[@]}" | median)" \
                "$(printf '%s\n' "${isol[@]}" | median)" "$(printf '%s\n' "${base[@]}" | median)" "$(printf '%s\n' "${rel[@]}" | median)"
done
