/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "numa.h"

#include "sysfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int read_list(const char *path, CpuSet *ret)
{
        char buf[8192];
        int r = sysfs_read(path, buf, sizeof(buf));
        if (r < 0)
                return r;
        if (r == 0) {
                cpuset_clear(ret);
                return 0;
        }
        return cpuset_parse(buf, ret);
}

int numa_topology_read(CpuTopology *t)
{
        char path[256];
        int r;

        memset(t, 0, sizeof(*t));
        r = read_list("/sys/devices/system/cpu/online", &t->online);
        if (r < 0)
                return r;
        /* present: CPUs the machine has, online or not (offline ones keep their cpuN) */
        if (read_list("/sys/devices/system/cpu/present", &t->present) < 0)
                t->present = t->online;
        cpuset_or(&t->present, &t->online);
        for (int c = cpuset_next(&t->present, 0); c >= 0; c = cpuset_next(&t->present, (unsigned) c + 1))
                t->n_cpus = (unsigned) c + 1;
        if (t->n_cpus == 0)
                return -ENOENT;
        t->siblings = calloc(t->n_cpus, sizeof(*t->siblings));
        t->node_of = calloc(t->n_cpus, sizeof(*t->node_of));
        if (!t->siblings || !t->node_of) {
                numa_topology_free(t);
                return -ENOMEM;
        }
        for (unsigned c = 0; c < t->n_cpus; c++) {
                snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%u/topology/thread_siblings_list", c);
                if (read_list(path, &t->siblings[c]) < 0 || cpuset_empty(&t->siblings[c])) {
                        cpuset_clear(&t->siblings[c]);
                        cpuset_set(&t->siblings[c], c); /* offline, or no topology: a core of its own */
                }
        }

        if (read_list("/sys/devices/system/node/online", &t->nodes) < 0 || cpuset_empty(&t->nodes)) {
                cpuset_clear(&t->nodes);
                cpuset_set(&t->nodes, 0);
                t->n_nodes = 1;
                return 0; /* no NUMA sysfs: one node, node_of all 0 */
        }
        for (int n = cpuset_next(&t->nodes, 0); n >= 0; n = cpuset_next(&t->nodes, (unsigned) n + 1)) {
                CpuSet cpus;
                t->n_nodes = (unsigned) n + 1;
                snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/cpulist", n);
                if (read_list(path, &cpus) < 0)
                        continue;
                for (int c = cpuset_next(&cpus, 0); c >= 0 && (unsigned) c < t->n_cpus; c = cpuset_next(&cpus, (unsigned) c + 1))
                        t->node_of[c] = n;
        }
        t->distance = malloc(sizeof(int) * t->n_nodes * t->n_nodes);
        if (!t->distance) {
                numa_topology_free(t);
                return -ENOMEM;
        }
        for (unsigned i = 0; i < t->n_nodes * t->n_nodes; i++)
                t->distance[i] = -1;
        /* nodeM/distance: "10 21" - one distance per online node, in order */
        for (int n = cpuset_next(&t->nodes, 0); n >= 0; n = cpuset_next(&t->nodes, (unsigned) n + 1)) {
                char buf[4096], *save = NULL;
                snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/distance", n);
                if (sysfs_read(path, buf, sizeof(buf)) < 0)
                        continue;
                int m = cpuset_next(&t->nodes, 0);
                for (char *tok = strtok_r(buf, " ", &save); tok && m >= 0; tok = strtok_r(NULL, " ", &save)) {
                        int64_t v;
                        if (parse_i64(tok, 0, 255, &v) == 0)
                                t->distance[(unsigned) n * t->n_nodes + (unsigned) m] = (int) v;
                        m = cpuset_next(&t->nodes, (unsigned) m + 1);
                }
        }
        return 0;
}

void numa_topology_free(CpuTopology *t)
{
        free(t->siblings);
        free(t->node_of);
        free(t->distance);
        t->siblings = NULL;
        t->node_of = NULL;
        t->distance = NULL;
}

void numa_nodes_of(const CpuTopology *t, const CpuSet *set, CpuSet *ret)
{
        cpuset_clear(ret);
        for (int c = cpuset_next(set, 0); c >= 0; c = cpuset_next(set, (unsigned) c + 1))
                if ((unsigned) c < t->n_cpus)
                        cpuset_set(ret, (unsigned) t->node_of[c]);
}

int numa_distance(const CpuTopology *t, unsigned a, unsigned b)
{
        if (!t->distance || a >= t->n_nodes || b >= t->n_nodes)
                return -1;
        return t->distance[a * t->n_nodes + b];
}

/* Whole free cores of a node, in CPU order, excluding CPU 0's core, until
 * at least max CPUs: returns how many CPUs (whole cores: may be more). */
static unsigned node_free_cores(const CpuTopology *t, unsigned node, const CpuSet *avoid, unsigned *order,
                                unsigned max, CpuSet *ret)
{
        CpuSet seen;
        unsigned n = 0;

        cpuset_clear(&seen);
        cpuset_clear(ret);
        for (unsigned c = 0; c < t->n_cpus && n < max; c++) {
                if (!cpuset_isset(&t->online, c) || t->node_of[c] != (int) node || cpuset_isset(&seen, c))
                        continue;
                const CpuSet *core = &t->siblings[c];
                cpuset_or(&seen, core);
                if (cpuset_isset(core, 0) || cpuset_intersects(core, avoid))
                        continue;
                /* a core whose siblings are not all online is no whole core */
                CpuSet off = *core;
                cpuset_andnot(&off, &t->online);
                if (!cpuset_empty(&off))
                        continue;
                for (int s = cpuset_next(core, 0); s >= 0; s = cpuset_next(core, (unsigned) s + 1)) {
                        if (order)
                                order[n] = (unsigned) s;
                        n++;
                }
                cpuset_or(ret, core);
        }
        return n;
}

int numa_pick_cores(const CpuTopology *t, unsigned n, const CpuSet *avoid, const CpuSet *prefer_nodes,
                    unsigned *order, CpuSet *ret, unsigned *ret_count, unsigned *ret_node)
{
        for (int pass = 0; pass < 2; pass++) {
                for (int node = cpuset_next(&t->nodes, 0); node >= 0; node = cpuset_next(&t->nodes, (unsigned) node + 1)) {
                        bool preferred = prefer_nodes && cpuset_isset(prefer_nodes, (unsigned) node);
                        if (pass == 0 && !preferred)
                                continue;
                        if (pass == 1 && preferred)
                                continue;
                        CpuSet got;
                        unsigned count = node_free_cores(t, (unsigned) node, avoid, order, n, &got);
                        if (count < n)
                                continue;
                        *ret = got;
                        *ret_count = count;
                        *ret_node = (unsigned) node;
                        return 0;
                }
        }
        return -ENOSPC;
}

int numa_pci_node(const PciAddress *a)
{
        char addr[PCI_ADDRESS_STRLEN], path[128];
        int64_t v;

        pci_address_format(a, addr);
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/numa_node", addr);
        if (sysfs_read_i64(path, &v) < 0 || v < 0 || v >= CPUSET_MAX)
                return -1;
        return (int) v;
}
