/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Host CPU and NUMA topology, read through the gateway (so that a fake tree
 * stands in for /sys in tests; libnuma hard-codes /sys and its
 * numa_parse_cpustring drops CPUs outside the caller's affinity, which a
 * hook inherits from libvirtd):
 *
 *   /sys/devices/system/cpu/online, cpuN/            which CPUs exist and run
 *   /sys/devices/system/cpu/cpuN/topology/thread_siblings_list   SMT siblings
 *   /sys/devices/system/node/online, nodeM/cpulist, nodeM/distance
 *   /sys/bus/pci/devices/ADDR/numa_node              a device's node (-1: none)
 */
#pragma once

#include "parse.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct CpuTopology {
        CpuSet present;      /* a cpuN directory exists */
        CpuSet online;
        unsigned n_cpus;     /* highest present CPU + 1 */
        CpuSet *siblings;    /* [n_cpus]: SMT siblings, the CPU itself included */
        int *node_of;        /* [n_cpus]: NUMA node, 0 when the host has no node directories */
        CpuSet nodes;        /* online nodes */
        unsigned n_nodes;    /* highest node + 1 */
        int *distance;       /* [n_nodes * n_nodes], -1 unknown */
} CpuTopology;

/* Read the topology; returns 0 or -errno. */
int numa_topology_read(CpuTopology *t);
void numa_topology_free(CpuTopology *t);

/* Nodes that the CPUs of set belong to. */
void numa_nodes_of(const CpuTopology *t, const CpuSet *set, CpuSet *ret);
/* Distance between two nodes, -1 when unknown. */
int numa_distance(const CpuTopology *t, unsigned a, unsigned b);

/*
 * Pick n CPUs for a VM: whole cores (all SMT siblings) on one NUMA node,
 * never from the core of CPU 0 (host housekeeping) nor from avoid (cores
 * other VMs claim), preferring prefer_nodes when not empty.  On success
 * ret holds the chosen whole cores (at least n CPUs), order[] (room for
 * n_cpus entries, may be NULL) lists them core by core, *ret_count how many
 * and *ret_node the node.  -ENOSPC when no node has
 * enough free whole cores; then the caller may fall back to any CPUs.
 */
int numa_pick_cores(const CpuTopology *t, unsigned n, const CpuSet *avoid, const CpuSet *prefer_nodes,
                    unsigned *order, CpuSet *ret, unsigned *ret_count, unsigned *ret_node);

/* The NUMA node of a PCI device, -1 when it has none or is unknown. */
int numa_pci_node(const PciAddress *a);
