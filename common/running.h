/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The VMs that run on this host beside the one a hook works for, tagged or
 * not, read from libvirt's status files: /run/libvirt/qemu/NAME.xml holds
 * <domstatus pid='QEMU PID' ...> with the live <domain id='N'> inside
 * (libvirtd and virtqemud write the same files).  A hook cannot ask libvirt
 * (libvirtd waits for the hook and would deadlock), so this is how it learns
 * what other VMs hold: their host devices, pins, disks and interfaces.
 *
 * A status file whose QEMU is gone is a VM that is not running (libvirt
 * removes the file at stop; a crash of libvirtd can leave one behind).
 */
#pragma once

#include "domain.h"
#include "parse.h"

#include <sys/types.h>

#define RUNNING_STATUS_DIR "/run/libvirt/qemu"

typedef struct RunningVm {
        char *name;                   /* from the file's <name> (or the file name) */
        char uuid[UUID_STRLEN];       /* "" when the status file has none */
        pid_t pid;                    /* QEMU's pid (alive when listed) */
        int id;                       /* libvirt's domain id, -1 when unknown */
        Domain *domain;               /* the live domain; NULL when it did not parse */
        char err[256];                /* why domain is NULL */
} RunningVm;

/*
 * The running VMs other than skip_uuid (NULL or "" skips none), in the
 * natural order of their status file names.  A status file that cannot be
 * read or whose QEMU pid is dead is left out; one whose <domain> vmprep's
 * reader rejects is listed with domain NULL and err set (the caller decides
 * whether it may go on without knowing what that VM holds).  Returns 0, or
 * -errno when the list could not be made (a missing status directory is an
 * empty list).  Free with running_vms_free().
 */
int running_vms(const char *skip_uuid, RunningVm **ret, size_t *n);
void running_vms_free(RunningVm *vms, size_t n);
