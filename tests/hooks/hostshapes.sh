#!/usr/bin/env bash
# The host-use interlocks of 10-vmprep-vfio on recorded host shapes
# (tests/fake/host_shapes.c: a Fedora workstation, a Proxmox server, a host
# with untagged VMs on macvtap and whole disks).  For every device such a
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

# shellcheck source=tests/hooks/pci_tree.sh
. "$here/pci_tree.sh"

FORCE="<vmprep:vfio group='whole' force='yes'/>"

# refused SHAPE BDF MESSAGE [OVERRIDE]: a VM asking for BDF (group='whole')
# is refused at prepare and by `vmprep plan` with MESSAGE, and the tree is
# byte-identical after stop and release; with force='yes' the device then
# passes and comes back (OVERRIDE=yes, the default) or is still refused (no)
refused() {
        local shape=$1 bdf=$2 want=$3 override=${4:-yes}
        local name="$shape: $bdf is refused ($want)"
        new_tree "$shape"
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

        new_tree "$shape"
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
passes() {
        local shape=$1 bdf=$2
        local name="$shape: $bdf ($3) is not the host's: it passes and comes back"
        new_tree "$shape"
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
        passes $s 0000:55:00.0 "the second GPU, with its HDA function"
        passes $s 0000:57:00.0 "a USB controller with only a gamepad"
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
        passes $s 0000:72:00.0 "the disk of a VM whose QEMU is gone"
}

case_fedora_workstation
case_proxmox_server
case_macvtap_host
t_done
