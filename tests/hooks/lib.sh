# shellcheck shell=bash
# What the hook suites (tests/hooks/*.sh) share: one fake root at a time,
# a hook run as libvirt runs it, whole-tree snapshots, and the sweep over
# a hook's crash points.  Sourced after tests/lib.sh and before the tree
# builders (hp_tree.sh, pci_tree.sh, cpus_tree.sh, tune_tree.sh).  hook and
# the crash functions run $HOOK, which the suite sets.

# ROOT: the current fake root (VMPREP_ROOT); OUT, ERR: a hook's stdout and
# stderr; TMP_FILES: what is removed at exit besides the root (a suite adds
# its own scratch files)
ROOT=
OUT=$(mktemp) ERR=$(mktemp) CRASH_SH=$(mktemp)
TMP_FILES=("$OUT" "$ERR" "$CRASH_SH")
cleanup() { [ -n "$ROOT" ] && rm -rf "$ROOT"; }
trap 'cleanup; rm -rf "${TMP_FILES[@]}"' EXIT

# new_root NAME: a fresh, empty fake root /tmp/vmprep-NAME-XXXXXX in ROOT
# and VMPREP_ROOT (the last one removed), with run/ and the fake kernel's
# .fake/writes.log
new_root() {
        cleanup
        ROOT=$(mktemp -d "/tmp/vmprep-$1-XXXXXX")
        export VMPREP_ROOT=$ROOT
        mkdir -p "$ROOT/run" "$ROOT/.fake"
        : > "$ROOT/.fake/writes.log"
}
# rd PATH: a file of the fake root
rd() { cat "$ROOT/$1"; }

# hook XMLFILE NAME OP SUB: runs $HOOK as libvirt does (argv, the domain
# XML on stdin); stdout to $OUT, stderr to $ERR; returns its status
hook() { "$HOOK" "$2" "$3" "$4" - < "$1" > "$OUT" 2> "$ERR"; }
# stop_phases XMLFILE NAME: what libvirt runs after a VM stops (or after a
# failed start)
stop_phases() { hook "$1" "$2" stopped end; hook "$1" "$2" release end; }
# release_again XMLFILE NAME: the next release (or a reconcile) after one
# that was cut short
release_again() { hook "$1" "$2" release end; }

# snapshot [KIND:DIR[,DIR...]]...: the fake root as a test compares it
# before and after (by default what SNAPSHOT, set by the suite, says).
# DIRs are relative to the root (one that does not exist is left out).
#   text     every file's path, and its content as the kernel shows it (a
#            missing last newline is no difference; a cgroup's cgroup.procs
#            and tasks are sets of pids, in an order of the kernel's own)
#   bytes    every file's md5sum
#   entries  every entry's type, path and link target
#   modes    the same with each entry's mode
#   dirs     every directory
#   links    every symlink and its target
#   skip     these paths left out of every kind (a write-only trigger such
#            as proc/sys/vm/compact_memory, which holds no state)
SNAPSHOT=("bytes:sys")
snapshot() {
        [ $# -gt 0 ] || set -- "${SNAPSHOT[@]}"
        (cd "$ROOT" || exit 1
         prune=()
         for spec in "$@"; do
                [ "${spec%%:*}" = skip ] || continue
                IFS=, read -ra dirs <<< "${spec#*:}"
                for d in "${dirs[@]}"; do prune+=(${prune[0]+-o} -path "$d"); done
         done
         [ ${#prune[@]} -eq 0 ] || prune=('(' "${prune[@]}" ')' -prune -o)
         for spec in "$@"; do
                IFS=, read -ra dirs <<< "${spec#*:}"
                have=()
                for d in "${dirs[@]}"; do if [ -e "$d" ] || [ -L "$d" ]; then have+=("$d"); fi; done
                [ ${#have[@]} -gt 0 ] || continue
                case ${spec%%:*} in
                text)    files=$(find "${have[@]}" "${prune[@]}" -type f -print | sort)
                         echo "$files"
                         xargs -d '\n' -r awk '
                                function set_done() { if (set) close("sort -n"); set = 0 }
                                FNR == 1 { set_done(); print "== " FILENAME; fflush(); set = FILENAME ~ /(^|\/)(cgroup\.procs|tasks)$/ }
                                set { print | "sort -n"; next }
                                { print }
                                END { set_done() }' <<< "$files" ;;
                bytes)   find "${have[@]}" "${prune[@]}" -type f -print0 | sort -z | xargs -0 -r md5sum ;;
                entries) find "${have[@]}" "${prune[@]}" -printf '%y %p %l\n' | sort ;;
                modes)   find "${have[@]}" "${prune[@]}" -printf '%y %m %p %l\n' | sort ;;
                dirs)    find "${have[@]}" "${prune[@]}" -type d -print | sort ;;
                links)   find "${have[@]}" "${prune[@]}" -type l -printf '%p -> %l\n' | sort ;;
                skip)    ;;
                *)       echo "snapshot: no kind ${spec%%:*}" >&2; exit 2 ;;
                esac
         done)
}

# ---- crash points ----
# The test build kills a hook at its crash point K ($VMPREP_TEST_CRASH_AT):
# after the K-th kernel write, journal append or ledger update it says
# "vmprep: test crash point K (WHAT)" on stderr and raises SIGKILL.

# crash_at K XMLFILE NAME OP SUB: runs $HOOK as hook does, to crash point
# K; returns its status: 137 when it was killed, 0 when it ran to its end
# (K is past its last crash point).  A child shell runs it, so that this
# shell has no death to report: the child's report of the SIGKILL is the
# expected end and is dropped; anything else it says (the hook dying of
# another signal: "Segmentation fault", "Aborted") goes on to stderr.
crash_at() {
        local k=$1 st; shift
        VMPREP_TEST_CRASH_AT=$k bash -c '"$1" "$3" "$4" "$5" - < "$2" > "$6" 2> "$7"; exit $?' crash_at \
                "$HOOK" "$@" "$OUT" "$ERR" 2> "$CRASH_SH"
        st=$?
        grep -v "^crash_at: line [0-9]*: *[0-9]* Killed " "$CRASH_SH" >&2
        return $st
}

# crash_sweep [-k KILLED]... [-a AFTER]... [-c CHECK]... [-s STATE] [-m MAX] SETUP NAME OP SUB
# For K = 1, 2, ... until the hook runs to its end, and for each AFTER:
#   SETUP builds a fresh fake root with the VM's domain XML in $ROOT/x.xml
#     (and whatever else runs beside it); STATE (default snapshot) is
#     taken; for OP other than prepare, the VM's prepare runs first;
#   the hook runs OP SUB for NAME, killed at crash point K (crash_at): it
#     must be killed there (status 137, its "test crash point K" said);
#   each KILLED runs (what the kill left, before anything finishes it);
#   AFTER XMLFILE NAME finishes it, as libvirt or an administrator would
#     (default: stop_phases after a prepare, release_again after any other);
#   STATE must be as it was, and each CHECK holds.
# SETUP, KILLED, AFTER, CHECK and STATE are commands (a function and its
# words, split at spaces); they see CRASH_K and CRASH_THEN (the AFTER) and
# report with crash_fail.  Adds the crash points to CRASHED and the
# failures to CRASH_FAILS, which crash_verdict turns into one test point.
# More than MAX (300) crash points is a failure.
CRASHED=0 CRASH_FAILS=()
crash_sweep() {
        local killed=() afters=() checks=() state=snapshot max=300
        while [ $# -gt 0 ]; do
                case $1 in
                -k) killed+=("$2"); shift 2 ;;
                -a) afters+=("$2"); shift 2 ;;
                -c) checks+=("$2"); shift 2 ;;
                -s) state=$2; shift 2 ;;
                -m) max=$2; shift 2 ;;
                *) break ;;
                esac
        done
        local setup=$1 name=$2 op=$3 sub=$4 x before f st
        if [ ${#afters[@]} -eq 0 ]; then
                if [ "$op" = prepare ]; then afters=(stop_phases); else afters=(release_again); fi
        fi
        CRASH_SETUP=$setup CRASH_OP=$op
        for ((CRASH_K = 1; ; CRASH_K++)); do
                if [ "$CRASH_K" -gt "$max" ]; then
                        CRASH_FAILS+=("$setup: no end of $op after $max crash points"); break
                fi
                for CRASH_THEN in "${afters[@]}"; do
                        $setup
                        x=$ROOT/x.xml
                        before=$($state)
                        if [ "$op" != prepare ] && ! hook "$x" "$name" prepare begin; then
                                CRASH_FAILS+=("$setup: the prepare before $op failed: $(head -c 300 "$ERR")"); return
                        fi
                        crash_at "$CRASH_K" "$x" "$name" "$op" "$sub"; st=$?
                        [ $st -eq 0 ] && return
                        if [ $st -ne 137 ]; then
                                crash_fail "exited $st, not killed at the crash point: $(head -c 300 "$ERR")"
                        elif ! grep -q "^vmprep: test crash point $CRASH_K (" "$ERR"; then
                                crash_fail "killed, but not at the crash point: $(head -c 300 "$ERR")"
                        fi
                        for f in "${killed[@]}"; do $f; done
                        $CRASH_THEN "$x" "$name"
                        [ "$($state)" = "$before" ] \
                                || crash_fail "not as before: $(diff <(echo "$before") <($state) | head -4 | tr '\n' ' ') $(head -c 300 "$ERR")"
                        for f in "${checks[@]}"; do $f; done
                done
                CRASHED=$((CRASHED + 1))
        done
}
# crash_fail MESSAGE: a failure at the current crash point of a sweep
crash_fail() { CRASH_FAILS+=("$CRASH_SETUP: $CRASH_OP crash point $CRASH_K, then $CRASH_THEN: $1"); }
# crash_no_journal: a check that no journal is left in /run/vmprep
crash_no_journal() {
        if ls "$ROOT"/run/vmprep/*.journal >/dev/null 2>&1; then crash_fail "a journal is left: $(cd "$ROOT/run/vmprep" && echo *)"; fi
}
# crash_verdict MIN OK NAME: one test point for the sweeps since the last
# verdict: OK when nothing failed and the hook was killed at MIN crash
# points or more; NAME and the failures if not.  Then counts from 0 again.
crash_verdict() {
        local min=$1 ok=$2 name=$3 n=${#CRASH_FAILS[@]} more=()
        if [ "$n" -eq 0 ] && [ "$CRASHED" -ge "$min" ]; then
                t_ok "$ok"
        else
                [ "$n" -gt 8 ] && more=("(and $((n - 8)) more)")
                t_fail "$name" "${CRASH_FAILS[@]:0:8}" "${more[@]}" "killed at $CRASHED crash points (want $min or more)"
        fi
        CRASHED=0 CRASH_FAILS=()
}
