/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The core choice of vmprep pin (common/pin.c), on hosts built in memory. */
#include "common/pin.h"
#include "test.h"

#include <errno.h>
#include <stdlib.h>

/* A one-node host of n_cores cores, `threads` each (CPU c's siblings are
 * c + k * n_cores), L3 domains of l3_cores cores with the sizes given. */
static void host_make(PinHost *h, unsigned n_cores, unsigned threads, unsigned l3_cores, const uint64_t *l3_kib)
{
        unsigned n = n_cores * threads;
        memset(h, 0, sizeof(*h));
        h->topo.n_cpus = n;
        h->topo.siblings = calloc(n, sizeof(CpuSet));
        h->topo.node_of = calloc(n, sizeof(int));
        h->l3_of = calloc(n, sizeof(int));
        h->l3_kib = calloc(n, sizeof(uint64_t));
        h->l3_cpus = calloc(n, sizeof(CpuSet));
        cpuset_set(&h->topo.nodes, 0);
        h->topo.n_nodes = 1;
        for (unsigned c = 0; c < n; c++) {
                unsigned core = c % n_cores, dom = core / l3_cores;
                cpuset_set(&h->topo.online, c);
                cpuset_set(&h->topo.present, c);
                for (unsigned k = 0; k < threads; k++)
                        cpuset_set(&h->topo.siblings[c], core + k * n_cores);
                h->l3_of[c] = (int) (dom * l3_cores);
                h->l3_kib[c] = l3_kib[dom];
                for (unsigned x = dom * l3_cores; x < (dom + 1) * l3_cores; x++)
                        for (unsigned k = 0; k < threads; k++)
                                cpuset_set(&h->l3_cpus[c], x + k * n_cores);
        }
}

static void host_free(PinHost *h)
{
        free(h->topo.siblings);
        free(h->topo.node_of);
        free(h->l3_of);
        free(h->l3_kib);
        free(h->l3_cpus);
}

static const char *fmt(const CpuSet *s)
{
        static char buf[256];
        cpuset_format(s, buf, sizeof(buf));
        return buf;
}

TEST(pin_gaming_takes_the_largest_l3_and_leaves_cpu0s_core)
{
        static const uint64_t kib[] = { 98304, 32768 }; /* 7950X3D: V-Cache CCD first */
        PinHost h;
        PinRequest req = { .vcpus = 8, .largest_l3 = true };
        PinChoice c;
        char err[1024];
        host_make(&h, 16, 2, 8, kib);
        CHECK_INT(pin_choose(&h, &req, &c, err, sizeof(err)), 0);
        CHECK_STR(fmt(&c.cpus), "1-4,17-20");
        CHECK_STR(fmt(&c.host), "0,16");
        CHECK_INT(c.vcpu_cpu[0], 1);
        CHECK_INT(c.vcpu_cpu[1], 17); /* vCPU 0 and 1: siblings, as the guest's threads 0 and 1 */
        CHECK_INT(c.threads, 2);
        CHECK_INT(c.cores_per_socket, 4);
        pin_choice_free(&c);
        /* 8 cores do not fit in the V-Cache CCD without CPU 0's core: the whole other CCD */
        req.vcpus = 16;
        CHECK_INT(pin_choose(&h, &req, &c, err, sizeof(err)), 0);
        CHECK_STR(fmt(&c.cpus), "8-15,24-31");
        CHECK_CONTAINS(c.cores[0].why, "the 96 MiB one has 7 free cores");
        pin_choice_free(&c);
        host_free(&h);
}

TEST(pin_not_gaming_packs_the_l3_with_the_fewest_free_cores)
{
        static const uint64_t kib[] = { 32768, 98304 }; /* the large L3 second */
        PinHost h;
        PinRequest req = { .vcpus = 4 };
        PinChoice c;
        char err[1024];
        host_make(&h, 16, 2, 8, kib);
        CHECK_INT(pin_choose(&h, &req, &c, err, sizeof(err)), 0);
        CHECK_STR(fmt(&c.cpus), "1-2,17-18"); /* CCD0 has 7 free, CCD1 8 */
        pin_choice_free(&c);
        req.largest_l3 = true;
        CHECK_INT(pin_choose(&h, &req, &c, err, sizeof(err)), 0);
        CHECK_STR(fmt(&c.cpus), "8-9,24-25");
        pin_choice_free(&c);
        host_free(&h);
}

TEST(pin_spans_l3_domains_only_when_none_fits_and_skips_taken_cores)
{
        static const uint64_t kib[] = { 16384, 16384, 16384, 16384 }; /* CCXs of 4 cores */
        PinHost h;
        PinRequest req = { .vcpus = 16 };
        PinChoice c;
        char err[1024];
        host_make(&h, 16, 2, 4, kib);
        cpuset_set(&req.taken, 5); /* another VM on core 5 */
        CHECK_INT(pin_choose(&h, &req, &c, err, sizeof(err)), 0);
        CHECK(!cpuset_isset(&c.cpus, 5) && !cpuset_isset(&c.cpus, 21));
        CHECK(!cpuset_isset(&c.cpus, 0) && !cpuset_isset(&c.cpus, 16));
        CHECK_STR(fmt(&c.cpus), "8-15,24-31"); /* the two full CCXs */
        pin_choice_free(&c);
        host_free(&h);
}

TEST(pin_refuses_naming_cores_needed_and_free)
{
        static const uint64_t kib[] = { 8192 };
        PinHost h;
        PinRequest req = { .vcpus = 16 };
        PinChoice c;
        char err[1024];
        host_make(&h, 4, 2, 4, kib);
        CHECK_INT(pin_choose(&h, &req, &c, err, sizeof(err)), -ENOSPC);
        CHECK_CONTAINS(err, "16 vCPUs need 8 whole cores (2 threads each)");
        CHECK_CONTAINS(err, "node 0 has 3 free (6 CPUs)");
        CHECK_CONTAINS(err, "CPU 0's core (CPUs 0,4) stays with the host");
        host_free(&h);
}

TEST(pin_hybrid_takes_p_cores_before_e_cores)
{
        static const uint64_t kib[] = { 36864 };
        PinHost h;
        PinRequest req = { .vcpus = 4 };
        PinChoice c;
        char err[1024];
        /* 8 cores of 2 threads: call the last 4 "E-cores" */
        host_make(&h, 8, 2, 8, kib);
        h.hybrid = true;
        for (unsigned x = 4; x < 8; x++) {
                cpuset_set(&h.ecores, x);
                cpuset_set(&h.ecores, x + 8);
        }
        CHECK_INT(pin_choose(&h, &req, &c, err, sizeof(err)), 0);
        CHECK_STR(fmt(&c.cpus), "1-2,9-10");
        pin_choice_free(&c);
        req.vcpus = 8; /* 3 free P-cores give 6: two E-core threads more */
        CHECK_INT(pin_choose(&h, &req, &c, err, sizeof(err)), 0);
        CHECK_STR(fmt(&c.cpus), "1-4,9-12");
        CHECK_CONTAINS(c.cores[3].why, "E-core");
        pin_choice_free(&c);
        host_free(&h);
}

TEST(pin_keeps_to_the_requested_node)
{
        static const uint64_t kib[] = { 28160, 28160 };
        PinHost h;
        PinRequest req = { .vcpus = 4 };
        PinChoice c;
        char err[1024];
        host_make(&h, 8, 2, 4, kib);
        cpuset_set(&h.topo.nodes, 1);
        h.topo.n_nodes = 2;
        for (unsigned cpu = 0; cpu < 16; cpu++)
                h.topo.node_of[cpu] = (cpu % 8) >= 4;
        /* no wish: the node with the most free cores (1: node 0 gives CPU 0's core to the host) */
        CHECK_INT(pin_choose(&h, &req, &c, err, sizeof(err)), 0);
        CHECK_INT(c.node, 1);
        pin_choice_free(&c);
        cpuset_set(&req.nodes, 0);
        snprintf(req.nodes_why, sizeof(req.nodes_why), "the node of 0000:3b:00.0");
        CHECK_INT(pin_choose(&h, &req, &c, err, sizeof(err)), 0);
        CHECK_INT(c.node, 0);
        CHECK_CONTAINS(c.cores[0].why, "node 0 (the node of 0000:3b:00.0)");
        pin_choice_free(&c);
        req.vcpus = 8; /* node 0 has 3 free cores */
        CHECK_INT(pin_choose(&h, &req, &c, err, sizeof(err)), -ENOSPC);
        CHECK_CONTAINS(err, "(the node of 0000:3b:00.0): node 0 has 3 free");
        host_free(&h);
}
