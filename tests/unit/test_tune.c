/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Tunables: which files a profile asks to change (pure), and the realtime
 * checks against the domain and the kernel command line. */
#include "test.h"

#include "common/tune.h"

#include <stdlib.h>

#define DOM(body) "<domain type='kvm'><name>t</name><uuid>6f0c7e38-1fd5-4a4b-9d6c-0b3e4c6a8f01</uuid>" body "</domain>"

static Profile *profile_of(const char *xml)
{
        Profile *p = NULL;
        char err[1024];
        if (profile_parse_document(xml, strlen(xml), "test", &p, err, sizeof(err)) < 0)
                printf("# profile: %s\n", err);
        return p;
}

TEST(tune_settings_per_core_and_host_wide)
{
        Profile *p = profile_of("<vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:tune governor='performance' "
                                "max-cstate='1' thp='never' ksm='off' rt-runtime='unlimited' swappiness='0' "
                                "stat-interval='10'/></vmprep:profile>");
        CpuSet cores;
        unsigned cstates[4] = { 4, 4, 2, 4 };
        int policy[4] = { 0, 1, 2, -1 };
        TuneHost host = { 4, cstates, policy };
        TuneSetting *s = NULL;
        size_t n = 0;
        char all[4096] = "";
        CHECK(p);
        CHECK_INT(cpuset_parse("2-3", &cores), 0);
        CHECK_INT(tune_settings(p, &cores, &host, &s, &n), 0);
        for (size_t i = 0; i < n; i++)
                snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s=%s\n", s[i].path, s[i].want);
        CHECK_STR(all, "/sys/kernel/mm/transparent_hugepage/enabled=never\n"
                       "/sys/kernel/mm/ksm/run=0\n"
                       "/proc/sys/kernel/sched_rt_runtime_us=-1\n"
                       "/proc/sys/vm/swappiness=0\n"
                       "/proc/sys/vm/stat_interval=10\n"
                       "/sys/devices/system/cpu/cpufreq/policy2/scaling_governor=performance\n"
                       "/sys/devices/system/cpu/cpu3/cpufreq/scaling_governor=performance\n"
                       "/sys/devices/system/cpu/cpu3/cpuidle/state2/disable=1\n"
                       "/sys/devices/system/cpu/cpu3/cpuidle/state3/disable=1\n");
        free(s);
        profile_free(p);
        p = profile_of("<vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:tune enabled='no' thp='never'/></vmprep:profile>");
        CHECK_INT(tune_settings(p, &cores, &host, &s, &n), 0);
        CHECK_INT(n, 0);
        profile_free(p);
}

TEST(tune_settings_ksm_off_stops_ksmd_and_only_unmerge_unmerges)
{
        static const struct {
                const char *ksm, *want, *also;
                bool absent_ok;
        } cases[] = {
                { "on", "1", "", false },
                { "off", "0", "2", true }, /* 2 has ksmd stopped too; no KSM merges nothing */
                { "unmerge", "2", "", true },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char xml[256];
                snprintf(xml, sizeof(xml), "<vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:tune ksm='%s'/>"
                         "</vmprep:profile>", cases[i].ksm);
                Profile *p = profile_of(xml);
                TuneSetting *s = NULL;
                size_t n = 0;
                CHECK(p);
                CHECK_INT(tune_settings(p, NULL, NULL, &s, &n), 0);
                CHECK_INT(n, 1);
                CHECK_STR(s[0].path, "/sys/kernel/mm/ksm/run");
                CHECK_STR(s[0].want, cases[i].want);
                CHECK_STR(s[0].also, cases[i].also);
                CHECK_INT(s[0].absent_ok, cases[i].absent_ok);
                CHECK(tune_satisfied(&s[0], cases[i].want));
                CHECK_INT(tune_satisfied(&s[0], "2"), strcmp(cases[i].ksm, "on") != 0);
                free(s);
                profile_free(p);
        }
}

TEST(tune_settings_one_governor_per_cpufreq_policy)
{
        Profile *p = profile_of("<vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:tune governor='performance'/>"
                                "</vmprep:profile>");
        CpuSet cores;
        int policy[8] = { 0, 0, 0, 0, 4, 4, 4, 4 };
        TuneHost host = { 8, NULL, policy };
        TuneSetting *s = NULL;
        size_t n = 0;
        CHECK(p);
        CHECK_INT(cpuset_parse("2-5", &cores), 0);
        CHECK_INT(tune_settings(p, &cores, &host, &s, &n), 0);
        CHECK_INT(n, 2);
        CHECK_STR(s[0].resource, "tune/governor/policy0");
        CHECK_STR(s[0].path, "/sys/devices/system/cpu/cpufreq/policy0/scaling_governor");
        CHECK_STR(s[1].resource, "tune/governor/policy4");
        free(s);
        profile_free(p);
}

TEST(tune_ksm_advice_suggests_nosharepages)
{
        char err[1024], buf[512];
        Domain *d = NULL;
        Profile *p = profile_of("<vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:tune ksm='off'/></vmprep:profile>");
        const char *xml = DOM("<vcpu>1</vcpu>");
        CHECK_INT(domain_parse(xml, strlen(xml), &d, err, sizeof(err)), 0);
        CHECK_INT(tune_ksm_advice(d, p, buf, sizeof(buf)), 1);
        CHECK_CONTAINS(buf, "ksm='off' stops ksmd, but what it merged stays merged, t's memory among it");
        CHECK_CONTAINS(buf, "add <memoryBacking><nosharepages/></memoryBacking>");
        domain_free(d);
        xml = DOM("<vcpu>1</vcpu><memoryBacking><nosharepages/></memoryBacking>");
        CHECK_INT(domain_parse(xml, strlen(xml), &d, err, sizeof(err)), 0);
        CHECK(d->nosharepages);
        CHECK_INT(tune_ksm_advice(d, p, buf, sizeof(buf)), 0);
        CHECK_STR(buf, "");
        domain_free(d);
        profile_free(p);
}

TEST(tune_realtime_check_names_what_to_add)
{
        char err[1024], buf[2048];
        Domain *d = NULL;
        CpuSet vcpus;
        CHECK_INT(cpuset_parse("2-3", &vcpus), 0);
        const char *xml = DOM("<vcpu>2</vcpu><cputune><vcpusched vcpus='0' scheduler='fifo' priority='1'/></cputune>");
        CHECK_INT(domain_parse(xml, strlen(xml), &d, err, sizeof(err)), 0);
        CHECK_INT(tune_realtime_check(d, &vcpus, "root=/dev/vda isolcpus=2-3 nohz_full=3", buf, sizeof(buf)), 4);
        CHECK_CONTAINS(buf, "vCPU 1 has no realtime scheduler");
        CHECK_CONTAINS(buf, "<memoryBacking><locked/></memoryBacking>");
        CHECK_CONTAINS(buf, "KSM may merge guest pages, and a write to a merged page first copies it; add "
                            "<memoryBacking><nosharepages/></memoryBacking>");
        CHECK_CONTAINS(buf, "lacks nohz_full, rcu_nocbs for the vCPUs' CPUs 2-3");
        CHECK_CONTAINS(buf, "add: isolcpus=managed_irq,domain,2-3 nohz_full=2-3 rcu_nocbs=2-3");
        domain_free(d);
        xml = DOM("<vcpu>2</vcpu><memoryBacking><nosharepages/><locked/></memoryBacking><cputune><vcpusched vcpus='0-1' "
                  "scheduler='rr' priority='1'/></cputune>");
        CHECK_INT(domain_parse(xml, strlen(xml), &d, err, sizeof(err)), 0);
        CHECK_INT(tune_realtime_check(d, &vcpus, "isolcpus=managed_irq,domain,2-3 nohz_full=1-3 rcu_nocbs=2-3 quiet",
                                      buf, sizeof(buf)), 0);
        domain_free(d);
}
