#!/usr/bin/env bash
# 10-vmprep-vfio driven as libvirt drives it (argv, domain XML on stdin,
# every phase) against fake PCI trees built by pci-fixture.  Test build
# only: every device is on a bus >= 0x40 of a fake root, never this
# machine's.
#   tests/hooks/vfio.sh build/test
set -uo pipefail
here=$(cd -- "$(dirname -- "$0")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
B=${1:-build/test}
case $B in /*) ;; *) B=$repo/$B ;; esac
HOOK=$B/hooks/10-vmprep-vfio
FIXTURE=$B/pci-fixture
T_SUITE=vfio
# shellcheck source=tests/lib.sh
. "$repo/tests/lib.sh"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}

for f in "$HOOK" "$FIXTURE"; do [ -x "$f" ] || { echo "missing $f"; exit 1; }; done

# shellcheck source=tests/hooks/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/hooks/pci_tree.sh
. "$here/pci_tree.sh"
# every file, link and directory under sys/ and dev/, files byte for byte
SNAPSHOT=("entries:sys,dev" "bytes:sys,dev")
# VF settings as the fake PF holds them
vfstate() { (cd "$ROOT/.fake" && find vf -type f 2>/dev/null | sort | while read -r f; do echo "$f: $(cat "$f")"; done); }
# sriov_domain NAME UUID SRIOV-ELEMENTS DEVICES-XML
sriov_domain() {
        printf "<domain type='kvm'><name>%s</name><uuid>%s</uuid><memory unit='MiB'>512</memory>" "$1" "$2"
        printf "<metadata><vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:vfio/>%s</vmprep:profile></metadata>" "$3"
        printf "<devices>%s</devices></domain>\n" "$4"
}
PF=sys/bus/pci/devices/0000:43:00.0

case_test_build_refuses_without_root() {
        local name="the vfio test build refuses to touch this machine when VMPREP_ROOT is unset"
        pci_tree gpu-hda
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" "$V" 0000:41:00.0 > "$x"
        if env -u VMPREP_ROOT "$HOOK" vm1 prepare begin - < "$x" > "$OUT" 2> "$ERR"; then
                t_fail "$name" "exit 0"
        elif grep -q "VMPREP_ROOT is not set" "$ERR" && [ ! -s "$ROOT/.fake/writes.log" ] && [ "$(drv 0000:41:00.0)" = nvidia ]; then
                t_ok "$name"
        else
                t_fail "$name" "$(cat "$ERR")"
        fi
}

case_untagged_vm_with_hostdev_is_left_to_libvirt() {
        pci_tree gpu-hda
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" "" 0000:41:00.0 > "$x"
        local before op bad=; before=$(snapshot)
        for op in "prepare begin" "start begin" "started begin" "stopped end" "release end" "reconnect begin"; do
                # shellcheck disable=SC2086
                hook "$x" vm1 $op || bad="$op: $(cat "$ERR")"
                [ -s "$OUT" ] && bad="$op printed to stdout"
        done
        [ -z "$bad" ] && [ "$(snapshot)" = "$before" ] && [ ! -s "$ROOT/.fake/writes.log" ] \
                && t_ok "an untagged VM with a <hostdev>: every phase exits 0 and touches nothing" \
                || t_fail "untagged VM with a hostdev" "$bad"
}

case_round_trip_restores_drivers_and_overrides() {
        local name="GPU+HDA round trip: both on vfio-pci with /dev/vfio/20, then back to nvidia and snd_hda_intel with their exact driver_override"
        pci_tree gpu-hda
        # an administrator's override on the HDA function must come back as it was
        echo snd_hda_intel > "$ROOT/sys/bus/pci/devices/0000:41:00.1/driver_override"
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" "$V" 0000:41:00.0 > "$x"
        local before; before=$(snapshot)
        hook "$x" vm1 prepare begin || { t_fail "$name" "prepare: $(cat "$ERR")"; return; }
        [ -s "$OUT" ] && { t_fail "$name" "prepare printed to stdout"; return; }
        if [ "$(drv 0000:41:00.0)" != vfio-pci ] || [ "$(drv 0000:41:00.1)" != vfio-pci ] || [ ! -e "$ROOT/dev/vfio/20" ] \
                || [ "$(ovr 0000:41:00.0)" != vfio-pci ]; then
                t_fail "$name" "after prepare: $(drv 0000:41:00.0) $(drv 0000:41:00.1) $(ls "$ROOT/dev/vfio")"; return
        fi
        # the kernel's order: override, unbind, probe — for each device
        local order; order=$(grep 41:00.0 "$ROOT/.fake/writes.log" | head -3 | awk '{print $1}' | tr '\n' ' ')
        [ "$order" = "/sys/bus/pci/devices/0000:41:00.0/driver_override /sys/bus/pci/drivers/nvidia/unbind /sys/bus/pci/drivers_probe " ] \
                || { t_fail "$name" "write order: $order"; return; }
        hook "$x" vm1 start begin && hook "$x" vm1 started begin && hook "$x" vm1 reconnect begin \
                || { t_fail "$name" "start/started/reconnect: $(cat "$ERR")"; return; }
        stop_phases "$x" vm1
        if [ "$(snapshot)" = "$before" ] && [ ! -e "$ROOT/run/vmprep/$UUID_A.vfio.journal" ] \
                && [ "$(ovr 0000:41:00.1)" = snd_hda_intel ] && ! grep -q "pci/" "$ROOT/run/vmprep/ledger"; then
                t_ok "$name"
        else
                t_fail "$name" "$(diff <(echo "$before") <(snapshot) | head -8)" "$(cat "$ERR")"
        fi
        grep -q "vm1: bound 0000:41:00.1 (multimedia device) to vfio-pci, was on snd_hda_intel" "$ROOT/run/vmprep/events.log" \
                && grep -q "vm1: gave 0000:41:00.1 back to snd_hda_intel" "$ROOT/run/vmprep/events.log" \
                && t_ok "events.log says which device went where and came back" \
                || t_fail "events.log records binds" "$(cat "$ROOT/run/vmprep/events.log")"
}

case_already_on_vfio_is_a_noop() {
        local name="a device already on vfio-pci: nothing written, nothing journalled, left on vfio-pci at release"
        pci_tree gpu-hda
        local b
        for b in 0000:41:00.0 0000:41:00.1; do
                rm "$ROOT/sys/bus/pci/devices/$b/driver"
                ln -s ../../../../bus/pci/drivers/vfio-pci "$ROOT/sys/bus/pci/devices/$b/driver"
        done
        : > "$ROOT/dev/vfio/20"
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" "$V" 0000:41:00.0 > "$x"
        local before; before=$(snapshot)
        hook "$x" vm1 prepare begin || { t_fail "$name" "$(cat "$ERR")"; return; }
        local steps; steps=$(grep -c '^S ' "$ROOT/run/vmprep/$UUID_A.vfio.journal")
        stop_phases "$x" vm1
        [ "$steps" = 0 ] && [ ! -s "$ROOT/.fake/writes.log" ] && [ "$(snapshot)" = "$before" ] \
                && t_ok "$name" || t_fail "$name" "steps $steps" "$(cat "$ROOT/.fake/writes.log")"
}

case_group_device_with_a_viable_group() {
        local name="group='device' with the HDA function unbound: only the GPU moves, /dev/vfio/20 appears, the HDA is never written"
        pci_tree gpu-hda
        rm "$ROOT/sys/bus/pci/devices/0000:41:00.1/driver"
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" "<vmprep:vfio group='device'/>" 0000:41:00.0 > "$x"
        local before; before=$(snapshot)
        hook "$x" vm1 prepare begin || { t_fail "$name" "$(cat "$ERR")"; return; }
        local mid; mid="$(drv 0000:41:00.0) $(drv 0000:41:00.1) $([ -e "$ROOT/dev/vfio/20" ] && echo dev)"
        stop_phases "$x" vm1
        [ "$mid" = "vfio-pci none dev" ] && ! grep -q 41:00.1 "$ROOT/.fake/writes.log" && [ "$(snapshot)" = "$before" ] \
                && t_ok "$name" || t_fail "$name" "while running: $mid" "$(diff <(echo "$before") <(snapshot) | head -4)"
}

case_member_that_will_not_leave_rolls_back() {
        local name="an HDA function that will not leave snd_hda_intel fails prepare, names it, and the GPU goes back to nvidia"
        pci_tree gpu-hda
        : > "$ROOT/.fake/pci/0000:41:00.1.unbind-busy"
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" "$V" 0000:41:00.0 > "$x"
        local before; before=$(snapshot)
        if hook "$x" vm1 prepare begin; then t_fail "$name" "prepare succeeded"; return; fi
        if grep -q "cannot bind 0000:41:00.1 (multimedia device, in IOMMU group 20 with 0000:41:00.0) to vfio-pci: snd_hda_intel will not let it go (Device or resource busy)" "$ERR" \
                && [ "$(snapshot)" = "$before" ] && [ ! -e "$ROOT/run/vmprep/$UUID_A.vfio.journal" ]; then
                t_ok "$name"
        else
                t_fail "$name" "$(cat "$ERR")" "$(diff <(echo "$before") <(snapshot) | head -5)"
        fi
}

case_release_after_failed_prepare_returns_only_what_moved() {
        local name="release after a failed prepare touches nothing: the rollback returned what moved, the admin's vfio-pci device stays"
        pci_tree gpu-hda gpu-bridge-usb
        # the USB controller was on vfio-pci before vmprep (an administrator's doing)
        rm "$ROOT/sys/bus/pci/devices/0000:42:00.3/driver"
        ln -s ../../../../bus/pci/drivers/vfio-pci "$ROOT/sys/bus/pci/devices/0000:42:00.3/driver"
        echo vfio-pci > "$ROOT/sys/bus/pci/devices/0000:42:00.3/driver_override"
        : > "$ROOT/.fake/pci/0000:41:00.0.refuse-vfio-pci"     # vfio-pci's probe fails on the GPU
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" "$V" 0000:42:00.0 0000:41:00.0 > "$x"
        local before; before=$(snapshot)
        if hook "$x" vm1 prepare begin; then t_fail "$name" "prepare succeeded"; return; fi
        local msg; msg=$(cat "$ERR")
        : > "$ROOT/.fake/writes.log"
        stop_phases "$x" vm1
        if [[ $msg == *"cannot bind 0000:41:00.0 to vfio-pci: after drivers_probe it is on no driver"* ]] \
                && [ ! -s "$ROOT/.fake/writes.log" ] && [ "$(snapshot)" = "$before" ] && [ "$(drv 0000:42:00.3)" = vfio-pci ] \
                && [ "$(drv 0000:42:00.0)" = nouveau ] && [ "$(drv 0000:40:01.0)" = pcieport ]; then
                t_ok "$name"
        else
                t_fail "$name" "$msg" "release wrote: $(cat "$ROOT/.fake/writes.log")" "$(diff <(echo "$before") <(snapshot) | head -5)"
        fi
}

case_failed_rollback_is_finished_by_release() {
        local name="a rollback that cannot give the GPU back keeps its journal step; release finishes it later and touches only the GPU"
        pci_tree gpu-hda
        : > "$ROOT/.fake/pci/0000:41:00.1.unbind-busy"      # the HDA will not leave: prepare fails
        : > "$ROOT/.fake/pci/0000:41:00.0.refuse-nvidia"    # and nvidia will not take the GPU back
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" "$V" 0000:41:00.0 > "$x"
        local before; before=$(snapshot)
        if hook "$x" vm1 prepare begin; then t_fail "$name" "prepare succeeded"; return; fi
        local msg; msg=$(cat "$ERR")
        local jr=$ROOT/run/vmprep/$UUID_A.vfio.journal live
        live=$(( $(grep -c '^S ' "$jr" 2>/dev/null) - $(grep -c '^U ' "$jr" 2>/dev/null) ))
        local mid; mid="$(drv 0000:41:00.0) $(drv 0000:41:00.1) $live"
        rm "$ROOT/.fake/pci/0000:41:00.0.refuse-nvidia"     # whatever held nvidia back is gone
        : > "$ROOT/.fake/writes.log"
        stop_phases "$x" vm1
        if [[ $msg == *"cannot give 0000:41:00.0 back to nvidia: its bind refused it"* ]] && [ "$mid" = "none snd_hda_intel 1" ] \
                && [ "$(snapshot)" = "$before" ] && ! grep -q "41:00.1" "$ROOT/.fake/writes.log" \
                && [ ! -e "$ROOT/run/vmprep/$UUID_A.vfio.journal" ]; then
                t_ok "$name"
        else
                t_fail "$name" "$msg" "after the failed prepare: $mid (want: none snd_hda_intel 1)" "release wrote: $(cat "$ROOT/.fake/writes.log")"
        fi
}

case_dev_vfio_that_never_appears() {
        local name="/dev/vfio/20 that never appears: prepare gives up after 5 s, says so, and gives both devices back"
        pci_tree gpu-hda
        : > "$ROOT/.fake/no-dev-vfio"
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" "$V" 0000:41:00.0 > "$x"
        local before; before=$(snapshot)
        local t0=$SECONDS
        if hook "$x" vm1 prepare begin; then t_fail "$name" "prepare succeeded"; return; fi
        local took=$((SECONDS - t0))
        if grep -q "/dev/vfio/20 did not appear within 5 s after binding IOMMU group 20 (0000:41:00.0) to vfio-pci" "$ERR" \
                && [ "$(snapshot)" = "$before" ] && [ $took -ge 4 ] && [ $took -le 15 ]; then
                t_ok "$name"
        else
                t_fail "$name" "took ${took}s" "$(cat "$ERR")"
        fi
}

case_untagged_while_running_is_still_given_back() {
        pci_tree gpu-hda
        local x=$ROOT/x.xml y=$ROOT/y.xml
        domain vm1 "$UUID_A" "$V" 0000:41:00.0 > "$x"
        domain vm1 "$UUID_A" "" 0000:41:00.0 > "$y"     # virsh metadata --remove --live while it runs
        local before; before=$(snapshot)
        hook "$x" vm1 prepare begin || { t_fail "untagged while running" "$(cat "$ERR")"; return; }
        stop_phases "$y" vm1
        [ "$(snapshot)" = "$before" ] && [ "$(drv 0000:41:00.0)" = nvidia ] \
                && t_ok "a VM untagged while running still gets its devices given back (journal found by UUID)" \
                || t_fail "untagged while running" "$(diff <(echo "$before") <(snapshot) | head -4)"
}

case_concurrent_prepares_for_one_device() {
        local name="two VMs starting at once with the same GPU: exactly one gets it, the other is refused naming it"
        pci_tree gpu-hda
        local x=$ROOT/x.xml y=$ROOT/y.xml e1=$ROOT/e1 e2=$ROOT/e2
        domain vm1 "$UUID_A" "$V" 0000:41:00.0 > "$x"
        domain vm2 "$UUID_B" "$V" 0000:41:00.0 > "$y"
        "$HOOK" vm1 prepare begin - < "$x" > /dev/null 2> "$e1" & local p1=$!
        "$HOOK" vm2 prepare begin - < "$y" > /dev/null 2> "$e2" & local p2=$!
        local s1=0 s2=0; wait $p1 || s1=$?; wait $p2 || s2=$?
        local loser_err
        if [ $s1 -eq 0 ] && [ $s2 -ne 0 ]; then loser_err=$(cat "$e2"); stop_phases "$y" vm2; stop_phases "$x" vm1
        elif [ $s2 -eq 0 ] && [ $s1 -ne 0 ]; then loser_err=$(cat "$e1"); stop_phases "$x" vm1; stop_phases "$y" vm2
        else t_fail "$name" "exit statuses $s1 $s2"; return; fi
        if [[ $loser_err == *"the running VM vm"*"holds it"* ]] && [ "$(drv 0000:41:00.0)" = nvidia ] && [ "$(drv 0000:41:00.1)" = snd_hda_intel ]; then
                t_ok "$name"
        else
                t_fail "$name" "$loser_err" "$(drv 0000:41:00.0) $(drv 0000:41:00.1)"
        fi
}

case_reconnect_after_a_crash() {
        pci_tree gpu-hda
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" "$V" 0000:41:00.0 > "$x"
        local before st; before=$(snapshot)
        # crash point 2: the GPU's bind step journalled, its driver_override written
        crash_at 2 "$x" vm1 prepare begin; st=$?
        local w; w=$(wc -l < "$ROOT/.fake/writes.log")
        if [ $st -eq 137 ] && hook "$x" vm1 reconnect begin && grep -q "bind of /sys/bus/pci/devices/0000:41:00.0 was interrupted; release will finish it" "$ERR" \
                && [ "$(wc -l < "$ROOT/.fake/writes.log")" = "$w" ]; then
                t_ok "reconnect after a crashed prepare: exits 0, names the interrupted step, changes nothing"
        else
                t_fail "reconnect after a crash" "status $st" "$(cat "$ERR")"
        fi
        stop_phases "$x" vm1
        [ "$(snapshot)" = "$before" ] || t_fail "release after reconnect" "$(diff <(echo "$before") <(snapshot) | head -4)"
}

case_second_vm_is_refused_a_held_device() {
        local name="a second VM asking for the HDA function vm1 holds fails, naming vm1; its release leaves vm1's devices alone"
        pci_tree gpu-hda
        local x=$ROOT/x.xml y=$ROOT/y.xml
        domain vm1 "$UUID_A" "$V" 0000:41:00.0 > "$x"
        domain vm2 "$UUID_B" "<vmprep:vfio group='device'/>" 0000:41:00.1 > "$y"
        local before; before=$(snapshot)
        hook "$x" vm1 prepare begin || { t_fail "$name" "vm1: $(cat "$ERR")"; return; }
        if hook "$y" vm2 prepare begin; then t_fail "$name" "vm2 prepare succeeded"; return; fi
        local msg; msg=$(cat "$ERR")
        stop_phases "$y" vm2
        local mid; mid="$(drv 0000:41:00.0) $(drv 0000:41:00.1)"
        stop_phases "$x" vm1
        if [[ $msg == *"cannot pass 0000:41:00.1 (multimedia device, <hostdev> 0000:41:00.1) to this VM: the running VM vm1 ($UUID_A) holds it"* ]] \
                && [ "$mid" = "vfio-pci vfio-pci" ] && [ "$(snapshot)" = "$before" ]; then
                t_ok "$name"
        else
                t_fail "$name" "$msg" "after vm2's release: $mid"
        fi
}

# interlock FIXTURE VFIO-ELEMENT BDF EXPECTED-MESSAGE NAME
interlock() {
        pci_tree "$1"
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" "$2" "$3" > "$x"
        local before; before=$(snapshot)
        if hook "$x" vm1 prepare begin; then t_fail "$5" "prepare succeeded"; stop_phases "$x" vm1; return; fi
        local msg; msg=$(cat "$ERR")
        stop_phases "$x" vm1
        if [[ $msg == *"$4"* ]] && [ "$(snapshot)" = "$before" ] && [ ! -s "$ROOT/.fake/writes.log" ]; then
                t_ok "$5"
        else
                t_fail "$5" "$msg" "writes: $(head -3 "$ROOT/.fake/writes.log")"
        fi
}

case_interlocks() {
        interlock gpu-bridge-usb "$V" 0000:40:01.0 \
                "refusing to bind 0000:40:01.0 (bridge, <hostdev> 0000:40:01.0) to vfio-pci: it is a PCI bridge" \
                "a PCI bridge asked for directly is refused"
        interlock nvme-mounted "$V" 0000:44:00.0 \
                "refusing to bind 0000:44:00.0 (storage controller, <hostdev> 0000:44:00.0) to vfio-pci: it holds the mounted filesystem /var (/dev/nvme0n1p1)" \
                "an NVMe controller holding a mounted filesystem is refused, naming the mount"
        interlock host-nic "$V" 0000:46:00.0 \
                "refusing to bind 0000:46:00.0 (network controller, <hostdev> 0000:46:00.0) to vfio-pci: it is the host's network interface eno1 and it carries the default route" \
                "the NIC carrying the default route is refused"
        interlock boot-vga "<vmprep:vfio single-gpu='off'/>" 0000:45:00.0 \
                "refusing to bind 0000:45:00.0 (display controller, <hostdev> 0000:45:00.0) to vfio-pci: it is the boot GPU and drives the framebuffer console (vtcon1), and single-gpu='off'" \
                "the boot GPU driving fbcon with single-gpu='off' is refused"
        interlock boot-vga "<vmprep:vfio single-gpu='off' force='yes'/>" 0000:45:00.0 \
                "refusing to unbind 0000:45:00.0 (display controller, <hostdev> 0000:45:00.0) from amdgpu: its device nodes are open in Xorg (pid 4242)" \
                "a GPU whose /dev/dri node is open is never unbound, even forced: the holder is named with its pid"
        interlock gpu-hda "<vmprep:vfio group='device'/>" 0000:41:00.0 \
                "cannot pass 0000:41:00.0 alone (group='device'): IOMMU group 20 is not viable, its member 0000:41:00.1 (multimedia device) is bound to snd_hda_intel" \
                "group='device' with a group that is not viable is refused, naming the member"

        # /dev/snd/controlC1 of the HDA function open in a sound server
        pci_tree gpu-hda
        mkdir -p "$ROOT/proc/777/fd"; echo pipewire > "$ROOT/proc/777/comm"
        ln -s /dev/snd/controlC1 "$ROOT/proc/777/fd/31"
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" "$V" 0000:41:00.0 > "$x"
        if ! hook "$x" vm1 prepare begin && grep -q "refusing to unbind 0000:41:00.1 (multimedia device, in IOMMU group 20 with 0000:41:00.0) from snd_hda_intel: its device nodes are open in pipewire (pid 777)" "$ERR" \
                && [ ! -s "$ROOT/.fake/writes.log" ]; then
                t_ok "an HDA function whose /dev/snd/controlC1 is open is refused before any unbind, naming pipewire (pid 777)"
        else
                t_fail "a held /dev/snd node is refused" "$(cat "$ERR")"
        fi

        # /home on LVM on the NVMe: dm-0 is built on nvme0n1p2
        pci_tree nvme-mounted
        mkdir -p "$ROOT/sys/devices/virtual/block/dm-0/slaves" "$ROOT/sys/class/block/nvme0n1p2"
        ln -s ../../devices/virtual/block/dm-0 "$ROOT/sys/dev/block/253:0"
        ln -s ../../../../pci0000:40/0000:40:01.2/0000:44:00.0/nvme/nvme0/nvme0n1/nvme0n1p2 "$ROOT/sys/devices/virtual/block/dm-0/slaves/nvme0n1p2"
        echo 259:2 > "$ROOT/sys/class/block/nvme0n1p2/dev"
        ln -s ../../devices/pci0000:40/0000:40:01.2/0000:44:00.0/nvme/nvme0/nvme0n1/nvme0n1p2 "$ROOT/sys/dev/block/259:2"
        sed -i '/259:1/d' "$ROOT/proc/self/mountinfo"
        echo "41 22 253:0 / /home rw,relatime shared:21 - ext4 /dev/mapper/vg0-home rw" >> "$ROOT/proc/self/mountinfo"
        x=$ROOT/x.xml; domain vm1 "$UUID_A" "$V" 0000:44:00.0 > "$x"
        if ! hook "$x" vm1 prepare begin && grep -q "it holds the mounted filesystem /home (/dev/mapper/vg0-home)" "$ERR"; then
                t_ok "an NVMe under LVM (dm-0 built on its partition) holding /home is refused, naming the mount"
        else
                t_fail "NVMe under LVM is refused" "$(cat "$ERR")"
        fi

        # force='yes' on the device passes the mounted NVMe, and gives it back
        pci_tree nvme-mounted
        x=$ROOT/x.xml; domain vm1 "$UUID_A" "<vmprep:vfio><vmprep:device address='0000:44:00.0' force='yes'/></vmprep:vfio>" > "$x"
        local before; before=$(snapshot)
        if hook "$x" vm1 prepare begin && [ "$(drv 0000:44:00.0)" = vfio-pci ] && grep -q "passing 0000:44:00.0 although it holds the mounted filesystem /var" "$ERR"; then
                stop_phases "$x" vm1
                [ "$(snapshot)" = "$before" ] && t_ok "force='yes' on <vmprep:device> passes a refused device with a warning, and gives it back" \
                        || t_fail "forced device round trip" "$(diff <(echo "$before") <(snapshot) | head -5)"
        else
                t_fail "force='yes' passes the mounted NVMe" "$(cat "$ERR")"
        fi
}

case_loads_vfio_pci_when_missing() {
        pci_tree gpu-hda
        rm -rf "$ROOT/sys/bus/pci/drivers/vfio-pci"
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" "$V" 0000:41:00.0 > "$x"
        if hook "$x" vm1 prepare begin && [ "$(drv 0000:41:00.0)" = vfio-pci ] && grep -q "^/.fake/modprobe vfio_pci" "$ROOT/.fake/writes.log"; then
                t_ok "vfio-pci is loaded when its driver directory is missing (through the test build's fake libkmod)"
        else
                t_fail "vfio-pci is loaded when missing" "$(cat "$ERR")"
        fi
        stop_phases "$x" vm1
        pci_tree gpu-hda
        rm -rf "$ROOT/sys/bus/pci/drivers/vfio-pci"; : > "$ROOT/.fake/modprobe-fails"
        x=$ROOT/x.xml; domain vm1 "$UUID_A" "$V" 0000:41:00.0 > "$x"
        local before; before=$(snapshot)
        if ! hook "$x" vm1 prepare begin && grep -q "the vfio-pci driver is not loaded and loading it failed" "$ERR"; then
                stop_phases "$x" vm1
                [ "$(snapshot)" = "$before" ] && t_ok "vfio-pci that cannot be loaded fails prepare with a clear message, nothing moved" \
                        || t_fail "vfio-pci load failure leaves the tree" "$(diff <(echo "$before") <(snapshot) | head -5)"
        else
                t_fail "vfio-pci load failure" "$(cat "$ERR")"
        fi
}

# modprobe.d as Debian's nvidia packages write it, and an admin's blacklist:
# a hook runs no install command (a shell inside libvirtd's start path) and
# respects the blacklist with a clear error
case_modprobe_d_commands_never_run() {
        pci_tree gpu-hda
        rm -rf "$ROOT/sys/bus/pci/drivers/vfio-pci"
        mkdir -p "$ROOT/etc/modprobe.d"
        printf 'install vfio-pci /bin/sh -c "touch /tmp/pwned; modprobe -i vfio-pci"\n' > "$ROOT/etc/modprobe.d/vfio.conf"
        printf 'install nvidia modprobe -i nvidia-current $CMDLINE_OPTS\nremove nvidia modprobe -r -i nvidia-drm nvidia-modeset nvidia\n' > "$ROOT/etc/modprobe.d/nvidia.conf"
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" "<vmprep:vfio unload-modules='nvidia'/>" 0000:41:00.0 > "$x"
        local before; before=$(snapshot)
        if hook "$x" vm1 prepare begin && [ "$(drv 0000:41:00.0)" = vfio-pci ] && [ ! -e "$ROOT/.fake/kmod-ran-commands" ] \
                && grep -q "modprobe.d has an install command for vfio-pci; vmprep loads the module without running it" "$ERR" \
                && grep -q "modprobe.d has a remove command for nvidia; vmprep unloads the module without running it" "$ERR"; then
                t_ok "vfio-pci with an install command in modprobe.d is loaded without running it, and said so; a remove command is not run either"
        else
                t_fail "modprobe.d install command" "$(cat "$ERR")" "ran: $(cat "$ROOT/.fake/kmod-ran-commands" 2>/dev/null)"
        fi
        stop_phases "$x" vm1
        if [ ! -e "$ROOT/.fake/kmod-ran-commands" ] && [ -d "$ROOT/sys/module/nvidia" ] && [ "$(drv 0000:41:00.0)" = nvidia ] \
                && grep -q "modprobe.d has an install command for nvidia; vmprep loads the module without running it" "$ERR"; then
                t_ok "nvidia is loaded again at release without running its install command, and the GPU goes back to it"
        else
                t_fail "nvidia given back" "$(cat "$ERR")" "ran: $(cat "$ROOT/.fake/kmod-ran-commands" 2>/dev/null)" "driver: $(drv 0000:41:00.0)"
        fi

        pci_tree gpu-hda
        rm -rf "$ROOT/sys/bus/pci/drivers/vfio-pci"
        mkdir -p "$ROOT/etc/modprobe.d"
        printf 'blacklist vfio_pci\nalias pci:v000010DEd00002204sv*sd*bc*sc*i* vfio-pci\n' > "$ROOT/etc/modprobe.d/no-vfio.conf"
        x=$ROOT/x.xml; domain vm1 "$UUID_A" "$V" 0000:41:00.0 > "$x"
        before=$(snapshot)
        if ! hook "$x" vm1 prepare begin && grep -q "modprobe.d blacklists vfio-pci ('blacklist vfio_pci'), and vmprep respects that: nothing was bound" "$ERR" \
                && ! grep -q "^/.fake/modprobe" "$ROOT/.fake/writes.log"; then
                stop_phases "$x" vm1
                [ "$(snapshot)" = "$before" ] && t_ok "a blacklisted vfio-pci is not loaded: prepare fails saying so and how to change it, nothing moved" \
                        || t_fail "blacklisted vfio-pci leaves the tree" "$(diff <(echo "$before") <(snapshot) | head -5)"
        else
                t_fail "blacklisted vfio-pci" "$(cat "$ERR")" "$(grep modprobe "$ROOT/.fake/writes.log")"
        fi
}

# SIGKILL at every crash point of prepare, then stopped+release: exactly as before.
# gpu_usb_vm: GPU+HDA (an administrator's override on the HDA) and a GPU
# whose group holds a USB controller behind a bridge
gpu_usb_vm() {
        pci_tree gpu-hda gpu-bridge-usb
        echo snd_hda_intel > "$ROOT/sys/bus/pci/devices/0000:41:00.1/driver_override"
        domain vm1 "$UUID_A" "$V" 0000:41:00.0 0000:42:00.0 > "$ROOT/x.xml"
}
# sriov_vm: 3 VFs made through 0, VF 2 set, two VFs bound
sriov_vm() {
        pci_tree sriov-nic
        sriov_domain vm1 "$UUID_A" "<vmprep:sriov pf='0000:43:00.0' vfs='3'><vmprep:vf index='2' mac='52:54:00:6d:90:02' spoofchk='off'/></vmprep:sriov>" \
                "$(hostdev 0000:43:10.0)$(iface 0000:43:10.4)" > "$ROOT/x.xml"
}
# boot_gpu_vm: single GPU: the display manager, consoles and framebuffer too
boot_gpu_vm() { pci_tree boot-vga; domain vm1 "$UUID_A" "<vmprep:vfio/>" 0000:45:00.0 > "$ROOT/x.xml"; }
gpu_vm() { pci_tree gpu-hda; domain vm1 "$UUID_A" "$V" 0000:41:00.0 > "$ROOT/x.xml"; }
# all_kinds_vm: every kind of step at once: display manager, console,
# framebuffer, VFs, a VF setting, binds and modules
all_kinds_vm() {
        pci_tree boot-vga sriov-nic gpu-hda
        sriov_domain vm1 "$UUID_A" "<vmprep:sriov pf='0000:43:00.0' vfs='2'><vmprep:vf index='1' mac='52:54:00:00:00:09'/></vmprep:sriov>" \
                "$(hostdev 0000:45:00.0)$(hostdev 0000:43:10.2)" > "$ROOT/x.xml"
        sed -i "s|<vmprep:vfio/>|<vmprep:vfio unload-modules='nvidia-drm'/>|" "$ROOT/x.xml"
}
sriov_snapshot() { snapshot; vfstate; }
units_snapshot() { snapshot; units; }
all_snapshot() { snapshot; units; vfstate; }
no_pci_hold() { if grep -q "pci/" "$ROOT/run/vmprep/ledger" 2>/dev/null; then crash_fail "a hold is left"; fi; }
no_pci_sriov_hold() { if grep -qE "pci/|sriov" "$ROOT/run/vmprep/ledger" 2>/dev/null; then crash_fail "a hold is left"; fi; }
case_crash_at_every_point() {
        crash_sweep -c crash_no_journal -c no_pci_hold gpu_usb_vm vm1 prepare begin
        crash_verdict 10 "SIGKILL at each of $CRASHED crash points of prepare, then stopped+release: every file and link exactly as before" \
                "SIGKILL at each crash point of prepare"
        crash_sweep -s sriov_snapshot -c no_pci_sriov_hold sriov_vm vm1 prepare begin
        crash_verdict 10 "SIGKILL at each of $CRASHED crash points of an SR-IOV prepare, then stopped+release: VF count, autoprobe, drivers exactly as before" \
                "SIGKILL at each crash point of an SR-IOV prepare"
        crash_sweep -s units_snapshot boot_gpu_vm vm1 prepare begin
        crash_verdict 10 "SIGKILL at each of $CRASHED crash points of a single-GPU prepare, then stopped+release: display manager, consoles, framebuffer, GPU exactly as before" \
                "SIGKILL at each crash point of a single-GPU prepare"
        # release killed at each point, GPU+HDA, then every kind at once: one count
        crash_sweep -m 200 gpu_vm vm1 release end
        crash_sweep -m 200 -s all_snapshot all_kinds_vm vm1 release end
        crash_verdict 10 "SIGKILL at each of $CRASHED crash points of release (GPU+HDA; and display, VFs, VF setting, module at once), then release again: exactly as before" \
                "SIGKILL at each crash point of release"
}

# park_vfs BDF...: VFs an administrator made for VMs: no driver, autoprobe
# off (a VF on a host driver is the host's, and its count is never changed)
park_vfs() {
        local b; for b in "$@"; do rm "$ROOT/sys/bus/pci/devices/$b/driver"; done
        echo 0 > "$ROOT/$PF/sriov_drivers_autoprobe"
}

case_vfs_created_through_zero_and_restored() {
        local name="8 VFs through 0 (2 parked before), VF 0 set over the fake rtnetlink, VFs 0 and 7 to vfio-pci; release: 2 VFs, autoprobe 0, tree exact"
        pci_tree sriov-nic-2vfs
        park_vfs 0000:43:10.0 0000:43:10.2
        local x=$ROOT/x.xml
        sriov_domain vm1 "$UUID_A" "<vmprep:sriov pf='0000:43:00.0' vfs='8'><vmprep:vf index='0' mac='52:54:00:6d:90:02' vlan='100' qos='3' trust='on' spoofchk='off'/></vmprep:sriov>" \
                "$(iface 0000:43:10.0)$(hostdev 0000:43:11.6)" > "$x"
        local before vfs; before=$(snapshot); vfs=$(vfstate)
        hook "$x" vm1 prepare begin || { t_fail "$name" "prepare: $(cat "$ERR")"; return; }
        local order; order=$(grep -E "sriov_(numvfs|drivers_autoprobe)" "$ROOT/.fake/writes.log" | tr '\n' ';')
        if [ "$order" != "/$PF/sriov_numvfs 0;/$PF/sriov_numvfs 8;" ] \
                || [ "$(cat "$ROOT/$PF/sriov_numvfs")" != 8 ] || [ "$(drv 0000:43:10.0)" != vfio-pci ] || [ "$(drv 0000:43:11.6)" != vfio-pci ] \
                || [ "$(drv 0000:43:10.2)" != none ] \
                || [ "$(cat "$ROOT/.fake/vf/enp67s0f0/0")" != "mac=52:54:00:6d:90:02 vlan=100 qos=3 trust=on spoofchk=off" ]; then
                t_fail "$name" "after prepare: order $order; numvfs $(cat "$ROOT/$PF/sriov_numvfs"); $(drv 0000:43:10.0) $(drv 0000:43:11.6) $(drv 0000:43:10.2); $(vfstate)"
                return
        fi
        stop_phases "$x" vm1
        if [ "$(snapshot)" = "$before" ] && [ "$(cat "$ROOT/$PF/sriov_numvfs")" = 2 ] && [ "$(drv 0000:43:10.2)" = none ] \
                && ! grep -q sriov "$ROOT/run/vmprep/ledger"; then
                t_ok "$name"
        else
                t_fail "$name" "$(diff <(echo "$before") <(snapshot) | head -6)" "$(cat "$ERR")"
        fi
        # the administrator's MAC on VF 1 went with sriov_numvfs=0, as on real hardware
        [ "$vfs" = "vf/enp67s0f0/1: mac=02:00:00:00:00:11 vlan=0 qos=0 trust=off spoofchk=on" ] && [ -z "$(vfstate)" ] \
                && t_ok "going through 0 wipes VF settings in the fake kernel as in the real one (what vmprep cannot give back; see the report)" \
                || t_fail "VF settings wiped through 0" "$vfs / $(vfstate)"
}

case_vf_settings_restored_without_count_change() {
        local name="VFs already there: no count change, VF 1's MAC/VLAN/trust set and then given back exactly"
        pci_tree sriov-nic-2vfs
        park_vfs 0000:43:10.0 0000:43:10.2
        local x=$ROOT/x.xml
        sriov_domain vm1 "$UUID_A" "<vmprep:sriov pf='0000:43:00.0' vfs='2'><vmprep:vf index='1' mac='52:54:00:00:00:01' vlan='42' trust='on'/></vmprep:sriov>" \
                "$(hostdev 0000:43:10.2)" > "$x"
        local before vfs; before=$(snapshot); vfs=$(vfstate)
        hook "$x" vm1 prepare begin || { t_fail "$name" "prepare: $(cat "$ERR")"; return; }
        local mid; mid=$(cat "$ROOT/.fake/vf/enp67s0f0/1")
        grep -q sriov_numvfs "$ROOT/.fake/writes.log" && { t_fail "$name" "sriov_numvfs was written"; return; }
        stop_phases "$x" vm1
        if [ "$mid" = "mac=52:54:00:00:00:01 vlan=42 qos=0 trust=on spoofchk=on" ] && [ "$(vfstate)" = "$vfs" ] && [ "$(snapshot)" = "$before" ]; then
                t_ok "$name"
        else
                t_fail "$name" "while running: $mid" "after: $(vfstate)" "$(cat "$ERR")"
        fi
}

# The lab's igb case: an administrator made 2 VFs that sit on the host's VF
# driver with nobody using them; a VM that asks for one takes it from that
# driver and gives it back, the count untouched. Once the VF's netdev has a
# host address, it is the host's: refused, naming it, nothing written.
case_admin_vf_on_host_driver() {
        local name="an administrator's VF on ixgbevf with no address: taken to vfio-pci and given back to ixgbevf, count untouched"
        pci_tree sriov-nic-2vfs
        local x=$ROOT/x.xml
        sriov_domain vm1 "$UUID_A" "<vmprep:sriov pf='0000:43:00.0'><vmprep:vf index='1' vlan='42'/></vmprep:sriov>" \
                "$(hostdev 0000:43:10.2)" > "$x"
        local before; before=$(snapshot)
        if ! hook "$x" vm1 prepare begin; then t_fail "$name" "prepare: $(cat "$ERR")"; return; fi
        local mid; mid="$(drv 0000:43:10.2) $(cat "$ROOT/$PF/sriov_numvfs")"
        stop_phases "$x" vm1
        if [ "$mid" = "vfio-pci 2" ] && ! grep -q sriov_numvfs "$ROOT/.fake/writes.log" && [ "$(drv 0000:43:10.2)" = ixgbevf ] \
                && [ "$(snapshot)" = "$before" ]; then
                t_ok "$name"
        else
                t_fail "$name" "while running: $mid" "after: $(drv 0000:43:10.2)" "$(diff <(echo "$before") <(snapshot) | head -6)"
        fi
        name="the same VF once its netdev carries a host address: refused naming the VF and its address, nothing written"
        pci_tree sriov-nic-2vfs
        x=$ROOT/x.xml
        sriov_domain vm1 "$UUID_A" "<vmprep:sriov pf='0000:43:00.0'><vmprep:vf index='1' vlan='42'/></vmprep:sriov>" \
                "$(hostdev 0000:43:10.2)" > "$x"
        mkdir -p "$ROOT/sys/bus/pci/devices/0000:43:10.2/net/enp67s0f0v1"
        echo "enp67s0f0v1 198.51.100.7/24" > "$ROOT/.fake/inet4"
        before=$(snapshot)
        if hook "$x" vm1 prepare begin; then
                t_fail "$name" "prepare succeeded"
        elif grep -q "0000:43:10.2 is bound to ixgbevf" "$ERR" && grep -q "198.51.100.7" "$ERR" && [ "$(snapshot)" = "$before" ] \
                && ! grep -qE "sriov|43:10" "$ROOT/.fake/writes.log"; then
                t_ok "$name"
        else
                t_fail "$name" "$(cat "$ERR")" "$(grep -E "sriov|43:10" "$ROOT/.fake/writes.log" | head -3)"
        fi
        stop_phases "$x" vm1
}

case_sriov_enabled_no_is_left_alone() {
        local name="<vmprep:sriov enabled='no'>: the PF's count and its VFs' settings are not touched"
        pci_tree sriov-nic-2vfs
        local x=$ROOT/x.xml
        sriov_domain vm1 "$UUID_A" "<vmprep:sriov enabled='no' pf='0000:43:00.0' vfs='8'><vmprep:vf index='1' mac='52:54:00:00:00:01' vlan='42'/></vmprep:sriov>" "" > "$x"
        local before vfs; before=$(snapshot); vfs=$(vfstate)
        hook "$x" vm1 prepare begin || { t_fail "$name" "prepare: $(cat "$ERR")"; return; }
        local mid; mid="$(cat "$ROOT/$PF/sriov_numvfs") $(vfstate)"
        local writes; writes=$(grep -E "sriov|vf/" "$ROOT/.fake/writes.log")
        stop_phases "$x" vm1
        if [ "$mid" = "2 $vfs" ] && [ -z "$writes" ] && [ "$(snapshot)" = "$before" ] \
                && ! grep -q sriov "$ROOT/run/vmprep/ledger" 2>/dev/null; then
                t_ok "$name"
        else
                t_fail "$name" "while running: $mid" "writes: $writes" "$(cat "$ERR")"
        fi
}

case_vfs_shared_by_two_vms() {
        local name="vm1 raises a PF to 4 VFs, vm2 uses them; vm1 stops: the VFs stay for vm2; vm2 stops: back to 0 and autoprobe 1"
        pci_tree sriov-nic
        local x=$ROOT/x.xml y=$ROOT/y.xml z=$ROOT/z.xml
        sriov_domain vm1 "$UUID_A" "<vmprep:sriov pf='0000:43:00.0' vfs='4'/>" "$(hostdev 0000:43:10.0)" > "$x"
        sriov_domain vm2 "$UUID_B" "<vmprep:sriov pf='0000:43:00.0' vfs='4'/>" "$(hostdev 0000:43:10.2)" > "$y"
        sriov_domain vm3 5b0c3a1e-7d2f-4a8b-9c6d-1e2f3a4b5c03 "<vmprep:sriov pf='0000:43:00.0' vfs='8'/>" "" > "$z"
        local before; before=$(snapshot)
        hook "$x" vm1 prepare begin && hook "$y" vm2 prepare begin || { t_fail "$name" "$(cat "$ERR")"; return; }
        if hook "$z" vm3 prepare begin; then t_fail "$name" "vm3 raised the count under running VMs"; return; fi
        local msg3; msg3=$(cat "$ERR")
        stop_phases "$z" vm3
        stop_phases "$x" vm1
        local mid; mid="$(cat "$ROOT/$PF/sriov_numvfs") $(drv 0000:43:10.2) $(drv 0000:43:10.0)"
        stop_phases "$y" vm2
        if [[ $msg3 == *"cannot raise the VF count of 0000:43:00.0 from 4 to 8: sriov_numvfs changes only through 0, which would remove VFs in use: "*"0000:43:10.0 is used by running VM vm1 ($UUID_A); 0000:43:10.2 is used by running VM vm2 ($UUID_B)"* ]] \
                && [ "$mid" = "4 vfio-pci none" ] && [ "$(snapshot)" = "$before" ] && ! grep -q sriov "$ROOT/run/vmprep/ledger"; then
                t_ok "$name"
        else
                t_fail "$name" "vm3: $msg3" "after vm1 stopped: $mid (want 4 vfio-pci none)" "$(diff <(echo "$before") <(snapshot) | head -5)" "$(cat "$ROOT/run/vmprep/ledger")"
        fi
}

# The ledger damaged while two VMs share a PF's VFs: the first stop rebuilds
# it from the journals, so it still knows vm2 uses the VFs and leaves the
# count; vm2's stop gives everything back.  With a journal that cannot be
# read, the release gives nothing back and says why (the devices are still
# the VM's to return: the next release or reconcile does).
case_damaged_ledger_release() {
        local name="ledger damaged under two VMs sharing a PF's VFs: vm1's release rebuilds it from the journals, the VFs stay for vm2, vm2's release restores the tree exactly"
        pci_tree sriov-nic
        local x=$ROOT/x.xml y=$ROOT/y.xml
        sriov_domain vm1 "$UUID_A" "<vmprep:sriov pf='0000:43:00.0' vfs='4'/>" "$(hostdev 0000:43:10.0)" > "$x"
        sriov_domain vm2 "$UUID_B" "<vmprep:sriov pf='0000:43:00.0' vfs='4'/>" "$(hostdev 0000:43:10.2)" > "$y"
        local before; before=$(snapshot)
        hook "$x" vm1 prepare begin && hook "$y" vm2 prepare begin || { t_fail "$name" "$(cat "$ERR")"; return; }
        damage_ledger "$ROOT"
        local bad; bad=$(unreadable_journal "$ROOT")
        if hook "$x" vm1 release end; then
                t_fail "damaged ledger and an unreadable journal: the release says it gave nothing back" "it exited 0: $(cat "$ERR")"
        elif grep -q "ledger is damaged (line 2), so what the running VMs hold is unknown: nothing was given back, and the ledger cannot be rebuilt while a journal cannot be read" "$ERR" \
                && [ "$(drv 0000:43:10.0)" = vfio-pci ] && [ "$(cat "$ROOT/$PF/sriov_numvfs")" = 4 ]; then
                t_ok "damaged ledger and an unreadable journal: vm1's release exits 1, gives nothing back, names the cause and reconcile"
        else
                t_fail "damaged ledger and an unreadable journal" "$(cat "$ERR")" "$(drv 0000:43:10.0) $(cat "$ROOT/$PF/sriov_numvfs")"
        fi
        rm -f "$bad"
        stop_phases "$x" vm1
        local msg; msg=$(cat "$ERR")
        local mid; mid="$(cat "$ROOT/$PF/sriov_numvfs") $(drv 0000:43:10.2) $(drv 0000:43:10.0)"
        stop_phases "$y" vm2
        if [[ $msg == *"$(ledger_rebuilt_msg 2)"* ]] && [ "$mid" = "4 vfio-pci none" ] && [ "$(snapshot)" = "$before" ] \
                && ls "$ROOT"/run/vmprep/ledger.damaged-* > /dev/null 2>&1 && [ -z "$(ls "$ROOT/run/vmprep/"*.journal 2>/dev/null)" ]; then
                t_ok "$name"
        else
                t_fail "$name" "vm1's release: $msg" "after vm1 stopped: $mid (want 4 vfio-pci none)" "$(diff <(echo "$before") <(snapshot) | head -5)"
        fi
}

# autoprobe='yes': the VFs vmprep made come up on the PF's VF driver, and the
# VM's VF goes back there at release; nobody else uses them, so the count
# comes back (they used to count as "in use" and the count stayed)
# A crash left this VM's vfio journal damaged (a line whose checksum fails,
# not the last one) on a host where the VM's name carries '_', '.', '%' and
# runs past 64 characters: the next start is refused before anything
# moves, the damage is named once (it was named twice when the VF-count
# check read the journal again), the name reaches the log as text, and the
# journal stays for reconcile.
case_damaged_journal_of_a_crashed_start_named_once() {
        local name="a damaged vfio journal left by a crash: the next start of 'win10_rt.%s%n…' (70 characters) refused, the damage named once, nothing moved, the journal kept"
        pci_tree gpu-hda
        local vm="win10_rt.%s%n-gaming-passthrough-with-a-name-longer-than-64-characters"
        local x=$ROOT/x.xml j=$ROOT/run/vmprep/$UUID_A.vfio.journal
        domain "$vm" "$UUID_A" "$V" 0000:41:00.0 > "$x"
        mkdir -p "$ROOT/run/vmprep"; chmod 700 "$ROOT/run/vmprep"
        printf 'vmprep-journal 1 %s vfio x ~0x00000000\nS 1 bind pci/0000:41:00.0 /sys/bus/pci/devices/0000:41:00.0 - - ~0x00000000\n' "$UUID_A" > "$j"
        chmod 600 "$j"
        local before; before=$(snapshot)
        if hook "$x" "$vm" prepare begin; then
                t_fail "$name" "prepare exited 0: $(cat "$ERR")"; return
        fi
        local said dup
        said=$(grep -c "$UUID_A.vfio.journal: line 1 is damaged; not guessing what it said" "$ERR")
        dup=$(sort "$ERR" | uniq -d)
        if [ "$said" = 1 ] && [ -z "$dup" ] && ! grep -q "said nothing about why" "$ERR" \
                && grep -qF "vmprep-vfio: $vm: " "$ERR" && [ "$(snapshot)" = "$before" ] \
                && [ ! -s "$ROOT/.fake/writes.log" ] && [ -s "$j" ]; then
                t_ok "$name"
        else
                t_fail "$name" "named $said times; repeated: $dup" "$(cat "$ERR")" "$(cat "$ROOT/.fake/writes.log" 2>/dev/null)"
        fi
}

case_autoprobe_yes_count_restored() {
        local name="autoprobe='yes': 4 VFs on the VF driver, VF 0 to vfio-pci and back; release gives the PF its 0 VFs and autoprobe back, tree exact"
        pci_tree sriov-nic
        local x=$ROOT/x.xml
        sriov_domain vm1 "$UUID_A" "<vmprep:sriov pf='0000:43:00.0' vfs='4' autoprobe='yes'/>" "$(hostdev 0000:43:10.0)" > "$x"
        local before; before=$(snapshot)
        hook "$x" vm1 prepare begin || { t_fail "$name" "prepare: $(cat "$ERR")"; return; }
        local mid; mid="$(cat "$ROOT/$PF/sriov_numvfs") $(drv 0000:43:10.0) $(drv 0000:43:10.2)"
        stop_phases "$x" vm1
        local msg; msg=$(cat "$ERR")
        if [ "$mid" = "4 vfio-pci $(cat "$ROOT/.fake/pci/0000:43:00.0.vf-driver" 2>/dev/null || echo none)" ] && [ "$(snapshot)" = "$before" ] \
                && [ ! -e "$ROOT/run/vmprep/$UUID_A.vfio.journal" ] && ! grep -q sriov "$ROOT/run/vmprep/ledger"; then
                t_ok "$name"
        else
                t_fail "$name" "while running: $mid" "release: $msg" "$(diff <(echo "$before") <(snapshot) | head -4)"
        fi
}

# a VM with a plain <hostdev> of a VF (no <vmprep:sriov>) beside the VM that
# raised the count: the raiser stops first and hands the restore over; the
# count comes back when the VF's VM stops
case_plain_vf_user_gets_the_restore() {
        local name="vm1 raises a PF to 4 VFs, vm2 has VF 43:10.2 as a plain <hostdev>; vm1 stops: the VFs stay; vm2 stops: the PF back to 0, tree exact"
        pci_tree sriov-nic
        local x=$ROOT/x.xml y=$ROOT/y.xml
        sriov_domain vm1 "$UUID_A" "<vmprep:sriov pf='0000:43:00.0' vfs='4'/>" "$(hostdev 0000:43:10.0)" > "$x"
        domain vm2 "$UUID_B" "<vmprep:vfio/>" 0000:43:10.2 > "$y"
        local before; before=$(snapshot)
        hook "$x" vm1 prepare begin && hook "$y" vm2 prepare begin || { t_fail "$name" "$(cat "$ERR")"; return; }
        stop_phases "$x" vm1
        local mid; mid="$(cat "$ROOT/$PF/sriov_numvfs") $(drv 0000:43:10.2)"
        stop_phases "$y" vm2
        if [ "$mid" = "4 vfio-pci" ] && [ "$(snapshot)" = "$before" ] && [ -z "$(ls "$ROOT/run/vmprep/"*.journal 2>/dev/null)" ]; then
                t_ok "$name"
        else
                t_fail "$name" "after vm1 stopped: $mid (want 4 vfio-pci)" "vm2's release: $(cat "$ERR")" "$(diff <(echo "$before") <(snapshot) | head -4)"
        fi
}

case_vf_values_validated() {
        pci_tree sriov-nic
        local x=$ROOT/x.xml
        sriov_domain vm1 "$UUID_A" "<vmprep:sriov pf='0000:43:00.0' vfs='2'><vmprep:vf index='0' qos='3'/></vmprep:sriov>" "" > "$x"
        local before; before=$(snapshot)
        if ! hook "$x" vm1 prepare begin && grep -q "<vmprep:sriov pf='0000:43:00.0'><vmprep:vf index='0'>: qos='3' without a vlan" "$ERR"; then
                stop_phases "$x" vm1
                [ "$(snapshot)" = "$before" ] && t_ok "qos without a vlan is refused with the element named, and the VFs made for it are removed" \
                        || t_fail "qos without vlan rolls back" "$(diff <(echo "$before") <(snapshot) | head -4)"
        else
                t_fail "qos without a vlan is refused" "$(cat "$ERR")"
        fi
        sriov_domain vm1 "$UUID_A" "<vmprep:sriov pf='0000:43:00.0' vfs='2'><vmprep:vf index='2' vlan='7'/></vmprep:sriov>" "" > "$x"
        : > "$ROOT/.fake/writes.log"
        ! hook "$x" vm1 prepare begin && grep -q "<vmprep:vf index='2'>: the PF 0000:43:00.0 gets only 2 VFs (0-1)" "$ERR" \
                && [ ! -s "$ROOT/.fake/writes.log" ] \
                && t_ok "a <vmprep:vf> beyond vfs= is refused before anything is touched" \
                || t_fail "a VF index beyond vfs= is refused" "$(cat "$ERR")"
        stop_phases "$x" vm1
        sriov_domain vm1 "$UUID_A" "<vmprep:sriov pf='0000:43:00.0' vfs='9'/>" "" > "$x"
        ! hook "$x" vm1 prepare begin && grep -q "vfs='9'>: 0000:43:00.0 supports at most 8 VFs (sriov_totalvfs)" "$ERR" \
                && t_ok "vfs= above sriov_totalvfs is refused, naming the limit" \
                || t_fail "vfs above totalvfs" "$(cat "$ERR")"
        stop_phases "$x" vm1
        sriov_domain vm1 "$UUID_A" "<vmprep:sriov pf='0000:43:00.0' vfs='2'><vmprep:vf index='0' vlan='4095'/></vmprep:sriov>" "" > "$x"
        ! hook "$x" vm1 prepare begin && grep -q "vlan='4095'" "$ERR" && [ "$(cat "$ROOT/$PF/sriov_numvfs")" = 0 ] \
                && t_ok "VLAN 4095 (which the kernel would take) is refused before anything is touched" \
                || t_fail "VLAN 4095 refused" "$(cat "$ERR")"
        stop_phases "$x" vm1
}

# ---- an NFV host (tests/fake/nfv_host.c): VFs 0-5 of 0000:41:00.0 in use, 6-7 free ----
NPF=sys/bus/pci/devices/0000:41:00.0
nfv_drivers() { local i; for i in 0 1 2 3 4 5 6 7; do printf '%s ' "$(drv 0000:41:02.$i)"; done; }
# nothing may ever have tried to remove a VF whose /dev/vfio a process holds
not_blocked() { [ ! -s "$ROOT/.fake/blocked.log" ]; }

case_nfv_raise_refused_naming_every_user() {
        local name="NFV host: a VM asking for 16 VFs (8 there) is refused, naming each VF in use and its user; tree byte-identical"
        pci_tree nfv-host
        local x=$ROOT/x.xml
        sriov_domain vnf1 "$UUID_A" "<vmprep:sriov pf='0000:41:00.0' vfs='16'/>" "$(hostdev 0000:41:02.6)" > "$x"
        local before; before=$(snapshot)
        if hook "$x" vnf1 prepare begin; then t_fail "$name" "prepare succeeded"; stop_phases "$x" vnf1; return; fi
        local msg; msg=$(cat "$ERR") bad=
        local want
        for want in "cannot raise the VF count of 0000:41:00.0 from 8 to 16: sriov_numvfs changes only through 0, which would remove VFs in use: " \
                "0000:41:02.0 is bound to iavf (it is the host's network interface enp65s2 and it has the host address 2001:0db8:0000:0000::/64)" \
                "0000:41:02.1 is bound to iavf (it is the host's network interface enp65s2f1 and it has a host address (route to 10.0.0.0/24))" \
                "0000:41:02.2 is used by running VM 'router_vm.1'" \
                "0000:41:02.3 is used by running VM 'fw_vm'" \
                "0000:41:02.4 is in the VF pool of libvirt network 'sriov-net'" \
                "0000:41:02.5 is open by qemu-system-x86 (pid 1234)"; do
                [[ $msg == *"$want"* ]] || bad+="missing: $want; "
        done
        [[ $msg == *"0000:41:02.6 is"* || $msg == *"0000:41:02.7 is"* || $msg == *uplink-pool* ]] && bad+="names a free VF or a pool of another PF; "
        [ -s "$ROOT/.fake/writes.log" ] && bad+="wrote: $(head -3 "$ROOT/.fake/writes.log"); "
        stop_phases "$x" vnf1
        [ "$(snapshot)" = "$before" ] || bad+="tree differs: $(diff <(echo "$before") <(snapshot) | head -4); "
        grep -qE "sriov|pci/" "$ROOT/run/vmprep/ledger" 2>/dev/null && bad+="a hold is left; "
        not_blocked || bad+="blocked: $(cat "$ROOT/.fake/blocked.log"); "
        [ -z "$bad" ] && t_ok "$name" || t_fail "$name" "$bad" "$msg"

        # vmprep plan says the same, and changes nothing
        : > "$ROOT/.fake/writes.log"
        if "$B/vmprep" --root "$ROOT" plan "$x" > "$OUT" 2> "$ERR"; then
                t_fail "vmprep plan shows the refusal" "exit 0: $(cat "$OUT")"
        else
                grep -q "cannot raise the VF count of 0000:41:00.0 from 8 to 16: .*0000:41:02.5 is open by qemu-system-x86 (pid 1234)" "$ERR" \
                        && [ ! -s "$ROOT/.fake/writes.log" ] \
                        && t_ok "vmprep plan shows the same refusal, naming the VFs in use" \
                        || t_fail "vmprep plan shows the refusal" "$(cat "$OUT" "$ERR")"
        fi
}

case_nfv_uses_the_vfs_there_are() {
        local name="NFV host: a VM asking for vfs=8 (8 there) with free VFs 6 and 7 starts without writing sriov_numvfs; release leaves 8 VFs and every other VF's driver as it was"
        pci_tree nfv-host
        local x=$ROOT/x.xml
        sriov_domain vnf1 "$UUID_A" "<vmprep:sriov pf='0000:41:00.0' vfs='8'><vmprep:vf index='6' mac='52:54:00:00:41:06'/></vmprep:sriov>" \
                "$(hostdev 0000:41:02.6)$(iface 0000:41:02.7)" > "$x"
        local before drivers; before=$(snapshot); drivers=$(nfv_drivers)
        "$B/vmprep" --root "$ROOT" plan "$x" > "$OUT" 2> "$ERR"
        local plan; plan=$(cat "$OUT")
        hook "$x" vnf1 prepare begin || { t_fail "$name" "prepare: $(cat "$ERR")"; return; }
        local mid; mid=$(nfv_drivers)
        local bad=
        grep -q sriov_numvfs "$ROOT/.fake/writes.log" && bad+="sriov_numvfs written; "
        [ "$mid" = "iavf iavf vfio-pci vfio-pci none vfio-pci vfio-pci vfio-pci " ] || bad+="while running: $mid; "
        [ "$(cat "$ROOT/.fake/vf/enp65s0f0/6" 2>/dev/null)" = "mac=52:54:00:00:41:06 vlan=0 qos=0 trust=off spoofchk=on" ] || bad+="VF 6: $(vfstate); "
        grep -q "using the VFs 0000:41:00.0 has (8, 8 needed): sriov_numvfs left as it is" "$ROOT/run/vmprep/events.log" || bad+="no event; "
        stop_phases "$x" vnf1
        [ "$(cat "$ROOT/$NPF/sriov_numvfs")" = 8 ] && [ "$(nfv_drivers)" = "$drivers" ] && [ "$(snapshot)" = "$before" ] \
                || bad+="after release: $(cat "$ROOT/$NPF/sriov_numvfs") $(nfv_drivers) $(diff <(echo "$before") <(snapshot) | head -4); "
        grep -q sriov_numvfs "$ROOT/.fake/writes.log" && bad+="sriov_numvfs written at release; "
        not_blocked || bad+="blocked; "
        [ -z "$bad" ] && t_ok "$name" || t_fail "$name" "$bad" "$(cat "$ERR")"
        [[ $plan == *"vnf1: 2 steps, in order"* ]] && [[ $plan == *"$NPF/sriov_numvfs: 8, left as it is  # vnf1 uses the VFs there are (8 needed)"* ]] \
                && [[ $plan == *"vf       0000:41:00.0 VF 6: mac=00:00:00:00:00:00 -> mac=52:54:00:00:41:06  # link enp65s0f0, VF 6"* ]] \
                && [[ $plan == *"bind     /sys/bus/pci/devices/0000:41:02.6: no driver -> vfio-pci"* ]] \
                && t_ok "vmprep plan shows the decision to use the VFs there are (sriov_numvfs 8, left as it is), VF 6's MAC over netlink and its bind" \
                || t_fail "vmprep plan shows using the VFs there are" "$plan"
}

case_nfv_vf_in_use_is_refused() {
        local name="NFV host: a VM asking for VF index 3 (fw_vm's) and the VF open in a QEMU is refused, naming both holders; tree byte-identical"
        pci_tree nfv-host
        local x=$ROOT/x.xml
        sriov_domain vnf1 "$UUID_A" "<vmprep:sriov pf='0000:41:00.0' vfs='8'><vmprep:vf index='3' vlan='300'/></vmprep:sriov>" \
                "$(hostdev 0000:41:02.5)$(hostdev 0000:41:02.6)" > "$x"
        local before; before=$(snapshot)
        if hook "$x" vnf1 prepare begin; then t_fail "$name" "prepare succeeded"; stop_phases "$x" vnf1; return; fi
        local msg; msg=$(cat "$ERR")
        stop_phases "$x" vnf1
        if [[ $msg == *"cannot give vnf1 the VFs of 0000:41:00.0 it asks for: 0000:41:02.3 is used by running VM 'fw_vm'; 0000:41:02.5 is open by qemu-system-x86 (pid 1234)"* ]] \
                && [[ $msg != *"41:02.6"* ]] && [ "$(snapshot)" = "$before" ] && [ ! -s "$ROOT/.fake/writes.log" ] && [ -z "$(vfstate)" ] && not_blocked; then
                t_ok "$name"
        else
                t_fail "$name" "$msg" "$(diff <(echo "$before") <(snapshot) | head -4)" "$(head -3 "$ROOT/.fake/writes.log")"
        fi
}

case_nfv_untagged_vms_untouched() {
        local name="NFV host: the untagged VMs' own hooks, every phase: exit 0, nothing written, their VFs untouched"
        pci_tree nfv-host
        local x=$ROOT/x.xml y=$ROOT/y.xml
        domain router_vm.1 2f6a0d1c-3b4e-4f50-8a61-7b8c9d0e1f21 "" 0000:41:02.2 > "$x"
        printf "<domain type='kvm'><name>fw_vm</name><uuid>2f6a0d1c-3b4e-4f50-8a61-7b8c9d0e1f22</uuid><devices>%s</devices></domain>\n" "$(iface 0000:41:02.3)" > "$y"
        local before drivers op bad=; before=$(snapshot); drivers=$(nfv_drivers)
        for op in "prepare begin" "start begin" "started begin" "reconnect begin" "stopped end" "release end"; do
                # shellcheck disable=SC2086
                hook "$x" router_vm.1 $op || bad+="router_vm.1 $op; "
                # shellcheck disable=SC2086
                hook "$y" fw_vm $op || bad+="fw_vm $op; "
        done
        [ -z "$bad" ] && [ "$(snapshot)" = "$before" ] && [ "$(nfv_drivers)" = "$drivers" ] && [ ! -s "$ROOT/.fake/writes.log" ] \
                && t_ok "$name" || t_fail "$name" "$bad" "$(head -3 "$ROOT/.fake/writes.log")"
}

case_release_leaves_the_count_when_a_vf_was_taken_meanwhile() {
        local name="release when an untagged VM took a VF meanwhile (vfio-pci, /dev/vfio open): VF count left at 4, message names it, journal kept; reconcile restores 0 once it is free"
        pci_tree sriov-nic
        local x=$ROOT/x.xml
        sriov_domain vm1 "$UUID_A" "<vmprep:sriov pf='0000:43:00.0' vfs='4'/>" "$(hostdev 0000:43:10.0)" > "$x"
        local before; before=$(snapshot)
        hook "$x" vm1 prepare begin || { t_fail "$name" "prepare: $(cat "$ERR")"; return; }
        # late_vm (untagged) starts with VF 3, 0000:43:10.6 (IOMMU group 3203): libvirt binds it, QEMU opens it
        ln -s ../../../../bus/pci/drivers/vfio-pci "$ROOT/sys/bus/pci/devices/0000:43:10.6/driver"
        : > "$ROOT/dev/vfio/3203"
        mkdir -p "$ROOT/proc/6001/fd" && echo qemu-system-x86 > "$ROOT/proc/6001/comm" && ln -s /dev/vfio/3203 "$ROOT/proc/6001/fd/31"
        mkdir -p "$ROOT/run/libvirt/qemu"
        printf "<domstatus state='running' pid='6001'><domain type='kvm' id='9'><name>late_vm</name><uuid>2f6a0d1c-3b4e-4f50-8a61-7b8c9d0e1f99</uuid><devices>%s</devices></domain></domstatus>\n" \
                "$(hostdev 0000:43:10.6)" > "$ROOT/run/libvirt/qemu/late_vm.xml"
        : > "$ROOT/.fake/writes.log"
        stop_phases "$x" vm1
        local msg bad=; msg=$(cat "$ERR")
        [[ $msg == *"leaving 0000:43:00.0 at 4 VFs instead of giving it back its 0: sriov_numvfs changes only through 0, which would remove VFs in use: 0000:43:10.6 is used by running VM 'late_vm'"* ]] \
                || bad+="message: $msg; "
        [ "$(cat "$ROOT/$PF/sriov_numvfs")" = 4 ] && [ "$(drv 0000:43:10.6)" = vfio-pci ] && [ "$(drv 0000:43:10.0)" = none ] || bad+="state: $(cat "$ROOT/$PF/sriov_numvfs") $(drv 0000:43:10.6) $(drv 0000:43:10.0); "
        grep -q sriov_numvfs "$ROOT/.fake/writes.log" && bad+="sriov_numvfs written; "
        not_blocked || bad+="blocked: $(cat "$ROOT/.fake/blocked.log"); "
        grep -q " numvfs " "$ROOT/run/vmprep/$UUID_A.vfio.journal" 2>/dev/null || bad+="the journal lost the VF count; "
        grep -q "sriov/0000:43:00.0" "$ROOT/run/vmprep/ledger" || bad+="the PF's hold went; "
        # reconcile (offline, from the status files) sees it and leaves it while late_vm runs
        "$B/vmprep" --root "$ROOT" reconcile --offline > "$OUT" 2>&1
        grep -q "vm1 ($UUID_A): not running (per /run/libvirt/qemu); giving back vfio: 1 step" "$OUT" && grep -q "0 journals finished, 1 failed" "$OUT" \
                && [ "$(cat "$ROOT/$PF/sriov_numvfs")" = 4 ] || bad+="reconcile while in use: $(cat "$OUT"); "
        # late_vm stops: libvirt gives its VF back, its status file goes
        rm -rf "$ROOT/proc/6001" "$ROOT/run/libvirt/qemu/late_vm.xml" "$ROOT/sys/bus/pci/devices/0000:43:10.6/driver" "$ROOT/dev/vfio/3203"
        "$B/vmprep" --root "$ROOT" reconcile --offline > "$OUT" 2>&1 || bad+="reconcile: $(cat "$OUT"); "
        [ "$(snapshot)" = "$before" ] && [ ! -e "$ROOT/run/vmprep/$UUID_A.vfio.journal" ] && ! grep -q sriov "$ROOT/run/vmprep/ledger" \
                || bad+="after reconcile: $(diff <(echo "$before") <(snapshot) | head -4) $(cat "$OUT"); "
        [ -z "$bad" ] && t_ok "$name" || t_fail "$name" "$bad"
}

units() { (cd "$ROOT/.fake/systemd/units" && grep -H . -- *.service); }

case_single_gpu_round_trip() {
        local name="single GPU: gdm stopped, fbcon and efifb unbound, then GPU+HDA bound; release in reverse: GPU back, efifb, fbcon, gdm started"
        pci_tree boot-vga
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" "<vmprep:vfio single-gpu='auto'/>" 0000:45:00.0 > "$x"
        local before u; before=$(snapshot); u=$(units)
        hook "$x" vm1 prepare begin || { t_fail "$name" "prepare: $(cat "$ERR")"; return; }
        local got; got=$(awk '{print $1, $2}' "$ROOT/.fake/writes.log" | tr '\n' ';')
        local want="/.fake/systemd/stop gdm.service;/sys/class/vtconsole/vtcon1/bind 0;/sys/bus/platform/drivers/efi-framebuffer/unbind efi-framebuffer.0;"
        want+="/sys/bus/pci/devices/0000:45:00.0/driver_override vfio-pci;/sys/bus/pci/drivers/amdgpu/unbind 0000:45:00.0;/sys/bus/pci/drivers_probe 0000:45:00.0;"
        want+="/sys/bus/pci/devices/0000:45:00.1/driver_override vfio-pci;/sys/bus/pci/drivers/snd_hda_intel/unbind 0000:45:00.1;/sys/bus/pci/drivers_probe 0000:45:00.1;"
        [ "$got" = "$want" ] && [ -e "$ROOT/dev/vfio/24" ] && [ ! -e "$ROOT/proc/4242" ] \
                || { t_fail "$name" "prepare wrote: $got" "wanted:       $want"; return; }
        : > "$ROOT/.fake/writes.log"
        stop_phases "$x" vm1
        if [ "$(snapshot)" = "$before" ] && [ "$(units)" = "$u" ] && [ -L "$ROOT/proc/4242/fd/12" ]; then
                t_ok "$name"
        else
                t_fail "$name" "$(diff <(echo "$before") <(snapshot) | head -5)" "$(units)"
        fi
        grep -q "vm1: stopped the display manager gdm.service" "$ROOT/run/vmprep/events.log" \
                && grep -q "vm1: started gdm.service again" "$ROOT/run/vmprep/events.log" \
                && t_ok "events.log names the display manager unit stopped and started" \
                || t_fail "events.log names the unit" "$(cat "$ROOT/run/vmprep/events.log")"
}

# The user's session outlives the display manager (user@UID.service lingers
# UserStopDelaySec): its PipeWire still has the GPU's HDMI audio open when
# gdm has stopped.  vmprep waits for it, bounded: one that lets go within
# the wait is no refusal; one that does not is refused, saying it waited,
# and the display comes back.
session_audio() { # PID: a user-session pipewire on the boot GPU's HDA (card2)
        mkdir -p "$ROOT/sys/class/sound/card2" "$ROOT/sys/class/sound/controlC2" "$ROOT/proc/$1/fd"
        ln -sfn ../../../bus/pci/devices/0000:45:00.1 "$ROOT/sys/class/sound/card2/device"
        ln -sfn ../card2 "$ROOT/sys/class/sound/controlC2/device"
        echo pipewire > "$ROOT/proc/$1/comm"
        echo "0::/user.slice/user-1000.slice/user@1000.service/session.slice/pipewire.service" > "$ROOT/proc/$1/cgroup"
        ln -sfn /dev/snd/controlC2 "$ROOT/proc/$1/fd/40"
}
case_single_gpu_waits_for_the_session() {
        local fails=() x
        pci_tree boot-vga
        session_audio 7001
        x=$ROOT/x.xml; domain vm1 "$UUID_A" "<vmprep:vfio/>" 0000:45:00.0 > "$x"
        local before; before=$(snapshot)
        # the session lets go 1 s after gdm stopped (the fake stop is at once)
        ( sleep 1; rm -rf "$ROOT/proc/7001" ) &
        local bg=$!
        if VMPREP_TEST_HOLDERS_WAIT_MS=5000 hook "$x" vm1 prepare begin; then
                grep -q "waiting up to 5 s for pipewire (pid 7001) to close the device nodes of 0000:45:00.1 after the display manager stopped" "$ROOT/run/vmprep/events.log" \
                        || fails+=("no word of the wait in events.log: $(cat "$ROOT/run/vmprep/events.log")")
                [ "$(drv 0000:45:00.1)" = vfio-pci ] || fails+=("HDA on $(drv 0000:45:00.1)")
        else
                fails+=("a holder that let go within the wait was refused: $(cat "$ERR")")
        fi
        wait "$bg"
        stop_phases "$x" vm1
        pci_tree boot-vga
        session_audio 7001
        x=$ROOT/x.xml; domain vm1 "$UUID_A" "<vmprep:vfio/>" 0000:45:00.0 > "$x"
        before=$(snapshot); local u; u=$(units)
        if VMPREP_TEST_HOLDERS_WAIT_MS=500 hook "$x" vm1 prepare begin; then
                fails+=("a holder that never let go was not refused")
        else
                grep -q "its device nodes are open in pipewire (pid 7001) 0.5 s after the display manager stopped (a user session that outlives it: loginctl terminate-user)" "$ERR" \
                        || fails+=("the refusal says: $(cat "$ERR")")
        fi
        stop_phases "$x" vm1
        [ "$(snapshot)" = "$before" ] && [ "$(units)" = "$u" ] || fails+=("after the refusal: $(diff <(echo "$before") <(snapshot) | head -4) $(units)")
        if [ ${#fails[@]} -eq 0 ]; then
                t_ok "single GPU: a session's PipeWire that lets go of the HDMI audio after gdm stopped is waited for; one that does not is refused saying so, gdm back, tree exact"
        else
                t_fail "single GPU waits for the session" "${fails[@]:0:5}"
        fi
}

case_single_gpu_release_order() {
        # the release order, checked on its own: writes.log lines hold "\n" as a real newline
        pci_tree boot-vga
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" "<vmprep:vfio/>" 0000:45:00.0 > "$x"
        hook "$x" vm1 prepare begin || { t_fail "single-GPU release order" "$(cat "$ERR")"; return; }
        : > "$ROOT/.fake/writes.log"
        stop_phases "$x" vm1
        local got; got=$(grep -oE '^/(sys/bus/pci/drivers/vfio-pci/unbind|sys/bus/platform/drivers/efi-framebuffer/bind|sys/class/vtconsole/vtcon1/bind|.fake/systemd/start)' "$ROOT/.fake/writes.log" | uniq | tr '\n' ' ')
        [ "$got" = "/sys/bus/pci/drivers/vfio-pci/unbind /sys/bus/platform/drivers/efi-framebuffer/bind /sys/class/vtconsole/vtcon1/bind /.fake/systemd/start " ] \
                && t_ok "single-GPU release order: GPU off vfio-pci, then efifb, then fbcon, then the display manager" \
                || t_fail "single-GPU release order" "$got"
}

case_single_gpu_on_for_a_secondary_gpu() {
        local name="single-gpu='on': the display manager is stopped even for a GPU that is not the boot GPU, and started again"
        pci_tree boot-vga gpu-hda
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" "<vmprep:vfio single-gpu='on'/>" 0000:41:00.0 > "$x"
        local u; u=$(units)
        hook "$x" vm1 prepare begin || { t_fail "$name" "$(cat "$ERR")"; return; }
        local mid; mid=$(cat "$ROOT/.fake/systemd/units/gdm.service")
        stop_phases "$x" vm1
        [ "$mid" = "gdm.service inactive" ] && [ "$(units)" = "$u" ] && [ "$(drv 0000:41:00.0)" = nvidia ] \
                && t_ok "$name" || t_fail "$name" "while running: $mid" "$(units)"
        # and 'auto' leaves the display alone for that GPU
        pci_tree boot-vga gpu-hda
        x=$ROOT/x.xml; domain vm1 "$UUID_A" "<vmprep:vfio single-gpu='auto'/>" 0000:41:00.0 > "$x"
        hook "$x" vm1 prepare begin && ! grep -q systemd "$ROOT/.fake/writes.log" && grep -q "gdm.service active" "$ROOT/.fake/systemd/units/gdm.service" \
                && t_ok "single-gpu='auto' leaves the display manager alone when the GPU passed is not the one it runs on" \
                || t_fail "auto leaves the display alone" "$(cat "$ERR")" "$(cat "$ROOT/.fake/writes.log")"
        stop_phases "$x" vm1
}

case_display_manager_that_will_not_stop() {
        local name="a display manager that does not stop within the bound: prepare fails saying so, the unit is started again, the GPU untouched"
        pci_tree boot-vga
        : > "$ROOT/.fake/systemd/stop-hangs"
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" "<vmprep:vfio/>" 0000:45:00.0 > "$x"
        local before; before=$(snapshot)
        if hook "$x" vm1 prepare begin; then t_fail "$name" "prepare succeeded"; return; fi
        if grep -q "stopped the display manager gdm.service, but it is still deactivating after 2 s" "$ERR" \
                && grep -q "^/.fake/systemd/start gdm.service" "$ROOT/.fake/writes.log" \
                && [ "$(cat "$ROOT/.fake/systemd/units/gdm.service")" = "gdm.service active" ] \
                && [ "$(snapshot)" = "$before" ] && ! grep -q amdgpu/unbind "$ROOT/.fake/writes.log"; then
                t_ok "$name"
        else
                t_fail "$name" "$(cat "$ERR")" "$(cat "$ROOT/.fake/writes.log")"
        fi
}

case_single_gpu_without_systemd() {
        pci_tree boot-vga
        rm -rf "$ROOT/run/systemd"
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" "<vmprep:vfio/>" 0000:45:00.0 > "$x"
        local before; before=$(snapshot)
        if ! hook "$x" vm1 prepare begin && grep -q "the GPU drives the host display, and this host does not run systemd (no /run/systemd/system), so vmprep cannot stop the display manager" "$ERR" \
                && [ ! -s "$ROOT/.fake/writes.log" ]; then
                stop_phases "$x" vm1
                [ "$(snapshot)" = "$before" ] && t_ok "single GPU without systemd: refused with a clear message, nothing touched" \
                        || t_fail "single GPU without systemd leaves the tree" "$(diff <(echo "$before") <(snapshot) | head -4)"
        else
                t_fail "single GPU without systemd is refused" "$(cat "$ERR")" "$(cat "$ROOT/.fake/writes.log")"
        fi
}

case_unload_modules() {
        local name="unload-modules: nvidia-drm and nvidia unloaded after the GPU left them, loaded again before it goes back"
        pci_tree gpu-hda
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" "<vmprep:vfio unload-modules='nvidia-drm,nvidia'/>" 0000:41:00.0 > "$x"
        local before; before=$(snapshot)
        hook "$x" vm1 prepare begin || { t_fail "$name" "$(cat "$ERR")"; return; }
        [ ! -e "$ROOT/sys/module/nvidia" ] && [ ! -e "$ROOT/sys/module/nvidia_drm" ] || { t_fail "$name" "modules still there"; return; }
        : > "$ROOT/.fake/writes.log"
        stop_phases "$x" vm1
        local order; order=$(grep -oE '^/(.fake/modprobe [a-z_-]+|sys/bus/pci/drivers_probe 0000:41:00.0)' "$ROOT/.fake/writes.log" | tr '\n' ';')
        if [ "$order" = "/.fake/modprobe nvidia;/.fake/modprobe nvidia_drm;/sys/bus/pci/drivers_probe 0000:41:00.0;" ] && [ "$(snapshot)" = "$before" ]; then
                t_ok "$name"
        else
                t_fail "$name" "release order: $order" "$(diff <(echo "$before") <(snapshot) | head -4)"
        fi
        pci_tree gpu-hda
        : > "$ROOT/.fake/rmmod-busy-nvidia"
        x=$ROOT/x.xml; domain vm1 "$UUID_A" "<vmprep:vfio unload-modules='nvidia-drm,nvidia'/>" 0000:41:00.0 > "$x"
        before=$(snapshot)
        if ! hook "$x" vm1 prepare begin && grep -q "cannot unload the module nvidia (unload-modules='nvidia-drm,nvidia'): Device or resource busy" "$ERR" \
                && [ "$(snapshot)" = "$before" ]; then
                t_ok "a module that will not unload fails prepare naming it; everything done so far is undone"
        else
                t_fail "busy module" "$(cat "$ERR")" "$(diff <(echo "$before") <(snapshot) | head -4)"
        fi
}

# ---- reset-method: the device's reset_method while the VM runs ----
rmeth() { cat "$ROOT/sys/bus/pci/devices/$1/reset_method"; }
no_journal() { [ ! -e "$ROOT/run/vmprep/$UUID_A.vfio.journal" ]; }

case_reset_method_set_while_running_and_restored() {
        local name="reset-method: the GPU gets 'bus' (<vmprep:vfio>), the HDA 'flr' (its <vmprep:device>), both after the binds; release gives both their 'flr bus' back"
        pci_tree gpu-hda
        local x=$ROOT/x.xml
        domain vm1 "$UUID_A" "<vmprep:vfio reset-method='bus'><vmprep:device address='0000:41:00.1' reset-method='flr'/></vmprep:vfio>" 0000:41:00.0 > "$x"
        local before; before=$(snapshot)
        hook "$x" vm1 prepare begin || { t_fail "$name" "prepare: $(cat "$ERR")"; return; }
        local mid; mid="$(rmeth 0000:41:00.0)|$(rmeth 0000:41:00.1)|$(drv 0000:41:00.0)|$(drv 0000:41:00.1)"
        local last_probe first_reset steps
        last_probe=$(grep -n drivers_probe "$ROOT/.fake/writes.log" | tail -1 | cut -d: -f1)
        first_reset=$(grep -n reset_method "$ROOT/.fake/writes.log" | head -1 | cut -d: -f1)
        steps=$(grep -c '^S [0-9]* reset ' "$ROOT/run/vmprep/$UUID_A.vfio.journal")
        stop_phases "$x" vm1
        if [ "$mid" = "bus|flr|vfio-pci|vfio-pci" ] && [ "$steps" = 2 ] && [ "${first_reset:-0}" -gt "${last_probe:-99}" ] \
                && [ "$(rmeth 0000:41:00.0)" = "flr bus" ] && [ "$(rmeth 0000:41:00.1)" = "flr bus" ] \
                && [ "$(snapshot)" = "$before" ] && no_journal; then
                t_ok "$name"
        else
                t_fail "$name" "while running: $mid (want bus|flr|vfio-pci|vfio-pci), $steps journal steps" \
                        "write order: reset_method at line ${first_reset:-none}, last drivers_probe at ${last_probe:-none}" \
                        "$(diff <(echo "$before") <(snapshot) | head -4)" "$(cat "$ERR")"
        fi
        grep -qF "vm1: set the reset_method of 0000:41:00.0 to 'bus' (<vmprep:vfio reset-method='bus'>), was 'flr bus'" "$ROOT/run/vmprep/events.log" \
                && grep -qF "vm1: gave 0000:41:00.0 its reset_method 'flr bus' back" "$ROOT/run/vmprep/events.log" \
                && t_ok "events.log says which reset_method was set, from which element, and that it came back" \
                || t_fail "events.log records reset_method" "$(cat "$ROOT/run/vmprep/events.log")"

        # an administrator narrowed the GPU's list; 'default' gives it every
        # method while the VM runs, and the narrowed list comes back; the HDA
        # (in the group, not given to the VM) is never written
        name="reset-method='default': an administrator's 'bus' becomes 'flr bus' while the VM runs and comes back; the HDA that only comes along is not written"
        pci_tree gpu-hda
        x=$ROOT/x.xml
        echo bus > "$ROOT/sys/bus/pci/devices/0000:41:00.0/reset_method"
        domain vm1 "$UUID_A" "<vmprep:vfio reset-method='default'/>" 0000:41:00.0 > "$x"
        before=$(snapshot)
        hook "$x" vm1 prepare begin || { t_fail "$name" "prepare: $(cat "$ERR")"; return; }
        mid=$(rmeth 0000:41:00.0)
        stop_phases "$x" vm1
        if [ "$mid" = "flr bus" ] && [ "$(rmeth 0000:41:00.0)" = bus ] && [ "$(snapshot)" = "$before" ] \
                && ! grep -q "0000:41:00.1/reset_method" "$ROOT/.fake/writes.log" && no_journal; then
                t_ok "$name"
        else
                t_fail "$name" "while running: '$mid', after: '$(rmeth 0000:41:00.0)'" "$(grep reset_method "$ROOT/.fake/writes.log")"
        fi

        name="reset-method the device already has: nothing written, nothing journalled"
        pci_tree gpu-hda
        x=$ROOT/x.xml
        echo bus > "$ROOT/sys/bus/pci/devices/0000:41:00.0/reset_method"
        domain vm1 "$UUID_A" "<vmprep:vfio reset-method='bus'/>" 0000:41:00.0 > "$x"
        before=$(snapshot)
        hook "$x" vm1 prepare begin || { t_fail "$name" "prepare: $(cat "$ERR")"; return; }
        steps=$(grep -c '^S [0-9]* reset ' "$ROOT/run/vmprep/$UUID_A.vfio.journal")
        stop_phases "$x" vm1
        [ "$steps" = 0 ] && ! grep -q reset_method "$ROOT/.fake/writes.log" && [ "$(snapshot)" = "$before" ] \
                && t_ok "$name" || t_fail "$name" "$steps steps" "$(grep reset_method "$ROOT/.fake/writes.log")"

        # every method turned off (an empty list): the kernel takes that back
        # only from a write that reaches it, "\n"
        name="reset-method='default' on a GPU with every method turned off: 'flr bus' while the VM runs, an empty reset_method again after"
        pci_tree gpu-hda
        x=$ROOT/x.xml
        : > "$ROOT/sys/bus/pci/devices/0000:41:00.0/reset_method"
        domain vm1 "$UUID_A" "<vmprep:vfio reset-method='default'/>" 0000:41:00.0 > "$x"
        before=$(snapshot)
        hook "$x" vm1 prepare begin || { t_fail "$name" "prepare: $(cat "$ERR")"; return; }
        mid=$(rmeth 0000:41:00.0)
        stop_phases "$x" vm1
        [ "$mid" = "flr bus" ] && [ ! -s "$ROOT/sys/bus/pci/devices/0000:41:00.0/reset_method" ] && [ "$(snapshot)" = "$before" ] && no_journal \
                && t_ok "$name" || t_fail "$name" "while running: '$mid', after: '$(rmeth 0000:41:00.0)'" "$(cat "$ERR")"
}

# refused: prepare fails naming the element, the attribute, the value and
# what the device offers, and nothing on the host changes
reset_refused() {
        local name=$1 want=$2 x=$ROOT/x.xml before
        before=$(snapshot)
        if hook "$x" vm1 prepare begin; then t_fail "$name" "prepare succeeded"; stop_phases "$x" vm1; return; fi
        local msg; msg=$(cat "$ERR")
        stop_phases "$x" vm1
        if [[ $msg == *"$want"* ]] && [ "$(snapshot)" = "$before" ] && [ ! -s "$ROOT/.fake/writes.log" ] && no_journal; then
                t_ok "$name"
        else
                t_fail "$name" "$msg" "want: $want" "wrote: $(cat "$ROOT/.fake/writes.log")" "$(diff <(echo "$before") <(snapshot) | head -4)"
        fi
}

case_reset_method_refusals() {
        pci_tree gpu-hda
        domain vm1 "$UUID_A" "<vmprep:vfio><vmprep:device address='0000:41:00.0' reset-method='pm flr'/></vmprep:vfio>" 0000:41:00.0 > "$ROOT/x.xml"
        reset_refused "a reset-method the GPU does not offer: refused naming <vmprep:device reset-method='pm flr'> and the methods it offers, nothing written" \
                "cannot set the reset method of 0000:41:00.0 (display controller, <vmprep:device address='0000:41:00.0'>) to 'pm flr' (<vmprep:device address='0000:41:00.0' reset-method='pm flr'>): the device does not offer pm; its reset_method lists flr bus"

        pci_tree gpu-hda
        echo flr > "$ROOT/sys/bus/pci/devices/0000:41:00.1/reset_method"
        echo flr > "$ROOT/.fake/pci/0000:41:00.1.reset-methods"
        domain vm1 "$UUID_A" "<vmprep:vfio reset-method='bus'><vmprep:device address='0000:41:00.1'/></vmprep:vfio>" 0000:41:00.0 > "$ROOT/x.xml"
        reset_refused "<vmprep:vfio reset-method='bus'> for an HDA function that offers only flr: refused before the GPU, which offers bus, is touched" \
                "cannot set the reset method of 0000:41:00.1 (multimedia device, <vmprep:device address='0000:41:00.1'>) to 'bus' (<vmprep:vfio reset-method='bus'>): the device does not offer bus; its reset_method lists flr"

        pci_tree gpu-hda
        rm "$ROOT/sys/bus/pci/devices/0000:41:00.0/reset_method"
        domain vm1 "$UUID_A" "<vmprep:vfio reset-method='flr'/>" 0000:41:00.0 > "$ROOT/x.xml"
        reset_refused "no reset_method file (a kernel before 5.15): refused saying the kernel lacks it, nothing written" \
                "cannot set the reset method of 0000:41:00.0 (display controller, <hostdev> 0000:41:00.0) to 'flr' (<vmprep:vfio reset-method='flr'>): there is no /sys/bus/pci/devices/0000:41:00.0/reset_method; this kernel lacks it (it came with Linux 5.15)"

        pci_tree gpu-hda
        domain vm1 "$UUID_A" "<vmprep:vfio reset-method='flr flr'/>" 0000:41:00.0 > "$ROOT/x.xml"
        reset_refused "a reset-method naming a method twice: refused, nothing written" \
                "to 'flr flr' (<vmprep:vfio reset-method='flr flr'>): it names flr twice"

        # the list changed between the check and the write (the kernel refuses
        # with EINVAL): prepare fails saying so, and the binds are undone
        local name="a reset_method write the kernel refuses (EINVAL): prepare fails naming it, the GPU and HDA go back, the list is as it was"
        pci_tree gpu-hda
        echo flr > "$ROOT/.fake/pci/0000:41:00.0.reset-methods"
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" "<vmprep:vfio reset-method='bus'/>" 0000:41:00.0 > "$x"
        local before; before=$(snapshot)
        if hook "$x" vm1 prepare begin; then t_fail "$name" "prepare succeeded"; stop_phases "$x" vm1; return; fi
        local msg; msg=$(cat "$ERR")
        stop_phases "$x" vm1
        if [[ $msg == *"cannot set the reset_method of 0000:41:00.0 to 'bus' (<vmprep:vfio reset-method='bus'>): Invalid argument"* ]] \
                && [ "$(snapshot)" = "$before" ] && [ "$(drv 0000:41:00.0)" = nvidia ] && no_journal; then
                t_ok "$name"
        else
                t_fail "$name" "$msg" "$(diff <(echo "$before") <(snapshot) | head -4)"
        fi
}

# SIGKILL at every crash point of a prepare with reset-method — between
# the journal's S line and the write, between the write and its D line —
# then the host restored exactly, once by release and once by `vmprep
# reconcile` (libvirtd was down when the VM went away); and at every crash
# point of the release that restores it, then release again.
reset_vm() { pci_tree gpu-hda; domain vm1 "$UUID_A" "<vmprep:vfio reset-method='bus'/>" 0000:41:00.0 > "$ROOT/x.xml"; }
# reset_write_seen: killed between the write and its journal line, the
# device lists the new method (counted in RESET_BETWEEN)
reset_write_seen() {
        if grep -q "test crash point $CRASH_K (/sys/bus/pci/devices/0000:41:00.0/reset_method)" "$ERR"; then
                RESET_BETWEEN=$((RESET_BETWEEN + 1))
                [ "$(rmeth 0000:41:00.0)" = bus ] || crash_fail "killed after the write, but it lists $(rmeth 0000:41:00.0)"
        fi
}
reconcile_offline() { "$B/vmprep" reconcile --offline > "$OUT" 2> "$ERR" || crash_fail "reconcile exited $?: $(head -c 300 "$ERR")"; }
no_vfio_journal() { no_journal || crash_fail "a journal is left"; }
case_reset_method_crash_points() {
        RESET_BETWEEN=0
        crash_sweep -m 100 -k reset_write_seen -a stop_phases -a reconcile_offline -c no_vfio_journal -c no_pci_hold \
                reset_vm vm1 prepare begin
        [ "$RESET_BETWEEN" = 2 ] || CRASH_FAILS+=("killed after the write $RESET_BETWEEN times (want 2)")
        crash_verdict 5 "reset-method: SIGKILL at each of $CRASHED crash points of prepare (one between the write and its journal line), then release or vmprep reconcile: reset_method and drivers exactly as before" \
                "reset-method: SIGKILL at each crash point of prepare"
        crash_sweep -m 100 -c no_vfio_journal reset_vm vm1 release end
        crash_verdict 5 "reset-method: SIGKILL at each of $CRASHED crash points of release, then release again: reset_method and drivers exactly as before" \
                "reset-method: SIGKILL at each crash point of release"
}

# ---- system services holding the device nodes (nvidia-persistenced) ----
pd_unit() { cat "$ROOT/.fake/systemd/units/nvidia-persistenced.service"; }
# a process PID COMM [UNIT] holding NODE: in that system service's cgroup, or a user's session
holder() {
        mkdir -p "$ROOT/proc/$1/fd"; echo "$2" > "$ROOT/proc/$1/comm"
        if [ -n "$3" ]; then echo "0::/system.slice/$3" > "$ROOT/proc/$1/cgroup"
        else echo "0::/user.slice/user-1000.slice/session-2.scope" > "$ROOT/proc/$1/cgroup"; fi
        ln -s "$4" "$ROOT/proc/$1/fd/20"
}

case_persistenced_round_trip() {
        local name="nvidia-persistenced holding /dev/nvidia0: stopped over D-Bus before the GPU leaves nvidia, journalled; at release started again after the GPU is back"
        pci_tree gpu-persistenced
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" "$V" 0000:41:00.0 > "$x"
        local before; before=$(snapshot)
        hook "$x" vm1 prepare begin || { t_fail "$name" "prepare: $(cat "$ERR")"; return; }
        local got want="/.fake/systemd/stop nvidia-persistenced.service;/sys/bus/pci/devices/0000:41:00.0/driver_override vfio-pci;"
        got=$(awk '{print $1, $2}' "$ROOT/.fake/writes.log" | head -2 | tr '\n' ';')
        local mid; mid=$(pd_unit)
        local step; step=$(grep -c " unit holder/nvidia-persistenced.service /systemd/nvidia-persistenced.service active inactive" "$ROOT/run/vmprep/$UUID_A.vfio.journal")
        if [ "$got" != "$want" ] || [ "$mid" != "nvidia-persistenced.service inactive" ] || [ -e "$ROOT/proc/1234" ] \
                || [ "$(drv 0000:41:00.0)" != vfio-pci ] || [ "$step" != 1 ]; then
                t_fail "$name" "prepare wrote: $got" "wanted:       $want" "unit: $mid, journal steps: $step" "$(cat "$ERR")"
                stop_phases "$x" vm1; return
        fi
        : > "$ROOT/.fake/writes.log"
        stop_phases "$x" vm1
        local order; order=$(grep -oE '^/(sys/bus/pci/drivers_probe 0000:41:00.0|.fake/systemd/start [a-z.-]+)' "$ROOT/.fake/writes.log" | tr '\n' ';')
        if [ "$order" = "/sys/bus/pci/drivers_probe 0000:41:00.0;/.fake/systemd/start nvidia-persistenced.service;" ] \
                && [ "$(pd_unit)" = "nvidia-persistenced.service active" ] && [ "$(readlink "$ROOT/proc/1234/fd/12")" = /dev/nvidia0 ] \
                && [ "$(snapshot)" = "$before" ] && [ ! -e "$ROOT/run/vmprep/$UUID_A.vfio.journal" ]; then
                t_ok "$name"
        else
                t_fail "$name" "release order: $order" "unit: $(pd_unit)" "$(diff <(echo "$before") <(snapshot) | head -4)"
        fi
        grep -q "vm1: stopped the system service nvidia-persistenced.service" "$ROOT/run/vmprep/events.log" \
                && grep -q "vm1: started nvidia-persistenced.service again" "$ROOT/run/vmprep/events.log" \
                && t_ok "events.log names nvidia-persistenced.service stopped for the VM and started again" \
                || t_fail "events.log names nvidia-persistenced" "$(cat "$ROOT/run/vmprep/events.log")"
}

pd_vm() { pci_tree gpu-persistenced; domain vm1 "$UUID_A" "$V" 0000:41:00.0 > "$ROOT/x.xml"; }
pd_snapshot() { snapshot; pd_unit; }
# odd points: libvirt's stopped + release; even: vmprep reconcile --offline
release_or_reconcile() {
        if [ $((CRASH_K % 2)) -eq 1 ]; then
                stop_phases "$@"
        else
                "$B/vmprep" --root "$ROOT" reconcile --offline > "$OUT" 2>&1 || crash_fail "reconcile: $(cat "$OUT")"
        fi
}
pd_holds_gpu_again() { [ -L "$ROOT/proc/1234/fd/12" ] || crash_fail "nvidia-persistenced does not hold /dev/nvidia0 again: $(pd_unit)"; }
case_persistenced_crash_is_finished_by_release_or_reconcile() {
        crash_sweep -m 100 -s pd_snapshot -a release_or_reconcile -c pd_holds_gpu_again -c crash_no_journal pd_vm vm1 prepare begin
        crash_verdict 4 "SIGKILL at each of $CRASHED crash points of a prepare that stops nvidia-persistenced, then release or reconcile: the service runs again, the GPU is back" \
                "SIGKILL at each crash point with nvidia-persistenced"
}

case_user_process_beside_persistenced_is_refused() {
        local name="a user's process holding /dev/nvidia0 beside nvidia-persistenced: refused by name and pid, nothing stopped, nothing written"
        pci_tree gpu-persistenced
        holder 777 python3 "" /dev/nvidia0
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" "$V" 0000:41:00.0 > "$x"
        local before; before=$(snapshot)
        if hook "$x" vm1 prepare begin; then t_fail "$name" "prepare succeeded"; stop_phases "$x" vm1; return; fi
        local msg; msg=$(cat "$ERR")
        stop_phases "$x" vm1
        if [[ $msg == *"refusing to unbind 0000:41:00.0 (display controller, <hostdev> 0000:41:00.0) from nvidia: its device nodes are open in python3 (pid 777); the unbind would block until they close"* ]] \
                && [ ! -s "$ROOT/.fake/writes.log" ] && [ "$(pd_unit)" = "nvidia-persistenced.service active" ] \
                && [ -e "$ROOT/proc/1234" ] && [ "$(snapshot)" = "$before" ]; then
                t_ok "$name"
        else
                t_fail "$name" "$msg" "writes: $(head -3 "$ROOT/.fake/writes.log")" "unit: $(pd_unit)"
        fi
}

case_persistenced_without_systemd() {
        local name="no systemd: nvidia-persistenced holding /dev/nvidia0 is refused naming the process, its pid and its service; nothing written"
        pci_tree gpu-persistenced
        rm -rf "$ROOT/run/systemd"
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" "$V" 0000:41:00.0 > "$x"
        local before; before=$(snapshot)
        if hook "$x" vm1 prepare begin; then t_fail "$name" "prepare succeeded"; stop_phases "$x" vm1; return; fi
        local msg; msg=$(cat "$ERR")
        stop_phases "$x" vm1
        if [[ $msg == *"its device nodes are open in nvidia-persiste (pid 1234 of nvidia-persistenced.service, which vmprep cannot stop: this host does not run systemd (no /run/systemd/system))"* ]] \
                && [ ! -s "$ROOT/.fake/writes.log" ] && [ "$(pd_unit)" = "nvidia-persistenced.service active" ] && [ "$(snapshot)" = "$before" ]; then
                t_ok "$name"
        else
                t_fail "$name" "$msg" "writes: $(head -3 "$ROOT/.fake/writes.log")"
        fi
}

case_other_services_need_stop_services() {
        local name="another system service holding /dev/nvidia0 is refused naming it and stop-services=; nvidia-persistenced is not stopped either"
        pci_tree gpu-persistenced
        echo "ollama.service active" > "$ROOT/.fake/systemd/units/ollama.service"
        echo "555 ollama /dev/nvidia0" > "$ROOT/.fake/systemd/units/ollama.service.pids"
        holder 555 ollama ollama.service /dev/nvidia0
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" "$V" 0000:41:00.0 > "$x"
        local before; before=$(snapshot)
        if hook "$x" vm1 prepare begin; then
                t_fail "$name" "prepare succeeded"; stop_phases "$x" vm1
        else
                local msg; msg=$(cat "$ERR")
                stop_phases "$x" vm1
                [[ $msg == *"its device nodes are open in ollama (pid 555 of ollama.service, which vmprep stops only when <vmprep:vfio stop-services=> names it)"* ]] \
                        && [ ! -s "$ROOT/.fake/writes.log" ] && [ "$(pd_unit)" = "nvidia-persistenced.service active" ] && [ "$(snapshot)" = "$before" ] \
                        && t_ok "$name" || t_fail "$name" "$msg" "writes: $(head -3 "$ROOT/.fake/writes.log")"
        fi
        name="stop-services='ollama.service': ollama and nvidia-persistenced both stopped for the VM, both started again at release"
        x=$ROOT/x.xml; domain vm1 "$UUID_A" "<vmprep:vfio stop-services='ollama.service'/>" 0000:41:00.0 > "$x"
        hook "$x" vm1 prepare begin || { t_fail "$name" "$(cat "$ERR")"; stop_phases "$x" vm1; return; }
        local mid; mid="$(pd_unit) $(cat "$ROOT/.fake/systemd/units/ollama.service")"
        stop_phases "$x" vm1
        [ "$mid" = "nvidia-persistenced.service inactive ollama.service inactive" ] \
                && [ "$(pd_unit) $(cat "$ROOT/.fake/systemd/units/ollama.service")" = "nvidia-persistenced.service active ollama.service active" ] \
                && [ -L "$ROOT/proc/555/fd/12" ] && [ -L "$ROOT/proc/1234/fd/12" ] && [ "$(snapshot)" = "$before" ] \
                && t_ok "$name" || t_fail "$name" "while running: $mid" "$(diff <(echo "$before") <(snapshot) | head -4)"
}

case_persistenced_that_will_not_let_go() {
        local name="nvidia-persistenced that does not stop within the bound: prepare fails saying so, the service is started again, the GPU untouched"
        pci_tree gpu-persistenced
        : > "$ROOT/.fake/systemd/stop-hangs"
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" "$V" 0000:41:00.0 > "$x"
        local before; before=$(snapshot)
        if hook "$x" vm1 prepare begin; then t_fail "$name" "prepare succeeded"; stop_phases "$x" vm1; return; fi
        if grep -q "stopped the system service nvidia-persistenced.service, but it is still deactivating after 2 s" "$ERR" \
                && grep -q "^/.fake/systemd/start nvidia-persistenced.service" "$ROOT/.fake/writes.log" \
                && [ "$(pd_unit)" = "nvidia-persistenced.service active" ] && [ "$(snapshot)" = "$before" ] \
                && ! grep -q nvidia/unbind "$ROOT/.fake/writes.log"; then
                t_ok "$name"
        else
                t_fail "$name" "$(cat "$ERR")" "$(cat "$ROOT/.fake/writes.log")"
        fi
        stop_phases "$x" vm1
        # a process the stop leaves behind (KillMode=none): looked at again, refused, the service started again
        name="a holder left behind when nvidia-persistenced stopped is refused by name after the stop; the service is started again"
        pci_tree gpu-persistenced
        holder 1240 nvidia-smi nvidia-persistenced.service /dev/nvidia0
        x=$ROOT/x.xml; domain vm1 "$UUID_A" "$V" 0000:41:00.0 > "$x"
        before=$(snapshot)
        if hook "$x" vm1 prepare begin; then t_fail "$name" "prepare succeeded"; stop_phases "$x" vm1; return; fi
        if grep -q "its device nodes are still open in nvidia-smi (pid 1240) although vmprep stopped nvidia-persistenced.service" "$ERR" \
                && [ "$(pd_unit)" = "nvidia-persistenced.service active" ] && [ "$(snapshot)" = "$before" ] \
                && ! grep -q nvidia/unbind "$ROOT/.fake/writes.log"; then
                t_ok "$name"
        else
                t_fail "$name" "$(cat "$ERR")" "$(cat "$ROOT/.fake/writes.log")"
        fi
        stop_phases "$x" vm1
}

case_services_vmprep_never_stops() {
        # libvirt's own daemon, even named in stop-services
        pci_tree gpu-persistenced
        holder 600 virtqemud virtqemud.service /dev/nvidia0
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" "<vmprep:vfio stop-services='virtqemud.service'/>" 0000:41:00.0 > "$x"
        if ! hook "$x" vm1 prepare begin && grep -q "open in virtqemud (pid 600 of virtqemud.service, libvirt's own: vmprep never stops it)" "$ERR" \
                && [ ! -s "$ROOT/.fake/writes.log" ]; then
                t_ok "virtqemud holding the node is refused even when stop-services names it: vmprep never stops libvirt"
        else
                t_fail "virtqemud is never stopped" "$(cat "$ERR")" "$(head -3 "$ROOT/.fake/writes.log")"
        fi
        stop_phases "$x" vm1
        # the display manager's unit, when the display stays up: single-gpu decides about it
        pci_tree gpu-persistenced
        echo "gdm.service active" > "$ROOT/.fake/systemd/units/display-manager.service"
        echo "gdm.service active" > "$ROOT/.fake/systemd/units/gdm.service"
        holder 4242 Xorg gdm.service /dev/nvidia0
        x=$ROOT/x.xml; domain vm1 "$UUID_A" "<vmprep:vfio stop-services='gdm.service'/>" 0000:41:00.0 > "$x"
        if ! hook "$x" vm1 prepare begin && grep -q "open in Xorg (pid 4242 of gdm.service, the display manager: single-gpu='on' stops it for the VM)" "$ERR" \
                && [ ! -s "$ROOT/.fake/writes.log" ]; then
                t_ok "the display manager holding a secondary GPU is refused, pointing at single-gpu='on', even when stop-services names it"
        else
                t_fail "the display manager is left to single-gpu" "$(cat "$ERR")" "$(head -3 "$ROOT/.fake/writes.log")"
        fi
        stop_phases "$x" vm1
}

case_builds_keep_their_worlds_apart() {
        # the test build must never reach the real kernel's module loader,
        # netlink or systemd; the production build must know nothing of the fake tree
        local refs fake prod=$repo/build/vmprep-hook
        refs=$(nm -u "$B/vmprep-hook" 2>/dev/null | grep -E ' (kmod_|mnl_|sd_bus_)' | tr -s ' ' | tr '\n' ' ')
        [ -z "$refs" ] && t_ok "the test build calls no libkmod, libmnl or sd-bus function (fake stand-ins only: tests/fake/fake_kmod.c for libkmod)" \
                || t_fail "the test build calls no real module loader, netlink or systemd" "$refs"
        if [ -x "$prod" ]; then
                fake=$(strings "$prod" | grep -c '/\.fake/' || true)
                [ "$fake" = 0 ] && t_ok "the production build names no fake-tree path" || t_fail "production build names no fake path" "$fake strings"
        else
                t_skip "the production build names no fake-tree path" "no $prod (make all)"
        fi
}

case_builds_keep_their_worlds_apart
case_test_build_refuses_without_root
case_untagged_vm_with_hostdev_is_left_to_libvirt
case_round_trip_restores_drivers_and_overrides
case_already_on_vfio_is_a_noop
case_group_device_with_a_viable_group
case_member_that_will_not_leave_rolls_back
case_release_after_failed_prepare_returns_only_what_moved
case_failed_rollback_is_finished_by_release
case_dev_vfio_that_never_appears
case_untagged_while_running_is_still_given_back
case_concurrent_prepares_for_one_device
case_reconnect_after_a_crash
case_second_vm_is_refused_a_held_device
case_interlocks
case_loads_vfio_pci_when_missing
case_modprobe_d_commands_never_run
case_vfs_created_through_zero_and_restored
case_vf_settings_restored_without_count_change
case_admin_vf_on_host_driver
case_sriov_enabled_no_is_left_alone
case_vfs_shared_by_two_vms
case_damaged_ledger_release
case_damaged_journal_of_a_crashed_start_named_once
case_autoprobe_yes_count_restored
case_plain_vf_user_gets_the_restore
case_vf_values_validated
case_nfv_raise_refused_naming_every_user
case_nfv_uses_the_vfs_there_are
case_nfv_vf_in_use_is_refused
case_nfv_untagged_vms_untouched
case_release_leaves_the_count_when_a_vf_was_taken_meanwhile
case_unload_modules
case_single_gpu_round_trip
case_single_gpu_waits_for_the_session
case_single_gpu_release_order
case_single_gpu_on_for_a_secondary_gpu
case_display_manager_that_will_not_stop
case_single_gpu_without_systemd
case_reset_method_set_while_running_and_restored
case_reset_method_refusals
case_reset_method_crash_points
case_persistenced_round_trip
case_persistenced_crash_is_finished_by_release_or_reconcile
case_user_process_beside_persistenced_is_refused
case_persistenced_without_systemd
case_other_services_need_stop_services
case_persistenced_that_will_not_let_go
case_services_vmprep_never_stops
case_crash_at_every_point
t_done
