/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The host set: what isolation changes on the host for every VM (cpus_impl.h). */
#include "cpus_impl.h"

#include "log.h"
#include "systemd.h"
#include "sysfs.h"

#include <errno.h>
#include <stdlib.h>

/* ---- small helpers over the gateway ---- */

int cpus_read_set(const char *path, CpuSet *ret)
{
        char buf[8192];
        int r = sysfs_read(path, buf, sizeof(buf));
        if (r < 0)
                return r;
        cpuset_clear(ret);
        return r == 0 ? 0 : cpuset_parse(buf, ret);
}

/* vmprep.conf, as the phases in cpus.c last read it */
Config cpus_config;

/* ---- the ledger: who claims which CPUs ---- */

/* CPUs held under prefix ("cpus/", "cpus-irq/", "cpus-wq/") by every VM but exclude. */
void cpus_held(const Ledger *l, const char *prefix, const char *exclude, const char *only, CpuSet *ret)
{
        cpuset_clear(ret);
        for (size_t i = 0; i < l->n_holds; i++) {
                unsigned cpu;
                if (exclude && strcmp(l->holds[i].uuid, exclude) == 0)
                        continue;
                if (only && strcmp(l->holds[i].uuid, only) != 0)
                        continue;
                if (claim_resource(l->holds[i].resource, prefix, &cpu))
                        cpuset_set(ret, cpu);
        }
}

void cpus_drop_claims(Ledger *l, const char *uuid)
{
        for (size_t i = l->n_holds; i-- > 0;) {
                unsigned cpu;
                const LedgerHold *h = &l->holds[i];
                if (strcmp(h->uuid, uuid) != 0)
                        continue;
                if (claim_resource(h->resource, "cpus/", &cpu) || claim_resource(h->resource, "cpus-irq/", &cpu) ||
                    claim_resource(h->resource, "cpus-wq/", &cpu) || claim_resource(h->resource, "cpus-part/", &cpu)) {
                        char res[128];
                        snprintf(res, sizeof(res), "%s", h->resource);
                        ledger_hold(l, uuid, res, -h->amount);
                }
        }
}

/* ---- the host's journal: what isolation changed, with the value found ---- */

JournalStep *cpus_live_step(Journal *j, const char *path)
{
        for (size_t i = j->n_steps; i-- > 0;)
                if (!j->steps[i].undone && strcmp(j->steps[i].path, path) == 0)
                        return &j->steps[i];
        return NULL;
}

/* Write want to path; the first change of a path is journalled with the
 * value found (cur), later ones are not: undo restores the first. */
int cpus_host_write(Journal *j, const char *kind, const char *path, const char *cur, const char *want)
{
        unsigned seq = 0;
        bool first = !cpus_live_step(j, path);
        int r;

        if (first) {
                r = journal_begin_custom(j, kind, "cpus/host", path, cur, want, &seq);
                if (r < 0)
                        return r;
        }
        r = sysfs_write(path, want);
        if (first) {
                int r2 = journal_done(j, NULL, seq, r < 0 ? "refused" : want);
                if (r2 < 0)
                        return r2;
        }
        return r;
}

/* Read a value that may be long (the hex mask of thousands of CPUs is
 * 1151 characters for 4096): one that fills buf may have been cut, and
 * part of a mask is another mask, so that is an error, never a value. */
int cpus_read_value(const char *path, char *buf, size_t size)
{
        int r = sysfs_read(path, buf, size);
        return r >= 0 && (size_t) r >= size - 1 ? -EOVERFLOW : r;
}

/* Undo: put the value found back, when the file still exists and differs.
 * Tolerant: an IRQ that went away or is managed, a cgroup that libvirt
 * removed, are no reason to keep the step. */
int cpus_undo_restore(const JournalStep *s, const UndoContext *ctx)
{
        (void) ctx; /* the step alone says what to give back */
        char cur[JOURNAL_STEP_VALUE_MAX];
        int r = cpus_read_value(s->path, cur, sizeof(cur));

        if (r == -ENOENT)
                return 0;
        if (r >= 0 && strcmp(cur, s->old) == 0)
                return 0;
        r = sysfs_write(s->path, s->old);
        if (r == -ENOENT)
                return 0;
        if (r == -EPERM || r == -EIO) {
                log_warning("cannot restore %s to '%s' (%s): the kernel manages it", s->path, s->old, strerror(-r));
                return 0;
        }
        if (r < 0)
                return log_error_errno(r, "cannot restore %s to '%s'", s->path, s->old);
        log_info("restored %s to '%s'", s->path, s->old);
        return 0;
}

/* The masks of /proc/irq/N/smp_affinity_list (lists) and of
 * default_smp_affinity and the workqueue cpumask (hex masks): the value
 * found without the CPUs to avoid; when nothing of it is left, fallback
 * (the host's CPUs).  A file whose value holds none of them is not touched
 * (unless an earlier change of it is to be taken back). */
static int narrow(Journal *j, const char *path, bool hexmask, const CpuSet *avoid, const CpuSet *fallback,
                  bool *changed)
{
        char cur[JOURNAL_STEP_VALUE_MAX], want[JOURNAL_STEP_VALUE_MAX];
        CpuSet base, now, w;
        int r;

        *changed = false;
        r = cpus_read_value(path, cur, sizeof(cur));
        if (r < 0)
                return r;
        JournalStep *s = cpus_live_step(j, path);
        const char *b = s ? s->old : cur;
        r = hexmask ? cpus_mask_parse(b, &base) : (*b ? cpuset_parse(b, &base) : -EINVAL);
        if (r < 0)
                return r;
        r = hexmask ? cpus_mask_parse(cur, &now) : cpuset_parse(cur, &now);
        if (r < 0)
                return r;
        if (!s && !cpuset_intersects(&now, avoid))
                return 0;
        w = base;
        cpuset_andnot(&w, avoid);
        if (cpuset_empty(&w))
                w = *fallback;
        if (cpuset_equal(&w, &now))
                return 0;
        r = hexmask ? cpus_mask_format(&w, want, sizeof(want)) : cpuset_format(&w, want, sizeof(want));
        if (r < 0)
                return r;
        *changed = true;
        return cpus_host_write(j, "restore", path, cur, want);
}

static int irqs_apply(Journal *j, const CpuSet *avoid, const CpuSet *fallback, Stats *st)
{
        char **names = NULL;
        size_t n = 0;
        int r = sysfs_list(IRQ_DIR, &names, &n);

        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return log_error_errno(r, "cannot list " IRQ_DIR);
        for (size_t i = 0; i < n; i++) {
                uint64_t irq;
                char path[128];
                bool changed;
                if (parse_u64(names[i], 0, 1u << 24, &irq) < 0)
                        continue;
                snprintf(path, sizeof(path), IRQ_DIR "/%llu/smp_affinity_list", (unsigned long long) irq);
                r = narrow(j, path, false, avoid, fallback, &changed);
                if (r == -EPERM || r == -EIO) {
                        /* managed IRQs (queue vectors, timers): EPERM on 6.12, EIO on 6.1 */
                        size_t len = strlen(st->managed_list);
                        if (len + 12 < sizeof(st->managed_list))
                                snprintf(st->managed_list + len, sizeof(st->managed_list) - len, "%s%llu",
                                         len ? "," : "", (unsigned long long) irq);
                        st->managed++;
                        continue;
                }
                if (r == -ENOENT)
                        continue; /* went away */
                if (r < 0) {
                        log_warning_errno(r, "cannot move IRQ %llu", (unsigned long long) irq);
                        continue;
                }
                st->irqs += changed;
        }
        sysfs_list_free(names, n);
        return 0;
}

const CpusBackend *cpus_backend(Backend b)
{
        static const CpusBackend none = { .name = "none", .apply = NULL };
        switch (b) {
        case BACKEND_CGROUP1:
                return &cpus_backend_cg1;
        case BACKEND_CGROUP2:
                return &cpus_backend_cg2;
        case BACKEND_SYSTEMD:
                return &cpus_backend_systemd;
        default:
                return &none;
        }
}

const char *cpus_backend_name(Backend b)
{
        return cpus_backend(b)->name;
}

Backend cpus_backend_detect(void)
{
        char buf[512];
        if (sysfs_read(CG2_ROOT "/cgroup.controllers", buf, sizeof(buf)) >= 0 && word_in(buf, "cpuset"))
                return systemd_running() ? BACKEND_SYSTEMD : BACKEND_CGROUP2;
        if (sysfs_exists(CG1_ROOT "/cpuset.cpus"))
                return BACKEND_CGROUP1;
        return BACKEND_NONE;
}

/*
 * Make the host match the ledger: host = online CPUs minus every running
 * VM's claim (but exclude's).  With no claim left, replay the host's
 * journal: the baseline comes back exactly.
 */
int cpus_host_apply(Ledger *l, const char *exclude, Stats *st)
{
        CpuSet all, online, host, avoid;
        Journal *j = NULL;
        char a[256], b[256];
        int r;

        cpus_held(l, "cpus/", exclude, NULL, &all);
        if (cpuset_empty(&all)) {
                r = journal_open(LEDGER_HOST_UUID, CAP, "host", false, &j);
                if (r == -ENOENT)
                        return 0;
                if (r < 0)
                        return r;
                log_info("no VM claims CPUs any more: restoring the host as it was");
                r = journal_undo(j, l);
                journal_close(j);
                return r;
        }
        r = cpus_read_set(CPU_ONLINE, &online);
        if (r < 0)
                return log_error_errno(r, "cannot read " CPU_ONLINE);
        host = online;
        cpuset_andnot(&host, &all);
        if (cpuset_empty(&host)) {
                return log_error_errno(SYNTHETIC_ERRNO(EBUSY),
                                       "running VMs claim every online CPU (%s of %s): the host would have none",
                                       fmt_set(&all, a, sizeof(a)), fmt_set(&online, b, sizeof(b)));
        }
        r = journal_open(LEDGER_HOST_UUID, CAP, "host", true, &j);
        if (r < 0)
                return r;
        const CpusBackend *be = cpus_backend(cpus_backend_detect());
        if (be->apply) {
                r = be->apply(j, &cpus_config, &host, st);
        } else {
                log_warning("no cpuset controller (cgroup v1 cpuset or v2 with cpuset): host tasks are not confined");
                r = 0;
        }
        if (r < 0)
                goto out;
        cpus_held(l, "cpus-part/", exclude, NULL, &avoid);
        r = cpus_machine_exclusive(j, &avoid);
        if (r < 0)
                goto out;

        bool changed;
        cpus_held(l, "cpus-irq/", exclude, NULL, &avoid);
        r = irqs_apply(j, &avoid, &host, st);
        if (r < 0)
                goto out;
        if (sysfs_exists(IRQ_DEFAULT)) {
                r = narrow(j, IRQ_DEFAULT, true, &avoid, &host, &changed);
                if (r < 0) {
                        log_error_errno(r, "cannot narrow " IRQ_DEFAULT);
                        goto out;
                }
        }
        cpus_held(l, "cpus-wq/", exclude, NULL, &avoid);
        if (sysfs_exists(WQ_MASK)) {
                r = narrow(j, WQ_MASK, true, &avoid, &host, &changed);
                if (r < 0) {
                        log_error_errno(r, "cannot narrow the unbound workqueue mask " WQ_MASK);
                        goto out;
                }
        }
out:
        journal_close(j);
        return r;
}

/* Undo of a VM's claim: give the host its CPUs back first (so that a crash
 * here leaves the claim, and the next release finishes), then drop it. */
int cpus_undo_claim(const JournalStep *s, const UndoContext *ctx)
{
        Stats st = { 0 };
        char uuid[UUID_STRLEN];
        int r;

        if (!ctx->ledger || strncmp(s->resource, "cpus:", 5) != 0 || uuid_parse(s->resource + 5, uuid) < 0)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "journal step %u: '%s' is not a CPU claim", s->seq,
                                       s->resource);
        r = cpus_host_apply(ctx->ledger, uuid, &st);
        if (r < 0)
                return r;
        cpus_drop_claims(ctx->ledger, uuid);
        r = ledger_save(ctx->ledger);
        if (r < 0)
                return r;
        log_info("gave CPU %s back to the host", s->new_);
        return 0;
}
