/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fake kernel: linked into test builds only, it makes writes to a fake
 * tree (a plain directory named by $VMPREP_ROOT) act as the kernel's do.
 *
 * Hugepages (mm/hugetlb.c):
 *   nodeN/hugepages/hugepages-SkB/nr_hugepages  a write asks for that many
 *       persistent pages; the kernel grants what it can and the write still
 *       succeeds.  How many it can is set by the control file
 *       ROOT/.fake/nodeN-SkB.max (absent: unlimited).  free_hugepages
 *       follows (pages in use: ROOT/.fake/nodeN-SkB.inuse).  The global
 *       /sys/kernel/mm/hugepages/hugepages-SkB/nr_hugepages is kept as the
 *       sum over nodes.  A size the node lacks is -ENOENT (no such file).
 *   nodeN/compact  compaction: adds ROOT/.fake/nodeN.compact-gain pages to
 *       every size's .max of that node, once.
 *   A write of a non-number is -EINVAL, as the kernel's kstrtoul.
 *
 * Every write is also appended to ROOT/.fake/writes.log ("path value"), so
 * tests can assert what was written and in which order.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int fake_kernel_write(const char *root_dir, const char *path, const char *value);
int fake_pci_write(const char *root, const char *path, const char *value);

static int read_ull(const char *root, const char *rel, unsigned long long *v)
{
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s%s", root, rel);
        FILE *f = fopen(p, "re");
        if (!f)
                return -errno;
        int ok = fscanf(f, "%llu", v) == 1;
        fclose(f);
        return ok ? 0 : -EINVAL;
}

static int write_ull(const char *root, const char *rel, unsigned long long v)
{
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s%s", root, rel);
        FILE *f = fopen(p, "we");
        if (!f)
                return -errno;
        fprintf(f, "%llu\n", v);
        return fclose(f) == 0 ? 0 : -errno;
}

static void log_write(const char *root, const char *path, const char *value)
{
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/.fake/writes.log", root);
        FILE *f = fopen(p, "ae");
        if (!f)
                return;
        fprintf(f, "%s %s\n", path, value);
        fclose(f);
}

static int parse_value(const char *value, unsigned long long *v)
{
        char *end;
        if (!*value || *value == '-')
                return -EINVAL;
        errno = 0;
        *v = strtoull(value, &end, 10);
        if (errno || (*end && strcmp(end, "\n") != 0))
                return -EINVAL;
        return 0;
}

static void update_global(const char *root, unsigned long long size_kib)
{
        char rel[256];
        unsigned long long sum = 0, v;

        for (unsigned node = 0; node < 64; node++) {
                snprintf(rel, sizeof(rel), "/sys/devices/system/node/node%u/hugepages/hugepages-%llukB/nr_hugepages",
                         node, size_kib);
                if (read_ull(root, rel, &v) == 0)
                        sum += v;
        }
        snprintf(rel, sizeof(rel), "/sys/kernel/mm/hugepages/hugepages-%llukB/nr_hugepages", size_kib);
        if (read_ull(root, rel, &v) == 0)
                write_ull(root, rel, sum);
}

static int hugepages_write(const char *root, unsigned node, unsigned long long size_kib, const char *value)
{
        char rel[256], ctl[256];
        unsigned long long want, max = ULLONG_MAX, inuse = 0, cur;
        int r;

        if (parse_value(value, &want) < 0)
                return -EINVAL;
        snprintf(rel, sizeof(rel), "/sys/devices/system/node/node%u/hugepages/hugepages-%llukB/nr_hugepages", node,
                 size_kib);
        r = read_ull(root, rel, &cur);
        if (r < 0)
                return r;
        snprintf(ctl, sizeof(ctl), "/.fake/node%u-%llukB.max", node, size_kib);
        read_ull(root, ctl, &max);
        snprintf(ctl, sizeof(ctl), "/.fake/node%u-%llukB.inuse", node, size_kib);
        read_ull(root, ctl, &inuse);

        unsigned long long got = want;
        if (got > cur && got > max)
                got = max > cur ? max : cur; /* partial success */
        if (got < inuse)
                got = inuse; /* pages in use cannot be freed: they become surplus */
        r = write_ull(root, rel, got);
        if (r < 0)
                return r;
        snprintf(rel, sizeof(rel), "/sys/devices/system/node/node%u/hugepages/hugepages-%llukB/free_hugepages", node,
                 size_kib);
        write_ull(root, rel, got - inuse);
        update_global(root, size_kib);
        return 1;
}

static int compact_write(const char *root, unsigned node)
{
        char ctl[256], p[PATH_MAX];
        unsigned long long gain = 0;

        snprintf(ctl, sizeof(ctl), "/.fake/node%u.compact-gain", node);
        if (read_ull(root, ctl, &gain) < 0 || gain == 0)
                return 1;
        /* raise every size's limit on this node */
        snprintf(p, sizeof(p), "%s/.fake", root);
        DIR *dir = opendir(p);
        if (dir) {
                struct dirent *de;
                char prefix[32];
                snprintf(prefix, sizeof(prefix), "node%u-", node);
                while ((de = readdir(dir))) {
                        size_t n = strlen(de->d_name);
                        if (strncmp(de->d_name, prefix, strlen(prefix)) != 0 || n < 4 ||
                            strcmp(de->d_name + n - 4, ".max") != 0)
                                continue;
                        char rel[300];
                        unsigned long long max;
                        snprintf(rel, sizeof(rel), "/.fake/%s", de->d_name);
                        if (read_ull(root, rel, &max) == 0)
                                write_ull(root, rel, max + gain);
                }
                closedir(dir);
        }
        write_ull(root, ctl, 0);
        return 1;
}

int fake_kernel_write(const char *root_dir, const char *path, const char *value)
{
        unsigned node;
        unsigned long long size_kib;
        int n = 0;

        log_write(root_dir, path, value);
        if (sscanf(path, "/sys/devices/system/node/node%u/hugepages/hugepages-%llukB/nr_hugepages%n", &node, &size_kib,
                   &n) == 2 && path[n] == '\0')
                return hugepages_write(root_dir, node, size_kib, value);
        n = 0;
        if (sscanf(path, "/sys/devices/system/node/node%u/compact%n", &node, &n) == 1 && path[n] == '\0')
                return compact_write(root_dir, node);
        return fake_pci_write(root_dir, path, value); /* tests/fake/fake_pci.c */
}
