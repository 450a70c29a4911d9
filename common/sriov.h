/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SR-IOV, part of the vfio capability: <vmprep:sriov pf= vfs= autoprobe=>
 * makes the PF have at least vfs VFs before the VM's devices are bound,
 * and sets each <vmprep:vf index= mac= vlan= qos= trust= spoofchk=> on
 * the PF over rtnetlink (common/netvf).
 *
 * sriov_numvfs changes only through 0, which removes every VF: the count is
 * raised only when no other running VM holds VFs of that PF (ledger hold
 * "sriov/PF"), and the previous count and sriov_drivers_autoprobe come back
 * when the last VM holding them stops (the duty is handed over in the
 * ledger as "sriov-restore/PF/COUNT/AUTOPROBE" when others still run).
 *
 * Journal steps: numvfs  sriov/PF      .../PF/sriov_numvfs  OLD="COUNT/AUTOPROBE"  NEW=COUNT
 *                vf      sriov/PF/vfN  .../PF/virtfnN       OLD, NEW: netvf_format()
 */
#pragma once

#include "domain.h"
#include "journal.h"
#include "pci.h"
#include "plan.h"
#include "profile.h"

#include <stdbool.h>

/* Create VFs and apply VF settings for every <vmprep:sriov> of the profile:
 * the count is raised only when no VF of the PF is in use (bound to a host
 * driver, a running VM's device, in a libvirt hostdev network's pool, its
 * /dev/vfio open); with enough VFs there it is not written at all and the
 * VFs the VM asks for must be free.  Refusals name each VF and its user. */
int sriov_prepare(Journal *j, Ledger *l, const Domain *d, const Profile *p);
/* Register the undo functions; l and uuid are the release in progress
 * (the numvfs undo consults the ledger for other holders). */
/* Undo of "numvfs" and "vf" (the table in capabilities.c): a VF count goes
 * to another running VM that still uses the PF's VFs, as a duty it keeps. */
int sriov_undo_numvfs(const JournalStep *s, const UndoContext *ctx);
int sriov_undo_vf(const JournalStep *s, const UndoContext *ctx);
/* After the journal was undone: drop this VM's holds on PFs and carry out
 * (or hand over) the restores that fell to it. */
int sriov_end_release(Ledger *l, const char *uuid, const Journal *j);
/* Is a "numvfs" step (a count that could not be given back while others
 * used its VFs) all that is left live in the VM's vfio journal j? */
bool sriov_only_counts_left(const Journal *j);
/* For the vfio interlocks, a device of any kind that is another's whatever
 * vmprep's force says: a running VM's <hostdev> or <interface
 * type='hostdev'>, a libvirt hostdev network's pool (a VF in it, or the PF
 * its <pf dev=> names), a /dev/vfio group held by a process (on vfio-pci).
 * 1 with why filled, 0, or -errno. */
int sriov_device_user(const char *uuid, const Ledger *l, const PciDevice *dev, char *why, size_t size);
/* Who uses the existing VFs of pf (sriov_numvfs of them), "; "-separated
 * into buf: their number, or -errno.  Unbinding a PF's driver removes its
 * VFs as sriov_numvfs 0 does. */
int sriov_vfs_in_use(const char *uuid, const Ledger *l, const PciDevice *pf, char *buf, size_t size);
/* vmprep plan: is a a VF that this plan's prepare re-creates (its PF's
 * count raised through 0)?  Then it comes up unbound (autoprobe off) or on
 * the PF's VF driver; *autoprobe says which. */
bool sriov_planned_vf(const PciAddress *a, bool *autoprobe);
/* The same, and the PF it is a VF of (pf may be NULL). */
bool sriov_planned_vf_of(const PciAddress *a, bool *autoprobe, PciAddress *pf);
