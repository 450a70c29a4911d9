/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "hostuse.h"

#include "parse.h"
#include "pci.h"
#include "sysfs.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* /proc/net/route: "Iface Destination Gateway Flags RefCnt Use Metric Mask ..."
 * with addresses as little-endian hex. */
bool hostuse_route_uses(const char *text, const char *ifname, char *why, size_t size)
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
                                snprintf(why, size, "it carries the default route");
                                return true;
                        }
                        if (!found) {
                                int bits = __builtin_popcount(mask);
                                snprintf(why, size, "it has a host address (route to %u.%u.%u.%u/%d)", dest & 0xff,
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
bool hostuse_inet6_uses(const char *text, const char *ifname, char *why, size_t size)
{
        const char *line = text;

        while (line && *line) {
                char addr[40], iface[64];
                unsigned idx, plen, scope, flags;
                if (sscanf(line, "%39s %x %x %x %x %63s", addr, &idx, &plen, &scope, &flags, iface) == 6 &&
                    strcmp(iface, ifname) == 0 && scope == 0) {
                        snprintf(why, size, "it has the host address %.4s:%.4s:%.4s:%.4s::/%u", addr, addr + 4,
                                 addr + 8, addr + 12, plen);
                        return true;
                }
                line = strchr(line, '\n');
                if (line)
                        line++;
        }
        return false;
}


/* Does the block device MAJ:MIN sit on this PCI device, directly or
 * through device-mapper/md slaves? */
static bool block_on_device(const char *majmin, const char *bdf, int depth)
{
        char path[128], target[SYSFS_PATH_MAX], needle[PCI_ADDRESS_STRLEN + 2];

        if (depth > 4)
                return false;
        snprintf(path, sizeof(path), "/sys/dev/block/%s", majmin);
        if (sysfs_readlink(path, target, sizeof(target)) < 0)
                return false;
        snprintf(needle, sizeof(needle), "/%s/", bdf);
        if (strstr(target, needle))
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

/* The first mounted filesystem on the device: "/var (/dev/nvme0n1p1)". */
bool hostuse_mounted(const char *bdf, char *why, size_t size)
{
        char *text = NULL;
        bool found = false;

        if (sysfs_read_alloc("/proc/self/mountinfo", 4 << 20, &text, NULL) < 0)
                return false;
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line && !found; line = strtok_r(NULL, "\n", &save)) {
                /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ... - FSTYPE SOURCE SUPER */
                char majmin[32], mnt[512], source[256] = "?";
                if (sscanf(line, "%*u %*u %31s %*s %511s", majmin, mnt) != 2)
                        continue;
                const char *dash = strstr(line, " - ");
                if (dash)
                        sscanf(dash, " - %*s %255s", source);
                if (strncmp(majmin, "0:", 2) == 0)
                        continue; /* no block device behind it */
                if (block_on_device(majmin, bdf, 0)) {
                        snprintf(why, size, "it holds the mounted filesystem %.300s (%.120s)", mnt, source);
                        found = true;
                }
        }
        free(text);
        return found;
}

/* The interface names of a network device (its net/ directory). */
bool hostuse_network(const char *bdf, char *why, size_t size)
{
        char path[128];
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/net", bdf);
        DIR *dir = sysfs_opendir(path);
        if (!dir)
                return false;
        char *route = NULL, *inet6 = NULL;
        sysfs_read_alloc("/proc/net/route", 4 << 20, &route, NULL);
        sysfs_read_alloc("/proc/net/if_inet6", 4 << 20, &inet6, NULL);
        bool found = false;
        struct dirent *de;
        while (!found && (de = readdir(dir))) {
                char reason[160];
                if (de->d_name[0] == '.')
                        continue;
                if ((route && hostuse_route_uses(route, de->d_name, reason, sizeof(reason))) ||
                    (inet6 && hostuse_inet6_uses(inet6, de->d_name, reason, sizeof(reason)))) {
                        snprintf(why, size, "it is the host's network interface %.64s and %s", de->d_name, reason);
                        found = true;
                }
        }
        closedir(dir);
        free(route);
        free(inet6);
        return found;
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

/* Processes with the device's nodes open: "Xorg (pid 4242), ..." into buf;
 * returns how many.  A process whose pid is in skip is not counted. */
int hostuse_holders(const char *bdf, char *buf, size_t size)
{
        DeviceNodes dn;
        int count = 0;
        size_t len = 0;

        buf[0] = '\0';
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
                char comm[64] = "?";
                snprintf(path, sizeof(path), "/proc/%llu/comm", (unsigned long long) pid);
                sysfs_read(path, comm, sizeof(comm));
                if (len < size)
                        len += (size_t) snprintf(buf + len, size - len, "%s%s (pid %llu)", count ? ", " : "", comm,
                                                 (unsigned long long) pid);
                count++;
        }
        closedir(proc);
        return count;
}
