#!/bin/bash
# demo/run.sh - vmprep at work on this machine, from a fresh Debian 12 as root:
#
#     ./demo/run.sh        (also: make demo)
#
# Installs the packages it needs (only those missing), builds, installs
# vmprep (make install), brings libvirtd up (the running one if any; else one
# under tini, without systemd), defines a 512 MiB hugepage VM "vmprep-demo"
# tagged with the minimal vmprep profile, and shows the 2 MiB hugepage pool
# before, while and after the VM runs, with the journal vmprep keeps in
# /run/vmprep and the lines it logged to /run/vmprep/events.log.  At exit (also on error or Ctrl-C) the demo VM is undefined and
# the pool is put back exactly as found.  vmprep stays installed
# (`make uninstall` removes it); libvirtd stays running.
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd -- "$HERE/.." && pwd)

VM=vmprep-demo
MEM_MIB=512
META='<vmprep:profile xmlns:vmprep="urn:vmprep:1"><vmprep:hugepages/></vmprep:profile>'
HP_GLOBAL=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
HP_NODE0=/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages
PREFIX=${PREFIX:-/usr/local}
HOOKDIR=${HOOKDIR:-/etc/libvirt/hooks/qemu.d}

section() { printf '\n== %s\n' "$*"; }
say() { printf '   %s\n' "$*"; }
indent() { sed 's/^/   | /'; }
die() {
    printf 'demo: %s\n' "$*" >&2
    exit 1
}

meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }

show_pool() {
    say "HugePages_Total $(meminfo HugePages_Total), HugePages_Free $(meminfo HugePages_Free)," \
        "node0 nr_hugepages $(cat "$HP_NODE0" 2>/dev/null || echo '?')"
}

ms_since() { printf '%s' "$(($(lv_now_ms) - $1))"; }

((EUID == 0)) || die "run me as root"

# ---- packages ------------------------------------------------------------------
section "Packages"
# one list for the demo, the tests and CI
"$REPO/tools/install-deps.sh" || die "installing packages failed"
say "build and runtime packages present"

# Needs the packages (tini, virsh) only when its functions run.
# shellcheck source-path=SCRIPTDIR source=../tests/host/libvirt-env.sh
. "$REPO/tests/host/libvirt-env.sh"

# ---- restore on exit -------------------------------------------------------------
hp_files=()
hp_values=()
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    local rc=$? i _
    trap - EXIT INT TERM
    set +e
    lv_cleanup_vm "$VM"
    # Put the pool back as found (per node first; the pages of a QEMU that
    # just exited may take a moment to come back).
    for _ in $(seq 50); do
        local ok=yes
        for i in "${!hp_files[@]}"; do
            if [[ $(cat "${hp_files[$i]}") != "${hp_values[$i]}" ]]; then
                echo "${hp_values[$i]}" >"${hp_files[$i]}" 2>/dev/null
                [[ $(cat "${hp_files[$i]}") == "${hp_values[$i]}" ]] || ok=no
            fi
        done
        [[ $ok == yes ]] && break
        sleep 0.1
    done
    if ((${#hp_files[@]})) && [[ $ok != yes ]]; then
        printf 'demo: could not put nr_hugepages back to %s\n' "${hp_values[*]}" >&2
        rc=1
    fi
    if ((rc != 0)); then
        printf '\ndemo: FAILED (exit %d); the demo VM is undefined and the pool is as found\n' "$rc" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- build and install -------------------------------------------------------------
section "Build and install"
log=$(mktemp)
if ! make -C "$REPO" PREFIX="$PREFIX" HOOKDIR="$HOOKDIR" all >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    rm -f "$log"
    die "make all failed"
fi
if ! make -C "$REPO" PREFIX="$PREFIX" HOOKDIR="$HOOKDIR" install >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    rm -f "$log"
    die "make install failed"
fi
rm -f "$log"
for f in "$REPO"/build/hooks/*; do
    say "hook:     $HOOKDIR/$(basename -- "$f")"
done
say "handler:  $PREFIX/libexec/vmprep/vmprep-hook"
say "profiles: $PREFIX/share/vmprep/profiles"

# ---- libvirtd --------------------------------------------------------------------
section "libvirtd"
if lv_ping; then
    lv_hup # rescans the hooks (libvirtd finds new hooks on start or SIGHUP)
    say "using the running libvirtd (pid $(lv_libvirtd_pid)); sent it SIGHUP to pick up the hooks"
else
    t0=$(lv_now_ms)
    lv_up || die "cannot start libvirtd (see $LV_LOG)"
    say "started libvirtd (pid $(lv_libvirtd_pid), under tini, log $LV_LOG) in $(ms_since "$t0") ms"
fi

# ---- the demo VM -------------------------------------------------------------------
section "Demo VM"
lv_cleanup_vm "$VM" # left over from an interrupted run
lv_define_vm "$VM" "$MEM_MIB" "" "$META" yes 2>/dev/null || die "cannot define $VM"
uuid=$(lv_virsh domuuid "$VM")
uuid=${uuid%%$'\n'*}
journal=/run/vmprep/$uuid.hugepages.journal
say "$VM: $MEM_MIB MiB, 1 vCPU, uuid $uuid; from its domain XML:"
xml=$(lv_virsh dumpxml "$VM")
printf '%s\n' "$xml" | sed -n -e '/<memory /p' -e '/<memoryBacking>/,/<\/memoryBacking>/p' \
    -e '/<metadata>/,/<\/metadata>/p' | indent
say "so vmprep adds $((MEM_MIB / 2)) x 2 MiB pages at start and takes them away at stop"

# ---- before --------------------------------------------------------------------------
section "Hugepage pool before"
hp_files=("$HP_GLOBAL")
hp_values=("$(cat "$HP_GLOBAL")")
if [[ -e $HP_NODE0 ]]; then
    hp_files=()
    hp_values=()
    for f in /sys/devices/system/node/node[0-9]*/hugepages/hugepages-2048kB/nr_hugepages; do
        hp_files+=("$f")
        hp_values+=("$(cat "$f")")
    done
fi
total_before=$(meminfo HugePages_Total)
show_pool

# ---- start ---------------------------------------------------------------------------
section "virsh start $VM"
events=/run/vmprep/events.log
events_from=$(stat -c %s "$events" 2>/dev/null || echo 0)
t0=$(lv_now_ms)
out=$(lv_virsh start "$VM" 2>&1) || {
    printf '%s\n' "$out" | indent
    die "virsh start failed"
}
t_start=$(ms_since "$t0")
printf '%s\n' "$out" | sed '/^$/d' | indent
say "state: $(lv_virsh domstate "$VM" | sed '/^$/d') (virsh start took $t_start ms)"

section "Hugepage pool while $VM runs"
show_pool
total_during=$(meminfo HugePages_Total)
say "pool grew by $((total_during - total_before)) pages"

section "vmprep's journal ($journal)"
if [[ -f $journal ]]; then
    journal_text=$(cat "$journal")
    say "$(stat -c '%A %U %s bytes' "$journal"), written by the prepare hook:"
    printf '%s\n' "$journal_text" | indent
    say "(S = step recorded before the change: resource, file, old, new; D = done, pages added)"
else
    journal_text=""
    say "no journal: vmprep did not act (is the hook installed in $HOOKDIR?)"
fi
if [[ -f /run/vmprep/ledger ]]; then
    say "ledger (what running VMs hold of shared pools):"
    indent </run/vmprep/ledger
fi

# ---- stop ----------------------------------------------------------------------------
section "virsh shutdown $VM"
t0=$(lv_now_ms)
lv_wait_booted "$VM" 20 || die "the guest did not come up"
say "guest ready for the ACPI button after $(ms_since "$t0") ms"
t0=$(lv_now_ms)
out=$(lv_virsh shutdown "$VM" 2>&1) || {
    printf '%s\n' "$out" | indent
    die "virsh shutdown failed"
}
printf '%s\n' "$out" | sed '/^$/d' | indent
lv_wait_state "$VM" "shut off" 15 || die "$VM did not power off"
say "state: $(lv_virsh domstate --reason "$VM" | sed '/^$/d') after $(ms_since "$t0") ms"

section "Hugepage pool after"
# libvirt runs the release hook once QEMU has exited; give it a moment.
for _ in $(seq 50); do
    [[ $(meminfo HugePages_Total) == "$total_before" ]] && break
    sleep 0.1
done
show_pool
total_after=$(meminfo HugePages_Total)
if [[ -e $journal ]]; then
    say "journal still there: $journal"
else
    say "journal gone (release replayed it backwards and deleted it)"
fi

section "What vmprep logged ($events)"
# The lines the hooks appended during this run (syslog(3) gets them too, but
# this machine may have no syslog daemon); only this VM's, other VMs may run.
if [[ -f $events ]]; then
    if (($(stat -c %s "$events") >= events_from)); then
        logged=$(tail -c +"$((events_from + 1))" "$events")
    else # rotated meanwhile to events.log.1
        logged=$(cat "$events.1" "$events" 2>/dev/null || true)
    fi
    logged=$(printf '%s\n' "$logged" | grep -F -- " $VM: " || true)
    if [[ -n $logged ]]; then
        printf '%s\n' "$logged" | indent
    else
        say "nothing about $VM"
    fi
else
    say "no $events (a vmprep without an events log: it logged through syslog(3) only)"
fi


# ---- summary ---------------------------------------------------------------------------
section "Result"
say "HugePages_Total: before $total_before, while running $total_during, after $total_after"
if [[ -n $journal_text ]] && ((total_during - total_before == MEM_MIB / 2 && total_after == total_before)); then
    say "vmprep added exactly $((MEM_MIB / 2)) pages for $VM and took exactly those back"
    result=0
else
    say "UNEXPECTED: the pool should have grown by exactly $((MEM_MIB / 2)) pages and come back"
    result=1
fi

# ---- cleanup ---------------------------------------------------------------------------
section "Cleanup"
lv_cleanup_vm "$VM"
say "$VM undefined; the pool is put back as found (nr_hugepages ${hp_values[*]})"
say "vmprep stays installed ($HOOKDIR, $PREFIX/libexec/vmprep, $PREFIX/share/vmprep);"
say "'make uninstall' removes it.  libvirtd (pid $(lv_libvirtd_pid)) stays running."
exit "$result"
