/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "cpus_impl.h"

#include "log.h"
#include "cpus_share.h"
#include "resource.h"
#include "systemd.h"
#include "sysfs.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

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
                        free(text);
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "%s:%u: not 'key = value'", path, lineno);
                }
                *eq = '\0';
                for (char *k = eq - 1; k >= key && (*k == ' ' || *k == '\t'); k--)
                        *k = '\0';
                if (strcmp(key, "host-scope") != 0)
                        continue; /* another capability's setting */
                char *save2 = NULL;
                for (char *tok = strtok_r(eq + 1, " \t,", &save2); tok; tok = strtok_r(NULL, " \t,", &save2)) {
                        if (!scope_valid(tok, units) || c->n_scopes == MAX_SCOPES) {
                                r = log_error_errno(SYNTHETIC_ERRNO(EINVAL), "%s:%u: host-scope '%s' is not %s", path,
                                                    lineno, tok,
                                                    units ? "a systemd unit name"
                                                          : "a cgroup path such as /host or /a/b");
                                free(text);
                                return r;
                        }
                        snprintf(c->scopes[c->n_scopes++], sizeof(c->scopes[0]), "%s", tok);
                }
        }
        free(text);
        return 0;
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
                cpus_held(l, "cpus/", NULL, other, &theirs);
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
        r = config_read(&cpus_config, cpus_backend_detect() == BACKEND_SYSTEMD);
        if (r < 0)
                return r;
        r = numa_topology_read(&t);
        if (r < 0)
                return log_error_errno(r, "cannot read the CPU topology under /sys/devices/system/cpu");

        r = journal_start(&l, d->uuid, d->name, CAP, "CPU", finish_leftover);
        if (r < 0)
                goto out_topology;
        cpus_held(&l, "cpus/", d->uuid, NULL, &taken);
        r = log_error_planned(cpus_derive(d, p, &t, &taken, &claim, err, sizeof(err)), err);
        if (r < 0)
                goto out;
        if (d->n_hostdevs) {
                pci_nodes = calloc(d->n_hostdevs, sizeof(*pci_nodes));
                if (!pci_nodes) {
                        r = log_oom();
                        goto out;
                }
                for (size_t i = 0; i < d->n_hostdevs; i++)
                        pci_nodes[i] = numa_pci_node(&d->hostdevs[i]);
        }
        r = cpus_numa_check(d, p, &t, &claim, pci_nodes, err, sizeof(err));
        if (r == 1)
                log_warning("%s (numa='prefer': starting anyway)", err);
        r = log_error_planned(r, err);
        if (r < 0)
                goto out;
        r = log_error_planned(check_overlap(&l, d, &claim, err, sizeof(err)), err);
        if (r < 0)
                goto out;
        /* other VMs, tagged or not, pinned onto these cores (cpus_share.h) */
        char warn[4096];
        r = log_error_planned(cpus_share_check(d, &claim.cpus, claim.partition, err, sizeof(err), warn, sizeof(warn)),
                              err);
        if (r < 0)
                goto out;
        if (warn[0])
                log_warning("%s", warn);
        host = t.online;
        cpuset_andnot(&host, &taken);
        cpuset_andnot(&host, &claim.cpus);
        if (cpuset_empty(&host)) {
                r = log_error_errno(SYNTHETIC_ERRNO(EBUSY),
                                    "isolating CPU %s for %s would leave the host no CPU (online: %s%s%s); leave at "
                                    "least one online CPU to the host, e.g. pin nothing on CPU 0",
                                    fmt_set(&claim.cpus, a, sizeof(a)), d->name, fmt_set(&t.online, b, sizeof(b)),
                                    cpuset_empty(&taken) ? "" : "; other running VMs claim ",
                                    cpuset_empty(&taken) ? "" : fmt_set(&taken, list, sizeof(list)));
                goto out;
        }

        /* the claim: journalled first, then held in the ledger */
        char res[64];
        snprintf(res, sizeof(res), "cpus:%s", d->uuid);
        r = cpuset_format(&claim.cpus, list, sizeof(list));
        if (r < 0) {
                log_error_errno(r, "cannot write CPU list %s", fmt_set(&claim.cpus, a, sizeof(a)));
                goto out;
        }
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
                res_cpu(hold, sizeof(hold), "cpus", c);
                r = ledger_hold(&l, d->uuid, hold, 1);
                if (r >= 0 && claim.irqs) {
                        res_cpu(hold, sizeof(hold), "cpus-irq", c);
                        r = ledger_hold(&l, d->uuid, hold, 1);
                }
                if (r >= 0 && claim.workqueues) {
                        res_cpu(hold, sizeof(hold), "cpus-wq", c);
                        r = ledger_hold(&l, d->uuid, hold, 1);
                }
                if (r >= 0 && claim.partition && cpuset_isset(&claim.vcpus, (unsigned) c)) {
                        res_cpu(hold, sizeof(hold), "cpus-part", c);
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
        r = cpus_host_apply(&l, NULL, &st);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (r < 0)
                goto undo;
        if (claim.partition) {
                r = cpus_partition_prepare(j, d, &claim, &taken, NULL);
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
                 list, d->name, cpus_backend_name(cpus_backend_detect()), fmt_set(&host, a, sizeof(a)), st.moved,
                 st.unmovable ? " (kernel threads that may not move stay)" : "", st.irqs,
                 (double) (t1.tv_sec - t0.tv_sec) * 1e3 + (double) (t1.tv_nsec - t0.tv_nsec) / 1e6);
        goto out;
undo:
        /* give back what this start did, then fail it */
        journal_undo(j, &l);
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
                return log_error_errno(r, "cannot read the CPU topology under /sys/devices/system/cpu");
        cpuset_clear(&none);
        r = log_error_planned(cpus_derive(d, p, &t, &none, &claim, err, sizeof(err)), err);
        numa_topology_free(&t);
        if (r < 0)
                return r;
        r = ledger_lock(&l);
        if (r < 0)
                return r;
        CpuSet taken;
        cpus_held(&l, "cpus/", d->uuid, NULL, &taken); /* other VMs' claims */
        r = journal_open(d->uuid, CAP, d->name, false, &j);
        if (r == 0) {
                /* machine.slice may have come with this VM (the first after
                 * boot, on hosts where systemd makes it then): the exclusive
                 * CPUs prepare could not give it, now, in the host's journal
                 * (nothing when it has them) */
                CpuSet part;
                Journal *hj = NULL;
                cpus_held(&l, "cpus-part/", NULL, NULL, &part);
                r = journal_open(LEDGER_HOST_UUID, CAP, "host", false, &hj);
                if (r == 0)
                        r = cpus_machine_exclusive(hj, &part);
                else if (r == -ENOENT)
                        r = 0;
                journal_close(hj);
        }
        if (r == 0)
                r = cpus_partition_started(j, d, &claim, &taken);
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
        if (config_read(&cpus_config, cpus_backend_detect() == BACKEND_SYSTEMD) < 0) {
                log_warning("giving back with the default settings instead (fix " VMPREP_CONF " before the next start)");
                memset(&cpus_config, 0, sizeof(cpus_config));
        }
        r = ledger_lock_release(&l, false);
        if (r < 0)
                return r;
        if (!strcmp(uuid, LEDGER_HOST_UUID)) {
                /* The host's journal (vmprep reconcile): its replay would
                 * end the isolation of every VM that still claims cores. */
                CpuSet claimed;
                char a[256];
                cpus_held(&l, "cpus/", NULL, NULL, &claimed);
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
