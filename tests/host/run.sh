#!/bin/bash
# tests/host/run.sh - vmprep's host end-to-end suite: a real libvirtd, real
# QEMU/KVM guests (tests/host/libvirt-env.sh) and the real 2 MiB hugepage
# pool of this machine.  Run as root from anywhere:
#
#     tests/host/run.sh          (also: make host-check)
#
# What it does:
#   - builds (make all) and installs (make install, PREFIX/HOOKDIR from the
#     environment or the Makefile's defaults) only when an installed file
#     differs from the build; SIGHUPs libvirtd when it was already running;
#   - brings libvirtd up with lv_up, and stops it again at exit only if this
#     run started it;
#   - records nr_hugepages (2 MiB pages, global and per node) and restores it
#     on every exit path (EXIT, INT, TERM);
#   - defines VMs named vmprep-e2e-* only, and destroys/undefines all of them at
#     exit (and stale ones from an interrupted earlier run at the start);
#   - if a case failed (or the run was interrupted), removes the
#     /run/vmprep/UUID.*.journal files of its own VMs, by UUID, and nothing else.
#
# Output: one "ok N - name" / "not ok N - name" line per case, "# " lines
# saying what differed (and the timings), and as the very last line
#     host: N passed, N failed, N skipped
# Exit status: 0 when nothing failed (cases skipped because this machine cannot
# run them, e.g. not root or no /dev/kvm, count as skipped), 1 otherwise.
set -u -o pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd -- "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=libvirt-env.sh
. "$HERE/libvirt-env.sh"

PREFIX=${PREFIX:-/usr/local}
HOOKDIR=${HOOKDIR:-/etc/libvirt/hooks/qemu.d}
LIBEXECDIR=$PREFIX/libexec/vmprep
PROFILEDIR=$PREFIX/share/vmprep/profiles

HP_GLOBAL=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
RUNDIR=/run/vmprep
VM_PREFIX=vmprep-e2e-
META='<vmprep:profile xmlns:vmprep="urn:vmprep:1"><vmprep:hugepages/></vmprep:profile>'
META_BAD='<vmprep:profile xmlns:vmprep="urn:vmprep:1"><vmprep:hugepages size="2X"/></vmprep:profile>'
NEED=128 # pages of a 256 MiB VM

CASES=(
    "a:tagged VM from an empty pool, virsh destroy"
    "b:tagged VM from an empty pool, virsh shutdown"
    "c:two tagged VMs started at the same moment"
    "d:an administrator's pool survives a VM's start and stop"
    "e:untagged hugepages VM: the pool is left alone"
    "f:a need larger than the machine fails with 'cannot reserve'"
    "g:a bad profile value (size=2X) fails the start"
    "i:a damaged ledger under a running VM: starts refused; destroy gives its pages back and its release rebuilds the ledger from the journals; reconcile finds nothing more; the next VM starts"
    "h:no journal or ledger entry is left for the test VMs"
)

passed=0
failed=0
skipped=0
case_no=0
interrupted=no
we_started_libvirtd=no
declare -A hp_orig=()  # sysfs nr_hugepages file -> value found
hp_global_orig=""
declare -a uuids=()    # every UUID of a VM this run defined
declare -a vms=()      # every VM this run defined
declare -a timings=()  # "what=ms"
declare -a diags=()    # what differed in the current case
OUT=$(mktemp -d /tmp/vmprep-e2e.XXXXXX) || exit 1

# ---- helpers -------------------------------------------------------------------

diag() { diags+=("$*"); }

timing() { timings+=("$1=$2"); }

# virsh with a time limit, so that a hanging hook cannot hang the suite.
vsh() {
    local limit=$1
    shift
    timeout "$limit" virsh -c "$LV_URI" "$@"
}

meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }

pool() { meminfo HugePages_Total; }

node_files() {
    local f
    for f in /sys/devices/system/node/node[0-9]*/hugepages/hugepages-2048kB/nr_hugepages; do
        [[ -e $f ]] && printf '%s\n' "$f"
    done
}

# wait_pool WANT TIMEOUT_MS: 0 once HugePages_Total is WANT; prints the ms it took.
wait_pool() {
    local want=$1 limit=$2 t0 now
    t0=$(lv_now_ms)
    while :; do
        now=$(lv_now_ms)
        if [[ $(pool) == "$want" ]]; then
            printf '%s\n' "$((now - t0))"
            return 0
        fi
        ((now - t0 >= limit)) && return 1
        sleep 0.02
    done
}

# expect_pool WANT WHEN [TIMEOUT_MS] [TIMING_NAME]
expect_pool() {
    local want=$1 when=$2 limit=${3:-0} name=${4:-} ms
    if ms=$(wait_pool "$want" "$limit"); then
        [[ -n $name ]] && timing "$name" "$ms"
        return 0
    fi
    diag "$when: HugePages_Total is $(pool), expected $want" \
        "(nr_hugepages $(cat "$HP_GLOBAL"), free $(meminfo HugePages_Free), surplus $(meminfo HugePages_Surp))"
    return 1
}

# set_pool N: the administrator's pool (2 MiB pages) becomes exactly N.
set_pool() {
    local want=$1
    for _ in $(seq 50); do
        echo "$want" >"$HP_GLOBAL" 2>/dev/null
        [[ $(cat "$HP_GLOBAL") == "$want" && $(pool) == "$want" ]] && return 0
        sleep 0.1
    done
    diag "cannot set the pool to $want: nr_hugepages $(cat "$HP_GLOBAL"), HugePages_Total $(pool)"
    return 1
}

# define NAME MEM_MIB METADATA HUGEPAGES: define a fresh test VM, remember it.
define() {
    local name=$1 uuid
    lv_cleanup_vm "$name"
    vms+=("$name")
    if ! lv_define_vm "$name" "$2" "" "$3" "$4" 2>"$OUT/define.err"; then
        diag "cannot define $name: $(tr '\n' ' ' <"$OUT/define.err")"
        return 1
    fi
    uuid=$(uuid_of "$name")
    if [[ ! $uuid =~ ^[0-9a-f-]{36}$ ]]; then
        diag "no UUID for $name ('$uuid')"
        return 1
    fi
    uuids+=("$uuid")
}

# first_line: stdin's first line, reading all of it (virsh, piped into
# `head -n 1`, can die of SIGPIPE on its trailing empty line, and pipefail
# then fails the pipeline).
first_line() {
    local all
    all=$(cat)
    printf '%s\n' "${all%%$'\n'*}"
}

uuid_of() { lv_virsh domuuid "$1" 2>/dev/null | first_line; }

domstate() { lv_virsh domstate "$1" 2>&1 | first_line; }

journal_of() { printf '%s\n' "$RUNDIR/$1.hugepages.journal"; }

# start NAME [TIMING_NAME]: virsh start, must reach "running".
start() {
    local name=$1 t0 ms
    t0=$(lv_now_ms)
    if ! vsh 30 start "$name" >"$OUT/start.out" 2>&1; then
        diag "virsh start $name failed: $(tr '\n' ' ' <"$OUT/start.out")"
        return 1
    fi
    ms=$(($(lv_now_ms) - t0))
    [[ -n ${2:-} ]] && timing "$2" "$ms"
    if ! lv_wait_state "$name" running 5 2>/dev/null; then
        diag "$name is '$(domstate "$name")' after virsh start, not 'running'"
        return 1
    fi
}

# start_must_fail NAME: virsh start must fail; its output is in $OUT/start.out.
start_must_fail() {
    local name=$1
    if vsh 60 start "$name" >"$OUT/start.out" 2>&1; then
        diag "virsh start $name succeeded; it should have failed"
        return 1
    fi
    local state
    state=$(domstate "$name")
    if [[ $state != "shut off" ]]; then
        diag "$name is '$state' after its failed start, not 'shut off'"
        return 1
    fi
}

destroy() {
    local name=$1 t0
    t0=$(lv_now_ms)
    if ! vsh 30 destroy "$name" >"$OUT/destroy.out" 2>&1; then
        diag "virsh destroy $name failed: $(tr '\n' ' ' <"$OUT/destroy.out")"
        return 1
    fi
    [[ -n ${2:-} ]] && timing "$2" "$(($(lv_now_ms) - t0))"
    if ! lv_wait_state "$name" "shut off" 5 2>/dev/null; then
        diag "$name is not shut off after virsh destroy"
        return 1
    fi
}

expect_journal() {
    local uuid=$1 when=$2
    [[ -f $(journal_of "$uuid") ]] && return 0
    diag "$when: no journal $(journal_of "$uuid")"
    return 1
}

expect_no_journal() {
    local uuid=$1 when=$2 f found=()
    for f in "$RUNDIR/$uuid".*.journal; do
        [[ -e $f ]] && found+=("$f")
    done
    ((${#found[@]} == 0)) && return 0
    diag "$when: journal left: ${found[*]}"
    return 1
}

expect_output() {
    local want=$1
    grep -qF -- "$want" "$OUT/start.out" && return 0
    diag "virsh's error does not contain '$want': $(tr '\n' ' ' <"$OUT/start.out")"
    return 1
}

# ---- cases ---------------------------------------------------------------------
# Each returns 0 (pass) or 1 (fail, with diag lines); its VMs are undefined at
# the end of the case, or by the EXIT trap.

case_a() {
    local vm=${VM_PREFIX}a uuid ok=0
    set_pool 0 || return 1
    define "$vm" 256 "$META" yes || return 1
    uuid=$(uuid_of "$vm")
    start "$vm" start_a || return 1
    expect_pool $NEED "while running" 0 || ok=1
    expect_journal "$uuid" "while running" || ok=1
    destroy "$vm" destroy_a || ok=1
    expect_pool 0 "after virsh destroy" 5000 pool_back_after_destroy_a || ok=1
    expect_no_journal "$uuid" "after virsh destroy" || ok=1
    lv_cleanup_vm "$vm"
    return "$ok"
}

case_b() {
    local vm=${VM_PREFIX}b uuid ok=0 t0
    set_pool 0 || return 1
    define "$vm" 256 "$META" yes || return 1
    uuid=$(uuid_of "$vm")
    start "$vm" start_b || return 1
    expect_pool $NEED "while running" 0 || ok=1
    t0=$(lv_now_ms)
    if ! lv_wait_booted "$vm" 15 2>/dev/null; then
        diag "the guest did not arm the ACPI button within 15 s"
        return 1
    fi
    timing guest_ready_b "$(($(lv_now_ms) - t0))"
    t0=$(lv_now_ms)
    if ! vsh 30 shutdown "$vm" >"$OUT/shutdown.out" 2>&1; then
        diag "virsh shutdown failed: $(tr '\n' ' ' <"$OUT/shutdown.out")"
        return 1
    fi
    if ! lv_wait_state "$vm" "shut off" 10 2>/dev/null; then
        diag "$vm did not power off within 10 s of virsh shutdown"
        return 1
    fi
    timing shutdown_b "$(($(lv_now_ms) - t0))"
    expect_pool 0 "after virsh shutdown" 5000 pool_back_after_shutdown_b || ok=1
    expect_no_journal "$uuid" "after virsh shutdown" || ok=1
    lv_cleanup_vm "$vm"
    return "$ok"
}

case_c() {
    local vm1=${VM_PREFIX}c1 vm2=${VM_PREFIX}c2 ok=0 p1 p2 rc1=0 rc2=0 t0 u1 u2 before
    set_pool 0 || return 1
    before=$(pool)
    define "$vm1" 256 "$META" yes || return 1
    define "$vm2" 256 "$META" yes || return 1
    u1=$(uuid_of "$vm1")
    u2=$(uuid_of "$vm2")
    t0=$(lv_now_ms)
    vsh 30 start "$vm1" >"$OUT/c1.out" 2>&1 &
    p1=$!
    vsh 30 start "$vm2" >"$OUT/c2.out" 2>&1 &
    p2=$!
    wait "$p1" || rc1=$?
    wait "$p2" || rc2=$?
    timing start_both_c "$(($(lv_now_ms) - t0))"
    ((rc1 == 0)) || diag "virsh start $vm1 failed ($rc1): $(tr '\n' ' ' <"$OUT/c1.out")"
    ((rc2 == 0)) || diag "virsh start $vm2 failed ($rc2): $(tr '\n' ' ' <"$OUT/c2.out")"
    if ((rc1 != 0 || rc2 != 0)); then
        ok=1
    else
        for vm in "$vm1" "$vm2"; do
            if ! lv_wait_state "$vm" running 5 2>/dev/null; then
                diag "$vm is not running"
                ok=1
            fi
        done
        expect_pool $((before + 2 * NEED)) "while both run" 0 || ok=1
        expect_journal "$u1" "while both run" || ok=1
        expect_journal "$u2" "while both run" || ok=1
    fi
    destroy "$vm1" || ok=1
    destroy "$vm2" || ok=1
    expect_pool "$before" "after both were destroyed" 5000 || ok=1
    expect_no_journal "$u1" "after destroy" || ok=1
    expect_no_journal "$u2" "after destroy" || ok=1
    lv_cleanup_vm "$vm1"
    lv_cleanup_vm "$vm2"
    return "$ok"
}

case_d() {
    local vm=${VM_PREFIX}d admin=100 ok=0 node0=/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages
    set_pool $admin || return 1
    define "$vm" 256 "$META" yes || return 1
    start "$vm" start_d || return 1
    expect_pool $((admin + NEED)) "while running" 0 || ok=1
    if [[ $(node_files | wc -l) == 1 && $(cat "$node0") != $((admin + NEED)) ]]; then
        diag "while running: node0 nr_hugepages is $(cat "$node0"), expected $((admin + NEED))"
        ok=1
    fi
    destroy "$vm" || ok=1
    expect_pool $admin "after virsh destroy" 5000 || ok=1
    lv_cleanup_vm "$vm"
    return "$ok"
}

case_e() {
    local vm=${VM_PREFIX}e ok=0 uuid
    set_pool $NEED || return 1
    define "$vm" 256 "" yes || return 1
    uuid=$(uuid_of "$vm")
    start "$vm" start_untagged_e || return 1
    expect_pool $NEED "while running" 0 || ok=1
    if [[ $(meminfo HugePages_Free) != 0 ]]; then
        diag "while running: HugePages_Free is $(meminfo HugePages_Free); the VM should use all $NEED pages"
        ok=1
    fi
    expect_no_journal "$uuid" "while running" || ok=1
    destroy "$vm" || ok=1
    expect_pool $NEED "after virsh destroy" 1000 || ok=1
    lv_cleanup_vm "$vm"
    return "$ok"
}

case_f() {
    local vm=${VM_PREFIX}f ok=0 uuid before=10 t0
    set_pool $before || return 1
    define "$vm" 65536 "$META" yes || return 1
    uuid=$(uuid_of "$vm")
    t0=$(lv_now_ms)
    start_must_fail "$vm" || ok=1
    timing failed_start_f "$(($(lv_now_ms) - t0))"
    expect_output "cannot reserve" || ok=1
    expect_pool $before "after the failed start" 0 || ok=1
    expect_no_journal "$uuid" "after the failed start" || ok=1
    lv_cleanup_vm "$vm"
    return "$ok"
}

case_g() {
    local vm=${VM_PREFIX}g ok=0 uuid before=10
    set_pool $before || return 1
    define "$vm" 256 "$META_BAD" yes || return 1
    uuid=$(uuid_of "$vm")
    start_must_fail "$vm" || ok=1
    expect_output "Hook script execution failed" || ok=1
    expect_output "2X" || ok=1
    expect_pool $before "after the failed start" 0 || ok=1
    expect_no_journal "$uuid" "after the failed start" || ok=1
    lv_cleanup_vm "$vm"
    return "$ok"
}

case_i() {
    local vm=${VM_PREFIX}i vm2=${VM_PREFIX}i2 ok=0 uuid2 aside
    set_pool 0 || return 1
    define "$vm" 256 "$META" yes || return 1
    define "$vm2" 256 "$META" yes || return 1
    uuid2=$(uuid_of "$vm2")
    start "$vm" || return 1
    expect_pool $NEED "while $vm runs" 0 || ok=1
    local pre=() f
    for f in "$RUNDIR"/ledger.damaged-*; do [[ -e $f ]] && pre+=("$f"); done
    # one damaged checksum (a tenth hex digit) on the ledger's second line
    sed -i '2s/~0x\(.\)/~0x\1f/' "$RUNDIR/ledger"
    if "$REPO/build/vmprep" status >"$OUT/status.out" 2>&1; then
        diag "vmprep status exits 0 with a damaged ledger"
        ok=1
    fi
    grep -q "ledger is damaged (line 2)" "$OUT/status.out" || { diag "vmprep status says: $(tr '\n' ' ' <"$OUT/status.out")"; ok=1; }
    start_must_fail "$vm2" || ok=1
    expect_output "/run/vmprep/ledger is damaged (line 2), so what the running VMs hold is unknown: nothing was changed; run 'vmprep reconcile'" || ok=1
    expect_pool $NEED "after $vm2's failed start" 0 || ok=1
    destroy "$vm" || ok=1
    expect_pool 0 "after virsh destroy of $vm (damaged ledger)" 5000 || ok=1
    # the release rebuilt the ledger from the journals, keeping the damaged one
    aside=
    for f in "$RUNDIR"/ledger.damaged-*; do
        [[ -e $f && " ${pre[*]} " != *" $f "* ]] && aside=$f
    done
    if [[ -z $aside ]]; then
        diag "the release of $vm did not rebuild the damaged ledger (no $RUNDIR/ledger.damaged-*)"
        ok=1
    fi
    "$REPO/build/vmprep" reconcile >"$OUT/reconcile.out" 2>&1 || { diag "vmprep reconcile failed: $(tr '\n' ' ' <"$OUT/reconcile.out")"; ok=1; }
    if grep -q "damaged" "$OUT/reconcile.out"; then
        diag "after the release's rebuild, reconcile still found damage: $(tr '\n' ' ' <"$OUT/reconcile.out")"
        ok=1
    fi
    [[ -n $aside ]] && rm -f -- "$aside"
    start "$vm2" || ok=1
    expect_pool $NEED "while $vm2 runs after the reconcile" 0 || ok=1
    "$REPO/build/vmprep" status --json >"$OUT/status.out" 2>&1
    grep -qF "\"uuid\":\"$uuid2\",\"name\":\"$vm2\",\"resource\":\"hugepages/node0/2048kB\",\"amount\":$NEED}" "$OUT/status.out" \
        || { diag "vmprep status --json: $(cat "$OUT/status.out")"; ok=1; }
    destroy "$vm2" || ok=1
    expect_pool 0 "after virsh destroy of $vm2" 5000 || ok=1
    lv_cleanup_vm "$vm"
    lv_cleanup_vm "$vm2"
    return "$ok"
}

case_h() {
    local ok=0 f uuid name
    for f in "$RUNDIR"/*.journal; do
        [[ -e $f ]] || continue
        for uuid in "${uuids[@]}"; do
            if [[ $(basename -- "$f") == "$uuid".* ]]; then
                diag "journal of a test VM left: $f"
                ok=1
            fi
        done
        # "vmprep-journal 1 UUID CAP NAME": a test VM of an earlier run
        name=$(head -n 1 -- "$f" 2>/dev/null | awk '{ print $5 }')
        if [[ $name == "$VM_PREFIX"* ]]; then
            diag "journal of a test VM ($name) left: $f"
            ok=1
        fi
    done
    if [[ -f $RUNDIR/ledger ]]; then
        for uuid in "${uuids[@]}"; do
            if grep -qF -- "$uuid" "$RUNDIR/ledger"; then
                diag "the ledger still holds for $uuid: $(grep -F -- "$uuid" "$RUNDIR/ledger" | tr '\n' ' ')"
                ok=1
            fi
        done
    fi
    if ((${#uuids[@]} == 0)); then
        diag "no test VM was defined, nothing to check"
        ok=1
    fi
    return "$ok"
}

# ---- running -------------------------------------------------------------------

report() { # STATUS NAME [REASON]
    local status=$1 name=$2
    case_no=$((case_no + 1))
    case $status in
        ok)
            printf 'ok %d - %s\n' "$case_no" "$name"
            passed=$((passed + 1))
            ;;
        fail)
            printf 'not ok %d - %s\n' "$case_no" "$name"
            failed=$((failed + 1))
            ;;
        skip)
            printf 'ok %d - %s # SKIP %s\n' "$case_no" "$name" "$3"
            skipped=$((skipped + 1))
            ;;
    esac
}

skip_all() {
    local c
    for c in "${CASES[@]}"; do
        report skip "${c#*:}" "$1"
    done
}

run_cases() {
    local c id name line
    for c in "${CASES[@]}"; do
        id=${c%%:*}
        name=${c#*:}
        diags=()
        if "case_$id" 2>"$OUT/stderr"; then
            report ok "$name"
        else
            report fail "$name"
            for line in "${diags[@]}"; do
                printf '# %s\n' "$line"
            done
            while IFS= read -r line; do
                printf '# %s\n' "$line"
            done <"$OUT/stderr"
        fi
    done
}

remove_stale_vms() {
    local name
    while IFS= read -r name; do
        [[ $name == "$VM_PREFIX"* ]] && lv_cleanup_vm "$name"
    done < <(lv_virsh list --all --name 2>/dev/null)
}

restore_pool() {
    local f want now
    ((${#hp_orig[@]})) || return 0
    for _ in $(seq 50); do
        now=ok
        for f in "${!hp_orig[@]}"; do
            want=${hp_orig[$f]}
            [[ $(cat "$f") == "$want" ]] && continue
            echo "$want" >"$f" 2>/dev/null
            [[ $(cat "$f") == "$want" ]] || now=bad
        done
        if [[ $now == ok ]]; then
            [[ $(cat "$HP_GLOBAL") == "$hp_global_orig" ]] && return 0
            printf '# ERROR: nr_hugepages is %s after restoring the nodes, was %s\n' \
                "$(cat "$HP_GLOBAL")" "$hp_global_orig"
            return 1
        fi
        # pages of a QEMU that just exited may take a moment to come back
        sleep 0.1
    done
    for f in "${!hp_orig[@]}"; do
        printf '# ERROR: %s is %s, could not restore %s\n' "$f" "$(cat "$f")" "${hp_orig[$f]}"
    done
    return 1
}

cleanup() {
    local vm uuid f
    trap - EXIT INT TERM
    if ((${#vms[@]})); then
        for vm in "${vms[@]}"; do
            lv_cleanup_vm "$vm"
        done
    fi
    if lv_ping; then
        remove_stale_vms
    fi
    if ((failed > 0)) || [[ $interrupted == yes ]]; then
        for uuid in "${uuids[@]}"; do
            for f in "$RUNDIR/$uuid".*.journal; do
                if [[ -f $f && ! -L $f ]]; then
                    printf '# removing journal left by a test VM: %s\n' "$f"
                    rm -f -- "$f"
                fi
            done
        done
    fi
    # case i damages the ledger: never leave it so for whoever comes next
    if "$REPO/build/vmprep" status 2>&1 | grep -q "ledger is damaged"; then
        printf '# the ledger is still damaged: vmprep reconcile\n'
        "$REPO/build/vmprep" reconcile 2>&1 | sed 's/^/# /'
    fi
    if ! restore_pool; then
        failed=$((failed + 1))
    fi
    if [[ $we_started_libvirtd == yes ]]; then
        lv_down || printf '# warning: could not stop the libvirtd this run started\n'
    fi
    rm -rf -- "$OUT"
    if ((${#timings[@]})); then
        printf '# timings (ms): %s\n' "${timings[*]}"
    fi
    [[ $interrupted == yes ]] && printf '# interrupted\n'
    printf 'host: %d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped"
    if ((failed > 0)) || [[ $interrupted == yes ]]; then
        exit 1
    fi
    exit 0
}

on_signal() {
    interrupted=yes
    exit 1
}

trap cleanup EXIT
trap on_signal INT TERM

# ---- set-up ----------------------------------------------------------------------

skip_reason=""
if ((EUID != 0)); then
    skip_reason="not root"
elif [[ ! -e /dev/kvm ]]; then
    skip_reason="no /dev/kvm"
elif [[ ! -w $HP_GLOBAL ]]; then
    skip_reason="no 2 MiB hugepage pool ($HP_GLOBAL)"
else
    for cmd in virsh libvirtd virtlogd tini qemu-system-x86_64 timeout; do
        if ! command -v "$cmd" >/dev/null 2>&1; then
            skip_reason="'$cmd' not found (apt-get install --no-install-recommends libvirt-daemon-system libvirt-clients qemu-system-x86 tini)"
            break
        fi
    done
fi
if [[ -n $skip_reason ]]; then
    skip_all "$skip_reason"
    exit 0
fi

# One suite at a time drives this machine's libvirtd and hugepage pool.
lv_lock || { echo "not ok 1 - take /run/vmprep-libvirt.lock"; echo "host: 0 passed, 1 failed, 0 skipped"; exit 1; }

# setup_fail WHAT: the suite cannot run; the cases are skipped, the run fails.
setup_fail() {
    printf '# setup failed: %s\n' "$1"
    [[ -s $OUT/setup.log ]] && sed 's/^/#   /' "$OUT/setup.log" | tail -n 20
    failed=$((failed + 1))
    skip_all "setup failed"
    exit 1
}

# Build, and install only what differs from the build.
install_differs() {
    local f
    for f in "$REPO"/build/hooks/*; do
        cmp -s -- "$f" "$HOOKDIR/$(basename -- "$f")" || return 0
    done
    cmp -s -- "$REPO/build/vmprep-hook" "$LIBEXECDIR/vmprep-hook" || return 0
    for f in "$REPO"/profiles/*.xml "$REPO"/profiles/profile.rng; do
        cmp -s -- "$f" "$PROFILEDIR/$(basename -- "$f")" || return 0
    done
    return 1
}

t0=$(lv_now_ms)
installed=no
if [[ ${VMPREP_USE_INSTALLED:-0} == 1 ]]; then
    # test what a package installed (PREFIX=/usr ...), build nothing
    [[ -x $HOOKDIR/20-vmprep-hugepages && -x $LIBEXECDIR/vmprep-hook ]] ||
        setup_fail "VMPREP_USE_INSTALLED=1 but no vmprep in $HOOKDIR and $LIBEXECDIR"
    installed="the installed package's"
else
    make -C "$REPO" PREFIX="$PREFIX" HOOKDIR="$HOOKDIR" all >"$OUT/setup.log" 2>&1 || setup_fail "make all"
    if install_differs; then
        make -C "$REPO" PREFIX="$PREFIX" HOOKDIR="$HOOKDIR" install >"$OUT/setup.log" 2>&1 ||
            setup_fail "make install"
        installed=yes
    fi
fi
timing build_install "$(($(lv_now_ms) - t0))"

t0=$(lv_now_ms)
if lv_ping; then
    # Running already: it may not have seen the hooks (libvirtd rescans
    # qemu.d on SIGHUP); make install's own SIGHUP needs pidof.
    lv_hup 2>"$OUT/setup.log" || setup_fail "lv_hup"
else
    lv_up 2>"$OUT/setup.log" || setup_fail "lv_up"
    we_started_libvirtd=yes
fi
timing lv_up_or_hup "$(($(lv_now_ms) - t0))"
printf '# libvirtd pid %s (%s), vmprep %s\n' "$(lv_libvirtd_pid)" \
    "$([[ $we_started_libvirtd == yes ]] && echo "started by this run" || echo "already running")" \
    "$(case $installed in yes) echo "installed" ;; no) echo "already installed" ;; *) echo "$installed" ;; esac)"

if ! awk '$2 == "/dev/hugepages" && $3 == "hugetlbfs" { f = 1 } END { exit !f }' /proc/mounts; then
    setup_fail "no hugetlbfs on /dev/hugepages (libvirt needs it mounted before libvirtd starts)"
fi
if [[ ! -s $LV_BOOTSECTOR ]]; then
    lv_bootsector 2>"$OUT/setup.log" || setup_fail "lv_bootsector"
fi

remove_stale_vms

# From here on the EXIT trap restores the pool: per node where the kernel
# has per-node pools (a global write would spread the pages over the nodes
# anew), else the global count.
hp_global_orig=$(cat "$HP_GLOBAL")
while IFS= read -r f; do
    hp_orig[$f]=$(cat "$f")
done < <(node_files)
if ((${#hp_orig[@]} == 0)); then
    hp_orig[$HP_GLOBAL]=$hp_global_orig
fi
printf '# hugepage pool found: nr_hugepages %s (%s), HugePages_Total %s\n' "$hp_global_orig" \
    "$(for f in "${!hp_orig[@]}"; do
        n=${f#/sys/devices/system/node/}
        printf '%s=%s ' "${n%%/*}" "${hp_orig[$f]}"
    done)" "$(pool)"

run_cases
