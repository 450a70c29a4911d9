/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Host use of block devices: mounts, swap, holders, pools (hostuse.h). */
#include "hostuse_impl.h"

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
bool hostuse_block_name_on_device(const char *name, const char *bdf)
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
bool hostuse_dev_kernel_name(const char *devpath, char *name, size_t size)
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
                if (hostuse_dev_kernel_name(part, name, sizeof(name)))
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
                found = hostuse_block_name_on_device(names[i], bdf);
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
                                if (hostuse_block_name_on_device(m.name[i], bdf) && len < sizeof(on))
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
                if (hostuse_dev_kernel_name(path, name, sizeof(name)) && hostuse_block_name_on_device(name, bdf)) {
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
