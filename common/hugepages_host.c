/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The host's hugepage pools and memory, as the kernel shows them: read by
 * the hooks, `vmprep doctor` and `vmprep status` alike (hugepages.h), and
 * what a refusal says about a node (hugepages_impl.h). */
#include "hugepages_impl.h"

#include "log.h"
#include "sysfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hugepages_pool_path(unsigned node, uint64_t size_kib, char *buf, size_t size)
{
        snprintf(buf, size, "/sys/devices/system/node/node%u/hugepages/hugepages-%llukB/nr_hugepages", node,
                 (unsigned long long) size_kib);
}

int hugepages_node_pools(unsigned node, HugepagePool **ret, size_t *n)
{
        char path[128], p2[256];
        char **sizes = NULL;
        size_t n_sizes = 0;

        *ret = NULL;
        *n = 0;
        snprintf(path, sizeof(path), "/sys/devices/system/node/node%u/hugepages", node);
        if (sysfs_list(path, &sizes, &n_sizes) < 0 || n_sizes == 0)
                return 0;
        HugepagePool *pools = calloc(n_sizes, sizeof(*pools));
        if (!pools) {
                sysfs_list_free(sizes, n_sizes);
                return log_oom();
        }
        for (size_t i = 0; i < n_sizes; i++) {
                unsigned long long kib;
                HugepagePool *pl = &pools[*n];
                if (sscanf(sizes[i], "hugepages-%llukB", &kib) != 1)
                        continue;
                pl->size_kib = kib;
                snprintf(p2, sizeof(p2), "%s/%s/nr_hugepages", path, sizes[i]);
                (void) sysfs_read_u64(p2, &pl->pages);
                snprintf(p2, sizeof(p2), "%s/%s/free_hugepages", path, sizes[i]);
                (void) sysfs_read_u64(p2, &pl->free);
                (*n)++;
        }
        sysfs_list_free(sizes, n_sizes);
        *ret = pools;
        return 0;
}

int hugepages_host_read(HugepageHost *ret)
{
        char buf[4096];
        int r;

        memset(ret, 0, sizeof(*ret));
        r = sysfs_read("/sys/devices/system/node/has_memory", buf, sizeof(buf));
        if (r == -ENOENT)
                r = sysfs_read("/sys/devices/system/node/online", buf, sizeof(buf));
        if (r >= 0 && cpuset_parse(buf, &ret->nodes) < 0)
                r = -EINVAL;
        if (r < 0) {
                /* no NUMA sysfs at all: one node */
                cpuset_clear(&ret->nodes);
                cpuset_set(&ret->nodes, 0);
        }

        char *meminfo = NULL;
        r = sysfs_read_alloc("/proc/meminfo", 1 << 20, &meminfo, NULL);
        if (r < 0)
                return log_error_errno(r, "cannot read /proc/meminfo");
        const char *h = strstr(meminfo, "Hugepagesize:");
        unsigned long long kib = 0;
        if (h && sscanf(h, "Hugepagesize: %llu kB", &kib) == 1)
                ret->default_size_kib = kib;
        free(meminfo);
        if (!ret->default_size_kib)
                return log_error_errno(SYNTHETIC_ERRNO(EOPNOTSUPP),
                                       "/proc/meminfo has no Hugepagesize: this kernel has no hugetlbfs support");
        return 0;
}

/* "Key: N kB" from a meminfo text (a node's lines carry "Node N " first); 0 when absent. */
static uint64_t meminfo_kib(const char *text, const char *key)
{
        const char *m = text ? strstr(text, key) : NULL;
        unsigned long long kib = 0;
        if (!m || sscanf(m + strlen(key), " %llu kB", &kib) != 1)
                return 0;
        return kib;
}

/* Memory a node can still turn into hugepages: its free memory plus its page
 * cache (the compaction and reclaim prepare drives); with one memory node the
 * machine's MemAvailable too, as vmprep doctor counts it. */
uint64_t hugepages_node_room_kib(unsigned node, size_t memory_nodes)
{
        char path[128], *text = NULL;
        snprintf(path, sizeof(path), "/sys/devices/system/node/node%u/meminfo", node);
        if (sysfs_read_alloc(path, 1 << 20, &text, NULL) < 0)
                text = NULL;
        uint64_t room = meminfo_kib(text, "MemFree:") + meminfo_kib(text, "FilePages:");
        free(text);
        if (memory_nodes <= 1 && sysfs_read_alloc("/proc/meminfo", 1 << 20, &text, NULL) == 0) {
                uint64_t avail = meminfo_kib(text, "MemAvailable:");
                if (avail > room)
                        room = avail;
                free(text);
        }
        return room;
}

/* "order 9: 12 blocks, order 10: 3 blocks" for a node, from /proc/buddyinfo:
 *   Node 0, zone   Normal   1024  512 ...   (free blocks of order 0, 1, ...) */
void hugepages_describe_fragmentation(unsigned node, uint64_t size_kib, char *buf, size_t size)
{
        char *text = NULL;
        unsigned long long blocks[64] = { 0 };
        int max_order = -1;

        buf[0] = '\0';
        if (sysfs_read_alloc("/proc/buddyinfo", 1 << 20, &text, NULL) < 0)
                return;
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                unsigned n;
                int off = 0;
                if (sscanf(line, "Node %u, zone %*s%n", &n, &off) < 1 || off == 0 || n != node)
                        continue;
                char *p = line + off, *end;
                for (int o = 0; o < 64; o++) {
                        unsigned long long v = strtoull(p, &end, 10);
                        if (end == p)
                                break;
                        blocks[o] += v;
                        if (o > max_order)
                                max_order = o;
                        p = end;
                }
        }
        free(text);
        if (max_order < 0)
                return;
        int order = 0;
        while ((UINT64_C(4) << order) < size_kib && order < 63)
                order++;
        if (order > max_order) {
                char big[32];
                format_size_kib(UINT64_C(4) << max_order, big, sizeof(big));
                snprintf(buf, size, "; the largest free block the buddy allocator tracks is %s, so these pages "
                         "need contiguous memory only compaction or CMA can make", big);
                return;
        }
        unsigned long long possible = 0;
        for (int o = order; o <= max_order; o++)
                possible += blocks[o] << (o - order);
        size_t len = (size_t) snprintf(buf, size, "; /proc/buddyinfo: free blocks big enough for %llu more such pages (",
                                       possible);
        for (int o = order; o <= max_order && len < size; o++)
                len += (size_t) snprintf(buf + len, size - len, "%sorder %d: %llu", o > order ? ", " : "", o, blocks[o]);
        if (len < size)
                snprintf(buf + len, size - len, ")");
}

void hugepages_node_free_memory(unsigned node, char *buf, size_t size)
{
        char path[128], *text = NULL;
        unsigned long long kib = 0;

        snprintf(buf, size, "an unknown amount of");
        snprintf(path, sizeof(path), "/sys/devices/system/node/node%u/meminfo", node);
        if (sysfs_read_alloc(path, 1 << 20, &text, NULL) < 0)
                return;
        const char *m = strstr(text, "MemFree:");
        if (m && sscanf(m, "MemFree: %llu kB", &kib) == 1)
                snprintf(buf, size, "%llu MiB", kib / 1024);
        free(text);
}

/* MemTotal of the machine in KiB, 0 when unknown.  (Not the node's: with
 * ZONE_MOVABLE memory, seen on virtio-mem guests, a node's meminfo can show
 * less than the pool can really take.) */
uint64_t hugepages_machine_total_kib(void)
{
        char *text = NULL;
        unsigned long long kib = 0;

        if (sysfs_read_alloc("/proc/meminfo", 1 << 20, &text, NULL) < 0)
                return 0;
        const char *m = strstr(text, "MemTotal:");
        if (!m || sscanf(m, "MemTotal: %llu kB", &kib) != 1)
                kib = 0;
        free(text);
        return kib;
}
