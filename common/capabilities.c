/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The table of capabilities, shared by the hooks and the vmprep command. */
#include "hook.h"

#include "cpus.h"
#include "display.h"
#include "hugepages.h"
#include "journal.h"
#include "log.h"
#include "shmem.h"
#include "sriov.h"
#include "tune.h"
#include "vfio.h"

#include <string.h>

static const Capability capabilities[] = {
        {
                .name = "vfio",
                .prepare = vfio_prepare,
                .release = vfio_release,
                .reconnect = vfio_reconnect,
        },
        {
                .name = "hugepages",
                .prepare = hugepages_prepare,
                .started = hugepages_started,
                .release = hugepages_release,
                .reconnect = hugepages_reconnect,
                .check = hugepages_check,
        },
        {
                .name = "cpus",
                .prepare = cpus_prepare,
                .started = cpus_started,
                .release = cpus_release,
                .reconnect = cpus_reconnect,
        },
        {
                .name = "tune",
                .prepare = tune_prepare,
                .release = tune_release,
                .reconnect = tune_reconnect,
        },
};

const Capability *capabilities_all(size_t *n)
{
        *n = sizeof(capabilities) / sizeof(capabilities[0]);
        return capabilities;
}

int capability_plan(const Capability *c, const Domain *d, const Profile *p, Plan *plan)
{
        journal_plan_begin(plan);
        log_set_narration(false);
        int r = c->prepare(d, p);
        log_set_narration(true);
        journal_plan_end();
        return r;
}

/* The custom kinds of journal step and what undoes each: a journal any
 * capability wrote can be undone by any hook or `vmprep reconcile`. */
static const struct {
        const char *kind;
        JournalUndoFn fn;
} undo_kinds[] = {
        { "bind", vfio_undo_bind },             /* vfio: a device to vfio-pci */
        { "reset", vfio_undo_reset },           /* vfio: a device's reset_method */
        { "module", vfio_undo_module },         /* vfio: a module unloaded */
        { "unit", display_undo_unit },          /* vfio: a systemd unit stopped */
        { "platform", display_undo_platform },  /* vfio: the boot framebuffer unbound */
        { "numvfs", sriov_undo_numvfs },        /* vfio: a PF's VF count */
        { "vf", sriov_undo_vf },                /* vfio: a VF's MAC, VLAN, trust, spoofchk */
        { "claim", cpus_undo_claim },           /* cpus: the CPUs a VM claims */
        { "restore", cpus_undo_restore },       /* cpus: a cgroup or IRQ file */
        { "cg1host", cpus_undo_cg1host },       /* cpus: the cgroup v1 host cpuset */
        { "cg2ctl", cpus_undo_cg2ctl },         /* cpus: cpuset in the root's subtree_control */
        { "sdcpus", cpus_undo_sdcpus },         /* cpus: a unit's AllowedCPUs= */
        { "shared", tune_undo_shared },         /* tune: a tunable VMs share */
        { "shmem", shmem_undo_file },           /* tune: a /dev/shm file made */
        { "shmemuse", shmem_undo_use },         /* tune: a /dev/shm file found */
        { "owner", shmem_undo_owner },          /* tune: a file's owner and mode */
};

JournalUndoFn journal_undo_fn(const char *kind)
{
        for (size_t i = 0; i < sizeof(undo_kinds) / sizeof(undo_kinds[0]); i++)
                if (strcmp(kind, undo_kinds[i].kind) == 0)
                        return undo_kinds[i].fn;
        return NULL;
}

const Capability *capability_find(const char *name)
{
        for (size_t i = 0; i < sizeof(capabilities) / sizeof(capabilities[0]); i++)
                if (strcmp(name, capabilities[i].name) == 0)
                        return &capabilities[i];
        return NULL;
}
