/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "test.h"

#include "common/hugepages.h"
#include "common/journal.h"
#include "common/log.h"

#include <errno.h>
#include <stdlib.h>

#define UUID_A "6f0c7e38-1fd5-4a4b-9d6c-0b3e4c6a8f01"
#define UUID_B "6f0c7e38-1fd5-4a4b-9d6c-0b3e4c6a8f02"
#define POOL0 "/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages"
#define POOL1 "/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages"
#define POOL0_1G "/sys/devices/system/node/node0/hugepages/hugepages-1048576kB/nr_hugepages"

static Domain *domain_from(const char *xml)
{
        Domain *d = NULL;
        char err[1024];
        if (domain_parse(xml, strlen(xml), &d, err, sizeof(err)) < 0) {
                printf("# domain: %s\n", err);
                return NULL;
        }
        return d;
}

static Domain *domain_file(const char *path)
{
        size_t len;
        char *xml = slurp(path, &len);
        Domain *d = NULL;
        char err[1024];
        if (!xml)
                return NULL;
        if (domain_parse(xml, len, &d, err, sizeof(err)) < 0)
                printf("# %s: %s\n", path, err);
        free(xml);
        return d;
}

/* "node:sizekB=pages ..." sorted as derived */
static void needs_str(const HugepageNeed *n, size_t count, char *buf, size_t size)
{
        size_t len = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < count; i++)
                len += (size_t) snprintf(buf + len, size - len, "%s%u:%llukB=%llu", i ? " " : "", n[i].node,
                                         (unsigned long long) n[i].size_kib, (unsigned long long) n[i].pages);
}

#define DOM(body) "<domain type='kvm'><name>t</name><uuid>" UUID_A "</uuid>" body "</domain>"
#define HP "<memoryBacking><hugepages/></memoryBacking>"
#define TAG(x) "<metadata><vmprep:profile xmlns:vmprep='urn:vmprep:1'>" x "</vmprep:profile></metadata>"

TEST(hugepages_derivation_table)
{
        static const struct {
                const char *name, *xml, *host_nodes, *want, *err;
        } cases[] = {
                { "one node", DOM("<memory unit='MiB'>512</memory>" HP), "0", "0:2048kB=256", NULL },
                { "rounds up to whole pages", DOM("<memory unit='KiB'>3072</memory>" HP), "0", "0:2048kB=2", NULL },
                { "two nodes with memnodes",
                  DOM("<memory unit='GiB'>4</memory>" HP
                      "<numatune><memory mode='strict' nodeset='0-1'/><memnode cellid='0' mode='strict' nodeset='0'/>"
                      "<memnode cellid='1' mode='strict' nodeset='1'/></numatune>"
                      "<cpu><numa><cell id='0' cpus='0-1' memory='1' unit='GiB'/><cell id='1' cpus='2-3' memory='3' unit='GiB'/></numa></cpu>"),
                  "0-1", "0:2048kB=512 1:2048kB=1536", NULL },
                { "numatune places the whole VM on node 1",
                  DOM("<memory unit='GiB'>1</memory>" HP "<numatune><memory mode='strict' nodeset='1'/></numatune>"),
                  "0-1", "1:2048kB=512", NULL },
                { "interleave splits evenly, remainder first",
                  DOM("<memory unit='KiB'>1050624</memory>" HP "<numatune><memory mode='interleave' nodeset='0-1'/></numatune>"),
                  "0-1", "0:2048kB=257 1:2048kB=256", NULL },
                { "1 GiB pages",
                  DOM("<memory unit='GiB'>8</memory><memoryBacking><hugepages><page size='1048576' unit='KiB'/></hugepages></memoryBacking>"),
                  "0", "0:1048576kB=8", NULL },
                { "page size per guest cell",
                  DOM("<memory unit='GiB'>3</memory><memoryBacking><hugepages><page size='1' unit='G' nodeset='0'/>"
                      "<page size='2' unit='M'/></hugepages></memoryBacking>"
                      "<numatune><memnode cellid='0' mode='strict' nodeset='0'/><memnode cellid='1' mode='strict' nodeset='1'/></numatune>"
                      "<cpu><numa><cell id='0' cpus='0' memory='2' unit='GiB'/><cell id='1' cpus='1' memory='1' unit='GiB'/></numa></cpu>"),
                  "0-1", "0:1048576kB=2 1:2048kB=512", NULL },
                { "vcpu current below max changes nothing",
                  DOM("<memory unit='MiB'>256</memory><vcpu current='1'>8</vcpu>" HP), "0", "0:2048kB=128", NULL },
                { "no hugepage backing: nothing to do", DOM("<memory unit='MiB'>512</memory>"), "0", "", NULL },
                { "profile nodes place an unplaced VM",
                  DOM("<memory unit='MiB'>512</memory>" HP TAG("<vmprep:hugepages nodes='1'/>")), "0-1", "1:2048kB=256", NULL },
                { "unplaced VM on two nodes: shared out",
                  DOM("<memory unit='MiB'>512</memory>" HP), "0-1", "0:2048kB=128 1:2048kB=128", NULL },
                { "enabled=no leaves the pool to the administrator",
                  DOM("<memory unit='MiB'>512</memory>" HP TAG("<vmprep:hugepages enabled='no'/>")), "0", "", NULL },
                { "profile asks, domain lacks backing",
                  DOM("<memory unit='MiB'>512</memory>" TAG("<vmprep:hugepages size='1G'/>")), "0", NULL,
                  "add <memoryBacking><hugepages><page size='1048576' unit='KiB'/></hugepages></memoryBacking> to the domain" },
                { "profile size disagrees with the domain",
                  DOM("<memory unit='MiB'>512</memory>" HP TAG("<vmprep:hugepages size='1G'/>")), "0", NULL,
                  "<vmprep:hugepages size='1G'>: the domain backs the VM with 2 MiB pages" },
                { "profile nodes disagree with numatune",
                  DOM("<memory unit='MiB'>512</memory>" HP "<numatune><memory nodeset='0'/></numatune>"
                      TAG("<vmprep:hugepages nodes='1'/>")), "0-1", NULL, "places the VM on node(s) 0" },
                { "numatune names a node the host lacks",
                  DOM("<memory unit='MiB'>512</memory>" HP "<numatune><memory nodeset='3'/></numatune>"), "0-1", NULL,
                  "node 3, which has no memory on this host (nodes with memory: 0-1)" },
                { "profile names a node the host lacks",
                  DOM("<memory unit='MiB'>512</memory>" HP TAG("<vmprep:hugepages nodes='0,5'/>")), "0-1", NULL,
                  "<vmprep:hugepages nodes='0,5'>: node 5 has no memory" },
                { "numad placement (placement='auto') is refused with what to write instead",
                  DOM("<memory unit='MiB'>512</memory>" HP "<numatune><memory mode='strict' placement='auto'/></numatune>"),
                  "0-1", NULL, "name the node instead (<numatune><memory mode='strict' nodeset='0'/></numatune>), or drop "
                  "placement='auto'" },
                { "a normal page size is no huge page",
                  DOM("<memory unit='MiB'>512</memory><memoryBacking><hugepages><page size='4' unit='KiB'/></hugepages></memoryBacking>"),
                  "0", NULL, "normal page size" },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                tree_new();
                Domain *d = domain_from(cases[i].xml);
                CHECK(d);
                Profile *p = NULL;
                char err[1024] = "", got[512];
                CHECK_INT(profile_from_domain(d, &p, err, sizeof(err)), 0);
                HugepageHost host = { .default_size_kib = 2048 };
                CHECK_INT(cpuset_parse(cases[i].host_nodes, &host.nodes), 0);
                HugepageNeed *needs = NULL;
                size_t n = 0;
                int r = hugepages_derive(d, p, &host, &needs, &n, err, sizeof(err));
                needs_str(needs, n, got, sizeof(got));
                free(needs);
                profile_free(p);
                domain_free(d);
                if (cases[i].err) {
                        if (r != -EINVAL) {
                                test_fail(__FILE__, __LINE__, "%s: accepted (%s)", cases[i].name, got);
                                return;
                        }
                        CHECK_CONTAINS(err, cases[i].err);
                } else {
                        if (r != 0) {
                                test_fail(__FILE__, __LINE__, "%s: %s", cases[i].name, err);
                                return;
                        }
                        if (strcmp(got, cases[i].want)) {
                                test_fail(__FILE__, __LINE__, "%s: got '%s', want '%s'", cases[i].name, got, cases[i].want);
                                return;
                        }
                }
        }
}

TEST(hugepages_derivation_over_fixtures)
{
        static const struct {
                const char *file, *want;
        } cases[] = {
                { "tests/fixtures/seed/05-hugepages.xml", "0:2048kB=2048" },
                { "tests/fixtures/seed/03-dpdk-vhostuser.xml", "0:2048kB=2048" },
                { "tests/fixtures/seed/07-realtime-fifo.xml", "0:2048kB=1024" },
                { "tests/fixtures/seed/06-numa-pinning.xml", "" },
                { "../shared/corpus/user-xml/csr1kv-sriov-1g-hugepages.xml", "0:1048576kB=8" },
                { "../shared/corpus/user-xml/k8s-ovs-dpdk-vm1-vhostuser.xml", "0:2048kB=1536" },
                { "../shared/corpus/user-xml/threadripper-win10-nvme.xml", "0:2048kB=7500" },
        };
        HugepageHost host = { .default_size_kib = 2048 };
        cpuset_parse("0", &host.nodes);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                Domain *d = domain_file(cases[i].file);
                if (!d && strstr(cases[i].file, "shared/corpus"))
                        continue; /* corpus absent */
                CHECK(d);
                HugepageNeed *needs = NULL;
                size_t n = 0;
                char err[1024], got[256];
                CHECK_INT(hugepages_derive(d, NULL, &host, &needs, &n, err, sizeof(err)), 0);
                needs_str(needs, n, got, sizeof(got));
                free(needs);
                domain_free(d);
                if (strcmp(got, cases[i].want)) {
                        test_fail(__FILE__, __LINE__, "%s: got '%s', want '%s'", cases[i].file, got, cases[i].want);
                        return;
                }
        }
}

/* ---- against the fake node tree ---- */

static void host_two_nodes(void)
{
        tree_new();
        tree_set_host("0-1", 2048);
        tree_add_pool(0, 2048, 0);
        tree_add_pool(1, 2048, 0);
        tree_add_pool(0, 1048576, 0);
        tree_add_pool(1, 1048576, 0);
}

static int prepare(const char *uuid, const char *body)
{
        char xml[4096];
        snprintf(xml, sizeof(xml), "<domain type='kvm'><name>vm-%.8s</name><uuid>%s</uuid>%s</domain>", uuid, uuid, body);
        Domain *d = domain_from(xml);
        Profile *p = NULL;
        char err[1024];
        if (!d)
                return -EINVAL;
        int r = profile_from_domain(d, &p, err, sizeof(err));
        if (r == 0)
                r = hugepages_prepare(d, p);
        profile_free(p);
        domain_free(d);
        return r;
}

#define TAGGED_512M "<memory unit='MiB'>512</memory>" HP TAG("<vmprep:hugepages/>")

TEST(hugepages_prepare_adds_exactly_the_need_on_top_of_the_administrators_pool)
{
        host_two_nodes();
        tree_write(POOL0, "100\n");
        CHECK_INT(prepare(UUID_A, "<memory unit='MiB'>512</memory>" HP "<numatune><memory nodeset='0'/></numatune>"
                                  TAG("<vmprep:hugepages/>")), 0);
        CHECK_INT(tree_read_ull(POOL0), 356);
        CHECK_INT(tree_read_ull(POOL1), 0);
        CHECK(journal_exists(UUID_A, "hugepages"));
        CHECK_INT(hugepages_release(UUID_A, "a"), 0);
        CHECK_INT(tree_read_ull(POOL0), 100);
        CHECK(!journal_exists(UUID_A, "hugepages"));
}

TEST(hugepages_release_keeps_pages_of_other_vms)
{
        host_two_nodes();
        CHECK_INT(prepare(UUID_A, TAGGED_512M), 0);
        CHECK_INT(prepare(UUID_B, "<memory unit='MiB'>256</memory>" HP TAG("<vmprep:hugepages/>")), 0);
        CHECK_INT(tree_read_ull(POOL0) + tree_read_ull(POOL1), 384);
        CHECK_INT(hugepages_release(UUID_A, "a"), 0);
        CHECK_INT(tree_read_ull(POOL0), 64);
        CHECK_INT(tree_read_ull(POOL1), 64);
        /* the ledger now holds only B's pages */
        Ledger l;
        CHECK_INT(ledger_lock(&l), 0);
        CHECK_INT(ledger_held(&l, "hugepages/node0/2048kB", UUID_A), 0);
        CHECK_INT(ledger_held(&l, "hugepages/node0/2048kB", UUID_B), 64);
        ledger_unlock(&l);
        CHECK_INT(hugepages_release(UUID_B, "b"), 0);
        CHECK_INT(tree_read_ull(POOL0), 0);
        CHECK_INT(tree_read_ull(POOL1), 0);
}

TEST(hugepages_release_is_idempotent_and_fine_without_prepare)
{
        host_two_nodes();
        tree_write(POOL0, "7\n");
        CHECK_INT(hugepages_release(UUID_A, "never-prepared"), 0);
        CHECK_INT(tree_read_ull(POOL0), 7);
        CHECK_INT(prepare(UUID_A, TAGGED_512M), 0);
        CHECK_INT(hugepages_release(UUID_A, "a"), 0);
        CHECK_INT(hugepages_release(UUID_A, "a"), 0);
        CHECK_INT(tree_read_ull(POOL0), 7);
        CHECK_INT(tree_read_ull(POOL1), 0);
}

TEST(hugepages_partial_allocation_is_completed_by_compaction)
{
        host_two_nodes();
        tree_write("/.fake/node1-2048kB.max", "200\n");
        tree_write("/.fake/node1.compact-gain", "100\n");
        CHECK_INT(prepare(UUID_A, "<memory unit='MiB'>512</memory>" HP "<numatune><memory nodeset='1'/></numatune>"
                                  TAG("<vmprep:hugepages/>")), 0);
        CHECK_INT(tree_read_ull(POOL1), 256);
        CHECK_CONTAINS(tree_read("/.fake/writes.log"), "/sys/devices/system/node/node1/compact 1");
        CHECK_INT(hugepages_release(UUID_A, "a"), 0);
        CHECK_INT(tree_read_ull(POOL1), 0);
}

TEST(hugepages_shortfall_gives_back_what_it_added_and_explains)
{
        host_two_nodes();
        tree_write(POOL0, "10\n");
        tree_write("/.fake/node0-2048kB.max", "110\n");
        tree_write("/.fake/node0.compact-gain", "20\n");
        /* capture the message */
        stderr_capture_start();
        int r = prepare(UUID_A, "<memory unit='MiB'>512</memory>" HP "<numatune><memory nodeset='0'/></numatune>"
                                TAG("<vmprep:hugepages/>"));
        char *msg = stderr_capture_end();
        CHECK(r < 0);
        CHECK_INT(tree_read_ull(POOL0), 10); /* exactly as before */
        CHECK(!journal_exists(UUID_A, "hugepages"));
        CHECK_CONTAINS(msg, "cannot reserve 256 x 2 MiB pages on node 0: got 120 after compaction");
        CHECK_CONTAINS(msg, "node 0 has 4096 MiB free");
        CHECK_CONTAINS(msg, "/proc/buddyinfo");
        free(msg);
}

TEST(hugepages_compact_no_skips_compaction)
{
        host_two_nodes();
        tree_write("/.fake/node0-2048kB.max", "100\n");
        tree_write("/.fake/node0.compact-gain", "1000\n");
        CHECK(prepare(UUID_A, "<memory unit='MiB'>512</memory>" HP "<numatune><memory nodeset='0'/></numatune>"
                              TAG("<vmprep:hugepages compact='no'/>")) < 0);
        CHECK(!strstr(tree_read("/.fake/writes.log"), "compact"));
        CHECK_INT(tree_read_ull(POOL0), 0);
}

TEST(hugepages_1g_shortfall_advises_boot_options)
{
        host_two_nodes();
        tree_write("/.fake/node0-1048576kB.max", "2\n");
        stderr_capture_start();
        int r = prepare(UUID_A, "<memory unit='GiB'>4</memory><memoryBacking><hugepages><page size='1' unit='G'/>"
                                "</hugepages></memoryBacking><numatune><memory nodeset='0'/></numatune>"
                                TAG("<vmprep:hugepages/>"));
        char *msg = stderr_capture_end();
        CHECK(r < 0);
        CHECK_INT(tree_read_ull(POOL0_1G), 0);
        CHECK_CONTAINS(msg, "cannot reserve 4 x 1 GiB pages on node 0: got 2");
        CHECK_CONTAINS(msg, "hugepagesz=1G hugepages=0:4");
        free(msg);
}

TEST(hugepages_two_node_release_after_partial_failure_on_second_node)
{
        host_two_nodes();
        tree_write("/.fake/node1-2048kB.max", "10\n");
        int r = prepare(UUID_A, "<memory unit='MiB'>512</memory>" HP "<numatune><memory mode='interleave' nodeset='0-1'/></numatune>"
                                TAG("<vmprep:hugepages compact='no'/>"));
        CHECK(r < 0);
        CHECK_INT(tree_read_ull(POOL0), 0); /* node 0's share was given back */
        CHECK_INT(tree_read_ull(POOL1), 0);
        CHECK(!journal_exists(UUID_A, "hugepages"));
}

TEST(hugepages_missing_pool_size_fails_cleanly)
{
        tree_new();
        tree_set_host("0", 2048);
        tree_add_pool(0, 2048, 0);
        int r = prepare(UUID_A, "<memory unit='GiB'>2</memory><memoryBacking><hugepages><page size='1' unit='G'/>"
                                "</hugepages></memoryBacking>" TAG("<vmprep:hugepages/>"));
        CHECK(r < 0);
        CHECK(!journal_exists(UUID_A, "hugepages"));
        CHECK_INT(tree_read_ull(POOL0), 0);
}

TEST(hugepages_request_beyond_the_machine_touches_nothing)
{
        host_two_nodes();
        int r = prepare(UUID_A, "<memory unit='GiB'>64</memory>" HP "<numatune><memory nodeset='0'/></numatune>"
                                TAG("<vmprep:hugepages/>"));
        CHECK(r < 0);
        CHECK_STR(tree_read("/.fake/writes.log"), "");
}

TEST(hugepages_plan_lists_pool_deltas)
{
        host_two_nodes();
        tree_write(POOL1, "4\n");
        Domain *d = domain_from(DOM("<memory unit='MiB'>512</memory>" HP "<numatune><memory nodeset='1'/></numatune>"));
        CHECK(d);
        Plan plan = { 0 };
        journal_plan_begin(&plan); /* vmprep plan: prepare itself, recording */
        CHECK_INT(hugepages_prepare(d, NULL), 0);
        journal_plan_end();
        CHECK_INT(plan.n_steps, 1);
        CHECK_STR(plan.steps[0].kind_name, "add");
        CHECK_STR(plan.steps[0].resource, "hugepages/node1/2048kB");
        CHECK_STR(plan.steps[0].path, POOL1);
        CHECK_STR(plan.steps[0].old, "4");
        CHECK_STR(plan.steps[0].new_, "260");
        CHECK_INT(plan.steps[0].delta, 256);
        CHECK_STR(tree_read("/.fake/writes.log"), ""); /* a plan changes nothing */
        CHECK(tree_read(VMPREP_RUNDIR "/ledger") == NULL); /* and keeps no state */
        plan_free(&plan);
        domain_free(d);
}

TEST(hugepages_1g_vm_uses_the_boot_time_pool_and_counts_promises)
{
        host_two_nodes();
        tree_write(POOL0_1G, "2\n");
        tree_write("/sys/devices/system/node/node0/hugepages/hugepages-1048576kB/free_hugepages", "2\n");
        tree_write("/.fake/node0-1048576kB.max", "2\n"); /* nothing more at runtime */
#define VM1G "<memory unit='GiB'>1</memory><memoryBacking><hugepages><page size='1' unit='G'/></hugepages>" \
             "</memoryBacking><numatune><memory nodeset='0'/></numatune>" TAG("<vmprep:hugepages compact='no'/>")
        CHECK_INT(prepare(UUID_A, VM1G), 0);
        CHECK_INT(prepare(UUID_B, VM1G), 0);
        CHECK_INT(tree_read_ull(POOL0_1G), 2); /* used, not added */
        /* a third VM finds both free pages promised */
        stderr_capture_start();
        int r = prepare("6f0c7e38-1fd5-4a4b-9d6c-0b3e4c6a8f03", VM1G);
        char *msg = stderr_capture_end();
        CHECK(r < 0);
        CHECK_CONTAINS(msg, "hugepagesz=1G hugepages=0:3");
        free(msg);
        Ledger l;
        CHECK_INT(ledger_lock(&l), 0);
        CHECK_INT(ledger_held(&l, "hugepages-pool/0/1048576kB", NULL), 2);
        ledger_unlock(&l);
        CHECK_INT(hugepages_release(UUID_A, "a"), 0);
        CHECK_INT(hugepages_release(UUID_B, "b"), 0);
        CHECK_INT(ledger_lock(&l), 0);
        CHECK_INT(ledger_held(&l, "hugepages-pool/0/1048576kB", NULL), 0);
        ledger_unlock(&l);
        CHECK_INT(tree_read_ull(POOL0_1G), 2); /* the boot pool is left as it was */
}
