/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vfio: the PCI devices a VM is given (<hostdev type='pci'>, <interface
 * type='hostdev'>, <vmprep:device>) moved to vfio-pci with their whole
 * IOMMU group before QEMU starts, and returned to exactly the driver and
 * driver_override they had after it stops.  Devices the host is using are
 * refused unless the profile says force="yes".
 *
 * prepare, in this order, under the ledger lock: SR-IOV VFs (common/sriov),
 * the devices and their groups collected and checked (common/hostuse says
 * what the host uses), holds taken, the display taken down on single-GPU
 * hosts (common/display), vfio-pci loaded if missing, each device bound,
 * unload-modules unloaded, /dev/vfio/N waited for.  Any failure undoes the
 * journal; release undoes it too, newest first, so everything comes back in
 * the reverse order.
 *
 * Journal steps (capability "vfio"):
 *   bind    pci/BDF  /sys/bus/pci/devices/BDF  OLD="DRIVER/OVERRIDE"  NEW=vfio-pci
 *   module  module   /sys/module/NAME          OLD=loaded             NEW=unloaded
 *   and sriov.h's numvfs/vf, display.h's unit/vtconsole/platform steps.
 * Ledger: "pci/BDF" 1 while a VM has the device (sriov.h: "sriov/PF").
 */
#pragma once

#include "domain.h"
#include "journal.h"
#include "profile.h"

#include <stdbool.h>
#include <stddef.h>

/* How long to wait for /dev/vfio/N after binding a group. */
#define VFIO_DEV_WAIT_MS 5000

/* "nvidia/" ↔ driver "nvidia", no override; "/" is unbound, no override. */
int vfio_origin_encode(const char *driver, const char *override, char *buf, size_t size);
int vfio_origin_decode(const char *s, char *driver, size_t dsize, char *override, size_t osize);

/* The name of the VM whose vfio journal holds uuid, as "NAME (UUID)", or the uuid. */
void vfio_vm_name(const char *uuid, char *buf, size_t size);

/* Hook phases. */
int vfio_prepare(const Domain *d, const Profile *p);
int vfio_release(const char *uuid, const char *name);
int vfio_reconnect(const char *uuid);
#include "plan.h"
