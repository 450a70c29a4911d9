/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Looking Glass shared memory (<vmprep:shmem>), carried by the tune hook
 * (40-vmprep-tune) in its journal:
 *
 *   <vmprep:shmem name='NAME' owner='USER' group='GROUP' mode='0660'/>
 *     The domain's <shmem name='NAME'><model type='ivshmem-plain'/>
 *     <size unit='M'>32</size></shmem> is a file QEMU maps from
 *     /dev/shm/NAME.  Before QEMU starts (prepare) vmprep creates it, sized
 *     as the domain says, owned and moded as asked, so that the Looking
 *     Glass client (run by USER) can open it; at release it is removed if
 *     vmprep created it.  A file that was there before is kept: only its
 *     owner and mode are changed, and given back.
 *
 *   <vmprep:shmem device='/dev/kvmfrN' owner='USER' group='GROUP' mode='0660'/>
 *     The kvmfr module's device: owner and mode set at prepare and given
 *     back at release.
 *
 * Journal steps (custom kinds, undone by the shmem_undo_* functions):
 *   shmem  RESOURCE=shmem:/dev/shm/NAME  OLD "absent"  NEW "SIZE UID:GID:MODE"
 *          undo: remove the file, unless another running VM holds it
 *   shmemuse  RESOURCE=shmem:/dev/shm/NAME  OLD "present"  NEW "present"
 *          a file that was there before: only the VM's hold on it
 *          undo: drop the hold, the file stays
 *   owner  RESOURCE=shmem:PATH  OLD "UID:GID:MODE"  NEW "UID:GID:MODE"
 *          undo: chown and chmod back to OLD
 * Each VM that uses a /dev/shm file holds "shmem:PATH" in the ledger.
 */
#pragma once

#include "domain.h"
#include "journal.h"
#include "plan.h"
#include "profile.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct ShmemItem {
        bool device;          /* a kvmfr device, not a /dev/shm file */
        char path[320];       /* /dev/shm/NAME or /dev/kvmfrN */
        uint64_t size;        /* bytes (files only), from the domain's <size> */
        char model[32];       /* the domain's <model type>, "" when absent */
        char owner[64], group[64]; /* as the profile names them, "" when absent */
        uid_t uid;            /* (uid_t) -1: leave as it is */
        gid_t gid;            /* (gid_t) -1: leave as it is */
        mode_t mode;
} ShmemItem;

/*
 * The files and devices the profile's <vmprep:shmem> elements ask for,
 * matched against the domain's <shmem> devices, users and groups resolved
 * (getpwnam_r/getgrnam_r).  -EINVAL with a sentence in err naming element,
 * attribute and value: a name the domain has no <shmem> for, a model other
 * than ivshmem-plain, an unknown user or group.  *n = 0 when none is asked.
 */
int shmem_items(const Domain *d, const Profile *p, ShmemItem **ret, size_t *n, char *err, size_t errlen);

/* Apply every item through j (the tune journal) and the ledger l, locked. */
int shmem_apply(Journal *j, Ledger *l, const Domain *d, const ShmemItem *items, size_t n);

/* Register the undo functions of the shmem and owner steps; the undo of a
 * shmem step needs the ledger and the VM: set them around journal_release. */
/* Undo of "shmem", "shmemuse" and "owner" (the table in capabilities.c). */
int shmem_undo_file(const JournalStep *s, const UndoContext *ctx);
int shmem_undo_use(const JournalStep *s, const UndoContext *ctx);
int shmem_undo_owner(const JournalStep *s, const UndoContext *ctx);


/*
 * vmprep doctor VM: one line per problem into buf, each
 * "fail|warn\tCHECK\tDETAIL\tFIX\n":
 * a size that is not a power of two, an unknown owner or group, an AppArmor
 * host whose libvirt profile does not name the file, SELinux enforcing.
 * Returns how many; 0 and buf "" when all is well or nothing is asked.
 */
int shmem_doctor(const Domain *d, const Profile *p, char *buf, size_t size);
