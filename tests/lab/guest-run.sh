#!/bin/bash
# Inside the lab guest (vmprep-lab.service): run the scenarios with their TAP
# on /dev/ttyS1, framed by "# lab:" lines that tests/lab/run.sh reads.
set -u
port=/dev/ttyS1
stty -F "$port" raw -echo 115200 2>/dev/null || true
exec >"$port" 2>&1
printf '# lab: kernel %s, service started at %s s of uptime\n' "$(uname -r)" "$(cut -d' ' -f1 /proc/uptime)"
udevadm settle --timeout=60 || true
# run.sh's LAB_ONLY comes as vmprep_lab.only= on the kernel command line
read -ra args </proc/cmdline
for arg in "${args[@]}"; do
        case $arg in
                vmprep_lab.only=*) export LAB_ONLY=${arg#*=} ;;
                vmprep_lab.bench_rounds=*) export LAB_BENCH_ROUNDS=${arg#*=} ;;
        esac
done
t0=${EPOCHREALTIME/./}
/usr/lib/vmprep-lab/scenarios.sh
rc=$?
t1=${EPOCHREALTIME/./}
printf '# lab: scenarios exit %d after %d ms\n' "$rc" $(((t1 - t0) / 1000))
printf '# lab: end\n'
sync
# let the UART drain, then power off at once (the disk is a throw-away snapshot)
sleep 1
systemctl poweroff --force --force >/dev/null 2>&1
echo o >/proc/sysrq-trigger
exit 0
