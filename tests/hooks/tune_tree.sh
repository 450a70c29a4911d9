# shellcheck shell=bash
# Fake hosts for the tune hook suites (tests/hooks/tune.sh, faults.sh,
# planjournal.sh).
# Needs tests/hooks/lib.sh.

# 4 CPUs, 4 idle states per CPU, THP, KSM, sysctls; cpufreq as the kernel
# lays it out: cpuN/cpufreq -> ../cpufreq/policyP, one policy per CPU, or
# with SHARED_POLICY=1 one policy0 for CPUs 0-3 (schedutil)
tune_tree() {
        new_root tune
        mkdir -p "$ROOT/proc/sys/kernel" "$ROOT/proc/sys/vm" "$ROOT/sys/kernel/mm/transparent_hugepage" "$ROOT/sys/kernel/mm/ksm"
        local d=$ROOT/sys/devices/system/cpu c s
        mkdir -p "$d"; echo 0-3 > "$d/online"; echo 0-3 > "$d/present"
        for c in 0 1 2 3; do
                local p=$c cpus=$c
                [ "${SHARED_POLICY:-0}" = 1 ] && p=0 cpus="0 1 2 3"
                mkdir -p "$d/cpufreq/policy$p" "$d/cpu$c/topology"
                ln -s "../cpufreq/policy$p" "$d/cpu$c/cpufreq"
                echo "$c" > "$d/cpu$c/topology/thread_siblings_list"
                echo schedutil > "$d/cpufreq/policy$p/scaling_governor"
                echo "performance schedutil powersave" > "$d/cpufreq/policy$p/scaling_available_governors"
                echo "$cpus" > "$d/cpufreq/policy$p/affected_cpus"; echo "$cpus" > "$d/cpufreq/policy$p/related_cpus"
                for s in 0 1 2 3; do mkdir -p "$d/cpu$c/cpuidle/state$s"; echo 0 > "$d/cpu$c/cpuidle/state$s/disable"; done
                # EPP=1: amd-pstate in active mode offers energy_performance_preference
                if [ "${EPP:-0}" = 1 ]; then
                        echo amd-pstate-epp > "$d/cpufreq/policy$p/scaling_driver"
                        echo balance_performance > "$d/cpufreq/policy$p/energy_performance_preference"
                        echo "default performance balance_performance balance_power power" > "$d/cpufreq/policy$p/energy_performance_available_preferences"
                else echo acpi-cpufreq > "$d/cpufreq/policy$p/scaling_driver"; fi
        done
        echo "always [madvise] never" > "$ROOT/sys/kernel/mm/transparent_hugepage/enabled"
        [ -d "$ROOT/sys/kernel/mm/ksm" ] && echo "${KSM_RUN:-1}" > "$ROOT/sys/kernel/mm/ksm/run"
        echo 950000 > "$ROOT/proc/sys/kernel/sched_rt_runtime_us"
        echo 60 > "$ROOT/proc/sys/vm/swappiness"
        echo 1 > "$ROOT/proc/sys/vm/stat_interval"
        echo "BOOT_IMAGE=/vmlinuz root=/dev/vda ${CMDLINE_EXTRA:-}" > "$ROOT/proc/cmdline"
        [ "${NO_KSM:-0}" = 1 ] && rm -rf "$ROOT/sys/kernel/mm/ksm"
        return 0
}
