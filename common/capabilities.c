/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The table of capabilities, shared by the hooks and the vmprep command. */
#include "hook.h"

#include "cpus.h"
#include "hugepages.h"
#include "journal.h"
#include "log.h"
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

const Capability *capability_find(const char *name)
{
        for (size_t i = 0; i < sizeof(capabilities) / sizeof(capabilities[0]); i++)
                if (strcmp(name, capabilities[i].name) == 0)
                        return &capabilities[i];
        return NULL;
}
