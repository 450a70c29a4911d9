/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "test.h"

#include "common/parse.h"

#include <errno.h>

TEST(parse_u64_accepts_bounds_and_rejects_garbage)
{
        uint64_t v;
        CHECK_INT(parse_u64("0", 0, 10, &v), 0);
        CHECK_INT(v, 0);
        CHECK_INT(parse_u64("10", 0, 10, &v), 0);
        CHECK_INT(v, 10);
        CHECK_INT(parse_u64("11", 0, 10, &v), -ERANGE);
        CHECK_INT(parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
        CHECK_INT(parse_u64("18446744073709551616", 0, UINT64_MAX, &v), -ERANGE);
        CHECK_INT(parse_u64("99999999999999999999999", 0, UINT64_MAX, &v), -ERANGE);
        const char *bad[] = { "", " 1", "1 ", "-1", "+1", "1x", "0x10", "1.5", NULL };
        for (size_t i = 0; bad[i]; i++)
                CHECK(parse_u64(bad[i], 0, UINT64_MAX, &v) < 0);
        CHECK(parse_u64(NULL, 0, 1, &v) < 0);
}

TEST(parse_i64_negative_counts_and_limits)
{
        int64_t v;
        CHECK_INT(parse_i64("-1", -1, 5, &v), 0);
        CHECK_INT(v, -1);
        CHECK_INT(parse_i64("-2", -1, 5, &v), -ERANGE);
        CHECK_INT(parse_i64("-9223372036854775808", INT64_MIN, INT64_MAX, &v), 0);
        CHECK(v == INT64_MIN);
        CHECK_INT(parse_i64("9223372036854775808", INT64_MIN, INT64_MAX, &v), -ERANGE);
        CHECK(parse_i64("-", INT64_MIN, INT64_MAX, &v) < 0);
        CHECK(parse_i64("--1", INT64_MIN, INT64_MAX, &v) < 0);
}

TEST(parse_u64_c_reads_libvirt_address_parts)
{
        uint64_t v;
        CHECK_INT(parse_u64_c("0x1f", 0x1f, &v), 0);
        CHECK_INT(v, 31);
        CHECK_INT(parse_u64_c("0x20", 0x1f, &v), -ERANGE);
        CHECK_INT(parse_u64_c("12", 0xff, &v), 0);
        CHECK_INT(v, 12);
        CHECK(parse_u64_c("0x", 0xff, &v) < 0);
        CHECK(parse_u64_c("0xg", 0xff, &v) < 0);
        CHECK(parse_u64_c("", 0xff, &v) < 0);
        CHECK(parse_u64_c("0x11111111111111111", UINT64_MAX, &v) < 0);
}

TEST(parse_size_units_follow_libvirt)
{
        static const struct {
                const char *value, *unit;
                uint64_t kib;
        } ok[] = {
                { "1048576", NULL, 1048576 }, { "1048576", "KiB", 1048576 }, { "1048576", "k", 1048576 },
                { "2", "M", 2048 },           { "2", "MiB", 2048 },          { "1", "G", 1048576 },
                { "1", "GiB", 1048576 },      { "1", "T", 1073741824ULL },  { "1000", "KB", 977 },
                { "1", "MB", 977 },           { "4096", "b", 4 },           { "1", "bytes", 1 },
                { "2M", NULL, 2048 },         { "1G", NULL, 1048576 },       { "2048K", NULL, 2048 },
                { "0", NULL, 0 },
        };
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                uint64_t kib = 0;
                CHECK_INT(parse_size_kib(ok[i].value, ok[i].unit, "KiB", &kib), 0);
                CHECK_INT(kib, ok[i].kib);
        }
        uint64_t kib;
        CHECK(parse_size_kib("2X", NULL, "KiB", &kib) < 0);
        CHECK(parse_size_kib("2", "furlongs", "KiB", &kib) < 0);
        CHECK(parse_size_kib("2M", "KiB", "KiB", &kib) < 0); /* unit twice */
        CHECK(parse_size_kib("-2", NULL, "KiB", &kib) < 0);
        CHECK(parse_size_kib("", NULL, "KiB", &kib) < 0);
        CHECK_INT(parse_size_kib("99999999999", "EiB", "KiB", &kib), -ERANGE);
}

TEST(format_size_picks_the_largest_exact_unit)
{
        char buf[32];
        format_size_kib(2048, buf, sizeof(buf));
        CHECK_STR(buf, "2 MiB");
        format_size_kib(1048576, buf, sizeof(buf));
        CHECK_STR(buf, "1 GiB");
        format_size_kib(1536, buf, sizeof(buf));
        CHECK_STR(buf, "1536 KiB");
}

TEST(cpuset_parse_and_format_round_trip)
{
        static const struct {
                const char *in, *out;
        } cases[] = {
                { "0", "0" },           { "0-3", "0-3" },          { "3,1,2,0", "0-3" },
                { "0-7,^3", "0-2,4-7" }, { "0-3, 8 ,10-11", "0-3,8,10-11" }, { "8191", "8191" },
                { "0,1,2,3,4,5,6,7", "0-7" }, { "6-11,18-23", "6-11,18-23" },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                CpuSet s;
                char buf[128];
                CHECK_INT(cpuset_parse(cases[i].in, &s), 0);
                CHECK_INT(cpuset_format(&s, buf, sizeof(buf)), 0);
                CHECK_STR(buf, cases[i].out);
        }
}

TEST(cpuset_parse_rejects_hostile_lists)
{
        const char *bad[] = { "", " ", "0-99999999", "8192", "3-1", "1-", "-1", "a", "0,,1", "0-3,", "^3",
                              "0-^3", "1 2", "99999999999999999999", "7,^7", "0-3,^0-3", NULL };
        for (size_t i = 0; bad[i]; i++) {
                CpuSet s;
                if (cpuset_parse(bad[i], &s) == 0) {
                        test_fail(__FILE__, __LINE__, "accepted '%s'", bad[i]);
                        return;
                }
        }
}

TEST(cpuset_set_operations)
{
        CpuSet a, b;
        CHECK_INT(cpuset_parse("0-3", &a), 0);
        CHECK_INT(cpuset_parse("2-5", &b), 0);
        CHECK(cpuset_intersects(&a, &b));
        cpuset_andnot(&a, &b);
        char buf[32];
        cpuset_format(&a, buf, sizeof(buf));
        CHECK_STR(buf, "0-1");
        cpuset_or(&a, &b);
        cpuset_format(&a, buf, sizeof(buf));
        CHECK_STR(buf, "0-5");
        CHECK_INT(cpuset_count(&a), 6);
        CHECK_INT(cpuset_next(&a, 2), 2);
        CHECK_INT(cpuset_next(&a, 6), -1);
        cpuset_clear(&a);
        CHECK(cpuset_empty(&a));
        char tiny[4];
        CHECK_INT(cpuset_parse("0,2,4,6", &b), 0);
        CHECK_INT(cpuset_format(&b, tiny, sizeof(tiny)), -ENOBUFS);
}

TEST(pci_address_parse_accepts_both_forms)
{
        PciAddress a;
        char buf[PCI_ADDRESS_STRLEN];
        CHECK_INT(pci_address_parse("0000:0d:00.3", &a), 0);
        pci_address_format(&a, buf);
        CHECK_STR(buf, "0000:0d:00.3");
        CHECK_INT(pci_address_parse("0D:1F.7", &a), 0);
        pci_address_format(&a, buf);
        CHECK_STR(buf, "0000:0d:1f.7");
        CHECK_INT(pci_address_parse("10000:e1:00.0", &a), 0); /* VMD domain */
        pci_address_format(&a, buf);
        CHECK_STR(buf, "10000:e1:00.0");
}

TEST(pci_address_parse_rejects_traversal_and_junk)
{
        const char *bad[] = { "", "../../x", "0000:0d:00.0/../../", "0000:0d:20.0", "0000:0d:00.8",
                              "0000:0d:00", "0d:00.0.0", "000:0d:00.0", "0000:d:00.0", "0000:0d:0.0",
                              "0000:0d:00.0 ", " 0000:0d:00.0", "0000:0d:00.", "zzzz:0d:00.0", "00:00.0x", NULL };
        for (size_t i = 0; bad[i]; i++) {
                PciAddress a;
                if (pci_address_parse(bad[i], &a) == 0) {
                        test_fail(__FILE__, __LINE__, "accepted '%s'", bad[i]);
                        return;
                }
        }
}

TEST(uuid_parse_normalises_case)
{
        char u[UUID_STRLEN];
        CHECK_INT(uuid_parse("4DEA22B3-1D52-D8F3-2516-782E98AB3FA0", u), 0);
        CHECK_STR(u, "4dea22b3-1d52-d8f3-2516-782e98ab3fa0");
        CHECK(uuid_parse("4dea22b3-1d52-d8f3-2516-782e98ab3fa", u) < 0);
        CHECK(uuid_parse("4dea22b3-1d52-d8f3-2516-782e98ab3fa00", u) < 0);
        CHECK(uuid_parse("../../../../etc/passwd", u) < 0);
        CHECK(uuid_parse("4dea22b31d52d8f32516782e98ab3fa0", u) < 0);
}

TEST(names_are_plain)
{
        CHECK(name_is_valid("gaming"));
        CHECK(name_is_valid("vfio_pci"));
        CHECK(!name_is_valid(""));
        CHECK(!name_is_valid("../x"));
        CHECK(!name_is_valid("a/b"));
        CHECK(!name_is_valid("-x"));
        CHECK(!name_is_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

TEST(service_names_end_in_service_and_allow_template_instances)
{
        CHECK(service_name_is_valid("nvidia-persistenced.service"));
        CHECK(service_name_is_valid("ollama@gpu0.service"));
        CHECK(!service_name_is_valid(".service"));
        CHECK(!service_name_is_valid("ollama"));
        CHECK(!service_name_is_valid("ollama.socket"));
        CHECK(!service_name_is_valid("-x.service"));
        CHECK(!service_name_is_valid("../x.service"));
        CHECK(!service_name_is_valid("systemd-cryptsetup@luks\\x2droot.service"));
        CHECK(!service_name_is_valid("a b.service"));
        /* 64 characters at most: the journal's and the profile's bound */
        CHECK(service_name_is_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.service"));
        CHECK(!service_name_is_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.service"));
}
