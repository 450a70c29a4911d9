/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fake kernel for the host display, and the test double of systemd:
 *
 *   /sys/class/vtconsole/vtconN/bind 0|1      stored as the kernel shows it ("0\n")
 *   /sys/bus/platform/drivers/D/unbind DEV    drops DEV's driver link (-ENODEV if not D's)
 *   /sys/bus/platform/drivers/D/bind DEV      makes it (-EBUSY if bound)
 *   /.fake/systemd/stop UNIT                  every unit file under /.fake/systemd/units
 *   /.fake/systemd/start UNIT                 whose id (first word) is UNIT becomes
 *                                             "ID inactive" / "ID active"; a stop ends the
 *                                             processes listed in units/ID.pids ("PID COMM
 *                                             NODE": /proc/PID goes), a start brings them
 *                                             back holding NODE, in the cgroup
 *                                             /system.slice/ID.  With /.fake/systemd/
 *                                             stop-hangs the unit stays "deactivating".
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fake_display_write(const char *root, const char *path, const char *value);

static void strip(const char *in, char *out, size_t size)
{
        snprintf(out, size, "%s", in);
        size_t n = strlen(out);
        while (n > 0 && out[n - 1] == '\n')
                out[--n] = '\0';
}

static int put(const char *full, const char *s)
{
        FILE *f = fopen(full, "we");
        if (!f)
                return -errno;
        fputs(s, f);
        return fclose(f) == 0 ? 0 : -errno;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void) st;
        (void) flag;
        (void) ftw;
        return remove(path);
}

static void processes(const char *root, const char *unit, bool start)
{
        char p[PATH_MAX], line[512];
        snprintf(p, sizeof(p), "%s/.fake/systemd/units/%s.pids", root, unit);
        FILE *f = fopen(p, "re");
        if (!f)
                return;
        while (fgets(line, sizeof(line), f)) {
                unsigned pid;
                char comm[64], node[256];
                if (sscanf(line, "%u %63s %255s", &pid, comm, node) != 3)
                        continue;
                snprintf(p, sizeof(p), "%s/proc/%u", root, pid);
                if (!start) {
                        nftw(p, rm_one, 8, FTW_DEPTH | FTW_PHYS);
                        continue;
                }
                mkdir(p, 0755);
                snprintf(p, sizeof(p), "%s/proc/%u/fd", root, pid);
                mkdir(p, 0755);
                snprintf(p, sizeof(p), "%s/proc/%u/fd/12", root, pid);
                (void) !symlink(node, p);
                snprintf(p, sizeof(p), "%s/proc/%u/comm", root, pid);
                char c[80];
                snprintf(c, sizeof(c), "%s\n", comm);
                put(p, c);
                snprintf(p, sizeof(p), "%s/proc/%u/cgroup", root, pid);
                char cg[200];
                snprintf(cg, sizeof(cg), "0::/system.slice/%s\n", unit);
                put(p, cg);
        }
        fclose(f);
}

static int unit_job(const char *root, const char *unit, bool start)
{
        char p[PATH_MAX], buf[256], id[128], state[64];
        bool found = false;

        snprintf(p, sizeof(p), "%s/.fake/systemd/units", root);
        DIR *d = opendir(p);
        if (!d)
                return -ENOENT;
        struct dirent *de;
        snprintf(p, sizeof(p), "%s/.fake/systemd/stop-hangs", root);
        bool hangs = !start && access(p, F_OK) == 0;
        while ((de = readdir(d))) {
                size_t n = strlen(de->d_name);
                if (de->d_name[0] == '.' || (n > 5 && strcmp(de->d_name + n - 5, ".pids") == 0))
                        continue;
                snprintf(p, sizeof(p), "%s/.fake/systemd/units/%s", root, de->d_name);
                FILE *f = fopen(p, "re");
                if (!f)
                        continue;
                int ok = fgets(buf, sizeof(buf), f) && sscanf(buf, "%127s %63s", id, state) == 2;
                fclose(f);
                if (!ok || strcmp(id, unit) != 0)
                        continue;
                snprintf(buf, sizeof(buf), "%s %s\n", id, start ? "active" : hangs ? "deactivating" : "inactive");
                put(p, buf);
                found = true;
        }
        closedir(d);
        if (!found)
                return -ENOENT; /* org.freedesktop.systemd1.NoSuchUnit */
        if (!hangs)
                processes(root, unit, start);
        return 1;
}

int fake_display_write(const char *root, const char *path, const char *value)
{
        char v[256], p[PATH_MAX], drv[64], t[PATH_MAX];
        unsigned n;
        int k = 0;

        strip(value, v, sizeof(v));
        if (sscanf(path, "/sys/class/vtconsole/vtcon%u/bind%n", &n, &k) == 1 && !path[k]) {
                if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
                        return -EINVAL;
                snprintf(p, sizeof(p), "%s%s", root, path);
                snprintf(t, sizeof(t), "%s\n", v);
                int r = put(p, t);
                return r < 0 ? r : 1;
        }
        k = 0;
        if (sscanf(path, "/sys/bus/platform/drivers/%63[^/]/unbind%n", drv, &k) == 1 && !path[k]) {
                snprintf(p, sizeof(p), "%s/sys/bus/platform/devices/%s/driver", root, v);
                ssize_t len = readlink(p, t, sizeof(t) - 1);
                if (len <= 0)
                        return -ENODEV;
                t[len] = '\0';
                const char *b = strrchr(t, '/');
                if (strcmp(b ? b + 1 : t, drv) != 0)
                        return -ENODEV;
                return unlink(p) < 0 ? -errno : 1;
        }
        k = 0;
        if (sscanf(path, "/sys/bus/platform/drivers/%63[^/]/bind%n", drv, &k) == 1 && !path[k]) {
                snprintf(p, sizeof(p), "%s/sys/bus/platform/devices/%s", root, v);
                if (access(p, F_OK) != 0)
                        return -ENODEV;
                snprintf(p, sizeof(p), "%s/sys/bus/platform/devices/%s/driver", root, v);
                if (access(p, F_OK) == 0)
                        return -EBUSY;
                snprintf(t, sizeof(t), "../../../../bus/platform/drivers/%s", drv);
                return symlink(t, p) < 0 ? -errno : 1;
        }
        if (strcmp(path, "/.fake/systemd/stop") == 0)
                return unit_job(root, v, false);
        if (strcmp(path, "/.fake/systemd/start") == 0)
                return unit_job(root, v, true);
        return 0;
}
