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
 * cgroups (kernel/cgroup, kernel/cgroup/cpuset.c), under /sys/fs/cgroup
 * (v2) or /sys/fs/cgroup/cpuset (v1):
 *   mkdir makes a cgroup with its control files (v1: cpuset.cpus and
 *       cpuset.mems empty, cgroup.procs, tasks; v2: cpuset.cpus empty,
 *       cpuset.cpus.partition "member", cgroup.procs); rmdir of one with
 *       processes is -EBUSY.
 *   cgroup.procs  a write moves the process from whichever cgroup.procs of
 *       the hierarchy lists it: -ESRCH when none does, -EINVAL for the
 *       kernel threads listed in ROOT/.fake/kthreads, and (v1) -ENOSPC
 *       while the target's cpuset.cpus or cpuset.mems is empty.
 *   cgroup.subtree_control  "+cpuset" / "-cpuset" add or remove the word.
 *   cpuset.cpus.partition  "isolated" reads back "isolated invalid (REASON)"
 *       when ROOT/.fake/partition-invalid holds REASON.
 * Tunables: /sys/kernel/mm/transparent_hugepage/enabled takes one of
 *   always, madvise, never and reads "always [madvise] never"; a cpufreq
 *   scaling_governor takes only what scaling_available_governors lists
 *   (-EINVAL otherwise).
 * IRQs (kernel/irq/proc.c): /proc/irq/N/smp_affinity_list of an IRQ listed
 *   in ROOT/.fake/managed-irqs ("N EIO" or "N EPERM") refuses with that
 *   error, as managed IRQs do; an empty list or mask is -EINVAL (also for
 *   default_smp_affinity and the workqueue cpumask).
 *
 * Every write is also appended to ROOT/.fake/writes.log ("path value"), so
 * tests can assert what was written and in which order.
 *
 * With the real root (VMPREP_ROOT=/, the host end-to-end tests) the model
 * stands aside: the real kernel acts, and nothing here may rewrite a real
 * cgroup.procs.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
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

/* ---- cgroups ---- */

static const char *cgroup_hierarchy(const char *path)
{
        if (strncmp(path, "/sys/fs/cgroup/cpuset/", 22) == 0 || strcmp(path, "/sys/fs/cgroup/cpuset") == 0)
                return "/sys/fs/cgroup/cpuset";
        if (strncmp(path, "/sys/fs/cgroup/", 15) == 0)
                return "/sys/fs/cgroup";
        return NULL;
}

static int put_file(const char *root, const char *dir, const char *name, const char *content)
{
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s%s/%s", root, dir, name);
        FILE *f = fopen(p, "we");
        if (!f)
                return -errno;
        fputs(content, f);
        return fclose(f) == 0 ? 0 : -errno;
}

static char *get_file(const char *root, const char *rel)
{
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s%s", root, rel);
        FILE *f = fopen(p, "re");
        if (!f)
                return NULL;
        char *buf = calloc(1, 1 << 20);
        if (buf)
                (void) !fread(buf, 1, (1 << 20) - 1, f);
        fclose(f);
        return buf;
}

static bool file_lists(const char *content, const char *word)
{
        size_t n = strlen(word);
        for (const char *p = content; p && (p = strstr(p, word)); p += n)
                if ((p == content || p[-1] == '\n' || p[-1] == ' ') && (p[n] == '\n' || p[n] == ' ' || p[n] == '\0'))
                        return true;
        return false;
}

int fake_kernel_mkdir(const char *root_dir, const char *path);
int fake_kernel_mkdir(const char *root_dir, const char *path)
{
        const char *h = cgroup_hierarchy(path);
        if (!root_dir[0] || !h)
                return 0;
        log_write(root_dir, path, "(mkdir)");
        put_file(root_dir, path, "cgroup.procs", "");
        if (strcmp(h, "/sys/fs/cgroup/cpuset") == 0) {
                put_file(root_dir, path, "tasks", "");
                put_file(root_dir, path, "cpuset.cpus", "");
                put_file(root_dir, path, "cpuset.mems", "");
        } else {
                put_file(root_dir, path, "cpuset.cpus", "");
                put_file(root_dir, path, "cpuset.cpus.partition", "member\n");
        }
        return 0;
}

int fake_kernel_rmdir(const char *root_dir, const char *path);
int fake_kernel_rmdir(const char *root_dir, const char *path)
{
        char rel[PATH_MAX], p[PATH_MAX];
        if (!root_dir[0] || !cgroup_hierarchy(path))
                return 0;
        snprintf(rel, sizeof(rel), "%s/cgroup.procs", path);
        char *procs = get_file(root_dir, rel);
        bool busy = procs && procs[strspn(procs, " \n")] != '\0';
        free(procs);
        if (busy)
                return -EBUSY;
        log_write(root_dir, path, "(rmdir)");
        snprintf(p, sizeof(p), "%s%s", root_dir, path);
        DIR *dir = opendir(p);
        if (!dir)
                return -errno;
        struct dirent *de;
        while ((de = readdir(dir))) {
                char f[PATH_MAX + 256];
                if (de->d_name[0] == '.')
                        continue;
                snprintf(f, sizeof(f), "%s/%s", p, de->d_name);
                if (unlink(f) < 0) {
                        closedir(dir);
                        return -EBUSY; /* a child cgroup */
                }
        }
        closedir(dir);
        return rmdir(p) < 0 ? -errno : 1;
}

/* Remove pid from every cgroup.procs under dir (rel); true if found. */
static bool procs_take(const char *root, const char *rel, const char *pid)
{
        char p[PATH_MAX], sub[PATH_MAX];
        bool found = false;
        snprintf(p, sizeof(p), "%s%s", root, rel);
        DIR *dir = opendir(p);
        if (!dir)
                return false;
        struct dirent *de;
        while ((de = readdir(dir))) {
                if (de->d_name[0] == '.')
                        continue;
                snprintf(sub, sizeof(sub), "%s/%s", rel, de->d_name);
                if (strcmp(de->d_name, "cgroup.procs") == 0) {
                        char *content = get_file(root, sub);
                        if (content && file_lists(content, pid)) {
                                /* rewrite without that line */
                                char *out = calloc(1, strlen(content) + 1), *save = NULL;
                                for (char *l = strtok_r(content, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
                                        if (strcmp(l, pid) != 0) {
                                                strcat(out, l);
                                                strcat(out, "\n");
                                        }
                                put_file(root, rel, "cgroup.procs", out);
                                free(out);
                                found = true;
                        }
                        free(content);
                } else if (de->d_type == DT_DIR && strlen(sub) < PATH_MAX - 64) {
                        found |= procs_take(root, sub, pid);
                }
        }
        closedir(dir);
        return found;
}

static int procs_write(const char *root, const char *path, const char *value)
{
        const char *h = cgroup_hierarchy(path);
        char dir[PATH_MAX], rel[PATH_MAX + 32], pid[32];
        unsigned long long v;

        if (parse_value(value, &v) < 0 || v == 0)
                return -EINVAL;
        snprintf(pid, sizeof(pid), "%llu", v);
        char *kthreads = get_file(root, "/.fake/kthreads");
        bool kthread = kthreads && file_lists(kthreads, pid);
        free(kthreads);
        if (kthread)
                return -EINVAL;
        snprintf(dir, sizeof(dir), "%s", path);
        *strrchr(dir, '/') = '\0';
        if (strcmp(h, "/sys/fs/cgroup/cpuset") == 0) {
                for (int i = 0; i < 2; i++) {
                        snprintf(rel, sizeof(rel), "%s/%s", dir, i ? "cpuset.mems" : "cpuset.cpus");
                        char *c = get_file(root, rel);
                        bool empty = !c || c[strspn(c, " \n")] == '\0';
                        free(c);
                        if (empty)
                                return -ENOSPC;
                }
        }
        if (!procs_take(root, h, pid))
                return -ESRCH;
        snprintf(rel, sizeof(rel), "%s/cgroup.procs", dir);
        char *content = get_file(root, rel);
        size_t n = content ? strlen(content) : 0;
        char *out = calloc(1, n + 40);
        if (content)
                strcat(out, content);
        strcat(out, pid);
        strcat(out, "\n");
        put_file(root, dir, "cgroup.procs", out);
        free(out);
        free(content);
        return 1;
}

static int subtree_write(const char *root, const char *path, const char *value)
{
        char *cur = get_file(root, path);
        char out[512] = "", word[64], dir[PATH_MAX];
        if (!cur)
                return -ENOENT;
        if ((value[0] != '+' && value[0] != '-') || strlen(value) > 60) {
                free(cur);
                return -EINVAL;
        }
        snprintf(word, sizeof(word), "%s", value + 1);
        char *save = NULL;
        for (char *t = strtok_r(cur, " \n", &save); t; t = strtok_r(NULL, " \n", &save))
                if (strcmp(t, word) != 0 && strlen(out) + strlen(t) + 2 < sizeof(out)) {
                        if (*out)
                                strcat(out, " ");
                        strcat(out, t);
                }
        if (value[0] == '+') {
                if (*out)
                        strcat(out, " ");
                strcat(out, word);
        }
        strcat(out, "\n");
        free(cur);
        snprintf(dir, sizeof(dir), "%s", path);
        *strrchr(dir, '/') = '\0';
        put_file(root, dir, "cgroup.subtree_control", out);
        return 1;
}

static int partition_write(const char *root, const char *path, const char *value)
{
        char dir[PATH_MAX], out[300];
        char *reason = get_file(root, "/.fake/partition-invalid");
        if (!reason || strcmp(value, "isolated") != 0) {
                free(reason);
                return 0;
        }
        reason[strcspn(reason, "\n")] = '\0';
        snprintf(out, sizeof(out), "isolated invalid (%s)\n", reason);
        free(reason);
        snprintf(dir, sizeof(dir), "%s", path);
        *strrchr(dir, '/') = '\0';
        put_file(root, dir, "cpuset.cpus.partition", out);
        return 1; /* the write itself succeeds */
}

static int irq_write(const char *root, unsigned irq, const char *value)
{
        char *managed = get_file(root, "/.fake/managed-irqs"), *save = NULL;
        int r = 0;
        if (!*value)
                r = -EINVAL;
        for (char *l = managed ? strtok_r(managed, "\n", &save) : NULL; l && !r; l = strtok_r(NULL, "\n", &save)) {
                unsigned n;
                char err[16];
                if (sscanf(l, "%u %15s", &n, err) == 2 && n == irq)
                        r = strcmp(err, "EPERM") == 0 ? -EPERM : -EIO;
        }
        free(managed);
        return r;
}

static int thp_write(const char *root, const char *path, const char *value)
{
        static const char *const modes[] = { "always", "madvise", "never" };
        char out[64] = "", dir[PATH_MAX];
        bool known = false;
        for (int i = 0; i < 3; i++) {
                bool sel = strcmp(value, modes[i]) == 0;
                known |= sel;
                snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s%s%s", i ? " " : "", sel ? "[" : "",
                         modes[i], sel ? "]" : "");
        }
        if (!known)
                return -EINVAL;
        strcat(out, "\n");
        snprintf(dir, sizeof(dir), "%s", path);
        *strrchr(dir, '/') = '\0';
        put_file(root, dir, "enabled", out);
        return 1;
}

static int governor_write(const char *root, const char *path, const char *value)
{
        char rel[PATH_MAX];
        snprintf(rel, sizeof(rel), "%s", path);
        strcpy(strrchr(rel, '/') + 1, "scaling_available_governors");
        char *avail = get_file(root, rel);
        bool ok = avail && file_lists(avail, value);
        free(avail);
        return ok ? 0 : -EINVAL;
}

int fake_kernel_write(const char *root_dir, const char *path, const char *value)
{
        unsigned node;
        unsigned long long size_kib;
        int n = 0;
        char marker[PATH_MAX];

        if (!root_dir[0])
                return 0; /* the real kernel */
        /* Only a fake tree (one with ROOT/.fake) gets the fake kernel: with
         * VMPREP_ROOT=/ a test build writes to the real kernel, which is how
         * crash points are tested against real hugepages. */
        snprintf(marker, sizeof(marker), "%s/.fake", root_dir);
        if (access(marker, F_OK) != 0)
                return 0;
        log_write(root_dir, path, value);
        if (sscanf(path, "/sys/devices/system/node/node%u/hugepages/hugepages-%llukB/nr_hugepages%n", &node, &size_kib,
                   &n) == 2 && path[n] == '\0')
                return hugepages_write(root_dir, node, size_kib, value);
        n = 0;
        if (sscanf(path, "/sys/devices/system/node/node%u/compact%n", &node, &n) == 1 && path[n] == '\0')
                return compact_write(root_dir, node);
        n = 0;
        if (sscanf(path, "/proc/irq/%u/smp_affinity_list%n", &node, &n) == 1 && path[n] == '\0')
                return irq_write(root_dir, node, value);
        if ((strcmp(path, "/proc/irq/default_smp_affinity") == 0 ||
             strcmp(path, "/sys/devices/virtual/workqueue/cpumask") == 0) &&
            (value[strspn(value, "0,")] == '\0'))
                return -EINVAL;
        size_t len = strlen(path);
        if (strcmp(path, "/sys/kernel/mm/transparent_hugepage/enabled") == 0)
                return thp_write(root_dir, path, value);
        if (len > 17 && strcmp(path + len - 17, "/scaling_governor") == 0)
                return governor_write(root_dir, path, value);
        if (cgroup_hierarchy(path)) {
                if (len > 13 && strcmp(path + len - 13, "/cgroup.procs") == 0)
                        return procs_write(root_dir, path, value);
                if (len > 23 && strcmp(path + len - 23, "/cgroup.subtree_control") == 0)
                        return subtree_write(root_dir, path, value);
                if (len > 22 && strcmp(path + len - 22, "/cpuset.cpus.partition") == 0)
                        return partition_write(root_dir, path, value);
        }
        return fake_pci_write(root_dir, path, value); /* tests/fake/fake_pci.c */
}
