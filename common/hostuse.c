/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "hostuse_impl.h"

/* ---- input ---- */

/* EV_KEY with EV_REP is a keyboard, EV_REL a mouse (include/uapi/linux/
 * input-event-codes.h); /sys/class/input/inputN/capabilities/ev is that
 * bitmap in hex.  One that cannot be read counts as the host's. */
#define EV_KEY_BIT (1ull << 0x01)
#define EV_REL_BIT (1ull << 0x02)
#define EV_REP_BIT (1ull << 0x14)

/* ---- running VMs ---- */

bool hostuse_running_vm(const char *bdf, const RunningVm *vms, size_t n_vms, char *why, size_t size)
{
        for (size_t v = 0; v < n_vms; v++) {
                const Domain *d = vms[v].domain;
                for (size_t i = 0; d && i < d->n_disk_devs; i++) {
                        char name[64];
                        if (hostuse_dev_kernel_name(d->disk_devs[i], name, sizeof(name)) && hostuse_block_name_on_device(name, bdf)) {
                                snprintf(why, size, "the running VM %.100s has %.200s (%s) on it as a <disk "
                                         "type='block'>", vms[v].name, d->disk_devs[i], name);
                                return true;
                        }
                }
        }
        char **ifs = NULL;
        size_t n_ifs = 0;
        bool found = false, had_net_dir;
        if (hostuse_device_netdevs(bdf, &ifs, &n_ifs, &had_net_dir) < 0)
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
