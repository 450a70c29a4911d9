# shellcheck shell=bash
# Shared test helpers: TAP-style results and a closing count line.
T_PASS=0 T_FAIL=0 T_SKIP=0 T_N=0 T_SUITE=${T_SUITE:-tests}

t_ok()   { T_N=$((T_N + 1)); T_PASS=$((T_PASS + 1)); echo "ok $T_N - $1"; }
t_skip() { T_N=$((T_N + 1)); T_SKIP=$((T_SKIP + 1)); echo "ok $T_N - $1 # SKIP $2"; }
t_fail() {
        T_N=$((T_N + 1)); T_FAIL=$((T_FAIL + 1))
        echo "not ok $T_N - $1"
        shift
        local line
        for line in "$@"; do printf '#   %s\n' "$line"; done
}
# t_check NAME COMMAND...: ok when the command succeeds
t_check() {
        local name=$1; shift
        local out
        if out=$("$@" 2>&1); then t_ok "$name"; else t_fail "$name" "$out"; fi
}
t_done() {
        echo "1..$T_N"
        echo "$T_SUITE: $T_PASS passed, $T_FAIL failed, $T_SKIP skipped"
        [ "$T_FAIL" -eq 0 ]
}

# damage_ledger ROOT: one bad checksum (a tenth hex digit) on the second
# line of ROOT's vmprep ledger, as a torn or bit-flipped write leaves it
damage_ledger() { sed -i '2s/~0x\(.\)/~0x\1f/' "$1/run/vmprep/ledger"; }
# unreadable_journal ROOT: a journal in ROOT's /run/vmprep that cannot be
# read (a damaged line 1 with a line after it: not a write cut short);
# prints its path
unreadable_journal() {
        local f=$1/run/vmprep/0b6e2f58-8c5c-4c1e-9a57-3f1c2b4d5e09.hugepages.journal
        printf "vmprep-journal 1 garbage\nS 1 add x\n" > "$f" && chmod 600 "$f" && echo "$f"
}
# What a release says when it rebuilds a damaged ledger (N journals)
ledger_rebuilt_msg() { echo "/run/vmprep/ledger was damaged (line 2): rebuilt it from the $1 journals in /run/vmprep and kept the damaged file as /run/vmprep/ledger.damaged-"; }
