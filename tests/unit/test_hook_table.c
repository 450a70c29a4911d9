/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "test.h"

#include "common/hook.h"
#include "common/hook_table.h"

#include <stdio.h>

/* The names the hook binary answers to (common/hook_table.h) are the
 * capabilities of common/capabilities.c, in its order, each numbered in
 * libvirt's order, and each acts in exactly the operations the capability
 * has a function for: the fast path must not skip one the handler needs,
 * nor exec the handler for one it ignores. */
TEST(hook_table_follows_the_capability_table)
{
        static const HookName hooks[] = { VMPREP_HOOK_TABLE };
        size_t n = 0;
        const Capability *caps = capabilities_all(&n);

        CHECK_INT(sizeof(hooks) / sizeof(hooks[0]), n);
        for (size_t i = 0; i < n; i++) {
                char file[64], phases[128];
                snprintf(file, sizeof(file), "%zu0-vmprep-%s", i + 1, caps[i].name);
                CHECK_STR(hooks[i].file, file);
                CHECK_STR(hooks[i].cap, caps[i].name);
                CHECK(caps[i].prepare && caps[i].release && caps[i].reconnect);
                snprintf(phases, sizeof(phases), "prepare%s release reconnect migrate", caps[i].started ? " started" : "");
                CHECK_STR(hooks[i].phases, phases);
        }
}
