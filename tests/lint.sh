#!/usr/bin/env bash
# Static checks a reviewer would otherwise do by hand:
#   - shellcheck over every shell script
#   - no system(), popen() or exec of a shell from C outside tests/
#   - module probes that never run a modprobe.d install command
#   - nothing printed to stdout by the hooks' C code
#   - every element and attribute of profiles/profile.rng is in vmprep-profile(5)
#   - README's hook table lists, per hook, exactly the operations of common/hook_table.h
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
# libkmod runs a modprobe.d 'install' line through /bin/sh unless the probe
# carries KMOD_PROBE_IGNORE_COMMAND: every file that probes must set it, and
# no probe may hand libkmod a run_install callback
hits=$(for f in $(git grep -l 'kmod_module_probe_insert_module' -- '*.c' ':!tests/*'); do
        grep -vE '^[[:space:]]*(/?\*|//)' "$f" | grep 'KMOD_PROBE_IGNORE_COMMAND' > /dev/null || echo "$f: probes without KMOD_PROBE_IGNORE_COMMAND"
        grep -nE 'kmod_module_probe_insert_module\([^,]*,[^,]*,[[:space:]]*[^N ]' "$f" | sed "s|^|$f: a run_install callback: |"
done)
if [ -z "$hits" ]; then
        t_ok "module probes ignore modprobe.d install commands (KMOD_PROBE_IGNORE_COMMAND, no run_install)"
else
        t_fail "module probes run no shell" "$hits"
fi
hits=$(git grep -nE '\b(printf|puts|putchar)[[:space:]]*\(|fprintf[[:space:]]*\([[:space:]]*stdout' -- hooks/*.c common/*.c \
        | grep -vE 'snprintf|vsnprintf|fprintf\(f,|common/plan\.c|common/profile\.c')
if [ -z "$hits" ]; then
        t_ok "the hooks' code never prints to stdout (libvirt reads it as XML in migrate/restore)"
else
        t_fail "hooks print nothing to stdout" "$hits"
fi

# The profile grammar and its man page: every element of the schema has a
# section or entry, every attribute an entry of its own written NAME= on a
# .B/.BI line (man source writes "-" as "\-").
missing=()
while read -r kind name; do
        n=${name//-/\\\\-}
        if [ "$kind" = element ]; then
                grep -qE -- "^\.SS $n\$|^\.B <${n}[ >]" install/vmprep-profile.5 || missing+=("$kind $name")
        else
                grep -qE -- "^\.BI? (\"?<[a-z]+ .*)?$n=" install/vmprep-profile.5 || missing+=("$kind $name")
        fi
done < <(grep -oE '<(element|attribute) name="[a-z-]+"' profiles/profile.rng | sed -E 's/<([a-z]+) name="([a-z-]+)"/\1 \2/' | sort -u)
if [ ${#missing[@]} -eq 0 ]; then
        t_ok "vmprep-profile(5) names every element and attribute of profiles/profile.rng"
else
        t_fail "vmprep-profile(5) names every element and attribute of profile.rng" "missing: ${missing[*]}"
fi

# README's hook table against common/hook_table.h: the phases each hook acts in.
bad=()
while read -r cap phases; do
        want=$(tr ' ' '\n' <<<"$phases" | sed '/^$/d' | sort | tr '\n' ' ')
        have=$(awk -v cap="$cap" -F'|' '
                /^\| `[0-9]+-vmprep-/ { cur = $2; gsub(/[ `]|[0-9]+-vmprep-/, "", cur) }
                /^\| / && cur == cap { p = $3; gsub(/ /, "", p); n = split(p, a, ","); for (i = 1; i <= n; i++) print a[i] }
                /^$/ { cur = "" }' README.md | sort | tr '\n' ' ')
        [ "$want" = "$have" ] || bad+=("$cap: common/hook_table.h has '$want', README's table has '$have'")
done < <(sed -nE 's/^ *\{ "[0-9]+-vmprep-[a-z]+", "([a-z]+)", "([a-z ]+)" \},.*/\1 \2/p' common/hook_table.h)
if [ ${#bad[@]} -eq 0 ] && grep -qE '^ *\{ "[0-9]+-vmprep-' common/hook_table.h; then
        t_ok "README's hook table lists every phase of common/hook_table.h and no other"
else
        t_fail "README's hook table and common/hook_table.h" "${bad[@]}"
fi
# One libxml2 in the vmprep command: a recorded ldd of a build against
# trixie-backports' libxml2 2.15 beside trixie's libvirt is refused, naming
# both sonames; the command built here loads one.
W=$(mktemp -d)
printf '\tlibxml2.so.16 => /usr/lib/x86_64-linux-gnu/libxml2.so.16 (0x1)\n\tlibvirt.so.0 => /usr/lib/x86_64-linux-gnu/libvirt.so.0 (0x2)\n\tlibxml2.so.2 => /usr/lib/x86_64-linux-gnu/libxml2.so.2 (0x3)\n' > "$W/two"
printf '\tlibvirt.so.0 => /usr/lib/x86_64-linux-gnu/libvirt.so.0 (0x2)\n\tlibxml2.so.2 => /usr/lib/x86_64-linux-gnu/libxml2.so.2 (0x3)\n' > "$W/one"
out2=$(LDD_OUTPUT="$W/two" tools/check-one-libxml2.sh vmprep 2>&1); st2=$?
out1=$(LDD_OUTPUT="$W/one" tools/check-one-libxml2.sh vmprep 2>&1); st1=$?
rm -rf "$W"
if [ "$st2" = 1 ] && grep -q "libxml2.so.16 and libxml2.so.2" <<<"$out2" && [ "$st1" = 0 ] && [ -z "$out1" ]; then
        if [ -x build/vmprep ] && ! tools/check-one-libxml2.sh build/vmprep; then
                t_fail "one libxml2 in the vmprep command" "build/vmprep loads two"
        else
                t_ok "the build refuses a vmprep command that would load two libxml2 sonames (libvirt's and its own)"
        fi
else
        t_fail "one libxml2 check" "two: exit $st2: $out2" "one: exit $st1: $out1"
fi

t_done
