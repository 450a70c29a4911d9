#!/usr/bin/env bash
# Host-wide tunables for real on this machine: sched_rt_runtime_us,
# swappiness, THP and KSM (ksm='off': run 0, never the unmerging 2) through
# the test-build 40-vmprep-tune hook on the real root, alone and with two
# VMs overlapping in time; each restored exactly (a trap writes the values
# found back whatever happens).
# No governor, C-state or stat_interval here (this machine has no cpufreq,
# and its idle states are its own): those run against fake trees.
set -uo pipefail
here=$(cd -- "$(dirname -- "$0")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
T_SUITE=host-tune
# shellcheck source=tests/lib.sh
. "$repo/tests/lib.sh"
HOOK=$repo/build/test/hooks/40-vmprep-tune
RT=/proc/sys/kernel/sched_rt_runtime_us SW=/proc/sys/vm/swappiness
THP=/sys/kernel/mm/transparent_hugepage/enabled KSM=/sys/kernel/mm/ksm/run
UUID_A=6c0e1d2f-3a4b-4c5d-8e6f-7a8b9c0d1e01
UUID_B=6c0e1d2f-3a4b-4c5d-8e6f-7a8b9c0d1e02

if [ "$(id -u)" != 0 ]; then t_skip "host tune" "needs root"; t_done; exit; fi
for f in $RT $SW $THP; do [ -w $f ] || { t_skip "host tune" "no $f"; t_done; exit; }; done
[ -x "$HOOK" ] || { t_fail "host tune" "missing $HOOK"; t_done; exit 1; }
HAVE_KSM=1
[ -w $KSM ] || { HAVE_KSM=0; t_skip "host tune: KSM" "no $KSM (a kernel without CONFIG_KSM): ksm='off' is checked to start, not to write"; }

thp() { sed 's/.*\[\(.*\)\].*/\1/' $THP; }
ksm() { if [ $HAVE_KSM = 1 ]; then cat $KSM; else echo none; fi; }
values() { echo "rt=$(cat $RT) sw=$(cat $SW) thp=$(thp) ksm=$(ksm)"; }
o_rt=$(cat $RT) o_sw=$(cat $SW) o_thp=$(thp) o_ksm=$(ksm)
WORK=$(mktemp -d)
restore() {
        local x
        for x in a b; do VMPREP_ROOT=/ "$HOOK" "vmprep-cpus-tune-$x" release end - < "$WORK/$x.xml" 2>/dev/null; done
        [ "$(cat $RT)" = "$o_rt" ] || echo "$o_rt" > $RT
        [ "$(cat $SW)" = "$o_sw" ] || echo "$o_sw" > $SW
        [ "$(thp)" = "$o_thp" ] || echo "$o_thp" > $THP
        [ $HAVE_KSM = 0 ] || [ "$(ksm)" = "$o_ksm" ] || echo "$o_ksm" > $KSM
        rm -rf "$WORK"
}
trap restore EXIT
# ksmd running before the VMs (put back by the trap), so that ksm='off'
# shows: 1 -> 0 while they run -> 1.  A machine whose KSM is stopped has
# nothing merged; ksmd finds nothing to merge for the seconds this runs
# unless a process asked for it (madvise MADV_MERGEABLE).
[ $HAVE_KSM = 1 ] && [ "$o_ksm" != 1 ] && echo 1 > $KSM
ORIG=$(values)
w_ksm=$([ $HAVE_KSM = 1 ] && echo 0 || echo none)

# with <vmprep:tune> values different from what this machine has
n_sw=$(( o_sw == 10 ? 20 : 10 )) n_thp=$([ "$o_thp" = never ] && echo madvise || echo never)
n_rt=$([ "$o_rt" = -1 ] && echo 900000 || echo unlimited) w_rt=$([ "$o_rt" = -1 ] && echo 900000 || echo -1)
vm() {
        printf "<domain><name>%s</name><uuid>%s</uuid><vcpu>1</vcpu><cputune><vcpupin vcpu='0' cpuset='1'/></cputune>" "$1" "$2"
        printf "<metadata><vmprep:profile xmlns:vmprep='urn:vmprep:1'>%s</vmprep:profile></metadata></domain>" "$3"
}
vm vmprep-cpus-tune-a $UUID_A "<vmprep:tune rt-runtime='$n_rt' swappiness='$n_sw' thp='$n_thp' ksm='off'/>" > "$WORK/a.xml"
vm vmprep-cpus-tune-b $UUID_B "<vmprep:tune thp='$n_thp' ksm='off'/>" > "$WORK/b.xml"
hook() { VMPREP_ROOT=/ "$HOOK" "$2" "$3" "$4" - < "$1" 2> "$WORK/err"; }

if hook "$WORK/a.xml" vmprep-cpus-tune-a prepare begin; then
        got=$(values)
        [ "$got" = "rt=$w_rt sw=$n_sw thp=$n_thp ksm=$w_ksm" ] \
                && t_ok "real prepare: $ORIG -> $got" || t_fail "real prepare sets the tunables" "$got" "$(cat "$WORK/err")"
        hook "$WORK/a.xml" vmprep-cpus-tune-a release end
        [ "$(values)" = "$ORIG" ] && t_ok "real release: back to $ORIG exactly" || t_fail "real release restores" "$(values) (want $ORIG)"
else
        t_fail "real prepare" "$(cat "$WORK/err")"
fi

hook "$WORK/a.xml" vmprep-cpus-tune-a prepare begin && hook "$WORK/b.xml" vmprep-cpus-tune-b prepare begin \
        || t_fail "two VMs: prepare" "$(cat "$WORK/err")"
both=$(values)
hook "$WORK/a.xml" vmprep-cpus-tune-a release end
after_a=$(values)
hook "$WORK/b.xml" vmprep-cpus-tune-b release end
if [ "$both" = "rt=$w_rt sw=$n_sw thp=$n_thp ksm=$w_ksm" ] && [ "$after_a" = "rt=$o_rt sw=$o_sw thp=$n_thp ksm=$w_ksm" ] && [ "$(values)" = "$ORIG" ]; then
        t_ok "two VMs overlapping in time, for real: THP and KSM stay changed until the second stops, RT and swappiness come back with the first; all exact at the end"
else
        t_fail "two VMs, for real" "both: $both" "after a: $after_a (want rt=$o_rt sw=$o_sw thp=$n_thp ksm=$w_ksm)" "end: $(values) (want $ORIG)"
fi

# ksm='off' while the VM runs: run is 0 (ksmd stopped, nothing unmerged), and
# the value found is back after; with run=2 set by the admin, nothing is
# written at all (2 already has ksmd stopped)
if [ $HAVE_KSM = 1 ]; then
        for start in 1 2; do
                echo $start > $KSM
                hook "$WORK/b.xml" vmprep-cpus-tune-b prepare begin || t_fail "ksm='off' (run=$start): prepare" "$(cat "$WORK/err")"
                during=$(ksm)
                hook "$WORK/b.xml" vmprep-cpus-tune-b release end
                want=$([ $start = 1 ] && echo 0 || echo 2)
                [ "$during" = "$want" ] && [ "$(ksm)" = $start ] \
                        && t_ok "ksm='off', for real, with run=$start before: $want while the VM runs, $start after" \
                        || t_fail "ksm='off' with run=$start" "during: $during (want $want), after: $(ksm)"
        done
        [ "$(ksm)" = 1 ] || echo 1 > $KSM
fi

k=1 crashed=0 fails=()
while [ $k -le 60 ]; do
        st=$( (VMPREP_ROOT=/ VMPREP_TEST_CRASH_AT=$k "$HOOK" vmprep-cpus-tune-a prepare begin - < "$WORK/a.xml" > /dev/null 2>&1; echo $?) 2>/dev/null)
        hook "$WORK/a.xml" vmprep-cpus-tune-a release end
        [ "$st" = 0 ] && break
        crashed=$((crashed + 1))
        [ "$(values)" = "$ORIG" ] || fails+=("crash point $k: $(values)")
        k=$((k + 1))
done
[ ${#fails[@]} -eq 0 ] && [ $crashed -ge 5 ] \
        && t_ok "SIGKILL of the real tune hook at each of its $crashed crash points, then release: $ORIG exactly" \
        || t_fail "real crash points" "${fails[@]:0:5}" "crashed=$crashed"
t_done
