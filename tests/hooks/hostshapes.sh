#!/usr/bin/env bash
# The host-use interlocks of 10-vmprep-vfio on recorded host shapes
# (tests/fake/host_shapes.c: a Fedora workstation, a Proxmox server, a host
# with untagged VMs on macvtap and whole disks; tests/fake/nfv_host.c: an
# X710 whose VFs serve the host, untagged VMs, a libvirt pool and a QEMU
# started by hand).  For every device such a
# host uses, prepare is refused with the reason named, whole IOMMU groups
# included, and nothing in the tree changes; `vmprep plan` shows the same
# refusal; force='yes' passes it and gives it back where override is allowed
# (never for another running VM's disk or macvtap); the devices the host
# does not use pass.  Test build only: buses >= 0x50 of a fake root.
#   tests/hooks/hostshapes.sh build/test
set -uo pipefail
here=$(cd -- "$(dirname -- "$0")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
B=${1:-build/test}
case $B in /*) ;; *) B=$repo/$B ;; esac
HOOK=$B/hooks/10-vmprep-vfio
VMPREP=$B/vmprep
# the shapes come from this tree's pci-fixture even when the hook under test
# is another build's (to show a test failing on an older commit)
FIXTURE=${PCI_FIXTURE:-$B/pci-fixture}
T_SUITE=hostshapes
# shellcheck source=tests/lib.sh
. "$repo/tests/lib.sh"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}

for f in "$HOOK" "$VMPREP" "$FIXTURE"; do [ -x "$f" ] || { echo "missing $f"; exit 1; }; done

# shellcheck source=tests/hooks/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/hooks/pci_tree.sh
. "$here/pci_tree.sh"
# every file, link and directory under sys/ and dev/, files byte for byte
SNAPSHOT=("entries:sys,dev" "bytes:sys,dev")

FORCE="<vmprep:vfio group='whole' force='yes'/>"

# refused SHAPE BDF MESSAGE [OVERRIDE]: a VM asking for BDF (group='whole')
# is refused at prepare and by `vmprep plan` with MESSAGE, and the tree is
# byte-identical after stop and release; with force='yes' the device then
# passes and comes back (OVERRIDE=yes, the default) or is still refused (no)
refused() {
        local shape=$1 bdf=$2 want=$3 override=${4:-yes}
        local name="$shape: $bdf is refused ($want)"
        pci_tree "$shape"
        # SETUP: a shell command that changes the fresh tree first
        [ -z "${SETUP:-}" ] || eval "$SETUP"
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" "$V" "$bdf" > "$x"
        local before; before=$(snapshot)
        if hook "$x" vm1 prepare begin; then
                t_fail "$name" "prepare succeeded"; stop_phases "$x" vm1; return
        fi
        local msg; msg=$(cat "$ERR")
        stop_phases "$x" vm1
        if [[ $msg == *"$want"* ]] && [[ $msg == *"$bdf"* ]] && [ "$(snapshot)" = "$before" ] \
                && [ ! -s "$ROOT/.fake/writes.log" ]; then
                t_ok "$name"
        else
                t_fail "$name" "$msg" "writes: $(head -3 "$ROOT/.fake/writes.log")"
        fi
        local plan
        if plan=$("$VMPREP" plan "$x" 2>&1); then
                t_fail "$shape: vmprep plan refuses $bdf" "$plan"
        elif [[ $plan == *"$want"* ]]; then
                t_ok "$shape: vmprep plan refuses $bdf the same way"
        else
                t_fail "$shape: vmprep plan refuses $bdf the same way" "$plan"
        fi

        pci_tree "$shape"
        [ -z "${SETUP:-}" ] || eval "$SETUP"
        x=$ROOT/x.xml; domain vm1 "$UUID_A" "$FORCE" "$bdf" > "$x"
        before=$(snapshot)
        if [ "$override" = no ]; then
                if ! hook "$x" vm1 prepare begin && grep -qF "$want" "$ERR" && [ ! -s "$ROOT/.fake/writes.log" ]; then
                        t_ok "$shape: force='yes' does not pass $bdf (another running VM uses it)"
                else
                        t_fail "$shape: force='yes' does not pass $bdf" "$(cat "$ERR")"
                fi
                stop_phases "$x" vm1
                return
        fi
        if hook "$x" vm1 prepare begin && [ "$(drv "$bdf")" = vfio-pci ] && grep -q "although" "$ERR"; then
                stop_phases "$x" vm1
                [ "$(snapshot)" = "$before" ] && t_ok "$shape: force='yes' passes $bdf with a warning and gives it back" \
                        || t_fail "$shape: forced $bdf comes back" "$(diff <(echo "$before") <(snapshot) | head -5)"
        else
                t_fail "$shape: force='yes' passes $bdf" "$(cat "$ERR")"
                stop_phases "$x" vm1
        fi
}

# passes SHAPE BDF WHAT: a device the host does not use goes to vfio-pci and comes back
# (SETUP as for refused)
passes() {
        local shape=$1 bdf=$2
        local name="$shape: $bdf ($3) is not the host's: it passes and comes back"
        pci_tree "$shape"
        [ -z "${SETUP:-}" ] || eval "$SETUP"
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" "$V" "$bdf" > "$x"
        local before; before=$(snapshot)
        if ! hook "$x" vm1 prepare begin || [ "$(drv "$bdf")" != vfio-pci ]; then
                t_fail "$name" "$(cat "$ERR")"; stop_phases "$x" vm1; return
        fi
        stop_phases "$x" vm1
        [ "$(snapshot)" = "$before" ] && t_ok "$name" || t_fail "$name" "$(diff <(echo "$before") <(snapshot) | head -5)"
}

case_fedora_workstation() {
        local s=fedora-workstation
        refused $s 0000:50:00.0 "it holds the mounted filesystem / (btrfs on nvme0n1p3)"
        refused $s 0000:51:00.0 "it holds the mounted filesystem / (btrfs on nvme1n1p1)"
        refused $s 0000:52:00.0 "it holds the active swap /dev/sdb1"
        refused $s 0000:53:00.0 "its interface enp83s0 is a port of br0, which carries the default route"
        refused $s 0000:56:00.3 "the host's keyboard or mouse hangs off it: Logitech USB Keyboard (input3), Logitech USB Optical Mouse (input5)"
        # the PSP asked for, the keyboard's controller comes with its group
        refused $s 0000:56:00.2 "refusing to bind 0000:56:00.3 (USB controller, in IOMMU group 46 with 0000:56:00.2) to vfio-pci: the host's keyboard or mouse hangs off it"
        refused $s 0000:58:00.0 "it holds the mounted filesystem /run/media/user/My Stick (btrfs on sdc1)"
        # the onboard audio's group is the PCH: LPC (watchdog, GPIO), SMBus, SPI flash
        refused $s 0000:59:1f.3 "refusing to bind 0000:59:1f.0 (bridge, in IOMMU group 49 with 0000:59:1f.3) to vfio-pci: it is a chipset function (ISA bridge, on lpc_ich)"
        refused $s 0000:5a:00.0 "it is the host's network interface enx00e04c680001 and it has the host address 2001:0db8:0001:0000::/64"
        refused $s 0000:5b:00.0 "it is the host's network interface eth1 and it has a host address (route to 192.168.2.0/24)"
        passes $s 0000:55:00.0 "the second GPU, with its HDA function"
        passes $s 0000:57:00.0 "a USB controller with only a gamepad"
}

# The boot GPU the desktop runs on: with single-gpu='off' refused, naming
# the console (the plan too); by default the single-GPU path takes GDM
# down first and brings it back at release, the tree exact.
case_fedora_boot_gpu() {
        local s=fedora-workstation bdf=0000:54:00.0 name
        name="$s: $bdf, the boot GPU of the desktop, with single-gpu='off': refused naming the console, nothing written"
        pci_tree $s
        local x=$ROOT/x.xml; domain vm1 "$UUID_A" "<vmprep:vfio single-gpu='off'/>" $bdf > "$x"
        local before; before=$(snapshot)
        if ! hook "$x" vm1 prepare begin && grep -qF "it is the boot GPU and drives the framebuffer console (vtcon1), and single-gpu='off'" "$ERR" \
                && [ ! -s "$ROOT/.fake/writes.log" ]; then
                t_ok "$name"
        else
                t_fail "$name" "$(cat "$ERR")" "$(head -3 "$ROOT/.fake/writes.log")"
        fi
        stop_phases "$x" vm1
        local plan; plan=$("$VMPREP" plan "$x" 2>&1) && t_fail "$s: vmprep plan refuses $bdf with single-gpu='off'" "$plan" \
                || { [[ $plan == *"drives the framebuffer console"* ]] && t_ok "$s: vmprep plan refuses $bdf with single-gpu='off' the same way" \
                        || t_fail "$s: vmprep plan refuses $bdf the same way" "$plan"; }
        name="$s: $bdf by default: GDM stopped first, fbcon unbound, GPU+HDA to vfio-pci; release gives all back, the tree exact"
        pci_tree $s
        x=$ROOT/x.xml; domain vm1 "$UUID_A" "<vmprep:vfio/>" $bdf > "$x"
        before=$(snapshot)
        if hook "$x" vm1 prepare begin && [ "$(drv $bdf)" = vfio-pci ] && [ "$(drv 0000:54:00.1)" = vfio-pci ] \
                && grep -q "gdm.service inactive" "$ROOT/.fake/systemd/units/gdm.service"; then
                stop_phases "$x" vm1
                if [ "$(snapshot)" = "$before" ] && grep -q "gdm.service active" "$ROOT/.fake/systemd/units/gdm.service"; then
                        t_ok "$name"
                else
                        t_fail "$name" "$(diff <(echo "$before") <(snapshot) | head -5)" "$(cat "$ROOT/.fake/systemd/units/gdm.service")"
                fi
        else
                t_fail "$name" "$(cat "$ERR")" "$(drv $bdf) $(cat "$ROOT/.fake/systemd/units/gdm.service")"
                stop_phases "$x" vm1
        fi
}

case_proxmox_server() {
        local s=proxmox-server
        refused $s 0000:60:00.0 "it holds the mounted filesystem / (zfs on nvme0n1p3)"
        refused $s 0000:61:00.0 "it holds the mounted filesystem / (zfs on nvme1n1p3)"
        refused $s 0000:62:00.0 "its block device nvme2n1p1 is a vdev of the imported ZFS pool tank"
        refused $s 0000:64:00.0 "its interface enp100s0f0 is a slave of bond0, which is a port of vmbr0, which carries the default route"
        refused $s 0000:64:00.1 "its interface enp100s0f1 is a slave of bond0, which is a port of vmbr0, which carries the default route"
        refused $s 0000:65:00.1 "its interface enp101s0f1 carries the VLAN enp101s0f1.30, which has a host address (route to 10.30.0.0/24)"
        refused $s 0000:66:00.0 "its interface enp102s0 is a port of vmbr1, which has the host address 2001:0db8:0020:0000::/64"
        passes $s 0000:63:00.0 "an NVMe with a ZFS pool that is not imported"
        # /proc/self/mountinfo that cannot be read (here: gone): disks count as in use, a NIC does not
        SETUP='rm -f "$ROOT/proc/self/mountinfo"' \
                refused $s 0000:63:00.0 "it has disks on it, and /proc/self/mountinfo cannot be read (No such file or directory): whether the host uses them is unknown"
        SETUP='rm -f "$ROOT/proc/self/mountinfo"' passes $s 0000:65:00.0 "a NIC port with nothing on it, mountinfo unreadable"
        passes $s 0000:65:00.0 "a NIC port with nothing on it"
        # a management VRF (or a policy-routing table, or noprefixroute):
        # the address is there, its routes are not in the main table that
        # /proc/net/route shows
        SETUP='echo "enp101s0f0 10.99.0.5/24" > "$ROOT/.fake/inet4"' \
                refused $s 0000:65:00.0 "it is the host's network interface enp101s0f0 and it has the host address 10.99.0.5/24"
        # its interface moved into a container's network namespace: sysfs
        # shows BDF/net/ empty from here
        SETUP='rm -rf "$ROOT/sys/bus/pci/devices/0000:65:00.0/net/enp101s0f0" "$ROOT/sys/class/net/enp101s0f0"' \
                refused $s 0000:65:00.0 "it is bound to igc but none of its network interfaces is in this network namespace"
}

case_macvtap_host() {
        local s=macvtap-host
        refused $s 0000:70:00.0 "cannot pass 0000:70:00.0 (network controller, <hostdev> 0000:70:00.0) to this VM: its interface enp112s0 carries the macvtap macvtap0, which is the <interface type='direct'> of the running VM web1" no
        refused $s 0000:71:00.0 "the running VM db1 has /dev/sdb (sdb) on it as a <disk type='block'>" no
        refused $s 0000:73:00.0 "its interface enp115s0 carries the macvtap macvtap1, which is the <interface type='direct'> of the running VM mail1" no
        passes $s 0000:72:00.0 "the disk of a VM whose QEMU is gone"
}

case_nfv_host() {
        local s=nfv-host
        refused $s 0000:41:02.0 "it is the host's network interface enp65s2 and it has the host address 2001:0db8:0000:0000::/64"
        refused $s 0000:41:02.1 "it is the host's network interface enp65s2f1 and it has a host address (route to 10.0.0.0/24)"
        refused $s 0000:41:02.2 "0000:41:02.2 is used by running VM 'router_vm.1'" no
        refused $s 0000:41:02.3 "0000:41:02.3 is used by running VM 'fw_vm'" no
        refused $s 0000:41:02.4 "0000:41:02.4 is in the VF pool of libvirt network 'sriov-net'" no
        refused $s 0000:41:02.5 "0000:41:02.5 is open by qemu-system-x86 (pid 1234)" no
        refused $s 0000:41:00.0 "it is the PF of 8 VFs, which unbinding i40e removes, and 0000:41:02.0 is bound to iavf" no
        passes $s 0000:41:02.6 "a free VF, unbound"
        passes $s 0000:41:02.7 "a free VF on vfio-pci that nobody holds"
}

# untagged_sweep SHAPE FREE: the shape's untagged running VMs (libvirt's
# status files) through every phase of each of the four hooks with their
# live XML: exit 0, no stdout, nothing written, the tree as it was; then a
# tagged VM takes FREE, a device the host does not use, through its whole
# life beside them: the only devices written are FREE's IOMMU group, and
# the tree is as it was after its release.
untagged_sweep() {
        local shape=$1 free=$2 name="$1: untagged running VMs through every phase of every hook, and a tagged VM beside them"
        local fails=() f vm x op h
        pci_tree "$shape"
        local before; before=$(snapshot)
        for f in "$ROOT"/run/libvirt/qemu/*.xml; do
                [ -e "$f" ] || continue
                vm=$(basename "$f" .xml); x=$ROOT/untagged-$vm.xml
                sed -n '/<domain /,/<\/domain>/p' "$f" > "$x"
                for h in 10-vmprep-vfio 20-vmprep-hugepages 30-vmprep-cpus 40-vmprep-tune; do
                        for op in "prepare begin" "start begin" "started begin" "reconnect begin" "migrate begin" "restore begin" "stopped end" "release end"; do
                                # shellcheck disable=SC2086
                                "$B/hooks/$h" "$vm" $op - < "$x" > "$OUT" 2> "$ERR" || fails+=("$h $vm $op exited $?: $(cat "$ERR")")
                                [ -s "$OUT" ] && fails+=("$h $vm $op printed to stdout")
                        done
                done
        done
        [ -s "$ROOT/.fake/writes.log" ] && fails+=("the untagged VMs' hooks wrote: $(head -3 "$ROOT/.fake/writes.log")")
        [ "$(snapshot)" = "$before" ] || fails+=("the untagged VMs' hooks changed the tree: $(diff <(echo "$before") <(snapshot) | head -4)")
        x=$ROOT/x.xml; domain vm1 "$UUID_A" "<vmprep:vfio group='whole'/>" "$free" > "$x"
        if hook "$x" vm1 prepare begin && hook "$x" vm1 start begin && hook "$x" vm1 started begin && hook "$x" vm1 reconnect begin; then
                local group others
                group=$(readlink "$ROOT/sys/bus/pci/devices/$free/iommu_group"); group=${group##*/}
                others=$(grep -oE '[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]' "$ROOT/.fake/writes.log" | sort -u | while read -r d; do
                        g=$(readlink "$ROOT/sys/bus/pci/devices/$d/iommu_group"); [ "${g##*/}" = "$group" ] || echo "$d"; done)
                [ -z "$others" ] || fails+=("the tagged VM's prepare wrote to devices outside group $group: $others")
        else
                fails+=("the tagged VM with $free did not start: $(cat "$ERR")")
        fi
        stop_phases "$x" vm1
        [ "$(snapshot)" = "$before" ] || fails+=("after the tagged VM: $(diff <(echo "$before") <(snapshot) | head -4)")
        if [ ${#fails[@]} -eq 0 ]; then t_ok "$name"; else t_fail "$name" "${fails[@]:0:6}"; fi
}

case_fedora_workstation
case_fedora_boot_gpu
case_proxmox_server
case_macvtap_host
case_nfv_host
untagged_sweep fedora-workstation 0000:55:00.0
untagged_sweep proxmox-server 0000:65:00.0
untagged_sweep macvtap-host 0000:72:00.0
untagged_sweep nfv-host 0000:41:02.6
t_done
