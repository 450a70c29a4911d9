/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `vmprep plan` for the cpus and tune capabilities: what their prepare would
 * do on this host now, from the same derivation (cpus_derive, tune_settings)
 * and the ledger as it stands, applying nothing.
 */
#include "cpus.h"
#include "cpus_share.h"
#include "journal.h"
#include "numa.h"
#include "plan.h"
#include "sysfs.h"
#include "shmem.h"
#include "tune.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CPUs other VMs hold now (ledger holds "cpus/N"), read without locking. */
static void cpus_taken(const char *uuid, CpuSet *ret)
{
        Ledger l = { .lock_fd = -1 };
        cpuset_clear(ret);
        if (ledger_read(&l) < 0)
                return;
        for (size_t i = 0; i < l.n_holds; i++) {
                uint64_t cpu;
                const char *res = l.holds[i].resource;
                if (strncmp(res, "cpus/", 5) || strcmp(l.holds[i].uuid, uuid) == 0 ||
                    parse_u64(res + 5, 0, CPUSET_MAX - 1, &cpu) < 0)
                        continue;
                cpuset_set(ret, (unsigned) cpu);
        }
        ledger_clear(&l);
}

static int add_step(Plan *plan, const char *cap, const char *resource, const char *path, const char *old,
                    const char *new_, const char *why)
{
        PlanStep s = { .kind = STEP_SET };
        snprintf(s.cap, sizeof(s.cap), "%s", cap);
        snprintf(s.resource, sizeof(s.resource), "%s", resource);
        snprintf(s.path, sizeof(s.path), "%s", path);
        snprintf(s.old, sizeof(s.old), "%s", old);
        snprintf(s.new_, sizeof(s.new_), "%s", new_);
        snprintf(s.why, sizeof(s.why), "%s", why);
        return plan_add(plan, &s);
}

/* The VM's claim, or r > 0 when isolation is not asked for. */
static int claim_of(const Domain *d, const Profile *p, CpuTopology *t, CpusClaim *c, CpuSet *taken, char *err,
                    size_t errlen)
{
        if (!profile_enabled(p, "isolate"))
                return 1;
        int r = numa_topology_read(t);
        if (r < 0) {
                snprintf(err, errlen, "cannot read the CPU topology: %s", strerror(-r));
                return r;
        }
        cpus_taken(d->uuid, taken);
        r = cpus_derive(d, p, t, taken, c, err, errlen);
        if (r < 0)
                numa_topology_free(t);
        return r;
}

int cpus_plan(const Domain *d, const Profile *p, Plan *plan, char *err, size_t errlen)
{
        CpuTopology t;
        CpusClaim c;
        CpuSet taken;
        char a[256], b[256], why[600];
        int r = claim_of(d, p, &t, &c, &taken, err, errlen);
        if (r != 0)
                return r > 0 ? 0 : r;

        if (cpuset_intersects(&c.cpus, &taken)) {
                CpuSet both = c.cpus;
                for (unsigned i = 0; i < CPUSET_MAX / 64; i++)
                        both.bits[i] &= taken.bits[i];
                cpuset_format(&both, a, sizeof(a));
                snprintf(err, errlen, "CPUs %s are claimed by another running VM", a);
                numa_topology_free(&t);
                return -EINVAL;
        }
        r = cpus_share_check(d, &c.cpus, c.partition, err, errlen, NULL, 0);
        if (r < 0) {
                numa_topology_free(&t);
                return r;
        }
        CpuSet before = t.online, after;
        cpuset_andnot(&before, &taken);
        after = before;
        cpuset_andnot(&after, &c.cpus);
        cpuset_format(&c.cpus, a, sizeof(a));
        snprintf(why, sizeof(why), "%s claims CPUs %s", d->name, a);
        r = add_step(plan, "cpus", "cpus/claim", "(ledger)", "", a, why);
        cpuset_format(&before, a, sizeof(a));
        cpuset_format(&after, b, sizeof(b));
        if (r == 0 && cpuset_empty(&after)) {
                snprintf(err, errlen, "the claim would leave the host no CPU (host now: %s)", a);
                r = -EINVAL;
        }
        if (r == 0)
                r = add_step(plan, "cpus", "cpus/host", "host tasks (cpuset / AllowedCPUs)", a, b,
                             "host work keeps off the VM's cores");
        if (r == 0 && c.irqs)
                r = add_step(plan, "cpus", "cpus-irq", "/proc/irq/*/smp_affinity_list", "(each IRQ's)", b,
                             "IRQs off the VM's cores (managed IRQs are reported, not moved)");
        if (r == 0 && c.workqueues)
                r = add_step(plan, "cpus", "cpus-wq", "/sys/devices/virtual/workqueue/cpumask", a, b,
                             "unbound workqueues off the VM's cores");
        if (r == 0 && c.partition) {
                cpuset_format(&c.vcpus, a, sizeof(a));
                r = add_step(plan, "cpus", "cpus/partition", "vCPU cgroups: cpuset.cpus.partition", "member",
                             "isolated", "the vCPUs' CPUs become an isolated partition");
        }
        numa_topology_free(&t);
        return r;
}

int tune_plan(const Domain *d, const Profile *p, Plan *plan, char *err, size_t errlen)
{
        CpuTopology t;
        CpusClaim c;
        CpuSet taken, cores;
        TuneHost host = { 0 };
        TuneSetting *set = NULL;
        size_t n = 0;
        int r;

        r = shmem_plan(d, p, plan, err, errlen);
        if (r < 0 || !profile_enabled(p, "tune"))
                return r;
        cpuset_clear(&cores);
        r = claim_of(d, p, &t, &c, &taken, err, errlen);
        if (r < 0)
                return r;
        if (r == 0) {
                cores = c.cpus;
                r = tune_host_read(t.n_cpus, &host);
                numa_topology_free(&t);
        }
        if (r >= 0)
                r = tune_settings(p, &cores, &host, &set, &n);
        if (r == 0)
                tune_warn_shared_policies(set, n, &cores);
        for (size_t i = 0; r == 0 && i < n; i++) {
                char cur[64] = "?", why[320];
                if (tune_current(&set[i], cur, sizeof(cur)) < 0) {
                        if (set[i].absent_ok)
                                continue; /* no KSM: nothing to stop */
                        snprintf(cur, sizeof(cur), "(missing)");
                }
                snprintf(why, sizeof(why), "%s for %s", set[i].label, d->name);
                if (strncmp(set[i].resource, "tune/epp/", 9) == 0) {
                        char driver[64], offered[160];
                        r = tune_epp_check(&set[i], tune_current(&set[i], cur, sizeof(cur)), err, errlen);
                        if (r < 0)
                                break;
                        tune_epp_info(&set[i], driver, sizeof(driver), offered, sizeof(offered));
                        snprintf(why, sizeof(why), "%s for %.64s (%.32s offers: %.120s)", set[i].label, d->name, driver, offered);
                }
                if (!tune_satisfied(&set[i], cur))
                        r = add_step(plan, "tune", set[i].resource, set[i].path, cur, set[i].want, why);
        }
        free(set);
        tune_host_free(&host);
        if (r < 0 && !err[0])
                snprintf(err, errlen, "%s", strerror(-r));
        return r;
}
