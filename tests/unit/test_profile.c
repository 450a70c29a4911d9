/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "test.h"

#include "common/domain.h"
#include "common/profile.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>

static int parse_file(const char *path, Profile **p, char *err, size_t errlen)
{
        size_t len;
        char *xml = slurp(path, &len);
        if (!xml)
                return -ENOENT;
        int r = profile_parse_document(xml, len, path, p, err, errlen);
        free(xml);
        return r;
}

TEST(profile_accepts_every_valid_fixture_and_shipped_profile)
{
        const char *dirs[] = { "tests/fixtures/profiles/valid", "profiles" };
        int n = 0;
        for (size_t k = 0; k < 2; k++) {
                DIR *dp = opendir(dirs[k]);
                CHECK(dp);
                struct dirent *de;
                while ((de = readdir(dp))) {
                        size_t l = strlen(de->d_name);
                        if (l < 5 || strcmp(de->d_name + l - 4, ".xml"))
                                continue;
                        char path[512], err[1024];
                        Profile *p = NULL;
                        snprintf(path, sizeof(path), "%s/%s", dirs[k], de->d_name);
                        if (parse_file(path, &p, err, sizeof(err)) != 0) {
                                test_fail(__FILE__, __LINE__, "%s rejected: %s", path, err);
                                closedir(dp);
                                return;
                        }
                        profile_free(p);
                        n++;
                }
                closedir(dp);
        }
        CHECK(n >= 14);
}

/* Each invalid fixture fails, and the message names what is wrong. */
TEST(profile_rejects_every_invalid_fixture_naming_the_culprit)
{
        static const struct {
                const char *file, *want;
        } cases[] = {
                { "bad-enum-group", "<vmprep:vfio group='all'>: must be one of whole, device" },
                { "bad-enum-whitespace", "<vmprep:isolate irqs=' yes'>: must be yes or no" },
                { "bad-mac", "<vmprep:vf mac='52:54:00:6d:90'>" },
                { "bad-pci-address-path", "<vmprep:device address='../../x'>: not a PCI address" },
                { "cpus-bad-list", "<vmprep:isolate cpus='2-5,,8'>" },
                { "device-outside-vfio", "unknown element <vmprep:device>" },
                { "device-without-address", "<vmprep:device>: the address attribute is required" },
                { "duplicate-hugepages", "<vmprep:hugepages> appears twice" },
                { "duplicate-vfio", "<vmprep:vfio> appears twice" },
                { "foreign-namespace-attribute", "attribute x:ksm is not part of the vmprep profile" },
                { "ksm-yes", "<vmprep:tune ksm='yes'>: must be one of on, off, unmerge" },
                { "max-cstate-10", "<vmprep:tune max-cstate='10'>: must be a whole number from 0 to 9" },
                { "negative-vfs", "<vmprep:sriov vfs='-1'>" },
                { "nodes-trailing-dash", "<vmprep:hugepages nodes='0-'>" },
                { "pci-function-8", "<vmprep:device address='0000:01:00.8'>" },
                { "qos-8", "<vmprep:vf qos='8'>: must be a whole number from 0 to 7" },
                { "reset-method-comma", "<vmprep:device reset-method='flr,bus'>: must be default or up to 7 reset "
                                        "methods separated by single blanks" },
                { "rt-runtime-minus-one", "<vmprep:tune rt-runtime='-1'>: must be unlimited or microseconds" },
                { "size-2X", "<vmprep:hugepages size='2X'>: not a page size" },
                { "sriov-without-pf", "<vmprep:sriov>: the pf attribute is required" },
                { "stat-interval-0", "<vmprep:tune stat-interval='0'>: must be a whole number from 1 to 3600" },
                { "stop-services-socket", "<vmprep:vfio stop-services='ollama.service,ollama.socket'>: not a "
                                          "comma-separated list of systemd services like ollama.service" },
                { "swappiness-201", "<vmprep:tune swappiness='201'>: must be a whole number from 0 to 200" },
                { "text-content", "<vmprep:profile>: text is not allowed" },
                { "unknown-attribute", "<vmprep:hugepages>: unknown attribute count" },
                { "unknown-element", "unknown element <vmprep:cache>" },
                { "unknown-root-element", "not <profiles>" },
                { "unload-modules-trailing-comma", "<vmprep:vfio unload-modules='nvidia,'>" },
                { "use-uppercase", "<vmprep:profile use='Gaming'>" },
                { "vf-without-index", "<vmprep:vf>: the index attribute is required" },
                { "vlan-4095", "<vmprep:vf vlan='4095'>: must be a whole number from 0 to 4094" },
                { "wrong-namespace", "must be <vmprep:profile xmlns:vmprep=\"urn:vmprep:1\">" },
        };
        size_t files = 0;
        DIR *dp = opendir("tests/fixtures/profiles/invalid");
        CHECK(dp);
        for (struct dirent *de; (de = readdir(dp));)
                files += strstr(de->d_name, ".xml") != NULL;
        closedir(dp);
        CHECK_INT(files, sizeof(cases) / sizeof(cases[0]));
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char path[512], err[1024] = "";
                Profile *p = NULL;
                snprintf(path, sizeof(path), "tests/fixtures/profiles/invalid/%s.xml", cases[i].file);
                int r = parse_file(path, &p, err, sizeof(err));
                profile_free(p);
                if (r != -EINVAL) {
                        test_fail(__FILE__, __LINE__, "%s: r=%d", path, r);
                        return;
                }
                CHECK_CONTAINS(err, cases[i].want);
                CHECK_CONTAINS(err, path); /* and says where */
        }
}

/* A tagged domain; also sets up an empty fake root so that
 * /etc/vmprep/profiles is looked up there, not on this machine. */
static Domain *domain_with(const char *metadata)
{
        char xml[4096];
        if (!getenv("VMPREP_ROOT"))
                tree_new();
        snprintf(xml, sizeof(xml),
                 "<domain type='kvm'><name>vm1</name><uuid>6f0c7e38-1fd5-4a4b-9d6c-0b3e4c6a8f01</uuid>"
                 "<memory unit='MiB'>512</memory><metadata>%s</metadata></domain>", metadata);
        Domain *d = NULL;
        char err[512];
        if (domain_parse(xml, strlen(xml), &d, err, sizeof(err)) < 0) {
                fprintf(stdout, "# %s\n", err);
                return NULL;
        }
        return d;
}

TEST(profile_absent_means_untagged)
{
        Domain *d = domain_with("<other:x xmlns:other='urn:other'/>");
        Profile *p = (Profile *) 1;
        char err[256];
        CHECK(d);
        CHECK_INT(profile_from_domain(d, &p, err, sizeof(err)), 0);
        CHECK(p == NULL);
        domain_free(d);
}

TEST(profile_overrides_named_profile_attribute_by_attribute)
{
        Domain *d = domain_with("<vmprep:profile xmlns:vmprep='urn:vmprep:1' use='gaming'>"
                                "<vmprep:hugepages compact='no'/><vmprep:isolate irqs='no'/>"
                                "<vmprep:tune governor='performance'/></vmprep:profile>");
        Profile *p = NULL;
        char err[1024];
        CHECK(d);
        CHECK_INT(profile_from_domain(d, &p, err, sizeof(err)), 0);
        CHECK(p);
        CHECK_STR(p->use, "gaming");
        const ProfileElem *h = profile_elem(p, "hugepages");
        CHECK_STR(profile_attr(h, "compact"), "no");   /* overridden */
        CHECK_STR(profile_attr(h, "nodes"), "auto");   /* kept from gaming.xml */
        const ProfileElem *iso = profile_elem(p, "isolate");
        CHECK_STR(profile_attr(iso, "irqs"), "no");
        CHECK_STR(profile_attr(iso, "workqueues"), "yes");
        CHECK_STR(profile_attr(profile_elem(p, "vfio"), "single-gpu"), "auto");
        CHECK_STR(profile_attr(profile_elem(p, "tune"), "governor"), "performance"); /* added */
        CHECK(profile_enabled(p, "vfio"));
        profile_free(p);
        domain_free(d);
}

TEST(profile_enabled_no_turns_a_named_capability_off)
{
        Domain *d = domain_with("<p:profile xmlns:p='urn:vmprep:1' use='gaming'><p:hugepages enabled='no'/></p:profile>");
        Profile *p = NULL;
        char err[1024];
        CHECK(d);
        CHECK_INT(profile_from_domain(d, &p, err, sizeof(err)), 0);
        CHECK(!profile_enabled(p, "hugepages"));
        CHECK(profile_enabled(p, "isolate"));
        profile_free(p);
        domain_free(d);
}

TEST(profile_sriov_merges_by_pf_and_vf_index)
{
        tree_new();
        tree_write("/etc/vmprep/profiles/site.xml",
                   "<vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:sriov pf='0000:41:00.0' vfs='4'>"
                   "<vmprep:vf index='0' vlan='100' trust='on'/><vmprep:vf index='1' vlan='101'/></vmprep:sriov>"
                   "</vmprep:profile>");
        Domain *d = domain_with("<vmprep:profile xmlns:vmprep='urn:vmprep:1' use='site'>"
                                "<vmprep:sriov pf='41:00.0'><vmprep:vf index='1' vlan='200'/></vmprep:sriov>"
                                "<vmprep:sriov pf='0000:42:00.0' vfs='2'/></vmprep:profile>");
        Profile *p = NULL;
        char err[1024];
        CHECK(d);
        CHECK_INT(profile_from_domain(d, &p, err, sizeof(err)), 0);
        size_t n = 0;
        const ProfileElem *first = NULL;
        for (size_t i = 0; i < p->n_elems; i++)
                if (!strcmp(p->elems[i].name, "sriov")) {
                        n++;
                        if (!first)
                                first = &p->elems[i];
                }
        CHECK_INT(n, 2);
        CHECK_STR(profile_attr(first, "vfs"), "4");
        CHECK_INT(first->n_children, 2);
        CHECK_STR(profile_attr(&first->children[0], "vlan"), "100");
        CHECK_STR(profile_attr(&first->children[0], "trust"), "on");
        CHECK_STR(profile_attr(&first->children[1], "vlan"), "200");
        profile_free(p);
        domain_free(d);
}

TEST(profile_administrator_profiles_override_shipped_ones)
{
        tree_new();
        tree_write("/etc/vmprep/profiles/gaming.xml",
                   "<vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:hugepages compact='no'/></vmprep:profile>");
        Domain *d = domain_with("<vmprep:profile xmlns:vmprep='urn:vmprep:1' use='gaming'/>");
        Profile *p = NULL;
        char err[1024];
        CHECK(d);
        CHECK_INT(profile_from_domain(d, &p, err, sizeof(err)), 0);
        CHECK_STR(profile_attr(profile_elem(p, "hugepages"), "compact"), "no");
        CHECK(profile_elem(p, "vfio") == NULL); /* the shipped one is not read at all */
        profile_free(p);
        domain_free(d);
}

TEST(profile_errors_for_domains_name_the_problem)
{
        static const struct {
                const char *meta, *want;
        } cases[] = {
                { "<vmprep:profile xmlns:vmprep='urn:vmprep:1' use='nosuch'/>", "there is no profile 'nosuch'" },
                { "<vmprep:profile xmlns:vmprep='urn:vmprep:1' use='../../etc/passwd'/>", "use='../../etc/passwd'" },
                { "<vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:hugepages size='0'/></vmprep:profile>",
                  "size='0'" },
                { "<vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:sriov pf='0000:41:00.0' vfs='2'>"
                  "<vmprep:vf index='2'/></vmprep:sriov></vmprep:profile>",
                  "<vmprep:vf index='2'>: the PF 0000:41:00.0 gets only 2 VFs" },
                { "<vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:sriov pf='0000:41:00.0'/>"
                  "<vmprep:sriov pf='41:00.0'/></vmprep:profile>",
                  "<vmprep:sriov pf=0000:41:00.0> appears twice" },
                { "<vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:vfio><vmprep:device address='41:00.0'/>"
                  "<vmprep:device address='0000:41:00.0'/></vmprep:vfio></vmprep:profile>",
                  "appears twice" },
                { "<vmprep:profile xmlns:vmprep='urn:vmprep:1'/><vmprep:extra xmlns:vmprep='urn:vmprep:1'/>",
                  "2 elements in namespace urn:vmprep:1" },
                { "<vmprep:hugepages xmlns:vmprep='urn:vmprep:1'/>", "not <hugepages>" },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                Domain *d = domain_with(cases[i].meta);
                Profile *p = NULL;
                char err[1024] = "";
                CHECK(d);
                int r = profile_from_domain(d, &p, err, sizeof(err));
                profile_free(p);
                domain_free(d);
                if (r != -EINVAL) {
                        test_fail(__FILE__, __LINE__, "case %zu: r=%d", i, r);
                        return;
                }
                CHECK_CONTAINS(err, cases[i].want);
        }
}

TEST(profile_named_profile_cannot_chain)
{
        tree_new();
        tree_write("/etc/vmprep/profiles/loop.xml", "<vmprep:profile xmlns:vmprep='urn:vmprep:1' use='loop'/>");
        Domain *d = domain_with("<vmprep:profile xmlns:vmprep='urn:vmprep:1' use='loop'/>");
        Profile *p = NULL;
        char err[1024];
        CHECK(d);
        CHECK_INT(profile_from_domain(d, &p, err, sizeof(err)), -EINVAL);
        CHECK_CONTAINS(err, "cannot itself use another");
        domain_free(d);
}
