/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ledger's resource names: what a hold, or a journal step, counts
 * against.  Built here and nowhere else, so that the hooks that take a
 * hold, the rebuild of a damaged ledger and `vmprep status` name a thing
 * the same way:
 *
 *   hugepages/nodeN/SkB           pages a VM added to a node's pool
 *   cpus/N                        a CPU a VM claims; cpus-irq/N, cpus-wq/N,
 *                                 cpus-part/N: and keeps IRQs, unbound
 *                                 workqueues off it, or makes it a partition
 *   pci/BDF                       a device a VM holds (on vfio-pci)
 *   pci/BDF/reset_method          its reset_method, as the VM set it
 *   sriov/BDF                     a PF whose VFs a VM uses
 *   sriov/BDF/vfN                 a VF's MAC, VLAN, trust, spoofchk
 *   shmem:PATH                    a /dev/shm file or kvmfr device a VM uses
 *   holder/UNIT                   a systemd unit stopped while a VM runs
 *
 * Each returns buf ("" when it does not fit, which no name of a real host
 * does at the sizes used).
 */
#pragma once

#include <stdio.h>

static inline const char *res_fmt_done(char *buf, size_t size, int n)
{
        if (n < 0 || (size_t) n >= size)
                buf[0] = '\0';
        return buf;
}

/* kind: "cpus", "cpus-irq", "cpus-wq" or "cpus-part" */
static inline const char *res_cpu(char *buf, size_t size, const char *kind, int cpu)
{
        return res_fmt_done(buf, size, snprintf(buf, size, "%s/%d", kind, cpu));
}

static inline const char *res_hugepages(char *buf, size_t size, unsigned node, unsigned long long kib)
{
        return res_fmt_done(buf, size, snprintf(buf, size, "hugepages/node%u/%llukB", node, kib));
}

static inline const char *res_pci(char *buf, size_t size, const char *bdf)
{
        return res_fmt_done(buf, size, snprintf(buf, size, "pci/%s", bdf));
}

static inline const char *res_sriov(char *buf, size_t size, const char *pf_bdf)
{
        return res_fmt_done(buf, size, snprintf(buf, size, "sriov/%s", pf_bdf));
}

static inline const char *res_pci_reset(char *buf, size_t size, const char *bdf)
{
        return res_fmt_done(buf, size, snprintf(buf, size, "pci/%s/reset_method", bdf));
}

static inline const char *res_sriov_vf(char *buf, size_t size, const char *pf_bdf, unsigned long long index)
{
        return res_fmt_done(buf, size, snprintf(buf, size, "sriov/%s/vf%llu", pf_bdf, index));
}

static inline const char *res_shmem(char *buf, size_t size, const char *path)
{
        return res_fmt_done(buf, size, snprintf(buf, size, "shmem:%s", path));
}

static inline const char *res_holder(char *buf, size_t size, const char *unit)
{
        return res_fmt_done(buf, size, snprintf(buf, size, "holder/%s", unit));
}
