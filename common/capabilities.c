/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The table of capabilities, shared by the hooks and the vmprep command. */
#include "hook.h"

#include "cpus.h"
#include "hugepages.h"
#include "tune.h"
#include "vfio.h"

#include <string.h>

static const Capability capabilities[] = {
        {
                .name = "vfio",
                .prepare = vfio_prepare,
                .release = vfio_release,
                .reconnect = vfio_reconnect,
                .plan = vfio_plan,
        },
        {
                .name = "hugepages",
                .prepare = hugepages_prepare,
                .started = hugepages_started,
                .release = hugepages_release,
                .reconnect = hugepages_reconnect,
                .plan = hugepages_plan,
                .check = hugepages_check,
        },
        {
                .name = "cpus",
                .prepare = cpus_prepare,
                .started = cpus_started,
                .release = cpus_release,
                .reconnect = cpus_reconnect,
                .plan = cpus_plan,
        },
        {
                .name = "tune",
                .prepare = tune_prepare,
                .release = tune_release,
                .reconnect = tune_reconnect,
                .plan = tune_plan,
        },
};

const Capability *capabilities_all(size_t *n)
{
        *n = sizeof(capabilities) / sizeof(capabilities[0]);
        return capabilities;
}

const Capability *capability_find(const char *name)
{
        for (size_t i = 0; i < sizeof(capabilities) / sizeof(capabilities[0]); i++)
                if (strcmp(name, capabilities[i].name) == 0)
                        return &capabilities[i];
        return NULL;
}
