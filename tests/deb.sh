#!/usr/bin/env bash
# The Debian package: built with dpkg-buildpackage from a copy of the tree,
# installed in place of a `make install` (put back as found at the end),
# removal refused while a tagged VM runs, an upgrade under that VM with the
# hooks exec'd all along, the host end-to-end suite run against the
# installed files, then purged without a trace.  Needs root, dpkg-dev and
# debhelper; the VM parts root and /dev/kvm (run-all.sh runs it only then).
# Holds /run/vmprep-libvirt.lock throughout (tests/host/run.sh shares it).
#   tests/deb.sh
set -uo pipefail
repo=$(cd -- "$(dirname -- "$0")/.." && pwd)
T_SUITE=deb
# shellcheck source=tests/lib.sh
. "$repo/tests/lib.sh"
# shellcheck source=tests/host/libvirt-env.sh
. "$repo/tests/host/libvirt-env.sh"

if [ "$(id -u)" != 0 ] || ! command -v dpkg-buildpackage >/dev/null || ! dpkg-query -W debhelper >/dev/null 2>&1; then
        t_skip "debian package" "needs root, dpkg-dev and debhelper"
        t_done; exit
fi
if [ "$(dpkg-query -W -f='${Status}' vmprep 2>/dev/null)" = "install ok installed" ]; then
        t_skip "debian package" "a vmprep package is installed on this host: not replacing it"
        t_done; exit
fi
W=$(mktemp -d /tmp/vmprep-deb-XXXXXX)
HOOKDIR=/etc/libvirt/hooks/qemu.d
DAEMONHOOKDIR=/etc/libvirt/hooks/daemon.d
VM=vmprep-deb-a
META='<vmprep:profile xmlns:vmprep="urn:vmprep:1"><vmprep:hugepages/></vmprep:profile>'
POOL=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
pool_orig= # read under the lock: other suites' VMs change it until then
HOOKS=(10-vmprep-vfio 20-vmprep-hugepages 30-vmprep-cpus 40-vmprep-tune)

# ---- what a `make install` left here, put back at exit (README: the demo
#      installs vmprep and says it stays; make check must not take it away) ----
# the paths `make install` lays down, from a DESTDIR install of this tree
make -s -C "$repo" install DESTDIR="$W/stage" >"$W/stage.log" 2>&1 || { t_fail "make install DESTDIR=" "$(tail "$W/stage.log")"; t_done; exit; }
(cd "$W/stage" && find . ! -type d | sed 's|^\.||') >"$W/paths"
: >"$W/prior"
while IFS= read -r p; do
        if [ -e "$p" ] || [ -L "$p" ]; then echo "$p" >>"$W/prior"; fi
done <"$W/paths"
had_qemu_d=no; [ -d "$HOOKDIR" ] && had_qemu_d=yes
had_daemon_d=no; [ -d "$DAEMONHOOKDIR" ] && had_daemon_d=yes
[ -s "$W/prior" ] && tar -cpPf "$W/prior.tar" -T "$W/prior"
# sha256 or link target of each, to check the restore by
fingerprint() { while IFS= read -r p; do
        if [ -L "$p" ]; then echo "$p -> $(readlink "$p")"; elif [ -e "$p" ]; then echo "$p $(sha256sum <"$p" | cut -c1-16) $(stat -c %a "$p")"; fi
done <"$W/prior"; }
fingerprint >"$W/prior.sum"

cleanup() {
        trap - EXIT INT TERM
        lv_cleanup_vm "$VM"
        [ -n "${loop_pid:-}" ] && kill "$loop_pid" 2>/dev/null
        if dpkg-query -W -f='${Status}' vmprep 2>/dev/null | grep -q installed; then
                dpkg --purge vmprep >>"$W/purge.log" 2>&1 || VMPREP_FORCE_REMOVE=1 dpkg --purge vmprep >>"$W/purge.log" 2>&1
        fi
        # the make install found at the start, as it was
        if [ -s "$W/prior" ]; then
                tar -xpPf "$W/prior.tar"
                if fingerprint | cmp -s - "$W/prior.sum"; then
                        t_ok "the make install found before ($(wc -l <"$W/prior") files) is back as it was"
                else
                        t_fail "putting back the earlier make install" "$(fingerprint | diff "$W/prior.sum" - | head)"
                fi
                "$repo/install/vmprep-reload-libvirt" >/dev/null
        fi
        [ $had_qemu_d = yes ] && mkdir -p "$HOOKDIR"
        [ $had_daemon_d = yes ] && mkdir -p "$DAEMONHOOKDIR"
        [ -n "$pool_orig" ] && echo "$pool_orig" >"$POOL" 2>/dev/null
        rm -rf "$W"
        t_done
        exit
}
trap cleanup EXIT
trap 'exit 1' INT TERM

mkdir -p "$W/src"
(cd "$repo" && git ls-files -z -co --exclude-standard | xargs -0 cp -P --parents -t "$W/src")
if (cd "$W/src" && dpkg-buildpackage -us -uc -b) > "$W/build.log" 2>&1; then
        t_ok "dpkg-buildpackage -us -uc -b builds $(cd "$W" && ls vmprep_*.deb)"
else
        t_fail "dpkg-buildpackage" "$(tail -30 "$W/build.log")"
        exit
fi
deb=$(ls "$W"/vmprep_*.deb)

# one suite at a time drives libvirtd, the hooks and the pool
if ! lv_lock; then t_fail "take /run/vmprep-libvirt.lock" "timeout"; exit; fi
pool_orig=$(cat "$POOL")

# one vmprep at a time: the package replaces a make install (put back at exit)
if ! make -s -C "$repo" uninstall > "$W/uninstall.log" 2>&1; then
        t_fail "make uninstall before installing the package" "$(cat "$W/uninstall.log")"
        exit
fi
if apt-get install -y -qq --no-install-recommends "$deb" > "$W/install.log" 2>&1; then
        t_ok "the package installs"
else
        t_fail "apt-get install ./vmprep.deb" "$(tail -20 "$W/install.log")"
        exit
fi
missing=()
for f in /usr/sbin/vmprep /usr/libexec/vmprep/vmprep-hook /usr/libexec/vmprep/hooks/20-vmprep-hugepages \
         /usr/share/vmprep/profiles/gaming.xml /usr/share/vmprep/profiles/profile.rng /usr/lib/tmpfiles.d/vmprep.conf \
         /usr/share/man/man8/vmprep.8.gz /usr/share/man/man5/vmprep-profile.5.gz /usr/share/bash-completion/completions/vmprep; do
        [ -e "$f" ] || missing+=("$f")
done
link=$(readlink "$HOOKDIR/20-vmprep-hugepages")
dlink=$(readlink "$DAEMONHOOKDIR/vmprep-reconcile")
if [ ${#missing[@]} = 0 ] && [ "$link" = /usr/libexec/vmprep/hooks/20-vmprep-hugepages ] && [ "$dlink" = /usr/sbin/vmprep ] \
        && /usr/sbin/vmprep --version | grep -q vmprep; then
        t_ok "installed: command, handler, hooks (symlinks in qemu.d), daemon hook, profiles, man pages, completion, tmpfiles"
else
        t_fail "installed files" "missing: ${missing[*]}" "hook link: $link" "daemon hook link: $dlink"
fi

# ---- a tagged VM runs: removal refused, upgrade goes on ----
vm_up=no
if lv_up >"$W/lv.log" 2>&1 && lv_cleanup_vm "$VM" && lv_define_vm "$VM" 256 "" "$META" yes >>"$W/lv.log" 2>&1 \
        && lv_virsh start "$VM" >>"$W/lv.log" 2>&1 && lv_wait_state "$VM" running 10 2>>"$W/lv.log"; then
        vm_up=yes
        uuid=$(lv_virsh domuuid "$VM" | head -1)
else
        t_fail "start the tagged VM $VM" "$(tail -20 "$W/lv.log")"
fi
if [ $vm_up = yes ]; then
        dpkg -r vmprep >"$W/remove.log" 2>&1; st=$?
        # (dpkg keeps the package installed; its selection becomes "deinstall")
        if [ $st != 0 ] && dpkg-query -W -f='${Status}' vmprep | grep -q " ok installed$" \
                && grep -q "$VM ($uuid): virsh shutdown $VM" "$W/remove.log" && grep -q "hugepages/node[0-9]*/2048kB: +128 added" "$W/remove.log" \
                && [ "$(readlink "$HOOKDIR/20-vmprep-hugepages")" = /usr/libexec/vmprep/hooks/20-vmprep-hugepages ]; then
                t_ok "dpkg -r while $VM holds 128 pages: refused (exit $st), the VM and its pages named, package and hooks kept"
        else
                t_fail "dpkg -r refused while a tagged VM runs" "exit $st, status $(dpkg-query -W -f='${Status}' vmprep)" "$(cat "$W/remove.log")"
        fi
        # make uninstall of this tree refuses the same way (every path it would
        # remove is under a prefix that does not exist: nothing is touched)
        out=$(make -s -C "$repo" uninstall PREFIX="$W/none" HOOKDIR="$W/none/qemu.d" VMPREP_BIN=/usr/sbin/vmprep 2>&1); st=$?
        if [ $st != 0 ] && grep -q "$VM ($uuid)" <<<"$out" && grep -q "make uninstall: refused" <<<"$out"; then
                t_ok "make uninstall while $VM holds host state: refused, naming it"
        else
                t_fail "make uninstall refused while a tagged VM runs" "exit $st" "$out"
        fi

        # upgrade under the running VM, the hooks exec'd through qemu.d all the
        # while (a tagged reconnect also execs the full handler): none may be
        # missing or half-written at any moment of dpkg's unpack
        mkdir -p "$W/up"
        dpkg-deb -R "$deb" "$W/up/pkg"
        sed -i 's/^Version: .*/&+upgrade1/' "$W/up/pkg/DEBIAN/control"
        dpkg-deb -b "$W/up/pkg" "$W/up/vmprep-upgrade.deb" >/dev/null
        lv_virsh dumpxml "$VM" >"$W/tagged.xml"
        sed -e "s|<name>$VM</name>|<name>vmprep-deb-untagged</name>|" -e '/<metadata>/,/<\/metadata>/d' \
                -e 's|<uuid>.*</uuid>|<uuid>5d0c5c39-96a4-4c3e-8a43-1f2e3d4c5bde</uuid>|' "$W/tagged.xml" >"$W/untagged.xml"
        : >"$W/loop.fail"
        (
                n=0
                while [ ! -e "$W/loop.stop" ]; do
                        for h in "${HOOKS[@]}"; do
                                "$HOOKDIR/$h" vmprep-deb-untagged prepare begin - <"$W/untagged.xml" 2>"$W/loop.err" \
                                        || echo "$h untagged: exit $? $(cat "$W/loop.err")" >>"$W/loop.fail"
                        done
                        "$HOOKDIR/20-vmprep-hugepages" "$VM" reconnect begin - <"$W/tagged.xml" 2>"$W/loop.err"; st=$?
                        [ $st = 0 ] && [ ! -s "$W/loop.err" ] || echo "20 reconnect: exit $st $(cat "$W/loop.err")" >>"$W/loop.fail"
                        n=$((n + 1)); echo $n >"$W/loop.n"
                done
        ) &
        loop_pid=$!
        sleep 1
        dpkg -i "$W/up/vmprep-upgrade.deb" >"$W/upgrade.log" 2>&1; st=$?
        sleep 1
        touch "$W/loop.stop"; wait "$loop_pid"; loop_pid=
        rounds=$(cat "$W/loop.n" 2>/dev/null || echo 0)
        if [ $st = 0 ] && [ "$(dpkg-query -W -f='${Version}' vmprep)" = "$(dpkg-deb -f "$deb" Version)+upgrade1" ] \
                && [ ! -s "$W/loop.fail" ] && [ "$rounds" -gt 2 ]; then
                t_ok "upgrade while $VM runs: not refused; $rounds rounds of the 4 hooks and the full handler exec'd through qemu.d during it, none failed"
        else
                t_fail "upgrade under a running VM" "dpkg -i exit $st, $rounds rounds" "$(head -5 "$W/loop.fail")" "$(tail -5 "$W/upgrade.log")"
        fi
        # the upgraded hooks give back what the old ones took
        lv_virsh destroy "$VM" >/dev/null 2>&1
        for _ in $(seq 50); do ls /run/vmprep/"$uuid".*.journal >/dev/null 2>&1 || break; sleep 0.1; done
        if ! ls /run/vmprep/"$uuid".*.journal >/dev/null 2>&1 && [ "$(cat "$POOL")" = "$pool_orig" ]; then
                t_ok "$VM destroyed after the upgrade: its journal finished, the pool back to $pool_orig"
        else
                t_fail "release after the upgrade" "pool $(cat "$POOL"), was $pool_orig" "$(ls /run/vmprep/)"
        fi
        lv_cleanup_vm "$VM"
fi

if VMPREP_USE_INSTALLED=1 PREFIX=/usr "$repo/tests/host/run.sh" > "$W/host.log" 2>&1; then
        t_ok "host end-to-end against the installed package: $(tail -1 "$W/host.log")"
else
        t_fail "host end-to-end against the installed package" "$(grep -E '^(not ok|#)' "$W/host.log" | head -20)" "$(tail -1 "$W/host.log")"
fi
dpkg --purge vmprep > "$W/purge.log" 2>&1
left=$(ls -d /usr/sbin/vmprep /usr/libexec/vmprep /usr/share/vmprep "$HOOKDIR/20-vmprep-hugepages" "$DAEMONHOOKDIR/vmprep-reconcile" /etc/vmprep 2>/dev/null)
if [ "$(dpkg-query -W -f='${Status}' vmprep 2>/dev/null)" != "install ok installed" ] && [ -z "$left" ]; then
        t_ok "dpkg --purge (no VM holding state) leaves nothing behind"
else
        t_fail "purge" "left: $left" "$(cat "$W/purge.log")"
fi
