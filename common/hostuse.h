/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the host is using a PCI device for, so that vfio can refuse to take
 * it away: a mounted filesystem on it (directly or through device-mapper /
 * md), a network interface carrying the default route or host addresses,
 * open device nodes.  Everything read through the gateway: mountinfo,
 * /sys/dev/block, /proc/net/route, /proc/net/if_inet6, /sys/class/{drm,
 * graphics,sound}, /proc/PID/fd.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Does /proc/net/route (text) send anything through ifname?  why: "it
 * carries the default route" or "it has a host address (route to ...)".  Pure. */
bool hostuse_route_uses(const char *route_text, const char *ifname, char *why, size_t size);
/* Does /proc/net/if_inet6 (text) give ifname a global address?  Pure. */
bool hostuse_inet6_uses(const char *text, const char *ifname, char *why, size_t size);

/* A mounted filesystem on the device: why = "it holds the mounted filesystem /var (/dev/nvme0n1p1)". */
bool hostuse_mounted(const char *bdf, char *why, size_t size);
/* One of the device's interfaces carries the default route or host addresses. */
bool hostuse_network(const char *bdf, char *why, size_t size);
/* Processes with the device's /dev/dri, /dev/fb, /dev/snd (its ALSA cards)
 * or /dev/nvidiaN nodes open, or (on vfio-pci) its /dev/vfio group or
 * device node, other than this one: "Xorg (pid 4242), ..." into buf;
 * returns how many. */
int hostuse_holders(const char *bdf, char *buf, size_t size);
