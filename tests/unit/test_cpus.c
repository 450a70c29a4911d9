/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * CPU isolation: which cores a domain claims (pure derivation over the
 * seed fixtures and the real user XMLs), the suggestion for unpinned vCPUs,
 * topology read through the gateway, and the kernel's mask format.
 */
#include "test.h"

#include "common/cpus.h"
#include "common/numa.h"

#include <errno.h>
#include <stdlib.h>

#define CORPUS "../shared/corpus/user-xml"
#define UUID_A "6f0c7e38-1fd5-4a4b-9d6c-0b3e4c6a8f01"
#define DOM(body) "<domain type='kvm'><name>t</name><uuid>" UUID_A "</uuid>" body "</domain>"
#define ISOLATE "<vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:isolate/></vmprep:profile>"

/* 64 CPUs, all online; node 0 = 0-31, node 1 = 32-63; SMT pairs (2k, 2k+1). */
static void topology_64(CpuTopology *t)
{
        memset(t, 0, sizeof(*t));
        t->n_cpus = 64;
        t->siblings = calloc(64, sizeof(*t->siblings));
        t->node_of = calloc(64, sizeof(*t->node_of));
        for (unsigned c = 0; c < 64; c++) {
                cpuset_set(&t->present, c);
                cpuset_set(&t->online, c);
                cpuset_set(&t->siblings[c], c & ~1u);
                cpuset_set(&t->siblings[c], c | 1u);
                t->node_of[c] = c < 32 ? 0 : 1;
        }
        cpuset_set(&t->nodes, 0);
        cpuset_set(&t->nodes, 1);
        t->n_nodes = 2;
        t->distance = malloc(4 * sizeof(int));
        t->distance[0] = t->distance[3] = 10;
        t->distance[1] = t->distance[2] = 21;
}

static Profile *profile_of(const char *xml)
{
        Profile *p = NULL;
        char err[1024];
        if (profile_parse_document(xml, strlen(xml), "test", &p, err, sizeof(err)) < 0)
                printf("# profile: %s\n", err);
        return p;
}

static Domain *domain_str(const char *xml)
{
        Domain *d = NULL;
        char err[1024];
        if (domain_parse(xml, strlen(xml), &d, err, sizeof(err)) < 0)
                printf("# domain: %s\n", err);
        return d;
}

/* derive over a file: 0 and the claim in got, or the error in err */
static int derive_file(const char *path, const CpuTopology *t, char *got, size_t gotlen, char *err, size_t errlen)
{
        size_t len;
        char *xml = slurp(path, &len);
        Domain *d = NULL;
        CpusClaim c;
        CpuSet none;
        int r;

        if (!xml)
                return -ENOENT;
        r = domain_parse(xml, len, &d, err, errlen);
        free(xml);
        if (r < 0)
                return -EBADMSG;
        Profile *p = profile_of(ISOLATE);
        cpuset_clear(&none);
        r = cpus_derive(d, p, t, &none, &c, err, errlen);
        if (r == 0)
                cpuset_format(&c.cpus, got, gotlen);
        profile_free(p);
        domain_free(d);
        return r;
}

TEST(cpus_claim_of_every_fixture_and_user_xml)
{
        static const struct {
                const char *file, *want, *err;
        } cases[] = {
                { "tests/fixtures/seed/01-sriov-vf.xml", NULL, "vCPU 0 (of 1," },
                { "tests/fixtures/seed/02-gpu-passthrough.xml", NULL, "vCPU 0-3 (of 4," },
                { "tests/fixtures/seed/03-dpdk-vhostuser.xml", "2-5", NULL },
                { "tests/fixtures/seed/04-vcpu-hotplug.xml", NULL, "vCPU 0-7 (of 8," },
                { "tests/fixtures/seed/05-hugepages.xml", NULL, "vCPU 0-3 (of 4," },
                { "tests/fixtures/seed/06-numa-pinning.xml", "0-3", NULL },
                { "tests/fixtures/seed/07-realtime-fifo.xml", "2-3", NULL },
                /* emulatorpin and iothreadpin overlapping the vCPU pins: accepted, the union */
                { CORPUS "/brenix-win10.xml", "0-11", NULL },
                /* emulatorpin 0-3: CPU 0's core (0-1) is the host's share, not claimed */
                { CORPUS "/bryansteiner-win10.xml", "2-23", NULL },
                { CORPUS "/csr1kv-sriov-1g-hugepages.xml", "1-8,45-52", NULL },
                { CORPUS "/eva4ever-win10-vcpusched-fifo.xml", "4-11,16-23", NULL },
                /* vCPUs 6-7 and 14-15 are hot-pluggable and pinned nowhere */
                { CORPUS "/g14-laptop-win10-vcpu-hotplug.xml", NULL, "vCPU 6-7,14-15 (of 16," },
                { CORPUS "/k8s-ovs-dpdk-vm1-vhostuser.xml", NULL, "vCPU 0-2 (of 3," },
                /* iothreadpin 0,7: CPU 0 is the host's share, not claimed */
                { CORPUS "/ohthehugemanatee-win10-1g-hugepages.xml", "1-7", NULL },
                { CORPUS "/ovirt-ftest1-vcpu-hotplug.xml", NULL, "vCPU 0-15 (of 16," },
                { CORPUS "/ovirt-sriov-vf-interface-hostdev.xml", NULL, "vCPU 0 (of 1," },
                { CORPUS "/snekutaren-win11-rx9070xt.xml", "0-15", NULL },
                { CORPUS "/threadripper-win10-nvme.xml", "0-7,16-23", NULL },
                { CORPUS "/whosboosh-win11-7950x3d-rr.xml", "0-8,15-24,31", NULL },
        };
        CpuTopology t;
        unsigned skipped = 0;

        topology_64(&t);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char got[256] = "", err[8192] = "";
                int r = derive_file(cases[i].file, &t, got, sizeof(got), err, sizeof(err));
                if (r == -ENOENT && strstr(cases[i].file, CORPUS)) {
                        skipped++;
                        continue;
                }
                if (cases[i].err) {
                        if (r != -EINVAL || !strstr(err, cases[i].err) || !strstr(err, "run 'vmprep pin ")) {
                                test_fail(__FILE__, __LINE__, "%s: r=%d got '%s' err '%s', want an error with '%s' and "
                                          "'vmprep pin' to run", cases[i].file, r, got, err, cases[i].err);
                                break;
                        }
                } else if (r != 0 || strcmp(got, cases[i].want) != 0) {
                        test_fail(__FILE__, __LINE__, "%s: r=%d claim '%s' (want '%s') %s", cases[i].file, r, got,
                                  cases[i].want, err);
                        break;
                }
        }
        numa_topology_free(&t);
        if (skipped == 12)
                test_skip("corpus not present: seed fixtures only");
}

TEST(cpus_refusal_of_unpinned_vcpus_points_to_vmprep_pin)
{
        CpuTopology t;
        topology_64(&t);
        char err[8192] = "";
        CpusClaim c;
        CpuSet taken;
        cpuset_clear(&taken);
        Domain *d = domain_str(DOM("<vcpu>3</vcpu>"));
        Profile *p = profile_of(ISOLATE);
        CHECK(d && p);
        CHECK_INT(cpus_derive(d, p, &t, &taken, &c, err, sizeof(err)), -EINVAL);
        CHECK_CONTAINS(err, "vCPU 0-2 (of 3,");
        CHECK_CONTAINS(err, "run 'vmprep pin t' to pin every vCPU");
        CHECK_CONTAINS(err, "'vmprep pin t --dry-run' shows the choice and the diff first");
        CHECK(!strstr(err, "<cputune>"));
        domain_free(d);
        profile_free(p);
        numa_topology_free(&t);
}

TEST(cpus_emulator_and_iothreads_on_cpu0s_core_stay_with_the_host)
{
        CpuTopology t;
        topology_64(&t);
        char err[8192] = "", got[256];
        CpusClaim c;
        CpuSet taken;
        cpuset_clear(&taken);
        /* as vmprep pin writes it: vCPUs on 2-3, QEMU's threads on CPU 0's core */
        Domain *d = domain_str(DOM("<vcpu>2</vcpu><iothreads>1</iothreads><cputune><vcpupin vcpu='0' cpuset='2'/>"
                                   "<vcpupin vcpu='1' cpuset='3'/><emulatorpin cpuset='0-1'/>"
                                   "<iothreadpin iothread='1' cpuset='0-1'/></cputune>"));
        Profile *p = profile_of(ISOLATE);
        CHECK(d && p);
        CHECK_INT(cpus_derive(d, p, &t, &taken, &c, err, sizeof(err)), 0);
        cpuset_format(&c.cpus, got, sizeof(got));
        CHECK_STR(got, "2-3");
        domain_free(d);
        /* an emulator pinned beyond CPU 0's core: that part is claimed */
        d = domain_str(DOM("<vcpu>1</vcpu><cputune><vcpupin vcpu='0' cpuset='2'/><emulatorpin cpuset='0-1,4'/>"
                           "</cputune>"));
        CHECK(d);
        CHECK_INT(cpus_derive(d, p, &t, &taken, &c, err, sizeof(err)), 0);
        cpuset_format(&c.cpus, got, sizeof(got));
        CHECK_STR(got, "2,4");
        domain_free(d);
        profile_free(p);
        numa_topology_free(&t);
}

TEST(cpus_derive_checks_cpus_and_the_profile_list)
{
        static const struct {
                const char *name, *xml, *profile, *want, *err;
        } cases[] = {
                { "vcpu cpuset covers unpinned vCPUs", DOM("<vcpu cpuset='4-7'>4</vcpu>"), ISOLATE, "4-7", NULL },
                { "hot-plug maximum counts: pins for current only are not enough",
                  DOM("<vcpu current='1'>2</vcpu><cputune><vcpupin vcpu='0' cpuset='4'/></cputune>"), ISOLATE, NULL,
                  "vCPU 1 (of 2," },
                { "pins up to the maximum", DOM("<vcpu current='1'>2</vcpu><cputune><vcpupin vcpu='0' cpuset='4'/>"
                                                "<vcpupin vcpu='1' cpuset='5'/></cputune>"), ISOLATE, "4-5", NULL },
                { "a CPU the host lacks", DOM("<vcpu>1</vcpu><cputune><vcpupin vcpu='0' cpuset='64'/></cputune>"),
                  ISOLATE, NULL, "<vcpupin vcpu='0' cpuset='64'>: CPU 64 does not exist on this host (it has CPUs 0-63)" },
                { "an offline CPU", DOM("<vcpu>1</vcpu><cputune><vcpupin vcpu='0' cpuset='9'/></cputune>"), ISOLATE,
                  NULL, "<vcpupin vcpu='0' cpuset='9'>: CPU 9 is offline (online: 0-8,10-63)" },
                { "emulatorpin on an offline CPU",
                  DOM("<vcpu>1</vcpu><cputune><vcpupin vcpu='0' cpuset='4'/><emulatorpin cpuset='8-9'/></cputune>"),
                  ISOLATE, NULL, "<emulatorpin cpuset='8-9'>: CPU 9 is offline" },
                { "cpus list widens the claim",
                  DOM("<vcpu>1</vcpu><cputune><vcpupin vcpu='0' cpuset='4'/></cputune>"),
                  "<vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:isolate cpus='4-5'/></vmprep:profile>", "4-5",
                  NULL },
                { "cpus list leaving a pin to the host",
                  DOM("<vcpu>1</vcpu><cputune><vcpupin vcpu='0' cpuset='4'/><emulatorpin cpuset='6'/></cputune>"),
                  "<vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:isolate cpus='4-5'/></vmprep:profile>", NULL,
                  "<vmprep:isolate cpus='4-5'>: the domain's <cputune>/<vcpu cpuset> put its threads on CPU 6 too" },
        };
        CpuTopology t;
        topology_64(&t);
        t.online.bits[0] &= ~(UINT64_C(1) << 9);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                Domain *d = domain_str(cases[i].xml);
                Profile *p = profile_of(cases[i].profile);
                CpusClaim c;
                CpuSet none;
                char err[8192] = "", got[256] = "";
                cpuset_clear(&none);
                CHECK(d && p);
                int r = cpus_derive(d, p, &t, &none, &c, err, sizeof(err));
                if (r == 0)
                        cpuset_format(&c.cpus, got, sizeof(got));
                domain_free(d);
                profile_free(p);
                if (cases[i].err ? (r != -EINVAL || !strstr(err, cases[i].err)) : (r != 0 || strcmp(got, cases[i].want))) {
                        test_fail(__FILE__, __LINE__, "%s: r=%d got '%s' err '%s'", cases[i].name, r, got, err);
                        break;
                }
        }
        numa_topology_free(&t);
}

TEST(cpus_numa_agreement_strict_refuses_prefer_warns)
{
        CpuTopology t;
        topology_64(&t);
        const char *xml = DOM("<vcpu>1</vcpu><cputune><vcpupin vcpu='0' cpuset='4'/></cputune>"
                              "<numatune><memory mode='strict' nodeset='1'/></numatune>");
        Domain *d = domain_str(xml);
        Profile *strict = profile_of("<vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:isolate numa='strict'/></vmprep:profile>");
        Profile *prefer = profile_of(ISOLATE);
        Profile *ignore = profile_of("<vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:isolate numa='ignore'/></vmprep:profile>");
        CpusClaim c;
        CpuSet none;
        char err[4096];
        cpuset_clear(&none);
        CHECK(d && strict && prefer && ignore);
        CHECK_INT(cpus_derive(d, prefer, &t, &none, &c, err, sizeof(err)), 0);
        CHECK_INT(cpus_numa_check(d, strict, &t, &c, NULL, err, sizeof(err)), -EINVAL);
        CHECK_CONTAINS(err, "the isolated CPUs 4 are on NUMA node 0, but <numatune> places the memory on node 1 (distance 21)");
        CHECK_INT(cpus_numa_check(d, prefer, &t, &c, NULL, err, sizeof(err)), 1);
        CHECK_INT(cpus_numa_check(d, ignore, &t, &c, NULL, err, sizeof(err)), 0);
        /* a device on node 1, and hugepages the profile puts on node 1 */
        int nodes[1] = { 1 };
        Domain *d2 = domain_str(DOM("<vcpu>1</vcpu><cputune><vcpupin vcpu='0' cpuset='4'/></cputune><devices>"
                                    "<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' "
                                    "bus='0x03' slot='0x00' function='0x0'/></source></hostdev></devices>"));
        Profile *hp = profile_of("<vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:isolate numa='strict'/>"
                                 "<vmprep:hugepages nodes='1'/></vmprep:profile>");
        CHECK(d2 && hp);
        CHECK_INT(cpus_numa_check(d2, hp, &t, &c, nodes, err, sizeof(err)), -EINVAL);
        CHECK_CONTAINS(err, "<vmprep:hugepages nodes='1'> reserves the memory on node 1 (distance 21)");
        CHECK_CONTAINS(err, "device 0000:03:00.0 is on NUMA node 1, the isolated CPUs 4 on node 0 (distance 21)");
        domain_free(d2);
        profile_free(hp);
        domain_free(d);
        profile_free(strict);
        profile_free(prefer);
        profile_free(ignore);
        numa_topology_free(&t);
}

TEST(cpus_mask_round_trips_the_kernel_format)
{
        CpuSet s;
        char buf[256];
        CHECK_INT(cpus_mask_parse("3", &s), 0);
        CHECK_INT(cpuset_format(&s, buf, sizeof(buf)), 0);
        CHECK_STR(buf, "0-1");
        CHECK_INT(cpus_mask_parse("ff,00000001", &s), 0);
        CHECK_INT(cpuset_format(&s, buf, sizeof(buf)), 0);
        CHECK_STR(buf, "0,32-39");
        CHECK_INT(cpus_mask_format(&s, buf, sizeof(buf)), 0);
        CHECK_STR(buf, "ff,00000001");
        cpuset_clear(&s);
        cpuset_set(&s, 1);
        CHECK_INT(cpus_mask_format(&s, buf, sizeof(buf)), 0);
        CHECK_STR(buf, "2");
        CHECK_INT(cpus_mask_parse("", &s), -EINVAL);
        CHECK_INT(cpus_mask_parse("xyz", &s), -EINVAL);
        CHECK_INT(cpus_mask_parse("1,,2", &s), -EINVAL);
}

TEST(numa_topology_reads_siblings_and_nodes_through_the_gateway)
{
        tree_new();
        tree_write("/sys/devices/system/cpu/online", "0-3,5\n");
        tree_write("/sys/devices/system/cpu/present", "0-5\n");
        for (unsigned c = 0; c < 6; c++) {
                char rel[128], v[16];
                snprintf(rel, sizeof(rel), "/sys/devices/system/cpu/cpu%u/topology/thread_siblings_list", c);
                snprintf(v, sizeof(v), "%u-%u\n", c & ~1u, c | 1u);
                tree_write(rel, v);
        }
        tree_write("/sys/devices/system/node/online", "0-1\n");
        tree_write("/sys/devices/system/node/node0/cpulist", "0-1\n");
        tree_write("/sys/devices/system/node/node1/cpulist", "2-5\n");
        tree_write("/sys/devices/system/node/node0/distance", "10 20\n");
        tree_write("/sys/devices/system/node/node1/distance", "20 10\n");
        CpuTopology t;
        CHECK_INT(numa_topology_read(&t), 0);
        CHECK_INT(t.n_cpus, 6);
        CHECK_INT(t.node_of[3], 1);
        CHECK_INT(numa_distance(&t, 0, 1), 20);
        CHECK(cpuset_isset(&t.siblings[3], 2));
        /* core 4-5 has an offline sibling: no whole core; 2-3 is */
        CpuSet got, none;
        unsigned order[8], count, node;
        cpuset_clear(&none);
        CHECK_INT(numa_pick_cores(&t, 2, &none, NULL, order, &got, &count, &node), 0);
        CHECK_INT(node, 1);
        CHECK_INT(order[0], 2);
        CHECK_INT(order[1], 3);
        CHECK_INT(numa_pick_cores(&t, 3, &none, NULL, order, &got, &count, &node), -ENOSPC);
        numa_topology_free(&t);
}
