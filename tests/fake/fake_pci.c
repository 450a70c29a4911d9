/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fake kernel for PCI (drivers/pci/pci-driver.c, pci-sysfs.c, iov.c,
 * drivers/vfio/vfio.c), dispatched from fake_kernel_write().  A device is
 * a directory /sys/bus/pci/devices/BDF whose `driver` symlink says where
 * it is bound; a driver is a directory /sys/bus/pci/drivers/NAME.
 *
 *   BDF/driver_override        stored; "\n" (or "") clears it to "(null)"
 *   drivers/NAME/unbind BDF    drops the driver link; -ENODEV if the device
 *                              is not bound to NAME; -EBUSY when the control
 *                              file ROOT/.fake/pci/BDF.unbind-busy exists
 *   drivers/NAME/bind BDF      -EBUSY if bound; -ENODEV if driver_override
 *                              names another driver or ROOT/.fake/pci/
 *                              BDF.refuse-NAME exists (probe failed)
 *   drivers_probe BDF          binds an unbound device to driver_override if
 *                              set, else to its native driver (ROOT/.fake/pci/
 *                              BDF.native); a refused probe leaves it unbound
 *                              and the write still succeeds, as the kernel's
 *   BDF/reset_method LIST      as drivers/pci/pci.c's reset_method_store: the
 *                              methods the device supports are ROOT/.fake/pci/
 *                              BDF.reset-methods (absent: what the file lists
 *                              now), in the kernel's order; "default" lists
 *                              them all again, "\n" none (a zero-length write
 *                              never reaches the kernel), and a list of
 *                              blank-separated names (at most 7) is taken as
 *                              given, in its order, when the device supports
 *                              every one: else -EINVAL and the file is left
 *                              as it was.  Reads as the names and a newline,
 *                              or nothing at all when none is left
 *   BDF/sriov_numvfs N         changes only through 0 (-EBUSY otherwise),
 *                              -ERANGE above sriov_totalvfs; creates VF
 *                              devices (routing offset 0x80 and stride 2, or
 *                              ROOT/.fake/pci/PF.vf-offset and .vf-stride; one
 *                              IOMMU group each, reset_method "flr" (a VF has
 *                              FLR, and no bus of its own), physfn/virtfnN links, bound
 *                              to the VF driver when sriov_drivers_autoprobe
 *                              is 1) or removes them, wiping VF settings.
 *                              Removing a VF on vfio-pci whose /dev/vfio/N a
 *                              process holds (a /proc/PID/fd link) blocks in
 *                              the real kernel until the holder lets go; the
 *                              model fails with -EDEADLK instead and appends
 *                              "BDF PID" to ROOT/.fake/blocked.log, so that a
 *                              test sees it and still ends
 *   /dev/vfio/N                exists while every non-bridge member of group
 *                              N is on vfio-pci or unbound and one is on
 *                              vfio-pci (the group is viable and in use);
 *                              never with ROOT/.fake/no-dev-vfio
 *   /.fake/modprobe NAME       what the fake libkmod (tests/fake/fake_kmod.c)
 *                              loads through: creates /sys/module/NAME ('-'
 *                              read as '_'), or for vfio-pci (vfio_pci)
 *                              /sys/bus/pci/drivers/vfio-pci
 *                              (-ENOENT when ROOT/.fake/modprobe-fails exists)
 *   /.fake/rmmod NAME          removes /sys/module/NAME (-EBUSY when
 *                              ROOT/.fake/rmmod-busy-NAME exists)
 *
 * Not modelled (the lab guest covers these): the drivers/NAME/BDF links and
 * new_id/remove_id; a probe or remove() that takes time or blocks in write(2)
 * (a busy GPU driver, an HDA function with an open control node); devices
 * that change card numbers when rebound under a stale fd; resets themselves and
 * d3cold; ACS and how groups are formed (groups are fixed by the
 * fixture); the vfio container/IOMMU type1 and /dev/vfio/N permissions; VF
 * settings surviving anything but a count change; PF link state and
 * rtnetlink errors (-EOPNOTSUPP for trust on some drivers); module
 * dependencies and refcounts (rmmod fails only when told to); udev.
 */
#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fake_pci_write(const char *root, const char *path, const char *value);
int fake_display_write(const char *root, const char *path, const char *value);

static const char *R; /* the root of the current write */

static void fp(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fp(char *buf, size_t size, const char *fmt, ...)
{
        va_list ap;
        int n = snprintf(buf, size, "%s", R);
        va_start(ap, fmt);
        vsnprintf(buf + n, size - (size_t) n, fmt, ap);
        va_end(ap);
}

static int read_str(const char *full, char *buf, size_t size)
{
        FILE *f = fopen(full, "re");
        if (!f)
                return -errno;
        size_t n = fread(buf, 1, size - 1, f);
        fclose(f);
        buf[n] = '\0';
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
                buf[--n] = '\0';
        return 0;
}

static int write_str(const char *full, const char *s)
{
        FILE *f = fopen(full, "we");
        if (!f)
                return -errno;
        fputs(s, f);
        return fclose(f) == 0 ? 0 : -errno;
}

static bool exists(const char *full)
{
        struct stat st;
        return lstat(full, &st) == 0;
}

static void link_base(const char *full, char *buf, size_t size)
{
        char t[PATH_MAX];
        ssize_t n = readlink(full, t, sizeof(t) - 1);
        buf[0] = '\0';
        if (n <= 0)
                return;
        t[n] = '\0';
        const char *s = strrchr(t, '/');
        snprintf(buf, size, "%s", s ? s + 1 : t);
}

static void dev_file(const char *bdf, const char *file, char *buf, size_t size)
{
        fp(buf, size, "/sys/bus/pci/devices/%s/%s", bdf, file);
}

static void driver_of(const char *bdf, char *buf, size_t size)
{
        char p[PATH_MAX];
        dev_file(bdf, "driver", p, sizeof(p));
        link_base(p, buf, size);
}

static int do_bind(const char *bdf, const char *drv)
{
        char p[PATH_MAX], t[PATH_MAX];
        fp(p, sizeof(p), "/sys/bus/pci/drivers/%s", drv);
        if (!exists(p))
                return -ENODEV;
        fp(p, sizeof(p), "/.fake/pci/%s.refuse-%s", bdf, drv);
        if (exists(p))
                return -ENODEV;
        dev_file(bdf, "driver", p, sizeof(p));
        snprintf(t, sizeof(t), "../../../../bus/pci/drivers/%s", drv);
        return symlink(t, p) < 0 ? -errno : 0;
}

static int group_of(const char *bdf)
{
        char p[PATH_MAX], b[64];
        dev_file(bdf, "iommu_group", p, sizeof(p));
        link_base(p, b, sizeof(b));
        return b[0] ? atoi(b) : -1;
}

static bool is_bridge(const char *bdf)
{
        char p[PATH_MAX], c[32];
        dev_file(bdf, "class", p, sizeof(p));
        return read_str(p, c, sizeof(c)) == 0 && strncmp(c, "0x0604", 6) == 0;
}

/* /dev/vfio/N follows the group's state. */
static void update_vfio_dev(int group)
{
        char p[PATH_MAX], drv[64];
        bool viable = true, used = false;

        if (group < 0)
                return;
        fp(p, sizeof(p), "/sys/kernel/iommu_groups/%d/devices", group);
        DIR *d = opendir(p);
        if (!d)
                return;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.' || is_bridge(de->d_name))
                        continue;
                driver_of(de->d_name, drv, sizeof(drv));
                if (strcmp(drv, "vfio-pci") == 0)
                        used = true;
                else if (drv[0])
                        viable = false;
        }
        closedir(d);
        fp(p, sizeof(p), "/.fake/no-dev-vfio");
        bool never = exists(p); /* failure injection: the group never becomes usable */
        fp(p, sizeof(p), "/dev/vfio/%d", group);
        if (viable && used && !never) {
                if (!exists(p))
                        write_str(p, "");
        } else {
                unlink(p);
        }
}

static void strip_nl(const char *in, char *out, size_t size)
{
        snprintf(out, size, "%s", in);
        size_t n = strlen(out);
        while (n > 0 && out[n - 1] == '\n')
                out[--n] = '\0';
}

static int probe(const char *bdf)
{
        char p[PATH_MAX], drv[64], want[64];

        dev_file(bdf, "vendor", p, sizeof(p));
        if (!exists(p))
                return -ENODEV;
        driver_of(bdf, drv, sizeof(drv));
        if (drv[0])
                return 0; /* already bound: nothing to do */
        dev_file(bdf, "driver_override", p, sizeof(p));
        if (read_str(p, want, sizeof(want)) < 0 || strcmp(want, "(null)") == 0) {
                fp(p, sizeof(p), "/.fake/pci/%s.native", bdf);
                if (read_str(p, want, sizeof(want)) < 0)
                        want[0] = '\0';
        }
        if (want[0])
                do_bind(bdf, want); /* a failed probe leaves it unbound; the write succeeds */
        update_vfio_dev(group_of(bdf));
        return 1;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void) st;
        (void) flag;
        (void) ftw;
        return remove(path);
}

static void rm_rf(const char *full)
{
        nftw(full, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int parse_bdf(const char *s, unsigned *dom, unsigned *bus, unsigned *slot, unsigned *fn)
{
        int n = 0;
        if (sscanf(s, "%x:%x:%x.%x%n", dom, bus, slot, fn, &n) != 4 || s[n])
                return -EINVAL;
        return 0;
}

static void pf_ifname(const char *pf, char *buf, size_t size)
{
        char p[PATH_MAX];
        buf[0] = '\0';
        dev_file(pf, "net", p, sizeof(p));
        DIR *d = opendir(p);
        if (!d)
                return;
        struct dirent *de;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.' && strlen(de->d_name) < size) {
                        memcpy(buf, de->d_name, strlen(de->d_name) + 1);
                        break;
                }
        closedir(d);
}

/* Does a process hold /dev/vfio/N of one of the PF's first count VFs?
 * Each one held goes to ROOT/.fake/blocked.log as "BDF PID". */
static bool vf_open(const char *pf, long count)
{
        char p[PATH_MAX], vf[64], node[64], t[PATH_MAX];
        bool held = false;

        for (long i = 0; i < count; i++) {
                char file[32];
                snprintf(file, sizeof(file), "virtfn%ld", i);
                dev_file(pf, file, p, sizeof(p));
                link_base(p, vf, sizeof(vf));
                driver_of(vf, t, sizeof(t));
                if (!vf[0] || strcmp(t, "vfio-pci") != 0)
                        continue;
                snprintf(node, sizeof(node), "/dev/vfio/%d", group_of(vf));
                fp(p, sizeof(p), "/proc");
                DIR *procs = opendir(p);
                struct dirent *de;
                while (procs && (de = readdir(procs))) {
                        if (de->d_name[0] < '1' || de->d_name[0] > '9')
                                continue;
                        fp(p, sizeof(p), "/proc/%s/fd", de->d_name);
                        DIR *fds = opendir(p);
                        struct dirent *fe;
                        while (fds && (fe = readdir(fds))) {
                                char l[PATH_MAX];
                                ssize_t n;
                                fp(p, sizeof(p), "/proc/%s/fd/%s", de->d_name, fe->d_name);
                                if (fe->d_name[0] == '.' || (n = readlink(p, l, sizeof(l) - 1)) <= 0)
                                        continue;
                                l[n] = '\0';
                                if (strcmp(l, node) != 0)
                                        continue;
                                char line[400];
                                snprintf(line, sizeof(line), "%s %s\n", vf, de->d_name);
                                fp(p, sizeof(p), "/.fake/blocked.log");
                                FILE *f = fopen(p, "ae");
                                if (f) {
                                        fputs(line, f);
                                        fclose(f);
                                }
                                held = true;
                        }
                        if (fds)
                                closedir(fds);
                }
                if (procs)
                        closedir(procs);
        }
        return held;
}

/* Is word (len bytes) one of the blank-separated words of list? */
static bool word_in(const char *list, const char *word, size_t len)
{
        while (*list) {
                list += strspn(list, " \n");
                size_t n = strcspn(list, " \n");
                if (n && n == len && strncmp(list, word, len) == 0)
                        return true;
                list += n;
        }
        return false;
}

static int reset_method(const char *bdf, const char *value)
{
        char p[PATH_MAX], supported[256], out[300] = "";
        unsigned count = 0;

        dev_file(bdf, "reset_method", p, sizeof(p));
        if (!exists(p))
                return -ENOENT; /* kernel before 5.15, or no reset at all: no file */
        if (!value[0])
                return 1; /* a zero-length write never reaches reset_method_store */
        fp(p, sizeof(p), "/.fake/pci/%s.reset-methods", bdf);
        if (read_str(p, supported, sizeof(supported)) < 0) {
                dev_file(bdf, "reset_method", p, sizeof(p));
                if (read_str(p, supported, sizeof(supported)) < 0)
                        supported[0] = '\0';
        }
        /* sysfs_streq(buf, ""), sysfs_streq(buf, "default"): one newline at the end is ignored */
        size_t len = strlen(value);
        if (len && value[len - 1] == '\n')
                len--;
        if (len == 7 && strncmp(value, "default", 7) == 0) {
                snprintf(out, sizeof(out), "%s", supported);
        } else {
                /* strsep on " ", empty names skipped, each strim()med */
                const char *v = value;
                const char *end = value + len;
                while (v < end) {
                        size_t n = strcspn(v, " ");
                        if (v + n > end)
                                n = (size_t) (end - v);
                        if (n) {
                                if (!word_in(supported, v, n) || ++count > 7)
                                        return -EINVAL;
                                size_t o = strlen(out);
                                snprintf(out + o, sizeof(out) - o, "%s%.*s", o ? " " : "", (int) n, v);
                        }
                        v += n + 1;
                }
        }
        if (out[0]) {
                size_t o = strlen(out);
                snprintf(out + o, sizeof(out) - o, "\n");
        }
        dev_file(bdf, "reset_method", p, sizeof(p));
        int r = write_str(p, out);
        return r < 0 ? r : 1;
}

static int sriov_numvfs(const char *pf, const char *value)
{
        char p[PATH_MAX], t[PATH_MAX], v[64], ifname[64];
        char *end;
        strip_nl(value, v, sizeof(v));
        errno = 0;
        long want = strtol(v, &end, 10);
        if (!v[0] || *end || errno || want < 0)
                return -EINVAL;
        dev_file(pf, "sriov_numvfs", p, sizeof(p));
        if (read_str(p, t, sizeof(t)) < 0)
                return -ENOENT;
        long cur = atol(t);
        if (want == cur)
                return 1;
        if (cur != 0 && want != 0)
                return -EBUSY;
        dev_file(pf, "sriov_totalvfs", p, sizeof(p));
        long total = read_str(p, t, sizeof(t)) == 0 ? atol(t) : 0;
        if (want > total)
                return -ERANGE;

        unsigned dom, bus, slot, fn;
        if (parse_bdf(pf, &dom, &bus, &slot, &fn) < 0)
                return -EINVAL;
        long offset = 0x80, stride = 2;
        fp(p, sizeof(p), "/.fake/pci/%s.vf-offset", pf);
        if (read_str(p, t, sizeof(t)) == 0)
                offset = strtol(t, NULL, 0);
        fp(p, sizeof(p), "/.fake/pci/%s.vf-stride", pf);
        if (read_str(p, t, sizeof(t)) == 0)
                stride = strtol(t, NULL, 0);
        if (want == 0 && vf_open(pf, cur))
                return -EDEADLK;
        int pf_group = group_of(pf);
        pf_ifname(pf, ifname, sizeof(ifname));
        /* sriov_numvfs=0 wipes every VF's settings; so does creating them */
        fp(p, sizeof(p), "/.fake/vf/%s", ifname);
        rm_rf(p);

        long count = want ? want : cur;
        for (long i = 0; i < count; i++) {
                unsigned devfn = slot * 8 + fn + (unsigned) offset + (unsigned) stride * (unsigned) i;
                char vf[32], file[32];
                int group = 1000 + 100 * (pf_group < 0 ? 0 : pf_group) + (int) i;
                snprintf(vf, sizeof(vf), "%04x:%02x:%02x.%x", dom, bus, devfn / 8, devfn % 8);
                snprintf(file, sizeof(file), "virtfn%ld", i);
                if (want == 0) {
                        dev_file(pf, file, p, sizeof(p));
                        unlink(p);
                        fp(p, sizeof(p), "/sys/bus/pci/devices/%s", vf);
                        rm_rf(p);
                        fp(p, sizeof(p), "/sys/kernel/iommu_groups/%d", group);
                        rm_rf(p);
                        fp(p, sizeof(p), "/dev/vfio/%d", group);
                        unlink(p);
                        fp(p, sizeof(p), "/.fake/pci/%s.native", vf);
                        unlink(p);
                        fp(p, sizeof(p), "/.fake/pci/%s.reset-methods", vf);
                        unlink(p);
                        continue;
                }
                fp(p, sizeof(p), "/sys/bus/pci/devices/%s", vf);
                mkdir(p, 0755);
                char vend[32] = "0x8086", dev[32] = "0x10ed", cls[32] = "0x020000", numa[32] = "-1", vfdrv[64] = "ixgbevf";
                dev_file(pf, "vendor", p, sizeof(p));
                read_str(p, vend, sizeof(vend));
                dev_file(pf, "class", p, sizeof(p));
                read_str(p, cls, sizeof(cls));
                dev_file(pf, "numa_node", p, sizeof(p));
                read_str(p, numa, sizeof(numa));
                fp(p, sizeof(p), "/.fake/pci/%s.vf-device", pf);
                read_str(p, dev, sizeof(dev));
                fp(p, sizeof(p), "/.fake/pci/%s.vf-driver", pf);
                read_str(p, vfdrv, sizeof(vfdrv));
                struct { const char *f, *v; } files[] = {
                        { "vendor", vend }, { "device", dev }, { "class", cls }, { "numa_node", numa },
                        { "driver_override", "(null)" }, { "reset_method", "flr" },
                };
                for (size_t k = 0; k < sizeof(files) / sizeof(files[0]); k++) {
                        char line[80];
                        snprintf(line, sizeof(line), "%s\n", files[k].v);
                        dev_file(vf, files[k].f, p, sizeof(p));
                        write_str(p, line);
                }
                dev_file(vf, "physfn", p, sizeof(p));
                snprintf(t, sizeof(t), "../%s", pf);
                (void) !symlink(t, p);
                dev_file(pf, file, p, sizeof(p));
                snprintf(t, sizeof(t), "../%s", vf);
                (void) !symlink(t, p);
                fp(p, sizeof(p), "/sys/kernel/iommu_groups/%d", group);
                mkdir(p, 0755);
                fp(p, sizeof(p), "/sys/kernel/iommu_groups/%d/devices", group);
                mkdir(p, 0755);
                fp(p, sizeof(p), "/sys/kernel/iommu_groups/%d/devices/%s", group, vf);
                snprintf(t, sizeof(t), "../../../../bus/pci/devices/%s", vf);
                (void) !symlink(t, p);
                dev_file(vf, "iommu_group", p, sizeof(p));
                snprintf(t, sizeof(t), "../../../../kernel/iommu_groups/%d", group);
                (void) !symlink(t, p);
                fp(p, sizeof(p), "/.fake/pci/%s.native", vf);
                write_str(p, vfdrv);
                fp(p, sizeof(p), "/.fake/pci/%s.reset-methods", vf);
                write_str(p, "flr\n");
                dev_file(pf, "sriov_drivers_autoprobe", p, sizeof(p));
                if (read_str(p, t, sizeof(t)) < 0 || strcmp(t, "0") != 0)
                        probe(vf);
        }
        dev_file(pf, "sriov_numvfs", p, sizeof(p));
        snprintf(t, sizeof(t), "%ld\n", want);
        write_str(p, t);
        return 1;
}

int fake_pci_write(const char *root, const char *path, const char *value)
{
        char bdf[64], drv[64], v[256], p[PATH_MAX], cur[64];
        int n = 0;

        R = root;
        if (sscanf(path, "/sys/bus/pci/devices/%63[^/]/driver_override%n", bdf, &n) == 1 && !path[n]) {
                strip_nl(value, v, sizeof(v));
                dev_file(bdf, "driver_override", p, sizeof(p));
                if (!exists(p))
                        return -ENOENT;
                char line[300];
                snprintf(line, sizeof(line), "%s\n", v[0] ? v : "(null)");
                int r = write_str(p, line);
                return r < 0 ? r : 1;
        }
        n = 0;
        if (sscanf(path, "/sys/bus/pci/devices/%63[^/]/sriov_numvfs%n", bdf, &n) == 1 && !path[n])
                return sriov_numvfs(bdf, value);
        n = 0;
        if (sscanf(path, "/sys/bus/pci/devices/%63[^/]/reset_method%n", bdf, &n) == 1 && !path[n])
                return reset_method(bdf, value);
        n = 0;
        if (sscanf(path, "/sys/bus/pci/devices/%63[^/]/sriov_drivers_autoprobe%n", bdf, &n) == 1 && !path[n]) {
                /* kstrtobool; reads back as "0\n" or "1\n" */
                strip_nl(value, v, sizeof(v));
                bool on = !strcmp(v, "1") || !strcmp(v, "y") || !strcmp(v, "Y") || !strcmp(v, "on");
                if (!on && strcmp(v, "0") && strcmp(v, "n") && strcmp(v, "N") && strcmp(v, "off"))
                        return -EINVAL;
                dev_file(bdf, "sriov_drivers_autoprobe", p, sizeof(p));
                if (!exists(p))
                        return -ENOENT;
                int r = write_str(p, on ? "1\n" : "0\n");
                return r < 0 ? r : 1;
        }
        n = 0;
        if (sscanf(path, "/sys/bus/pci/drivers/%63[^/]/unbind%n", drv, &n) == 1 && !path[n]) {
                strip_nl(value, v, sizeof(v));
                driver_of(v, cur, sizeof(cur));
                if (strcmp(cur, drv) != 0)
                        return -ENODEV;
                fp(p, sizeof(p), "/.fake/pci/%s.unbind-busy", v);
                if (exists(p))
                        return -EBUSY;
                dev_file(v, "driver", p, sizeof(p));
                if (unlink(p) < 0)
                        return -errno;
                update_vfio_dev(group_of(v));
                return 1;
        }
        n = 0;
        if (sscanf(path, "/sys/bus/pci/drivers/%63[^/]/bind%n", drv, &n) == 1 && !path[n]) {
                strip_nl(value, v, sizeof(v));
                dev_file(v, "vendor", p, sizeof(p));
                if (!exists(p))
                        return -ENODEV;
                driver_of(v, cur, sizeof(cur));
                if (cur[0])
                        return -EBUSY;
                dev_file(v, "driver_override", p, sizeof(p));
                if (read_str(p, cur, sizeof(cur)) == 0 && strcmp(cur, "(null)") != 0 && strcmp(cur, drv) != 0)
                        return -ENODEV;
                int r = do_bind(v, drv);
                if (r < 0)
                        return r;
                update_vfio_dev(group_of(v));
                return 1;
        }
        if (strcmp(path, "/sys/bus/pci/drivers_probe") == 0) {
                strip_nl(value, v, sizeof(v));
                return probe(v);
        }
        if (strcmp(path, "/.fake/rmmod") == 0) {
                /* /sys/module/NAME goes; -EBUSY with ROOT/.fake/rmmod-busy-NAME */
                strip_nl(value, v, sizeof(v));
                for (char *c = v; *c; c++)
                        if (*c == '-')
                                *c = '_';
                fp(p, sizeof(p), "/.fake/rmmod-busy-%s", v);
                if (exists(p))
                        return -EBUSY;
                fp(p, sizeof(p), "/sys/module/%s", v);
                if (!exists(p))
                        return -ENOENT;
                rm_rf(p);
                return 1;
        }
        if (strcmp(path, "/.fake/modprobe") == 0) {
                strip_nl(value, v, sizeof(v));
                fp(p, sizeof(p), "/.fake/modprobe-fails");
                if (exists(p))
                        return -ENOENT;
                if (strcmp(v, "vfio-pci") != 0 && strcmp(v, "vfio_pci") != 0) {
                        for (char *c = v; *c; c++)
                                if (*c == '-')
                                        *c = '_';
                        fp(p, sizeof(p), "/sys/module/%s", v);
                        mkdir(p, 0755);
                        fp(p, sizeof(p), "/sys/module/%s/refcnt", v);
                        write_str(p, "0\n");
                        return 1;
                }
                fp(p, sizeof(p), "/sys/bus/pci/drivers/vfio-pci");
                mkdir(p, 0755);
                const char *files[] = { "bind", "unbind", "new_id", "remove_id" };
                for (size_t i = 0; i < 4; i++) {
                        fp(p, sizeof(p), "/sys/bus/pci/drivers/vfio-pci/%s", files[i]);
                        write_str(p, "");
                }
                return 1;
        }
        return fake_display_write(root, path, value); /* tests/fake/fake_display.c */
}
