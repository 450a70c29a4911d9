/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Where a running libvirt VM's threads live in the unified cgroup
 * hierarchy, and which other VMs share the machine cgroup with it.
 *
 * The VM's cgroup is found from its QEMU process: libvirt's status file
 * (/run/libvirt/qemu/NAME.xml, <domstatus pid=...>, written before the
 * `started` hook runs) gives the pid, /proc/PID/cgroup's "0::" line its
 * cgroup.  That is checked against the exact name libvirt gives the domain
 * id (common/machine_name.h); without a live QEMU the exact name alone is
 * used.  Never a match on part of a name: VM "b" must not take the scope
 * of VM "a-b".
 */
#pragma once

#include "domain.h"

#include <stddef.h>

/*
 * The running domain d's own child of the machine cgroup ms (a path such as
 * "/sys/fs/cgroup/machine.slice"): the full path of its systemd scope
 * ("…/machine-qemu\x2d3\x2dwin10rt.scope") or of libvirt's own directory
 * ("…/qemu-3-win10rt.libvirt-qemu") into ret.  Returns 0, or logs why not
 * (QEMU not found, its cgroup elsewhere, or not the one libvirt names for
 * d's id) and returns -errno.
 */
int vm_cgroup_find(const char *ms, const Domain *d, char *ret, size_t size);

/*
 * The VMs other than d that run in the machine cgroup ms: those libvirt's
 * status files list (their QEMU's cgroup under ms, or unknown), and any
 * child cgroup of ms that is neither d's (self: its full path, or NULL when
 * it has none yet) nor one of theirs (a VM of another tool, a leftover).
 * Their names, comma-separated, into buf (cut short when long).  Returns
 * how many, or -errno.
 */
int vm_cgroup_others(const char *ms, const Domain *d, const char *self, char *buf, size_t size);
