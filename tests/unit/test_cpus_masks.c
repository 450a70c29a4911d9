/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel's hex masks of hosts with thousands of CPUs: 4096 CPUs are
 * 1024 hex digits in 128 comma-separated words, far more than the 256
 * bytes masks were once read into (issue 11, defect 9c).
 */
#include "test.h"

#include "common/cpus.h"

#include <errno.h>
#include <stdlib.h>

#define NCPUS 4096
#define IRQ_DEFAULT "/proc/irq/default_smp_affinity"
#define WQ_MASK "/sys/devices/virtual/workqueue/cpumask"

/* "ffffffff,...,ffffffff" (128 words) with the top word's bits given */
static void all_but_top(char *buf, size_t size, const char *top)
{
        size_t len = (size_t) snprintf(buf, size, "%s", top);
        for (int w = 1; w < NCPUS / 32; w++)
                len += (size_t) snprintf(buf + len, size - len, ",ffffffff");
}

TEST(cpus_mask_round_trips_4096_cpus)
{
        CpuSet s, back;
        char buf[2048], want[2048];
        cpuset_clear(&s);
        for (unsigned c = 0; c < NCPUS; c++)
                cpuset_set(&s, c);
        CHECK_INT(cpus_mask_format(&s, buf, sizeof(buf)), 0);
        all_but_top(want, sizeof(want), "ffffffff");
        CHECK_INT(strlen(buf), 1024 + 127);
        CHECK_STR(buf, want);
        CHECK_INT(cpus_mask_parse(buf, &back), 0);
        CHECK(cpuset_equal(&back, &s));
        CHECK_INT(cpus_mask_format(&s, buf, 1151), -ENOBUFS);
}

/* A 4096-CPU host: isolating CPU 4095 narrows default_smp_affinity and the
 * workqueue mask by exactly that bit, and release puts the 1151-character
 * masks back byte for byte. */
TEST(cpus_isolation_narrows_and_restores_the_masks_of_4096_cpus)
{
        char all[2048], want[2048], rel[128];
        tree_new();
        tree_write("/sys/devices/system/cpu/online", "0-4095\n");
        tree_write("/sys/devices/system/cpu/present", "0-4095\n");
        for (unsigned c = 0; c < NCPUS; c++) {
                char v[32];
                snprintf(rel, sizeof(rel), "/sys/devices/system/cpu/cpu%u/topology/thread_siblings_list", c);
                snprintf(v, sizeof(v), "%u\n", c);
                tree_write(rel, v);
        }
        tree_write("/sys/devices/system/node/online", "0\n");
        tree_write("/sys/devices/system/node/node0/cpulist", "0-4095\n");
        tree_write("/sys/devices/system/node/node0/distance", "10\n");
        all_but_top(all, sizeof(all), "ffffffff");
        tree_write(IRQ_DEFAULT, all);
        tree_write(WQ_MASK, all);

        const char *xml = "<domain type='kvm'><name>big</name><uuid>6f0c7e38-1fd5-4a4b-9d6c-0b3e4c6a8f09</uuid>"
                          "<vcpu>1</vcpu><cputune><vcpupin vcpu='0' cpuset='4095'/></cputune><metadata>"
                          "<vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:isolate/></vmprep:profile>"
                          "</metadata></domain>";
        Domain *d = NULL;
        Profile *p = NULL;
        char err[1024];
        CHECK_INT(domain_parse(xml, strlen(xml), &d, err, sizeof(err)), 0);
        CHECK_INT(profile_from_domain(d, &p, err, sizeof(err)), 0);
        stderr_capture_start();
        int r = cpus_prepare(d, p);
        free(stderr_capture_end());
        CHECK_INT(r, 0);
        all_but_top(want, sizeof(want), "7fffffff");
        CHECK_STR(tree_read(IRQ_DEFAULT), want);
        CHECK_STR(tree_read(WQ_MASK), want);
        stderr_capture_start();
        r = cpus_release(d->uuid, d->name);
        free(stderr_capture_end());
        CHECK_INT(r, 0);
        CHECK_STR(tree_read(IRQ_DEFAULT), all);
        CHECK_STR(tree_read(WQ_MASK), all);
        profile_free(p);
        domain_free(d);
        tree_free();
}
