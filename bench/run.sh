#!/usr/bin/env bash
# Every benchmark, in order, each into OUTDIR/NAME.txt; then the plots.
#   bench/run.sh [OUTDIR]            make bench: full sizes, plots into bench/plots
#   bench/run.sh --quick [OUTDIR]    make bench-quick (CI): tiny sizes, every
#                                    script run once so that none rots; no plots;
#                                    closes with "N passed, N failed, N skipped"
# The host benchmarks need root and /dev/kvm; they take /run/vmprep-libvirt.lock.
set -uo pipefail
here=$(cd -- "$(dirname -- "$0")" && pwd)
repo=$(cd -- "$here/.." && pwd)
quick=no
[ "${1:-}" = --quick ] && { quick=yes; shift; }
OUT=${1:-$repo/build/bench$([ $quick = yes ] && echo -quick)}
mkdir -p "$OUT"
passed=0 failed=0 skipped=0
bench() { # NAME COMMAND...: run, keep the output, count
        local name=$1; shift
        echo "=== bench $name: $*"
        local t0=$SECONDS
        if "$@" 2>&1 | tee "$OUT/$name.txt"; [ "${PIPESTATUS[0]}" = 0 ]; then
                passed=$((passed + 1)); echo "=== bench $name: ok ($((SECONDS - t0)) s)"
        else
                failed=$((failed + 1)); echo "=== bench $name: FAILED ($((SECONDS - t0)) s)"
        fi
}
make -s -C "$repo" all build/hosttest/vmprep-hook || { echo "0 passed, 1 failed"; exit 1; }
if [ $quick = yes ]; then
        bench hook-cost "$here/hook-cost.sh" 5
else
        bench hook-cost "$here/hook-cost.sh" "${ROUNDS:-50}"
fi
if [ "$(id -u)" != 0 ] || [ ! -e /dev/kvm ]; then
        echo "=== bench vm-cost, hugepages-pressure, cpus-isolate: skipped (need root and /dev/kvm)"
        skipped=$((skipped + 3))
elif [ $quick = yes ]; then
        bench vm-cost "$here/vm-cost.sh" 1 1
        bench hugepages-pressure "$here/hugepages-pressure.sh" 1 256 1 2
        bench cpus-isolate "$here/cpus-isolate.sh" 1
else
        bench vm-cost "$here/vm-cost.sh" "${VM_ROUNDS:-8}" 3
        bench hugepages-pressure "$here/hugepages-pressure.sh" 3 2048 20 20
        bench cpus-isolate "$here/cpus-isolate.sh" 5
fi
if [ $quick = no ] && [ $failed = 0 ]; then
        if command -v gnuplot > /dev/null; then
                "$here/plot.sh" "$OUT" "$here/plots" || failed=$((failed + 1))
        else
                echo "=== plots: gnuplot not found (apt-get install gnuplot-nox, or tools/install-deps.sh --bench)"
        fi
fi
echo "outputs in $OUT"
echo "bench: $passed passed, $failed failed, $skipped skipped"
[ $failed = 0 ]
