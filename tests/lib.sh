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
