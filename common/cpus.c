/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "cpus.h"

#include "cpus_share.h"
#include "journal.h"
#include "log.h"
#include "machine_name.h"
#include "sysfs.h"
#include "systemd.h"
#include "vm_cgroup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CAP "cpus"
#define CG1_ROOT "/sys/fs/cgroup/cpuset"
#define CG2_ROOT "/sys/fs/cgroup"
#define HOST_CGROUP "vmprep.host"
#define IRQ_DIR "/proc/irq"
#define IRQ_DEFAULT "/proc/irq/default_smp_affinity"
#define WQ_MASK "/sys/devices/virtual/workqueue/cpumask"
#define CPU_ONLINE "/sys/devices/system/cpu/online"
#ifndef VMPREP_CONF
#define VMPREP_CONF "/etc/vmprep/vmprep.conf"
#endif
#define MAX_SCOPES 16

static const char *fmt_set(const CpuSet *s, char *buf, size_t size)
{
        if (cpuset_format(s, buf, size) < 0)
                snprintf(buf, size, "(a list too long to print)");
        return buf;
}

/* ---- masks: the kernel's bitmap format, 32-bit words in hex, highest first ---- */

int cpus_mask_format(const CpuSet *set, char *buf, size_t size)
{
        int top = -1;
        size_t len = 0;

        for (int w = CPUSET_MAX / 32 - 1; w >= 0; w--) {
                uint32_t v = (uint32_t) (set->bits[w / 2] >> ((w % 2) * 32));
                if (top < 0 && v == 0 && w > 0)
                        continue;
                int n = top < 0 ? snprintf(buf + len, size - len, "%x", v)
                                : snprintf(buf + len, size - len, ",%08x", v);
                if (n < 0 || (size_t) n >= size - len)
                        return -ENOBUFS;
                len += (size_t) n;
                top = w;
        }
        return 0;
}

int cpus_mask_parse(const char *s, CpuSet *ret)
{
        const char *words[CPUSET_MAX / 32];
        size_t n = 0;
        char copy[CPUSET_MAX / 4 + CPUSET_MAX / 32 + 2], *save = NULL;

        if (!s || !*s || strlen(s) >= sizeof(copy) || s[0] == ',' || s[strlen(s) - 1] == ',' || strstr(s, ",,"))
                return -EINVAL;
        snprintf(copy, sizeof(copy), "%s", s);
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (n == CPUSET_MAX / 32 || !*t || strlen(t) > 8)
                        return -EINVAL;
                words[n++] = t;
        }
        if (n == 0)
                return -EINVAL;
        cpuset_clear(ret);
        for (size_t i = 0; i < n; i++) {
                uint64_t v = 0;
                for (const char *h = words[i]; *h; h++) {
                        int x = *h >= '0' && *h <= '9' ? *h - '0'
                                : *h >= 'a' && *h <= 'f' ? *h - 'a' + 10
                                : *h >= 'A' && *h <= 'F' ? *h - 'A' + 10 : -1;
                        if (x < 0)
                                return -EINVAL;
                        v = v << 4 | (uint64_t) x;
                }
                size_t w = n - 1 - i;
                for (unsigned b = 0; b < 32; b++)
                        if (v & (UINT64_C(1) << b))
                                cpuset_set(ret, (unsigned) (w * 32 + b));
        }
        return 0;
}

/* ---- derivation (pure) ---- */

static int check_cpus(const CpuTopology *t, const CpuSet *set, const char *origin, char *err, size_t errlen)
{
        char a[256], b[256];
        CpuSet bad = *set;

        cpuset_andnot(&bad, &t->present);
        if (!cpuset_empty(&bad))
                return fail_msg(err, errlen, "%s: CPU %s does not exist on this host (it has CPUs %s)", origin,
                                fmt_set(&bad, a, sizeof(a)), fmt_set(&t->present, b, sizeof(b)));
        bad = *set;
        cpuset_andnot(&bad, &t->online);
        if (!cpuset_empty(&bad))
                return fail_msg(err, errlen, "%s: CPU %s is offline (online: %s); bring it online or pin to online CPUs",
                                origin, fmt_set(&bad, a, sizeof(a)), fmt_set(&t->online, b, sizeof(b)));
        return 0;
}

int cpus_derive(const Domain *d, const Profile *p, const CpuTopology *t, const CpuSet *taken, CpusClaim *ret,
                char *err, size_t errlen)
{
        const ProfileElem *e = profile_elem(p, "isolate");
        CpuSet unpinned;
        char origin[400], a[256];
        int r;

        (void) taken; /* the caller's check_overlap() and cpus_share_check() name other VMs */
        memset(ret, 0, sizeof(*ret));
        ret->irqs = profile_attr_yes(e, "irqs", true);
        ret->workqueues = profile_attr_yes(e, "workqueues", true);
        ret->partition = e && profile_attr(e, "mode") && strcmp(profile_attr(e, "mode"), "partition") == 0;

        /* every vCPU up to the maximum: hot-plugged ones must land on isolated cores */
        domain_unpinned_vcpus(d, &unpinned);
        if (!cpuset_empty(&unpinned) && !d->has_vcpu_cpuset)
                return fail_msg(err, errlen,
                                "<vmprep:isolate>: vCPU %s (of %u, counted up to <vcpu>'s maximum so that vCPUs hot-plugged "
                                "later land on isolated cores too) %s neither a <vcpupin> nor a <vcpu cpuset>, so %s could "
                                "run on any host CPU; run 'vmprep pin %s' to pin every vCPU on whole cores of one NUMA node "
                                "and L3, away from CPU 0's core and other VMs' cores ('vmprep pin %s --dry-run' shows the "
                                "choice and the diff first), or pin them by hand (virsh edit %s)",
                                fmt_set(&unpinned, a, sizeof(a)), d->vcpu_max,
                                cpuset_count(&unpinned) == 1 ? "has" : "have", cpuset_count(&unpinned) == 1 ? "it" : "they",
                                d->name, d->name, d->name);

        for (size_t i = 0; i < d->n_vcpupins; i++) {
                snprintf(origin, sizeof(origin), "<vcpupin vcpu='%u' cpuset='%s'>", d->vcpupins[i].id,
                         fmt_set(&d->vcpupins[i].cpus, a, sizeof(a)));
                r = check_cpus(t, &d->vcpupins[i].cpus, origin, err, errlen);
                if (r < 0)
                        return r;
                cpuset_or(&ret->cpus, &d->vcpupins[i].cpus);
                cpuset_or(&ret->vcpus, &d->vcpupins[i].cpus);
        }
        if (d->has_vcpu_cpuset) {
                snprintf(origin, sizeof(origin), "<vcpu cpuset='%s'>", fmt_set(&d->vcpu_cpuset, a, sizeof(a)));
                r = check_cpus(t, &d->vcpu_cpuset, origin, err, errlen);
                if (r < 0)
                        return r;
                /* the default of unpinned vCPUs and, without <emulatorpin>, of QEMU's own threads */
                cpuset_or(&ret->cpus, &d->vcpu_cpuset);
                if (!cpuset_empty(&unpinned))
                        cpuset_or(&ret->vcpus, &d->vcpu_cpuset);
                if (!d->has_emulatorpin)
                        cpuset_or(&ret->emulator, &d->vcpu_cpuset);
        }
        /* QEMU's emulator and iothreads on CPU 0's core run beside the
         * host's housekeeping, where `vmprep pin` puts them (the host's
         * share): not claimed, so the host keeps that core */
        CpuSet host_share, emu_claim = d->emulatorpin;
        cpuset_clear(&host_share);
        if (t->n_cpus > 0)
                host_share = t->siblings[0];
        cpuset_andnot(&emu_claim, &host_share);
        if (d->has_emulatorpin) {
                snprintf(origin, sizeof(origin), "<emulatorpin cpuset='%s'>", fmt_set(&d->emulatorpin, a, sizeof(a)));
                r = check_cpus(t, &d->emulatorpin, origin, err, errlen);
                if (r < 0)
                        return r;
                cpuset_or(&ret->cpus, &emu_claim);
                ret->emulator = d->emulatorpin;
        }
        for (size_t i = 0; i < d->n_iothreadpins; i++) {
                snprintf(origin, sizeof(origin), "<iothreadpin iothread='%u' cpuset='%s'>", d->iothreadpins[i].id,
                         fmt_set(&d->iothreadpins[i].cpus, a, sizeof(a)));
                r = check_cpus(t, &d->iothreadpins[i].cpus, origin, err, errlen);
                if (r < 0)
                        return r;
                CpuSet io = d->iothreadpins[i].cpus;
                cpuset_andnot(&io, &host_share);
                cpuset_or(&ret->cpus, &io);
        }

        const char *list = e ? profile_attr(e, "cpus") : NULL;
        if (list && strcmp(list, "auto") != 0) {
                CpuSet want, outside;
                char b[256];
                if (cpuset_parse(list, &want) < 0)
                        return fail_msg(err, errlen, "<vmprep:isolate cpus='%s'>: not a CPU list", list);
                snprintf(origin, sizeof(origin), "<vmprep:isolate cpus='%s'>", list);
                r = check_cpus(t, &want, origin, err, errlen);
                if (r < 0)
                        return r;
                outside = ret->cpus;
                cpuset_andnot(&outside, &want);
                if (!cpuset_empty(&outside))
                        return fail_msg(err, errlen,
                                        "<vmprep:isolate cpus='%s'>: the domain's <cputune>/<vcpu cpuset> put its threads "
                                        "on CPU %s too, which this list leaves to the host; use cpus='auto' (isolate %s) "
                                        "or pin the domain inside the list",
                                        list, fmt_set(&outside, a, sizeof(a)), fmt_set(&ret->cpus, b, sizeof(b)));
                ret->cpus = want;
        }
        return 0;
}

int cpus_numa_check(const Domain *d, const Profile *p, const CpuTopology *t, const CpusClaim *c,
                    const int *pci_nodes, char *err, size_t errlen)
{
        const ProfileElem *e = profile_elem(p, "isolate");
        const char *mode = e && profile_attr(e, "numa") ? profile_attr(e, "numa") : "prefer";
        CpuSet cnodes;
        char a[128], b[128], cs[256];
        size_t len = 0;

        err[0] = '\0';
        if (strcmp(mode, "ignore") == 0 || cpuset_count(&t->nodes) < 2)
                return 0;
        numa_nodes_of(t, &c->cpus, &cnodes);
        fmt_set(&c->cpus, cs, sizeof(cs));
        if (d->has_numatune && !d->numatune_auto) {
                CpuSet off = cnodes;
                cpuset_andnot(&off, &d->numatune_nodeset);
                if (!cpuset_empty(&off)) {
                        int n1 = cpuset_next(&off, 0), n2 = cpuset_next(&d->numatune_nodeset, 0);
                        len += (size_t) snprintf(err + len, errlen - len,
                                                 "%sthe isolated CPUs %s are on NUMA node %s, but <numatune> places the "
                                                 "memory on node %s (distance %d)",
                                                 len ? "; " : "", cs, fmt_set(&cnodes, a, sizeof(a)),
                                                 fmt_set(&d->numatune_nodeset, b, sizeof(b)),
                                                 numa_distance(t, (unsigned) n1, (unsigned) (n2 < 0 ? 0 : n2)));
                }
        }
        /* the profile's hugepage nodes, when it names them */
        const ProfileElem *h = profile_elem(p, "hugepages");
        const char *hn = h && profile_enabled(p, "hugepages") ? profile_attr(h, "nodes") : NULL;
        CpuSet hnodes;
        if (hn && strcmp(hn, "auto") != 0 && cpuset_parse(hn, &hnodes) == 0 && len < errlen) {
                CpuSet off = cnodes;
                cpuset_andnot(&off, &hnodes);
                if (!cpuset_empty(&off))
                        len += (size_t) snprintf(err + len, errlen - len,
                                                 "%sthe isolated CPUs %s are on NUMA node %s, but <vmprep:hugepages "
                                                 "nodes='%s'> reserves the memory on node %s (distance %d)",
                                                 len ? "; " : "", cs, fmt_set(&cnodes, a, sizeof(a)), hn,
                                                 fmt_set(&hnodes, b, sizeof(b)),
                                                 numa_distance(t, (unsigned) cpuset_next(&off, 0),
                                                               (unsigned) cpuset_next(&hnodes, 0)));
        }
        for (size_t i = 0; pci_nodes && i < d->n_hostdevs && len < errlen; i++) {
                if (pci_nodes[i] < 0 || cpuset_isset(&cnodes, (unsigned) pci_nodes[i]))
                        continue;
                char addr[PCI_ADDRESS_STRLEN];
                pci_address_format(&d->hostdevs[i], addr);
                len += (size_t) snprintf(err + len, errlen - len,
                                         "%sdevice %s is on NUMA node %d, the isolated CPUs %s on node %s (distance %d)",
                                         len ? "; " : "", addr, pci_nodes[i], cs, fmt_set(&cnodes, a, sizeof(a)),
                                         numa_distance(t, (unsigned) pci_nodes[i], (unsigned) cpuset_next(&cnodes, 0)));
        }
        if (!len)
                return 0;
        if (strcmp(mode, "strict") == 0) {
                if (len < errlen)
                        snprintf(err + len, errlen - len,
                                 " (<vmprep:isolate numa='strict'>: pin the VM on the node of its memory and devices, or "
                                 "set numa='prefer' to only warn)");
                return -EINVAL;
        }
        return 1;
}

/* ---- configuration: /etc/vmprep/vmprep.conf ---- */

/*
 *   # which cgroups hold host work (default: all of it)
 *   host-scope = /some/cgroup /another
 *
 * Paths are relative to the root of the cgroup hierarchy (v1: the cpuset
 * one; v2: the unified one); on a systemd host they name units
 * (system.slice ...).  The test build also takes the file's path from
 * $VMPREP_CONF (still through the gateway).
 */
typedef struct Config {
        char scopes[MAX_SCOPES][200];
        size_t n_scopes;
} Config;

static bool scope_valid(const char *s, bool unit)
{
        size_t n = strlen(s);
        if (n == 0 || n >= 200)
                return false;
        if (unit)
                return s[0] != '/' && name_is_valid(s);
        if (s[0] != '/')
                return false;
        for (const char *p = s; *p; p++) {
                if (*p == '/') {
                        if (p[1] == '/' || (p[1] == '.' && (p[2] == '/' || !p[2] || (p[2] == '.' && (p[3] == '/' || !p[3])))))
                                return false;
                        continue;
                }
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      strchr("_.@:+-\\", *p)))
                        return false;
        }
        return true;
}

static int config_read(Config *c, bool units)
{
        const char *path = VMPREP_CONF;
        char *text = NULL, *save = NULL;
        unsigned lineno = 0;
        int r;

#ifdef VMPREP_TEST_BUILD
        if (getenv("VMPREP_CONF"))
                path = getenv("VMPREP_CONF");
#endif
        memset(c, 0, sizeof(*c));
        r = sysfs_read_alloc(path, 1 << 16, &text, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return log_error_errno(r, "cannot read %s", path);
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                lineno++;
                char *hash = strchr(line, '#');
                if (hash)
                        *hash = '\0';
                char *eq = strchr(line, '=');
                char *key = line;
                while (*key == ' ' || *key == '\t')
                        key++;
                if (!*key)
                        continue;
                if (!eq) {
                        log_error("%s:%u: not 'key = value'", path, lineno);
                        free(text);
                        return -VMPREP_EREPORTED;
                }
                *eq = '\0';
                for (char *k = eq - 1; k >= key && (*k == ' ' || *k == '\t'); k--)
                        *k = '\0';
                if (strcmp(key, "host-scope") != 0)
                        continue; /* another capability's setting */
                char *save2 = NULL;
                for (char *tok = strtok_r(eq + 1, " \t,", &save2); tok; tok = strtok_r(NULL, " \t,", &save2)) {
                        if (!scope_valid(tok, units) || c->n_scopes == MAX_SCOPES) {
                                log_error("%s:%u: host-scope '%s' is not %s", path, lineno, tok,
                                          units ? "a systemd unit name" : "a cgroup path such as /host or /a/b");
                                free(text);
                                return -VMPREP_EREPORTED;
                        }
                        snprintf(c->scopes[c->n_scopes++], sizeof(c->scopes[0]), "%s", tok);
                }
        }
        free(text);
        return 0;
}

/* ---- small helpers over the gateway ---- */

static int read_set(const char *path, CpuSet *ret)
{
        char buf[8192];
        int r = sysfs_read(path, buf, sizeof(buf));
        if (r < 0)
                return r;
        cpuset_clear(ret);
        return r == 0 ? 0 : cpuset_parse(buf, ret);
}

/* ---- the ledger: who claims which CPUs ---- */

static Config config;

static bool claim_resource(const char *res, const char *prefix, unsigned *cpu)
{
        uint64_t v;
        size_t n = strlen(prefix);
        if (strncmp(res, prefix, n) != 0 || parse_u64(res + n, 0, CPUSET_MAX - 1, &v) < 0)
                return false;
        *cpu = (unsigned) v;
        return true;
}

/* CPUs held under prefix ("cpus/", "cpus-irq/", "cpus-wq/") by every VM but exclude. */
static void ledger_cpus(const Ledger *l, const char *prefix, const char *exclude, const char *only, CpuSet *ret)
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

static void ledger_drop_claims(Ledger *l, const char *uuid)
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

static JournalStep *live_step(Journal *j, const char *path)
{
        for (size_t i = j->n_steps; i-- > 0;)
                if (!j->steps[i].undone && strcmp(j->steps[i].path, path) == 0)
                        return &j->steps[i];
        return NULL;
}

/* Write want to path; the first change of a path is journalled with the
 * value found (cur), later ones are not: undo restores the first. */
static int host_write(Journal *j, const char *kind, const char *path, const char *cur, const char *want)
{
        unsigned seq = 0;
        bool first = !live_step(j, path);
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
static int read_value(const char *path, char *buf, size_t size)
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
        int r = read_value(s->path, cur, sizeof(cur));

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
        r = read_value(path, cur, sizeof(cur));
        if (r < 0)
                return r;
        JournalStep *s = live_step(j, path);
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
        return host_write(j, "restore", path, cur, want);
}

typedef struct Stats {
        unsigned moved, unmovable, irqs, managed;
        char managed_list[256];
} Stats;

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

/* ---- backends: where host tasks are confined ---- */

typedef enum Backend {
        BACKEND_NONE,
        BACKEND_CGROUP1,
        BACKEND_CGROUP2,
        BACKEND_SYSTEMD,
} Backend;

static const char *backend_name(Backend b)
{
        switch (b) {
        case BACKEND_CGROUP1:
                return "cgroup v1 cpuset";
        case BACKEND_CGROUP2:
                return "cgroup v2";
        case BACKEND_SYSTEMD:
                return "systemd";
        default:
                return "none";
        }
}

static bool word_in(const char *list, const char *word)
{
        size_t n = strlen(word);
        for (const char *p = list; (p = strstr(p, word)); p += n)
                if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
                        return true;
        return false;
}

static Backend backend_detect(void)
{
        char buf[512];
        if (sysfs_read(CG2_ROOT "/cgroup.controllers", buf, sizeof(buf)) >= 0 && word_in(buf, "cpuset"))
                return systemd_running() ? BACKEND_SYSTEMD : BACKEND_CGROUP2;
        if (sysfs_exists(CG1_ROOT "/cpuset.cpus"))
                return BACKEND_CGROUP1;
        return BACKEND_NONE;
}

/*
 * cgroup v1: under each host-scope cgroup D (default: the root of the
 * cpuset hierarchy), a child D/vmprep.host with cpuset.cpus = the host set,
 * and D's own tasks moved into it, a process (all its threads) per write
 * of cgroup.procs.  v1 wants cpuset.mems and cpuset.cpus set before the
 * first task arrives.  Kernel threads that may not move (per-CPU ones)
 * answer EINVAL and stay.  Undo ("cg1host"): every task back into D, then
 * rmdir.
 */
static int cg1_move_all(const char *from, const char *to, bool self_too, unsigned *moved, unsigned *unmovable)
{
        char procs[SYSFS_PATH_MAX], dest[SYSFS_PATH_MAX], *text = NULL, *save = NULL;
        int r, first = 0;
        pid_t self = getpid();

        snprintf(procs, sizeof(procs), "%s/cgroup.procs", from);
        snprintf(dest, sizeof(dest), "%s/cgroup.procs", to);
        r = sysfs_read_alloc(procs, 64u << 20, &text, NULL);
        if (r < 0)
                return r;
        for (char *tok = strtok_r(text, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save)) {
                uint64_t pid;
                if (parse_u64(tok, 1, INT32_MAX, &pid) < 0)
                        continue;
                if ((pid_t) pid == self && !self_too)
                        continue; /* the hook itself is gone in a moment */
                r = sysfs_write(dest, tok);
                if (r == 0) {
                        (*moved)++;
                } else if (r == -ESRCH) {
                        continue; /* exited meanwhile */
                } else if (r == -EINVAL || r == -EPERM) {
                        (*unmovable)++; /* kernel threads bound to their CPU */
                } else if (!first) {
                        first = r;
                }
        }
        free(text);
        return first;
}

static void cg1_dir(const char *scope, char *buf, size_t size)
{
        if (strcmp(scope, "/") == 0)
                snprintf(buf, size, CG1_ROOT);
        else
                snprintf(buf, size, CG1_ROOT "%s", scope);
}

static int cg1_apply(Journal *j, const CpuSet *host, Stats *st)
{
        static const Config whole = { .scopes = { "/" }, .n_scopes = 1 };
        const Config *c = config.n_scopes ? &config : &whole;
#if defined(VMPREP_TEST_BUILD) || defined(VMPREP_REQUIRE_HOST_SCOPE)
        /* a test on the real machine must never move its init and agent,
         * unless it asks for the default scope itself: a file "default-scope"
         * beside the compiled-in VMPREP_CONF (the host-test build's
         * /run/vmprep-cpus-test/; tests/host/cpus.sh, which puts every task
         * back) */
        char consent[512];
        snprintf(consent, sizeof(consent), "%s", VMPREP_CONF);
        if (strrchr(consent, '/'))
                snprintf(strrchr(consent, '/'), sizeof(consent) - (size_t) (strrchr(consent, '/') - consent),
                         "/default-scope");
        if (!config.n_scopes && !sysfs_root()[0] && !sysfs_exists(consent)) {
                log_error("test build on the real machine without host-scope: refusing to move every task of the host");
                return -VMPREP_EREPORTED;
        }
#endif
        char dir[512], child[600], path[SYSFS_PATH_MAX], want[4096], buf[4096];
        int r;

        for (size_t i = 0; i < c->n_scopes; i++) {
                CpuSet parent, w, now;
                cg1_dir(c->scopes[i], dir, sizeof(dir));
                snprintf(path, sizeof(path), "%s/cpuset.effective_cpus", dir);
                r = read_set(path, &parent);
                if (r == -ENOENT) {
                        snprintf(path, sizeof(path), "%s/cpuset.cpus", dir);
                        r = read_set(path, &parent);
                }
                if (r < 0) {
                        log_error("host-scope '%s': no such cgroup in the cpuset hierarchy (%s: %s)", c->scopes[i], path,
                                  strerror(-r));
                        return -VMPREP_EREPORTED;
                }
                w = parent;
                for (size_t k = 0; k < CPUSET_MAX / 64; k++)
                        w.bits[k] &= host->bits[k];
                if (cpuset_empty(&w)) {
                        char a[256], b[256];
                        log_error("host-scope '%s' may only use CPUs %s, all of which running VMs claim (host CPUs: %s)",
                                  c->scopes[i], fmt_set(&parent, a, sizeof(a)), fmt_set(host, b, sizeof(b)));
                        return -VMPREP_EREPORTED;
                }
                cpuset_format(&w, want, sizeof(want));
                snprintf(child, sizeof(child), "%s/" HOST_CGROUP, dir);
                /* (one left by a run whose host journal is gone is adopted:
                 * journalled, so that the last VM out removes it) */
                if (!live_step(j, child)) {
                        unsigned seq;
                        r = journal_begin_custom(j, "cg1host", "cpus/host", child, "", c->scopes[i], &seq);
                        if (r < 0)
                                return r;
                        r = sysfs_mkdir(child, 0755);
                        if (r < 0 && r != -EEXIST)
                                return log_error_errno(r, "cannot create the cgroup %s", child);
                        sysfs_crash_point(child);
                        snprintf(path, sizeof(path), "%s/cpuset.effective_mems", dir);
                        r = sysfs_read(path, buf, sizeof(buf));
                        if (r < 0) {
                                snprintf(path, sizeof(path), "%s/cpuset.mems", dir);
                                r = sysfs_read(path, buf, sizeof(buf));
                        }
                        if (r < 0)
                                return log_error_errno(r, "cannot read %s", path);
                        snprintf(path, sizeof(path), "%s/cpuset.mems", child);
                        r = sysfs_write(path, buf);
                        if (r < 0)
                                return log_error_errno(r, "cannot write '%s' to %s", buf, path);
                        snprintf(path, sizeof(path), "%s/cpuset.cpus", child);
                        r = sysfs_write(path, want);
                        if (r < 0)
                                return log_error_errno(r, "cannot write '%s' to %s", want, path);
                        r = journal_done(j, NULL, seq, want);
                        if (r < 0)
                                return r;
                        log_info("created %s for the host's tasks on CPU %s", child, want);
                } else {
                        snprintf(path, sizeof(path), "%s/cpuset.cpus", child);
                        r = read_set(path, &now);
                        if (r < 0 || !cpuset_equal(&now, &w)) {
                                r = sysfs_write(path, want);
                                if (r < 0)
                                        return log_error_errno(r, "cannot write '%s' to %s", want, path);
                                log_info("host tasks of %s now on CPU %s", c->scopes[i], want);
                        }
                }
                r = cg1_move_all(dir, child, false, &st->moved, &st->unmovable);
                if (r < 0)
                        return log_error_errno(r, "cannot move the tasks of %s into %s", dir, child);
        }
        return 0;
}

/*
 * Undo of "cg1host": every task of D/vmprep.host back into D, then rmdir.
 * The hook itself is usually among them: libvirtd was moved into
 * vmprep.host at prepare, so its release hook is born there (and so is any
 * child it forks until it is moved back).  So everything moves, the hook
 * included, round after round until the cgroup is empty and rmdir succeeds,
 * within CG1_EMPTY_MS.  A task that cannot leave (a kernel thread that
 * became PF_NO_SETAFFINITY while inside, answering EINVAL) or a fork storm
 * that outlasts the bound leaves the cgroup behind: it then gets D's CPUs,
 * so that what stays there is confined no longer, it is named, and the step
 * counts as undone (the next VM start adopts and removes the directory).
 */
#define CG1_EMPTY_MS 2000

int cpus_undo_cg1host(const JournalStep *s, const UndoContext *ctx)
{
        (void) ctx; /* the step alone says what to give back */
        char parent[sizeof(((JournalStep *) 0)->path)], path[SYSFS_PATH_MAX], cpus[4096], left[256] = "";
        struct timespec t0, now;
        unsigned moved = 0, unmovable = 0;
        int r;

        if (!sysfs_exists(s->path))
                return 0;
        snprintf(parent, sizeof(parent), "%s", s->path);
        char *slash = strrchr(parent, '/');
        if (!slash || strcmp(slash + 1, HOST_CGROUP) != 0)
                return -EINVAL; /* only ever a vmprep.host directory */
        *slash = '\0';
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (unsigned round = 0;; round++) {
                r = cg1_move_all(s->path, parent, true, &moved, &unmovable);
                if (r < 0 && r != -ENOENT)
                        return log_error_errno(r, "cannot move the tasks of %s back to %s", s->path, parent);
                r = sysfs_rmdir(s->path);
                if (r == 0 || r == -ENOENT) {
                        log_info("moved %u processes back to %s and removed %s%s", moved, parent, s->path,
                                 round ? " (they were still forking: several rounds)" : "");
                        return 0;
                }
                if (r != -EBUSY)
                        return log_error_errno(r, "cannot remove %s", s->path);
                clock_gettime(CLOCK_MONOTONIC, &now);
                if ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 >= CG1_EMPTY_MS)
                        break;
                if (round >= 2) {
                        struct timespec pause = { 0, 10 * 1000 * 1000 };
                        nanosleep(&pause, NULL);
                }
        }
        /* what is still there runs on every CPU of the parent again */
        snprintf(path, sizeof(path), "%s/cpuset.effective_cpus", parent);
        r = sysfs_read(path, cpus, sizeof(cpus));
        if (r < 0) {
                snprintf(path, sizeof(path), "%s/cpuset.cpus", parent);
                r = sysfs_read(path, cpus, sizeof(cpus));
        }
        snprintf(path, sizeof(path), "%s/cgroup.procs", s->path);
        sysfs_read(path, left, sizeof(left));
        for (char *p = left; *p; p++)
                if (*p == '\n')
                        *p = ' ';
        if (r >= 0) {
                snprintf(path, sizeof(path), "%s/cpuset.cpus", s->path);
                r = sysfs_write(path, cpus);
        }
        if (r < 0)
                return log_error_errno(r, "cannot remove %s: process %s stay%s in it after %u ms, and it cannot be given "
                                       "the CPUs of %s", s->path, left[0] ? left : "(none listed)",
                                       strchr(left, ' ') ? "" : "s", CG1_EMPTY_MS, parent);
        log_warning("cannot remove %s: process %s still in it after %u ms (%s); it keeps them on CPU %s, as %s, and "
                    "the next VM start removes it", s->path, left[0] ? left : "(none listed)", CG1_EMPTY_MS,
                    unmovable ? "kernel threads that may not move" : "they keep forking", cpus, parent);
        return 0;
}

/* cgroup v2 without systemd: cpuset.cpus of the root's children other than
 * the VMs' (machine.slice, machine), with cpuset enabled in the root's
 * subtree_control ("cg2ctl": undo writes "-cpuset"). */
static bool is_machine_cgroup(const char *name)
{
        return strcmp(name, "machine.slice") == 0 || strcmp(name, "machine") == 0;
}

static int cg2_apply(Journal *j, const CpuSet *host)
{
        char buf[512], want[4096], path[SYSFS_PATH_MAX], cur[JOURNAL_STEP_VALUE_MAX];
        char **names = NULL;
        size_t n = 0;
        int r;

        r = sysfs_read(CG2_ROOT "/cgroup.subtree_control", buf, sizeof(buf));
        if (r < 0)
                return log_error_errno(r, "cannot read " CG2_ROOT "/cgroup.subtree_control");
        if (!word_in(buf, "cpuset")) {
                unsigned seq;
                r = journal_begin_custom(j, "cg2ctl", "cpus/host", CG2_ROOT "/cgroup.subtree_control", "", "+cpuset",
                                         &seq);
                if (r < 0)
                        return r;
                r = sysfs_write(CG2_ROOT "/cgroup.subtree_control", "+cpuset");
                if (r < 0)
                        return log_error_errno(r, "cannot enable the cpuset controller for the root's children");
                r = journal_done(j, NULL, seq, "+cpuset");
                if (r < 0)
                        return r;
        }
        cpuset_format(host, want, sizeof(want));
        if (config.n_scopes) {
                names = calloc(config.n_scopes, sizeof(*names));
                if (!names)
                        return -ENOMEM;
                for (n = 0; n < config.n_scopes; n++)
                        names[n] = strdup(config.scopes[n] + 1);
        } else {
                r = sysfs_list(CG2_ROOT, &names, &n);
                if (r < 0)
                        return log_error_errno(r, "cannot list " CG2_ROOT);
        }
        for (size_t i = 0; i < n && r >= 0; i++) {
                CpuSet now;
                if (!names[i] || is_machine_cgroup(names[i]))
                        continue;
                snprintf(path, sizeof(path), CG2_ROOT "/%s/cgroup.procs", names[i]);
                if (!sysfs_exists(path))
                        continue; /* a file, not a cgroup */
                snprintf(path, sizeof(path), CG2_ROOT "/%s/cpuset.cpus", names[i]);
                r = sysfs_read(path, cur, sizeof(cur));
                if (r < 0) {
                        log_error_errno(r, "cannot read %s", path);
                        break;
                }
                cpuset_clear(&now);
                if (*cur && cpuset_parse(cur, &now) < 0)
                        cpuset_clear(&now);
                if (cpuset_equal(&now, host)) {
                        r = 0;
                        continue;
                }
                r = host_write(j, "restore", path, cur, want);
                if (r < 0)
                        log_error_errno(r, "cannot write '%s' to %s", want, path);
        }
        sysfs_list_free(names, n);
        return r < 0 ? -VMPREP_EREPORTED : 0;
}

int cpus_undo_cg2ctl(const JournalStep *s, const UndoContext *ctx)
{
        (void) ctx; /* the step alone says what to give back */
        int r = sysfs_write(s->path, "-cpuset");
        if (r == -EBUSY) {
                log_warning("cpuset stays enabled in %s: a child cgroup still uses it", s->path);
                return 0;
        }
        return r == -ENOENT ? 0 : r;
}

/* systemd: AllowedCPUs= on the host's units, for the runtime only. */
static const char *const systemd_host_units[] = { "system.slice", "user.slice", "init.scope" };

static int sd_apply(Journal *j, const CpuSet *host)
{
        char want[4096], cur[JOURNAL_STEP_VALUE_MAX], path[256];
        size_t n = config.n_scopes ? config.n_scopes : 3;
        int r;

        cpuset_format(host, want, sizeof(want));
        for (size_t i = 0; i < n; i++) {
                const char *unit = config.n_scopes ? config.scopes[i] : systemd_host_units[i];
                unsigned seq = 0;
                r = systemd_unit_get_allowed_cpus(unit, cur, sizeof(cur));
                if (r < 0)
                        return log_error_errno(r, "cannot read AllowedCPUs= of %s from systemd", unit);
                if (strcmp(cur, want) == 0)
                        continue;
                snprintf(path, sizeof(path), "/org/freedesktop/systemd1/unit/%s", unit);
                bool first = !live_step(j, path);
                if (first) {
                        r = journal_begin_custom(j, "sdcpus", "cpus/host", path, cur, want, &seq);
                        if (r < 0)
                                return r;
                }
                r = systemd_unit_set_allowed_cpus(unit, want);
                if (r < 0)
                        return log_error_errno(r, "cannot set AllowedCPUs=%s on %s", want, unit);
                sysfs_crash_point(path);
                if (first) {
                        r = journal_done(j, NULL, seq, want);
                        if (r < 0)
                                return r;
                }
                log_info("%s: AllowedCPUs=%s (runtime)", unit, want);
        }
        return 0;
}

int cpus_undo_sdcpus(const JournalStep *s, const UndoContext *ctx)
{
        (void) ctx; /* the step alone says what to give back */
        const char *unit = strrchr(s->path, '/');
        char cur[JOURNAL_STEP_VALUE_MAX];
        int r;

        if (!unit || !name_is_valid(unit + 1))
                return -EINVAL;
        unit++;
        r = systemd_unit_get_allowed_cpus(unit, cur, sizeof(cur));
        if (r == 0 && strcmp(cur, s->old) == 0)
                return 0;
        r = systemd_unit_set_allowed_cpus(unit, s->old);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return log_error_errno(r, "cannot reset AllowedCPUs= of %s to '%s'", unit, s->old);
        log_info("%s: AllowedCPUs=%s again", unit, s->old);
        return 0;
}

/* ---- the host set ---- */

static const char *machine_dir(void);

/* 6.7+: the machine slice's cpuset.cpus.exclusive holds what it had plus
 * the vCPU cores of every running partition-mode VM (the vCPU cgroups'
 * partitions below need their parent to hold the CPUs exclusively). */
static int machine_exclusive(Journal *j, const CpuSet *part)
{
        const char *ms = machine_dir();
        char path[SYSFS_PATH_MAX], cur[JOURNAL_STEP_VALUE_MAX], want[JOURNAL_STEP_VALUE_MAX];
        CpuSet base, now, w;
        int r;

        if (!ms)
                return 0;
        snprintf(path, sizeof(path), "%s/cpuset.cpus.exclusive", ms);
        if (!sysfs_exists(path))
                return 0;
        r = sysfs_read(path, cur, sizeof(cur));
        if (r < 0)
                return log_error_errno(r, "cannot read %s", path);
        JournalStep *s = live_step(j, path);
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
        r = host_write(j, "restore", path, cur, want);
        if (r < 0)
                return log_error_errno(r, "cannot write '%s' to %s", want, path);
        return 0;
}

/*
 * Make the host match the ledger: host = online CPUs minus every running
 * VM's claim (but exclude's).  With no claim left, replay the host's
 * journal: the baseline comes back exactly.
 */
static int host_apply(Ledger *l, const char *exclude, Stats *st)
{
        CpuSet all, online, host, avoid;
        Journal *j = NULL;
        char a[256], b[256];
        int r;

        ledger_cpus(l, "cpus/", exclude, NULL, &all);
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
        r = read_set(CPU_ONLINE, &online);
        if (r < 0)
                return log_error_errno(r, "cannot read " CPU_ONLINE);
        host = online;
        cpuset_andnot(&host, &all);
        if (cpuset_empty(&host)) {
                log_error("running VMs claim every online CPU (%s of %s): the host would have none",
                          fmt_set(&all, a, sizeof(a)), fmt_set(&online, b, sizeof(b)));
                return -VMPREP_EREPORTED;
        }
        r = journal_open(LEDGER_HOST_UUID, CAP, "host", true, &j);
        if (r < 0)
                return r;
        switch (backend_detect()) {
        case BACKEND_CGROUP1:
                r = cg1_apply(j, &host, st);
                break;
        case BACKEND_CGROUP2:
                r = cg2_apply(j, &host);
                break;
        case BACKEND_SYSTEMD:
                r = sd_apply(j, &host);
                break;
        default:
                log_warning("no cpuset controller (cgroup v1 cpuset or v2 with cpuset): host tasks are not confined");
                r = 0;
        }
        if (r < 0)
                goto out;
        ledger_cpus(l, "cpus-part/", exclude, NULL, &avoid);
        r = machine_exclusive(j, &avoid);
        if (r < 0)
                goto out;

        bool changed;
        ledger_cpus(l, "cpus-irq/", exclude, NULL, &avoid);
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
        ledger_cpus(l, "cpus-wq/", exclude, NULL, &avoid);
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
                return -EINVAL;
        r = host_apply(ctx->ledger, uuid, &st);
        if (r < 0)
                return r;
        ledger_drop_claims(ctx->ledger, uuid);
        r = ledger_save(ctx->ledger);
        if (r < 0)
                return r;
        log_info("gave CPU %s back to the host", s->new_);
        return 0;
}

/* ---- partitions (cgroup v2) ---- */

static const char *machine_dir(void)
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
static int partition_make(Journal *j, const char *dir, char *err, size_t errlen)
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
                return fail_msg(err, errlen, "%s reads '%s' after writing 'isolated': the kernel did not make it an "
                                "isolated partition", path, back);
        log_info("%s is an isolated partition", dir);
        return 0;
}

/* A write of partition_started, planned before the cgroup exists: old is
 * what a cgroup libvirt has just made holds. */
static int plan_write(Journal *j, const char *path, const char *old, const char *want)
{
        unsigned seq;
        int r = journal_begin_custom(j, "restore", "cpus/partition", path, old, want, &seq);
        return r < 0 ? r : journal_done(j, NULL, seq, want);
}

/*
 * vmprep plan, 6.7+: what partition_started will write once the VM runs,
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
static int partition_prepare(Journal *j, const Domain *d, const CpusClaim *c, const CpuSet *taken, const char *self,
                             char *err, size_t errlen)
{
        Backend b = backend_detect();
        const char *ms = machine_dir();
        char path[SYSFS_PATH_MAX], list[4096], a[256], others[1024];
        int r;

        if (b != BACKEND_CGROUP2 && b != BACKEND_SYSTEMD)
                return fail_msg(err, errlen, "<vmprep:isolate mode='partition'> needs cgroup v2 with the cpuset controller "
                                "(cpuset.cpus.partition); this host has %s; use mode='cgroup'", backend_name(b));
        if (!ms) {
                /* systemd creates machine.slice when the first VM starts (seen
                 * in the lab on a fresh boot): the partition is made at the
                 * started phase, once it exists. */
                log_info("no machine.slice (or machine) cgroup yet: the isolated partition is made once the VM runs");
                return 0;
        }
        snprintf(path, sizeof(path), "%s/cpuset.cpus.exclusive", ms);
        if (sysfs_exists(path)) /* 6.7+: the vCPU cgroups become partitions once they exist (started) */
                return journal_planning() ? partition_plan_started(j, d, c, ms) : 0;
        if (!cpuset_empty(taken))
                return fail_msg(err, errlen, "<vmprep:isolate mode='partition'>: this kernel has no cpuset.cpus.exclusive "
                                "(before 6.7), so only %s as a whole can be an isolated partition, and other VMs run in it "
                                "(CPU %s); use mode='cgroup', or a 6.7 or later kernel for one partition per VM", ms,
                                fmt_set(taken, a, sizeof(a)));
        r = vm_cgroup_others(ms, d, self, others, sizeof(others));
        if (r < 0)
                return log_error_errno(r, "cannot tell which VMs run in %s", ms);
        if (r > 0)
                return fail_msg(err, errlen, "<vmprep:isolate mode='partition'>: this kernel has no cpuset.cpus.exclusive "
                                "(before 6.7), so only %s as a whole can be an isolated partition, and %s also run%s in "
                                "it: %s would be confined to %s's CPUs; stop %s, use mode='cgroup', or a 6.7 or later "
                                "kernel for one partition per VM", ms, others, r == 1 ? "s" : "",
                                r == 1 ? "it" : "they", d->name, r == 1 ? "it" : "them");
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
        return partition_make(j, ms, err, errlen);
}

/* 6.7+: the VM's vCPU cgroups as isolated partitions, cpuset.cpus.exclusive
 * written top-down (machine slice, scope, libvirt, vcpuN).  Before 6.7,
 * machine.slice whole (partition_prepare), when prepare found no slice. */
static int partition_started(Journal *j, const Domain *d, const CpusClaim *c, const CpuSet *taken, char *err,
                             size_t errlen)
{
        const char *ms = machine_dir();
        char vmdir[1040], path[SYSFS_PATH_MAX], list[4096], back[256];
        char **names = NULL;
        size_t n = 0;
        CpuSet set;
        int r;

        if (!ms)
                return fail_msg(err, errlen, "<vmprep:isolate mode='partition'>: no machine.slice (or machine) cgroup "
                                "under " CG2_ROOT " although the VM runs");
        snprintf(path, sizeof(path), "%s/cpuset.cpus.exclusive", ms);
        if (!sysfs_exists(path)) {
                /* before 6.7, machine.slice as a whole: done at prepare unless
                 * the slice did not exist then */
                snprintf(path, sizeof(path), "%s/cpuset.cpus.partition", ms);
                if (sysfs_read(path, back, sizeof(back)) >= 0 && strcmp(back, "isolated") == 0)
                        return 0;
                r = vm_cgroup_find(ms, d, vmdir, sizeof(vmdir), err, errlen);
                if (r < 0)
                        return r;
                return partition_prepare(j, d, c, taken, vmdir, err, errlen);
        }
        /* the VM's own child of the machine cgroup, from its QEMU's pid and
         * the exact name libvirt gives it: never a match on part of a name */
        char top[1024];
        r = vm_cgroup_find(ms, d, top, sizeof(top), err, errlen);
        if (r < 0)
                return r;
        /* top-down: each level's exclusive CPUs must include its children's;
         * the machine slice's already does (host_apply, from the ledger) */
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
                r = read_set(path, &set);
                if (r < 0 || cpuset_empty(&set))
                        set = c->vcpus;
                for (size_t k = 0; k < CPUSET_MAX / 64; k++)
                        set.bits[k] &= c->vcpus.bits[k];
                cpuset_format(&set, pin, sizeof(pin));
                snprintf(path, sizeof(path), "%s/cpuset.cpus.exclusive", vdir);
                r = vm_write(j, path, pin);
                if (r == 0)
                        r = partition_make(j, vdir, err, errlen);
        }
        sysfs_list_free(names, n);
        return r;
}

/* ---- hook phases ---- */

static int release_locked(Ledger *l, const char *uuid, const char *name, bool quiet)
{
        return journal_release(l, uuid, CAP, name, quiet ? NULL : "the CPUs");
}

static int finish_leftover(Ledger *l, const char *uuid, const char *name)
{
        return release_locked(l, uuid, name, true);
}

static int report(int r, const char *err)
{
        if (r == -EINVAL && err[0]) {
                log_error("%s", err);
                return -VMPREP_EREPORTED;
        }
        return r;
}

/* Name of the VM that holds a claim (from its journal), or its UUID. */
static void vm_name(const char *uuid, char *buf, size_t size)
{
        Journal *j = NULL;
        snprintf(buf, size, "%s", uuid);
        if (journal_open(uuid, CAP, NULL, false, &j) == 0) {
                if (j->name[0])
                        snprintf(buf, size, "%s", j->name);
                journal_close(j);
        }
}

/* Refuse a claim that overlaps another VM's, naming it and the CPUs. */
static int check_overlap(const Ledger *l, const Domain *d, const CpusClaim *c, char *err, size_t errlen)
{
        for (size_t i = 0; i < l->n_holds; i++) {
                unsigned cpu;
                const char *other = l->holds[i].uuid;
                if (strcmp(other, d->uuid) == 0 || !claim_resource(l->holds[i].resource, "cpus/", &cpu) ||
                    !cpuset_isset(&c->cpus, cpu))
                        continue;
                CpuSet theirs, both;
                char name[256], a[256], b[256];
                ledger_cpus(l, "cpus/", NULL, other, &theirs);
                both = theirs;
                for (size_t k = 0; k < CPUSET_MAX / 64; k++)
                        both.bits[k] &= c->cpus.bits[k];
                vm_name(other, name, sizeof(name));
                return fail_msg(err, errlen,
                                "CPU %s: already isolated for the running VM '%s' (%s), which claims CPU %s; two VMs cannot "
                                "share isolated cores: pin %s elsewhere or stop '%s' first",
                                fmt_set(&both, a, sizeof(a)), name, other, fmt_set(&theirs, b, sizeof(b)), d->name, name);
        }
        return 0;
}

/* irqbalance rewrites every IRQ's smp_affinity about every 10 s, cpusets
 * or not: the pid of one that runs, or 0. */
static long irqbalance_pid(void)
{
        DIR *proc = sysfs_opendir("/proc");
        struct dirent *de;
        long found = 0;
        if (!proc)
                return 0;
        while (!found && (de = readdir(proc))) {
                char path[64], comm[32];
                uint64_t pid;
                if (parse_u64(de->d_name, 1, 1u << 22, &pid) < 0)
                        continue;
                snprintf(path, sizeof(path), "/proc/%llu/comm", (unsigned long long) pid);
                if (sysfs_read(path, comm, sizeof(comm)) >= 0 && strcmp(comm, "irqbalance") == 0)
                        found = (long) pid;
        }
        closedir(proc);
        return found;
}

int cpus_prepare(const Domain *d, const Profile *p)
{
        CpuTopology t;
        CpusClaim claim;
        CpuSet taken, host;
        Journal *j = NULL;
        Stats st = { 0 };
        Ledger l;
        char err[8192] = "", list[4096], a[256], b[256];
        int *pci_nodes = NULL;
        unsigned seq;
        int r;

        if (!profile_enabled(p, "isolate"))
                return cpus_release(d->uuid, d->name);
        r = config_read(&config, backend_detect() == BACKEND_SYSTEMD);
        if (r < 0)
                return r;
        r = numa_topology_read(&t);
        if (r < 0)
                return log_error_errno(r, "cannot read the CPU topology under /sys/devices/system/cpu");

        r = journal_start(&l, d->uuid, d->name, CAP, "CPU", finish_leftover);
        if (r < 0)
                goto out_topology;
        ledger_cpus(&l, "cpus/", d->uuid, NULL, &taken);
        r = report(cpus_derive(d, p, &t, &taken, &claim, err, sizeof(err)), err);
        if (r < 0)
                goto out;
        if (d->n_hostdevs) {
                pci_nodes = calloc(d->n_hostdevs, sizeof(*pci_nodes));
                if (!pci_nodes) {
                        r = -ENOMEM;
                        goto out;
                }
                for (size_t i = 0; i < d->n_hostdevs; i++)
                        pci_nodes[i] = numa_pci_node(&d->hostdevs[i]);
        }
        r = cpus_numa_check(d, p, &t, &claim, pci_nodes, err, sizeof(err));
        if (r == 1)
                log_warning("%s (numa='prefer': starting anyway)", err);
        r = report(r < 0 ? r : 0, err);
        if (r < 0)
                goto out;
        r = report(check_overlap(&l, d, &claim, err, sizeof(err)), err);
        if (r < 0)
                goto out;
        /* other VMs, tagged or not, pinned onto these cores (cpus_share.h) */
        char warn[4096];
        r = report(cpus_share_check(d, &claim.cpus, claim.partition, err, sizeof(err), warn, sizeof(warn)), err);
        if (r < 0)
                goto out;
        if (warn[0])
                log_warning("%s", warn);
        host = t.online;
        cpuset_andnot(&host, &taken);
        cpuset_andnot(&host, &claim.cpus);
        if (cpuset_empty(&host)) {
                log_error("isolating CPU %s for %s would leave the host no CPU (online: %s%s%s); leave at least one "
                          "online CPU to the host, e.g. pin nothing on CPU 0",
                          fmt_set(&claim.cpus, a, sizeof(a)), d->name, fmt_set(&t.online, b, sizeof(b)),
                          cpuset_empty(&taken) ? "" : "; other running VMs claim ",
                          cpuset_empty(&taken) ? "" : fmt_set(&taken, list, sizeof(list)));
                r = -VMPREP_EREPORTED;
                goto out;
        }

        /* the claim: journalled first, then held in the ledger */
        char res[64];
        snprintf(res, sizeof(res), "cpus:%s", d->uuid);
        r = cpuset_format(&claim.cpus, list, sizeof(list));
        if (r < 0)
                goto out;
        r = journal_open(d->uuid, CAP, d->name, true, &j);
        if (r < 0)
                goto out;
        /* old: what else the claim holds, for a rebuild of the ledger
         * from the journals (ledger_rebuild) */
        char what[4200];
        int wn = snprintf(what, sizeof(what), "isolate%s%s", claim.irqs ? ",irqs" : "", claim.workqueues ? ",workqueues" : "");
        if (claim.partition) {
                CpuSet part = claim.cpus;
                for (size_t k = 0; k < CPUSET_MAX / 64; k++)
                        part.bits[k] &= claim.vcpus.bits[k];
                snprintf(what + wn, sizeof(what) - (size_t) wn, ",partition:");
                cpuset_format(&part, what + strlen(what), sizeof(what) - strlen(what));
                if (strlen(what) >= JOURNAL_VALUE_MAX) /* the rebuild then takes every claimed CPU */
                        snprintf(what + wn, sizeof(what) - (size_t) wn, ",partition");
        }
        journal_plan_why("%s claims CPU %s (%s)", d->name, list, what);
        r = journal_begin_custom(j, "claim", res, CPU_ONLINE, what, list, &seq);
        if (r < 0)
                goto out;
        for (int c = cpuset_next(&claim.cpus, 0); c >= 0 && r >= 0; c = cpuset_next(&claim.cpus, (unsigned) c + 1)) {
                char hold[32];
                snprintf(hold, sizeof(hold), "cpus/%d", c);
                r = ledger_hold(&l, d->uuid, hold, 1);
                if (r >= 0 && claim.irqs) {
                        snprintf(hold, sizeof(hold), "cpus-irq/%d", c);
                        r = ledger_hold(&l, d->uuid, hold, 1);
                }
                if (r >= 0 && claim.workqueues) {
                        snprintf(hold, sizeof(hold), "cpus-wq/%d", c);
                        r = ledger_hold(&l, d->uuid, hold, 1);
                }
                if (r >= 0 && claim.partition && cpuset_isset(&claim.vcpus, (unsigned) c)) {
                        snprintf(hold, sizeof(hold), "cpus-part/%d", c);
                        r = ledger_hold(&l, d->uuid, hold, 1);
                }
        }
        if (r >= 0)
                r = ledger_save(&l);
        if (r >= 0)
                r = journal_done(j, NULL, seq, list);
        if (r < 0)
                goto undo;

        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        r = host_apply(&l, NULL, &st);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (r < 0)
                goto undo;
        if (claim.partition) {
                r = report(partition_prepare(j, d, &claim, &taken, NULL, err, sizeof(err)), err);
                if (r < 0)
                        goto undo;
        }
        if (st.managed)
                log_warning("IRQ %s: managed by the kernel (affinity writes refused), they keep their CPUs", st.managed_list);
        if (claim.irqs && st.irqs) {
                long pid = irqbalance_pid();
                if (pid > 0)
                        log_warning("irqbalance (pid %ld) runs: it spreads IRQs over every CPU again within seconds; add "
                                    "IRQBALANCE_BANNED_CPULIST=%s to /etc/default/irqbalance (or /etc/sysconfig/"
                                    "irqbalance) and restart it, or stop it while the VM runs", pid, list);
        }
        log_info("isolated CPU %s for %s (%s): host work on CPU %s; %u processes moved%s, %u IRQs moved (%.1f ms)",
                 list, d->name, backend_name(backend_detect()), fmt_set(&host, a, sizeof(a)), st.moved,
                 st.unmovable ? " (kernel threads that may not move stay)" : "", st.irqs,
                 (double) (t1.tv_sec - t0.tv_sec) * 1e3 + (double) (t1.tv_nsec - t0.tv_nsec) / 1e6);
        goto out;
undo:
        /* give back what this start did, then fail it */
        journal_undo(j, &l);
        if (r >= 0 || !error_reported(r))
                r = r < 0 ? r : -EIO;
out:
        journal_close(j);
        ledger_unlock(&l);
        free(pci_nodes);
out_topology:
        numa_topology_free(&t);
        return r;
}

int cpus_started(const Domain *d, const Profile *p)
{
        CpuTopology t;
        CpusClaim claim;
        CpuSet none;
        Journal *j = NULL;
        Ledger l;
        char err[8192] = "";
        int r;

        if (!profile_enabled(p, "isolate"))
                return 0;
        const ProfileElem *e = profile_elem(p, "isolate");
        if (!e || !profile_attr(e, "mode") || strcmp(profile_attr(e, "mode"), "partition") != 0)
                return 0;
        r = numa_topology_read(&t);
        if (r < 0)
                return r;
        cpuset_clear(&none);
        r = report(cpus_derive(d, p, &t, &none, &claim, err, sizeof(err)), err);
        numa_topology_free(&t);
        if (r < 0)
                return r;
        r = ledger_lock(&l);
        if (r < 0)
                return r;
        CpuSet taken;
        ledger_cpus(&l, "cpus/", d->uuid, NULL, &taken); /* other VMs' claims */
        r = journal_open(d->uuid, CAP, d->name, false, &j);
        if (r == 0)
                r = report(partition_started(j, d, &claim, &taken, err, sizeof(err)), err);
        else if (r == -ENOENT)
                r = 0;
        journal_close(j);
        ledger_unlock(&l);
        return r;
}

int cpus_release(const char *uuid, const char *name)
{
        Ledger l;
        int r;

        if (!journal_exists(uuid, CAP))
                return 0;
        /* A vmprep.conf broken while the VM ran must not keep the host
         * confined: what was changed is in the journals, and the defaults
         * serve for what other VMs still claim. */
        if (config_read(&config, backend_detect() == BACKEND_SYSTEMD) < 0) {
                log_warning("giving back with the default settings instead (fix " VMPREP_CONF " before the next start)");
                memset(&config, 0, sizeof(config));
        }
        r = ledger_lock_release(&l, false);
        if (r < 0)
                return r;
        if (!strcmp(uuid, LEDGER_HOST_UUID)) {
                /* The host's journal (vmprep reconcile): its replay would
                 * end the isolation of every VM that still claims cores. */
                CpuSet claimed;
                char a[256];
                ledger_cpus(&l, "cpus/", NULL, NULL, &claimed);
                if (!cpuset_empty(&claimed)) {
                        log_info("host isolation kept: running VMs claim CPU %s", fmt_set(&claimed, a, sizeof(a)));
                        ledger_unlock(&l);
                        return 0;
                }
        }
        r = release_locked(&l, uuid, name, false);
        ledger_unlock(&l);
        return r;
}

int cpus_reconnect(const char *uuid)
{
        return journal_reconnect_check(uuid, CAP);
}
