/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "hostuse.h"

#include "netvf.h"
#include "parse.h"
#include "pci.h"
#include "sysfs.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- pure parsers ---- */

/* The kernel writes ' ', '\t', '\n' and '\\' in mountinfo and /proc/swaps
 * paths as \ooo (fs/proc_namespace.c mangle(), seq_file_path()). */
static void unescape(const char *in, size_t len, char *out, size_t size)
{
        size_t o = 0;
        for (size_t i = 0; i < len && o + 1 < size; i++) {
                if (in[i] == '\\' && i + 3 < len && in[i + 1] >= '0' && in[i + 1] <= '3' &&
                    in[i + 2] >= '0' && in[i + 2] <= '7' && in[i + 3] >= '0' && in[i + 3] <= '7') {
                        out[o++] = (char) (((in[i + 1] - '0') << 6) | ((in[i + 2] - '0') << 3) | (in[i + 3] - '0'));
                        i += 3;
                } else {
                        out[o++] = in[i];
                }
        }
        out[o] = '\0';
}

/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER"
 * (Documentation/filesystems/proc.rst): the optional fields end at "-". */
int hostuse_mountinfo_parse(const char *line, HostMount *m)
{
        const char *tok[48];
        size_t len[48], n = 0;
        unsigned major, minor;
        char c;

        for (const char *p = line; n < 48;) {
                while (*p == ' ')
                        p++;
                if (!*p || *p == '\n')
                        break;
                const char *q = p;
                while (*q && *q != ' ' && *q != '\n')
                        q++;
                tok[n] = p;
                len[n++] = (size_t) (q - p);
                p = q;
        }
        size_t dash = 6;
        while (dash < n && !(len[dash] == 1 && tok[dash][0] == '-'))
                dash++;
        if (n < 6 || dash + 2 >= n || len[2] >= sizeof(m->majmin))
                return -EINVAL;
        memcpy(m->majmin, tok[2], len[2]);
        m->majmin[len[2]] = '\0';
        if (sscanf(m->majmin, "%u:%u%c", &major, &minor, &c) != 2)
                return -EINVAL;
        m->major = major;
        unescape(tok[4], len[4], m->mountpoint, sizeof(m->mountpoint));
        unescape(tok[dash + 1], len[dash + 1], m->fstype, sizeof(m->fstype));
        unescape(tok[dash + 2], len[dash + 2], m->source, sizeof(m->source));
        return 0;
}

/* /proc/swaps: a "Filename Type Size Used Priority" header, then one line
 * per active swap area; files are left to the mount check (the filesystem
 * that holds them is mounted). */
bool hostuse_swaps_next(const char **cursor, char *path, size_t size)
{
        const char *line = *cursor;

        while (line && *line) {
                const char *end = strchr(line, '\n');
                const char *next = end ? end + 1 : NULL;
                const char *sp = strpbrk(line, " \t");
                if (sp && (!end || sp < end) && strncmp(line, "Filename", 8) != 0) {
                        const char *type = sp + strspn(sp, " \t");
                        if (strncmp(type, "partition", 9) == 0 && (type[9] == ' ' || type[9] == '\t')) {
                                unescape(line, (size_t) (sp - line), path, size);
                                *cursor = next;
                                return true;
                        }
                }
                line = next;
        }
        *cursor = NULL;
        return false;
}

/* /proc/net/route: "Iface Destination Gateway Flags RefCnt Use Metric Mask ..."
 * with addresses as little-endian hex.  reason has no subject: "carries the
 * default route", "has a host address (route to 192.168.1.0/24)". */
static bool route_reason(const char *text, const char *ifname, char *reason, size_t size)
{
        const char *line = text;
        bool found = false;

        while (line && *line) {
                char iface[64];
                unsigned dest, gw, flags, mask;
                int refcnt, use, metric;
                if (sscanf(line, "%63s %x %x %x %d %d %d %x", iface, &dest, &gw, &flags, &refcnt, &use, &metric,
                           &mask) == 8 &&
                    strcmp(iface, ifname) == 0) {
                        if (dest == 0 && mask == 0) {
                                snprintf(reason, size, "carries the default route");
                                return true;
                        }
                        if (!found) {
                                int bits = __builtin_popcount(mask);
                                snprintf(reason, size, "has a host address (route to %u.%u.%u.%u/%d)", dest & 0xff,
                                         (dest >> 8) & 0xff, (dest >> 16) & 0xff, dest >> 24, bits);
                                found = true;
                        }
                }
                line = strchr(line, '\n');
                if (line)
                        line++;
        }
        return found;
}


/* /proc/net/if_inet6: "ADDR IFINDEX PLEN SCOPE FLAGS IFNAME"; scope 0 is global. */
static bool inet6_reason(const char *text, const char *ifname, char *reason, size_t size)
{
        const char *line = text;

        while (line && *line) {
                char addr[40], iface[64];
                unsigned idx, plen, scope, flags;
                if (sscanf(line, "%39s %x %x %x %x %63s", addr, &idx, &plen, &scope, &flags, iface) == 6 &&
                    strcmp(iface, ifname) == 0 && scope == 0) {
                        snprintf(reason, size, "has the host address %.4s:%.4s:%.4s:%.4s::/%u", addr, addr + 4,
                                 addr + 8, addr + 12, plen);
                        return true;
                }
                line = strchr(line, '\n');
                if (line)
                        line++;
        }
        return false;
}

/* netvf_inet4_text()'s "IFNAME A.B.C.D/PLEN" lines.  /proc/net/route shows
 * only the main table: an address whose routes live in a VRF's table, a
 * policy-routing table, or nowhere (noprefixroute) is seen only here. */
static bool inet4_reason(const char *text, const char *ifname, char *reason, size_t size)
{
        const char *line = text;

        while (line && *line) {
                char iface[64], addr[32];
                if (sscanf(line, "%63s %31s", iface, addr) == 2 && strcmp(iface, ifname) == 0) {
                        snprintf(reason, size, "has the host address %s", addr);
                        return true;
                }
                line = strchr(line, '\n');
                if (line)
                        line++;
        }
        return false;
}

/* A reason of route_reason() or inet6_reason() as a sentence about "it". */
static bool about_it(bool (*reason_of)(const char *, const char *, char *, size_t), const char *text,
                     const char *ifname, char *why, size_t size)
{
        char reason[128];
        if (!reason_of(text, ifname, reason, sizeof(reason)))
                return false;
        snprintf(why, size, "it %s", reason);
        return true;
}

bool hostuse_route_uses(const char *text, const char *ifname, char *why, size_t size)
{
        return about_it(route_reason, text, ifname, why, size);
}

bool hostuse_inet6_uses(const char *text, const char *ifname, char *why, size_t size)
{
        return about_it(inet6_reason, text, ifname, why, size);
}

bool hostuse_inet4_uses(const char *text, const char *ifname, char *why, size_t size)
{
        return about_it(inet4_reason, text, ifname, why, size);
}

/* ---- block devices ---- */

/* Does a directory hold a symlink (of the names it lists) into the PCI
 * device whose path part is needle ("/BDF/")? */
static bool dir_links_into(const char *dir, const char *needle, bool (*take)(const char *name))
{
        char **names = NULL, p[SYSFS_PATH_MAX], target[SYSFS_PATH_MAX];
        size_t n = 0;
        bool found = false;

        if (sysfs_list(dir, &names, &n) < 0)
                return false;
        for (size_t i = 0; i < n && !found; i++) {
                if (take && !take(names[i]))
                        continue;
                snprintf(p, sizeof(p), "%s/%.64s", dir, names[i]);
                found = sysfs_readlink(p, target, sizeof(target)) > 0 && strstr(target, needle);
        }
        sysfs_list_free(names, n);
        return found;
}

/* "nvme3": a controller's link in its subsystem's directory */
static bool is_nvme_ctrl(const char *name)
{
        size_t d = strspn(name + 4, "0123456789");
        return !strncmp(name, "nvme", 4) && d > 0 && name[4 + d] == '\0';
}

/* Is the sysfs device behind link (/sys/dev/block/M:m, /sys/class/block/X)
 * under the PCI device?  NVMe native multipath (on by default in Debian's
 * and Fedora's kernels, and whenever a controller reports a subsystem) puts
 * a shared namespace (nvme0n1, its partitions) under
 * /sys/devices/virtual/nvme-subsystem/nvme-subsysN/.  That directory links
 * each controller of the subsystem by name (nvme0 -> .../BDF/nvme/nvme0:
 * drivers/nvme/host/core.c, every kernel since 4.15, and what libnvme scans);
 * 6.14 and later also link the namespace's paths from nvme0n1/multipath/. */
static bool block_link_on_device(const char *link, const char *bdf)
{
        char target[SYSFS_PATH_MAX], needle[PCI_ADDRESS_STRLEN + 2];

        if (sysfs_readlink(link, target, sizeof(target)) < 0)
                return false;
        snprintf(needle, sizeof(needle), "/%s/", bdf);
        if (strstr(target, needle))
                return true;
        char *sub = strstr(target, "/nvme-subsystem/");
        if (!sub)
                return false;
        /* .../nvme-subsystem/nvme-subsys0/nvme0n1[/nvme0n1p2] */
        char subsys[64], head[64], dir[160];
        if (sscanf(sub, "/nvme-subsystem/%63[^/]/%63[^/]", subsys, head) != 2 || !name_is_valid(subsys) ||
            !name_is_valid(head))
                return false;
        snprintf(dir, sizeof(dir), "/sys/devices/virtual/nvme-subsystem/%s", subsys);
        if (dir_links_into(dir, needle, is_nvme_ctrl))
                return true;
        snprintf(dir, sizeof(dir), "/sys/class/block/%s/multipath", head);
        return dir_links_into(dir, needle, NULL);
}

/* Does the block device MAJ:MIN sit on this PCI device, directly or
 * through device-mapper/md slaves? */
static bool block_on_device(const char *majmin, const char *bdf, int depth)
{
        char path[128];

        if (depth > 4)
                return false;
        snprintf(path, sizeof(path), "/sys/dev/block/%s", majmin);
        if (block_link_on_device(path, bdf))
                return true;
        /* dm-N / mdN: look at what it is built on */
        snprintf(path, sizeof(path), "/sys/dev/block/%s/slaves", majmin);
        DIR *dir = sysfs_opendir(path);
        if (!dir)
                return false;
        bool found = false;
        struct dirent *de;
        while (!found && (de = readdir(dir))) {
                char dev[64], file[300];
                if (de->d_name[0] == '.' || !name_is_valid(de->d_name))
                        continue;
                snprintf(file, sizeof(file), "/sys/class/block/%s/dev", de->d_name);
                if (sysfs_read(file, dev, sizeof(dev)) > 0)
                        found = block_on_device(dev, bdf, depth + 1);
        }
        closedir(dir);
        return found;
}

/* The same for a kernel name ("nvme0n1p3", "dm-0"). */
static bool block_name_on_device(const char *name, const char *bdf)
{
        char path[128], dev[32];
        if (!name_is_valid(name))
                return false;
        snprintf(path, sizeof(path), "/sys/class/block/%s/dev", name);
        return sysfs_read(path, dev, sizeof(dev)) > 0 && block_on_device(dev, bdf, 0);
}

/* The kernel's name of the block device at a /dev path: udev's links
 * (/dev/mapper/vg-root -> ../dm-0, /dev/disk/by-id/... -> ../../sda1) are
 * followed one step, which is how udev makes them. */
static bool dev_kernel_name(const char *devpath, char *name, size_t size)
{
        char target[SYSFS_PATH_MAX];
        const char *base = devpath;

        if (strncmp(devpath, "/dev/", 5) != 0)
                return false;
        if (sysfs_readlink(devpath, target, sizeof(target)) > 0)
                base = target;
        const char *slash = strrchr(base, '/');
        snprintf(name, size, "%.63s", slash ? slash + 1 : base);
        return name_is_valid(name);
}

/* One property of a block device from the udev database
 * (/run/udev/data/bMAJ:MIN, lines "E:KEY=VALUE"); false when absent. */
static bool udev_property(const char *name, const char *key, char *value, size_t size)
{
        char path[128], dev[32], *text = NULL;
        bool found = false;

        snprintf(path, sizeof(path), "/sys/class/block/%.64s/dev", name);
        if (sysfs_read(path, dev, sizeof(dev)) <= 0)
                return false;
        snprintf(path, sizeof(path), "/run/udev/data/b%s", dev);
        if (sysfs_read_alloc(path, 1 << 20, &text, NULL) < 0)
                return false;
        size_t kl = strlen(key);
        for (const char *line = text; line && *line && !found; line = strchr(line, '\n')) {
                line += *line == '\n';
                if (strncmp(line, "E:", 2) == 0 && strncmp(line + 2, key, kl) == 0 && line[2 + kl] == '=') {
                        const char *v = line + 3 + kl;
                        size_t vl = strcspn(v, "\n");
                        snprintf(value, size, "%.*s", (int) (vl < size ? vl : size - 1), v);
                        found = true;
                }
        }
        free(text);
        return found;
}

#define MEMBERS_MAX 32
typedef struct Members {
        char name[MEMBERS_MAX][64];
        size_t n;
} Members;

static void members_add(Members *m, const char *name)
{
        for (size_t i = 0; i < m->n; i++)
                if (strcmp(m->name[i], name) == 0)
                        return;
        if (m->n < MEMBERS_MAX && name_is_valid(name))
                snprintf(m->name[m->n++], sizeof(m->name[0]), "%s", name);
}

static bool members_has(const Members *m, const char *name)
{
        for (size_t i = 0; i < m->n; i++)
                if (strcmp(m->name[i], name) == 0)
                        return true;
        return false;
}

/* The block devices of one mounted btrfs or bcachefs filesystem, from the
 * directories these create at mount: btrfs /sys/fs/btrfs/UUID/devices/NAME
 * (links named for the block devices), bcachefs /sys/fs/bcachefs/UUID/
 * dev-N/block (a link to each). */
static void fs_uuid_members(const char *fstype, const char *uuid, Members *m)
{
        char path[256], **names = NULL;
        size_t n = 0;
        bool btrfs = strcmp(fstype, "btrfs") == 0;

        snprintf(path, sizeof(path), "/sys/fs/%s/%.64s%s", fstype, uuid, btrfs ? "/devices" : "");
        if (sysfs_list(path, &names, &n) < 0)
                return;
        for (size_t i = 0; i < n; i++) {
                char link[400], base[64];
                if (btrfs) {
                        members_add(m, names[i]);
                } else if (strncmp(names[i], "dev-", 4) == 0) {
                        snprintf(link, sizeof(link), "%s/%.64s/block", path, names[i]);
                        if (pci_link_basename(link, base, sizeof(base)) == 0)
                                members_add(m, base);
                }
        }
        sysfs_list_free(names, n);
}

/* The block devices a ZFS pool is built on: udev's blkid marks each vdev
 * partition ID_FS_TYPE=zfs_member with the pool's name as ID_FS_LABEL. */
static void zfs_pool_members(const char *pool, Members *m)
{
        char **names = NULL, type[32], label[256];
        size_t n = 0;

        if (sysfs_list("/sys/class/block", &names, &n) < 0)
                return;
        for (size_t i = 0; i < n; i++)
                if (udev_property(names[i], "ID_FS_TYPE", type, sizeof(type)) && strcmp(type, "zfs_member") == 0 &&
                    udev_property(names[i], "ID_FS_LABEL", label, sizeof(label)) && strcmp(label, pool) == 0)
                        members_add(m, names[i]);
        sysfs_list_free(names, n);
}

/* The block devices behind a mount whose MAJ:MIN is an anonymous 0:N:
 * btrfs, bcachefs and ZFS put a filesystem over several devices and show
 * none of them there.  btrfs shows one member as its source (/dev/nvme0n1p3,
 * /dev/mapper/luks-...), bcachefs all of them joined with ':', ZFS the
 * dataset (rpool/ROOT/pve-1: pool "rpool").  When no registered filesystem
 * has the source among its members, all of them count: each directory under
 * /sys/fs/btrfs or /sys/fs/bcachefs is a mounted filesystem. */
static void mount_members(const HostMount *mt, Members *m)
{
        m->n = 0;
        if (strcmp(mt->fstype, "zfs") == 0) {
                char pool[256];
                snprintf(pool, sizeof(pool), "%.*s", (int) strcspn(mt->source, "/"), mt->source);
                zfs_pool_members(pool, m);
                return;
        }
        if (strcmp(mt->fstype, "btrfs") != 0 && strcmp(mt->fstype, "bcachefs") != 0)
                return;
        Members src = { .n = 0 };
        char buf[sizeof(mt->source)], *save = NULL;
        snprintf(buf, sizeof(buf), "%s", mt->source);
        for (char *part = strtok_r(buf, ":", &save); part; part = strtok_r(NULL, ":", &save)) {
                char name[64];
                if (dev_kernel_name(part, name, sizeof(name)))
                        members_add(&src, name);
        }
        char path[96], **uuids = NULL;
        size_t n = 0;
        snprintf(path, sizeof(path), "/sys/fs/%s", mt->fstype);
        if (sysfs_list(path, &uuids, &n) < 0)
                return;
        Members all = { .n = 0 };
        for (size_t i = 0; i < n; i++) {
                Members one = { .n = 0 };
                if (strcmp(uuids[i], "features") == 0 || !name_is_valid(uuids[i]))
                        continue;
                fs_uuid_members(mt->fstype, uuids[i], &one);
                for (size_t k = 0; k < one.n; k++) {
                        members_add(&all, one.name[k]);
                        if (members_has(&src, one.name[k]))
                                *m = one;
                }
                if (m->n)
                        break;
        }
        sysfs_list_free(uuids, n);
        if (!m->n)
                *m = all;
}

/* Does the device carry a block device (a disk, a namespace, a partition)? */
static bool has_block_devices(const char *bdf)
{
        char **names = NULL;
        size_t n = 0;
        bool found = false;
        if (sysfs_list("/sys/class/block", &names, &n) < 0)
                return false;
        for (size_t i = 0; i < n && !found; i++)
                found = block_name_on_device(names[i], bdf);
        sysfs_list_free(names, n);
        return found;
}

/* A host table that could not be read (a mountinfo past the size limit, a
 * /proc that is not there): for a device with disks on it, whether the
 * host uses them is unknown, and unknown is not free. */
static bool unreadable_table(const char *bdf, const char *what, int r, char *why, size_t size)
{
        if (!has_block_devices(bdf))
                return false;
        snprintf(why, size, "it has disks on it, and %s cannot be read (%s): whether the host uses them is unknown", what,
                 strerror(-r));
        return true;
}

/* The mounted filesystems on the device: "/var (/dev/nvme0n1p1)", or
 * "/ (btrfs on nvme0n1p3)" for the filesystems of mount_members(). */
bool hostuse_mounted(const char *bdf, char *why, size_t size)
{
        char *text = NULL, last[600] = "", on[200] = "";
        bool found = false;

        int r = sysfs_read_alloc("/proc/self/mountinfo", 64 << 20, &text, NULL);
        if (r < 0)
                return unreadable_table(bdf, "/proc/self/mountinfo", r, why, size);
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line && !found; line = strtok_r(NULL, "\n", &save)) {
                HostMount mt;
                if (hostuse_mountinfo_parse(line, &mt) < 0)
                        continue;
                if (mt.major != 0) {
                        if (block_on_device(mt.majmin, bdf, 0)) {
                                snprintf(why, size, "it holds the mounted filesystem %.300s (%.120s)", mt.mountpoint,
                                         mt.source);
                                found = true;
                        }
                        continue;
                }
                /* one filesystem shows up once per subvolume or dataset (of one
                 * pool: rpool/ROOT/pve-1, rpool/data): resolve it once */
                char key[600];
                bool zfs = strcmp(mt.fstype, "zfs") == 0;
                snprintf(key, sizeof(key), "%.63s %.*s", mt.fstype, zfs ? (int) strcspn(mt.source, "/") : 500,
                         mt.source);
                if (strcmp(key, last) != 0) {
                        Members m;
                        size_t len = 0;
                        mount_members(&mt, &m);
                        on[0] = '\0';
                        for (size_t i = 0; i < m.n; i++)
                                if (block_name_on_device(m.name[i], bdf) && len < sizeof(on))
                                        len += (size_t) snprintf(on + len, sizeof(on) - len, "%s%s", len ? ", " : "",
                                                                 m.name[i]);
                        snprintf(last, sizeof(last), "%s", key);
                }
                if (on[0]) {
                        snprintf(why, size, "it holds the mounted filesystem %.300s (%s on %s)", mt.mountpoint,
                                 mt.fstype, on);
                        found = true;
                }
        }
        free(text);
        return found;
}

/* An active swap partition on the device (directly, or under LVM/md/dm-crypt). */
bool hostuse_swap(const char *bdf, char *why, size_t size)
{
        char *text = NULL, path[512];
        bool found = false;

        int r = sysfs_read_alloc("/proc/swaps", 1 << 20, &text, NULL);
        if (r == -ENOENT)
                return false; /* a kernel without swap support */
        if (r < 0)
                return unreadable_table(bdf, "/proc/swaps", r, why, size);
        for (const char *cur = text; !found && hostuse_swaps_next(&cur, path, sizeof(path));) {
                char name[64];
                if (dev_kernel_name(path, name, sizeof(name)) && block_name_on_device(name, bdf)) {
                        snprintf(why, size, "it holds the active swap %.300s", path);
                        found = true;
                }
        }
        free(text);
        return found;
}

/* A disk or partition on the device that something is built on without a
 * mount: holders/ (an active LVM volume, an md array, dm-crypt, multipath),
 * or a vdev of an imported ZFS pool (/proc/spl/kstat/zfs/POOL). */
bool hostuse_block_held(const char *bdf, char *why, size_t size)
{
        char **names = NULL;
        size_t n = 0;
        bool found = false;

        if (sysfs_list("/sys/class/block", &names, &n) < 0)
                return false;
        for (size_t i = 0; i < n && !found; i++) {
                char path[128], **holders = NULL, label[256], type[32];
                size_t nh = 0;
                if (!name_is_valid(names[i]))
                        continue;
                snprintf(path, sizeof(path), "/sys/class/block/%s", names[i]);
                if (!block_link_on_device(path, bdf))
                        continue;
                snprintf(path, sizeof(path), "/sys/class/block/%s/holders", names[i]);
                if (sysfs_list(path, &holders, &nh) == 0 && nh > 0) {
                        char dm[128] = "";
                        if (name_is_valid(holders[0])) {
                                snprintf(path, sizeof(path), "/sys/class/block/%s/dm/name", holders[0]);
                                sysfs_read(path, dm, sizeof(dm));
                        }
                        snprintf(why, size, "its block device %s is held by %.64s%s%.100s%s (an active LVM volume, "
                                 "md array or dm-crypt device is built on it)", names[i], holders[0], dm[0] ? " (" : "",
                                 dm, dm[0] ? ")" : "");
                        found = true;
                } else if (udev_property(names[i], "ID_FS_TYPE", type, sizeof(type)) &&
                           strcmp(type, "zfs_member") == 0 &&
                           udev_property(names[i], "ID_FS_LABEL", label, sizeof(label)) && name_is_valid(label)) {
                        snprintf(path, sizeof(path), "/proc/spl/kstat/zfs/%.64s", label);
                        if (sysfs_exists(path)) {
                                snprintf(why, size, "its block device %s is a vdev of the imported ZFS pool %s",
                                         names[i], label);
                                found = true;
                        }
                }
                sysfs_list_free(holders, nh);
        }
        sysfs_list_free(names, n);
        return found;
}

/* ---- network ---- */

/* An interface name safe to put in a path (dev_valid_name() allows more
 * than name_is_valid(): anything but '/', ':' and blanks). */
static bool ifname_ok(const char *s)
{
        size_t n = strlen(s);
        return n > 0 && n < HOSTUSE_IFNAMSIZ && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 &&
               strcspn(s, "/: \t\n") == n;
}

/* How upper sits on lower: a bridge port, a bond slave, a VLAN, a macvtap. */
static void net_relation(const char *lower, const char *upper, bool is_master, char *buf, size_t size)
{
        char path[128], uevent[512] = "";
        const char *devtype = NULL;

        (void) lower;
        snprintf(path, sizeof(path), "/sys/class/net/%s/uevent", upper);
        if (sysfs_read(path, uevent, sizeof(uevent)) > 0)
                devtype = strstr(uevent, "DEVTYPE=");
        snprintf(path, sizeof(path), "/sys/class/net/%s/bridge", upper);
        bool bridge = sysfs_exists(path);
        snprintf(path, sizeof(path), "/sys/class/net/%s/bonding", upper);
        bool bond = sysfs_exists(path);
        snprintf(path, sizeof(path), "/sys/class/net/%s/macvtap", upper);
        bool macvtap = sysfs_exists(path);

        if (is_master && strcmp(upper, "ovs-system") == 0)
                snprintf(buf, size, "is a port of the Open vSwitch datapath");
        else if (is_master && bond)
                snprintf(buf, size, "is a slave of");
        else if (is_master)
                snprintf(buf, size, "is a port of"); /* bridge, team, VRF */
        else if (devtype && strncmp(devtype, "DEVTYPE=vlan", 12) == 0)
                snprintf(buf, size, "carries the VLAN");
        else if (macvtap)
                snprintf(buf, size, "carries the macvtap");
        else if (bridge)
                snprintf(buf, size, "is a port of");
        else
                snprintf(buf, size, "is under"); /* macvlan, ipvlan, ... */
}

/* The NIC's interface and every interface stacked on it (master and
 * upper_* links, Documentation/ABI/testing/sysfs-class-net), breadth first,
 * each once. */
size_t hostuse_net_walk(const char *ifname, HostNetNode *nodes, size_t max)
{
        size_t n = 0;
        if (!max || !ifname_ok(ifname))
                return 0;
        memset(&nodes[0], 0, sizeof(nodes[0]));
        snprintf(nodes[0].name, sizeof(nodes[0].name), "%s", ifname);
        nodes[0].parent = -1;
        n = 1;
        for (size_t i = 0; i < n; i++) {
                char path[128], master[HOSTUSE_IFNAMSIZ] = "", **names = NULL;
                size_t nn = 0;
                snprintf(path, sizeof(path), "/sys/class/net/%s/master", nodes[i].name);
                if (pci_link_basename(path, master, sizeof(master)) < 0)
                        master[0] = '\0';
                snprintf(path, sizeof(path), "/sys/class/net/%s", nodes[i].name);
                if (sysfs_list(path, &names, &nn) < 0)
                        continue;
                for (size_t k = 0; k <= nn; k++) {
                        /* the master first (the bridge or bond, before a trunk's
                         * VLANs fill the list), then the upper_ links */
                        const char *up = k == 0 ? (master[0] ? master : NULL)
                                                : (strncmp(names[k - 1], "upper_", 6) == 0 ? names[k - 1] + 6 : NULL);
                        if (!up || !ifname_ok(up))
                                continue;
                        bool seen = false;
                        for (size_t j = 0; j < n; j++)
                                seen |= strcmp(nodes[j].name, up) == 0;
                        if (seen || n >= max)
                                continue;
                        HostNetNode *nd = &nodes[n];
                        memset(nd, 0, sizeof(*nd));
                        snprintf(nd->name, sizeof(nd->name), "%s", up);
                        nd->parent = (int) i;
                        net_relation(nodes[i].name, up, strcmp(up, master) == 0, nd->relation, sizeof(nd->relation));
                        n++;
                }
                sysfs_list_free(names, nn);
        }
        return n;
}

/* "enp3s0 is a slave of bond0, which is a port of vmbr0" for node i. */
void hostuse_net_chain(const HostNetNode *nodes, size_t i, char *buf, size_t size)
{
        size_t path[32], n = 0;
        for (int k = (int) i; k >= 0 && n < 32; k = nodes[k].parent)
                path[n++] = (size_t) k;
        size_t len = (size_t) snprintf(buf, size, "%s", nodes[path[n - 1]].name);
        for (size_t k = n - 1; k-- > 0 && len < size;)
                len += (size_t) snprintf(buf + len, size - len, "%s %s %s", k == n - 2 ? "" : ", which",
                                         nodes[path[k]].relation, nodes[path[k]].name);
}

/* Open vSwitch: every port's master is the one datapath device ovs-system,
 * whatever bridge it is on, and which bridge that is lives in ovsdb, not
 * in sysfs.  So a port of ovs-system counts as the host's when any
 * interface that looks like an OVS internal port (virtual: no device link;
 * nothing under it: no lower_ link; neither bridge nor bond; not lo) has
 * the default route or a host address.  That also takes in a dummy, tun or
 * wireguard interface with an address: a refusal that force='yes' lifts. */
static bool ovs_addressed_port(const char *route, const char *inet4, const char *inet6, char *name, size_t nsize,
                               char *reason, size_t rsize)
{
        char **names = NULL;
        size_t n = 0;
        bool found = false;

        if (sysfs_list("/sys/class/net", &names, &n) < 0)
                return false;
        for (size_t i = 0; i < n && !found; i++) {
                char path[128], **files = NULL;
                size_t nf = 0;
                bool lower = false;
                if (!ifname_ok(names[i]) || strcmp(names[i], "lo") == 0 || strcmp(names[i], "ovs-system") == 0)
                        continue;
                if (!((route && route_reason(route, names[i], reason, rsize)) ||
                      (inet4 && inet4_reason(inet4, names[i], reason, rsize)) ||
                      (inet6 && inet6_reason(inet6, names[i], reason, rsize))))
                        continue;
                snprintf(path, sizeof(path), "/sys/class/net/%s", names[i]);
                if (sysfs_list(path, &files, &nf) < 0)
                        continue;
                for (size_t k = 0; k < nf; k++)
                        lower |= strncmp(files[k], "lower_", 6) == 0 || strcmp(files[k], "device") == 0 ||
                                 strcmp(files[k], "bridge") == 0 || strcmp(files[k], "bonding") == 0;
                sysfs_list_free(files, nf);
                if (!lower) {
                        snprintf(name, nsize, "%s", names[i]);
                        found = true;
                }
        }
        sysfs_list_free(names, n);
        return found;
}

/* The device's interfaces (its net/ directory), each with what is stacked
 * on it: the first that carries the default route or a host address.  A
 * NIC on a network driver whose net/ directory is there but empty has its
 * interfaces in another network namespace (sysfs shows each namespace its
 * own): a container's (LXC's phys type, `ip link set netns`), which loses
 * its network with the unbind.  The routes and addresses of that namespace
 * cannot be read from here, so it counts as in use. */
/* The device's network interfaces: those in BDF/net/, and those further
 * down its tree, whose /sys/class/net link passes through BDF (virtio-net's
 * BDF/virtioN/net/, a USB NIC under an xHCI controller).  *had_net_dir:
 * BDF/net/ exists.  0 or -ENOMEM. */
static int device_netdevs(const char *bdf, char ***ret, size_t *n_ret, bool *had_net_dir)
{
        char path[128], needle[PCI_ADDRESS_STRLEN + 2], **ifs = NULL, **all = NULL;
        size_t n = 0, n_all = 0;
        int r = 0;

        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/net", bdf);
        *had_net_dir = sysfs_list(path, &ifs, &n) == 0;
        if (!*had_net_dir)
                n = 0;
        snprintf(needle, sizeof(needle), "/%s/", bdf);
        if (sysfs_list("/sys/class/net", &all, &n_all) == 0)
                for (size_t i = 0; i < n_all && r == 0; i++) {
                        char target[SYSFS_PATH_MAX];
                        bool seen = false;
                        if (!ifname_ok(all[i]))
                                continue;
                        for (size_t k = 0; k < n; k++)
                                seen |= strcmp(ifs[k], all[i]) == 0;
                        snprintf(path, sizeof(path), "/sys/class/net/%s", all[i]);
                        if (seen || sysfs_readlink(path, target, sizeof(target)) < 0 || !strstr(target, needle))
                                continue;
                        char **grown = realloc(ifs, (n + 1) * sizeof(*ifs));
                        if (!grown || !(grown[n] = strdup(all[i]))) {
                                if (grown)
                                        ifs = grown;
                                r = -ENOMEM;
                                break;
                        }
                        ifs = grown;
                        n++;
                }
        sysfs_list_free(all, n_all);
        if (r < 0) {
                sysfs_list_free(ifs, n);
                return r;
        }
        *ret = ifs;
        *n_ret = n;
        return 0;
}

bool hostuse_network(const char *bdf, char *why, size_t size)
{
        char path[128], **ifs = NULL;
        size_t n_ifs = 0;
        bool had_net_dir;
        if (device_netdevs(bdf, &ifs, &n_ifs, &had_net_dir) < 0) {
                snprintf(why, size, "its network interfaces could not be listed (out of memory)");
                return true;
        }
        if (n_ifs == 0 && !had_net_dir) {
                sysfs_list_free(ifs, n_ifs);
                return false;
        }
        if (n_ifs == 0) {
                char drv[64];
                snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
                sysfs_list_free(ifs, n_ifs);
                if (pci_link_basename(path, drv, sizeof(drv)) < 0 || strcmp(drv, "vfio-pci") == 0 ||
                    strcmp(drv, "pci-stub") == 0)
                        return false;
                snprintf(why, size, "it is bound to %s but none of its network interfaces is in this network "
                         "namespace: they were moved into another one (a container's?), whose network the unbind "
                         "would take away", drv);
                return true;
        }
        char *route = NULL, *inet4 = NULL, *inet6 = NULL;
        sysfs_read_alloc("/proc/net/route", 4 << 20, &route, NULL);
        if (netvf_inet4_text(&inet4) < 0)
                inet4 = NULL;
        sysfs_read_alloc("/proc/net/if_inet6", 4 << 20, &inet6, NULL);
        bool found = false;
        for (size_t f = 0; f < n_ifs && !found; f++) {
                HostNetNode nodes[HOSTUSE_NET_NODES];
                size_t n = hostuse_net_walk(ifs[f], nodes, HOSTUSE_NET_NODES);
                if (n == HOSTUSE_NET_NODES) {
                        snprintf(why, size, "its interface %s has %d or more interfaces stacked on it, more than "
                                 "vmprep looks through: it counts as the host's", ifs[f], HOSTUSE_NET_NODES - 1);
                        found = true;
                }
                for (size_t i = 0; i < n && !found; i++) {
                        char reason[160], chain[400], ovs[HOSTUSE_IFNAMSIZ];
                        if ((route && route_reason(route, nodes[i].name, reason, sizeof(reason))) ||
                            (inet4 && inet4_reason(inet4, nodes[i].name, reason, sizeof(reason))) ||
                            (inet6 && inet6_reason(inet6, nodes[i].name, reason, sizeof(reason)))) {
                                hostuse_net_chain(nodes, i, chain, sizeof(chain));
                                if (i == 0)
                                        snprintf(why, size, "it is the host's network interface %s and it %s",
                                                 nodes[0].name, reason);
                                else
                                        snprintf(why, size, "its interface %s, which %s", chain, reason);
                                found = true;
                        } else if (strcmp(nodes[i].name, "ovs-system") == 0 &&
                                   ovs_addressed_port(route, inet4, inet6, ovs, sizeof(ovs), reason, sizeof(reason))) {
                                hostuse_net_chain(nodes, i, chain, sizeof(chain));
                                snprintf(why, size, "its interface %s, and the Open vSwitch port %s %s (sysfs does not "
                                         "tell which OVS bridge a port is on)", chain, ovs, reason);
                                found = true;
                        }
                }
        }
        sysfs_list_free(ifs, n_ifs);
        free(route);
        free(inet4);
        free(inet6);
        return found;
}

/* ---- running VMs ---- */

bool hostuse_running_vm(const char *bdf, const RunningVm *vms, size_t n_vms, char *why, size_t size)
{
        for (size_t v = 0; v < n_vms; v++) {
                const Domain *d = vms[v].domain;
                for (size_t i = 0; d && i < d->n_disk_devs; i++) {
                        char name[64];
                        if (dev_kernel_name(d->disk_devs[i], name, sizeof(name)) && block_name_on_device(name, bdf)) {
                                snprintf(why, size, "the running VM %.100s has %.200s (%s) on it as a <disk "
                                         "type='block'>", vms[v].name, d->disk_devs[i], name);
                                return true;
                        }
                }
        }
        char **ifs = NULL;
        size_t n_ifs = 0;
        bool found = false, had_net_dir;
        if (device_netdevs(bdf, &ifs, &n_ifs, &had_net_dir) < 0)
                return false;
        for (size_t f = 0; f < n_ifs && !found; f++) {
                HostNetNode nodes[HOSTUSE_NET_NODES];
                size_t n = hostuse_net_walk(ifs[f], nodes, HOSTUSE_NET_NODES);
                for (size_t v = 0; v < n_vms && !found; v++)
                        for (size_t k = 0; vms[v].domain && k < vms[v].domain->n_directs && !found; k++) {
                                /* the macvtap itself names the VM's use best; its source NIC (or a
                                 * VLAN on it) when the status file has no <target> */
                                const DomainDirect *di = &vms[v].domain->directs[k];
                                size_t at = n, src = n;
                                for (size_t i = 0; i < n; i++) {
                                        if (di->target && strcmp(di->target, nodes[i].name) == 0)
                                                at = i;
                                        if (strcmp(di->dev, nodes[i].name) == 0)
                                                src = i;
                                }
                                if (at == n && src == n)
                                        continue;
                                char chain[400];
                                hostuse_net_chain(nodes, at < n ? at : src, chain, sizeof(chain));
                                snprintf(why, size, "its interface %s%s %s<interface type='direct'> of the running VM "
                                         "%.100s", chain, (at < n ? at : src) ? ", which is" : " is",
                                         at < n ? "the " : "the source of the ", vms[v].name);
                                found = true;
                        }
        }
        sysfs_list_free(ifs, n_ifs);
        return found;
}

/* ---- input ---- */

/* EV_KEY with EV_REP is a keyboard, EV_REL a mouse (include/uapi/linux/
 * input-event-codes.h); /sys/class/input/inputN/capabilities/ev is that
 * bitmap in hex.  One that cannot be read counts as the host's. */
#define EV_KEY_BIT (1ull << 0x01)
#define EV_REL_BIT (1ull << 0x02)
#define EV_REP_BIT (1ull << 0x14)

bool hostuse_input(const char *bdf, char *why, size_t size)
{
        char **names = NULL, list[400] = "", needle[PCI_ADDRESS_STRLEN + 2];
        size_t n = 0, len = 0;

        if (sysfs_list("/sys/class/input", &names, &n) < 0)
                return false;
        snprintf(needle, sizeof(needle), "/%s/", bdf);
        for (size_t i = 0; i < n; i++) {
                char path[128], target[SYSFS_PATH_MAX], ev[64] = "", devname[128] = "?";
                if (strncmp(names[i], "input", 5) != 0 || !name_is_valid(names[i]))
                        continue;
                snprintf(path, sizeof(path), "/sys/class/input/%s", names[i]);
                if (sysfs_readlink(path, target, sizeof(target)) < 0 || !strstr(target, needle))
                        continue;
                snprintf(path, sizeof(path), "/sys/class/input/%s/capabilities/ev", names[i]);
                char *end = NULL;
                unsigned long long bits = ~0ull;
                if (sysfs_read(path, ev, sizeof(ev)) > 0) {
                        const char *word = strrchr(ev, ' '); /* the lowest long comes last */
                        bits = strtoull(word ? word + 1 : ev, &end, 16);
                        if (!end || *end)
                                bits = ~0ull;
                }
                if (!((bits & EV_KEY_BIT) && (bits & EV_REP_BIT)) && !(bits & EV_REL_BIT))
                        continue;
                snprintf(path, sizeof(path), "/sys/class/input/%s/name", names[i]);
                sysfs_read(path, devname, sizeof(devname));
                if (len < sizeof(list))
                        len += (size_t) snprintf(list + len, sizeof(list) - len, "%s%s (%s)", len ? ", " : "", devname,
                                                 names[i]);
        }
        sysfs_list_free(names, n);
        if (len)
                snprintf(why, size, "the host's keyboard or mouse hangs off it: %s", list);
        return len > 0;
}

/* Device nodes that belong to a PCI device: /dev/dri/{cardN,renderDN}
 * (/sys/class/drm/X/device), /dev/fbN (/sys/class/graphics/fbN/device),
 * the ALSA cards (/sys/class/sound/cardN/device: every ALSA node of card N),
 * /dev/nvidiaN (/proc/driver/nvidia/gpus/BDF/information, "Device Minor"),
 * /dev/vfio/N and /dev/vfio/devices/vfioX of a device on vfio-pci. */
typedef struct DeviceNodes {
        char nodes[32][64];
        size_t n;
        int cards[8];
        size_t n_cards;
} DeviceNodes;

static void class_nodes(const char *cls, const char *devdir, const char *bdf, DeviceNodes *dn)
{
        char path[128];
        snprintf(path, sizeof(path), "/sys/class/%s", cls);
        DIR *dir = sysfs_opendir(path);
        if (!dir)
                return;
        struct dirent *de;
        while ((de = readdir(dir))) {
                char link[300], base[64];
                if (de->d_name[0] == '.' || strchr(de->d_name, '-') || !name_is_valid(de->d_name))
                        continue;
                snprintf(link, sizeof(link), "/sys/class/%s/%s/device", cls, de->d_name);
                if (pci_link_basename(link, base, sizeof(base)) < 0 || strcmp(base, bdf) != 0)
                        continue;
                unsigned card;
                if (strcmp(cls, "sound") == 0) {
                        if (sscanf(de->d_name, "card%u", &card) == 1 && dn->n_cards < 8)
                                dn->cards[dn->n_cards++] = (int) card;
                } else if (dn->n < 32) {
                        snprintf(dn->nodes[dn->n++], sizeof(dn->nodes[0]), "%s%.40s", devdir, de->d_name);
                }
        }
        closedir(dir);
}

/* A device on vfio-pci is opened through its IOMMU group's /dev/vfio/N, or
 * (iommufd, Linux 6.6 and later) its own /dev/vfio/devices/vfioX, listed
 * under BDF/vfio-dev/.  Only while it is on vfio-pci: a group node open for
 * the group's other members says nothing of a device on a host driver. */
static void vfio_nodes(const char *bdf, DeviceNodes *dn)
{
        PciAddress a;
        PciDevice dev;
        char path[128], **names = NULL;
        size_t n = 0;

        if (pci_address_parse(bdf, &a) < 0 || pci_device_read(&a, &dev) < 0 || strcmp(dev.driver, "vfio-pci") != 0)
                return;
        if (dev.iommu_group >= 0 && dn->n < 32)
                snprintf(dn->nodes[dn->n++], sizeof(dn->nodes[0]), "/dev/vfio/%d", dev.iommu_group);
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
        if (sysfs_list(path, &names, &n) < 0)
                return;
        for (size_t i = 0; i < n && dn->n < 32; i++)
                if (name_is_valid(names[i]))
                        snprintf(dn->nodes[dn->n++], sizeof(dn->nodes[0]), "/dev/vfio/devices/%.40s", names[i]);
        sysfs_list_free(names, n);
}

static void device_nodes(const char *bdf, DeviceNodes *dn)
{
        char path[200], *text = NULL;
        memset(dn, 0, sizeof(*dn));
        class_nodes("drm", "/dev/dri/", bdf, dn);
        class_nodes("graphics", "/dev/", bdf, dn);
        class_nodes("sound", "/dev/snd/", bdf, dn);
        vfio_nodes(bdf, dn);
        snprintf(path, sizeof(path), "/proc/driver/nvidia/gpus/%s/information", bdf);
        if (sysfs_read_alloc(path, 65536, &text, NULL) == 0) {
                const char *m = strstr(text, "Device Minor:");
                unsigned minor;
                if (m && sscanf(m, "Device Minor: %u", &minor) == 1 && dn->n < 32)
                        snprintf(dn->nodes[dn->n++], sizeof(dn->nodes[0]), "/dev/nvidia%u", minor);
                free(text);
        }
}

static bool node_matches(const DeviceNodes *dn, const char *target)
{
        for (size_t i = 0; i < dn->n; i++)
                if (strcmp(dn->nodes[i], target) == 0)
                        return true;
        unsigned card;
        if (strncmp(target, "/dev/snd/", 9) == 0) {
                /* controlC1, pcmC1D0p, hwC1D0: the first C followed by a digit */
                for (const char *c = target + 9; (c = strchr(c, 'C')); c++)
                        if (sscanf(c, "C%u", &card) == 1) {
                                for (size_t i = 0; i < dn->n_cards; i++)
                                        if ((unsigned) dn->cards[i] == card)
                                                return true;
                                break;
                        }
        }
        return false;
}

/* "0::/system.slice/x.service" or "1:name=systemd:/system.slice/x.service":
 * the path of the line for the hierarchy systemd manages, the unified
 * one ("0::") first, else systemd's own named v1 hierarchy. */
static bool cgroup_systemd_path(const char *text, const char **path, size_t *len)
{
        const char *named = NULL;
        size_t named_len = 0;
        for (const char *line = text; line && *line;) {
                const char *end = strchr(line, '\n'), *c1 = strchr(line, ':'), *c2;
                size_t n = end ? (size_t) (end - line) : strlen(line);
                if (c1 && c1 < line + n && (c2 = memchr(c1 + 1, ':', (size_t) (line + n - c1 - 1)))) {
                        if (c1 == line + 1 && line[0] == '0' && c2 == c1 + 1) {
                                *path = c2 + 1;
                                *len = (size_t) (line + n - c2 - 1);
                                return true;
                        }
                        if (!named && (size_t) (c2 - c1 - 1) == strlen("name=systemd") &&
                            strncmp(c1 + 1, "name=systemd", (size_t) (c2 - c1 - 1)) == 0) {
                                named = c2 + 1;
                                named_len = (size_t) (line + n - c2 - 1);
                        }
                }
                line = end ? end + 1 : NULL;
        }
        *path = named;
        *len = named_len;
        return named != NULL;
}

bool hostuse_cgroup_service(const char *text, char *unit, size_t size)
{
        static const char top[] = "/system.slice/";
        const char *path;
        size_t len;

        unit[0] = '\0';
        if (!cgroup_systemd_path(text, &path, &len) || len <= sizeof(top) - 1 ||
            strncmp(path, top, sizeof(top) - 1) != 0)
                return false;
        /* through nested slices (system-getty.slice) to the first unit:
         * a service, with whatever sub-cgroups it delegated below it */
        const char *c = path + sizeof(top) - 1, *end = path + len;
        while (c < end) {
                const char *slash = memchr(c, '/', (size_t) (end - c));
                size_t n = slash ? (size_t) (slash - c) : (size_t) (end - c);
                if (n > 6 && strncmp(c + n - 6, ".slice", 6) == 0 && slash) {
                        c = slash + 1;
                        continue;
                }
                if (n > 8 && strncmp(c + n - 8, ".service", 8) == 0 && n < size) {
                        memcpy(unit, c, n);
                        unit[n] = '\0';
                        return true;
                }
                return false; /* a scope (a container), or a unit name too long to be one */
        }
        return false;
}

/* Processes with the device's nodes open, each with the system service it
 * runs in: *ret (free()) holds *n of them. */
int hostuse_holder_list(const char *bdf, HostHolder **ret, size_t *n_ret)
{
        DeviceNodes dn;
        HostHolder *list = NULL;
        size_t n = 0;

        *ret = NULL;
        *n_ret = 0;
        device_nodes(bdf, &dn);
        if (dn.n == 0 && dn.n_cards == 0)
                return 0;
        DIR *proc = sysfs_opendir("/proc");
        if (!proc)
                return 0;
        struct dirent *de;
        while ((de = readdir(proc))) {
                uint64_t pid;
                char path[128];
                if (parse_u64(de->d_name, 1, 1u << 22, &pid) < 0 || pid == (uint64_t) getpid())
                        continue;
                snprintf(path, sizeof(path), "/proc/%llu/fd", (unsigned long long) pid);
                DIR *fds = sysfs_opendir(path);
                if (!fds)
                        continue; /* gone, or a kernel thread */
                struct dirent *fe;
                bool holds = false;
                while (!holds && (fe = readdir(fds))) {
                        char link[160], target[256];
                        if (fe->d_name[0] == '.')
                                continue;
                        snprintf(link, sizeof(link), "%s/%.20s", path, fe->d_name);
                        if (sysfs_readlink(link, target, sizeof(target)) > 0 && node_matches(&dn, target))
                                holds = true;
                }
                closedir(fds);
                if (!holds)
                        continue;
                HostHolder *a = realloc(list, (n + 1) * sizeof(*a));
                if (!a) {
                        closedir(proc);
                        free(list);
                        return -ENOMEM;
                }
                list = a;
                HostHolder *h = &list[n++];
                memset(h, 0, sizeof(*h));
                h->pid = (unsigned long long) pid;
                snprintf(h->comm, sizeof(h->comm), "?");
                snprintf(path, sizeof(path), "/proc/%llu/comm", h->pid);
                sysfs_read(path, h->comm, sizeof(h->comm));
                char *cgroup = NULL;
                snprintf(path, sizeof(path), "/proc/%llu/cgroup", h->pid);
                if (sysfs_read_alloc(path, 65536, &cgroup, NULL) == 0) {
                        hostuse_cgroup_service(cgroup, h->unit, sizeof(h->unit));
                        free(cgroup);
                }
        }
        closedir(proc);
        *ret = list;
        *n_ret = n;
        return (int) n;
}

/* "Xorg (pid 4242), ..." into buf; returns how many. */
int hostuse_holders(const char *bdf, char *buf, size_t size)
{
        HostHolder *h = NULL;
        size_t n = 0, len = 0;

        buf[0] = '\0';
        if (hostuse_holder_list(bdf, &h, &n) < 0)
                return 0;
        for (size_t i = 0; i < n; i++)
                if (len < size)
                        len += (size_t) snprintf(buf + len, size - len, "%s%s (pid %llu)", i ? ", " : "", h[i].comm,
                                                 h[i].pid);
        free(h);
        return (int) n;
}
