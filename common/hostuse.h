/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the host is using a PCI device for, so that vfio can refuse to take
 * it away: a mounted filesystem on it (directly, through device-mapper / md,
 * or as a member of a btrfs, bcachefs or ZFS filesystem), active swap, a
 * disk that an LVM volume, md array or imported ZFS pool is built on, a
 * network interface that carries the default route or host addresses itself
 * or through a bridge, bond, VLAN or Open vSwitch stacked on it, the host's
 * keyboard or mouse, a disk or macvtap of another running VM, open device
 * nodes.  Everything read through the gateway: mountinfo, /proc/swaps,
 * /sys/dev/block, /sys/class/block, /sys/fs/{btrfs,bcachefs},
 * /run/udev/data, /proc/spl/kstat/zfs, /proc/net/route, /proc/net/if_inet6,
 * /sys/class/net, /sys/class/input, /sys/class/{drm,graphics,sound},
 * /proc/PID/fd and /proc/PID/cgroup.
 *
 * The hostuse_* checks fill why with a reason that reads after "refusing
 * to bind BDF: " and return whether the host uses the device.
 */
#pragma once

#include "running.h"

#include <stdbool.h>
#include <stddef.h>

/* Does /proc/net/route (text) send anything through ifname?  why: "it
 * carries the default route" or "it has a host address (route to ...)".  Pure. */
bool hostuse_route_uses(const char *route_text, const char *ifname, char *why, size_t size);
/* Does /proc/net/if_inet6 (text) give ifname a global address?  Pure. */
bool hostuse_inet6_uses(const char *text, const char *ifname, char *why, size_t size);
/* netvf_inet4_text()'s lines: "it has the host address 10.1.2.3/24". */
bool hostuse_inet4_uses(const char *text, const char *ifname, char *why, size_t size);

/* One line of /proc/self/mountinfo, paths unescaped (\040 is a blank).  Pure. */
typedef struct HostMount {
        char majmin[32];
        unsigned major;               /* 0: no block device of its own (btrfs, ZFS, tmpfs...) */
        char mountpoint[512];
        char fstype[64];
        char source[512];
} HostMount;
int hostuse_mountinfo_parse(const char *line, HostMount *m); /* 0 or -EINVAL */
/* The next swap partition in /proc/swaps text from *cursor (swap files are
 * skipped); false at the end.  Pure. */
bool hostuse_swaps_next(const char **cursor, char *path, size_t size);

/* A network interface and what is stacked on it, as found by
 * hostuse_net_walk: nodes[0] is the interface itself; every other node sits
 * on nodes[parent] as relation says ("is a port of", "is a slave of",
 * "carries the VLAN", "carries the macvtap", ...). */
#define HOSTUSE_IFNAMSIZ 16
#define HOSTUSE_NET_NODES 512
typedef struct HostNetNode {
        char name[HOSTUSE_IFNAMSIZ];
        int parent;
        char relation[48];
} HostNetNode;
size_t hostuse_net_walk(const char *ifname, HostNetNode *nodes, size_t max);
/* "enp3s0 is a slave of bond0, which is a port of vmbr0" (the path to node i). */
void hostuse_net_chain(const HostNetNode *nodes, size_t i, char *buf, size_t size);

/* A mounted filesystem on the device: "it holds the mounted filesystem /var
 * (/dev/nvme0n1p1)", "... / (btrfs on nvme0n1p3)". */
bool hostuse_mounted(const char *bdf, char *why, size_t size);
/* An active swap partition on the device: "it holds the active swap /dev/sdb2". */
bool hostuse_swap(const char *bdf, char *why, size_t size);
/* A disk or partition on the device with holders (an active LVM volume, md
 * array, dm-crypt) or that is a vdev of an imported ZFS pool. */
bool hostuse_block_held(const char *bdf, char *why, size_t size);
/* One of the device's interfaces, or an interface stacked on it, carries the
 * default route or host addresses: "its interface enp3s0 is a port of br0,
 * which carries the default route". */
bool hostuse_network(const char *bdf, char *why, size_t size);
/* The host's keyboard or mouse is a device under it (a USB controller):
 * "the host's keyboard or mouse hangs off it: NAME (input3), ...". */
bool hostuse_input(const char *bdf, char *why, size_t size);
/* Another running VM (vms: from running_vms()) has a <disk type='block'>
 * on the device, or an <interface type='direct'> on one of its interfaces
 * or on what is stacked on them. */
bool hostuse_running_vm(const char *bdf, const RunningVm *vms, size_t n_vms, char *why, size_t size);
/* Processes with the device's /dev/dri, /dev/fb, /dev/snd (its ALSA cards)
 * or /dev/nvidiaN nodes open, or (on vfio-pci) its /dev/vfio group or
 * device node, other than this one: "Xorg (pid 4242), ..." into buf;
 * returns how many. */
int hostuse_holders(const char *bdf, char *buf, size_t size);

/* One of those processes, and the system service it runs in. */
typedef struct HostHolder {
        unsigned long long pid;
        char comm[64];
        char unit[96];   /* "nvidia-persistenced.service", "" when none (hostuse_cgroup_service) */
} HostHolder;
/* The same, one entry each: *ret (free() it) holds *n; returns *n or -errno. */
int hostuse_holder_list(const char *bdf, HostHolder **ret, size_t *n);
/* The system service a process runs in, from its /proc/PID/cgroup text:
 * on the unified hierarchy's line ("0::/system.slice/x.service"), else
 * on systemd's named v1 one ("1:name=systemd:/system.slice/x.service"),
 * under system.slice and any slices nested there (system-getty.slice), the
 * first unit, when it is a service (with whatever sub-cgroups it delegated
 * below it).  False, unit "", for the rest: a user's session or user
 * manager (user.slice), a scope (a container), init.scope, machine.slice,
 * a host without systemd.  Pure. */
bool hostuse_cgroup_service(const char *text, char *unit, size_t size);
