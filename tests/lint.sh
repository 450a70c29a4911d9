#!/usr/bin/env bash
# Static checks a reviewer would otherwise do by hand:
#   - shellcheck over every shell script
#   - no system(), popen() or exec of a shell from C outside tests/
#   - nothing printed to stdout by the hooks' C code
set -uo pipefail
repo=$(cd -- "$(dirname -- "$0")/.." && pwd)
cd "$repo" || exit 1
T_SUITE=lint
# shellcheck source=tests/lib.sh
. tests/lib.sh

mapfile -t scripts < <(git ls-files '*.sh' .ci/run demo/run.sh | sort -u)
if command -v shellcheck >/dev/null; then
        t_check "shellcheck (warnings and errors): ${#scripts[@]} scripts" shellcheck -x -S warning "${scripts[@]}"
else
        t_skip "shellcheck" "not installed"
fi
hits=$(git grep -nE '\b(system|popen)[[:space:]]*\(|"/bin/(ba)?sh"' -- '*.c' ':!tests/*' ':!bench/*')
if [ -z "$hits" ]; then t_ok "no system(), popen() or /bin/sh in C outside tests/"; else t_fail "no shell from C" "$hits"; fi
hits=$(git grep -nE '\b(printf|puts|putchar)[[:space:]]*\(|fprintf[[:space:]]*\([[:space:]]*stdout' -- hooks/*.c common/*.c \
        | grep -vE 'snprintf|vsnprintf|fprintf\(f,|common/plan\.c|common/profile\.c')
if [ -z "$hits" ]; then
        t_ok "the hooks' code never prints to stdout (libvirt reads it as XML in migrate/restore)"
else
        t_fail "hooks print nothing to stdout" "$hits"
fi
t_done
