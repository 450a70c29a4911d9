/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Isolated partitions, cgroup v2 (cpus_impl.h). */
#include "cpus_impl.h"

#include "log.h"
#include "machine_name.h"
#include "sysfs.h"
#include "systemd.h"
#include "vm_cgroup.h"

#include <errno.h>
#include <stdlib.h>

/*
 * A kernel with cpuset.cpus.exclusive (6.7+), where each VM's vCPU cgroups
 * become partitions of their own.  The machine cgroup shows its cpuset
 * files only once the cpuset controller is enabled for the root's children
 * (host_apply's cg2ctl or sdcpus steps, or an earlier VM), which a plan has
 * not done on a fresh boot; the root's cpuset.cpus.isolated is there
 * whenever the hierarchy has the cpuset controller, from 6.8 (6.7 shows it
 * only with cgroup_debug: a plan on a fresh 6.7 boot still takes it for an
 * older kernel, which its prepare does not).
 */
static bool per_vm_partitions(const char *ms)
{
        char path[SYSFS_PATH_MAX];
        snprintf(path, sizeof(path), "%s/cpuset.cpus.exclusive", ms);
        return sysfs_exists(path) || sysfs_exists(CG2_ROOT "/cpuset.cpus.isolated");
}

/* What a cpuset file of a cgroup holds before anything writes it. */
static const char *fresh_value(const char *path)
{
        size_t n = strlen(path), m = strlen("/cpuset.cpus.partition");
        return n >= m && strcmp(path + n - m, "/cpuset.cpus.partition") == 0 ? "member" : "";
}

/* 6.7+: the machine slice's cpuset.cpus.exclusive holds what it had plus
 * the vCPU cores of every running partition-mode VM (the vCPU cgroups'
 * partitions below need their parent to hold the CPUs exclusively). */
int cpus_machine_exclusive(Journal *j, const CpuSet *part)
{
        const char *ms = cpus_machine_dir();
        char path[SYSFS_PATH_MAX], cur[JOURNAL_STEP_VALUE_MAX], want[JOURNAL_STEP_VALUE_MAX];
        CpuSet base, now, w;
        int r;

        if (!ms)
                return 0;
        if (!per_vm_partitions(ms))
                return 0;
        snprintf(path, sizeof(path), "%s/cpuset.cpus.exclusive", ms);
        r = sysfs_read(path, cur, sizeof(cur));
        if (r == -ENOENT && !journal_planning())
                return 0; /* no cpuset controller here (see cpus_partition_started) */
        if (r == -ENOENT)
                cur[0] = '\0'; /* a plan on a fresh boot: the file comes, empty, with the controller */
        else if (r < 0)
                return log_error_errno(r, "cannot read %s", path);
        JournalStep *s = cpus_live_step(j, path);
        const char *b = s ? s->old : cur;
        cpuset_clear(&base);
        cpuset_clear(&now);
        if ((*b && cpuset_parse(b, &base) < 0) || (*cur && cpuset_parse(cur, &now) < 0))
                return log_error_errno(-EINVAL, "%s: not a CPU list", path);
        w = base;
        cpuset_or(&w, part);
        if (cpuset_equal(&w, &now))
                return 0;
        cpuset_format(&w, want, sizeof(want));
        r = cpus_host_write(j, "restore", path, cur, want);
        if (r < 0)
                return log_error_errno(r, "cannot write '%s' to %s", want, path);
        return 0;
}

const char *cpus_machine_dir(void)
{
        if (sysfs_exists(CG2_ROOT "/machine.slice"))
                return CG2_ROOT "/machine.slice";
        if (sysfs_exists(CG2_ROOT "/machine"))
                return CG2_ROOT "/machine";
        return NULL;
}

/* Write through the VM's journal, read back (set steps undo in reverse:
 * bottom-up for what was written top-down). */
static int vm_write(Journal *j, const char *path, const char *want)
{
        /* a CPU list of a many-core host runs past 256 characters: read it
         * whole, and never journal a cut one (undo would write it back) */
        char cur[JOURNAL_STEP_VALUE_MAX];
        unsigned seq;
        int r = sysfs_read(path, cur, sizeof(cur));
        if (r == -ENOENT && journal_planning()) /* a plan before the controller is enabled */
                r = snprintf(cur, sizeof(cur), "%s", fresh_value(path));
        if (r < 0)
                return log_error_errno(r, "cannot read %s", path);
        if ((size_t) r >= sizeof(cur) - 1)
                return log_error_errno(-EOVERFLOW, "cannot read %s: longer than %zu characters", path, sizeof(cur) - 2);
        if (strcmp(cur, want) == 0)
                return 0;
        r = journal_begin_custom(j, "restore", "cpus/partition", path, cur, want, &seq);
        if (r < 0)
                return r;
        r = sysfs_write(path, want);
        int r2 = journal_done(j, NULL, seq, r < 0 ? "refused" : want);
        if (r < 0)
                return log_error_errno(r, "cannot write '%s' to %s", want, path);
        return r2;
}

/* "isolated", or "isolated invalid (Cpu list in cpuset.cpus not exclusive)" */
static int partition_make(Journal *j, const char *dir)
{
        char path[SYSFS_PATH_MAX], back[256];
        int r;

        snprintf(path, sizeof(path), "%s/cpuset.cpus.partition", dir);
        r = vm_write(j, path, "isolated");
        if (r < 0 || journal_planning())
                return r;
        r = sysfs_read(path, back, sizeof(back));
        if (r < 0)
                return log_error_errno(r, "cannot read back %s", path);
        if (strcmp(back, "isolated") != 0)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "%s reads '%s' after writing 'isolated': the kernel did not make it an isolated "
                                       "partition",
                                       path, back);
        log_info("%s is an isolated partition", dir);
        return 0;
}

/* A write of cpus_partition_started, planned before the cgroup exists: old is
 * what a cgroup libvirt has just made holds. */
static int plan_write(Journal *j, const char *path, const char *old, const char *want)
{
        unsigned seq;
        int r = journal_begin_custom(j, "restore", "cpus/partition", path, old, want, &seq);
        return r < 0 ? r : journal_done(j, NULL, seq, want);
}

/*
 * vmprep plan, 6.7+: what cpus_partition_started will write once the VM runs,
 * in its order, to the cgroups libvirt makes then: the VM's own child of
 * the machine cgroup (named for its domain id: ID until it has one), with
 * systemd its libvirt/ child, then each online vCPU's cgroup, whose CPUs
 * are its <vcpupin> (or <vcpu cpuset>) within the claim.
 */
static int partition_plan_started(Journal *j, const Domain *d, const CpusClaim *c, const char *ms)
{
        char machine[80], unit[200], top[256], vmdir[300], path[SYSFS_PATH_MAX], list[4096];
        bool systemd = strcmp(ms, CG2_ROOT "/machine.slice") == 0;
        int r;

        r = d->id >= 0 ? machine_name(d->id, d->name, machine, sizeof(machine))
                       : machine_name_pending(d->name, machine, sizeof(machine));
        if (r >= 0)
                r = systemd ? machine_scope(machine, unit, sizeof(unit)) : machine_cgroup_manual(machine, unit, sizeof(unit));
        if (r < 0)
                return log_error_errno(r, "cannot name the cgroup of %s", d->name);
        snprintf(top, sizeof(top), "%s/%s", ms, unit);
        snprintf(vmdir, sizeof(vmdir), systemd ? "%s/libvirt" : "%s", top);
        cpuset_format(&c->vcpus, list, sizeof(list));
        journal_plan_started(true);
        const char *id = d->id >= 0 ? "" : " (ID: the domain id libvirt gives it at start)";
        if (systemd) {
                snprintf(path, sizeof(path), "%s/cpuset.cpus.exclusive", top);
                journal_plan_why("%s's scope holds its vCPUs' cores exclusively%s", d->name, id);
                r = plan_write(j, path, "", list);
        }
        snprintf(path, sizeof(path), "%s/cpuset.cpus.exclusive", vmdir);
        journal_plan_why("%s's cgroup holds its vCPUs' cores exclusively%s", d->name, id);
        if (r >= 0)
                r = plan_write(j, path, "", list);
        for (unsigned v = 0; v < d->vcpu_current && r >= 0; v++) {
                CpuSet set;
                char pin[4096];
                cpuset_clear(&set);
                for (size_t i = 0; i < d->n_vcpupins; i++)
                        if (d->vcpupins[i].id == v)
                                set = d->vcpupins[i].cpus;
                if (cpuset_empty(&set))
                        set = d->has_vcpu_cpuset ? d->vcpu_cpuset : c->vcpus;
                for (size_t k = 0; k < CPUSET_MAX / 64; k++)
                        set.bits[k] &= c->vcpus.bits[k];
                cpuset_format(&set, pin, sizeof(pin));
                snprintf(path, sizeof(path), "%s/vcpu%u/cpuset.cpus.exclusive", vmdir, v);
                journal_plan_why("vCPU %u's cgroup holds its cores exclusively", v);
                r = plan_write(j, path, "", pin);
                snprintf(path, sizeof(path), "%s/vcpu%u/cpuset.cpus.partition", vmdir, v);
                journal_plan_why("vCPU %u's cgroup becomes an isolated partition", v);
                if (r >= 0)
                        r = plan_write(j, path, "member", "isolated");
        }
        journal_plan_started(false);
        return r;
}

/*
 * Before 6.7 (no cpuset.cpus.exclusive) the isolated partition is the
 * machine cgroup as a whole, and every VM in it runs on its CPUs: so no
 * other VM may run there.  Giving the others the host's CPUs instead is not
 * possible from here: a child of an isolated partition can only use the
 * partition's CPUs, so they would have to leave machine.slice, which
 * libvirt and machined own.  Hence refusal, naming them.  self: this VM's
 * own cgroup there (NULL before it runs).
 */
int cpus_partition_prepare(Journal *j, const Domain *d, const CpusClaim *c, const CpuSet *taken, const char *self)
{
        Backend b = cpus_backend_detect();
        const char *ms = cpus_machine_dir();
        char path[SYSFS_PATH_MAX], list[4096], a[256], others[1024];
        int r;

        if (b != BACKEND_CGROUP2 && b != BACKEND_SYSTEMD)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "<vmprep:isolate mode='partition'> needs cgroup v2 with the cpuset controller "
                                       "(cpuset.cpus.partition); this host has %s; use mode='cgroup'",
                                       cpus_backend_name(b));
        if (!ms) {
                /* systemd creates machine.slice when the first VM starts (seen
                 * in the lab on a fresh boot): the partition is made at the
                 * started phase, once it exists. */
                log_info("no machine.slice (or machine) cgroup yet: the isolated partition is made once the VM runs");
                return 0;
        }
        if (per_vm_partitions(ms)) /* 6.7+: the vCPU cgroups become partitions once they exist (started) */
                return journal_planning() ? partition_plan_started(j, d, c, ms) : 0;
        if (!cpuset_empty(taken))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "<vmprep:isolate mode='partition'>: this kernel has no cpuset.cpus.exclusive "
                                       "(before 6.7), so only %s as a whole can be an isolated partition, and other "
                                       "VMs run in it (CPU %s); use mode='cgroup', or a 6.7 or later kernel for one "
                                       "partition per VM",
                                       ms, fmt_set(taken, a, sizeof(a)));
        r = vm_cgroup_others(ms, d, self, others, sizeof(others));
        if (r < 0)
                return log_error_errno(r, "cannot tell which VMs run in %s", ms);
        if (r > 0)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "<vmprep:isolate mode='partition'>: this kernel has no cpuset.cpus.exclusive "
                                       "(before 6.7), so only %s as a whole can be an isolated partition, and %s also "
                                       "run%s in it: %s would be confined to %s's CPUs; stop %s, use mode='cgroup', or "
                                       "a 6.7 or later kernel for one partition per VM",
                                       ms, others, r == 1 ? "s" : "", r == 1 ? "it" : "they", d->name,
                                       r == 1 ? "it" : "them");
        cpuset_format(&c->cpus, list, sizeof(list));
        if (b == BACKEND_SYSTEMD) {
                /* systemd owns machine.slice's cpuset.cpus: AllowedCPUs= */
                char cur[JOURNAL_STEP_VALUE_MAX];
                unsigned seq;
                r = systemd_unit_get_allowed_cpus("machine.slice", cur, sizeof(cur));
                if (r < 0)
                        return log_error_errno(r, "cannot read AllowedCPUs= of machine.slice");
                r = journal_begin_custom(j, "sdcpus", "cpus/partition", "/org/freedesktop/systemd1/unit/machine.slice",
                                         cur, list, &seq);
                if (r < 0)
                        return r;
                r = systemd_unit_set_allowed_cpus("machine.slice", list);
                if (r < 0)
                        return log_error_errno(r, "cannot set AllowedCPUs=%s on machine.slice", list);
                r = journal_done(j, NULL, seq, list);
        } else {
                snprintf(path, sizeof(path), "%s/cpuset.cpus", ms);
                r = vm_write(j, path, list);
        }
        if (r < 0)
                return r;
        return partition_make(j, ms);
}

/* 6.7+: the VM's vCPU cgroups as isolated partitions, cpuset.cpus.exclusive
 * written top-down (machine slice, scope, libvirt, vcpuN).  Before 6.7,
 * machine.slice whole (cpus_partition_prepare), when prepare found no slice. */
int cpus_partition_started(Journal *j, const Domain *d, const CpusClaim *c, const CpuSet *taken)
{
        const char *ms = cpus_machine_dir();
        char vmdir[1040], path[SYSFS_PATH_MAX], list[4096], back[256];
        char **names = NULL;
        size_t n = 0;
        CpuSet set;
        int r;

        if (!ms)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "<vmprep:isolate mode='partition'>: no machine.slice (or machine) cgroup "
                                       "under " CG2_ROOT " although the VM runs");
        if (!per_vm_partitions(ms)) {
                /* before 6.7, machine.slice as a whole: done at prepare unless
                 * the slice did not exist then */
                snprintf(path, sizeof(path), "%s/cpuset.cpus.partition", ms);
                if (sysfs_read(path, back, sizeof(back)) >= 0 && strcmp(back, "isolated") == 0)
                        return 0;
                r = vm_cgroup_find(ms, d, vmdir, sizeof(vmdir));
                if (r < 0)
                        return r;
                return cpus_partition_prepare(j, d, c, taken, vmdir);
        }
        /* the VM's own child of the machine cgroup, from its QEMU's pid and
         * the exact name libvirt gives it: never a match on part of a name */
        char top[1024];
        r = vm_cgroup_find(ms, d, top, sizeof(top));
        if (r < 0)
                return r;
        /* top-down: each level's exclusive CPUs must include its children's;
         * the machine slice's already does (cpus_host_apply, from the ledger) */
        cpuset_format(&c->vcpus, list, sizeof(list));
        /* systemd layout: the threads are in the scope's libvirt/ child */
        snprintf(vmdir, sizeof(vmdir), "%s/libvirt", top);
        snprintf(path, sizeof(path), "%s/cgroup.procs", vmdir);
        if (sysfs_exists(path)) {
                snprintf(path, sizeof(path), "%s/cpuset.cpus.exclusive", top);
                r = vm_write(j, path, list);
                if (r < 0)
                        return r;
        } else {
                snprintf(vmdir, sizeof(vmdir), "%s", top);
        }
        snprintf(path, sizeof(path), "%s/cpuset.cpus.exclusive", vmdir);
        r = vm_write(j, path, list);
        if (r < 0)
                return r;
        r = sysfs_list(vmdir, &names, &n);
        if (r < 0)
                return log_error_errno(r, "cannot list %s", vmdir);
        for (size_t i = 0; i < n && r >= 0; i++) {
                char vdir[1400], pin[4096];
                uint64_t v;
                if (strncmp(names[i], "vcpu", 4) != 0 || parse_u64(names[i] + 4, 0, 65535, &v) < 0)
                        continue;
                snprintf(vdir, sizeof(vdir), "%s/%s", vmdir, names[i]);
                snprintf(path, sizeof(path), "%s/cpuset.cpus", vdir);
                r = cpus_read_set(path, &set);
                if (r < 0 || cpuset_empty(&set))
                        set = c->vcpus;
                for (size_t k = 0; k < CPUSET_MAX / 64; k++)
                        set.bits[k] &= c->vcpus.bits[k];
                cpuset_format(&set, pin, sizeof(pin));
                snprintf(path, sizeof(path), "%s/cpuset.cpus.exclusive", vdir);
                r = vm_write(j, path, pin);
                if (r == 0)
                        r = partition_make(j, vdir);
        }
        sysfs_list_free(names, n);
        return r;
}
