#!/usr/bin/env bash
# Every test suite, in order; the closing line sums them up.
#   unit      C unit tests, ASan+UBSan (build/test/unit-tests)
#   hugepages-hooks  20-vmprep-hugepages driven as libvirt drives it against fake
#             kernel trees (two-node pools, ledger, journals, crash points), ASan+UBSan
#   cli       the vmprep command: golden output on recorded host trees, JSON, and
#             (as root with KVM) doctor, tag/show/untag and reconcile for real
#   cpus-hooks  30-vmprep-cpus the same way (cgroup v1/v2/systemd, IRQs, partitions, crash points)
#   tune-hooks  40-vmprep-tune the same way (governor, C-states, THP, KSM, sysctls, crash points)
#   planjournal  vmprep plan --json against the journals the hooks then write, on
#             every fake tree of the hook suites and every capability
#   vfio      10-vmprep-vfio against fake PCI trees (tests/hooks/vfio.sh), ASan+UBSan
#   hostshapes  10-vmprep-vfio's host-use interlocks on recorded host shapes (Fedora
#             btrfs workstation, Proxmox ZFS/bond server, macvtap VMs), ASan+UBSan
#   migrate   every hook in libvirt's migrate phase on a recorded destination: each
#             refusal (pages, cores, devices, profile) with the tree unchanged
#   schema    shipped profiles and fixtures against profiles/profile.rng
#   grammar   one table of attribute values through profile.rng and the C parser:
#             the same verdict from both (build/test/profile-check)
#   valgrind  unit tests and a hook round trip under valgrind
#   faults    each kernel write of a prepare failing with each errno: tree restored
#   fuzz      libFuzzer over the domain reader, profiles, parsers, journal (FUZZ_SECONDS each)
#   lint      shellcheck; no shell from C; hooks print nothing to stdout
#   install   install/vmprep-reload-libvirt against stand-in libvirtd/virtqemud
#             daemons (both, either, one in another root)
#   deb       (with host) the Debian package built, installed, the host suite run
#             against it, purged
#   stress    (with host) 8 tagged VMs started/destroyed at once x STRESS_ROUNDS (20);
#             libvirtd restarted under a running VM
#   host      real libvirtd + QEMU/KVM + hugepages on this machine (root and /dev/kvm;
#             VMPREP_SKIP_HOST=1 skips it)
#   host-cpus CPU isolation for real (cgroup v1 cpuset, a host-scope cgroup of
#             the test's own processes; libvirtd under /run/vmprep-libvirt.lock)
#   host-tune sched_rt_runtime_us, swappiness, THP, KSM round trips for real
#   bench     (with host) make bench-quick: every benchmark once at tiny sizes, so
#             that none rots (< 2 minutes)
#   installed last: what `make install` left here (the demo's install) before
#             the suites is still there after them (tests/installed.sh)
# Each suite gets at most SUITE_TIMEOUT seconds (default 1500); one that
# runs longer is killed with its process group and counted as failed.
set -uo pipefail
here=$(cd -- "$(dirname -- "$0")" && pwd)
repo=$(cd -- "$here/.." && pwd)
cd "$repo" || exit 1

passed=0 failed=0 skipped=0 bad_suites=()
SUITE_TIMEOUT=${SUITE_TIMEOUT:-1500}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_suite() {
        local name=$1; shift
        local log; log=$(mktemp)
        echo "=== $name: $*"
        local t0=$SECONDS
        # a suite that hangs (a lock never released, a VM that never stops) is
        # killed with its process group and counted as failed, so the other
        # suites still run and CI ends with a verdict instead of a timeout
        timeout -k 30 "$SUITE_TIMEOUT" "$@" 2>&1 | tee "$log"
        local st=${PIPESTATUS[0]}
        if [ "$st" -eq 124 ] || [ "$st" -eq 137 ]; then
                echo "=== $name: killed after ${SUITE_TIMEOUT}s (SUITE_TIMEOUT)"
        fi
        echo "=== $name: $((SECONDS - t0)) s"
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

installed_state=$(mktemp)
tests/installed.sh record "$installed_state"

run_suite unit build/test/unit-tests
run_suite hugepages-hooks tests/hooks/hugepages.sh build/test
run_suite faults tests/hooks/faults.sh build/test
run_suite vfio tests/hooks/vfio.sh build/test
run_suite hostshapes tests/hooks/hostshapes.sh build/test
run_suite migrate tests/hooks/migrate.sh build/test
run_suite cpus-hooks tests/hooks/cpus.sh build/test
run_suite tune-hooks tests/hooks/tune.sh build/test
run_suite planjournal tests/hooks/planjournal.sh build/test
run_suite cli tests/cli/run.sh
run_suite schema tests/profiles-schema.sh
run_suite grammar tests/grammar-agree.sh build/test
run_suite valgrind tests/valgrind.sh build/valgrind
run_suite lint tests/lint.sh
run_suite install tests/install.sh
run_suite fuzz tests/fuzz/run.sh "${FUZZ_SECONDS:-20}"
if [ "${VMPREP_SKIP_HOST:-0}" = 1 ]; then
        echo "=== host: skipped (VMPREP_SKIP_HOST=1)"; skipped=$((skipped + 1))
elif [ "$(id -u)" != 0 ] || [ ! -e /dev/kvm ]; then
        echo "=== host: skipped (needs root and /dev/kvm)"; skipped=$((skipped + 1))
else
        run_suite host tests/host/run.sh
        run_suite host-cpus tests/host/cpus.sh
        run_suite host-tune tests/host/tune.sh
        run_suite stress tests/host/stress.sh "${STRESS_ROUNDS:-20}"
        run_suite deb tests/deb.sh
        run_suite bench bench/run.sh --quick
fi

run_suite installed tests/installed.sh compare "$installed_state"
rm -f "$installed_state"

[ ${#bad_suites[@]} -gt 0 ] && echo "failed suites: ${bad_suites[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ ${#bad_suites[@]} -eq 0 ]
