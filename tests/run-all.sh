#!/usr/bin/env bash
# Every test suite, in order; the closing line sums them up.
#   unit      C unit tests, ASan+UBSan (build/test/unit-tests)
#   hooks     the hook executables against fake kernel trees, ASan+UBSan
#   vfio      10-vmprep-vfio against fake PCI trees (tests/hooks/vfio.sh), ASan+UBSan
#   schema    shipped profiles and fixtures against profiles/profile.rng
#   valgrind  unit tests and a hook round trip under valgrind
#   host      real libvirtd + QEMU/KVM + hugepages on this machine (root and /dev/kvm;
#             VMPREP_SKIP_HOST=1 skips it)
set -uo pipefail
here=$(cd -- "$(dirname -- "$0")" && pwd)
repo=$(cd -- "$here/.." && pwd)
cd "$repo" || exit 1

passed=0 failed=0 skipped=0 bad_suites=()
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_suite() {
        local name=$1; shift
        local log; log=$(mktemp)
        echo "=== $name: $*"
        "$@" 2>&1 | tee "$log"
        local st=${PIPESTATUS[0]}
        # the suite's own closing line: "[word:] N passed, N failed[, N skipped]"
        local line; line=$(grep -E '^([A-Za-z-]+: )?[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
        rm -f "$log"
        if [ -z "$line" ]; then
                echo "=== $name: no result line (exit $st)"
                failed=$((failed + 1)); bad_suites+=("$name"); return
        fi
        local p f s
        p=$(grep -oE '[0-9]+ passed' <<<"$line" | cut -d' ' -f1)
        f=$(grep -oE '[0-9]+ failed' <<<"$line" | cut -d' ' -f1)
        s=$(grep -oE '[0-9]+ skipped' <<<"$line" | cut -d' ' -f1); s=${s:-0}
        passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
        if [ "$st" -ne 0 ] && [ "$f" -eq 0 ]; then failed=$((failed + 1)); fi
        [ "$st" -ne 0 ] && bad_suites+=("$name")
}

run_suite unit build/test/unit-tests
run_suite hooks tests/hooks/run.sh build/test
run_suite vfio tests/hooks/vfio.sh build/test
run_suite schema tests/profiles-schema.sh
run_suite valgrind tests/valgrind.sh build/valgrind
if [ "${VMPREP_SKIP_HOST:-0}" = 1 ]; then
        echo "=== host: skipped (VMPREP_SKIP_HOST=1)"; skipped=$((skipped + 1))
elif [ "$(id -u)" != 0 ] || [ ! -e /dev/kvm ]; then
        echo "=== host: skipped (needs root and /dev/kvm)"; skipped=$((skipped + 1))
else
        run_suite host tests/host/run.sh
fi

[ ${#bad_suites[@]} -gt 0 ] && echo "failed suites: ${bad_suites[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ ${#bad_suites[@]} -eq 0 ]
