/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "tune.h"

#include "cpus.h"
#include "journal.h"
#include "log.h"
#include "numa.h"
#include "shmem.h"
#include "sysfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAP "tune"
#define THP_PATH "/sys/kernel/mm/transparent_hugepage/enabled"
#define KSM_PATH "/sys/kernel/mm/ksm/run"
#define RT_PATH "/proc/sys/kernel/sched_rt_runtime_us"
#define SWAPPINESS_PATH "/proc/sys/vm/swappiness"
#define STAT_INTERVAL_PATH "/proc/sys/vm/stat_interval"

static TuneSetting *add(TuneSetting **arr, size_t *n, const char *res, const char *path, const char *want,
                        const char *label)
{
        TuneSetting *a = realloc(*arr, (*n + 1) * sizeof(*a));
        if (!a)
                return NULL;
        *arr = a;
        a = &a[(*n)++];
        memset(a, 0, sizeof(*a));
        snprintf(a->resource, sizeof(a->resource), "%s", res);
        snprintf(a->path, sizeof(a->path), "%s", path);
        snprintf(a->want, sizeof(a->want), "%s", want);
        snprintf(a->label, sizeof(a->label), "%s", label);
        return a;
}

static bool has_resource(const TuneSetting *arr, size_t n, const char *res)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(arr[i].resource, res) == 0)
                        return true;
        return false;
}

int tune_settings(const Profile *p, const CpuSet *cores, const TuneHost *host, TuneSetting **ret, size_t *n)
{
        const ProfileElem *e = profile_elem(p, "tune");
        TuneSetting *arr = NULL;
        const char *v;
        char res[64], path[256], label[64];
        int r = 0;

        *ret = NULL;
        *n = 0;
        if (!e || !profile_enabled(p, "tune"))
                return 0;
        if ((v = profile_attr(e, "thp")))
                r = add(&arr, n, "tune/thp", THP_PATH, v, "transparent hugepages") ? 0 : -ENOMEM;
        if (r == 0 && (v = profile_attr(e, "ksm"))) {
                /* run: 1 ksmd merges; 0 ksmd stops, merged pages stay; 2 ksmd
                 * stops and every merged page on the host is unmerged, inside
                 * the write (Documentation/admin-guide/mm/ksm.rst).  'off'
                 * is content with 2, and with no KSM at all. */
                bool on = strcmp(v, "on") == 0, unmerge = strcmp(v, "unmerge") == 0;
                TuneSetting *t = add(&arr, n, "tune/ksm", KSM_PATH, on ? "1" : unmerge ? "2" : "0", "KSM");
                if (t && !on && !unmerge)
                        snprintf(t->also, sizeof(t->also), "2");
                if (t)
                        t->absent_ok = !on;
                r = t ? 0 : -ENOMEM;
        }
        if (r == 0 && (v = profile_attr(e, "rt-runtime")))
                r = add(&arr, n, "tune/rt-runtime", RT_PATH, strcmp(v, "unlimited") == 0 ? "-1" : v,
                        "RT throttling (sched_rt_runtime_us)") ? 0 : -ENOMEM;
        if (r == 0 && (v = profile_attr(e, "swappiness")))
                r = add(&arr, n, "tune/swappiness", SWAPPINESS_PATH, v, "vm.swappiness") ? 0 : -ENOMEM;
        if (r == 0 && (v = profile_attr(e, "stat-interval")))
                r = add(&arr, n, "tune/stat-interval", STAT_INTERVAL_PATH, v, "vm.stat_interval") ? 0 : -ENOMEM;
        const char *gov = profile_attr(e, "governor"), *epp = profile_attr(e, "epp");
        const char *cs = profile_attr(e, "max-cstate");
        uint64_t max = 0;
        if (cs && parse_u64(cs, 0, 9, &max) < 0)
                cs = NULL;
        for (int c = cores ? cpuset_next(cores, 0) : -1; c >= 0 && r == 0; c = cpuset_next(cores, (unsigned) c + 1)) {
                bool known = host && (unsigned) c < host->n_cpus;
                int policy = known && host->policy ? host->policy[c] : -1;
                /* the governor is the policy's: one setting (and one ledger
                 * count) per policy, shared with every VM on its CPUs */
                if (gov && policy >= 0) {
                        snprintf(res, sizeof(res), "tune/governor/policy%d", policy);
                        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpufreq/policy%d/scaling_governor", policy);
                        snprintf(label, sizeof(label), "the cpufreq governor of policy%d", policy);
                } else if (gov) {
                        snprintf(res, sizeof(res), "tune/governor/cpu%d", c);
                        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/cpufreq/scaling_governor", c);
                        snprintf(label, sizeof(label), "the cpufreq governor of CPU %d", c);
                }
                if (gov && !has_resource(arr, *n, res)) {
                        /* no cpufreq driver (the firmware sets the frequency:
                         * "OS control" off, vendor performance profiles): a
                         * governor is nothing to set, not a failed start */
                        TuneSetting *t = add(&arr, n, res, path, gov, label);
                        if (t)
                                t->absent_ok = true;
                        r = t ? 0 : -ENOMEM;
                }
                /* energy_performance_preference lives in the policy too
                 * (amd-pstate-epp, intel_pstate active mode) */
                if (epp && r == 0) {
                        if (policy >= 0) {
                                snprintf(res, sizeof(res), "tune/epp/policy%d", policy);
                                snprintf(path, sizeof(path),
                                         "/sys/devices/system/cpu/cpufreq/policy%d/energy_performance_preference", policy);
                                snprintf(label, sizeof(label), "the EPP of policy%d", policy);
                        } else {
                                snprintf(res, sizeof(res), "tune/epp/cpu%d", c);
                                snprintf(path, sizeof(path),
                                         "/sys/devices/system/cpu/cpu%d/cpufreq/energy_performance_preference", c);
                                snprintf(label, sizeof(label), "the EPP of CPU %d", c);
                        }
                        if (!has_resource(arr, *n, res))
                                r = add(&arr, n, res, path, epp, label) ? 0 : -ENOMEM;
                }
                /* cpuidle stateN: deeper as N grows (state0 is polling);
                 * max-cstate=M keeps 0..M and disables the deeper ones */
                unsigned states = known && host->cstates ? host->cstates[c] : 0;
                for (unsigned s = (unsigned) max + 1; cs && s < states && r == 0; s++) {
                        snprintf(res, sizeof(res), "tune/cstate/cpu%d/state%u", c, s);
                        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/cpuidle/state%u/disable", c, s);
                        snprintf(label, sizeof(label), "idle state %u of CPU %d", s, c);
                        r = add(&arr, n, res, path, "1", label) ? 0 : -ENOMEM;
                }
        }
        if (r < 0) {
                free(arr);
                *n = 0;
                return log_oom();
        }
        *ret = arr;
        return 0;
}

int tune_host_read(unsigned n_cpus, TuneHost *ret)
{
        memset(ret, 0, sizeof(*ret));
        ret->cstates = calloc(n_cpus ? n_cpus : 1, sizeof(*ret->cstates));
        ret->policy = calloc(n_cpus ? n_cpus : 1, sizeof(*ret->policy));
        if (!ret->cstates || !ret->policy) {
                tune_host_free(ret);
                return log_oom();
        }
        ret->n_cpus = n_cpus;
        for (unsigned c = 0; c < n_cpus; c++) {
                char path[128], link[256];
                for (unsigned s = 0; s < 16; s++) {
                        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%u/cpuidle/state%u", c, s);
                        if (!sysfs_exists(path))
                                break;
                        ret->cstates[c] = s + 1;
                }
                /* cpuC/cpufreq is a link to ../cpufreq/policyN, N usually the
                 * first CPU of the policy (drivers/cpufreq/cpufreq.c) */
                uint64_t policy;
                const char *base;
                ret->policy[c] = -1;
                snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%u/cpufreq", c);
                if (sysfs_readlink(path, link, sizeof(link)) > 0 && (base = strrchr(link, '/')) &&
                    strncmp(base + 1, "policy", 6) == 0 && parse_u64(base + 7, 0, CPUSET_MAX - 1, &policy) == 0)
                        ret->policy[c] = (int) policy;
        }
        return 0;
}

void tune_host_free(TuneHost *h)
{
        free(h->cstates);
        free(h->policy);
        memset(h, 0, sizeof(*h));
}

/* THP reads "always [madvise] never": the bracketed word is the value */
static int read_value(const char *path, char *buf, size_t size)
{
        char raw[256];
        int r = sysfs_read(path, raw, sizeof(raw));
        if (r < 0)
                return r;
        const char *open = strchr(raw, '['), *close = open ? strchr(open, ']') : NULL;
        if (open && close) {
                snprintf(buf, size, "%.*s", (int) (close - open - 1), open + 1);
                return 0;
        }
        snprintf(buf, size, "%s", raw);
        return 0;
}

int tune_current(const TuneSetting *t, char *buf, size_t size)
{
        return read_value(t->path, buf, size);
}

bool tune_satisfied(const TuneSetting *t, const char *cur)
{
        return strcmp(cur, t->want) == 0 || (t->also[0] && strcmp(cur, t->also) == 0);
}

void tune_warn_shared_policies(const TuneSetting *s, size_t n, const CpuSet *cores)
{
        static const char prefix[] = "tune/governor/", eprefix[] = "tune/epp/";
        for (size_t i = 0; i < n; i++) {
                bool is_epp = strncmp(s[i].resource, eprefix, sizeof(eprefix) - 1) == 0;
                if (strncmp(s[i].resource, prefix, sizeof(prefix) - 1) != 0 && !is_epp)
                        continue;
                /* the policy's CPUs, offline ones included; affected_cpus
                 * (online only) on kernels without related_cpus.  The kernel
                 * writes "0 1 2 3": spaces, not a list. */
                const char *policy = s[i].resource + (is_epp ? sizeof(eprefix) : sizeof(prefix)) - 1;
                char path[300], list[1024], span[256], others[256];
                CpuSet cpus, outside;
                int len = (int) (strrchr(s[i].path, '/') - s[i].path);
                snprintf(path, sizeof(path), "%.*s/related_cpus", len, s[i].path);
                if (sysfs_read(path, list, sizeof(list)) <= 0) {
                        snprintf(path, sizeof(path), "%.*s/affected_cpus", len, s[i].path);
                        if (sysfs_read(path, list, sizeof(list)) <= 0)
                                continue;
                }
                for (char *q = list; *q; q++)
                        if (*q == ' ')
                                *q = ',';
                if (cpuset_parse(list, &cpus) < 0)
                        continue;
                outside = cpus;
                cpuset_andnot(&outside, cores);
                if (cpuset_empty(&outside))
                        continue;
                cpuset_format(&cpus, span, sizeof(span));
                cpuset_format(&outside, others, sizeof(others));
                log_warning("cpufreq %s%s covers CPUs %s: the %s applies to the host's cores too "
                            "(%s='%s' reaches CPU %s, which the VM does not claim)",
                            strncmp(policy, "cpu", 3) == 0 ? "policy of " : "", policy, span,
                            is_epp ? "energy performance preference" : "governor", is_epp ? "epp" : "governor",
                            s[i].want, others);
        }
}

int tune_ksm_advice(const Domain *d, const Profile *p, char *buf, size_t size)
{
        const ProfileElem *e = profile_elem(p, "tune");
        const char *ksm = e && profile_enabled(p, "tune") ? profile_attr(e, "ksm") : NULL;

        buf[0] = '\0';
        if (!ksm || strcmp(ksm, "on") == 0 || d->nosharepages)
                return 0;
        if (strcmp(ksm, "off") == 0)
                snprintf(buf, size, "ksm='off' stops ksmd, but what it merged stays merged, %s's memory among it; "
                         "add <memoryBacking><nosharepages/></memoryBacking> to keep this VM's memory out of KSM",
                         d->name);
        else
                snprintf(buf, size, "ksm='unmerge' unmerges every merged page on the host, every VM's, when %s "
                         "starts; <memoryBacking><nosharepages/></memoryBacking> keeps only this VM's memory out "
                         "of KSM", d->name);
        return 1;
}

/* isolcpus=[flags,]LIST: the CPU list after any flag words */
static bool cmdline_list(const char *cmdline, const char *key, CpuSet *ret)
{
        size_t n = strlen(key);
        for (const char *p = cmdline; (p = strstr(p, key)); p += n) {
                if (p != cmdline && p[-1] != ' ')
                        continue;
                char val[512];
                size_t len = strcspn(p + n, " \n");
                if (len >= sizeof(val))
                        len = sizeof(val) - 1;
                memcpy(val, p + n, len);
                val[len] = '\0';
                char *list = val;
                while (*list && !(*list >= '0' && *list <= '9')) {
                        char *comma = strchr(list, ',');
                        if (!comma)
                                return false;
                        list = comma + 1;
                }
                return cpuset_parse(list, ret) == 0;
        }
        return false;
}

int tune_realtime_check(const Domain *d, const CpuSet *vcpus, const char *cmdline, char *buf, size_t size)
{
        size_t len = 0;
        int count = 0;
        CpuSet rt;
        char list[256];

        buf[0] = '\0';
        cpuset_clear(&rt);
        for (size_t i = 0; i < d->n_vcpuscheds; i++)
                if (!strcmp(d->vcpuscheds[i].scheduler, "fifo") || !strcmp(d->vcpuscheds[i].scheduler, "rr"))
                        cpuset_or(&rt, &d->vcpuscheds[i].vcpus);
        CpuSet missing;
        cpuset_clear(&missing);
        for (unsigned v = 0; v < d->vcpu_max && v < CPUSET_MAX; v++)
                if (!cpuset_isset(&rt, v))
                        cpuset_set(&missing, v);
        if (!cpuset_empty(&missing) && len < size) {
                cpuset_format(&missing, list, sizeof(list));
                len += (size_t) snprintf(buf + len, size - len,
                                         "realtime: vCPU %s %s no realtime scheduler; add <cputune><vcpusched vcpus='0-%u' "
                                         "scheduler='fifo' priority='1'/></cputune>\n",
                                         list, cpuset_count(&missing) == 1 ? "has" : "have", d->vcpu_max - 1);
                count++;
        }
        if (!d->locked && len < size) {
                len += (size_t) snprintf(buf + len, size - len,
                                         "realtime: guest memory may be swapped or migrated; add <memoryBacking><locked/>"
                                         "</memoryBacking>\n");
                count++;
        }
        if (!d->nosharepages && len < size) {
                len += (size_t) snprintf(buf + len, size - len,
                                         "realtime: KSM may merge guest pages, and a write to a merged page first copies "
                                         "it; add <memoryBacking><nosharepages/></memoryBacking>\n");
                count++;
        }
        static const char *const keys[] = { "isolcpus=", "nohz_full=", "rcu_nocbs=" };
        char missing_keys[128] = "";
        for (size_t k = 0; k < 3 && vcpus && !cpuset_empty(vcpus); k++) {
                CpuSet have;
                if (cmdline_list(cmdline, keys[k], &have)) {
                        CpuSet out = *vcpus;
                        cpuset_andnot(&out, &have);
                        if (cpuset_empty(&out))
                                continue;
                }
                size_t used = strlen(missing_keys);
                snprintf(missing_keys + used, sizeof(missing_keys) - used, "%s%.*s", used ? ", " : "",
                         (int) strlen(keys[k]) - 1, keys[k]);
        }
        if (missing_keys[0] && len < size) {
                cpuset_format(vcpus, list, sizeof(list));
                snprintf(buf + len, size - len,
                         "realtime: the kernel command line lacks %s for the vCPUs' CPUs %s (boot-time only); add: "
                         "isolcpus=managed_irq,domain,%s nohz_full=%s rcu_nocbs=%s\n",
                         missing_keys, list, list, list, list);
                count++;
        }
        return count;
}

/* The cpufreq directory of an EPP setting's file, and what its driver says */
static void epp_dir(const TuneSetting *t, char *dir, size_t size)
{
        int len = (int) (strrchr(t->path, '/') - t->path);
        snprintf(dir, size, "%.*s", len, t->path);
}

int tune_epp_info(const TuneSetting *t, char *driver, size_t dsize, char *offered, size_t osize)
{
        char dir[256], path[320];
        epp_dir(t, dir, sizeof(dir));
        snprintf(path, sizeof(path), "%s/scaling_driver", dir);
        if (sysfs_read(path, driver, dsize) < 0)
                snprintf(driver, dsize, "none");
        snprintf(path, sizeof(path), "%s/energy_performance_available_preferences", dir);
        int r = sysfs_read(path, offered, osize);
        if (r < 0)
                offered[0] = '\0';
        return r < 0 ? r : 0;
}

int tune_epp_check(const TuneSetting *t, int read_result, char *err, size_t errlen)
{
        char driver[64], offered[512];
        int r = tune_epp_info(t, driver, sizeof(driver), offered, sizeof(offered));
        if (read_result == -ENOENT || r == -ENOENT) {
                snprintf(err, errlen, "<vmprep:tune epp='%s'>: cpufreq %s has no energy_performance_preference (its driver is %s; "
                         "EPP needs amd-pstate or intel_pstate in active mode: amd_pstate=active or no "
                         "intel_pstate=passive on the kernel command line)", t->want, t->resource + 9, driver);
                return -EINVAL;
        }
        /* "default performance balance_performance balance_power power" */
        for (const char *p = offered; *p;) {
                size_t n = strcspn(p, " ");
                if (n == strlen(t->want) && strncmp(p, t->want, n) == 0)
                        return 0;
                p += n;
                p += strspn(p, " ");
        }
        snprintf(err, errlen, "<vmprep:tune epp='%s'>: cpufreq %s (driver %s) offers only: %s", t->want, t->resource + 9, driver,
                 offered[0] ? offered : "(nothing)");
        return -EINVAL;
}

/* ---- apply through the journal and the ledger ---- */

static int write_checked(const char *path, const char *want)
{
        char back[256];
        int r = sysfs_write(path, want);
        if (r < 0 || journal_planning())
                return r;
        r = read_value(path, back, sizeof(back));
        if (r < 0)
                return r;
        return strcmp(back, want) == 0 ? 0 : -EIO;
}

/* Undo of a "shared" step: drop this VM's hold; the last holder writes
 * the baseline back (before dropping, so that a crash in between is
 * finished by the next release) -- unless the value is neither what the
 * step set nor the baseline: someone changed it while VMs ran, and that
 * choice is theirs to keep.  A step not done (crashed, or a write the
 * kernel read back otherwise) is always restored. */
int tune_undo_shared(const JournalStep *s, const UndoContext *ctx)
{
        Ledger *l = ctx->ledger;
        char base[JOURNAL_VALUE_MAX], cur[256];
        int r;

        if (!l || !ctx->uuid)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "internal error: undo of %s without the ledger",
                                       s->path);
        int64_t mine = ledger_held(l, s->resource, ctx->uuid);
        if (mine <= 0)
                return 0; /* the hold was never taken: nothing was written */
        if (ledger_held(l, s->resource, NULL) == mine) {
                if (ledger_baseline_get(l, s->resource, base, sizeof(base)) < 0)
                        snprintf(base, sizeof(base), "%s", s->old);
                r = read_value(s->path, cur, sizeof(cur));
                if (r == -ENOENT) {
                        log_warning("%s is gone; nothing to restore", s->path);
                } else if (r == 0 && s->done && strcmp(cur, base) != 0 && strcmp(cur, s->new_) != 0) {
                        log_warning("%s is '%s', not the '%s' vmprep set: it was changed while VMs ran, and stays "
                                    "(it was '%s' before the first VM)", s->path, cur, s->new_, base);
                } else if (r < 0 || strcmp(cur, base) != 0) {
                        r = sysfs_write(s->path, base);
                        if (r < 0)
                                return log_error_errno(r, "cannot restore %s to '%s'", s->path, base);
                        log_info("restored %s to '%s' (the last VM that wanted '%s' stopped)", s->path, base, s->new_);
                }
                ledger_baseline_clear(l, s->resource);
        }
        ledger_hold(l, ctx->uuid, s->resource, -mine);
        return ledger_save(l);
}

static void holder_name(const Ledger *l, const char *resource, const char *self, char *buf, size_t size)
{
        snprintf(buf, size, "another VM");
        for (size_t i = 0; i < l->n_holds; i++) {
                if (strcmp(l->holds[i].resource, resource) != 0 || strcmp(l->holds[i].uuid, self) == 0)
                        continue;
                Journal *j = NULL;
                snprintf(buf, size, "VM %s", l->holds[i].uuid);
                if (journal_open(l->holds[i].uuid, CAP, NULL, false, &j) == 0) {
                        if (j->name[0])
                                snprintf(buf, size, "VM '%s'", j->name);
                        journal_close(j);
                }
                return;
        }
}

static int apply_one(Journal *j, Ledger *l, const Domain *d, const TuneSetting *t)
{
        char cur[256], base[JOURNAL_VALUE_MAX], who[300], err_epp[1024];
        unsigned seq;
        int r;

        r = read_value(t->path, cur, sizeof(cur));
        if (strncmp(t->resource, "tune/epp/", 9) == 0) {
                r = log_error_planned(tune_epp_check(t, r, err_epp, sizeof(err_epp)), err_epp);
                if (r < 0)
                        return r;
                char driver[64], offered[160];
                tune_epp_info(t, driver, sizeof(driver), offered, sizeof(offered));
                journal_plan_why("%s for %.64s (%.32s offers: %.120s)", t->label, d->name, driver, offered);
                r = read_value(t->path, cur, sizeof(cur));
        }
        if (r == -ENOENT && t->absent_ok) {
                if (strncmp(t->resource, "tune/governor/", 14) == 0)
                        log_warning("%s: this host has no %s (no cpufreq driver: the firmware sets the frequency): "
                                    "governor='%s' left aside", t->label, t->path, t->want);
                else
                        log_info("%s: this host has no %s: nothing to do", t->label, t->path);
                return 0;
        }
        if (r < 0)
                return log_error_errno(r, "cannot set %s to '%s': %s", t->label, t->want, t->path);
        bool first = ledger_held(l, t->resource, NULL) == 0, satisfied = tune_satisfied(t, cur);
        if (!first && !satisfied) {
                holder_name(l, t->resource, d->uuid, who, sizeof(who));
                return log_error_errno(SYNTHETIC_ERRNO(EBUSY),
                                       "%s is '%s' for the running %s; %s asks for '%s': two running VMs cannot want "
                                       "different values (make their <vmprep:tune> agree)",
                                       t->label, cur, who, d->name, t->want);
        }
        if (first)
                snprintf(base, sizeof(base), "%s", cur);
        else if (ledger_baseline_get(l, t->resource, base, sizeof(base)) < 0)
                snprintf(base, sizeof(base), "%s", cur);
        if (satisfied)
                journal_plan_why("%s for %s: already '%s', held (shared) while it runs", t->label, d->name, cur);
        else
                journal_plan_why("%s for %s", t->label, d->name);
        r = journal_begin_custom(j, "shared", t->resource, t->path, base, t->want, &seq);
        if (r < 0)
                return r;
        if (first) {
                r = ledger_baseline_set(l, t->resource, cur);
                if (r < 0)
                        return r;
        }
        r = ledger_hold(l, d->uuid, t->resource, 1);
        if (r >= 0)
                r = ledger_save(l);
        if (r < 0)
                return r;
        if (!satisfied) {
                r = write_checked(t->path, t->want);
                if (r < 0)
                        return log_error_errno(SYNTHETIC_ERRNO(-r), "cannot set %s (%s) to '%s': %s", t->label, t->path,
                                               t->want,
                                               r == -EIO ? "the kernel reads back another value" : strerror(-r));
                log_info("%s: %s -> %s (%s)", t->label, cur, t->want, t->path);
        }
        return journal_done(j, NULL, seq, t->want);
}

static int release_locked(Ledger *l, const char *uuid, const char *name, bool quiet)
{
        return journal_release(l, uuid, CAP, name, quiet ? NULL : "the tunables");
}

static int finish_leftover(Ledger *l, const char *uuid, const char *name)
{
        return release_locked(l, uuid, name, true);
}

int tune_prepare(const Domain *d, const Profile *p)
{
        TuneSetting *settings = NULL;
        TuneHost host = { 0 };
        ShmemItem *shm = NULL;
        size_t n = 0, n_shm = 0;
        CpuTopology t;
        CpusClaim claim;
        CpuSet none;
        Journal *j = NULL;
        Ledger l;
        char err[8192] = "";
        int r;

        /* Looking Glass memory rides in this hook: checked in full (users,
         * groups, the domain's <shmem>) before anything is touched */
        r = log_error_planned(shmem_items(d, p, &shm, &n_shm, err, sizeof(err)), err);
        if (r < 0)
                return r;
        const ProfileElem *e = profile_elem(p, "tune");
        bool per_core = e && profile_enabled(p, "tune") &&
                        (profile_attr(e, "governor") || profile_attr(e, "max-cstate") || profile_attr(e, "epp"));
        bool realtime = (p->use && strcmp(p->use, "realtime") == 0) ||
                        (e && profile_attr(e, "rt-runtime") && strcmp(profile_attr(e, "rt-runtime"), "unlimited") == 0);
        memset(&claim, 0, sizeof(claim));
        memset(&t, 0, sizeof(t));
        if (per_core || realtime) {
                r = numa_topology_read(&t);
                if (r < 0)
                        return log_error_errno(r, "cannot read the CPU topology");
                cpuset_clear(&none);
                r = cpus_derive(d, p, &t, &none, &claim, err, sizeof(err));
                if (r < 0 && per_core) {
                        r = log_error_errno(SYNTHETIC_ERRNO(-r),
                                            "<vmprep:tune governor/max-cstate/epp> apply to the VM's own cores: %s",
                                            err);
                        goto out_topology;
                }
                if (r < 0)
                        cpuset_clear(&claim.vcpus);
                if (per_core) {
                        r = tune_host_read(t.n_cpus, &host);
                        if (r < 0)
                                goto out_topology;
                }
        }
        if (realtime) {
                char cmdline[4096] = "", warn[2048];
                sysfs_read("/proc/cmdline", cmdline, sizeof(cmdline));
                if (tune_realtime_check(d, &claim.vcpus, cmdline, warn, sizeof(warn)) > 0) {
                        char *save = NULL;
                        for (char *line = strtok_r(warn, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                                log_warning("%s", line);
                }
        }
        r = tune_settings(p, per_core ? &claim.cpus : NULL, &host, &settings, &n);
        if (r < 0)
                goto out_topology;
        tune_warn_shared_policies(settings, n, &claim.cpus);

        r = journal_start(&l, d->uuid, d->name, CAP, "tunables", finish_leftover);
        if (r < 0)
                goto out_topology;
        if (n == 0 && n_shm == 0)
                goto out;
        r = journal_open(d->uuid, CAP, d->name, true, &j);
        if (r < 0)
                goto out;
        for (size_t i = 0; i < n; i++) {
                r = apply_one(j, &l, d, &settings[i]);
                if (r < 0) {
                        journal_close(j);
                        j = NULL;
                        release_locked(&l, d->uuid, d->name, true);
                        goto out;
                }
        }
        r = shmem_apply(j, &l, d, shm, n_shm);
        if (r < 0) {
                journal_close(j);
                j = NULL;
                release_locked(&l, d->uuid, d->name, true);
        }
out:
        journal_close(j);
        ledger_unlock(&l);
out_topology:
        free(shm);
        free(settings);
        tune_host_free(&host);
        numa_topology_free(&t);
        return r;
}

int tune_release(const char *uuid, const char *name)
{
        Ledger l;
        int r;

        if (!journal_exists(uuid, CAP))
                return 0;
        r = ledger_lock_release(&l, false);
        if (r < 0)
                return r;
        r = release_locked(&l, uuid, name, false);
        ledger_unlock(&l);
        return r;
}

int tune_reconnect(const char *uuid)
{
        return journal_reconnect_check(uuid, CAP);
}
