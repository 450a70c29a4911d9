/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "vfio_impl.h"
#include "resource.h"

/* ---- pure helpers ---- */

int vfio_origin_encode(const char *driver, const char *override, char *buf, size_t size)
{
        if (strchr(driver, '/'))
                return -EINVAL;
        int n = snprintf(buf, size, "%s/%s", driver, override);
        return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : 0;
}

int vfio_origin_decode(const char *s, char *driver, size_t dsize, char *override, size_t osize)
{
        const char *slash = strchr(s, '/');
        if (!slash || (size_t) (slash - s) >= dsize || strlen(slash + 1) >= osize)
                return -EINVAL;
        memcpy(driver, s, (size_t) (slash - s));
        driver[slash - s] = '\0';
        snprintf(override, osize, "%s", slash + 1);
        if (driver[0] && !name_is_valid(driver))
                return -EINVAL;
        return 0;
}

/* Is word one of the blank-separated words of list? */
static bool word_listed(const char *list, const char *word, size_t len)
{
        while (*list) {
                list += strspn(list, " \t\n");
                size_t n = strcspn(list, " \t\n");
                if (n && n == len && strncmp(list, word, len) == 0)
                        return true;
                list += n;
        }
        return false;
}

int vfio_reset_method_check(const char *want, const char *offered, char *why, size_t size)
{
        const char *w = want;
        if (strcmp(want, "default") == 0)
                return 0;
        while (*w) {
                w += strspn(w, " ");
                size_t n = strcspn(w, " ");
                if (!n)
                        break;
                if (n == 7 && strncmp(w, "default", 7) == 0) {
                        snprintf(why, size, "'default' stands alone (it gives the device back every method the "
                                 "kernel found for it)");
                        return -EINVAL;
                }
                if (word_listed(w + n, w, n)) {
                        snprintf(why, size, "it names %.*s twice", (int) n, w);
                        return -EINVAL;
                }
                if (!word_listed(offered, w, n)) {
                        snprintf(why, size, "the device does not offer %.*s; its reset_method lists %s", (int) n, w,
                                 offered[0] ? offered : "none (every method turned off)");
                        return -EINVAL;
                }
                w += n;
        }
        return 0;
}

static Target *targets_find(Targets *ts, const PciAddress *a)
{
        for (size_t i = 0; i < ts->n; i++)
                if (pci_address_equal(&ts->t[i].dev.addr, a))
                        return &ts->t[i];
        return NULL;
}

static int targets_add(Targets *ts, const PciDevice *dev, bool direct, bool force, const char *origin)
{
        Target *t = targets_find(ts, &dev->addr);
        if (t) {
                t->direct |= direct;
                t->force |= force;
                if (direct)
                        snprintf(t->origin, sizeof(t->origin), "%s", origin);
                return 0;
        }
        t = realloc(ts->t, (ts->n + 1) * sizeof(*t));
        if (!t)
                return log_oom();
        ts->t = t;
        t = &ts->t[ts->n++];
        memset(t, 0, sizeof(*t));
        t->dev = *dev;
        t->direct = direct;
        t->force = force;
        snprintf(t->origin, sizeof(t->origin), "%s", origin);
        return 0;
}

const char *vfio_class_name(uint32_t cls)
{
        switch (cls >> 16) {
        case 0x01: return "storage controller";
        case 0x02: return "network controller";
        case 0x03: return "display controller";
        case 0x04: return "multimedia device";
        case 0x06: return "bridge";
        case 0x0c: return (cls >> 8) == 0x0c03 ? "USB controller" : "serial bus controller";
        default: return "device";
        }
}

/* ---- interlocks ---- */

void vfio_vm_name(const char *uuid, char *buf, size_t size)
{
        Journal *j = NULL;
        snprintf(buf, size, "%s", uuid);
        if (journal_open(uuid, CAP, NULL, false, &j) == 0) {
                if (j->name[0])
                        snprintf(buf, size, "%.100s (%s)", j->name, uuid);
                journal_close(j);
        }
}

/* ---- prepare ---- */

static int add_request(Targets *ts, const PciAddress *a, bool force, const char *origin, const Settings *set)
{
        bool fresh;
        PciDevice dev;
        char bdf[PCI_ADDRESS_STRLEN];
        int r;

        pci_address_format(a, bdf);
        r = vfio_device_read(a, &dev, &fresh);
        if (r == 0 && fresh)
                return targets_add(ts, &dev, true, force, origin); /* a VF is alone in its group */
        if (r == -ENOENT) {
                return log_error_errno(SYNTHETIC_ERRNO(ENODEV),
                                       "%s names %s, which this host does not have (no /sys/bus/pci/devices/%s)",
                                       origin, bdf, bdf);
        }
        if (r < 0)
                return log_error_errno(r, "cannot read PCI device %s", bdf);
        if (dev.iommu_group < 0) {
                return log_error_errno(SYNTHETIC_ERRNO(ENODEV),
                                       "%s (%s) has no IOMMU group: the IOMMU is off (intel_iommu=on / amd_iommu=on on "
                                       "the kernel command line) or the firmware has it disabled",
                                       bdf, origin);
        }
        r = targets_add(ts, &dev, true, force, origin);
        if (r < 0)
                return r;

        PciAddress *members = NULL;
        size_t n = 0;
        r = pci_group_members(dev.iommu_group, &members, &n);
        if (r < 0)
                return log_error_errno(r, "cannot list IOMMU group %d of %s", dev.iommu_group, bdf);
        for (size_t i = 0; i < n && r == 0; i++) {
                PciDevice m;
                if (pci_address_equal(&members[i], a))
                        continue;
                r = pci_device_read(&members[i], &m);
                if (r < 0) {
                        char mb[PCI_ADDRESS_STRLEN];
                        pci_address_format(&members[i], mb);
                        r = log_error_errno(r, "cannot read %s, in IOMMU group %d with %s", mb, dev.iommu_group, bdf);
                        break;
                }
                if (pci_device_is_bridge(&m))
                        continue; /* bridges stay with the host: VFIO allows them */
                if (set->whole_group) {
                        char why[96];
                        snprintf(why, sizeof(why), "in IOMMU group %d with %s", dev.iommu_group, bdf);
                        r = targets_add(ts, &m, false, force, why);
                } else if (m.driver[0] && strcmp(m.driver, STUB) != 0 && strcmp(m.driver, "pci-stub") != 0 &&
                           !targets_find(ts, &m.addr)) {
                        r = log_error_errno(SYNTHETIC_ERRNO(EBUSY),
                                            "cannot pass %s alone (group='device'): IOMMU group %d is not viable, its "
                                            "member %s (%s) is bound to %s; pass the whole group (group='whole') or "
                                            "name %s too",
                                            bdf, dev.iommu_group, m.bdf, vfio_class_name(m.class_), m.driver, m.bdf);
                }
        }
        free(members);
        return r;
}

static int collect(const Domain *d, const Profile *p, const Settings *set, Targets *ts)
{
        const ProfileElem *e = profile_elem(p, "vfio");
        int r = 0;

        for (size_t i = 0; i < d->n_hostdevs && r == 0; i++) {
                char origin[64], bdf[PCI_ADDRESS_STRLEN];
                pci_address_format(&d->hostdevs[i], bdf);
                snprintf(origin, sizeof(origin), "<hostdev> %s", bdf);
                bool force = false;
                for (size_t k = 0; e && k < e->n_children; k++) {
                        PciAddress a;
                        if (pci_address_parse(profile_attr(&e->children[k], "address"), &a) == 0 &&
                            pci_address_equal(&a, &d->hostdevs[i]))
                                force = profile_attr_yes(&e->children[k], "force", false);
                }
                r = add_request(ts, &d->hostdevs[i], force, origin, set);
        }
        for (size_t k = 0; e && k < e->n_children && r == 0; k++) {
                const ProfileElem *c = &e->children[k];
                PciAddress a;
                if (strcmp(c->name, "device") != 0 || pci_address_parse(profile_attr(c, "address"), &a) < 0)
                        continue;
                char origin[96];
                snprintf(origin, sizeof(origin), "<vmprep:device address='%s'>", profile_attr(c, "address"));
                r = add_request(ts, &a, profile_attr_yes(c, "force", false), origin, set);
        }
        return r;
}

/*
 * Who gets which reset-method: a <vmprep:device>'s own for that device,
 * else <vmprep:vfio>'s for every device the VM is given (named by a
 * <hostdev>, an <interface type='hostdev'> or a <vmprep:device>).  Not for
 * the members of its IOMMU group that only come along to make the group
 * viable: the VM does not get them (a <vmprep:device> for one gives it).
 */
static void reset_wanted(const ProfileElem *e, Targets *ts)
{
        const char *all = profile_attr(e, "reset-method");
        for (size_t i = 0; i < ts->n; i++) {
                Target *t = &ts->t[i];
                t->reset = NULL;
                if (!t->direct)
                        continue;
                for (size_t k = 0; e && k < e->n_children; k++) {
                        const ProfileElem *c = &e->children[k];
                        const char *v = profile_attr(c, "reset-method"), *addr = profile_attr(c, "address");
                        PciAddress a;
                        if (v && strcmp(c->name, "device") == 0 && pci_address_parse(addr, &a) == 0 &&
                            pci_address_equal(&a, &t->dev.addr)) {
                                t->reset = v;
                                snprintf(t->reset_origin, sizeof(t->reset_origin),
                                         "<vmprep:device address='%s' reset-method='%s'>", addr, v);
                        }
                }
                if (!t->reset && all) {
                        t->reset = all;
                        snprintf(t->reset_origin, sizeof(t->reset_origin), "<vmprep:vfio reset-method='%s'>", all);
                }
        }
}

/* Single-GPU: a GPU the host display runs on is freed by stopping the
 * display first (single-gpu='auto': the boot GPU with fbcon or open device
 * nodes; 'on': any GPU passed). */
static bool needs_display(const Targets *ts, const Settings *set)
{
        for (size_t i = 0; i < ts->n; i++) {
                const PciDevice *dev = &ts->t[i].dev;
                char vt[32], who[768];
                UnitsToStop stop = { .n = 0 };
                if ((dev->class_ >> 16) != PCI_CLASS_DISPLAY || strcmp(dev->driver, STUB) == 0 ||
                    strcmp(set->single_gpu, "off") == 0)
                        continue;
                /* (a service vmprep stops anyway, nvidia-persistenced, is no display) */
                if (strcmp(set->single_gpu, "on") == 0 ||
                    (dev->boot_vga && (display_fbcon_bound(vt, sizeof(vt)) ||
                                       vfio_holders_sort(dev, set->holders, who, sizeof(who), &stop) != 0)))
                        return true;
        }
        return false;
}

static Settings settings_of(const Profile *p, HolderPolicy *holders)
{
        const ProfileElem *e = profile_elem(p, "vfio");
        *holders = (HolderPolicy){ .stop_services = e ? profile_attr(e, "stop-services") : NULL };
        return (Settings){
                .whole_group = !e || !profile_attr(e, "group") || strcmp(profile_attr(e, "group"), "whole") == 0,
                .force_all = profile_attr_yes(e, "force", false),
                .single_gpu = e && profile_attr(e, "single-gpu") ? profile_attr(e, "single-gpu") : "auto",
                .holders = holders,
        };
}

/* Wait, bounded, for /dev/vfio/N of every group moved. */
static int wait_groups(const Targets *ts)
{
        struct timespec start, now, pause = { 0, 5 * 1000 * 1000 };
        if (journal_planning())
                return 0; /* nothing was bound */
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (size_t i = 0; i < ts->n; i++) {
                char path[64];
                snprintf(path, sizeof(path), "/dev/vfio/%d", ts->t[i].dev.iommu_group);
                for (;;) {
                        if (sysfs_exists(path))
                                break;
                        clock_gettime(CLOCK_MONOTONIC, &now);
                        long ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
                        if (ms > VFIO_DEV_WAIT_MS) {
                                return log_error_errno(SYNTHETIC_ERRNO(ETIMEDOUT),
                                                       "%s did not appear within %d s after binding IOMMU group %d "
                                                       "(%s) to " STUB "; is every device of the group on " STUB "?",
                                                       path, VFIO_DEV_WAIT_MS / 1000, ts->t[i].dev.iommu_group,
                                                       ts->t[i].dev.bdf);
                        }
                        nanosleep(&pause, NULL);
                }
        }
        return 0;
}

/* Drop this VM's device holds whose binding is no longer live. */
static void drop_holds(Ledger *l, const char *uuid, const Journal *j)
{
        for (size_t i = l->n_holds; i-- > 0;) {
                LedgerHold *h = &l->holds[i];
                if (strcmp(h->uuid, uuid) != 0 || strncmp(h->resource, "pci/", 4) != 0)
                        continue;
                bool live = false;
                for (size_t k = 0; j && k < j->n_steps; k++)
                        if (!j->steps[k].undone && strcmp(j->steps[k].resource, h->resource) == 0)
                                live = true;
                if (!live) {
                        char res[128];
                        snprintf(res, sizeof(res), "%s", h->resource);
                        ledger_hold(l, uuid, res, -h->amount);
                }
        }
}

/* Undo this VM's journal (if any) and its holds, under the ledger lock.
 * counts_left (may be NULL): the journal was read, and what its undo left
 * is only VF counts others' use keeps raised (sriov_only_counts_left). */
static int release_locked(Ledger *l, const char *uuid, const char *name, bool quiet, bool *counts_left)
{
        Journal *j = NULL;
        int r = journal_open(uuid, CAP, name, false, &j);

        if (r == -ENOENT) {
                r = sriov_end_release(l, uuid, NULL);
                drop_holds(l, uuid, NULL);
                int r2 = ledger_save(l);
                return r < 0 ? r : r2;
        }
        if (r < 0)
                return r;
        if (!quiet)
                log_info("giving back the PCI devices of %s", j->name[0] ? j->name : uuid);
        r = journal_undo(j, l);
        if (counts_left)
                *counts_left = sriov_only_counts_left(j);
        int r1 = sriov_end_release(l, uuid, j);
        if (r == 0)
                r = r1;
        drop_holds(l, uuid, j);
        int r2 = ledger_save(l);
        journal_close(j);
        return r < 0 ? r : r2;
}

/* A VF count left raised because others use its VFs now stays in the
 * journal: the start goes on with it, and its release gives the count back
 * once they are free. */
static int finish_leftover(Ledger *l, const char *uuid, const char *name)
{
        bool counts_left = false; /* stays false for a journal that cannot be read: said once, and refused */
        int r = release_locked(l, uuid, name, true, &counts_left);
        return r < 0 && !counts_left ? r : 0;
}

int vfio_prepare(const Domain *d, const Profile *p)
{
        const ProfileElem *e = profile_elem(p, "vfio");
        HolderPolicy holders;
        Settings set = settings_of(p, &holders);
        Targets ts = { NULL, 0 };
        Journal *j = NULL;
        Ledger l;
        int r;

        r = journal_start(&l, d->uuid, d->name, CAP, "vfio", finish_leftover);
        if (r < 0)
                return r;
        bool any_sriov = profile_any_enabled(p, "sriov");
        if (!profile_enabled(p, "vfio") && !any_sriov)
                goto out;

        /* Nothing to move, nothing to create: no journal either. */
        if (!any_sriov) {
                r = collect(d, p, &set, &ts);
                if (r < 0 || ts.n == 0)
                        goto out;
        }
        r = journal_open(d->uuid, CAP, d->name, true, &j);
        if (r < 0)
                goto out;
        if (any_sriov) {
                /* VFs first: the domain's hostdevs may be VFs that do not exist yet */
                r = sriov_prepare(j, &l, d, p);
                if (r == 0 && profile_enabled(p, "vfio"))
                        r = collect(d, p, &set, &ts);
        }
        bool display = r == 0 && needs_display(&ts, &set);
        RunningVm *vms = NULL;
        size_t n_vms = 0;
        if (r == 0 && ts.n)
                vfio_running_load(d->uuid, &vms, &n_vms);
        for (size_t i = 0; i < ts.n && r == 0; i++)
                r = vfio_check_interlocks(&ts.t[i], &set, &l, d->uuid, vms, n_vms, display);
        running_vms_free(vms, n_vms);
        if (r == 0)
                reset_wanted(e, &ts);
        for (size_t i = 0; i < ts.n && r == 0; i++)
                r = vfio_check_reset(&ts.t[i]);
        if (r < 0)
                goto fail;
        /* Hold every device before touching any: a second VM's prepare,
         * serialised behind this lock, sees them taken. */
        for (size_t i = 0; i < ts.n && r == 0; i++) {
                char res[64];
                res_pci(res, sizeof(res), ts.t[i].dev.bdf);
                if (ledger_held(&l, res, d->uuid) == 0)
                        r = ledger_hold(&l, d->uuid, res, 1);
                /* a VF: this VM uses its PF's VFs, so a VM that raised the
                 * count and stops first hands its restore to this one */
                if (r == 0 && ts.t[i].dev.is_vf) {
                        char pf[PCI_ADDRESS_STRLEN];
                        pci_address_format(&ts.t[i].dev.physfn, pf);
                        res_sriov(res, sizeof(res), pf);
                        if (ledger_held(&l, res, d->uuid) == 0)
                                r = ledger_hold(&l, d->uuid, res, 1);
                }
        }
        if (r == 0)
                r = ledger_save(&l);
        if (r < 0)
                goto fail;

        if (display) {
                log_info("the GPU drives the host display: taking the display down first (single-gpu='%s')",
                         set.single_gpu);
                r = display_release_gpu(j, set.force_all);
        }
        if (ts.n && r == 0)
                r = vfio_free_device_nodes(j, &ts, &set, display);
        if (ts.n && r == 0)
                r = vfio_ensure_stub_driver();
        for (size_t i = 0; i < ts.n && r == 0; i++)
                r = vfio_bind_one(j, &ts.t[i]);
        for (size_t i = 0; i < ts.n && r == 0; i++)
                r = vfio_set_reset_method(j, &ts.t[i]);
        if (r == 0 && ts.n && profile_enabled(p, "vfio") && profile_attr(e, "unload-modules"))
                r = vfio_unload_modules(j, profile_attr(e, "unload-modules"));
        if (r == 0)
                r = wait_groups(&ts);
        if (r == 0)
                goto out;
fail:
        /* Give back what this start moved, then fail the start. */
        if (journal_undo(j, &l) < 0)
                log_warning("could not give back every device moved by this start (see above); release will try again");
        sriov_end_release(&l, d->uuid, j);
        drop_holds(&l, d->uuid, j);
        ledger_save(&l);
out:
        journal_close(j);
        ledger_unlock(&l);
        free(ts.t);
        return r;
}

int vfio_release(const char *uuid, const char *name)
{
        Ledger l;
        int r = ledger_lock_release(&l, false);
        if (r < 0)
                return r;
        r = release_locked(&l, uuid, name, false, NULL);
        ledger_unlock(&l);
        return r;
}

int vfio_reconnect(const char *uuid)
{
        return journal_reconnect_check(uuid, CAP);
}
