/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "sriov.h"

#include "log.h"
#include "netvf.h"
#include "parse.h"
#include "pci.h"
#include "sysfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static Ledger *rel_ledger;
static const char *rel_uuid;

static void pf_path(const PciAddress *pf, const char *file, char *buf, size_t size)
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

        pf_path(pf, "sriov_drivers_autoprobe", path, sizeof(path));
        if (sysfs_read(path, buf, sizeof(buf)) >= 0 && strcmp(buf, autoprobe) != 0) {
                r = sysfs_write(path, autoprobe);
                if (r < 0)
                        return r;
        }
        pf_path(pf, "sriov_numvfs", path, sizeof(path));
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

/* Another running VM holds VFs of this PF: its uuid into ret (a copy: the
 * ledger's array moves when holds change); false when none does. */
static bool other_holder(const Ledger *l, const char *bdf, const char *uuid, char ret[UUID_STRLEN])
{
        char res[64];
        snprintf(res, sizeof(res), "sriov/%s", bdf);
        for (size_t i = 0; l && i < l->n_holds; i++)
                if (strcmp(l->holds[i].resource, res) == 0 && strcmp(l->holds[i].uuid, uuid) != 0) {
                        snprintf(ret, UUID_STRLEN, "%s", l->holds[i].uuid);
                        return true;
                }
        return false;
}

static int restore_pf(const PciAddress *pf, uint64_t count, const char *autoprobe)
{
        char bdf[PCI_ADDRESS_STRLEN];
        pci_address_format(pf, bdf);
        int r = set_numvfs(pf, (unsigned) count, autoprobe);
        if (r < 0)
                return log_error_errno(r, "cannot give %s back its %llu VFs (sriov_drivers_autoprobe %s)", bdf,
                                       (unsigned long long) count, autoprobe);
        log_info("gave %s back its %llu VFs (sriov_drivers_autoprobe %s)", bdf, (unsigned long long) count, autoprobe);
        return 0;
}

/* Undo of "numvfs": the previous count and autoprobe, unless another
 * running VM still has VFs of the PF; then the duty goes to it. */
static int undo_numvfs(const JournalStep *s)
{
        PciAddress pf;
        uint64_t count;
        char autoprobe[2], bdf[PCI_ADDRESS_STRLEN];

        if (parse_pf_path(s->path, "sriov_numvfs", &pf) < 0 || parse_origin(s->old, &count, autoprobe) < 0) {
                log_error("journal step %u: '%s' '%s' is not a VF count", s->seq, s->path, s->old);
                return -VMPREP_EREPORTED;
        }
        pci_address_format(&pf, bdf);
        char other[UUID_STRLEN];
        if (rel_uuid && other_holder(rel_ledger, bdf, rel_uuid, other)) {
                char res[128];
                snprintf(res, sizeof(res), "sriov-restore/%s/%llu/%s", bdf, (unsigned long long) count, autoprobe);
                int r = ledger_hold(rel_ledger, other, res, 1);
                if (r == 0)
                        r = ledger_save(rel_ledger);
                if (r < 0)
                        return r;
                log_info("leaving %s's VFs to VM %s, which still uses them; it restores %llu VFs when it stops", bdf,
                         other, (unsigned long long) count);
                return 0;
        }
        return restore_pf(&pf, count, autoprobe);
}

/* Undo of "vf": the VF's previous settings, if the VF still exists. */
static int undo_vf(const JournalStep *s)
{
        PciAddress pf;
        unsigned vf;
        char ifname[32], bdf[PCI_ADDRESS_STRLEN];
        VfConfig old;
        const char *v = strrchr(s->path, '/');

        if (parse_pf_path(s->path, "virtfn", &pf) < 0 || !v || sscanf(v, "/virtfn%u", &vf) != 1 ||
            netvf_parse(s->old, &old) < 0) {
                log_error("journal step %u: '%s' '%s' is not a VF setting", s->seq, s->path, s->old);
                return -VMPREP_EREPORTED;
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

void sriov_begin_release(Ledger *l, const char *uuid)
{
        rel_ledger = l;
        rel_uuid = uuid;
        journal_register_undo("numvfs", undo_numvfs);
        journal_register_undo("vf", undo_vf);
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
                if (other_holder(l, bdf, uuid, other)) {
                        ledger_hold(l, other, res, 1);
                } else {
                        int r = restore_pf(&pf, count, autoprobe);
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

static int apply_vf(Journal *j, const PciAddress *pf, const char *bdf, const char *ifname, const ProfileElem *c)
{
        char err[256], old[160], new_[160], path[256], res[64];
        uint64_t index;
        VfConfig want, cur, got;
        unsigned seq;
        int r;

        if (parse_u64(profile_attr(c, "index"), 0, 65535, &index) < 0)
                return -EINVAL;
        r = vf_config_from(c, &want, err, sizeof(err));
        if (r < 0) {
                log_error("<vmprep:sriov pf='%s'><vmprep:vf index='%llu'>: %s", bdf, (unsigned long long) index, err);
                return -VMPREP_EREPORTED;
        }
        r = netvf_get(pf, ifname, (unsigned) index, &cur);
        if (r < 0) {
                log_error("cannot read VF %llu of %s (%s): %s", (unsigned long long) index, bdf, ifname, strerror(-r));
                return -VMPREP_EREPORTED;
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
        snprintf(res, sizeof(res), "sriov/%s/vf%llu", bdf, (unsigned long long) index);
        r = journal_begin_custom(j, "vf", res, path, old, new_, &seq);
        if (r < 0)
                return r;
        r = netvf_set(pf, ifname, (unsigned) index, &want);
        if (r == 0)
                r = netvf_get(pf, ifname, (unsigned) index, &got);
        if (r < 0) {
                log_error("cannot set VF %llu of %s (%s) to %s: %s", (unsigned long long) index, bdf, ifname, new_,
                          strerror(-r));
                return -VMPREP_EREPORTED;
        }
        if (!same(&want, &got)) {
                char now[160];
                netvf_format(&got, now, sizeof(now));
                log_error("set VF %llu of %s (%s) to %s, but it reads back %s", (unsigned long long) index, bdf, ifname,
                          new_, now);
                return -VMPREP_EREPORTED;
        }
        log_info("VF %llu of %s (%s): %s", (unsigned long long) index, bdf, ifname, new_);
        return journal_done(j, NULL, seq, new_);
}

static int prepare_pf(Journal *j, Ledger *l, const char *uuid, const ProfileElem *e)
{
        const char *pfs = profile_attr(e, "pf");
        char bdf[PCI_ADDRESS_STRLEN], res[64], path[256], ap[8] = "1", ifname[32];
        PciAddress pf;
        PciDevice dev;
        uint64_t want = 0;
        int r;

        if (pci_address_parse(pfs, &pf) < 0)
                return -EINVAL;
        pci_address_format(&pf, bdf);
        r = pci_device_read(&pf, &dev);
        if (r == -ENOENT) {
                log_error("<vmprep:sriov pf='%s'>: this host has no PCI device %s", pfs, bdf);
                return -VMPREP_EREPORTED;
        }
        if (r < 0)
                return log_error_errno(r, "cannot read %s", bdf);
        if (dev.sriov_totalvfs < 0) {
                log_error("<vmprep:sriov pf='%s'>: %s has no SR-IOV capability (no sriov_totalvfs)", pfs, bdf);
                return -VMPREP_EREPORTED;
        }
        /* How many VFs: vfs= when given (every <vmprep:vf> must be below it),
         * else enough for the highest <vmprep:vf index>. */
        bool counted = profile_attr(e, "vfs") != NULL;
        if (counted)
                parse_u64(profile_attr(e, "vfs"), 0, 65535, &want);
        for (size_t k = 0; k < e->n_children; k++) {
                uint64_t idx;
                if (parse_u64(profile_attr(&e->children[k], "index"), 0, 65535, &idx) < 0)
                        continue;
                if (!counted && idx + 1 > want)
                        want = idx + 1;
                if (counted && idx >= want) {
                        log_error("<vmprep:sriov pf='%s' vfs='%llu'><vmprep:vf index='%llu'>: there is no such VF "
                                  "(VFs are numbered 0-%llu)", pfs, (unsigned long long) want, (unsigned long long) idx,
                                  (unsigned long long) (want ? want - 1 : 0));
                        return -VMPREP_EREPORTED;
                }
        }
        if (want > (uint64_t) dev.sriov_totalvfs) {
                log_error("<vmprep:sriov pf='%s' vfs='%llu'>: %s supports at most %d VFs (sriov_totalvfs)", pfs,
                          (unsigned long long) want, bdf, dev.sriov_totalvfs);
                return -VMPREP_EREPORTED;
        }

        snprintf(res, sizeof(res), "sriov/%s", bdf);
        if (ledger_held(l, res, uuid) == 0) {
                r = ledger_hold(l, uuid, res, 1);
                if (r == 0)
                        r = ledger_save(l);
                if (r < 0)
                        return r;
        }

        const char *autoprobe = profile_attr_yes(e, "autoprobe", false) ? "1" : "0";
        pf_path(&pf, "sriov_drivers_autoprobe", path, sizeof(path));
        sysfs_read(path, ap, sizeof(ap));
        if ((uint64_t) dev.sriov_numvfs < want) {
                char other[UUID_STRLEN];
                if (other_holder(l, bdf, uuid, other)) {
                        char name[160] = "";
                        Journal *oj = NULL;
                        if (journal_open(other, "vfio", NULL, false, &oj) == 0) {
                                snprintf(name, sizeof(name), "%.100s ", oj->name);
                                journal_close(oj);
                        }
                        log_error("cannot raise the VF count of %s from %d to %llu: the running VM %s(%s) uses its VFs, "
                                  "and sriov_numvfs changes only through 0, which would remove them", bdf,
                                  dev.sriov_numvfs, (unsigned long long) want, name, other);
                        return -VMPREP_EREPORTED;
                }
                char old[40], new_[24];
                unsigned seq;
                snprintf(old, sizeof(old), "%d/%s", dev.sriov_numvfs, strcmp(ap, "0") == 0 ? "0" : "1");
                snprintf(new_, sizeof(new_), "%llu", (unsigned long long) want);
                pf_path(&pf, "sriov_numvfs", path, sizeof(path));
                r = journal_begin_custom(j, "numvfs", res, path, old, new_, &seq);
                if (r < 0)
                        return r;
                r = set_numvfs(&pf, (unsigned) want, autoprobe);
                if (r < 0) {
                        log_error("cannot give %s %llu VFs (it had %d): %s", bdf, (unsigned long long) want,
                                  dev.sriov_numvfs, strerror(-r));
                        return -VMPREP_EREPORTED;
                }
                r = journal_done(j, NULL, seq, new_);
                if (r < 0)
                        return r;
                log_info("created %llu VFs on %s (had %d; sriov_drivers_autoprobe %s)", (unsigned long long) want, bdf,
                         dev.sriov_numvfs, autoprobe);
        }

        if (e->n_children == 0)
                return 0;
        r = netvf_pf_ifname(&pf, ifname, sizeof(ifname));
        if (r < 0) {
                log_error("<vmprep:sriov pf='%s'>: %s has no network interface (nothing under net/) to set VFs on", pfs,
                          bdf);
                return -VMPREP_EREPORTED;
        }
        /* after every VF creation: sriov_numvfs wipes VF settings */
        for (size_t k = 0; k < e->n_children && r == 0; k++)
                if (strcmp(e->children[k].name, "vf") == 0)
                        r = apply_vf(j, &pf, bdf, ifname, &e->children[k]);
        return r;
}

int sriov_prepare(Journal *j, Ledger *l, const Domain *d, const Profile *p)
{
        int r = 0;
        sriov_begin_release(l, d->uuid);
        for (size_t i = 0; p && i < p->n_elems && r == 0; i++)
                if (strcmp(p->elems[i].name, "sriov") == 0)
                        r = prepare_pf(j, l, d->uuid, &p->elems[i]);
        return r;
}
