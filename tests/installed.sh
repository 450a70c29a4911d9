#!/usr/bin/env bash
# What `make install` left on this host (README: ./demo/run.sh installs
# vmprep and says it stays) is still there after the other suites:
#   tests/installed.sh record FILE    before them (tests/run-all.sh)
#   tests/installed.sh compare FILE   after them: every file and link that was
#                                     there is there, of the same kind (a link
#                                     to the same target); a changed content
#                                     (a suite installing this tree's build
#                                     over an older one) is only noted
# The paths are those `make install` lays down (a DESTDIR install of this
# tree), with the qemu.d and daemon.d directories.
set -uo pipefail
repo=$(cd -- "$(dirname -- "$0")/.." && pwd)
T_SUITE=installed
# shellcheck source=tests/lib.sh
. "$repo/tests/lib.sh"
mode=${1:-}; state=${2:-}
[ -n "$state" ] && { [ "$mode" = record ] || [ "$mode" = compare ]; } || { echo "usage: $0 record|compare FILE" >&2; exit 2; }

snapshot() {
        local W p
        W=$(mktemp -d)
        make -s -C "$repo" install DESTDIR="$W" >"$W.log" 2>&1 || { cat "$W.log" >&2; rm -rf "$W" "$W.log"; return 1; }
        { (cd "$W" && find . ! -type d | sed 's|^\.||'); echo /etc/libvirt/hooks/qemu.d; echo /etc/libvirt/hooks/daemon.d; } | sort |
        while IFS= read -r p; do
                if [ -L "$p" ]; then echo "$p link $(readlink "$p")"
                elif [ -d "$p" ]; then echo "$p dir"
                elif [ -f "$p" ]; then echo "$p file $(sha256sum <"$p" | cut -c1-16)"
                fi
        done
        rm -rf "$W" "$W.log"
}

if [ "$mode" = record ]; then
        snapshot >"$state"
        exit
fi
[ -r "$state" ] || { t_fail "read $state" "no record: tests/installed.sh record $state first"; t_done; exit; }
now=$(mktemp)
snapshot >"$now" || { t_fail "list what make install lays down"; t_done; exit; }
n=$(wc -l <"$state")
gone=() changed=()
while read -r p kind rest; do
        cur=$(grep -F -- "$p $kind" "$now" | awk -v p="$p" '$1 == p')
        if [ -z "$cur" ]; then gone+=("$p ($kind${rest:+ $rest}) is gone: now $(grep -F -- "$p " "$now" | awk -v p="$p" '$1 == p { $1 = ""; print }' || true)")
        elif [ "$kind" = link ] && [ "$cur" != "$p $kind $rest" ]; then gone+=("$p: link to $rest, now ${cur#"$p link "}")
        elif [ "$kind" = file ] && [ "$cur" != "$p $kind $rest" ]; then changed+=("$p")
        fi
done <"$state"
if [ ${#gone[@]} -gt 0 ]; then
        t_fail "the install found before the suites" "${gone[@]}"
elif [ "$(grep -vc ' dir$' "$state")" = 0 ]; then
        t_skip "the install found before the suites" "vmprep was not installed (make install) when they started"
else
        t_ok "the $n installed files, links and hook directories found before the suites are all still there"
fi
[ ${#changed[@]} -gt 0 ] && printf '# note: content changed (a suite installed this build): %s\n' "${changed[*]}"
rm -f "$now"
t_done
