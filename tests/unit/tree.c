/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _XOPEN_SOURCE 700
#include "test.h"

#include "common/log.h"
#include "common/sysfs.h"

#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[256];

const char *tree_new(void)
{
        tree_free();
        snprintf(root, sizeof(root), "/tmp/vmprep-unit-XXXXXX");
        if (!mkdtemp(root)) {
                perror("mkdtemp");
                abort();
        }
        setenv("VMPREP_ROOT", root, 1);
        sysfs_init(root);
        tree_write("/.fake/writes.log", "");
        tree_write("/run/.keep", "");
        return root;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void) st;
        (void) flag;
        (void) ftw;
        return remove(path);
}

void tree_free(void)
{
        if (!root[0])
                return;
        nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        root[0] = '\0';
        unsetenv("VMPREP_ROOT");
        sysfs_init(NULL);
}

static void mkdirs(char *path)
{
        for (char *p = path + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                mkdir(path, 0755);
                *p = '/';
        }
}

void tree_write(const char *rel, const char *content)
{
        char p[1024];
        snprintf(p, sizeof(p), "%s%s", root, rel);
        mkdirs(p);
        FILE *f = fopen(p, "w");
        if (!f) {
                perror(p);
                abort();
        }
        fputs(content, f);
        fclose(f);
}

const char *tree_read(const char *rel)
{
        static char buf[65536];
        char p[1024];
        snprintf(p, sizeof(p), "%s%s", root, rel);
        FILE *f = fopen(p, "r");
        if (!f)
                return NULL;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        while (n > 0 && buf[n - 1] == '\n')
                buf[--n] = '\0';
        return buf;
}

unsigned long long tree_read_ull(const char *rel)
{
        const char *s = tree_read(rel);
        return s ? strtoull(s, NULL, 10) : ~0ULL;
}

void tree_add_pool(unsigned node, unsigned long long size_kib, unsigned long long nr)
{
        char rel[256], v[32];
        snprintf(v, sizeof(v), "%llu\n", nr);
        snprintf(rel, sizeof(rel), "/sys/devices/system/node/node%u/hugepages/hugepages-%llukB/nr_hugepages", node, size_kib);
        tree_write(rel, v);
        snprintf(rel, sizeof(rel), "/sys/devices/system/node/node%u/hugepages/hugepages-%llukB/free_hugepages", node, size_kib);
        tree_write(rel, v);
        snprintf(rel, sizeof(rel), "/sys/devices/system/node/node%u/hugepages/hugepages-%llukB/surplus_hugepages", node, size_kib);
        tree_write(rel, "0\n");
        snprintf(rel, sizeof(rel), "/sys/devices/system/node/node%u/compact", node);
        tree_write(rel, "");
        snprintf(rel, sizeof(rel), "/sys/devices/system/node/node%u/meminfo", node);
        char mi[128];
        snprintf(mi, sizeof(mi), "Node %u MemTotal:       8388608 kB\nNode %u MemFree:        4194304 kB\n", node, node);
        tree_write(rel, mi);
        snprintf(rel, sizeof(rel), "/sys/kernel/mm/hugepages/hugepages-%llukB/nr_hugepages", size_kib);
        if (!tree_read(rel))
                tree_write(rel, "0\n");
}

void tree_set_host(const char *nodes, unsigned long long default_kib)
{
        char buf[256];
        snprintf(buf, sizeof(buf), "%s\n", nodes);
        tree_write("/sys/devices/system/node/has_memory", buf);
        tree_write("/sys/devices/system/node/online", buf);
        snprintf(buf, sizeof(buf), "MemTotal:       16777216 kB\nHugePages_Total:       0\nHugepagesize:       %llu kB\n",
                 default_kib);
        tree_write("/proc/meminfo", buf);
        tree_write("/proc/buddyinfo",
                   "Node 0, zone      DMA      1      1      1      0      2      1      1      0      1      1      3\n"
                   "Node 0, zone   Normal    100     50     20     10      5      3      2      1      1      0      0\n");
        tree_write("/proc/sys/vm/compact_memory", "");
}

char *slurp(const char *path, size_t *len)
{
        FILE *f = fopen(path, "r");
        if (!f)
                return NULL;
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *buf = malloc((size_t) n + 1);
        if (buf && fread(buf, 1, (size_t) n, f) != (size_t) n) {
                free(buf);
                buf = NULL;
        }
        fclose(f);
        if (buf) {
                buf[n] = '\0';
                if (len)
                        *len = (size_t) n;
        }
        return buf;
}

static char capture_path[64];
static int capture_saved = -1;

void stderr_capture_start(void)
{
        fflush(stderr);
        snprintf(capture_path, sizeof(capture_path), "/tmp/vmprep-unit-stderr-XXXXXX");
        int fd = mkstemp(capture_path);
        capture_saved = dup(2);
        dup2(fd, 2);
        close(fd);
        log_set_stderr_level(LOG_LEVEL_WARNING);
}

char *stderr_capture_end(void)
{
        log_set_stderr_level(-1);
        fflush(stderr);
        dup2(capture_saved, 2);
        close(capture_saved);
        char *msg = slurp(capture_path, NULL);
        unlink(capture_path);
        return msg;
}
