/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * PCI devices as sysfs shows them, read through the kernel gateway
 * (common/sysfs) so that the same code reads this host and a fake tree:
 *
 *   /sys/bus/pci/devices/BDF/{vendor,device,class}   "0x10de", "0x030000"
 *   /sys/bus/pci/devices/BDF/driver                  -> .../drivers/NAME (absent: unbound)
 *   /sys/bus/pci/devices/BDF/driver_override         "(null)" when unset
 *   /sys/bus/pci/devices/BDF/iommu_group             -> .../iommu_groups/N
 *   /sys/kernel/iommu_groups/N/devices/BDF           the group's members
 *   /sys/bus/pci/devices/BDF/{boot_vga,numa_node,sriov_totalvfs,sriov_numvfs}
 *   /sys/bus/pci/devices/BDF/{physfn,virtfnN}        SR-IOV links
 *
 * libpci is the field's library for enumeration and config space, but it
 * hard-codes /sys and has no notion of drivers or groups; nothing here
 * needs config space, so vmprep does without it.
 */
#pragma once

#include "parse.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCI_DRIVER_MAX 64
#define PCI_CLASS_BRIDGE_PCI 0x0604   /* class >> 8 */
#define PCI_CLASS_DISPLAY 0x03        /* class >> 16 */
#define PCI_CLASS_STORAGE 0x01
#define PCI_CLASS_NETWORK 0x02

typedef struct PciDevice {
        PciAddress addr;
        char bdf[PCI_ADDRESS_STRLEN];
        unsigned vendor, device;
        uint32_t class_;                       /* 24 bits: base, sub, prog-if */
        char driver[PCI_DRIVER_MAX];           /* "" when unbound */
        char driver_override[PCI_DRIVER_MAX];  /* "" when unset ("(null)") */
        int iommu_group;                       /* -1: no IOMMU group */
        bool boot_vga;
        int numa_node;                         /* -1: unknown */
        int sriov_totalvfs;                    /* -1: not SR-IOV capable */
        int sriov_numvfs;
        bool is_vf;
        PciAddress physfn;                     /* valid when is_vf */
} PciDevice;

/* "/sys/bus/pci/devices/BDF" or ".../BDF/file" (file may be NULL). */
void pci_device_path(const PciAddress *a, const char *file, char *buf, size_t size);

/* Read one device; -ENOENT (and no message) when there is no such device. */
int pci_device_read(const PciAddress *a, PciDevice *ret);
/* The address VF index of a PF has (or will have once created): the PF's
 * routing ID plus sriov_offset plus index times sriov_stride. */
int pci_vf_address(const PciAddress *pf, unsigned index, PciAddress *ret);

/* A PCI-to-PCI bridge (class 0x0604): VFIO leaves those to the host. */
static inline bool pci_device_is_bridge(const PciDevice *d) { return (d->class_ >> 8) == PCI_CLASS_BRIDGE_PCI; }

/* The device's driver right now ("" when unbound); -errno on failure. */
int pci_device_driver(const PciAddress *a, char *buf, size_t size);

/* Members of IOMMU group n, sorted by address (malloc'd array). */
int pci_group_members(int group, PciAddress **ret, size_t *n);

/* The address of VF index of a PF (its virtfnN link); -ENOENT if none. */
int pci_device_virtfn(const PciAddress *pf, unsigned index, PciAddress *ret);

/* The basename of a symlink's target ("../../bus/pci/drivers/nvidia" → "nvidia"). */
int pci_link_basename(const char *path, char *buf, size_t size);

/* Is there a driver directory /sys/bus/pci/drivers/NAME? */
bool pci_driver_present(const char *name);
