/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "hugepages_impl.h"

#include "journal.h"
#include "log.h"
#include "resource.h"
#include "sysfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CAP "hugepages"
/* Ledger holds "hugepages-pool/NODE/SIZEkB": free pages a VM counts on from
 * a pool that already had them, until QEMU has taken them (started) or the
 * VM is released. */
#define POOL_PROMISE "hugepages-pool"
/* Compaction retries: at most this many, within this long. */
#define COMPACT_TRIES 3
#define COMPACT_BUDGET_MS 10000

/* One slice of guest memory and where it may live. */
typedef struct Slice {
        uint64_t kib;
        uint64_t size_kib;
        CpuSet nodes;
        const char *mode;
        char origin[96]; /* for messages */
} Slice;

static int add_need(HugepageNeed **arr, size_t *n, unsigned node, uint64_t size_kib, uint64_t pages)
{
        if (pages == 0)
                return 0;
        for (size_t i = 0; i < *n; i++)
                if ((*arr)[i].node == node && (*arr)[i].size_kib == size_kib) {
                        (*arr)[i].pages += pages;
                        return 0;
                }
        HugepageNeed *a = realloc(*arr, (*n + 1) * sizeof(*a));
        if (!a)
                return -ENOMEM;
        *arr = a;
        a[*n] = (HugepageNeed){ node, size_kib, pages };
        (*n)++;
        return 0;
}

/* Page size of a guest cell (or of the whole VM when cell < 0). */
static int page_size_for(const Domain *d, int cell, const HugepageHost *host, uint64_t *ret, char *err,
                         size_t errlen)
{
        uint64_t size = 0;

        for (size_t i = 0; i < d->n_pages; i++) {
                const DomainPage *pg = &d->pages[i];
                if (!pg->has_nodeset) {
                        if (!size)
                                size = pg->size_kib;
                } else if (cell >= 0 ? cpuset_isset(&pg->nodeset, (unsigned) cell) : cpuset_isset(&pg->nodeset, 0)) {
                        size = pg->size_kib; /* a page naming the cell wins over the default one */
                        break;
                }
        }
        if (!size)
                size = host->default_size_kib;
        if (size < 2048 && size != 0)
                return fail_msg(err, errlen, "<memoryBacking><hugepages><page size='%llu' unit='KiB'>: %llu KiB is the "
                                "normal page size, not a huge page", (unsigned long long) size, (unsigned long long) size);
        *ret = size;
        return 0;
}

static void size_xml(uint64_t kib, char *buf, size_t size)
{
        snprintf(buf, size, "<memoryBacking><hugepages><page size='%llu' unit='KiB'/></hugepages></memoryBacking>",
                 (unsigned long long) kib);
}

int hugepages_derive(const Domain *d, const Profile *p, const HugepageHost *host, HugepageNeed **ret,
                     size_t *n, char *err, size_t errlen)
{
        const ProfileElem *e = profile_elem(p, "hugepages");
        bool asked = profile_enabled(p, "hugepages");
        uint64_t profile_size = 0;
        bool profile_nodes = false;
        CpuSet pnodes;
        Slice *slices = NULL;
        size_t n_slices = 0;
        HugepageNeed *needs = NULL;
        size_t n_needs = 0;
        char buf[256], want[64];
        int r = 0;

        *ret = NULL;
        *n = 0;
        if (errlen)
                err[0] = '\0';
        if (!d->hugepages && !asked)
                return 0;
        if (e && !asked)
                return 0; /* enabled="no": the administrator manages the pool */
        if (e && profile_attr(e, "size"))
                parse_size_kib(profile_attr(e, "size"), NULL, "KiB", &profile_size);
        if (e && profile_attr(e, "nodes") && strcmp(profile_attr(e, "nodes"), "auto") != 0) {
                cpuset_parse(profile_attr(e, "nodes"), &pnodes);
                profile_nodes = true;
        }
        if (!d->hugepages) {
                size_xml(profile_size ? profile_size : host->default_size_kib, buf, sizeof(buf));
                return fail_msg(err, errlen,
                                "the vmprep profile asks for hugepages, but the domain has no "
                                "<memoryBacking><hugepages/></memoryBacking>, so QEMU would never use them; "
                                "add %s to the domain (virsh edit %s), or set <vmprep:hugepages enabled='no'/>",
                                buf, d->name);
        }
        if (d->memory_kib == 0)
                return fail_msg(err, errlen, "the domain has hugepage backing but no <memory> size");
        /* placement='auto': numad picks the node when libvirt starts the VM
         * and libvirt binds the memory there, after the prepare hook; pages
         * reserved on every node would sit unused and the VM's node lack them. */
        if (d->has_numatune && d->numatune_auto)
                return fail_msg(err, errlen,
                                "<numatune><memory placement='auto'/>: numad chooses the VM's memory node only when "
                                "libvirt starts it, so vmprep cannot know where to reserve its hugepages; name the "
                                "node instead (<numatune><memory mode='strict' nodeset='0'/></numatune>), or drop "
                                "placement='auto' and let vmprep spread the pages over the nodes");
        if (profile_nodes) {
                CpuSet bad = pnodes;
                cpuset_andnot(&bad, &host->nodes);
                if (!cpuset_empty(&bad)) {
                        char b[64], h[64];
                        cpuset_format(&bad, b, sizeof(b));
                        cpuset_format(&host->nodes, h, sizeof(h));
                        return fail_msg(err, errlen, "<vmprep:hugepages nodes='%s'>: node %s has no memory on this host "
                                        "(nodes with memory: %s)", profile_attr(e, "nodes"), b, h);
                }
        }

        /* Slices: one per guest NUMA cell, or the whole VM. */
        size_t count = d->n_cells ? d->n_cells : 1;
        slices = calloc(count, sizeof(*slices));
        if (!slices)
                return fail_errno(err, errlen, -ENOMEM);
        n_slices = count;
        for (size_t i = 0; i < count; i++) {
                Slice *s = &slices[i];
                int cell = d->n_cells ? (int) d->cells[i].id : -1;
                s->kib = d->n_cells ? d->cells[i].memory_kib : d->memory_kib;
                if (cell >= 0)
                        snprintf(s->origin, sizeof(s->origin), "guest cell %d", cell);
                else
                        snprintf(s->origin, sizeof(s->origin), "the VM");
                r = page_size_for(d, cell, host, &s->size_kib, err, errlen);
                if (r < 0)
                        goto out;
                if (profile_size && profile_size != s->size_kib) {
                        char have[64];
                        format_size_kib(profile_size, want, sizeof(want));
                        format_size_kib(s->size_kib, have, sizeof(have));
                        size_xml(profile_size, buf, sizeof(buf));
                        r = fail_msg(err, errlen,
                                     "<vmprep:hugepages size='%s'>: the domain backs %s with %s pages, so QEMU would not "
                                     "use %s pages; make the domain say %s, or drop size= from the profile",
                                     profile_attr(e, "size"), s->origin, have, want, buf);
                        goto out;
                }

                /* Where: memnode for this cell, else numatune memory, else the profile, else any node. */
                const DomainMemnode *mn = NULL;
                for (size_t k = 0; cell >= 0 && k < d->n_memnodes; k++)
                        if (d->memnodes[k].cellid == (unsigned) cell)
                                mn = &d->memnodes[k];
                bool placed = false;
                if (mn) {
                        s->nodes = mn->nodeset;
                        s->mode = mn->mode;
                        placed = true;
                } else if (d->has_numatune && !d->numatune_auto) {
                        s->nodes = d->numatune_nodeset;
                        s->mode = d->numatune_mode;
                        placed = true;
                }
                if (placed && profile_nodes && !cpuset_equal(&s->nodes, &pnodes)) {
                        char a[64], b[64];
                        cpuset_format(&s->nodes, a, sizeof(a));
                        cpuset_format(&pnodes, b, sizeof(b));
                        r = fail_msg(err, errlen, "<vmprep:hugepages nodes='%s'>: the domain's <numatune> places %s on "
                                     "node(s) %s; drop nodes= from the profile or make them agree", b, s->origin, a);
                        goto out;
                }
                if (!placed) {
                        s->nodes = profile_nodes ? pnodes : host->nodes;
                        s->mode = "any";
                }
                CpuSet bad = s->nodes;
                cpuset_andnot(&bad, &host->nodes);
                if (!cpuset_empty(&bad)) {
                        char a[64], h[64];
                        cpuset_format(&bad, a, sizeof(a));
                        cpuset_format(&host->nodes, h, sizeof(h));
                        r = fail_msg(err, errlen, "<numatune> places %s on node %s, which has no memory on this host "
                                     "(nodes with memory: %s)", s->origin, a, h);
                        goto out;
                }
        }

        /* Pages: round each slice up to whole pages, spread evenly over its
         * nodes (interleave does exactly that; for a bind to several nodes
         * any of them may serve, so each gets its share). */
        for (size_t i = 0; i < n_slices; i++) {
                Slice *s = &slices[i];
                uint64_t pages = s->kib / s->size_kib + (s->kib % s->size_kib ? 1 : 0);
                unsigned k = cpuset_count(&s->nodes), idx = 0;
                for (int node = cpuset_next(&s->nodes, 0); node >= 0; node = cpuset_next(&s->nodes, (unsigned) node + 1)) {
                        uint64_t share = pages / k + (idx < pages % k ? 1 : 0);
                        idx++;
                        r = add_need(&needs, &n_needs, (unsigned) node, s->size_kib, share);
                        if (r < 0)
                                goto out;
                }
        }
        *ret = needs;
        *n = n_needs;
        needs = NULL;
out:
        free(needs);
        free(slices);
        return fail_errno(err, errlen, r);
}

/* The needs on this host, for the hooks: what is wrong, logged. */
static int derive_for_host(const Domain *d, const Profile *p, HugepageNeed **needs, size_t *n)
{
        HugepageHost host;
        char err[2048] = "";
        *needs = NULL;
        *n = 0;
        if (!d->hugepages && !profile_enabled(p, "hugepages"))
                return 0; /* nothing to do: do not even read the host */
        int r = hugepages_host_read(&host);
        if (r < 0)
                return r;
        return log_error_planned(hugepages_derive(d, p, &host, needs, n, err, sizeof(err)), err);
}

int hugepages_check(const Domain *d, const Profile *p)
{
        HugepageHost host;
        HugepageNeed *needs = NULL;
        Ledger l = { .lock_fd = -1 };
        size_t n = 0;
        int r = derive_for_host(d, p, &needs, &n);
        if (r < 0 || n == 0) {
                free(needs);
                return r;
        }
        r = hugepages_host_read(&host);
        if (r == 0)
                r = ledger_read(&l);
        if (r == -EBADMSG)
                ledger_report_damage(&l, "refusing the incoming migration");
        if (r < 0) {
                free(needs);
                return r;
        }
        size_t memory_nodes = 0;
        for (int node = cpuset_next(&host.nodes, 0); node >= 0; node = cpuset_next(&host.nodes, (unsigned) node + 1))
                memory_nodes++;
        for (size_t i = 0; i < n && r == 0; i++) {
                const HugepageNeed *need = &needs[i];
                char path[256], promise[128], size[32], mem[32];
                uint64_t cur = 0, free_now = 0;
                format_size_kib(need->size_kib, size, sizeof(size));
                hugepages_pool_path(need->node, need->size_kib, path, sizeof(path));
                if (sysfs_read_u64(path, &cur) < 0) {
                        r = log_error_errno(SYNTHETIC_ERRNO(ENOENT),
                                            "this host has no %s hugepage pool on node %u (%s is missing)", size,
                                            need->node, path);
                        break;
                }
                snprintf(path, sizeof(path), "/sys/devices/system/node/node%u/hugepages/hugepages-%llukB/free_hugepages",
                         need->node, (unsigned long long) need->size_kib);
                if (sysfs_read_u64(path, &free_now) < 0)
                        free_now = 0;
                snprintf(promise, sizeof(promise), "%s/%u/%llukB", POOL_PROMISE, need->node,
                         (unsigned long long) need->size_kib);
                int64_t promised = ledger_held(&l, promise, NULL);
                uint64_t pool_free = (int64_t) free_now > promised ? free_now - (uint64_t) promised : 0;
                uint64_t room_kib = hugepages_node_room_kib(need->node, memory_nodes);
                uint64_t can = pool_free + room_kib / need->size_kib;
                if (can >= need->pages)
                        continue;
                format_memory_kib(room_kib, mem, sizeof(mem));
                r = log_error_errno(SYNTHETIC_ERRNO(ENOMEM),
                                    "needs %llu x %s pages on node %u, and node %u has room for %llu: %llu free in the "
                                    "pool%s and %s of free or reclaimable memory",
                                    (unsigned long long) need->pages, size, need->node, need->node,
                                    (unsigned long long) can, (unsigned long long) pool_free,
                                    promised > 0 ? " not promised to a starting VM" : "", mem);
        }
        ledger_clear(&l);
        free(needs);
        return r;
}

static long elapsed_ms(const struct timespec *start)
{
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* Add need->pages to one node's pool through the journal. */
static int reserve_one(Journal *j, Ledger *l, const HugepageNeed *need, bool compact)
{
        char path[256], resource[128], old[32], target_s[32], size[32];
        uint64_t cur, got = 0;
        unsigned seq;
        int r;

        hugepages_pool_path(need->node, need->size_kib, path, sizeof(path));
        format_size_kib(need->size_kib, size, sizeof(size));
        r = sysfs_read_u64(path, &cur);
        if (r < 0)
                return log_error_errno(r, "this host has no %s hugepage pool on node %u (%s)", size, need->node, path);
        uint64_t target = cur + need->pages;

        /* A request larger than the machine's whole memory can never succeed:
         * say so rather than briefly taking all the host's free memory. */
        uint64_t total_kib = hugepages_machine_total_kib();
        if (total_kib && need->pages > total_kib / need->size_kib) {
                char want[32], have[32];
                format_memory_kib(need->pages * need->size_kib, want, sizeof(want));
                format_memory_kib(total_kib, have, sizeof(have));
                return log_error_errno(SYNTHETIC_ERRNO(ENOMEM),
                                       "cannot reserve %llu x %s pages (%s) on node %u: this machine has only %s of "
                                       "memory in all",
                                       (unsigned long long) need->pages, size, want, need->node, have);
        }
        res_hugepages(resource, sizeof(resource), need->node, (unsigned long long) need->size_kib);
        snprintf(old, sizeof(old), "%llu", (unsigned long long) cur);
        snprintf(target_s, sizeof(target_s), "%llu", (unsigned long long) target);

        journal_plan_why("%s needs %llu x %s pages on node %u", j->name, (unsigned long long) need->pages, size, need->node);
        /* the step, and the ledger's pending record saved with it: a
         * crash from here to journal_done is finished by the next hook
         * that takes the lock, from the pool's count itself */
        r = journal_begin_add(j, l, resource, path, old, target_s, &seq);
        if (r < 0)
                return r;

        /* A write that allocates fewer pages still succeeds: read back. */
        struct timespec start;
        clock_gettime(CLOCK_MONOTONIC, &start);
        r = sysfs_write_u64(path, target);
        int tries = 0;
        for (;;) {
                if (sysfs_read_u64(path, &got) < 0)
                        got = cur;
                if (journal_planning())
                        got = target; /* what the plan asks of the kernel */
                if (got >= target || r < 0 || !compact || tries >= COMPACT_TRIES || elapsed_ms(&start) > COMPACT_BUDGET_MS)
                        break;
                char cpath[128];
                snprintf(cpath, sizeof(cpath), "/sys/devices/system/node/node%u/compact", need->node);
                tries++;
                log_info("node %u: %llu of %llu more %s pages; compacting node %u (try %d)", need->node,
                         (unsigned long long) (got - cur), (unsigned long long) need->pages, size, need->node, tries);
                if (sysfs_write(cpath, "1") < 0 && sysfs_write("/proc/sys/vm/compact_memory", "1") < 0)
                        break;
                r = sysfs_write_u64(path, target);
        }
        /* EINVAL or ENOMEM from the write itself: nothing (more) was added. */
        char amount[32];
        snprintf(amount, sizeof(amount), "%llu", (unsigned long long) (got > cur ? got - cur : 0));
        int r2 = journal_done(j, l, seq, amount);
        if (r2 < 0)
                return r2;
        if (got >= target) {
                log_info("reserved %llu x %s pages on node %u: %s %llu -> %llu", (unsigned long long) need->pages,
                         size, need->node, path, (unsigned long long) cur, (unsigned long long) got);
                return 0;
        }

        /* Short: free pages the pool already had (1 GiB pages reserved at boot,
         * an administrator's pool) may cover the rest, unless other VMs that
         * are starting have been promised them. */
        uint64_t added = got > cur ? got - cur : 0, from_pool = need->pages - added, free_now = 0;
        char free_path[256], promise[128];
        snprintf(free_path, sizeof(free_path), "/sys/devices/system/node/node%u/hugepages/hugepages-%llukB/free_hugepages",
                 need->node, (unsigned long long) need->size_kib);
        snprintf(promise, sizeof(promise), "%s/%u/%llukB", POOL_PROMISE, need->node, (unsigned long long) need->size_kib);
        int64_t promised = ledger_held(l, promise, NULL);
        /* free_hugepages counts pages others have reserved but not yet
         * touched (a database's hugetlbfs buffers, a QEMU without
         * prealloc): not free for this VM.  The count is per size, for the
         * whole machine: all of it comes off this node's free pages. */
        char resv_path[128];
        uint64_t resv = 0;
        snprintf(resv_path, sizeof(resv_path), "/sys/kernel/mm/hugepages/hugepages-%llukB/resv_hugepages",
                 (unsigned long long) need->size_kib);
        if (sysfs_read_u64(resv_path, &resv) < 0)
                resv = 0;
        if (sysfs_read_u64(free_path, &free_now) == 0)
                free_now = free_now > resv + added ? free_now - resv : added;
        if (free_now >= added &&
            (int64_t) (free_now - added) - promised >= (int64_t) from_pool) {
                r = ledger_hold(l, j->uuid, promise, (int64_t) from_pool);
                if (r == 0)
                        r = ledger_save(l);
                if (r < 0)
                        return r;
                log_info("reserved %llu x %s pages on node %u: added %llu, and %llu of the %llu free pages the pool "
                         "already had (%s %llu -> %llu)", (unsigned long long) need->pages, size, need->node,
                         (unsigned long long) added, (unsigned long long) from_pool,
                         (unsigned long long) (free_now - added), path, (unsigned long long) cur,
                         (unsigned long long) got);
                return 0;
        }

        char mem[64], frag[512] = "", advice[256] = "";
        hugepages_node_free_memory(need->node, mem, sizeof(mem));
        hugepages_describe_fragmentation(need->node, need->size_kib, frag, sizeof(frag));
        /* the boot-time pool that would do: what the node has now plus what is missing */
        int64_t usable = (int64_t) free_now - (int64_t) added - promised;
        uint64_t missing = from_pool - (uint64_t) (usable > 0 ? usable : 0);
        if (need->size_kib >= 1024 * 1024)
                snprintf(advice, sizeof(advice), "; 1 GiB pages are rarely free at runtime: reserve them on this node "
                         "at boot with 'hugepagesz=1G hugepages=%u:%llu' on the kernel command line (or set aside "
                         "'hugetlb_cma=%lluG')", need->node, (unsigned long long) (cur + added + missing),
                         (unsigned long long) (need->pages * need->size_kib / (1024 * 1024)));
        if (r < 0 && got == cur)
                return log_error_errno(SYNTHETIC_ERRNO(-r),
                                       "cannot reserve %llu x %s pages on node %u: the kernel refused (%s)%s",
                                       (unsigned long long) need->pages, size, need->node, strerror(-r), advice);
        char reserved[160] = "";
        if (resv)
                snprintf(reserved, sizeof(reserved), "; %llu free %s pages are reserved by running programs",
                         (unsigned long long) resv, size);
        return log_error_errno(SYNTHETIC_ERRNO(ENOMEM),
                               "cannot reserve %llu x %s pages on node %u: got %llu%s; node %u has %s free%s%s%s",
                               (unsigned long long) need->pages, size, need->node, (unsigned long long) (got - cur),
                               tries ? " after compaction" : "", need->node, mem, reserved, frag, advice);
}

/* Drop what this VM was promised from existing pools; saves the ledger. */
static int drop_promises(Ledger *l, const char *uuid)
{
        bool changed = false;
        for (size_t i = l->n_holds; i-- > 0;) {
                LedgerHold *h = &l->holds[i];
                if (strcmp(h->uuid, uuid) != 0 || strncmp(h->resource, POOL_PROMISE "/", sizeof(POOL_PROMISE)) != 0)
                        continue;
                char res[128];
                snprintf(res, sizeof(res), "%s", h->resource);
                ledger_hold(l, uuid, res, -h->amount);
                changed = true;
        }
        return changed ? ledger_save(l) : 0;
}

/* Undo this VM's journal, if any, under the ledger lock that l holds.
 * A damaged ledger (l->damaged) cannot be written: the journal alone says
 * what this VM added, and exactly that is given back. */
static int release_locked(Ledger *l, const char *uuid, const char *name)
{
        int r = l->damaged ? 0 : drop_promises(l, uuid);
        if (r < 0)
                return r;
        return journal_release(l, uuid, CAP, name, NULL);
}

int hugepages_prepare(const Domain *d, const Profile *p)
{
        HugepageNeed *needs = NULL;
        size_t n = 0;
        Ledger l;
        Journal *j = NULL;
        int r;

        r = derive_for_host(d, p, &needs, &n);
        if (r < 0)
                return r;

        /* The ledger lock serialises the pools' read-modify-write across VMs. */
        r = journal_start(&l, d->uuid, d->name, CAP, "hugepages", release_locked);
        if (r < 0)
                goto out;
        if (n == 0)
                goto out;

        r = journal_open(d->uuid, CAP, d->name, true, &j);
        if (r < 0)
                goto out;
        bool compact = profile_attr_yes(profile_elem(p, "hugepages"), "compact", true);
        for (size_t i = 0; i < n; i++) {
                r = reserve_one(j, &l, &needs[i], compact);
                if (r < 0) {
                        /* Give back what this start added, then fail the start. */
                        journal_undo(j, &l);
                        goto out;
                }
        }
out:
        journal_close(j);
        ledger_unlock(&l);
        free(needs);
        return r;
}

int hugepages_release(const char *uuid, const char *name)
{
        Ledger l;
        bool had = journal_exists(uuid, CAP);
        int r = ledger_lock_release(&l, true);
        if (r < 0)
                return r;
        r = release_locked(&l, uuid, name);
        if (l.damaged && had)
                ledger_report_damage(&l, r < 0 ? "the pages above were not given back" :
                                     "gave back this VM's pages from its journal");
        ledger_unlock(&l);
        return r;
}

int hugepages_started(const Domain *d, const Profile *p)
{
        Ledger l;
        (void) p;
        int r = ledger_lock(&l);
        if (r < 0)
                return r;
        r = drop_promises(&l, d->uuid); /* QEMU has taken the pages now */
        ledger_unlock(&l);
        return r;
}

int hugepages_reconnect(const char *uuid)
{
        return journal_reconnect_check(uuid, CAP);
}
