/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "pin.h"

#include "log.h"

#include "sysfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reading the host (through the gateway) ---- */

static int read_list(const char *path, CpuSet *ret)
{
        char buf[8192];
        int r = sysfs_read(path, buf, sizeof(buf));
        if (r < 0)
                return r;
        if (r == 0 || buf[0] == '\0' || buf[0] == '\n')
                return -ENOENT;
        return cpuset_parse(buf, ret);
}

/* cache/indexN/size: "32768K" (the kernel's format), "96M" accepted too */
static uint64_t parse_cache_size(const char *s)
{
        char *end = NULL;
        unsigned long long v = strtoull(s, &end, 10);
        if (end == s)
                return 0;
        if (*end == 'K')
                return v;
        if (*end == 'M')
                return v * 1024;
        if (*end == 'G')
                return v * 1024 * 1024;
        return v / 1024; /* bytes */
}

void pin_host_free(PinHost *h)
{
        numa_topology_free(&h->topo);
        free(h->l3_of);
        free(h->l3_kib);
        free(h->l3_cpus);
        memset(h, 0, sizeof(*h));
}

int pin_host_read(PinHost *h)
{
        char path[256], buf[64];
        memset(h, 0, sizeof(*h));
        int r = numa_topology_read(&h->topo);
        if (r < 0)
                return r;
        unsigned n = h->topo.n_cpus;
        h->l3_of = calloc(n, sizeof(*h->l3_of));
        h->l3_kib = calloc(n, sizeof(*h->l3_kib));
        h->l3_cpus = calloc(n, sizeof(*h->l3_cpus));
        if (!h->l3_of || !h->l3_kib || !h->l3_cpus) {
                pin_host_free(h);
                return -ENOMEM;
        }
        for (unsigned c = 0; c < n; c++) {
                h->l3_of[c] = -1;
                snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%u/cache/index3/shared_cpu_list", c);
                if (read_list(path, &h->l3_cpus[c]) < 0 || !cpuset_isset(&h->l3_cpus[c], c))
                        continue;
                h->l3_of[c] = cpuset_next(&h->l3_cpus[c], 0);
                snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%u/cache/index3/size", c);
                if (sysfs_read(path, buf, sizeof(buf)) > 0)
                        h->l3_kib[c] = parse_cache_size(buf);
        }
        CpuSet p;
        if (read_list("/sys/devices/cpu_core/cpus", &p) == 0 && read_list("/sys/devices/cpu_atom/cpus", &h->ecores) == 0)
                h->hybrid = true;
        else
                cpuset_clear(&h->ecores);
        return 0;
}

/* ---- describing ---- */

static void fmt_size(uint64_t kib, char *buf, size_t size)
{
        if (kib >= 1024 && kib % 1024 == 0)
                snprintf(buf, size, "%llu MiB", (unsigned long long) (kib / 1024));
        else
                snprintf(buf, size, "%llu KiB", (unsigned long long) kib);
}

static void l3_phrase(const PinHost *h, unsigned cpu, char *buf, size_t size)
{
        char a[200], s[32];
        if (cpu >= h->topo.n_cpus || h->l3_of[cpu] < 0) {
                snprintf(buf, size, "L3 unknown");
                return;
        }
        cpuset_format(&h->l3_cpus[cpu], a, sizeof(a));
        if (h->l3_kib[cpu]) {
                fmt_size(h->l3_kib[cpu], s, sizeof(s));
                snprintf(buf, size, "L3 of CPUs %s (%s)", a, s);
        } else {
                snprintf(buf, size, "L3 of CPUs %s", a);
        }
}

void pin_core_describe(const PinHost *h, unsigned cpu, char *buf, size_t size)
{
        char l3[300];
        if (cpu >= h->topo.n_cpus || !cpuset_isset(&h->topo.present, cpu)) {
                snprintf(buf, size, "not a CPU of this host");
                return;
        }
        int node = h->topo.node_of[cpu];
        l3_phrase(h, cpu, l3, sizeof(l3));
        snprintf(buf, size, "node %d, %s%s", node, l3,
                 !h->hybrid ? "" : cpuset_isset(&h->ecores, cpu) ? ", E-core" : ", P-core");
}

/* ---- choosing (pure over PinHost) ---- */

typedef struct Core {
        unsigned first;    /* lowest CPU: the core's name */
        unsigned threads;
        int node, l3;
        bool ecore;
} Core;

typedef struct Domain3 {
        int l3;            /* first CPU of the domain, -1 unknown */
        unsigned slots, n_cores, first;
        uint64_t kib;
} Domain3;

static unsigned cores_needed(unsigned vcpus, unsigned width)
{
        return width ? (vcpus + width - 1) / width : vcpus;
}

/* Domains of the candidate cores, in the order they are to be tried
 * (qsort has no context argument: the one flag it needs, set just before
 * each sort; the command is single-threaded). */
static int cmp_fit_largest;
static int domain_cmp_fit(const void *a, const void *b)
{
        const Domain3 *x = a, *y = b;
        if (cmp_fit_largest && x->kib != y->kib)
                return x->kib > y->kib ? -1 : 1;
        if (x->slots != y->slots)
                return x->slots < y->slots ? -1 : 1; /* best fit: the fewest free that still fits */
        return x->first < y->first ? -1 : x->first > y->first;
}
static int domain_cmp_span(const void *a, const void *b)
{
        const Domain3 *x = a, *y = b;
        if (cmp_fit_largest && x->kib != y->kib)
                return x->kib > y->kib ? -1 : 1;
        if (x->slots != y->slots)
                return x->slots > y->slots ? -1 : 1; /* fullest first: fewer domains */
        return x->first < y->first ? -1 : x->first > y->first;
}

void pin_choice_free(PinChoice *c)
{
        free(c->vcpu_cpu);
        free(c->cores);
        memset(c, 0, sizeof(*c));
}

/*
 * Take cores from cand (n_cand, in preference order: P before E, then by
 * CPU) inside the domains doms[0..n_doms) in that order until they give
 * vcpus slots.  Returns how many were taken into out[].
 */
static size_t take(const Core *cand, size_t n_cand, const Domain3 *doms, size_t n_doms, unsigned vcpus, size_t *out)
{
        size_t n = 0;
        unsigned slots = 0;
        for (size_t d = 0; d < n_doms && slots < vcpus; d++)
                for (int pass = 0; pass < 2 && slots < vcpus; pass++)
                        for (size_t i = 0; i < n_cand && slots < vcpus; i++) {
                                if (cand[i].l3 != doms[d].l3 || cand[i].ecore != (pass == 1))
                                        continue;
                                out[n++] = i;
                                slots += cand[i].threads;
                        }
        return n;
}

int pin_choose(const PinHost *h, const PinRequest *req, PinChoice *ret, char *err, size_t errlen)
{
        const CpuTopology *t = &h->topo;
        Core *all = calloc(t->n_cpus + 1, sizeof(*all));
        Core *cand = calloc(t->n_cpus + 1, sizeof(*cand));
        Domain3 *doms = calloc(t->n_cpus + 1, sizeof(*doms));
        size_t *picked = calloc(t->n_cpus + 1, sizeof(*picked));
        size_t n_all = 0;
        int r = -ENOSPC;
        char a[512], b[512];

        memset(ret, 0, sizeof(*ret));
        err[0] = '\0';
        if (!all || !cand || !doms || !picked) {
                r = -ENOMEM;
                goto out;
        }
        cpuset_clear(&ret->host);
        if (t->n_cpus > 0)
                ret->host = t->siblings[0];

        /* the cores: whole (every sibling online), named by their lowest CPU */
        unsigned width = 0;
        for (int c = cpuset_next(&t->online, 0); c >= 0; c = cpuset_next(&t->online, (unsigned) c + 1)) {
                const CpuSet *sib = &t->siblings[c];
                if (cpuset_next(sib, 0) != c)
                        continue;
                CpuSet off = *sib;
                cpuset_andnot(&off, &t->online);
                if (!cpuset_empty(&off))
                        continue;
                Core *k = &all[n_all++];
                k->first = (unsigned) c;
                k->threads = cpuset_count(sib);
                k->node = t->node_of[c];
                k->l3 = h->l3_of[c];
                k->ecore = h->hybrid && cpuset_isset(&h->ecores, (unsigned) c);
                if (!k->ecore && k->threads > width)
                        width = k->threads;
        }

        /* the nodes to try: the VM's own, else the one with the most free slots */
        int nodes[64];
        size_t n_nodes = 0;
        for (int nd = cpuset_next(&t->nodes, 0); nd >= 0 && n_nodes < 64; nd = cpuset_next(&t->nodes, (unsigned) nd + 1))
                if (cpuset_empty(&req->nodes) || cpuset_isset(&req->nodes, (unsigned) nd))
                        nodes[n_nodes++] = nd;
        unsigned node_free[64] = { 0 }, node_cores[64] = { 0 };
        for (size_t i = 0; i < n_nodes; i++)
                for (size_t k = 0; k < n_all; k++) {
                        const CpuSet *sib = &t->siblings[all[k].first];
                        if (all[k].node != nodes[i] || cpuset_intersects(sib, &ret->host) ||
                            cpuset_intersects(sib, &req->taken))
                                continue;
                        node_free[i] += all[k].threads;
                        node_cores[i]++;
                }
        if (cpuset_empty(&req->nodes))
                for (size_t i = 1; i < n_nodes; i++) /* most free first, stable */
                        for (size_t j = i; j > 0 && node_free[j] > node_free[j - 1]; j--) {
                                int tn = nodes[j];
                                unsigned tf = node_free[j], tc = node_cores[j];
                                nodes[j] = nodes[j - 1], node_free[j] = node_free[j - 1], node_cores[j] = node_cores[j - 1];
                                nodes[j - 1] = tn, node_free[j - 1] = tf, node_cores[j - 1] = tc;
                        }

        for (size_t ni = 0; ni < n_nodes && r == -ENOSPC; ni++) {
                for (int tier = 0; tier < (h->hybrid ? 2 : 1) && r == -ENOSPC; tier++) {
                        /* candidates on this node (tier 0 of a hybrid CPU: P-cores only) */
                        size_t n_cand = 0, n_doms = 0;
                        unsigned slots = 0;
                        for (size_t k = 0; k < n_all; k++) {
                                const CpuSet *sib = &t->siblings[all[k].first];
                                if (all[k].node != nodes[ni] || cpuset_intersects(sib, &ret->host) ||
                                    cpuset_intersects(sib, &req->taken) || (tier == 0 && all[k].ecore))
                                        continue;
                                cand[n_cand++] = all[k];
                                slots += all[k].threads;
                                size_t d;
                                for (d = 0; d < n_doms && doms[d].l3 != all[k].l3; d++)
                                        ;
                                if (d == n_doms) {
                                        memset(&doms[d], 0, sizeof(doms[d]));
                                        doms[d].l3 = all[k].l3;
                                        doms[d].first = all[k].first;
                                        doms[d].kib = h->l3_kib[all[k].first];
                                        n_doms++;
                                }
                                doms[d].slots += all[k].threads;
                                doms[d].n_cores++;
                        }
                        if (slots < req->vcpus)
                                continue;
                        /* one L3 domain when one fits, else several */
                        cmp_fit_largest = req->largest_l3;
                        Domain3 *fit = NULL;
                        qsort(doms, n_doms, sizeof(*doms), domain_cmp_fit);
                        for (size_t d = 0; d < n_doms && !fit; d++)
                                if (doms[d].slots >= req->vcpus && doms[d].l3 >= 0)
                                        fit = &doms[d];
                        size_t n_used_doms = 1;
                        if (fit) {
                                ret->n_cores = take(cand, n_cand, fit, 1, req->vcpus, picked);
                        } else {
                                qsort(doms, n_doms, sizeof(*doms), domain_cmp_span);
                                ret->n_cores = take(cand, n_cand, doms, n_doms, req->vcpus, picked);
                                n_used_doms = 0;
                                for (size_t d = 0; d < n_doms; d++)
                                        for (size_t i = 0; i < ret->n_cores; i++)
                                                if (cand[picked[i]].l3 == doms[d].l3) {
                                                        n_used_doms++;
                                                        break;
                                                }
                        }

                        /* a larger L3 without room (gaming: said in the reasons) */
                        const Domain3 *bigger = NULL;
                        char bigger_size[32] = "";
                        for (size_t d = 0; fit && d < n_doms; d++)
                                if (doms[d].kib > fit->kib && (!bigger || doms[d].kib > bigger->kib))
                                        bigger = &doms[d];
                        if (bigger)
                                fmt_size(bigger->kib, bigger_size, sizeof(bigger_size));
                        /* the guest topology and the vCPU of each thread */
                        ret->cores = calloc(ret->n_cores, sizeof(*ret->cores));
                        ret->vcpu_cpu = calloc(req->vcpus, sizeof(*ret->vcpu_cpu));
                        if (!ret->cores || !ret->vcpu_cpu) {
                                r = -ENOMEM;
                                goto out;
                        }
                        bool alike = true;
                        unsigned tw = cand[picked[0]].threads;
                        bool has_e = false, has_p = false;
                        for (size_t i = 0; i < ret->n_cores; i++) {
                                alike = alike && cand[picked[i]].threads == tw;
                                has_e = has_e || cand[picked[i]].ecore;
                                has_p = has_p || !cand[picked[i]].ecore;
                        }
                        bool mixed = has_e && has_p;
                        ret->n_vcpus = req->vcpus;
                        ret->sockets = 1;
                        ret->threads = alike && req->vcpus % tw == 0 ? tw : 1;
                        ret->cores_per_socket = req->vcpus / ret->threads;
                        ret->node = nodes[ni];
                        unsigned v = 0;
                        for (size_t i = 0; i < ret->n_cores; i++) {
                                PinCore *pc = &ret->cores[i];
                                const Core *k = &cand[picked[i]];
                                pc->cpus = t->siblings[k->first];
                                cpuset_or(&ret->cpus, &pc->cpus);
                                for (int c = cpuset_next(&pc->cpus, 0); c >= 0 && v < req->vcpus;
                                     c = cpuset_next(&pc->cpus, (unsigned) c + 1)) {
                                        cpuset_set(&pc->vcpus, v);
                                        ret->vcpu_cpu[v++] = (unsigned) c;
                                }
                                /* why this core */
                                char l3[300], nodewhy[300];
                                l3_phrase(h, k->first, l3, sizeof(l3));
                                if (!cpuset_empty(&req->nodes))
                                        snprintf(nodewhy, sizeof(nodewhy), "node %d (%s)", k->node, req->nodes_why);
                                else if (cpuset_count(&t->nodes) > 1)
                                        snprintf(nodewhy, sizeof(nodewhy), "node %d (the most free cores)", k->node);
                                else
                                        snprintf(nodewhy, sizeof(nodewhy), "node %d", k->node);
                                char l3why[200] = "";
                                if (k->l3 >= 0 && fit && n_doms == 1)
                                        snprintf(l3why, sizeof(l3why), ": the VM fits in it");
                                else if (k->l3 >= 0 && fit && req->largest_l3 && bigger)
                                        snprintf(l3why, sizeof(l3why), ": the largest L3 with room (gaming; the %s one "
                                                 "has %u free core%s)", bigger_size, bigger->n_cores,
                                                 bigger->n_cores == 1 ? "" : "s");
                                else if (k->l3 >= 0 && fit && req->largest_l3)
                                        snprintf(l3why, sizeof(l3why), ": the largest L3 (gaming), the VM fits in it");
                                else if (k->l3 >= 0 && fit)
                                        snprintf(l3why, sizeof(l3why), ": the VM fits in it, the fewest free cores of "
                                                 "those it fits in");
                                else if (k->l3 >= 0)
                                        snprintf(l3why, sizeof(l3why), ": no single L3 has room, the fullest first");
                                const char *cls = !h->hybrid ? ""
                                                  : k->ecore ? ", E-core (the free P-cores are too few)"
                                                             : ", P-core";
                                if (snprintf(pc->why, sizeof(pc->why), "%s, %s%s%s%s", nodewhy, l3, l3why, cls,
                                             k->threads > 1 ? ", SMT siblings together" : "") < 0)
                                        pc->why[0] = '\0';
                        }
                        cpuset_format(&ret->cpus, a, sizeof(a));
                        cpuset_format(&ret->host, b, sizeof(b));
                        int len = snprintf(ret->summary, sizeof(ret->summary),
                                           "%u vCPU%s on %zu whole core%s (CPU%s %s) of NUMA node %d, %s; guest topology "
                                           "%u socket, %u core%s, %u thread%s",
                                           req->vcpus, req->vcpus == 1 ? "" : "s", ret->n_cores,
                                           ret->n_cores == 1 ? "" : "s", cpuset_count(&ret->cpus) == 1 ? "" : "s", a,
                                           ret->node,
                                           fit ? "in one L3" : n_used_doms > 1 ? "across L3 domains" : "one L3",
                                           ret->sockets, ret->cores_per_socket, ret->cores_per_socket == 1 ? "" : "s",
                                           ret->threads, ret->threads == 1 ? "" : "s");
                        if (ret->threads == 1 && width > 1 && len > 0 && (size_t) len < sizeof(ret->summary))
                                snprintf(ret->summary + len, sizeof(ret->summary) - (size_t) len, " (%s)",
                                         mixed ? "P- and E-cores mixed: one thread per guest core"
                                               : "an odd count on SMT cores: one thread per guest core");
                        r = 0;
                }
        }
        if (r == -ENOSPC) {
                /* where it could have gone, and how much room there is */
                unsigned need = cores_needed(req->vcpus, width ? width : 1);
                size_t len = 0;
                cpuset_format(&ret->host, b, sizeof(b));
                len += (size_t) snprintf(err + len, errlen - len,
                                         "%u vCPUs need %u whole core%s (%u thread%s each) on one NUMA node", req->vcpus,
                                         need, need == 1 ? "" : "s", width ? width : 1, width == 1 ? "" : "s");
                if (!cpuset_empty(&req->nodes) && len < errlen)
                        len += (size_t) snprintf(err + len, errlen - len, " (%s)", req->nodes_why);
                for (size_t i = 0; i < n_nodes && len < errlen; i++) {
                        len += (size_t) snprintf(err + len, errlen - len, "%s node %d has %u free (%u CPU%s)",
                                                 i ? ";" : ":", nodes[i], node_cores[i], node_free[i],
                                                 node_free[i] == 1 ? "" : "s");
                }
                if (len < errlen)
                        len += (size_t) snprintf(err + len, errlen - len, "; CPU 0's core (CPUs %s) stays with the host",
                                                 b);
                if (!cpuset_empty(&req->taken) && len < errlen) {
                        cpuset_format(&req->taken, a, sizeof(a));
                        len += (size_t) snprintf(err + len, errlen - len, "; other VMs claim CPUs %s", a);
                }
                if (len < errlen)
                        snprintf(err + len, errlen - len, "; lower <vcpu> to fit, or stop or unpin another VM");
                pin_choice_free(ret);
        }
out:
        if (r < 0 && r != -ENOSPC)
                pin_choice_free(ret);
        free(all);
        free(cand);
        free(doms);
        free(picked);
        return fail_errno(err, errlen, r);
}
