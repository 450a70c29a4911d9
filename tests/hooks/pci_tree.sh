# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables are for the suites that source this file
# Fake PCI hosts for the vfio hook suites (tests/hooks/vfio.sh,
# hostshapes.sh, planjournal.sh): trees built by pci-fixture, domains with
# <hostdev>s and VF <interface>s, the drivers of their devices.  Needs tests/hooks/lib.sh, and FIXTURE set by
# the caller.

UUID_A=5b0c3a1e-7d2f-4a8b-9c6d-1e2f3a4b5c01
UUID_B=5b0c3a1e-7d2f-4a8b-9c6d-1e2f3a4b5c02

# pci_tree FIXTURE...: a fresh fake host
pci_tree() {
        new_root pci
        "$FIXTURE" "$ROOT" base "$@" || exit 1
}

# hostdev BDF: a <hostdev> element for a device
hostdev() {
        local d=${1%%:*} rest=${1#*:}
        local b=${rest%%:*} s=${rest#*:}; s=${s%%.*}; local f=${1##*.}
        printf "<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x%s' bus='0x%s' slot='0x%s' function='0x%s'/></source></hostdev>" "$d" "$b" "$s" "$f"
}
# iface BDF: an <interface type='hostdev'> for a VF
iface() {
        local b=${1#*:}; local bus=${b%%:*} s=${b#*:}; s=${s%%.*}
        printf "<interface type='hostdev' managed='yes'><source><address type='pci' domain='0x0000' bus='0x%s' slot='0x%s' function='0x%s'/></source></interface>" "$bus" "$s" "${1##*.}"
}
# domain NAME UUID VFIO-ELEMENT-OR-EMPTY BDF...: a VM with those hostdevs
domain() {
        local name=$1 uuid=$2 vfio=$3; shift 3
        printf "<domain type='kvm'><name>%s</name><uuid>%s</uuid><memory unit='MiB'>512</memory>" "$name" "$uuid"
        [ -n "$vfio" ] && printf "<metadata><vmprep:profile xmlns:vmprep='urn:vmprep:1'>%s</vmprep:profile></metadata>" "$vfio"
        printf "<devices>"
        local b; for b in "$@"; do hostdev "$b"; done
        printf "</devices></domain>\n"
}
V="<vmprep:vfio group='whole'/>"

drv() { local t; t=$(readlink "$ROOT/sys/bus/pci/devices/$1/driver") && echo "${t##*/}" || echo none; }
ovr() { cat "$ROOT/sys/bus/pci/devices/$1/driver_override"; }
