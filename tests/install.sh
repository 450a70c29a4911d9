#!/usr/bin/env bash
# What `make install`, `make uninstall` and the Debian maintainer scripts do
# to the running libvirt daemons (install/vmprep-reload-libvirt), against
# stand-in daemons: a monolithic libvirtd, a modular virtqemud, both, and one
# running in another root (a chroot install must never reach the host's).
#   tests/install.sh
set -uo pipefail
here=$(cd -- "$(dirname -- "$0")" && pwd)
repo=$(cd -- "$here/.." && pwd)
T_SUITE=install
# shellcheck source=tests/lib.sh
. "$repo/tests/lib.sh"
RELOAD=$repo/install/vmprep-reload-libvirt

W=$(mktemp -d)
export VMPREP_RUNDIR=$W/run
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$W"; }
trap cleanup EXIT

# A stand-in daemon: a static program that waits for a signal and records
# it, under the name given (short names: pidof matches the process name).
cat > "$W/daemon.c" <<'C'
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
static volatile sig_atomic_t got;
static void on_hup(int s) { got = s; }
int main(int argc, char **argv)
{
        signal(SIGHUP, on_hup);
        for (int i = 0; i < 600 && !got; i++)
                sleep(1);
        if (got && argc > 1) {
                FILE *f = fopen(argv[1], "w");
                if (f) { fputs("HUP\n", f); fclose(f); }
        }
        return 0;
}
C
if ! cc -static -O1 -o "$W/daemon" "$W/daemon.c" 2>"$W/cc.err"; then
        t_skip "stand-in daemons" "cannot build a static program: $(head -1 "$W/cc.err")"
        t_done; exit
fi

# start_daemon NAME MARKER: run the stand-in as NAME, wait until pidof sees it
start_daemon() {
        cp "$W/daemon" "$W/$1"
        "$W/$1" "$2" & pids+=($!); disown
        for _ in $(seq 50); do pidof "$1" >/dev/null && return 0; sleep 0.1; done
        return 1
}
# wait_marker FILE: the daemon wrote it (it got SIGHUP)
wait_marker() { for _ in $(seq 30); do [ -s "$1" ] && return 0; sleep 0.1; done; return 1; }

start_daemon vmpt-libvirtd "$W/libvirtd.hup"
start_daemon vmpt-virtqemud "$W/virtqemud.hup"
out=$(VMPREP_LIBVIRT_DAEMONS="vmpt-libvirtd vmpt-virtqemud" "$RELOAD" -n)
if grep -q "would send SIGHUP to vmpt-libvirtd" <<<"$out" && grep -q "would send SIGHUP to vmpt-virtqemud" <<<"$out" \
        && ! wait_marker "$W/libvirtd.hup"; then
        t_ok "-n names both daemons and signals neither"
else
        t_fail "-n" "$out"
fi
out=$(VMPREP_LIBVIRT_DAEMONS="vmpt-libvirtd vmpt-virtqemud" "$RELOAD")
if wait_marker "$W/libvirtd.hup" && wait_marker "$W/virtqemud.hup" && grep -q "sent SIGHUP to vmpt-virtqemud" <<<"$out"; then
        t_ok "monolithic and modular daemon both running: both get SIGHUP (never a restart)"
else
        t_fail "both daemons" "$out"
fi
if [ "$(wc -l < "$W/run/daemon-reloaded" 2>/dev/null)" = 2 ] && [ "$(stat -c %a "$W/run")" = 700 ]; then
        t_ok "each SIGHUP is recorded in VMPREP_RUNDIR/daemon-reloaded (pid, time) for vmprep doctor"
else
        t_fail "reload record" "$(ls -la "$W/run" 2>&1)" "$(cat "$W/run/daemon-reloaded" 2>&1)"
fi

start_daemon vmpt-virtqemud "$W/virtqemud2.hup"
out=$(VMPREP_LIBVIRT_DAEMONS="vmpt-libvirtd vmpt-virtqemud" "$RELOAD")
if wait_marker "$W/virtqemud2.hup" && ! grep -q "vmpt-libvirtd" <<<"$out"; then
        t_ok "modular host (virtqemud alone): virtqemud gets SIGHUP"
else
        t_fail "virtqemud alone" "$out"
fi

out=$(VMPREP_LIBVIRT_DAEMONS="vmpt-libvirtd vmpt-virtqemud" "$RELOAD")
if grep -q "no libvirtd or virtqemud runs here" <<<"$out"; then
        t_ok "no daemon running: says the hooks are found when one starts, exits 0"
else
        t_fail "no daemon" "$out"
fi

# a daemon whose root is another directory stands for the host's libvirtd
# as seen from a chroot install that shares the host's /proc
if [ "$(id -u)" = 0 ] && command -v chroot >/dev/null; then
        mkdir -p "$W/other/run"
        cp "$W/daemon" "$W/other/vmpt-libvirtd"
        chroot "$W/other" /vmpt-libvirtd /run/hup & pids+=($!); disown
        for _ in $(seq 50); do pidof vmpt-libvirtd >/dev/null && break; sleep 0.1; done
        out=$(VMPREP_LIBVIRT_DAEMONS="vmpt-libvirtd" "$RELOAD")
        if grep -q "not signalling vmpt-libvirtd .*outside this root" <<<"$out" && ! wait_marker "$W/other/run/hup"; then
                t_ok "a daemon outside this root (chroot install seeing the host's /proc) is not signalled"
        else
                t_fail "daemon in another root" "$out"
        fi
else
        t_skip "daemon in another root" "needs root and chroot"
fi

# the Makefile and the maintainer scripts go through the script (or its twin)
t_check "make install and uninstall signal through vmprep-reload-libvirt, never with DESTDIR" \
        bash -c "make -s -n -C '$repo' install | grep -q 'install/vmprep-reload-libvirt' && ! make -s -n -C '$repo' install DESTDIR=/tmp/x | grep -q 'pidof\|kill'"
t_check "postinst and postrm handle virtqemud" bash -c "grep -q vmprep-reload-libvirt '$repo/debian/postinst' && grep -q virtqemud '$repo/debian/postrm'"
t_check "DAEMONHOOKDIR sits beside qemu.d when HOOKDIR ends in /" \
        bash -c "make -s -n -C '$repo' install HOOKDIR=/etc/libvirt/hooks/qemu.d/ DESTDIR=/tmp/x | grep -q 'ln -sfn .* /tmp/x/etc/libvirt/hooks/daemon.d/vmprep-reconcile'"
# uninstall takes away everything install laid down: the daemon.d link, and
# the hook directories it made for vmprep when nothing else is left in them
D=$W/destdir
# the four hooks are one binary under four names (hard links), each of
# which answers as its own capability: a start of an untagged VM is let
# through by all four; a name that is none of them refuses a start
Q=$D/etc/libvirt/hooks/qemu.d
hooks_one_binary() {
        local inodes
        inodes=$(stat -c '%i %h' "$Q"/10-vmprep-vfio "$Q"/20-vmprep-hugepages "$Q"/30-vmprep-cpus "$Q"/40-vmprep-tune | sort -u)
        [ "$(wc -l <<<"$inodes")" = 1 ] && [ "${inodes#* }" = 4 ] || return 1
        local h
        for h in "$Q"/*-vmprep-*; do
                echo "<domain><name>u</name><uuid>0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6</uuid></domain>" | "$h" u prepare begin - || return 1
        done
        cp "$Q/10-vmprep-vfio" "$W/50-other"
        ! echo "<domain/>" | "$W/50-other" u prepare begin - 2>"$W/other.err" && grep -q "names none of" "$W/other.err"
}
if make -s -C "$repo" install DESTDIR="$D" >"$W/inst.log" 2>&1 && [ -L "$D/etc/libvirt/hooks/daemon.d/vmprep-reconcile" ] \
        && { hooks_one_binary && t_ok "make install lays the hooks down as one binary under four names (hard links); a fifth name refuses a start" \
                || t_fail "hooks as one binary" "$(ls -li "$Q")" "$(cat "$W/other.err" 2>/dev/null)"; } \
        && make -s -C "$repo" uninstall DESTDIR="$D" >>"$W/inst.log" 2>&1; then
        left=$(find "$D" ! -type d; find "$D" -depth -type d -path '*/vmprep*'; ls -d "$D"/etc/libvirt/hooks/*.d 2>/dev/null)
        if [ -z "$left" ]; then
                t_ok "make uninstall DESTDIR= removes every file and link install made, daemon.d and qemu.d too"
        else
                t_fail "make uninstall DESTDIR= leaves" "$left"
        fi
else
        t_fail "make install/uninstall DESTDIR=" "$(tail -20 "$W/inst.log")"
fi
t_done
