/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The domain reader against independent ground truth: every seed fixture
 * and every real user XML in the corpus has a .facts file written by hand
 * (tests/fixtures/expected), compared key by key.
 */
#include "test.h"

#include "common/domain.h"
#include "common/xml.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>

#define CORPUS_DEFAULT "../shared/corpus/user-xml"

static void setfmt(const CpuSet *s, char *out, size_t size) { cpuset_format(s, out, size); }

/* One key of a parsed domain in the .facts format. */
static void fact(const Domain *d, const char *key, char *out, size_t size)
{
        char s[512];
        size_t len = 0;
        out[0] = '\0';

#define ADD(...)                                                                                           \
        do {                                                                                               \
                int _n = snprintf(out + len, size - len, "%s", len ? " " : "");                            \
                len += (size_t) _n;                                                                        \
                _n = snprintf(out + len, size - len, __VA_ARGS__);                                         \
                len += (size_t) _n;                                                                        \
        } while (0)

        if (!strcmp(key, "name"))
                snprintf(out, size, "%s", d->name);
        else if (!strcmp(key, "uuid"))
                snprintf(out, size, "%s", d->uuid);
        else if (!strcmp(key, "memory_kib")) {
                if (d->memory_kib)
                        snprintf(out, size, "%llu", (unsigned long long) d->memory_kib);
        } else if (!strcmp(key, "vcpu_max")) {
                if (d->has_vcpu)
                        snprintf(out, size, "%u", d->vcpu_max);
        } else if (!strcmp(key, "vcpu_current")) {
                if (d->has_vcpu)
                        snprintf(out, size, "%u", d->vcpu_current);
        } else if (!strcmp(key, "vcpu_cpuset")) {
                if (d->has_vcpu_cpuset)
                        setfmt(&d->vcpu_cpuset, out, size);
        } else if (!strcmp(key, "hugepages"))
                snprintf(out, size, "%s", d->hugepages ? "yes" : "no");
        else if (!strcmp(key, "locked"))
                snprintf(out, size, "%s", d->locked ? "yes" : "no");
        else if (!strcmp(key, "pages")) {
                for (size_t i = 0; i < d->n_pages; i++) {
                        if (d->pages[i].has_nodeset) {
                                setfmt(&d->pages[i].nodeset, s, sizeof(s));
                                ADD("%llu@%s", (unsigned long long) d->pages[i].size_kib, s);
                        } else {
                                ADD("%llu", (unsigned long long) d->pages[i].size_kib);
                        }
                }
        } else if (!strcmp(key, "numatune")) {
                if (d->has_numatune) {
                        if (d->numatune_auto)
                                snprintf(out, size, "%s:auto", d->numatune_mode);
                        else {
                                setfmt(&d->numatune_nodeset, s, sizeof(s));
                                snprintf(out, size, "%s:%s", d->numatune_mode, s);
                        }
                }
        } else if (!strcmp(key, "memnodes")) {
                for (size_t i = 0; i < d->n_memnodes; i++) {
                        setfmt(&d->memnodes[i].nodeset, s, sizeof(s));
                        ADD("%u:%s:%s", d->memnodes[i].cellid, d->memnodes[i].mode, s);
                }
        } else if (!strcmp(key, "cells")) {
                for (size_t i = 0; i < d->n_cells; i++) {
                        setfmt(&d->cells[i].cpus, s, sizeof(s));
                        ADD("%u:%s:%llu", d->cells[i].id, s, (unsigned long long) d->cells[i].memory_kib);
                }
        } else if (!strcmp(key, "vcpupin")) {
                for (size_t i = 0; i < d->n_vcpupins; i++) {
                        setfmt(&d->vcpupins[i].cpus, s, sizeof(s));
                        ADD("%u:%s", d->vcpupins[i].id, s);
                }
        } else if (!strcmp(key, "emulatorpin")) {
                if (d->has_emulatorpin)
                        setfmt(&d->emulatorpin, out, size);
        } else if (!strcmp(key, "iothreadpin")) {
                for (size_t i = 0; i < d->n_iothreadpins; i++) {
                        setfmt(&d->iothreadpins[i].cpus, s, sizeof(s));
                        ADD("%u:%s", d->iothreadpins[i].id, s);
                }
        } else if (!strcmp(key, "vcpusched")) {
                for (size_t i = 0; i < d->n_vcpuscheds; i++) {
                        char prio[16] = "";
                        setfmt(&d->vcpuscheds[i].vcpus, s, sizeof(s));
                        if (d->vcpuscheds[i].has_priority)
                                snprintf(prio, sizeof(prio), "%d", d->vcpuscheds[i].priority);
                        ADD("%s:%s:%s", s, d->vcpuscheds[i].scheduler, prio);
                }
        } else if (!strcmp(key, "pci_hostdevs")) {
                for (size_t i = 0; i < d->n_hostdevs; i++) {
                        char a[PCI_ADDRESS_STRLEN];
                        pci_address_format(&d->hostdevs[i], a);
                        ADD("%s", a);
                }
        } else {
                snprintf(out, size, "?unknown key %s", key);
        }
#undef ADD
}

/* Compare one XML with its .facts; returns the number of checked keys, -1 on failure. */
static int check_facts(const char *xml_path, const char *facts_path)
{
        size_t len;
        char *xml = slurp(xml_path, &len);
        char *facts = slurp(facts_path, NULL);
        char err[1024];
        Domain *d = NULL;
        int checked = 0;

        if (!xml || !facts) {
                test_fail(__FILE__, __LINE__, "cannot read %s or %s", xml_path, facts_path);
                free(xml);
                free(facts);
                return -1;
        }
        if (domain_parse(xml, len, &d, err, sizeof(err)) < 0) {
                test_fail(__FILE__, __LINE__, "%s: %s", xml_path, err);
                free(xml);
                free(facts);
                return -1;
        }
        char *save = NULL;
        for (char *line = strtok_r(facts, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                if (line[0] == '#')
                        continue;
                char *eq = strchr(line, '=');
                if (!eq)
                        continue;
                *eq = '\0';
                char got[8192];
                fact(d, line, got, sizeof(got));
                if (strcmp(got, eq + 1) != 0) {
                        test_fail(__FILE__, __LINE__, "%s: %s: got '%s', want '%s'", xml_path, line, got, eq + 1);
                        checked = -1;
                        break;
                }
                checked++;
        }
        domain_free(d);
        free(xml);
        free(facts);
        return checked;
}

static int check_dir(const char *dir, int *files)
{
        DIR *dp = opendir(dir);
        struct dirent *de;
        int total = 0;

        *files = 0;
        if (!dp)
                return -ENOENT;
        while ((de = readdir(dp))) {
                size_t n = strlen(de->d_name);
                if (n < 5 || strcmp(de->d_name + n - 4, ".xml") != 0)
                        continue;
                char xml[1024], facts[1024];
                snprintf(xml, sizeof(xml), "%s/%s", dir, de->d_name);
                snprintf(facts, sizeof(facts), "tests/fixtures/expected/%.*s.facts", (int) (n - 4), de->d_name);
                int k = check_facts(xml, facts);
                if (k < 0) {
                        closedir(dp);
                        return -1;
                }
                if (k != 17) {
                        test_fail(__FILE__, __LINE__, "%s: only %d keys checked", facts, k);
                        closedir(dp);
                        return -1;
                }
                total += k;
                (*files)++;
        }
        closedir(dp);
        return total;
}

TEST(domain_reader_matches_facts_of_seed_fixtures)
{
        int files;
        int r = check_dir("tests/fixtures/seed", &files);
        CHECK(r > 0);
        CHECK_INT(files, 7);
}

TEST(domain_reader_takes_every_real_user_xml)
{
        const char *dir = getenv("VMPREP_CORPUS") ? getenv("VMPREP_CORPUS") : CORPUS_DEFAULT;
        int files;
        int r = check_dir(dir, &files);
        if (r == -ENOENT) {
                test_skip("corpus not present");
                return;
        }
        CHECK(r > 0);
        CHECK_INT(files, 12);
}

static int parse_str(const char *xml, Domain **d, char *err, size_t errlen)
{
        return domain_parse(xml, strlen(xml), d, err, errlen);
}

TEST(domain_reader_errors_name_element_attribute_and_value)
{
        static const struct {
                const char *xml, *want;
        } cases[] = {
                { "<domain><name>x</name><vcpu>4</vcpu><cputune><vcpupin vcpu='0' cpuset='0-99999999'/></cputune></domain>",
                  "<vcpupin cpuset='0-99999999'>" },
                { "<domain><name>x</name><vcpu>4</vcpu><cputune><vcpupin vcpu='7' cpuset='1'/></cputune></domain>",
                  "<vcpupin vcpu='7'>" },
                { "<domain><name>x</name><memory unit='furlong'>4</memory></domain>", "furlong" },
                { "<domain><name>x</name><memory>-4</memory></domain>", "'-4'" },
                { "<domain><name>x</name><vcpu current='9'>4</vcpu></domain>", "<vcpu current='9'>" },
                { "<domain><name>x</name><vcpu>0</vcpu></domain>", "<vcpu>0</vcpu>" },
                { "<domain><name>x</name><uuid>nope</uuid></domain>", "<uuid>nope</uuid>" },
                { "<domain><name>x</name><devices><hostdev mode='subsystem' type='pci'><source><address domain='0x0000' bus='0x100' slot='0x00' function='0x0'/></source></hostdev></devices></domain>",
                  "bus='0x100'" },
                { "<domain><name>x</name><devices><hostdev mode='subsystem' type='pci'><source><address domain='0' bus='../..' slot='0' function='0'/></source></hostdev></devices></domain>",
                  "bus='../..'" },
                { "<domain><name>x</name><numatune><memory mode='sideways' nodeset='0'/></numatune></domain>",
                  "mode='sideways'" },
                { "<domain><name>x</name><memoryBacking><hugepages><page size='2X'/></hugepages></memoryBacking></domain>",
                  "'2X'" },
                { "<domain><name>x</name><cpu><numa><cell id='0' cpus='0' memory='1'/><cell id='0' cpus='1' memory='1'/></numa></cpu></domain>",
                  "<cell id='0'> appears twice" },
                { "<domain><name></name></domain>", "<name> is empty" },
                { "<domain/>", "no <name>" },
                { "<notadomain/>", "root element is <notadomain>" },
                { "<domain><name>x</name>", "not well-formed" },
                { "", "empty" },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                Domain *d = NULL;
                char err[1024] = "";
                int r = parse_str(cases[i].xml, &d, err, sizeof(err));
                if (r != -EINVAL) {
                        test_fail(__FILE__, __LINE__, "case %zu accepted (r=%d)", i, r);
                        domain_free(d);
                        return;
                }
                CHECK_CONTAINS(err, cases[i].want);
        }
}

TEST(domain_reader_does_not_resolve_external_entities_or_xinclude)
{
        tree_new();
        tree_write("/secret", "TOPSECRET");
        char xml[2048];
        snprintf(xml, sizeof(xml),
                 "<?xml version='1.0'?><!DOCTYPE domain [<!ENTITY e SYSTEM 'file://%s/secret'>]>"
                 "<domain xmlns:xi='http://www.w3.org/2001/XInclude'><name>a&e;</name>"
                 "<description><xi:include href='file://%s/secret' parse='text'/></description></domain>",
                 getenv("VMPREP_ROOT"), getenv("VMPREP_ROOT"));
        Domain *d = NULL;
        char err[512];
        int r = parse_str(xml, &d, err, sizeof(err));
        if (r == 0) {
                CHECK(!strstr(d->name, "TOPSECRET"));
                domain_free(d);
        }
}

TEST(domain_reader_survives_deep_nesting_and_big_documents)
{
        /* 10,000 levels: libxml2's depth limit turns this into an error, not a crash */
        size_t depth = 10000;
        char *xml = malloc(depth * 7 + 64);
        size_t n = (size_t) sprintf(xml, "<domain><name>x</name>");
        for (size_t i = 0; i < depth; i++)
                n += (size_t) sprintf(xml + n, "<a>");
        for (size_t i = 0; i < depth; i++)
                n += (size_t) sprintf(xml + n, "</a>");
        n += (size_t) sprintf(xml + n, "</domain>");
        Domain *d = NULL;
        char err[512];
        int r = domain_parse(xml, n, &d, err, sizeof(err));
        domain_free(d);
        free(xml);
        CHECK(r == 0 || r == -EINVAL);

        /* 12 MiB of description text is read on every libxml2: past the
         * 10,000,000-byte text node limit that libxml2 >= 2.11 enforces
         * without XML_PARSE_HUGE, vmprep's own bound is the whole document */
        size_t big = 12 * 1024 * 1024;
        xml = malloc(big + 128);
        n = (size_t) sprintf(xml, "<domain><name>big</name><description>");
        memset(xml + n, 'x', big);
        n += big;
        n += (size_t) sprintf(xml + n, "</description><memory unit='MiB'>256</memory></domain>");
        r = domain_parse(xml, n, &d, err, sizeof(err));
        free(xml);
        CHECK_INT(r, 0);
        CHECK_INT(d->memory_kib, 262144);
        domain_free(d);

        /* past XML_MAX_BYTES: refused, saying how large it is */
        big = XML_MAX_BYTES + 1;
        xml = malloc(big);
        memset(xml, ' ', big);
        memcpy(xml, "<domain>", 8);
        d = NULL;
        r = domain_parse(xml, big, &d, err, sizeof(err));
        free(xml);
        CHECK_INT(r, -EINVAL);
        CHECK(d == NULL);
        CHECK_CONTAINS(err, "67108865 bytes, more than the 67108864 vmprep reads");
}

TEST(domain_reader_takes_units_and_cells_it_derives_from)
{
        const char *xml =
                "<domain type='kvm'><name>two-nodes</name><uuid>11111111-2222-3333-4444-555555555555</uuid>"
                "<memory unit='GiB'>4</memory><vcpu placement='static' current='2'>4</vcpu>"
                "<memoryBacking><hugepages><page size='1' unit='G' nodeset='1'/><page size='2048'/></hugepages><locked/></memoryBacking>"
                "<numatune><memory mode='strict' nodeset='0-1'/><memnode cellid='0' mode='strict' nodeset='0'/>"
                "<memnode cellid='1' mode='preferred' nodeset='1'/></numatune>"
                "<cpu><numa><cell id='0' cpus='0-1' memory='2' unit='GiB'/><cell id='1' cpus='2-3' memory='2097152'/></numa></cpu>"
                "<devices><interface type='hostdev'><source><address type='pci' domain='0x0000' bus='0x41' slot='0x10' function='0x1'/></source></interface></devices>"
                "</domain>";
        Domain *d = NULL;
        char err[512];
        CHECK_INT(parse_str(xml, &d, err, sizeof(err)), 0);
        CHECK_INT(d->memory_kib, 4194304);
        CHECK_INT(d->vcpu_max, 4);
        CHECK_INT(d->vcpu_current, 2);
        CHECK_INT(d->n_pages, 2);
        CHECK_INT(d->pages[0].size_kib, 1048576);
        CHECK(d->locked);
        CHECK_INT(d->n_cells, 2);
        CHECK_INT(d->cells[0].memory_kib, 2097152);
        CHECK_INT(d->n_memnodes, 2);
        CHECK_STR(d->memnodes[1].mode, "preferred");
        CHECK_INT(d->n_hostdevs, 1);
        CHECK_INT(d->hostdevs[0].bus, 0x41);
        CHECK_INT(d->hostdevs[0].function, 1);
        domain_free(d);
}
