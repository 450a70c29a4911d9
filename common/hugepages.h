/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Hugepages: how many pages of which size a domain needs on which host NUMA
 * node, reserving exactly that many on top of each node's pool before the
 * VM starts, and giving exactly those back after it stops.
 */
#pragma once

#include "domain.h"
#include "plan.h"
#include "profile.h"

#include <stddef.h>
#include <stdint.h>

typedef struct HugepageNeed {
        unsigned node;
        uint64_t size_kib;
        uint64_t pages;
} HugepageNeed;

typedef struct HugepageHost {
        CpuSet nodes;              /* host nodes with memory */
        uint64_t default_size_kib; /* Hugepagesize in /proc/meminfo */
} HugepageHost;

/* Read the host facts the derivation needs (through the gateway). */
int hugepages_host_read(HugepageHost *ret);

/* One of a NUMA node's hugepage pools as sysfs shows it. */
typedef struct HugepagePool {
        uint64_t size_kib;
        uint64_t pages; /* nr_hugepages */
        uint64_t free;  /* free_hugepages */
} HugepagePool;

/* The node's pools in the order sysfs lists hugepages-NkB (doctor, status
 * and its map share it); *n = 0 for a node without any.  Free with free(). */
int hugepages_node_pools(unsigned node, HugepagePool **ret, size_t *n);

/*
 * Pure derivation: pages per (node, size) for this domain and profile on
 * this host.  *n = 0 when there is nothing to do (no hugepage backing and
 * the profile does not ask).  -EINVAL with a sentence in err when the
 * domain and the profile do not agree or name nodes the host lacks.
 */
int hugepages_derive(const Domain *d, const Profile *p, const HugepageHost *host, HugepageNeed **ret,
                     size_t *n, char *err, size_t errlen);

/* Per-node pool file of a size. */
void hugepages_pool_path(unsigned node, uint64_t size_kib, char *buf, size_t size);


/*
 * At an incoming migration (libvirt's migrate phase, on the destination):
 * can this host give the pages prepare will reserve?  Per node and size,
 * the pool's free pages (less those promised to VMs that are starting) plus
 * what the node's free and reclaimable memory can still become.  Changes
 * nothing.  Returns 0, or logs why not and returns -errno.
 */
int hugepages_check(const Domain *d, const Profile *p);

/* Hook phases. */
int hugepages_prepare(const Domain *d, const Profile *p);
int hugepages_release(const char *uuid, const char *name);
int hugepages_started(const Domain *d, const Profile *p);
int hugepages_reconnect(const char *uuid);
