/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Who uses a VF or a PF's VFs: running VMs, libvirt's pools, /dev/vfio (sriov.h). */
#include "sriov_impl.h"
#include "resource.h"

/* ---- who uses a VF ---- */

/*
 * sriov_numvfs changes only through 0, and 0 removes every VF, whoever uses
 * it: a host interface goes away, a running VM loses its NIC, a libvirt
 * network's pool points at nothing, and a VF whose /dev/vfio group a QEMU
 * holds makes the write block in the kernel (vfio-pci's remove() waits for
 * the last close) while vmprep holds its lock and libvirtd its domain lock.
 * So the count changes only when no VF is used by anyone, and a VM that
 * uses the VFs there are gets only free ones.
 */


/* Another running VM holds VFs of this PF: its uuid into ret (a copy: the
 * ledger's array moves when holds change); false when none does. */
bool sriov_other_holder(const Ledger *l, const char *bdf, const char *uuid, char ret[UUID_STRLEN])
{
        char res[64];
        res_sriov(res, sizeof(res), bdf);
        for (size_t i = 0; l && i < l->n_holds; i++)
                if (strcmp(l->holds[i].resource, res) == 0 && strcmp(l->holds[i].uuid, uuid) != 0) {
                        snprintf(ret, UUID_STRLEN, "%s", l->holds[i].uuid);
                        return true;
                }
        return false;
}

/* A VF pool of a libvirt <forward mode='hostdev'> network: the VFs it lists
 * by <address>, or every VF of the PF its <pf dev='IF'/> names. */
typedef struct PoolEntry {
        char network[64];
        char pf_dev[32];        /* "" when listed by address */
        PciAddress vf;
} PoolEntry;

typedef struct VfUsers {
        const Ledger *l;
        const char *uuid;       /* the VM vmprep works for: its own holds are no use */
        RunningVm *vms;         /* the other running VMs, tagged or not */
        size_t n_vms;
        PoolEntry *pools;
        size_t n_pools;
        char **pf_ifs;          /* the PF's interfaces (BDF/net/) */
        size_t n_pf_ifs;
} VfUsers;

static int pool_add(VfUsers *u, const char *network, const char *pf_dev, const PciAddress *vf)
{
        PoolEntry *a = realloc(u->pools, (u->n_pools + 1) * sizeof(*a));
        if (!a)
                return -ENOMEM;
        u->pools = a;
        PoolEntry *e = &a[u->n_pools++];
        memset(e, 0, sizeof(*e));
        snprintf(e->network, sizeof(e->network), "%s", network);
        snprintf(e->pf_dev, sizeof(e->pf_dev), "%s", pf_dev ? pf_dev : "");
        if (vf)
                e->vf = *vf;
        return 0;
}

/* The hostdev pools of one network file: a defined network (<network>) or
 * an active one's live state (<networkstatus><network>).  A file that does
 * not read or parse is no pool libvirt could use either. */
static int pools_read(VfUsers *u, const char *dir, const char *file)
{
        char path[512], err[256];
        size_t l = strlen(file);
        int r = 0;

        if (l < 5 || file[0] == '.' || strcmp(file + l - 4, ".xml") != 0)
                return 0;
        snprintf(path, sizeof(path), "%s/%s", dir, file);
        xmlDocPtr doc = xml_parse_file(path, err, sizeof(err));
        if (!doc)
                return 0;
        xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
        xmlNodePtr net = ctx ? xml_first(ctx, NULL, "/network | /networkstatus/network") : NULL;
        xmlNodePtr nm = net ? xml_first(ctx, net, "name") : NULL;
        _cleanup_xmlstr_ char *name = nm ? xml_text(nm) : NULL;
        xmlXPathObjectPtr obj = net ? xml_xpath(ctx, net, "forward[@mode='hostdev']/pf | "
                                                          "forward[@mode='hostdev']/address[not(@type) or @type='pci']")
                                    : NULL;
        for (size_t i = 0; i < xml_count(obj) && r == 0; i++) {
                xmlNodePtr n = xml_item(obj, i);
                const char *network = name && *name ? name : file;
                PciAddress a;
                if (strcmp((const char *) n->name, "pf") == 0) {
                        _cleanup_xmlstr_ char *dev = xml_attr(n, "dev");
                        if (dev)
                                r = pool_add(u, network, dev, NULL);
                } else if (xml_pci_address(n, &a, err, sizeof(err)) == 0) {
                        r = pool_add(u, network, NULL, &a);
                }
        }
        xmlXPathFreeObject(obj);
        xmlXPathFreeContext(ctx);
        xmlFreeDoc(doc);
        return r;
}

static void users_free(VfUsers *u)
{
        running_vms_free(u->vms, u->n_vms);
        free(u->pools);
        sysfs_list_free(u->pf_ifs, u->n_pf_ifs);
        memset(u, 0, sizeof(*u));
}

/* Everything that can use a VF of pf, read once per decision. */
static int users_load(VfUsers *u, const char *uuid, const Ledger *l, const PciAddress *pf)
{
        static const char *const dirs[] = { NETWORK_CONFIG_DIR, NETWORK_STATUS_DIR };
        char path[128];
        int r;

        memset(u, 0, sizeof(*u));
        u->l = l;
        u->uuid = uuid;
        r = running_vms(uuid, &u->vms, &u->n_vms);
        for (size_t d = 0; d < 2 && r == 0; d++) {
                char **names = NULL;
                size_t n = 0;
                if (sysfs_list(dirs[d], &names, &n) < 0)
                        continue; /* no networks defined, or libvirt's network driver not running */
                for (size_t i = 0; i < n && r == 0; i++)
                        r = pools_read(u, dirs[d], names[i]);
                sysfs_list_free(names, n);
        }
        sriov_pf_path(pf, "net", path, sizeof(path));
        if (r == 0 && sysfs_list(path, &u->pf_ifs, &u->n_pf_ifs) < 0)
                u->n_pf_ifs = 0; /* no netdev (PF on vfio-pci, or another netns): pools by <pf dev> cannot name it */
        if (r < 0)
                users_free(u);
        return r;
}

/* What libvirt gives the device to: a running VM's <hostdev> or <interface
 * type='hostdev'> (another than u->uuid), or a <forward mode='hostdev'>
 * network's pool, by address or (for the VFs of a PF, and the PF itself)
 * by <pf dev=>. */
static bool libvirt_user(const VfUsers *u, const PciDevice *dev, char *why, size_t size)
{
        for (size_t i = 0; i < u->n_vms; i++)
                for (size_t k = 0; u->vms[i].domain && k < u->vms[i].domain->n_hostdevs; k++)
                        if (pci_address_equal(&u->vms[i].domain->hostdevs[k], &dev->addr)) {
                                snprintf(why, size, "%s is used by running VM '%s'", dev->bdf, u->vms[i].name);
                                return true;
                        }
        for (size_t i = 0; i < u->n_pools; i++) {
                const PoolEntry *e = &u->pools[i];
                bool in = !e->pf_dev[0] && pci_address_equal(&e->vf, &dev->addr);
                for (size_t k = 0; e->pf_dev[0] && k < u->n_pf_ifs; k++)
                        in |= strcmp(u->pf_ifs[k], e->pf_dev) == 0;
                if (in && !dev->is_vf && e->pf_dev[0]) {
                        snprintf(why, size, "its VFs are the pool of libvirt network '%s' (<pf dev='%s'/>)", e->network,
                                 e->pf_dev);
                        return true;
                }
                if (in) {
                        snprintf(why, size, "%s is in the VF pool of libvirt network '%s'%s%s%s", dev->bdf, e->network,
                                 e->pf_dev[0] ? " (<pf dev='" : "", e->pf_dev, e->pf_dev[0] ? "'/>)" : "");
                        return true;
                }
        }
        return false;
}

/* Who uses the VF: "0000:41:02.1 is bound to iavf (...)" into why; false
 * when nobody does (unbound, or on vfio-pci with no holder of any kind).
 * own: a VF this VM asks for, which the vfio hook moves to vfio-pci and
 * back: its host driver alone (an administrator's igbvf/iavf VF with a
 * netdev nobody configured) is no use; its netdev carrying an address or
 * route, or being a port of something that does, is (hostuse). A VF that
 * would vanish through sriov_numvfs 0 (own false) is in use on any driver. */
static bool vf_user(const VfUsers *u, const PciAddress *vf, bool own, char *why, size_t size)
{
        PciDevice dev;
        char res[64], who[512];

        if (pci_device_read(vf, &dev) < 0)
                return false; /* gone: nobody uses it */
        /* a host driver (iavf, mlx5_core, pci-stub keeping it for someone):
         * whatever the host does with it, the VF is its */
        if (dev.driver[0] && strcmp(dev.driver, "vfio-pci") != 0) {
                char net[600] = "";
                bool host_net = hostuse_network(dev.bdf, who, sizeof(who));
                if (host_net)
                        snprintf(net, sizeof(net), " (%s)", who);
                if (!own || host_net) {
                        snprintf(why, size, "%s is bound to %s%s", dev.bdf, dev.driver, net);
                        return true;
                }
        }
        res_pci(res, sizeof(res), dev.bdf);
        for (size_t i = 0; u->l && i < u->l->n_holds; i++)
                if (strcmp(u->l->holds[i].resource, res) == 0 && strcmp(u->l->holds[i].uuid, u->uuid) != 0) {
                        vfio_vm_name(u->l->holds[i].uuid, who, sizeof(who));
                        snprintf(why, size, "%s is used by running VM %s", dev.bdf, who);
                        return true;
                }
        if (libvirt_user(u, &dev, why, size))
                return true;
        if (hostuse_holders(dev.bdf, who, sizeof(who)) > 0) {
                snprintf(why, size, "%s is open by %s", dev.bdf, who);
                return true;
        }
        return false;
}

static void list_add(char *buf, size_t size, size_t *len, int *count, const char *what)
{
        if (*len < size)
                *len += (size_t) snprintf(buf + *len, size - *len, "%s%s", *count ? "; " : "", what);
        (*count)++;
}

/*
 * Who uses the VFs of pf: with asked NULL every one of its numvfs VFs, and
 * whatever else keeps its count (another VM of vmprep counting on it, a
 * running VM whose VFs cannot be known); else only the VFs marked in
 * asked[].  own: a VF on a host driver with no host use of its netdev is
 * free (see vf_user).  "; "-separated into buf; returns how many users, or
 * -errno.
 */
int sriov_pf_users(const char *uuid, const Ledger *l, const PciAddress *pf, unsigned numvfs, const bool *asked, bool own,
                    char *buf, size_t size)
{
        VfUsers u;
        char why[1024], bdf[PCI_ADDRESS_STRLEN], other[UUID_STRLEN];
        size_t len = 0;
        int count = 0;

        buf[0] = '\0';
        int r = users_load(&u, uuid, l, pf);
        if (r < 0)
                return r;
        pci_address_format(pf, bdf);
        if (!asked && sriov_other_holder(l, bdf, uuid, other)) {
                char who[300];
                vfio_vm_name(other, who, sizeof(who));
                snprintf(why, sizeof(why), "the running VM %s uses VFs of %s", who, bdf);
                list_add(buf, size, &len, &count, why);
        }
        for (size_t i = 0; !asked && i < u.n_vms; i++)
                if (!u.vms[i].domain) {
                        snprintf(why, sizeof(why), "the running VM '%s' may use some (its live XML does not read: %s)",
                                 u.vms[i].name, u.vms[i].err);
                        list_add(buf, size, &len, &count, why);
                }
        for (unsigned i = 0; i < numvfs; i++) {
                PciAddress vf;
                if ((asked && !asked[i]) || pci_device_virtfn(pf, i, &vf) < 0)
                        continue;
                if (vf_user(&u, &vf, own, why, sizeof(why)))
                        list_add(buf, size, &len, &count, why);
        }
        users_free(&u);
        return count;
}

int sriov_device_user(const char *uuid, const Ledger *l, const PciDevice *dev, char *why, size_t size)
{
        VfUsers u;
        char who[512];
        int r = users_load(&u, uuid, l, dev->is_vf ? &dev->physfn : &dev->addr);

        if (r < 0)
                return r;
        bool used = libvirt_user(&u, dev, why, size);
        if (!used && strcmp(dev->driver, "vfio-pci") == 0 && hostuse_holders(dev->bdf, who, sizeof(who)) > 0) {
                snprintf(why, size, "%s is open by %s", dev->bdf, who);
                used = true;
        }
        users_free(&u);
        return used;
}

int sriov_vfs_in_use(const char *uuid, const Ledger *l, const PciDevice *pf, char *buf, size_t size)
{
        return sriov_pf_users(uuid, l, &pf->addr, (unsigned) pf->sriov_numvfs, NULL, false, buf, size);
}
