#!/usr/bin/env bash
# shellcheck disable=SC2015  # t_ok never fails, so "cond && t_ok || t_fail" is an if/else
# shellcheck disable=SC2016  # bash -c scripts take their arguments as $1, $2
# 20-vmprep-hugepages driven as libvirt drives it (argv, domain XML on
# stdin, every phase) against fake kernel trees: pools on two nodes, the
# ledger and journals, SIGKILL at every crash point, failed appends,
# hostile state.  Uses the test build:
#   tests/hooks/hugepages.sh build/test
set -uo pipefail
here=$(cd -- "$(dirname -- "$0")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
B=${1:-build/test}
case $B in /*) ;; *) B=$repo/$B ;; esac
HOOK=$B/hooks/20-vmprep-hugepages
T_SUITE=hugepages-hooks
# shellcheck source=tests/lib.sh
. "$repo/tests/lib.sh"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}

[ -x "$HOOK" ] || { echo "missing $HOOK (make $B/hooks/20-vmprep-hugepages)"; exit 1; }

# shellcheck source=tests/hooks/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/hooks/hp_tree.sh
. "$here/hp_tree.sh"
# every kernel file, byte for byte
SNAPSHOT=("bytes:sys")

# ---- cases ----

case_untagged_vm_costs_nothing() {
        hp_tree
        local x=$ROOT/x.xml; domain plain "$UUID_A" 512 "" > "$x"
        local before; before=$(snapshot)
        local op
        for op in "prepare begin" "start begin" "started begin" "stopped end" "release end" "reconnect begin" "migrate begin" "restore begin"; do
                # shellcheck disable=SC2086
                hook "$x" plain $op || { t_fail "untagged VM: every phase exits 0" "phase $op: $(cat "$ERR")"; return; }
                [ -s "$OUT" ] && { t_fail "untagged VM: every phase exits 0" "phase $op printed to stdout"; return; }
        done
        [ "$(snapshot)" = "$before" ] && [ ! -e "$ROOT/run/vmprep" ] && [ ! -s "$ROOT/.fake/writes.log" ] \
                && t_ok "untagged VM: every phase exits 0, prints nothing, touches nothing" \
                || t_fail "untagged VM: every phase exits 0, prints nothing, touches nothing" "the tree changed"
}

case_round_trip() {
        hp_tree
        set_pool $P0 30
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" 512 "$TAG" "<numatune><memory nodeset='0'/></numatune>" > "$x"
        hook "$x" vm1 prepare begin || { t_fail "prepare/release round trip" "prepare: $(cat "$ERR")"; return; }
        [ "$(pool $P0)" = 286 ] || { t_fail "prepare/release round trip" "pool after prepare: $(pool $P0), want 286"; return; }
        [ -s "$OUT" ] && { t_fail "prepare/release round trip" "prepare printed to stdout"; return; }
        hook "$x" vm1 start begin && hook "$x" vm1 started begin && hook "$x" vm1 reconnect begin \
                || { t_fail "prepare/release round trip" "start/started/reconnect failed: $(cat "$ERR")"; return; }
        [ "$(pool $P0)" = 286 ] || { t_fail "prepare/release round trip" "reconnect changed the pool"; return; }
        stop_phases "$x" vm1
        [ "$(pool $P0)" = 30 ] && [ ! -e "$ROOT/run/vmprep/$UUID_A.hugepages.journal" ] \
                && t_ok "prepare/release round trip: +256 while running, back to the administrator's 30, no journal" \
                || t_fail "prepare/release round trip" "pool after release: $(pool $P0), want 30"
        local ev=$ROOT/run/vmprep/events.log
        grep -q "vm1: reserved 256 x 2 MiB pages on node 0: /$P0 30 -> 286" "$ev" \
                && grep -q "vm1: gave back 256: /$P0 286 -> 30" "$ev" \
                && t_ok "events.log says what was reserved and given back, with the file and both values" \
                || t_fail "events.log records the round trip" "$(cat "$ev" 2>&1)"
}

# The hook binary takes its capability from its name: renumbered by an
# administrator (05-vmprep-hugepages) it acts as hugepages; a copy beside it
# (NAME.dpkg-new while dpkg unpacks the package, .bak) does nothing, since
# libvirt runs the hook itself too.
case_hook_names() {
        hp_tree
        set_pool $P0 30
        local x=$ROOT/x.xml fails=() h
        domain vm1 "$UUID_A" 512 "$TAG" "<numatune><memory nodeset='0'/></numatune>" > "$x"
        mkdir -p "$ROOT/qemu.d"
        for h in 20-vmprep-hugepages.dpkg-new 20-vmprep-hugepages.bak 05-vmprep-hugepages; do ln -f "$HOOK" "$ROOT/qemu.d/$h"; done
        for h in 20-vmprep-hugepages.dpkg-new 20-vmprep-hugepages.bak; do
                HOOK=$ROOT/qemu.d/$h hook "$x" vm1 prepare begin || fails+=("$h: prepare exit $?: $(cat "$ERR")")
                [ -s "$ERR" ] && fails+=("$h said: $(cat "$ERR")")
                [ "$(pool $P0)" = 30 ] || fails+=("$h changed the pool to $(pool $P0)")
        done
        HOOK=$ROOT/qemu.d/05-vmprep-hugepages hook "$x" vm1 prepare begin || fails+=("05-vmprep-hugepages: $(cat "$ERR")")
        [ "$(pool $P0)" = 286 ] || fails+=("05-vmprep-hugepages: pool $(pool $P0), want 286")
        HOOK=$ROOT/qemu.d/05-vmprep-hugepages stop_phases "$x" vm1
        [ "$(pool $P0)" = 30 ] || fails+=("05-vmprep-hugepages release: pool $(pool $P0), want 30")
        [ ${#fails[@]} -eq 0 ] \
                && t_ok "hook names: 05-vmprep-hugepages acts as hugepages (+256, then back to 30); 20-vmprep-hugepages.dpkg-new and .bak copies do nothing, silently" \
                || t_fail "hook names" "${fails[@]}"
}

case_migrate_restore_print_nothing() {
        hp_tree
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" 512 "$TAG" > "$x"
        hook "$x" vm1 migrate begin - && [ ! -s "$OUT" ] && hook "$x" vm1 restore begin - && [ ! -s "$OUT" ] \
                && [ ! -s "$ROOT/.fake/writes.log" ] \
                && t_ok "migrate and restore of a tagged VM: exit 0, stdout empty (libvirt would take it as XML)" \
                || t_fail "migrate and restore print nothing" "stdout: $(cat "$OUT")" "stderr: $(cat "$ERR")"
}

case_untagged_while_running_is_still_released() {
        hp_tree
        local x=$ROOT/x.xml y=$ROOT/y.xml
        domain vm1 "$UUID_A" 256 "$TAG" > "$x"
        domain vm1 "$UUID_A" 256 "" > "$y"      # `virsh metadata --remove --live` while it runs
        hook "$x" vm1 prepare begin || { t_fail "untagged while running" "$(cat "$ERR")"; return; }
        stop_phases "$y" vm1
        [ "$(pool $P0)" = 0 ] && [ "$(pool $P1)" = 0 ] \
                && t_ok "a VM untagged while running is still released (journal found by UUID)" \
                || t_fail "a VM untagged while running is still released" "pools: $(pool $P0) $(pool $P1)"
}

case_bad_profile_fails_and_names_value() {
        hp_tree
        local x=$ROOT/x.xml
        domain vm1 "$UUID_A" 256 "<vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:hugepages size='2X'/></vmprep:profile>" > "$x"
        if hook "$x" vm1 prepare begin; then t_fail "bad profile value fails prepare" "exit 0"; return; fi
        stop_phases "$x" vm1
        grep -q "size='2X'" "$ERR" 2>/dev/null; local named=$?
        # stop_phases overwrote ERR; run prepare again for the message
        hook "$x" vm1 prepare begin; grep -q "<vmprep:hugepages size='2X'>" "$ERR" && [ ! -s "$ROOT/.fake/writes.log" ] \
                && t_ok "a bad profile value fails prepare, the message names element, attribute and value, nothing written" \
                || t_fail "bad profile value" "stderr: $(cat "$ERR")" "named=$named"
}

case_no_backing_says_what_to_add() {
        hp_tree
        local x=$ROOT/x.xml
        printf "<domain><name>vm1</name><uuid>%s</uuid><memory unit='MiB'>256</memory><metadata>%s</metadata></domain>" "$UUID_A" "$TAG" > "$x"
        if hook "$x" vm1 prepare begin; then t_fail "profile without hugepage backing" "exit 0"; return; fi
        grep -q "<memoryBacking><hugepages><page size='2048' unit='KiB'/></hugepages></memoryBacking>" "$ERR" \
                && t_ok "a profile asking for hugepages on a domain without backing fails with the XML to add" \
                || t_fail "profile without hugepage backing" "$(cat "$ERR")"
}

case_test_build_refuses_without_root() {
        hp_tree
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" 256 "$TAG" > "$x"
        if env -u VMPREP_ROOT "$HOOK" vm1 prepare begin - < "$x" > "$OUT" 2> "$ERR"; then
                t_fail "test build refuses to touch the real host without VMPREP_ROOT" "exit 0"
        elif grep -q "VMPREP_ROOT is not set" "$ERR"; then
                t_ok "the test build refuses to touch this machine when VMPREP_ROOT is unset"
        else
                t_fail "test build refuses without VMPREP_ROOT" "$(cat "$ERR")"
        fi
}

# SIGKILL at every crash point of prepare (after each kernel write, journal
# append and ledger update); libvirt then runs stopped+release; the tree
# must be exactly as before.  Then the same for release itself.
# crash_vm_short: vm1 interleaved over two nodes short of pages (node 1
# grows its pool after a compaction)
crash_vm_short() {
        hp_tree
        set_pool $P0 12
        set_pool $P1 1
        echo 300 > "$ROOT/.fake/node1-2048kB.max"
        echo 100 > "$ROOT/.fake/node1.compact-gain"
        domain vm1 "$UUID_A" 1024 "$TAG" "<numatune><memory mode='interleave' nodeset='0-1'/></numatune>" > "$ROOT/x.xml"
}
# crash_vm: vm1 interleaved over two nodes, 5 pages in the pools
crash_vm() {
        hp_tree
        set_pool $P0 5
        domain vm1 "$UUID_A" 512 "$TAG" "<numatune><memory mode='interleave' nodeset='0-1'/></numatune>" > "$ROOT/x.xml"
}
case_crash_at_every_point() {
        crash_sweep -m 200 -c crash_no_journal crash_vm_short vm1 prepare begin
        crash_verdict 5 "SIGKILL at each of $CRASHED crash points of prepare, then stopped+release: the tree is exactly as before" \
                "SIGKILL at each crash point of prepare"
        crash_sweep -m 200 crash_vm vm1 release end
        crash_verdict 3 "SIGKILL at each of $CRASHED crash points of release, then release again: exactly as before, never subtracted twice" \
                "SIGKILL at each crash point of release"
}

# Every append to the journal or the ledger of a prepare (then of a
# release) fails in turn (EIO), or is cut short (a full disk): the hook
# says why, and libvirt's stopped+release (a second release) leave the
# pools exactly as before with no journal left: no pages that nobody gives
# back, no torn line that a later append joins into a damaged middle line.
# append_faults PHASE: PHASE (prepare or release) runs with the fault
append_faults() {
        local phase=$1 k mode fails=() tried=0
        for mode in fail short; do
                for ((k = 1; k <= 100; k++)); do
                        hp_tree
                        set_pool $P0 12
                        local x=$ROOT/x.xml
                        domain vm1 "$UUID_A" 512 "$TAG" "<numatune><memory mode='interleave' nodeset='0-1'/></numatune>" > "$x"
                        local before; before=$(snapshot)
                        if [ "$phase" = release ]; then
                                hook "$x" vm1 prepare begin || { fails+=("prepare: $(cat "$ERR")"); break; }
                        fi
                        local spec=$k; [ $mode = short ] && spec=$k:short
                        VMPREP_TEST_FAIL_APPEND=$spec "$HOOK" vm1 "$phase" begin - < "$x" > "$OUT" 2> "$ERR"
                        local st=$?
                        grep -q "test fault: append $k " "$ERR" || { stop_phases "$x" vm1; break; }
                        tried=$((tried + 1))
                        if [ $st != 0 ] && ! grep -q "vmprep-hugepages: vm1: " "$ERR"; then
                                fails+=("$phase append $k $mode: failed without saying why: $(head -c 300 "$ERR")")
                        fi
                        stop_phases "$x" vm1
                        [ "$(snapshot)" = "$before" ] || fails+=("$phase append $k $mode: pools after release: $(pool $P0) $(pool $P1), want 12 0: $(cat "$ERR")")
                        ls "$ROOT/run/vmprep/"*.journal >/dev/null 2>&1 && fails+=("$phase append $k $mode: a journal is left: $(cat "$ERR")")
                done
        done
        if [ ${#fails[@]} -eq 0 ] && [ $tried -ge 4 ]; then
                t_ok "each of $tried journal/ledger appends of $phase failing or cut short, then libvirt's stopped+release: pools exactly restored, no journal left"
        else
                t_fail "failed or short appends during $phase" "${fails[@]:0:6}" "tried=$tried"
        fi
}
case_failed_appends_leave_nothing() {
        append_faults prepare
        append_faults release
}

# One damaged checksum in the ledger under a running VM: the next tagged
# start fails saying what to run; the first release after the damage (the
# refused start's own) rebuilds the ledger from the journals, keeping the
# damaged file aside, so the running VM's release gives its pages back and
# the next VM starts with no `vmprep reconcile`.  The same for a ledger cut
# to 0 bytes.  With a journal that cannot be read the ledger cannot be
# rebuilt: the release gives back exactly what its own journal added
# (saying so), and `vmprep reconcile` rebuilds it once that journal is dealt
# with.
case_damaged_ledger() {
        local how fails=()
        for how in checksum empty unreadable-journal; do
                hp_tree
                local x=$ROOT/x.xml y=$ROOT/y.xml z=$ROOT/z.xml L=$ROOT/run/vmprep/ledger
                local bad=$ROOT/run/vmprep/0b6e2f58-8c5c-4c1e-9a57-3f1c2b4d5e09.hugepages.journal
                domain vm1 "$UUID_A" 512 "$TAG" "<numatune><memory nodeset='0'/></numatune>" > "$x"
                domain vm2 "$UUID_B" 256 "$TAG" "<numatune><memory nodeset='0'/></numatune>" > "$y"
                domain vm3 0a6e2f58-8c5c-4c1e-9a57-3f1c2b4d5e03 256 "$TAG" "<numatune><memory nodeset='0'/></numatune>" > "$z"
                hook "$x" vm1 prepare begin && hook "$z" vm3 prepare begin || { fails+=("$how: prepare: $(cat "$ERR")"); continue; }
                # vm3 runs (libvirt's status file, QEMU's pid alive); vm1 will stop
                mkdir -p "$ROOT/run/libvirt/qemu" "$ROOT/proc/$$"
                printf "<domstatus state='running' pid='%s'>%s</domstatus>\n" "$$" "$(cat "$z")" > "$ROOT/run/libvirt/qemu/vm3.xml"
                if [ $how = empty ]; then : > "$L"; else sed -i '2s/~0x\(.\)/~0x\1f/' "$L"; fi
                [ $how = unreadable-journal ] && unreadable_journal "$ROOT" > /dev/null
                if hook "$y" vm2 prepare begin; then
                        fails+=("$how: a tagged start with a damaged ledger succeeded")
                else
                        grep -q "/run/vmprep/ledger is damaged (line [12]), so what the running VMs hold is unknown: nothing was changed; run 'vmprep reconcile'" "$ERR" \
                                || fails+=("$how: the failed start says: $(cat "$ERR")")
                fi
                [ "$(pool $P0)" = 384 ] || fails+=("$how: the failed start changed the pool: $(pool $P0)")
                hook "$y" vm2 stopped end; hook "$y" vm2 release end
                if [ $how != unreadable-journal ]; then
                        grep -q "/run/vmprep/ledger was damaged (line [12]): rebuilt it from the 2 journals in /run/vmprep and kept the damaged file as /run/vmprep/ledger.damaged-" "$ERR" \
                                || fails+=("$how: vm2's release says: $(cat "$ERR")")
                        ls "$ROOT"/run/vmprep/ledger.damaged-* >/dev/null 2>&1 || fails+=("$how: the damaged ledger was not kept")
                fi
                hook "$x" vm1 stopped end; hook "$x" vm1 release end; local st=$?
                [ "$(pool $P0)" = 128 ] || fails+=("$how: vm1's release left the pool at $(pool $P0), want 128: $(cat "$ERR")")
                [ -e "$ROOT/run/vmprep/$UUID_A.hugepages.journal" ] && fails+=("$how: vm1's journal is left")
                [ $st = 0 ] || fails+=("$how: vm1's release exited $st: $(cat "$ERR")")
                if [ $how = unreadable-journal ]; then
                        grep -q "unknown: gave back this VM's pages from its journal; run 'vmprep reconcile'" "$ERR" \
                                || fails+=("$how: vm1's release says: $(cat "$ERR")")
                        ls "$ROOT"/run/vmprep/ledger.damaged-* >/dev/null 2>&1 && fails+=("$how: a ledger rebuilt without the journal it could not read")
                        rm -f "$bad"
                        "$B/vmprep" reconcile --offline > "$OUT" 2> "$ERR" || fails+=("$how: reconcile exited $?: $(cat "$OUT" "$ERR")")
                        grep -q "the ledger was damaged (line 2): moved aside as /run/vmprep/ledger.damaged-" "$OUT" \
                                || fails+=("$how: reconcile says: $(cat "$OUT" "$ERR")")
                fi
                "$B/vmprep" reconcile --offline > "$OUT" 2> "$ERR" || fails+=("$how: reconcile exited $?: $(cat "$OUT" "$ERR")")
                grep -q "Unknown error" "$OUT" "$ERR" && fails+=("$how: reconcile says: $(cat "$ERR")")
                "$B/vmprep" status --json > "$OUT" 2> "$ERR"
                grep -q '"uuid":"0a6e2f58-8c5c-4c1e-9a57-3f1c2b4d5e03","name":"vm3","resource":"hugepages/node0/2048kB","amount":128}' "$OUT" \
                        && grep -q '"ledger_damaged":false' "$OUT" \
                        || fails+=("$how: after the rebuild, status: $(cat "$OUT" "$ERR")")
                hook "$y" vm2 prepare begin || fails+=("$how: vm2 after the rebuild: $(cat "$ERR")")
                [ "$(pool $P0)" = 256 ] || fails+=("$how: pool with vm2 and vm3: $(pool $P0), want 256")
                stop_phases "$y" vm2; stop_phases "$z" vm3
                [ "$(pool $P0)" = 0 ] || fails+=("$how: pool after all stopped: $(pool $P0)")
        done
        if [ ${#fails[@]} -eq 0 ]; then
                t_ok "a damaged ledger (bad checksum, or 0 bytes): starts refused saying 'run vmprep reconcile'; the next release rebuilds it from the journals (the damaged file kept), the running VM's pages come back at its release, the next VM starts; with a journal it cannot read, the release gives back from its own journal and reconcile rebuilds"
        else
                t_fail "damaged ledger" "${fails[@]:0:8}"
        fi
}

# A crash between creating a journal and writing its header (0 bytes, or a
# header cut short) left a file every later start and release refused: it
# holds no step, so it is removed, saying so, and the VM starts.
case_journal_cut_before_its_header() {
        local how fails=()
        for how in empty torn; do
                hp_tree
                local x=$ROOT/x.xml j=$ROOT/run/vmprep/$UUID_A.hugepages.journal
                domain vm1 "$UUID_A" 512 "$TAG" "<numatune><memory nodeset='0'/></numatune>" > "$x"
                mkdir -p "$ROOT/run/vmprep"; chmod 700 "$ROOT/run/vmprep"
                if [ $how = empty ]; then : > "$j"; else printf "vmprep-journal 1 %s hug" "$UUID_A" > "$j"; fi
                chmod 600 "$j"
                "$B/vmprep" plan "$x" > "$OUT" 2> "$ERR" || fails+=("$how: plan exited $?: $(cat "$ERR")")
                hook "$x" vm1 prepare begin || fails+=("$how: prepare: $(cat "$ERR")")
                grep -q "a journal whose creation was cut short (no header, no step): removed" "$ERR" || fails+=("$how: prepare says: $(cat "$ERR")")
                [ "$(pool $P0)" = 256 ] || fails+=("$how: pool $(pool $P0), want 256")
                stop_phases "$x" vm1
                [ "$(pool $P0)" = 0 ] && [ ! -e "$j" ] || fails+=("$how: after release: pool $(pool $P0), journal $(ls "$j" 2>&1)")
        done
        if [ ${#fails[@]} -eq 0 ]; then
                t_ok "a journal cut before its header (0 bytes, or a torn header line): plan and prepare go on, the file removed with a warning, release exact"
        else
                t_fail "journal cut before its header" "${fails[@]:0:6}"
        fi
}

# A crash of one VM's prepare must be finished by the NEXT VM's hook that
# takes the ledger (the pending slot), not confuse its counts.
case_crash_then_other_vm() {
        hp_tree
        local x=$ROOT/x.xml y=$ROOT/y.xml
        domain vm1 "$UUID_A" 512 "$TAG" "<numatune><memory nodeset='0'/></numatune>" > "$x"
        domain vm2 "$UUID_B" 256 "$TAG" "<numatune><memory nodeset='0'/></numatune>" > "$y"
        # crash point 3 = after vm1's pool write (journal S, ledger pending, write)
        crash_at 3 "$x" vm1 prepare begin
        local st=$?
        hook "$y" vm2 prepare begin || { t_fail "crash then another VM" "vm2 prepare: $(cat "$ERR")"; return; }
        local mid; mid=$(pool $P0)
        stop_phases "$x" vm1
        local after_vm1; after_vm1=$(pool $P0)
        stop_phases "$y" vm2
        if [ $st -eq 137 ] && [ "$mid" = 384 ] && [ "$after_vm1" = 128 ] && [ "$(pool $P0)" = 0 ]; then
                t_ok "a prepare killed mid-write is accounted by the next VM's hook; both release exactly"
        else
                t_fail "crash then another VM" "status $st, pool with both $mid (want 384), after vm1 $after_vm1 (want 128), end $(pool $P0)"
        fi
}

case_concurrent_prepares_are_serialized() {
        hp_tree
        local i pids=() n=8
        for i in $(seq 1 $n); do
                domain "vm$i" "0a6e2f58-8c5c-4c1e-9a57-3f1c2b4d5f0$i" 256 "$TAG" "<numatune><memory nodeset='0'/></numatune>" > "$ROOT/vm$i.xml"
        done
        for i in $(seq 1 $n); do "$HOOK" "vm$i" prepare begin - < "$ROOT/vm$i.xml" > /dev/null 2>> "$ERR" & pids+=($!); done
        local bad=0; for i in "${pids[@]}"; do wait "$i" || bad=$((bad + 1)); done
        local mid; mid=$(pool $P0)
        pids=()
        for i in $(seq 1 $n); do "$HOOK" "vm$i" release end - < "$ROOT/vm$i.xml" > /dev/null 2>> "$ERR" & pids+=($!); done
        for i in "${pids[@]}"; do wait "$i" || bad=$((bad + 1)); done
        if [ $bad -eq 0 ] && [ "$mid" = $((n * 128)) ] && [ "$(pool $P0)" = 0 ]; then
                t_ok "$n prepares at once: pool exactly $((n * 128)); $n releases at once: exactly 0"
        else
                t_fail "concurrent prepares" "failures $bad, pool with all: $mid (want $((n * 128))), after: $(pool $P0)" "$(head -5 "$ERR")"
        fi
}

case_hostile_state() {
        local x
        hp_tree
        x=$ROOT/x.xml; domain vm1 "$UUID_A" 256 "$TAG" > "$x"
        # a symlink planted where the state directory should be
        mkdir -p "$ROOT/elsewhere"; ln -s "$ROOT/elsewhere" "$ROOT/run/vmprep"
        if hook "$x" vm1 prepare begin; then
                t_fail "a symlinked /run/vmprep is refused" "prepare succeeded"
        elif grep -q "not a directory owned by" "$ERR" && [ -z "$(ls "$ROOT/elsewhere")" ] && [ ! -s "$ROOT/.fake/writes.log" ]; then
                t_ok "a symlink planted at /run/vmprep is refused and nothing is written through it"
        else
                t_fail "a symlinked /run/vmprep is refused" "$(cat "$ERR")"
        fi

        hp_tree
        x=$ROOT/x.xml; domain vm1 "$UUID_A" 256 "$TAG" > "$x"
        hook "$x" vm1 prepare begin
        chmod 0666 "$ROOT/run/vmprep/$UUID_A.hugepages.journal"
        hook "$x" vm1 release end
        if grep -q "writable only by it" "$ERR" && [ "$(pool $P0)" = 64 ]; then
                t_ok "a world-writable journal is not trusted: release refuses it and says why"
        else
                t_fail "a world-writable journal is not trusted" "$(cat "$ERR")" "pool $(pool $P0)"
        fi

        hp_tree
        x=$ROOT/x.xml; domain vm1 "$UUID_A" 256 "$TAG" > "$x"
        hook "$x" vm1 prepare begin
        printf 'S 99 set - /etc/shadow x y ~0x00000000\n' >> "$ROOT/run/vmprep/$UUID_A.hugepages.journal"
        printf 'garbage\n' >> "$ROOT/run/vmprep/$UUID_A.hugepages.journal"
        hook "$x" vm1 reconnect begin; local st=$?
        if [ $st -eq 0 ] && grep -q "damaged" "$ERR"; then
                t_ok "a damaged journal: reconnect still exits 0 (libvirt would kill the VM) and says which line"
        else
                t_fail "damaged journal on reconnect" "status $st" "$(cat "$ERR")"
        fi
        hook "$x" vm1 release end
        grep -q /etc/shadow "$ROOT/.fake/writes.log" \
                && t_fail "a forged journal line is never acted on" "wrote /etc/shadow" \
                || t_ok "a forged journal line (bad checksum) is never acted on"
}

# A symlink planted in the kernel tree (a pool file pointing elsewhere) is
# never written through; a journal owned by another user is not trusted;
# and the hook leaves nothing behind that holds libvirt's pipes open.
case_hostile_tree_and_pipes() {
        local x
        hp_tree
        x=$ROOT/x.xml; domain vm1 "$UUID_A" 256 "$TAG" "<numatune><memory nodeset='0'/></numatune>" > "$x"
        echo precious > "$ROOT/victim"
        rm "$ROOT/$P0" && ln -s "$ROOT/victim" "$ROOT/$P0"
        hook "$x" vm1 prepare begin
        if [ "$(cat "$ROOT/victim")" = precious ]; then
                t_ok "a symlink planted at a kernel file is not written through (O_NOFOLLOW)"
        else
                t_fail "symlink in the fake sysfs" "victim now: $(cat "$ROOT/victim")"
        fi
        stop_phases "$x" vm1

        hp_tree
        x=$ROOT/x.xml; domain vm1 "$UUID_A" 256 "$TAG" > "$x"
        hook "$x" vm1 prepare begin
        chown 4242:4242 "$ROOT/run/vmprep/$UUID_A.hugepages.journal"
        hook "$x" vm1 release end
        if grep -q "not a regular file owned by uid 0" "$ERR" && [ "$(( $(pool "$P0") + $(pool "$P1") ))" = 128 ]; then
                t_ok "a journal owned by another user is refused, with the reason, and not acted on"
        else
                t_fail "journal owned by another user" "$(cat "$ERR")"
        fi

        hp_tree
        x=$ROOT/x.xml; domain vm1 "$UUID_A" 256 "$TAG" > "$x"
        # libvirtd reads the hook's stdout and stderr to EOF: a child left
        # holding them would hang the VM's start forever
        if timeout 20 bash -c '"$1" vm1 prepare begin - < "$2" 2>&1 | cat > /dev/null' _ "$HOOK" "$x" \
                && timeout 20 bash -c '"$1" vm1 release end - < "$2" 2>&1 | cat > /dev/null' _ "$HOOK" "$x"; then
                t_ok "stdout and stderr reach EOF when the hook exits (no child keeps libvirt waiting)"
        else
                t_fail "pipes reach EOF" "timed out"
        fi
}

# 1 GiB pages reserved at boot: the VM uses the free pages the pool had,
# promised in the ledger until started (QEMU has them), and leaves the pool.
case_boot_time_1g_pool() {
        hp_tree
        local g=sys/devices/system/node/node0/hugepages/hugepages-1048576kB x
        echo 2 > "$ROOT/$g/nr_hugepages"; echo 2 > "$ROOT/$g/free_hugepages"
        echo 2 > "$ROOT/.fake/node0-1048576kB.max"
        x=$ROOT/x.xml
        printf "<domain><name>vm1</name><uuid>%s</uuid><memory unit='GiB'>2</memory><memoryBacking><hugepages><page size='1' unit='G'/></hugepages></memoryBacking><numatune><memory nodeset='0'/></numatune><metadata>%s</metadata></domain>" \
                "$UUID_A" "<vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:hugepages compact='no'/></vmprep:profile>" > "$x"
        hook "$x" vm1 prepare begin || { t_fail "boot-time 1 GiB pool" "$(cat "$ERR")"; return; }
        local promised; promised=$(grep -c "hugepages-pool/0/1048576kB 2" "$ROOT/run/vmprep/ledger")
        hook "$x" vm1 start begin; hook "$x" vm1 started begin
        local after; after=$(grep -c "hugepages-pool" "$ROOT/run/vmprep/ledger")
        stop_phases "$x" vm1
        if [ "$promised" = 1 ] && [ "$after" = 0 ] && [ "$(cat "$ROOT/$g/nr_hugepages")" = 2 ] \
                && grep -q "and 2 of the 2 free pages the pool already had" "$ROOT/run/vmprep/events.log"; then
                t_ok "a 1 GiB VM uses the boot-time pool: promised at prepare, released at started, the pool left as it was"
        else
                t_fail "boot-time 1 GiB pool" "promised=$promised after-started=$after nr=$(cat "$ROOT/$g/nr_hugepages")" "$(cat "$ROOT/run/vmprep/events.log")"
        fi
        # the two free pages reserved by another program (a database's
        # hugetlbfs buffers): not this VM's to count on
        mkdir -p "$ROOT/sys/kernel/mm/hugepages/hugepages-1048576kB"
        echo 2 > "$ROOT/sys/kernel/mm/hugepages/hugepages-1048576kB/resv_hugepages"
        if hook "$x" vm1 prepare begin; then
                t_fail "free pages reserved by another program are not counted" "prepare succeeded: $(cat "$ERR")"
        elif grep -q "cannot reserve 2 x 1 GiB pages on node 0: got 0; node 0 has .* free; 2 free 1 GiB pages are reserved by running programs" "$ERR" \
                && ! grep -q "hugepages-pool" "$ROOT/run/vmprep/ledger" && [ "$(cat "$ROOT/$g/nr_hugepages")" = 2 ]; then
                t_ok "free 1 GiB pages that another program reserved are not counted: refused, saying so, nothing promised"
        else
                t_fail "free pages reserved by another program" "$(cat "$ERR")"
        fi
        stop_phases "$x" vm1
}

case_untagged_vm_costs_nothing
case_round_trip
case_hook_names
case_boot_time_1g_pool
case_migrate_restore_print_nothing
case_untagged_while_running_is_still_released
case_bad_profile_fails_and_names_value
case_no_backing_says_what_to_add
case_test_build_refuses_without_root
case_crash_at_every_point
case_crash_then_other_vm
case_failed_appends_leave_nothing
case_damaged_ledger
case_journal_cut_before_its_header
case_concurrent_prepares_are_serialized
case_hostile_state
case_hostile_tree_and_pipes
t_done
