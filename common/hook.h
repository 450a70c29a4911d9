/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one hook main shared by every capability: argv as libvirt passes it
 * (after the capability name), the domain XML on stdin, nothing on stdout,
 * one clear stderr line on failure.  Exit status: 0 success, 1 failure
 * (libvirt aborts the start, or the incoming migration), 2 usage.
 */
#pragma once

#include "domain.h"
#include "plan.h"
#include "profile.h"

#include <stddef.h>

/*
 * A capability (hugepages, vfio, cpus, tune): what it does in each libvirt
 * operation.  NULL means nothing.  prepare gets the effective profile
 * (never NULL); the others need only what the journal says, so that a VM
 * untagged while running is still given back.  reconnect must not fail the
 * VM: its result is logged, and the hook exits 0 anyway.
 */
typedef struct Capability {
        const char *name;
        int (*prepare)(const Domain *d, const Profile *p);
        int (*started)(const Domain *d, const Profile *p);
        int (*release)(const char *uuid, const char *name);
        int (*reconnect)(const char *uuid);
        /* What prepare needs that its plan does not check (room in a shared
         * pool), for the migrate phase; NULL when the plan says it all. */
        int (*check)(const Domain *d, const Profile *p); /* logs why not */
} Capability;

/* Every capability vmprep has (common/capabilities.c), and one by name. */
const Capability *capabilities_all(size_t *n);
const Capability *capability_find(const char *name);
/* vmprep plan: the capability's own prepare in plan mode (journal.h): the
 * steps it would journal now go to plan, and nothing is changed.  Refusals
 * are logged as prepare logs them; returns prepare's result. */
int capability_plan(const Capability *c, const Domain *d, const Profile *p, Plan *plan);

int hook_main(int argc, char **argv);

/* log_set_sink() target: appends to /run/vmprep/events.log when that
 * directory exists (the hooks and `vmprep reconcile` use it). */
void hook_events_sink(int level, const char *line);
