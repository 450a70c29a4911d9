/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The cores `vmprep pin` gives a VM's vCPUs, and why.
 *
 * Facts about the host (read through the gateway, so a recorded tree stands
 * in for /sys):
 *   /sys/devices/system/cpu/cpuN/topology/thread_siblings_list    SMT siblings
 *   /sys/devices/system/cpu/cpuN/cache/index3/shared_cpu_list, size  the L3
 *       domain (an AMD CCX/CCD, an Intel socket) and its size ("32768K")
 *   /sys/devices/cpu_core/cpus, /sys/devices/cpu_atom/cpus        P- and E-cores
 *       of an Intel hybrid CPU (absent elsewhere)
 *   /sys/devices/system/node/nodeM/cpulist                        NUMA nodes
 *
 * The choice (pin_choose, pure):
 *   - whole cores, SMT siblings together; never CPU 0's core, which stays
 *     with the host (housekeeping, the VM's emulator and iothreads: the
 *     host share), nor a core any CPU of which another VM claims;
 *   - on one NUMA node: the node of the VM's PCI devices and hugepages when
 *     it has one, else the node with the most free cores;
 *   - within one L3 domain when the VM fits in one, preferring the largest
 *     L3 (the 3D V-Cache CCD) when asked (a gaming VM), else the domain with
 *     the fewest free cores that still fits (leaving whole domains to
 *     others); spanning domains (fullest first) only when none fits;
 *   - P-cores before E-cores on a hybrid CPU (E-cores only when the P-cores
 *     are too few);
 *   - a guest topology that matches: 1 socket, cores x threads = vCPUs
 *     (threads = the cores' SMT width when every core is full and alike,
 *     else 1: an odd count or P- and E-cores mixed).
 */
#pragma once

#include "numa.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct PinHost {
        CpuTopology topo;
        int *l3_of;         /* [n_cpus]: first CPU of its L3 domain, -1 unknown */
        uint64_t *l3_kib;   /* [n_cpus]: size of that L3, 0 unknown */
        CpuSet *l3_cpus;    /* [n_cpus]: the domain's CPUs (valid where l3_of >= 0) */
        bool hybrid;        /* cpu_core and cpu_atom both listed */
        CpuSet ecores;      /* cpu_atom CPUs */
} PinHost;

/* Read the host's facts; 0 or -errno.  Free with pin_host_free(). */
int pin_host_read(PinHost *h);
void pin_host_free(PinHost *h);

typedef struct PinRequest {
        unsigned vcpus;        /* every vCPU up to <vcpu>'s maximum */
        CpuSet nodes;          /* NUMA nodes it must be on (devices, memory); empty: any */
        char nodes_why[256];   /* "the node of 0000:41:00.0", "<numatune>" */
        bool largest_l3;       /* prefer the largest L3 (gaming) */
        CpuSet taken;          /* CPUs other VMs claim */
} PinRequest;

typedef struct PinCore {
        CpuSet cpus;           /* the core's CPUs */
        CpuSet vcpus;          /* the vCPU ids pinned onto it */
        char why[720];         /* the reason it was chosen */
} PinCore;

typedef struct PinChoice {
        unsigned n_vcpus;
        unsigned *vcpu_cpu;    /* [n_vcpus]: host CPU of vCPU i */
        PinCore *cores;
        size_t n_cores;
        CpuSet cpus;           /* every CPU of the chosen cores */
        CpuSet host;           /* the host share: CPU 0's core (emulator, iothreads) */
        unsigned sockets, cores_per_socket, threads;
        int node;
        char summary[600];     /* one sentence: where and why */
} PinChoice;

/*
 * Choose the cores for req on h.  0 with ret filled (free with
 * pin_choice_free()), -ENOSPC with err saying how many cores the VM needs,
 * how many are free and where, or -ENOMEM.
 */
int pin_choose(const PinHost *h, const PinRequest *req, PinChoice *ret, char *err, size_t errlen);
void pin_choice_free(PinChoice *c);

/* What a core is: "node 0, L3 CPUs 0-7,16-23 (96 MiB), P-core" into buf. */
void pin_core_describe(const PinHost *h, unsigned cpu, char *buf, size_t size);
