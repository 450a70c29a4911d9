/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "domain.h"

#include "log.h"
#include "xml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Upper bounds that no real domain reaches; they keep hostile input from
 * turning into huge allocations. */
#define DOMAIN_MAX_VCPUS 16384
#define DOMAIN_MAX_ITEMS 65536

typedef struct Reader {
        xmlXPathContextPtr ctx;
        Domain *d;
        char *err;
        size_t errlen;
} Reader;

static int fail(Reader *rd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(Reader *rd, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(rd->err, rd->errlen, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

/* Grow *array (of n elements of size sz) by one zeroed element. */
static void *grow(void *array, size_t *n, size_t sz)
{
        if (*n >= DOMAIN_MAX_ITEMS)
                return NULL;
        void *a = realloc(array, (*n + 1) * sz);
        if (!a)
                return NULL;
        memset((char *) a + *n * sz, 0, sz);
        (*n)++;
        return a;
}

#define APPEND(rd, arr, count)                                                           \
        ({                                                                               \
                void *_a = grow((arr), &(count), sizeof(*(arr)));                        \
                if (!_a)                                                                 \
                        return fail((rd), "too many <%s> elements", #arr);               \
                (arr) = _a;                                                              \
                &(arr)[(count) - 1];                                                     \
        })

/* Parse attribute `attr` of `node` (element name `elem` for messages) as a
 * CPU/node list.  *present tells whether it was there. */
static int read_set(Reader *rd, xmlNodePtr node, const char *elem, const char *attr, CpuSet *set,
                    bool *present, bool required)
{
        _cleanup_xmlstr_ char *v = xml_attr(node, attr);

        if (present)
                *present = v != NULL;
        if (!v) {
                if (required)
                        return fail(rd, "<%s> has no %s attribute", elem, attr);
                return 0;
        }
        if (cpuset_parse(v, set) < 0)
                return fail(rd, "<%s %s='%s'>: '%s' is not a CPU/node list (like 0-3,8; numbers below %d)",
                            elem, attr, v, v, CPUSET_MAX);
        return 0;
}

static int read_uint_attr(Reader *rd, xmlNodePtr node, const char *elem, const char *attr,
                          uint64_t max, unsigned *ret, bool required)
{
        _cleanup_xmlstr_ char *v = xml_attr(node, attr);
        uint64_t u;

        if (!v) {
                if (required)
                        return fail(rd, "<%s> has no %s attribute", elem, attr);
                return 1;
        }
        if (parse_u64(v, 0, max, &u) < 0)
                return fail(rd, "<%s %s='%s'>: '%s' is not a number from 0 to %llu", elem, attr, v, v,
                            (unsigned long long) max);
        *ret = (unsigned) u;
        return 0;
}

/* Size element or attribute: value text + unit attribute. */
static int read_size(Reader *rd, const char *elem, const char *value, const char *unit, uint64_t *ret)
{
        int r = parse_size_kib(value, unit, "KiB", ret);
        if (r < 0)
                return fail(rd, "<%s%s%s%s>: '%s%s%s' is not a size (a number with an optional unit: KiB, MiB, GiB...)",
                            elem, unit ? " unit='" : "", unit ? unit : "", unit ? "'" : "", value,
                            unit ? " " : "", unit ? unit : "");
        return 0;
}

static int copy_mode(Reader *rd, const char *elem, const char *mode, char out[16])
{
        static const char *const modes[] = { "strict", "preferred", "interleave", "restrictive" };
        if (!mode) {
                snprintf(out, 16, "strict");
                return 0;
        }
        for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
                if (strcmp(mode, modes[i]) == 0) {
                        snprintf(out, 16, "%s", mode);
                        return 0;
                }
        return fail(rd, "<%s mode='%s'>: mode must be strict, preferred, interleave or restrictive", elem, mode);
}

static int read_identity(Reader *rd)
{
        Domain *d = rd->d;
        xmlNodePtr n = xml_first(rd->ctx, NULL, "/domain/name");

        if (!n)
                return fail(rd, "the domain has no <name>");
        d->name = xml_text(n);
        if (!d->name || !*d->name)
                return fail(rd, "the domain's <name> is empty");

        d->id = -1;
        _cleanup_xmlstr_ char *id = xml_attr(xmlDocGetRootElement(d->doc), "id");
        uint64_t v;
        if (id && parse_u64(id, 0, INT32_MAX, &v) == 0)
                d->id = (int) v;
        /* an id that does not parse is libvirt's business, not ours: -1 */

        n = xml_first(rd->ctx, NULL, "/domain/uuid");
        if (n) {
                _cleanup_xmlstr_ char *u = xml_text(n);
                if (uuid_parse(u, d->uuid) < 0)
                        return fail(rd, "<uuid>%s</uuid>: not a UUID like 4dea22b3-1d52-d8f3-2516-782e98ab3fa0", u);
        }
        return 0;
}

static int read_memory(Reader *rd)
{
        Domain *d = rd->d;
        xmlNodePtr n = xml_first(rd->ctx, NULL, "/domain/memory");
        int r;

        if (n) {
                _cleanup_xmlstr_ char *v = xml_text(n);
                _cleanup_xmlstr_ char *unit = xml_attr(n, "unit");
                r = read_size(rd, "memory", v, unit, &d->memory_kib);
                if (r < 0)
                        return r;
        }

        n = xml_first(rd->ctx, NULL, "/domain/memoryBacking/hugepages");
        d->hugepages = n != NULL;
        d->locked = xml_first(rd->ctx, NULL, "/domain/memoryBacking/locked") != NULL;
        d->nosharepages = xml_first(rd->ctx, NULL, "/domain/memoryBacking/nosharepages") != NULL;
        n = xml_first(rd->ctx, NULL, "/domain/memoryBacking/access");
        if (n) {
                _cleanup_xmlstr_ char *mode = xml_attr(n, "mode");
                d->access_shared = mode && strcmp(mode, "shared") == 0;
        }

        xmlXPathObjectPtr pages = xml_xpath(rd->ctx, NULL, "/domain/memoryBacking/hugepages/page");
        r = 0;
        for (size_t i = 0; i < xml_count(pages) && r == 0; i++) {
                xmlNodePtr p = xml_item(pages, i);
                _cleanup_xmlstr_ char *size = xml_attr(p, "size");
                _cleanup_xmlstr_ char *unit = xml_attr(p, "unit");
                DomainPage *pg;

                if (!size) {
                        r = fail(rd, "<page> in <memoryBacking><hugepages> has no size attribute");
                        break;
                }
                pg = grow(d->pages, &d->n_pages, sizeof(*d->pages));
                if (!pg) {
                        r = fail(rd, "too many <page> elements");
                        break;
                }
                d->pages = (DomainPage *) pg;
                pg = &d->pages[d->n_pages - 1];
                r = read_size(rd, "page size", size, unit, &pg->size_kib);
                if (r == 0 && pg->size_kib == 0)
                        r = fail(rd, "<page size='%s'>: a page size of 0", size);
                if (r == 0)
                        r = read_set(rd, p, "page", "nodeset", &pg->nodeset, &pg->has_nodeset, false);
        }
        xmlXPathFreeObject(pages);
        return r;
}

static int read_vcpus(Reader *rd)
{
        Domain *d = rd->d;
        xmlNodePtr n = xml_first(rd->ctx, NULL, "/domain/vcpu");
        uint64_t v;
        int r;

        d->vcpu_max = d->vcpu_current = 1;
        if (!n)
                return 0;
        d->has_vcpu = true;
        _cleanup_xmlstr_ char *text = xml_text(n);
        if (parse_u64(text, 1, DOMAIN_MAX_VCPUS, &v) < 0)
                return fail(rd, "<vcpu>%s</vcpu>: not a vCPU count from 1 to %d", text, DOMAIN_MAX_VCPUS);
        d->vcpu_max = d->vcpu_current = (unsigned) v;
        r = read_uint_attr(rd, n, "vcpu", "current", d->vcpu_max, &d->vcpu_current, false);
        if (r < 0)
                return r;
        if (d->vcpu_current == 0)
                return fail(rd, "<vcpu current='0'>: a domain needs at least one vCPU");
        return read_set(rd, n, "vcpu", "cpuset", &d->vcpu_cpuset, &d->has_vcpu_cpuset, false);
}

static int read_numa(Reader *rd)
{
        Domain *d = rd->d;
        xmlNodePtr n = xml_first(rd->ctx, NULL, "/domain/numatune/memory");
        int r = 0;

        if (n) {
                _cleanup_xmlstr_ char *mode = xml_attr(n, "mode");
                _cleanup_xmlstr_ char *placement = xml_attr(n, "placement");
                bool present;

                d->has_numatune = true;
                r = copy_mode(rd, "numatune memory", mode, d->numatune_mode);
                if (r < 0)
                        return r;
                if (placement && strcmp(placement, "auto") != 0 && strcmp(placement, "static") != 0)
                        return fail(rd, "<numatune><memory placement='%s'>: placement must be static or auto", placement);
                r = read_set(rd, n, "numatune memory", "nodeset", &d->numatune_nodeset, &present, false);
                if (r < 0)
                        return r;
                d->numatune_auto = !present;
        }

        xmlXPathObjectPtr obj = xml_xpath(rd->ctx, NULL, "/domain/numatune/memnode");
        for (size_t i = 0; i < xml_count(obj) && r == 0; i++) {
                xmlNodePtr m = xml_item(obj, i);
                _cleanup_xmlstr_ char *mode = xml_attr(m, "mode");
                DomainMemnode *mn = grow(d->memnodes, &d->n_memnodes, sizeof(*d->memnodes));
                if (!mn) {
                        r = fail(rd, "too many <memnode> elements");
                        break;
                }
                d->memnodes = mn;
                mn = &d->memnodes[d->n_memnodes - 1];
                r = read_uint_attr(rd, m, "memnode", "cellid", CPUSET_MAX - 1, &mn->cellid, true);
                if (r == 0)
                        r = copy_mode(rd, "memnode", mode, mn->mode);
                if (r == 0)
                        r = read_set(rd, m, "memnode", "nodeset", &mn->nodeset, NULL, true);
        }
        xmlXPathFreeObject(obj);
        if (r < 0)
                return r;

        obj = xml_xpath(rd->ctx, NULL, "/domain/cpu/numa/cell");
        for (size_t i = 0; i < xml_count(obj) && r == 0; i++) {
                xmlNodePtr c = xml_item(obj, i);
                _cleanup_xmlstr_ char *mem = xml_attr(c, "memory");
                _cleanup_xmlstr_ char *unit = xml_attr(c, "unit");
                _cleanup_xmlstr_ char *access = xml_attr(c, "memAccess");
                DomainCell *cell = grow(d->cells, &d->n_cells, sizeof(*d->cells));
                if (!cell) {
                        r = fail(rd, "too many <cell> elements");
                        break;
                }
                d->cells = cell;
                cell = &d->cells[d->n_cells - 1];
                cell->id = (unsigned) i; /* libvirt's default when id= is absent */
                r = read_uint_attr(rd, c, "cell", "id", CPUSET_MAX - 1, &cell->id, false);
                if (r < 0)
                        break;
                r = read_set(rd, c, "cell", "cpus", &cell->cpus, NULL, false);
                if (r < 0)
                        break;
                if (!mem) {
                        r = fail(rd, "<cell id='%u'> has no memory attribute", cell->id);
                        break;
                }
                r = read_size(rd, "cell memory", mem, unit, &cell->memory_kib);
                cell->memaccess_shared = access && strcmp(access, "shared") == 0;
        }
        xmlXPathFreeObject(obj);
        if (r < 0)
                return r;
        for (size_t i = 0; i < d->n_cells; i++)
                for (size_t j = i + 1; j < d->n_cells; j++)
                        if (d->cells[i].id == d->cells[j].id)
                                return fail(rd, "<cell id='%u'> appears twice", d->cells[i].id);
        return 0;
}

static int read_pins(Reader *rd, const char *expr, const char *elem, const char *idattr,
                     DomainPin **arr, size_t *n)
{
        xmlXPathObjectPtr obj = xml_xpath(rd->ctx, NULL, expr);
        int r = 0;

        for (size_t i = 0; i < xml_count(obj) && r == 0; i++) {
                xmlNodePtr p = xml_item(obj, i);
                DomainPin *pin = grow(*arr, n, sizeof(**arr));
                if (!pin) {
                        r = fail(rd, "too many <%s> elements", elem);
                        break;
                }
                *arr = pin;
                pin = &(*arr)[*n - 1];
                r = read_uint_attr(rd, p, elem, idattr, DOMAIN_MAX_ITEMS, &pin->id, true);
                if (r == 0)
                        r = read_set(rd, p, elem, "cpuset", &pin->cpus, NULL, true);
        }
        xmlXPathFreeObject(obj);
        return r;
}

static int read_cputune(Reader *rd)
{
        Domain *d = rd->d;
        int r;

        r = read_pins(rd, "/domain/cputune/vcpupin", "vcpupin", "vcpu", &d->vcpupins, &d->n_vcpupins);
        if (r < 0)
                return r;
        for (size_t i = 0; i < d->n_vcpupins; i++)
                if (d->vcpupins[i].id >= d->vcpu_max)
                        return fail(rd, "<vcpupin vcpu='%u'>: the domain has only %u vCPUs (0-%u)",
                                    d->vcpupins[i].id, d->vcpu_max, d->vcpu_max - 1);
        r = read_pins(rd, "/domain/cputune/iothreadpin", "iothreadpin", "iothread", &d->iothreadpins,
                      &d->n_iothreadpins);
        if (r < 0)
                return r;
        xmlNodePtr e = xml_first(rd->ctx, NULL, "/domain/cputune/emulatorpin");
        if (e) {
                r = read_set(rd, e, "emulatorpin", "cpuset", &d->emulatorpin, NULL, true);
                if (r < 0)
                        return r;
                d->has_emulatorpin = true;
        }

        xmlXPathObjectPtr obj = xml_xpath(rd->ctx, NULL, "/domain/cputune/vcpusched");
        for (size_t i = 0; i < xml_count(obj) && r == 0; i++) {
                xmlNodePtr s = xml_item(obj, i);
                _cleanup_xmlstr_ char *sched = xml_attr(s, "scheduler");
                _cleanup_xmlstr_ char *prio = xml_attr(s, "priority");
                DomainSched *ds = grow(d->vcpuscheds, &d->n_vcpuscheds, sizeof(*d->vcpuscheds));
                if (!ds) {
                        r = fail(rd, "too many <vcpusched> elements");
                        break;
                }
                d->vcpuscheds = ds;
                ds = &d->vcpuscheds[d->n_vcpuscheds - 1];
                r = read_set(rd, s, "vcpusched", "vcpus", &ds->vcpus, NULL, true);
                if (r < 0)
                        break;
                if (!sched || (strcmp(sched, "fifo") && strcmp(sched, "rr") && strcmp(sched, "batch") &&
                               strcmp(sched, "idle") && strcmp(sched, "other"))) {
                        r = fail(rd, "<vcpusched scheduler='%s'>: scheduler must be fifo, rr, batch, idle or other",
                                 sched ? sched : "");
                        break;
                }
                snprintf(ds->scheduler, sizeof(ds->scheduler), "%s", sched);
                if (prio) {
                        int64_t p;
                        if (parse_i64(prio, -20, 99, &p) < 0) {
                                r = fail(rd, "<vcpusched priority='%s'>: not a priority from -20 to 99", prio);
                                break;
                        }
                        ds->has_priority = true;
                        ds->priority = (int) p;
                }
        }
        xmlXPathFreeObject(obj);
        return r;
}

static int read_pci_source(Reader *rd, xmlNodePtr a, const char *elem)
{
        PciAddress addr;
        char why[160];
        Domain *d = rd->d;

        if (xml_pci_address(a, &addr, why, sizeof(why)) < 0)
                return fail(rd, "<%s><source><address%s", elem, why);
        PciAddress *p = grow(d->hostdevs, &d->n_hostdevs, sizeof(*d->hostdevs));
        if (!p)
                return fail(rd, "too many host devices");
        d->hostdevs = p;
        d->hostdevs[d->n_hostdevs - 1] = addr;
        return 0;
}

/* <disk type='block'><source dev=...> and <interface type='direct'>
 * <source dev=...><target dev=...>: what a running VM holds on the host. */
static int read_host_uses(Reader *rd)
{
        Domain *d = rd->d;
        int r = 0;
        xmlXPathObjectPtr obj = xml_xpath(rd->ctx, NULL, "/domain/devices/disk[@type='block']/source[@dev]");
        for (size_t i = 0; i < xml_count(obj) && r == 0; i++) {
                char **devs = grow(d->disk_devs, &d->n_disk_devs, sizeof(*d->disk_devs));
                if (!devs) {
                        r = fail(rd, "too many <disk type='block'> elements");
                        break;
                }
                d->disk_devs = devs;
                if (!(devs[d->n_disk_devs - 1] = xml_attr(xml_item(obj, i), "dev")))
                        r = -ENOMEM;
        }
        xmlXPathFreeObject(obj);
        /* a macvtap network (<interface type='network'>) shows its device
         * in the live XML as <actual type='direct'><source dev=...> */
        obj = r == 0 ? xml_xpath(rd->ctx, NULL,
                                 "/domain/devices/interface[@type='direct'][source/@dev] | "
                                 "/domain/devices/interface[@type='network']/actual[@type='direct'][source/@dev]")
                     : NULL;
        for (size_t i = 0; i < xml_count(obj) && r == 0; i++) {
                xmlNodePtr n = xml_item(obj, i);
                bool actual = strcmp((const char *) n->name, "actual") == 0;
                xmlNodePtr src = xml_first(rd->ctx, n, "source[@dev]");
                xmlNodePtr tgt = xml_first(rd->ctx, actual ? n->parent : n, "target[@dev]");
                DomainDirect *di = grow(d->directs, &d->n_directs, sizeof(*d->directs));
                if (!di) {
                        r = fail(rd, "too many <interface type='direct'> elements");
                        break;
                }
                d->directs = di;
                di = &d->directs[d->n_directs - 1];
                di->dev = src ? xml_attr(src, "dev") : NULL;
                di->target = tgt ? xml_attr(tgt, "dev") : NULL;
                if (!di->dev)
                        r = -ENOMEM;
        }
        xmlXPathFreeObject(obj);
        return r;
}

static int read_devices(Reader *rd)
{
        /* Host-side sources only: the guest-side <address> sits directly under
         * <hostdev>, not under <source>. */
        xmlXPathObjectPtr obj = xml_xpath(
                rd->ctx, NULL,
                "/domain/devices/hostdev[@type='pci']/source/address | "
                "/domain/devices/interface[@type='hostdev']/source/address[not(@type) or @type='pci']");
        int r = 0;

        for (size_t i = 0; i < xml_count(obj) && r == 0; i++) {
                xmlNodePtr a = xml_item(obj, i);
                const char *elem = (const char *) a->parent->parent->name;
                r = read_pci_source(rd, a, elem);
        }
        xmlXPathFreeObject(obj);
        rd->d->has_vhostuser = xml_first(rd->ctx, NULL, "/domain/devices/interface[@type='vhostuser']") != NULL;
        if (r == 0)
                r = read_host_uses(rd);
        return r;
}

int domain_parse(const char *xml, size_t len, Domain **ret, char *err, size_t errlen)
{
        Domain *d = calloc(1, sizeof(*d));
        Reader rd = { .d = d, .err = err, .errlen = errlen };
        int r;

        if (errlen)
                err[0] = '\0';
        if (!d)
                return fail_errno(err, errlen, -ENOMEM);
        d->doc = xml_parse(xml, len, "the domain XML", err, errlen);
        if (!d->doc) {
                domain_free(d);
                return -EINVAL;
        }
        xmlNodePtr root = xmlDocGetRootElement(d->doc);
        if (!root || strcmp((const char *) root->name, "domain") != 0 || root->ns) {
                r = fail(&rd, "the root element is <%s>, not <domain>", root ? (const char *) root->name : "");
                domain_free(d);
                return r;
        }
        rd.ctx = xmlXPathNewContext(d->doc);
        if (!rd.ctx) {
                domain_free(d);
                return fail_errno(err, errlen, -ENOMEM);
        }
        r = read_identity(&rd);
        if (r == 0)
                r = read_memory(&rd);
        if (r == 0)
                r = read_vcpus(&rd);
        if (r == 0)
                r = read_numa(&rd);
        if (r == 0)
                r = read_cputune(&rd);
        if (r == 0)
                r = read_devices(&rd);
        xmlXPathFreeContext(rd.ctx);
        if (r < 0) {
                domain_free(d);
                return fail_errno(err, errlen, r);
        }
        *ret = d;
        return 0;
}

void domain_unpinned_vcpus(const Domain *d, CpuSet *out)
{
        cpuset_clear(out);
        for (unsigned v = 0; v < d->vcpu_max && v < CPUSET_MAX; v++)
                cpuset_set(out, v);
        for (size_t i = 0; i < d->n_vcpupins; i++)
                if (d->vcpupins[i].id < CPUSET_MAX)
                        out->bits[d->vcpupins[i].id / 64] &= ~(UINT64_C(1) << (d->vcpupins[i].id % 64));
}

void domain_free(Domain *d)
{
        if (!d)
                return;
        free(d->name);
        free(d->pages);
        free(d->memnodes);
        free(d->cells);
        free(d->vcpupins);
        free(d->iothreadpins);
        free(d->vcpuscheds);
        free(d->hostdevs);
        for (size_t i = 0; i < d->n_disk_devs; i++)
                free(d->disk_devs[i]);
        free(d->disk_devs);
        for (size_t i = 0; i < d->n_directs; i++) {
                free(d->directs[i].dev);
                free(d->directs[i].target);
        }
        free(d->directs);
        if (d->doc)
                xmlFreeDoc(d->doc);
        free(d);
}
