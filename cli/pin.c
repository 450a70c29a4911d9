/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmprep pin: write the <cputune> vmprep chooses (common/pin.h) into the
 * domain, through libvirt.
 *
 * The inactive definition is edited with libxml2: the <vcpupin>,
 * <emulatorpin> and <iothreadpin> children of <cputune> are replaced (its
 * other children, shares, period, quota, vcpusched..., stay), <vcpu
 * cpuset> is dropped (it would claim CPUs the pins do not use), and
 * <cpu><topology> gets sockets/cores/threads matching the pins; nothing
 * else of the definition changes.  The lines that change are shown as a
 * diff before anything is written; a running VM is refused unless
 * --config (the persistent definition only, for its next start).
 */
#include "cli.h"

#include "common/cpus_share.h"
#include "common/log.h"
#include "common/pin.h"
#include "common/running.h"
#include "common/sysfs.h"
#include "common/xml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PIN_USAGE "VM|FILE.xml [--dry-run] [--config]"
#define MAX_LINES 4200

/* CPUs of the VM's threads: vCPU, emulator and iothread pins, <vcpu cpuset>. */
static void pinned_cpus(const Domain *vm, CpuSet *ret)
{
        cpuset_clear(ret);
        for (size_t i = 0; i < vm->n_vcpupins; i++)
                cpuset_or(ret, &vm->vcpupins[i].cpus);
        for (size_t i = 0; i < vm->n_iothreadpins; i++)
                cpuset_or(ret, &vm->iothreadpins[i].cpus);
        if (vm->has_emulatorpin)
                cpuset_or(ret, &vm->emulatorpin);
        if (vm->has_vcpu_cpuset)
                cpuset_or(ret, &vm->vcpu_cpuset);
}

static bool same_vm(const Domain *a, const Domain *b)
{
        if (a->uuid[0] && b->uuid[0])
                return strcmp(a->uuid, b->uuid) == 0;
        return strcmp(a->name, b->name) == 0;
}

/* A defined VM that is tagged and pinned claims its vCPU pins. */
static void add_defined(const Domain *self, const char *xml, size_t len, CpuSet *taken)
{
        Domain *vm = NULL;
        Profile *p = NULL;
        char err[1024];
        if (domain_parse(xml, len, &vm, err, sizeof(err)) < 0)
                return;
        if (!same_vm(self, vm) && vm->n_vcpupins && profile_from_domain(vm, &p, err, sizeof(err)) == 0 && p)
                for (size_t i = 0; i < vm->n_vcpupins; i++)
                        cpuset_or(taken, &vm->vcpupins[i].cpus);
        profile_free(p);
        domain_free(vm);
}

/*
 * CPUs other VMs claim: every running VM's pinned threads (libvirt's
 * status files), and the vCPU pins of defined VMs that are tagged (libvirt,
 * or under --root the tree's /etc/libvirt/qemu/NAME.xml).
 */
static int other_claims(const CliOptions *o, const Domain *d, CpuSet *taken)
{
        RunningVm *vms = NULL;
        size_t n = 0;
        cpuset_clear(taken);
        int r = running_vms(d->uuid, &vms, &n);
        if (r < 0)
                return log_error_errno(r, "cannot list the running VMs in " RUNNING_STATUS_DIR);
        for (size_t i = 0; i < n; i++) {
                CpuSet s;
                if (!vms[i].domain || same_vm(d, vms[i].domain))
                        continue;
                pinned_cpus(vms[i].domain, &s);
                cpuset_or(taken, &s);
        }
        running_vms_free(vms, n);

        if (o->root) {
                char **names = NULL;
                size_t nn = 0;
                if (sysfs_list("/etc/libvirt/qemu", &names, &nn) < 0)
                        return 0;
                for (size_t i = 0; i < nn; i++) {
                        size_t l = strlen(names[i]);
                        char path[512], *xml = NULL;
                        size_t len = 0;
                        if (l < 5 || names[i][0] == '.' || strcmp(names[i] + l - 4, ".xml") != 0)
                                continue;
                        snprintf(path, sizeof(path), "/etc/libvirt/qemu/%s", names[i]);
                        if (sysfs_read_alloc(path, XML_MAX_BYTES, &xml, &len) == 0)
                                add_defined(d, xml, len, taken);
                        free(xml);
                }
                sysfs_list_free(names, nn);
                return 0;
        }
        char **xmls = NULL;
        size_t nx = 0;
        if (virt_defined_xmls(o, &xmls, &nx) != EXIT_OK)
                return 0; /* no libvirt: the running VMs are known all the same */
        for (size_t i = 0; i < nx; i++) {
                add_defined(d, xmls[i], strlen(xmls[i]), taken);
                free(xmls[i]);
        }
        free(xmls);
        return 0;
}

/* The request for d: its vCPUs, its NUMA node(s), the largest L3 for gaming. */
static void request_of(const Domain *d, const Profile *p, PinRequest *req)
{
        size_t len = 0;
        memset(req, 0, sizeof(*req));
        req->vcpus = d->vcpu_max;
        req->largest_l3 = p && p->use && strcmp(p->use, "gaming") == 0;
        for (size_t i = 0; i < d->n_hostdevs; i++) {
                int node = numa_pci_node(&d->hostdevs[i]);
                char addr[PCI_ADDRESS_STRLEN];
                if (node < 0 || cpuset_isset(&req->nodes, (unsigned) node))
                        continue;
                cpuset_set(&req->nodes, (unsigned) node);
                pci_address_format(&d->hostdevs[i], addr);
                len += (size_t) snprintf(req->nodes_why + len, sizeof(req->nodes_why) - len, "%sthe node of %s",
                                         len ? ", " : "", addr);
        }
        if (d->has_numatune && !d->numatune_auto && len < sizeof(req->nodes_why)) {
                cpuset_or(&req->nodes, &d->numatune_nodeset);
                snprintf(req->nodes_why + len, sizeof(req->nodes_why) - len, "%sthe memory's, <numatune>",
                         len ? ", " : "");
        }
}

/* ---- the XML edit ---- */

static xmlNodePtr child_elem(xmlNodePtr parent, const char *name)
{
        for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next)
                if (c->type == XML_ELEMENT_NODE && !c->ns && !xmlStrcmp(c->name, BAD_CAST name))
                        return c;
        return NULL;
}

static char *dump_node(xmlDocPtr doc, xmlNodePtr node)
{
        xmlBufferPtr b = xmlBufferCreate();
        char *s = NULL;
        if (b && xmlNodeDump(b, doc, node, 0, 0) >= 0)
                s = strdup((const char *) xmlBufferContent(b));
        xmlBufferFree(b);
        return s;
}

typedef struct Lines {
        char *l[MAX_LINES];
        size_t n;
} Lines;

static void lines_add(Lines *ls, char *s)
{
        if (s && ls->n < MAX_LINES)
                ls->l[ls->n++] = s;
        else
                free(s);
}

static void lines_free(Lines *ls)
{
        for (size_t i = 0; i < ls->n; i++)
                free(ls->l[i]);
        ls->n = 0;
}

static char *indent(const char *pre, char *s)
{
        if (!s)
                return NULL;
        size_t n = strlen(pre) + strlen(s) + 1;
        char *r = malloc(n);
        if (r)
                snprintf(r, n, "%s%s", pre, s);
        free(s);
        return r;
}

/* The lines pin changes, as they read in doc: <vcpu>, <cputune>'s
 * children, <cpu><topology>. */
static void lines_of(xmlDocPtr doc, Lines *ls)
{
        xmlNodePtr root = xmlDocGetRootElement(doc);
        xmlNodePtr v = child_elem(root, "vcpu"), ct = child_elem(root, "cputune"), cpu = child_elem(root, "cpu");
        if (v)
                lines_add(ls, dump_node(doc, v));
        if (ct) {
                lines_add(ls, strdup("<cputune>"));
                for (xmlNodePtr c = ct->children; c; c = c->next)
                        if (c->type == XML_ELEMENT_NODE)
                                lines_add(ls, indent("  ", dump_node(doc, c)));
                lines_add(ls, strdup("</cputune>"));
        }
        xmlNodePtr topo = child_elem(cpu, "topology");
        if (topo) {
                lines_add(ls, strdup("<cpu>"));
                lines_add(ls, indent("  ", dump_node(doc, topo)));
                lines_add(ls, strdup("</cpu>"));
        }
}

/* A line diff (longest common subsequence): " " kept, "-" old, "+" new. */
static void diff_print(const Lines *a, const Lines *b, FILE *out)
{
        size_t n = a->n, m = b->n;
        unsigned *L = calloc((n + 1) * (m + 1), sizeof(*L));
        if (!L)
                return;
        for (size_t i = n; i-- > 0;)
                for (size_t j = m; j-- > 0;)
                        L[i * (m + 1) + j] = !strcmp(a->l[i], b->l[j]) ? L[(i + 1) * (m + 1) + j + 1] + 1
                                             : L[(i + 1) * (m + 1) + j] > L[i * (m + 1) + j + 1]
                                                     ? L[(i + 1) * (m + 1) + j]
                                                     : L[i * (m + 1) + j + 1];
        size_t i = 0, j = 0;
        while (i < n || j < m) {
                if (i < n && j < m && !strcmp(a->l[i], b->l[j])) {
                        fprintf(out, "  %s\n", a->l[i]);
                        i++, j++;
                } else if (i < n && (j == m || L[(i + 1) * (m + 1) + j] >= L[i * (m + 1) + j + 1])) {
                        fprintf(out, "- %s\n", a->l[i++]);
                } else {
                        fprintf(out, "+ %s\n", b->l[j++]);
                }
        }
        free(L);
}

static bool is_pin(xmlNodePtr c)
{
        return c->type == XML_ELEMENT_NODE && !c->ns &&
               (!xmlStrcmp(c->name, BAD_CAST "vcpupin") || !xmlStrcmp(c->name, BAD_CAST "emulatorpin") ||
                !xmlStrcmp(c->name, BAD_CAST "iothreadpin"));
}

/* The iothread ids of the domain: <iothreadids>, else 1..<iothreads>. */
static size_t iothread_ids(xmlDocPtr doc, unsigned *ids, size_t max)
{
        xmlNodePtr root = xmlDocGetRootElement(doc);
        size_t n = 0;
        for (xmlNodePtr c = child_elem(child_elem(root, "iothreadids"), "iothread"); c && n < max; c = c->next) {
                if (c->type != XML_ELEMENT_NODE || xmlStrcmp(c->name, BAD_CAST "iothread"))
                        continue;
                _cleanup_xmlstr_ char *id = xml_attr(c, "id");
                uint64_t v;
                if (id && parse_u64(id, 1, UINT32_MAX, &v) == 0)
                        ids[n++] = (unsigned) v;
        }
        if (n)
                return n;
        _cleanup_xmlstr_ char *count = xml_text(child_elem(root, "iothreads"));
        uint64_t v;
        if (count && parse_u64(count, 0, 4096, &v) == 0)
                for (unsigned i = 1; i <= v && n < max; i++)
                        ids[n++] = i;
        return n;
}

static void set_uint(xmlNodePtr n, const char *attr, unsigned v)
{
        char b[16];
        snprintf(b, sizeof(b), "%u", v);
        xmlSetProp(n, BAD_CAST attr, BAD_CAST b);
}

/* Write the choice into doc; the iothread ids pinned into *ret_io. */
static int edit_doc(xmlDocPtr doc, const PinChoice *c, unsigned *io, size_t *n_io)
{
        xmlNodePtr root = xmlDocGetRootElement(doc);
        char host[256], b[32];
        cpuset_format(&c->host, host, sizeof(host));
        *n_io = iothread_ids(doc, io, 1024);

        xmlNodePtr v = child_elem(root, "vcpu");
        if (v)
                xmlUnsetProp(v, BAD_CAST "cpuset");
        xmlNodePtr ct = child_elem(root, "cputune");
        if (!ct) {
                ct = xmlNewDocNode(doc, NULL, BAD_CAST "cputune", NULL);
                if (!ct)
                        return -ENOMEM;
                if (v)
                        xmlAddNextSibling(v, ct);
                else
                        xmlAddChild(root, ct);
        }
        /* the pins go where the old ones were, else before the schedulers
         * and tunes (libvirt's own order), else last */
        xmlNodePtr at = NULL;
        for (xmlNodePtr k = ct->children, next; k; k = next) {
                next = k->next;
                if (is_pin(k)) {
                        if (!at) {
                                at = xmlNewDocComment(doc, BAD_CAST "pins");
                                xmlAddPrevSibling(k, at);
                        }
                        xmlUnlinkNode(k);
                        xmlFreeNode(k);
                } else if (!at && k->type == XML_ELEMENT_NODE && xmlStrstr(k->name, BAD_CAST "sched")) {
                        at = xmlNewDocComment(doc, BAD_CAST "pins");
                        xmlAddPrevSibling(k, at);
                }
        }
        if (!at) {
                at = xmlNewDocComment(doc, BAD_CAST "pins");
                xmlAddChild(ct, at);
        }
        for (unsigned i = 0; i < c->n_vcpus; i++) {
                xmlNodePtr p = xmlNewDocNode(doc, NULL, BAD_CAST "vcpupin", NULL);
                if (!p)
                        return -ENOMEM;
                set_uint(p, "vcpu", i);
                snprintf(b, sizeof(b), "%u", c->vcpu_cpu[i]);
                xmlSetProp(p, BAD_CAST "cpuset", BAD_CAST b);
                xmlAddPrevSibling(at, p);
        }
        xmlNodePtr e = xmlNewDocNode(doc, NULL, BAD_CAST "emulatorpin", NULL);
        if (!e)
                return -ENOMEM;
        xmlSetProp(e, BAD_CAST "cpuset", BAD_CAST host);
        xmlAddPrevSibling(at, e);
        for (size_t i = 0; i < *n_io; i++) {
                xmlNodePtr p = xmlNewDocNode(doc, NULL, BAD_CAST "iothreadpin", NULL);
                if (!p)
                        return -ENOMEM;
                set_uint(p, "iothread", io[i]);
                xmlSetProp(p, BAD_CAST "cpuset", BAD_CAST host);
                xmlAddPrevSibling(at, p);
        }
        xmlUnlinkNode(at);
        xmlFreeNode(at);

        xmlNodePtr cpu = child_elem(root, "cpu");
        if (!cpu) {
                cpu = xmlNewDocNode(doc, NULL, BAD_CAST "cpu", NULL);
                if (!cpu)
                        return -ENOMEM;
                xmlAddNextSibling(ct, cpu);
        }
        xmlNodePtr topo = child_elem(cpu, "topology");
        if (!topo) {
                topo = xmlNewDocNode(doc, NULL, BAD_CAST "topology", NULL);
                if (!topo)
                        return -ENOMEM;
                /* libvirt wants <topology> before <feature>, <numa>... */
                xmlNodePtr first = NULL;
                for (xmlNodePtr k = cpu->children; k && !first; k = k->next)
                        if (k->type == XML_ELEMENT_NODE && xmlStrcmp(k->name, BAD_CAST "model") &&
                            xmlStrcmp(k->name, BAD_CAST "vendor"))
                                first = k;
                if (first)
                        xmlAddPrevSibling(first, topo);
                else
                        xmlAddChild(cpu, topo);
        }
        set_uint(topo, "sockets", c->sockets);
        if (xmlHasProp(topo, BAD_CAST "dies"))
                set_uint(topo, "dies", 1);
        if (xmlHasProp(topo, BAD_CAST "clusters"))
                set_uint(topo, "clusters", 1);
        set_uint(topo, "cores", c->cores_per_socket);
        set_uint(topo, "threads", c->threads);
        return 0;
}

/* ---- the report ---- */

static void print_choice(const Domain *d, const PinChoice *c, const unsigned *io, size_t n_io, const char *pre,
                         FILE *out)
{
        char cpus[256], ids[256];
        fprintf(out, "%s%s: %s\n", pre, d->name, c->summary);
        for (size_t i = 0; i < c->n_cores; i++) {
                cpuset_format(&c->cores[i].cpus, cpus, sizeof(cpus));
                cpus_share_format_ids(&c->cores[i].vcpus, ids, sizeof(ids));
                fprintf(out, "%s  CPU %-9s vCPU %-6s %s\n", pre, cpus, ids, c->cores[i].why);
        }
        cpuset_format(&c->host, cpus, sizeof(cpus));
        fprintf(out, "%s  CPU %-9s host share: emulator", pre, cpus);
        if (n_io) {
                CpuSet s;
                cpuset_clear(&s);
                for (size_t i = 0; i < n_io; i++)
                        if (io[i] < CPUSET_MAX)
                                cpuset_set(&s, io[i]);
                cpus_share_format_ids(&s, ids, sizeof(ids));
                fprintf(out, " and iothread %s", ids);
        }
        fprintf(out, " beside the host's own work (CPU 0's core, never a vCPU's)\n");
}

/*
 * Choose the pins for the domain in doc and write them into doc, printing
 * the choice and the diff on out.  EXIT_OK, or EXIT_FAIL said on stderr.
 */
int cli_pin_doc(const CliOptions *o, xmlDocPtr doc, const char *label, FILE *out)
{
        xmlChar *buf = NULL;
        int len = 0, r;
        char err[4096];
        Domain *d = NULL;
        Profile *p = NULL;
        PinHost h;
        PinRequest req;
        PinChoice c;
        Lines before = { .n = 0 }, after = { .n = 0 };
        static unsigned io[1024];
        size_t n_io = 0;

        xmlDocDumpMemory(doc, &buf, &len);
        if (!buf)
                return EXIT_FAIL;
        r = domain_parse((const char *) buf, (size_t) len, &d, err, sizeof(err));
        xmlFree(buf);
        if (r < 0) {
                fprintf(stderr, "vmprep pin: %s: %s\n", label, err);
                return EXIT_FAIL;
        }
        if (profile_from_domain(d, &p, err, sizeof(err)) < 0) {
                fprintf(stderr, "vmprep pin: %s: %s\n", d->name, err);
                domain_free(d);
                return EXIT_FAIL;
        }
        r = pin_host_read(&h);
        if (r < 0) {
                fprintf(stderr, "vmprep pin: cannot read the CPU topology under /sys/devices/system/cpu: %s\n",
                        strerror(-r));
                profile_free(p);
                domain_free(d);
                return EXIT_FAIL;
        }
        request_of(d, p, &req);
        r = other_claims(o, d, &req.taken); /* logs why not */
        if (r == 0) {
                r = pin_choose(&h, &req, &c, err, sizeof(err));
                if (r < 0)
                        fprintf(stderr, "vmprep pin: %s%s: %s\n", d->name, r == -ENOSPC ? " cannot be pinned here" : "",
                                err);
        }
        if (r == 0) {
                lines_of(doc, &before);
                r = edit_doc(doc, &c, io, &n_io);
                lines_of(doc, &after);
                print_choice(d, &c, io, n_io, "", out);
                fprintf(out, "--- %s now\n+++ %s pinned\n", d->name, d->name);
                diff_print(&before, &after, out);
                pin_choice_free(&c);
        }
        lines_free(&before);
        lines_free(&after);
        pin_host_free(&h);
        profile_free(p);
        domain_free(d);
        return r == 0 ? EXIT_OK : EXIT_FAIL;
}

/* The domain is "a file" the way cli_load_domain reads one. */
static bool is_file(const char *arg)
{
        size_t n = strlen(arg);
        return strchr(arg, '/') || !strcmp(arg, "-") || (n > 4 && !strcmp(arg + n - 4, ".xml"));
}

int cmd_pin(const CliOptions *o, int argc, char **argv)
{
        const char *vm = NULL;
        bool dry = false, config = false;
        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--dry-run"))
                        dry = true;
                else if (!strcmp(argv[i], "--config"))
                        config = true;
                else if (argv[i][0] == '-' && argv[i][1])
                        return cli_unknown_option("pin", argv[i]);
                else if (vm) {
                        fprintf(stderr, "vmprep pin: one VM at a time ('%s' and '%s')\n", vm, argv[i]);
                        return EXIT_USAGE;
                } else
                        vm = argv[i];
        }
        if (!vm) {
                fprintf(stderr, "Usage: vmprep pin " PIN_USAGE "\n");
                return EXIT_USAGE;
        }
        char *text = NULL, err[2048];
        size_t len = 0;
        int r;
        if (is_file(vm)) {
                if (!dry) {
                        fprintf(stderr, "vmprep pin: %s is a file: --dry-run shows what pin would write; name a "
                                        "defined VM to write it\n", vm);
                        return EXIT_USAGE;
                }
                text = cli_read_file(vm, &len);
                if (!text)
                        return EXIT_FAIL;
        } else {
                r = virt_domain_xml(o, vm, true, &text);
                if (r != EXIT_OK)
                        return r;
                len = strlen(text);
                if (!dry && !config && virt_domain_active(o, vm) == 1) {
                        fprintf(stderr, "vmprep pin: %s is running: pinning changes its definition; write it for "
                                        "the next start with --config (or shut it down first)\n", vm);
                        free(text);
                        return EXIT_FAIL;
                }
        }
        xmlDocPtr doc = xml_parse(text, len, "the domain XML", err, sizeof(err));
        free(text);
        if (!doc) {
                fprintf(stderr, "vmprep pin: %s: %s\n", vm, err);
                return EXIT_FAIL;
        }
        r = cli_pin_doc(o, doc, vm, stdout);
        if (r == EXIT_OK && dry) {
                printf("dry run: nothing written\n");
        } else if (r == EXIT_OK) {
                xmlChar *buf = NULL;
                int n = 0;
                xmlDocDumpMemory(doc, &buf, &n);
                r = buf ? virt_define_xml(o, (const char *) buf) : EXIT_FAIL;
                xmlFree(buf);
                if (r == EXIT_OK)
                        printf("%s: pinned%s\n", vm,
                               virt_domain_active(o, vm) == 1 ? " (the persistent definition: it takes effect at "
                                                                "the next start)" : "");
        }
        xmlFreeDoc(doc);
        return r;
}

void cli_pin_report(const CliOptions *o, const Domain *d, FILE *out)
{
        PinHost h;
        CpuSet unpinned;
        char err[4096], a[256];
        Profile *p = NULL;

        if (pin_host_read(&h) < 0)
                return;
        domain_unpinned_vcpus(d, &unpinned);
        if (cpuset_empty(&unpinned)) {
                fprintf(out, "# pins of %s (vmprep pin %s chooses them afresh):\n", d->name, d->name);
                for (size_t i = 0; i < d->n_vcpupins; i++) {
                        const CpuSet *s = &d->vcpupins[i].cpus;
                        int first = cpuset_next(s, 0);
                        cpuset_format(s, a, sizeof(a));
                        pin_core_describe(&h, first < 0 ? 0 : (unsigned) first, err, sizeof(err));
                        fprintf(out, "#   vCPU %-3u CPU %-9s %s%s\n", d->vcpupins[i].id, a, err,
                                first >= 0 && cpuset_isset(&h.topo.siblings[0], (unsigned) first) && h.topo.n_cpus
                                        ? " (CPU 0's core: the host's)"
                                        : "");
                }
                if (d->has_emulatorpin) {
                        cpuset_format(&d->emulatorpin, a, sizeof(a));
                        fprintf(out, "#   emulator CPU %s\n", a);
                }
                pin_host_free(&h);
                return;
        }
        PinRequest req;
        PinChoice c;
        if (profile_from_domain(d, &p, err, sizeof(err)) < 0)
                p = NULL;
        request_of(d, p, &req);
        profile_free(p);
        int r = other_claims(o, d, &req.taken);
        if (r == 0)
                r = pin_choose(&h, &req, &c, err, sizeof(err));
        cpus_share_format_ids(&unpinned, a, sizeof(a));
        if (r == 0) {
                unsigned io[256];
                size_t n_io = d->doc ? iothread_ids((xmlDocPtr) d->doc, io, 256) : 0;
                fprintf(out, "# vCPU %s unpinned: vmprep pin %s would write\n", a, d->name);
                print_choice(d, &c, io, n_io, "#   ", out);
                pin_choice_free(&c);
        } else if (r == -ENOSPC) {
                fprintf(out, "# vCPU %s unpinned, and vmprep pin cannot pin %s here: %s\n", a, d->name, err);
        }
        pin_host_free(&h);
}
