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
 * hosts (common/display), the system services holding the devices' nodes
 * stopped (nvidia-persistenced; stop-services=), vfio-pci loaded if
 * missing, each device bound, reset-method written to the reset_method of
 * the devices it is for, unload-modules unloaded, /dev/vfio/N waited for.
 * A reset-method a device does not offer is refused with the checks,
 * before any change.  Any failure undoes the journal; release undoes it
 * too, newest first, so everything comes back in the reverse order.
 *
 * Journal steps (capability "vfio"):
 *   bind    pci/BDF  /sys/bus/pci/devices/BDF  OLD="DRIVER/OVERRIDE"  NEW=vfio-pci
 *   reset   pci/BDF/reset_method  /sys/bus/pci/devices/BDF/reset_method
 *                                     OLD=the methods it listed  NEW=reset-method
 *   module  module   /sys/module/NAME          OLD=loaded             NEW=unloaded
 *   unit    holder/UNIT /systemd/UNIT          OLD=active             NEW=inactive
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

/*
 * reset-method (<vmprep:vfio>'s for every device the VM is given, a
 * <vmprep:device>'s own for that device): does a device whose
 * reset_method lists `offered` (blank-separated, as the kernel shows it)
 * take `want`?  "default" always; otherwise each method must be offered,
 * named once, and "default" not mixed in.  0, or -EINVAL with the reason
 * in why (which names the methods offered).
 */
int vfio_reset_method_check(const char *want, const char *offered, char *why, size_t size);

/* The name of the VM whose vfio journal holds uuid, as "NAME (UUID)", or the uuid. */
void vfio_vm_name(const char *uuid, char *buf, size_t size);

/* Hook phases. */
int vfio_prepare(const Domain *d, const Profile *p);
int vfio_release(const char *uuid, const char *name);
int vfio_reconnect(const char *uuid);
#include "plan.h"

/* Undo of "bind", "reset" and "module" (the table in capabilities.c). */
int vfio_undo_bind(const JournalStep *s, const UndoContext *ctx);
int vfio_undo_reset(const JournalStep *s, const UndoContext *ctx);
int vfio_undo_module(const JournalStep *s, const UndoContext *ctx);
