/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Other VMs on the cores a VM isolates.  Isolation keeps host work, IRQs and
 * workqueues off the claimed CPUs, but not other VMs' threads: libvirt puts
 * them in their own cgroups, which vmprep leaves alone.  So at prepare a VM
 * is refused while another running VM (tagged or not, read from libvirt's
 * status files, common/running.h) is pinned onto its cores, and VMs whose
 * threads are not pinned at all, and so may run anywhere, are warned about.
 */
#pragma once

#include "domain.h"
#include "profile.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct CpusShare {
        CpuSet vcpus;           /* vCPUs pinned (<vcpupin>, else <vcpu cpuset>) onto the CPUs */
        CpuSet iothreads;       /* iothreads pinned onto them */
        bool emulator;          /* emulator threads pinned onto them */
        CpuSet on;              /* which of the CPUs */
        CpuSet unpinned;        /* vCPUs with neither pin: they may run on any CPU */
        bool emulator_unpinned; /* no <emulatorpin> and no <vcpu cpuset> */
} CpusShare;

/* Pure: what the running domain vm has on cpus (vCPUs counted up to <vcpu>'s maximum). */
void cpus_share_of(const Domain *vm, const CpuSet *cpus, CpusShare *ret);

/*
 * The running VMs other than d against claim: -EINVAL with err naming each
 * VM pinned onto it, its threads and the CPUs.  When warn is not NULL it
 * gets (else "") the VMs that may run anywhere (unless partition: an
 * isolated partition keeps them off) and those whose status file vmprep
 * cannot read.  Returns 0, -EINVAL or -errno.
 */
int cpus_share_check(const Domain *d, const CpuSet *claim, bool partition, char *err, size_t errlen, char *warn,
                     size_t warnlen);

/* vmprep plan and doctor: the warnings of cpus_share_check() for domain d
 * with profile p as it would be prepared now; "" when there are none, when
 * it does not isolate, or when its claim cannot be derived (the plan says
 * why). */
void cpus_share_warnings(const Domain *d, const Profile *p, char *warn, size_t warnlen);

/* "0,1" for two, "0-3" for a run of three or more: vCPU and iothread ids. */
void cpus_share_format_ids(const CpuSet *ids, char *buf, size_t size);
