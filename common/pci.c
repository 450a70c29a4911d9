/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "pci.h"

#include "sysfs.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void pci_device_path(const PciAddress *a, const char *file, char *buf, size_t size)
{
        char bdf[PCI_ADDRESS_STRLEN];
        pci_address_format(a, bdf);
        if (file)
                snprintf(buf, size, "/sys/bus/pci/devices/%s/%s", bdf, file);
        else
                snprintf(buf, size, "/sys/bus/pci/devices/%s", bdf);
}

int pci_link_basename(const char *path, char *buf, size_t size)
{
        char target[SYSFS_PATH_MAX];
        int r = sysfs_readlink(path, target, sizeof(target));
        if (r < 0)
                return r;
        const char *slash = strrchr(target, '/');
        const char *base = slash ? slash + 1 : target;
        if (!*base || strlen(base) >= size)
                return -EINVAL;
        snprintf(buf, size, "%s", base);
        return 0;
}

/* "0x10de" → 0x10de, strictly. */
static int read_hex(const PciAddress *a, const char *file, uint64_t max, uint64_t *ret)
{
        char path[256], buf[64];
        pci_device_path(a, file, path, sizeof(path));
        int r = sysfs_read(path, buf, sizeof(buf));
        if (r < 0)
                return r;
        if (strncmp(buf, "0x", 2) != 0)
                return -EINVAL;
        return parse_u64_c(buf, max, ret);
}

static int read_int(const PciAddress *a, const char *file, int def)
{
        char path[256];
        int64_t v;
        pci_device_path(a, file, path, sizeof(path));
        if (sysfs_read_i64(path, &v) < 0 || v < -1 || v > 1000000)
                return def;
        return (int) v;
}

int pci_device_driver(const PciAddress *a, char *buf, size_t size)
{
        char path[256];
        pci_device_path(a, "driver", path, sizeof(path));
        int r = pci_link_basename(path, buf, size);
        if (r == -ENOENT) {
                buf[0] = '\0';
                return 0;
        }
        return r;
}

int pci_device_read(const PciAddress *a, PciDevice *ret)
{
        char path[256], buf[256];
        uint64_t v;
        PciDevice d;
        int r;

        memset(&d, 0, sizeof(d));
        d.addr = *a;
        pci_address_format(a, d.bdf);
        pci_device_path(a, NULL, path, sizeof(path));
        if (!sysfs_exists(path))
                return -ENOENT;

        r = read_hex(a, "vendor", 0xffff, &v);
        if (r < 0)
                return r;
        d.vendor = (unsigned) v;
        r = read_hex(a, "device", 0xffff, &v);
        if (r < 0)
                return r;
        d.device = (unsigned) v;
        r = read_hex(a, "class", 0xffffff, &v);
        if (r < 0)
                return r;
        d.class_ = (uint32_t) v;

        r = pci_device_driver(a, d.driver, sizeof(d.driver));
        if (r < 0)
                return r;

        /* The kernel shows an unset override as "(null)". */
        pci_device_path(a, "driver_override", path, sizeof(path));
        r = sysfs_read(path, buf, sizeof(buf));
        if (r >= 0 && strcmp(buf, "(null)") != 0) {
                if ((size_t) r >= sizeof(d.driver_override))
                        return -ENAMETOOLONG;
                memcpy(d.driver_override, buf, (size_t) r + 1);
        }

        d.iommu_group = -1;
        pci_device_path(a, "iommu_group", path, sizeof(path));
        if (pci_link_basename(path, buf, sizeof(buf)) == 0 && parse_u64(buf, 0, 1000000, &v) == 0)
                d.iommu_group = (int) v;

        d.boot_vga = read_int(a, "boot_vga", 0) == 1;
        d.numa_node = read_int(a, "numa_node", -1);
        d.sriov_totalvfs = read_int(a, "sriov_totalvfs", -1);
        d.sriov_numvfs = d.sriov_totalvfs >= 0 ? read_int(a, "sriov_numvfs", 0) : -1;

        pci_device_path(a, "physfn", path, sizeof(path));
        if (pci_link_basename(path, buf, sizeof(buf)) == 0 && pci_address_parse(buf, &d.physfn) == 0)
                d.is_vf = true;
        *ret = d;
        return 0;
}

static int addr_cmp(const void *x, const void *y)
{
        const PciAddress *a = x, *b = y;
        uint64_t ka = ((uint64_t) a->domain << 16) | ((unsigned) a->bus << 8) | ((unsigned) a->slot << 3) | a->function;
        uint64_t kb = ((uint64_t) b->domain << 16) | ((unsigned) b->bus << 8) | ((unsigned) b->slot << 3) | b->function;
        return ka < kb ? -1 : ka > kb;
}

int pci_group_members(int group, PciAddress **ret, size_t *n)
{
        char path[128];
        PciAddress *arr = NULL;
        size_t count = 0;

        snprintf(path, sizeof(path), "/sys/kernel/iommu_groups/%d/devices", group);
        DIR *dir = sysfs_opendir(path);
        if (!dir)
                return -errno;
        struct dirent *de;
        while ((de = readdir(dir))) {
                PciAddress a;
                if (de->d_name[0] == '.' || pci_address_parse(de->d_name, &a) < 0)
                        continue;
                PciAddress *na = realloc(arr, (count + 1) * sizeof(*arr));
                if (!na) {
                        free(arr);
                        closedir(dir);
                        return -ENOMEM;
                }
                arr = na;
                arr[count++] = a;
        }
        closedir(dir);
        qsort(arr, count, sizeof(*arr), addr_cmp);
        *ret = arr;
        *n = count;
        return 0;
}

int pci_vf_address(const PciAddress *pf, unsigned index, PciAddress *ret)
{
        char path[256];
        uint64_t offset, stride;
        pci_device_path(pf, "sriov_offset", path, sizeof(path));
        int r = sysfs_read_u64(path, &offset);
        if (r < 0)
                return r;
        pci_device_path(pf, "sriov_stride", path, sizeof(path));
        r = sysfs_read_u64(path, &stride);
        if (r < 0)
                return r;
        uint64_t rid = ((uint64_t) pf->bus << 8 | (uint64_t) pf->slot << 3 | pf->function) + offset + stride * index;
        if (rid > 0xffff)
                return -ERANGE;
        *ret = (PciAddress){ .domain = pf->domain, .bus = (uint8_t) (rid >> 8), .slot = (uint8_t) ((rid >> 3) & 0x1f),
                             .function = (uint8_t) (rid & 7) };
        return 0;
}

int pci_device_virtfn(const PciAddress *pf, unsigned index, PciAddress *ret)
{
        char file[32], path[256], buf[64];
        snprintf(file, sizeof(file), "virtfn%u", index);
        pci_device_path(pf, file, path, sizeof(path));
        int r = pci_link_basename(path, buf, sizeof(buf));
        if (r < 0)
                return r;
        return pci_address_parse(buf, ret);
}

bool pci_driver_present(const char *name)
{
        char path[256];
        if (!name_is_valid(name))
                return false;
        snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s", name);
        return sysfs_exists(path);
}
