#!/usr/bin/env bash
# Run every libFuzzer target for a bounded time from its seed corpus
# (tests/fuzz/corpus/TARGET); any crash, leak or sanitizer report fails.
#   tests/fuzz/run.sh [SECONDS]      (make fuzz FUZZ_SECONDS=N builds and runs them)
set -uo pipefail
repo=$(cd -- "$(dirname -- "$0")/../.." && pwd)
T_SUITE=fuzz
# shellcheck source=tests/lib.sh
. "$repo/tests/lib.sh"
SECONDS_EACH=${1:-20}
W=$(mktemp -d /tmp/vmprep-fuzz-XXXXXX)
trap 'rm -rf "$W" /tmp/vmprep-fuzz-root-*' EXIT
for t in domain profile parsers journal; do
        bin=$repo/build/fuzz/fuzz_$t
        if [ ! -x "$bin" ]; then t_skip "fuzz $t" "not built (make fuzz; needs clang and libclang-rt-14-dev)"; continue; fi
        mkdir -p "$W/$t"
        # new inputs go to the scratch corpus; the seeds stay as committed
        if (cd "$W" && "$bin" -max_total_time="$SECONDS_EACH" -max_len=65536 -print_final_stats=1 -timeout=10 \
                -rss_limit_mb=2048 "$W/$t" "$repo/tests/fuzz/corpus/$t") > "$W/$t.log" 2>&1; then
                runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$W/$t.log")
                t_ok "fuzz $t: ${runs:-?} executions in ${SECONDS_EACH}s, no crash, leak or sanitizer report"
        else
                t_fail "fuzz $t" "$(grep -E 'ERROR|SUMMARY|==[0-9]+==|Test unit written' "$W/$t.log" | head -15)"
                cp "$W"/crash-* "$W"/leak-* "$W"/timeout-* "$repo/build/fuzz/" 2>/dev/null
        fi
done
t_done
