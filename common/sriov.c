/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "sriov_impl.h"
#include "resource.h"

/* vmprep plan: the PFs whose VFs this prepare re-creates */
#define PLANNED_MAX 16
static struct {
        PciAddress pf;
        unsigned want;
        bool autoprobe;
} planned[PLANNED_MAX];

void sriov_pf_path(const PciAddress *pf, const char *file, char *buf, size_t size)
{
        pci_device_path(pf, file, buf, size);
}

/* Set the PF to count VFs with autoprobe, in the only order the kernel
 * takes: autoprobe first (it decides whether new VFs get a driver), then
 * sriov_numvfs through 0.  Reads the count back. */
static int set_numvfs(const PciAddress *pf, unsigned count, const char *autoprobe)
{
        char path[256], buf[32];
        uint64_t cur;
        int r;

        sriov_pf_path(pf, "sriov_drivers_autoprobe", path, sizeof(path));
        if (sysfs_read(path, buf, sizeof(buf)) >= 0 && strcmp(buf, autoprobe) != 0) {
                r = sysfs_write(path, autoprobe);
                if (r < 0)
                        return r;
        }
        sriov_pf_path(pf, "sriov_numvfs", path, sizeof(path));
        r = sysfs_read_u64(path, &cur);
        if (r < 0)
                return r;
        if (cur == count)
                return 0;
        if (cur != 0) {
                r = sysfs_write(path, "0");
                if (r < 0)
                        return r;
        }
        if (count) {
                r = sysfs_write_u64(path, count);
                if (r < 0)
                        return r;
        }
        if (sysfs_dry_run())
                return 0; /* vmprep plan: nothing was written */
        r = sysfs_read_u64(path, &cur);
        if (r < 0)
                return r;
        return cur == count ? 0 : -EIO;
}

static int parse_pf_path(const char *path, const char *file, PciAddress *pf)
{
        static const char prefix[] = "/sys/bus/pci/devices/";
        char bdf[PCI_ADDRESS_STRLEN + 1];
        if (strncmp(path, prefix, sizeof(prefix) - 1) != 0)
                return -EINVAL;
        const char *p = path + sizeof(prefix) - 1;
        const char *slash = strchr(p, '/');
        if (!slash || (size_t) (slash - p) >= sizeof(bdf) || strncmp(slash + 1, file, strlen(file)) != 0)
                return -EINVAL;
        memcpy(bdf, p, (size_t) (slash - p));
        bdf[slash - p] = '\0';
        return pci_address_parse(bdf, pf);
}

static int parse_origin(const char *old, uint64_t *count, char autoprobe[2])
{
        const char *slash = strchr(old, '/');
        char num[32];
        if (!slash || (size_t) (slash - old) >= sizeof(num) || (strcmp(slash + 1, "0") != 0 && strcmp(slash + 1, "1") != 0))
                return -EINVAL;
        memcpy(num, old, (size_t) (slash - old));
        num[slash - old] = '\0';
        autoprobe[0] = slash[1];
        autoprobe[1] = '\0';
        return parse_u64(num, 0, 65535, count);
}

/* Give the PF back its count and autoprobe, unless a VF that would go is
 * in use now (someone took one while the VM ran): then the count stays,
 * the error says who kept it, and the journal step stays for the next
 * release or `vmprep reconcile`. */
static int restore_pf(const PciAddress *pf, uint64_t count, const char *autoprobe, const char *uuid, const Ledger *l)
{
        char bdf[PCI_ADDRESS_STRLEN], path[256], users[4096];
        uint64_t cur;
        pci_address_format(pf, bdf);
        sriov_pf_path(pf, "sriov_numvfs", path, sizeof(path));
        if (sysfs_read_u64(path, &cur) == 0 && cur != count && cur > 0) {
                /* own: the VFs the count made come up on the PF's VF driver with
                 * autoprobe on and go back there from the VM; that alone is
                 * no use (an address, a route, a holder, a VM still is) */
                int n = sriov_pf_users(uuid, l, pf, (unsigned) cur, NULL, true, users, sizeof(users));
                if (n < 0)
                        return log_error_errno(n, "leaving %s at %llu VFs: cannot tell whether they are in use", bdf,
                                               (unsigned long long) cur);
                if (n > 0) {
                        return log_error_errno(SYNTHETIC_ERRNO(EBUSY),
                                               "leaving %s at %llu VFs instead of giving it back its %llu: "
                                               "sriov_numvfs changes only through 0, which would remove VFs in use: "
                                               "%s; the next release or `vmprep reconcile` gives the count back once "
                                               "they are free",
                                               bdf, (unsigned long long) cur, (unsigned long long) count, users);
                }
        }
        int r = set_numvfs(pf, (unsigned) count, autoprobe);
        if (r < 0)
                return log_error_errno(r, "cannot give %s back its %llu VFs (sriov_drivers_autoprobe %s)", bdf,
                                       (unsigned long long) count, autoprobe);
        log_info("gave %s back its %llu VFs (sriov_drivers_autoprobe %s)", bdf, (unsigned long long) count, autoprobe);
        return 0;
}

/* Undo of "numvfs": the previous count and autoprobe, unless another
 * running VM still has VFs of the PF; then the duty goes to it. */
int sriov_undo_numvfs(const JournalStep *s, const UndoContext *ctx)
{
        PciAddress pf;
        uint64_t count;
        char autoprobe[2], bdf[PCI_ADDRESS_STRLEN];

        if (parse_pf_path(s->path, "sriov_numvfs", &pf) < 0 || parse_origin(s->old, &count, autoprobe) < 0) {
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "journal step %u: '%s' '%s' is not a VF count", s->seq,
                                       s->path, s->old);
        }
        pci_address_format(&pf, bdf);
        char other[UUID_STRLEN];
        if (ctx->uuid && sriov_other_holder(ctx->ledger, bdf, ctx->uuid, other)) {
                char res[128];
                snprintf(res, sizeof(res), "sriov-restore/%s/%llu/%s", bdf, (unsigned long long) count, autoprobe);
                int r = ledger_hold(ctx->ledger, other, res, 1);
                if (r == 0)
                        r = ledger_save(ctx->ledger);
                if (r < 0)
                        return r;
                log_info("leaving %s's VFs to VM %s, which still uses them; it restores %llu VFs when it stops", bdf,
                         other, (unsigned long long) count);
                return 0;
        }
        return restore_pf(&pf, count, autoprobe, ctx->uuid, ctx->ledger);
}

/* Undo of "vf": the VF's previous settings, if the VF still exists. */
int sriov_undo_vf(const JournalStep *s, const UndoContext *ctx)
{
        (void) ctx; /* the step alone says what to give back */
        PciAddress pf;
        unsigned vf;
        char ifname[32], bdf[PCI_ADDRESS_STRLEN];
        VfConfig old;
        const char *v = strrchr(s->path, '/');

        if (parse_pf_path(s->path, "virtfn", &pf) < 0 || !v || sscanf(v, "/virtfn%u", &vf) != 1 ||
            netvf_parse(s->old, &old) < 0) {
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "journal step %u: '%s' '%s' is not a VF setting",
                                       s->seq, s->path, s->old);
        }
        pci_address_format(&pf, bdf);
        PciAddress a;
        if (pci_device_virtfn(&pf, vf, &a) < 0)
                return 0; /* gone with its PF's VFs: nothing to give back */
        int r = netvf_pf_ifname(&pf, ifname, sizeof(ifname));
        if (r == 0)
                r = netvf_set(&pf, ifname, vf, &old);
        if (r < 0)
                return log_error_errno(r, "cannot give VF %u of %s back its settings (%s)", vf, bdf, s->old);
        log_info("gave VF %u of %s back its settings: %s", vf, bdf, s->old);
        return 0;
}

int sriov_end_release(Ledger *l, const char *uuid, const Journal *j)
{
        int first = 0;

        /* holds on PFs whose steps are all undone */
        for (size_t i = l->n_holds; i-- > 0;) {
                LedgerHold *h = &l->holds[i];
                if (strcmp(h->uuid, uuid) != 0 || strncmp(h->resource, "sriov/", 6) != 0)
                        continue;
                bool live = false;
                for (size_t k = 0; j && k < j->n_steps; k++)
                        if (!j->steps[k].undone && strncmp(j->steps[k].resource, h->resource, strlen(h->resource)) == 0)
                                live = true;
                if (!live) {
                        char res[128];
                        snprintf(res, sizeof(res), "%s", h->resource);
                        ledger_hold(l, uuid, res, -h->amount);
                }
        }
        /* restores handed to this VM by one that stopped before it */
        for (size_t i = l->n_holds; i-- > 0;) {
                LedgerHold *h = &l->holds[i];
                char res[128], bdf[PCI_ADDRESS_STRLEN + 1], autoprobe[4];
                unsigned long long count;
                PciAddress pf;
                if (strcmp(h->uuid, uuid) != 0 || strncmp(h->resource, "sriov-restore/", 14) != 0)
                        continue;
                snprintf(res, sizeof(res), "%s", h->resource);
                int64_t amount = h->amount;
                if (sscanf(res, "sriov-restore/%12[0-9a-f:.]/%llu/%1[01]", bdf, &count, autoprobe) != 3 ||
                    pci_address_parse(bdf, &pf) < 0) {
                        ledger_hold(l, uuid, res, -amount);
                        continue;
                }
                char other[UUID_STRLEN];
                if (sriov_other_holder(l, bdf, uuid, other)) {
                        ledger_hold(l, other, res, 1);
                } else {
                        int r = restore_pf(&pf, count, autoprobe, uuid, l);
                        if (r < 0) {
                                if (!first)
                                        first = r;
                                continue; /* keep the duty: the next release tries again */
                        }
                }
                ledger_hold(l, uuid, res, -amount);
        }
        return first;
}

/* ---- prepare ---- */

static int vf_config_from(const ProfileElem *c, VfConfig *ret, char *err, size_t errlen)
{
        VfConfig v = { .trust = -1, .spoofchk = -1 };
        const char *s;
        uint64_t n;
        char line[128];

        if ((s = profile_attr(c, "mac"))) {
                snprintf(line, sizeof(line), "mac=%s", s);
                VfConfig m;
                for (char *p = line; *p; p++)
                        if (*p >= 'A' && *p <= 'F')
                                *p = (char) (*p - 'A' + 'a');
                if (netvf_parse(line, &m) < 0) {
                        snprintf(err, errlen, "mac='%s' is not a MAC address", s);
                        return -EINVAL;
                }
                v.has_mac = true;
                memcpy(v.mac, m.mac, 6);
        }
        if ((s = profile_attr(c, "vlan"))) {
                if (parse_u64(s, 0, 4095, &n) < 0) {
                        snprintf(err, errlen, "vlan='%s' is not a VLAN ID", s);
                        return -EINVAL;
                }
                v.has_vlan = true;
                v.vlan = (unsigned) n;
        }
        if ((s = profile_attr(c, "qos"))) {
                if (parse_u64(s, 0, 255, &n) < 0) {
                        snprintf(err, errlen, "qos='%s' is not a priority", s);
                        return -EINVAL;
                }
                if (!v.has_vlan) {
                        snprintf(err, errlen, "qos='%s' without a vlan: the priority travels in the VLAN tag", s);
                        return -EINVAL;
                }
                v.qos = (unsigned) n;
        }
        if ((s = profile_attr(c, "trust")))
                v.trust = strcmp(s, "on") == 0;
        if ((s = profile_attr(c, "spoofchk")))
                v.spoofchk = strcmp(s, "on") == 0;
        *ret = v;
        return netvf_validate(&v, err, errlen);
}

static bool same(const VfConfig *want, const VfConfig *got)
{
        return (!want->has_mac || (got->has_mac && !memcmp(want->mac, got->mac, 6))) &&
               (!want->has_vlan || (got->has_vlan && want->vlan == got->vlan && want->qos == got->qos)) &&
               (want->trust < 0 || want->trust == got->trust) && (want->spoofchk < 0 || want->spoofchk == got->spoofchk);
}

static int apply_vf(Journal *j, const PciAddress *pf, const char *bdf, const char *ifname, const ProfileElem *c,
                    bool created)
{
        char err[256], old[160], new_[160], path[256], res[64];
        uint64_t index;
        VfConfig want, cur, got;
        unsigned seq;
        int r;

        if (parse_u64(profile_attr(c, "index"), 0, 65535, &index) < 0)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "<vmprep:sriov pf='%s'><vmprep:vf index='%s'>: not a VF index", bdf,
                                       profile_attr(c, "index"));
        r = vf_config_from(c, &want, err, sizeof(err));
        if (r < 0) {
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "<vmprep:sriov pf='%s'><vmprep:vf index='%llu'>: %s",
                                       bdf, (unsigned long long) index, err);
        }
        if (created && journal_planning())
                netvf_fresh(&cur), r = 0; /* vmprep plan: the VFs it creates do not exist yet */
        else
                r = netvf_get(pf, ifname, (unsigned) index, &cur);
        if (r < 0) {
                return log_error_errno(r, "cannot read VF %llu of %s (%s)", (unsigned long long) index, bdf, ifname);
        }
        if (same(&want, &cur))
                return 0;
        /* journal the fields this step changes, as they are now */
        VfConfig before = { .trust = -1, .spoofchk = -1 };
        if (want.has_mac) {
                before.has_mac = true;
                memcpy(before.mac, cur.mac, 6);
        }
        if (want.has_vlan) {
                before.has_vlan = true;
                before.vlan = cur.vlan;
                before.qos = cur.qos;
        }
        if (want.trust >= 0)
                before.trust = cur.trust;
        if (want.spoofchk >= 0)
                before.spoofchk = cur.spoofchk;
        netvf_format(&before, old, sizeof(old));
        netvf_format(&want, new_, sizeof(new_));
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/virtfn%llu", bdf, (unsigned long long) index);
        res_sriov_vf(res, sizeof(res), bdf, (unsigned long long) index);
        journal_plan_why("link %s, VF %llu: %s over netlink", ifname, (unsigned long long) index, new_);
        r = journal_begin_custom(j, "vf", res, path, old, new_, &seq);
        if (r < 0)
                return r;
        r = netvf_set(pf, ifname, (unsigned) index, &want);
        if (r == 0 && journal_planning())
                got = want; /* nothing was set: nothing to read back */
        else if (r == 0)
                r = netvf_get(pf, ifname, (unsigned) index, &got);
        if (r < 0) {
                return log_error_errno(r, "cannot set VF %llu of %s (%s) to %s", (unsigned long long) index, bdf,
                                       ifname, new_);
        }
        if (!same(&want, &got)) {
                char now[160];
                netvf_format(&got, now, sizeof(now));
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "set VF %llu of %s (%s) to %s, but it reads back %s",
                                       (unsigned long long) index, bdf, ifname, new_, now);
        }
        log_info("VF %llu of %s (%s): %s", (unsigned long long) index, bdf, ifname, new_);
        return journal_done(j, NULL, seq, new_);
}

/* What prepare does with one <vmprep:sriov>. */
typedef struct PfDecision {
        PciAddress pf;
        char bdf[PCI_ADDRESS_STRLEN];
        int have;               /* sriov_numvfs now */
        uint64_t want;
        bool raise;             /* through 0 to want; else the VFs there are */
} PfDecision;

/* The VFs of the PF this VM asks for by index (<vmprep:vf index=>) or
 * takes as a device (<hostdev>/<interface type='hostdev'> on a virtfnN). */
static bool *asked_vfs(const Domain *d, const ProfileElem *e, const PciAddress *pf, unsigned have)
{
        bool *asked = calloc(have ? have : 1, sizeof(*asked));
        if (!asked)
                return NULL;
        for (size_t k = 0; k < e->n_children; k++) {
                uint64_t idx;
                if (parse_u64(profile_attr(&e->children[k], "index"), 0, 65535, &idx) == 0 && idx < have)
                        asked[idx] = true;
        }
        for (unsigned i = 0; i < have; i++) {
                PciAddress vf;
                if (pci_device_virtfn(pf, i, &vf) < 0)
                        continue;
                for (size_t k = 0; k < d->n_hostdevs; k++)
                        asked[i] |= pci_address_equal(&d->hostdevs[k], &vf);
        }
        return asked;
}

/*
 * Validate one <vmprep:sriov>, count the VFs it needs and decide: fewer
 * there than needed → raise the count, only when no VF is in use; enough
 * there → use them without writing sriov_numvfs, only when the VFs this VM
 * asks for are free.  Refusals name each VF in use and its user; logged,
 * -errno.  For prepare and `vmprep plan` alike.
 */
static int pf_decide(const Domain *d, const Ledger *l, const ProfileElem *e, PfDecision *ret)
{
        const char *pfs = profile_attr(e, "pf");
        char users[4096];
        PfDecision pd = { 0 };
        PciDevice dev;
        int r;

        if (pci_address_parse(pfs, &pd.pf) < 0)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "<vmprep:sriov pf='%s'>: not a PCI address", pfs);
        pci_address_format(&pd.pf, pd.bdf);
        r = pci_device_read(&pd.pf, &dev);
        if (r == -ENOENT) {
                return log_error_errno(SYNTHETIC_ERRNO(ENODEV),
                                       "<vmprep:sriov pf='%s'>: this host has no PCI device %s", pfs, pd.bdf);
        }
        if (r < 0)
                return log_error_errno(r, "cannot read %s", pd.bdf);
        if (dev.sriov_totalvfs < 0) {
                return log_error_errno(SYNTHETIC_ERRNO(ENODEV),
                                       "<vmprep:sriov pf='%s'>: %s has no SR-IOV capability (no sriov_totalvfs)", pfs,
                                       pd.bdf);
        }
        /* How many VFs: vfs= when given (every <vmprep:vf> must be below it),
         * else enough for the highest <vmprep:vf index>. */
        bool counted = profile_attr(e, "vfs") != NULL;
        if (counted)
                parse_u64(profile_attr(e, "vfs"), 0, 65535, &pd.want);
        for (size_t k = 0; k < e->n_children; k++) {
                uint64_t idx;
                if (parse_u64(profile_attr(&e->children[k], "index"), 0, 65535, &idx) < 0)
                        continue;
                if (!counted && idx + 1 > pd.want)
                        pd.want = idx + 1;
                if (counted && idx >= pd.want) {
                        return log_error_errno(SYNTHETIC_ERRNO(ENODEV),
                                               "<vmprep:sriov pf='%s' vfs='%llu'><vmprep:vf index='%llu'>: there is no "
                                               "such VF (VFs are numbered 0-%llu)",
                                               pfs, (unsigned long long) pd.want, (unsigned long long) idx,
                                               (unsigned long long) (pd.want ? pd.want - 1 : 0));
                }
        }
        if (pd.want > (uint64_t) dev.sriov_totalvfs) {
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "<vmprep:sriov pf='%s' vfs='%llu'>: %s supports at most %d VFs (sriov_totalvfs)",
                                       pfs, (unsigned long long) pd.want, pd.bdf, dev.sriov_totalvfs);
        }
        pd.have = dev.sriov_numvfs;
        pd.raise = (uint64_t) pd.have < pd.want;
        if (pd.raise) {
                r = sriov_pf_users(d->uuid, l, &pd.pf, (unsigned) pd.have, NULL, false, users, sizeof(users));
                if (r > 0) {
                        return log_error_errno(SYNTHETIC_ERRNO(EBUSY),
                                               "cannot raise the VF count of %s from %d to %llu: sriov_numvfs changes "
                                               "only through 0, which would remove VFs in use: %s",
                                               pd.bdf, pd.have, (unsigned long long) pd.want, users);
                }
        } else {
                bool *asked = asked_vfs(d, e, &pd.pf, (unsigned) pd.have);
                if (!asked)
                        return log_oom();
                r = sriov_pf_users(d->uuid, l, &pd.pf, (unsigned) pd.have, asked, true, users, sizeof(users));
                free(asked);
                if (r > 0) {
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "cannot give %s the VFs of %s it asks for: %s",
                                               d->name, pd.bdf, users);
                }
        }
        if (r < 0)
                return log_error_errno(r, "cannot tell who uses the VFs of %s", pd.bdf);
        *ret = pd;
        return 0;
}
static size_t n_planned;

static int prepare_pf(Journal *j, Ledger *l, const Domain *d, const ProfileElem *e)
{
        const char *pfs = profile_attr(e, "pf");
        char res[64], path[256], ap[8] = "1", ifname[32];
        PfDecision pd;
        int r;

        r = pf_decide(d, l, e, &pd);
        if (r < 0)
                return r;
        const char *bdf = pd.bdf;
        res_sriov(res, sizeof(res), bdf);
        if (ledger_held(l, res, d->uuid) == 0) {
                r = ledger_hold(l, d->uuid, res, 1);
                if (r == 0)
                        r = ledger_save(l);
                if (r < 0)
                        return r;
        }

        const char *autoprobe = profile_attr_yes(e, "autoprobe", false) ? "1" : "0";
        sriov_pf_path(&pd.pf, "sriov_drivers_autoprobe", path, sizeof(path));
        sysfs_read(path, ap, sizeof(ap));
        if (pd.raise) {
                char old[40], new_[24];
                unsigned seq;
                snprintf(old, sizeof(old), "%d/%s", pd.have, strcmp(ap, "0") == 0 ? "0" : "1");
                snprintf(new_, sizeof(new_), "%llu", (unsigned long long) pd.want);
                sriov_pf_path(&pd.pf, "sriov_numvfs", path, sizeof(path));
                journal_plan_why("%s needs %llu VFs of %s (had %d; through 0, sriov_drivers_autoprobe %s)", d->name,
                                 (unsigned long long) pd.want, bdf, pd.have, autoprobe);
                r = journal_begin_custom(j, "numvfs", res, path, old, new_, &seq);
                if (r < 0)
                        return r;
                if (journal_planning() && n_planned < PLANNED_MAX)
                        planned[n_planned++] = (typeof(planned[0])){ pd.pf, (unsigned) pd.want, autoprobe[0] == '1' };
                r = set_numvfs(&pd.pf, (unsigned) pd.want, autoprobe);
                if (r < 0) {
                        return log_error_errno(r, "cannot give %s %llu VFs (it had %d)", bdf,
                                               (unsigned long long) pd.want, pd.have);
                }
                r = journal_done(j, NULL, seq, new_);
                if (r < 0)
                        return r;
                log_info("created %llu VFs on %s (had %d; sriov_drivers_autoprobe %s)", (unsigned long long) pd.want,
                         bdf, pd.have, autoprobe);
        } else if (pd.want > 0) {
                sriov_pf_path(&pd.pf, "sriov_numvfs", path, sizeof(path));
                char have[16];
                snprintf(have, sizeof(have), "%d", pd.have);
                r = journal_plan_keep("vfio", res, path, have, "%s uses the VFs there are (%llu needed), the ones it "
                                      "asks for free; sriov_numvfs not written", d->name, (unsigned long long) pd.want);
                if (r < 0)
                        return r;
                log_info("using the VFs %s has (%d, %llu needed): sriov_numvfs left as it is", bdf, pd.have,
                         (unsigned long long) pd.want);
        }

        if (e->n_children == 0)
                return 0;
        r = netvf_pf_ifname(&pd.pf, ifname, sizeof(ifname));
        if (r < 0) {
                return log_error_errno(SYNTHETIC_ERRNO(ENODEV),
                                       "<vmprep:sriov pf='%s'>: %s has no network interface (nothing under net/) to "
                                       "set VFs on",
                                       pfs, bdf);
        }
        /* after every VF creation: sriov_numvfs wipes VF settings */
        for (size_t k = 0; k < e->n_children && r == 0; k++)
                if (strcmp(e->children[k].name, "vf") == 0)
                        r = apply_vf(j, &pd.pf, bdf, ifname, &e->children[k], pd.raise);
        return r;
}

bool sriov_only_counts_left(const Journal *j)
{
        bool only = false;
        for (size_t i = 0; i < j->n_steps; i++)
                if (!j->steps[i].undone) {
                        only = strcmp(j->steps[i].kind_name, "numvfs") == 0;
                        if (!only)
                                break;
                }
        return only;
}

bool sriov_planned_vf(const PciAddress *a, bool *autoprobe)
{
        return sriov_planned_vf_of(a, autoprobe, NULL);
}

bool sriov_planned_vf_of(const PciAddress *a, bool *autoprobe, PciAddress *pf)
{
        for (size_t i = 0; journal_planning() && i < n_planned; i++)
                for (unsigned k = 0; k < planned[i].want; k++) {
                        PciAddress vf;
                        if (pci_vf_address(&planned[i].pf, k, &vf) == 0 && pci_address_equal(&vf, a)) {
                                *autoprobe = planned[i].autoprobe;
                                if (pf)
                                        *pf = planned[i].pf;
                                return true;
                        }
                }
        return false;
}

int sriov_prepare(Journal *j, Ledger *l, const Domain *d, const Profile *p)
{
        int r = 0;
        n_planned = 0;
        for (size_t i = 0; p && i < p->n_elems && r == 0; i++)
                if (strcmp(p->elems[i].name, "sriov") == 0 && profile_elem_enabled(&p->elems[i]))
                        r = prepare_pf(j, l, d, &p->elems[i]);
        return r;
}
