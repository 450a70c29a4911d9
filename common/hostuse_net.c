/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Host use of network devices: addresses, routes, bridges, bonds, OVS (hostuse.h). */
#include "hostuse_impl.h"

/* /proc/net/route: "Iface Destination Gateway Flags RefCnt Use Metric Mask ..."
 * with addresses as little-endian hex.  reason has no subject: "carries the
 * default route", "has a host address (route to 192.168.1.0/24)". */
static bool route_reason(const char *text, const char *ifname, char *reason, size_t size)
{
        const char *line = text;
        bool found = false;

        while (line && *line) {
                char iface[64];
                unsigned dest, gw, flags, mask;
                int refcnt, use, metric;
                if (sscanf(line, "%63s %x %x %x %d %d %d %x", iface, &dest, &gw, &flags, &refcnt, &use, &metric,
                           &mask) == 8 &&
                    strcmp(iface, ifname) == 0) {
                        if (dest == 0 && mask == 0) {
                                snprintf(reason, size, "carries the default route");
                                return true;
                        }
                        if (!found) {
                                int bits = __builtin_popcount(mask);
                                snprintf(reason, size, "has a host address (route to %u.%u.%u.%u/%d)", dest & 0xff,
                                         (dest >> 8) & 0xff, (dest >> 16) & 0xff, dest >> 24, bits);
                                found = true;
                        }
                }
                line = strchr(line, '\n');
                if (line)
                        line++;
        }
        return found;
}

/* /proc/net/if_inet6: "ADDR IFINDEX PLEN SCOPE FLAGS IFNAME"; scope 0 is global. */
static bool inet6_reason(const char *text, const char *ifname, char *reason, size_t size)
{
        const char *line = text;

        while (line && *line) {
                char addr[40], iface[64];
                unsigned idx, plen, scope, flags;
                if (sscanf(line, "%39s %x %x %x %x %63s", addr, &idx, &plen, &scope, &flags, iface) == 6 &&
                    strcmp(iface, ifname) == 0 && scope == 0) {
                        snprintf(reason, size, "has the host address %.4s:%.4s:%.4s:%.4s::/%u", addr, addr + 4,
                                 addr + 8, addr + 12, plen);
                        return true;
                }
                line = strchr(line, '\n');
                if (line)
                        line++;
        }
        return false;
}

/* netvf_inet4_text()'s "IFNAME A.B.C.D/PLEN" lines.  /proc/net/route shows
 * only the main table: an address whose routes live in a VRF's table, a
 * policy-routing table, or nowhere (noprefixroute) is seen only here. */
static bool inet4_reason(const char *text, const char *ifname, char *reason, size_t size)
{
        const char *line = text;

        while (line && *line) {
                char iface[64], addr[32];
                if (sscanf(line, "%63s %31s", iface, addr) == 2 && strcmp(iface, ifname) == 0) {
                        snprintf(reason, size, "has the host address %s", addr);
                        return true;
                }
                line = strchr(line, '\n');
                if (line)
                        line++;
        }
        return false;
}

/* A reason of route_reason() or inet6_reason() as a sentence about "it". */
static bool about_it(bool (*reason_of)(const char *, const char *, char *, size_t), const char *text,
                     const char *ifname, char *why, size_t size)
{
        char reason[128];
        if (!reason_of(text, ifname, reason, sizeof(reason)))
                return false;
        snprintf(why, size, "it %s", reason);
        return true;
}

bool hostuse_route_uses(const char *text, const char *ifname, char *why, size_t size)
{
        return about_it(route_reason, text, ifname, why, size);
}

bool hostuse_inet6_uses(const char *text, const char *ifname, char *why, size_t size)
{
        return about_it(inet6_reason, text, ifname, why, size);
}

bool hostuse_inet4_uses(const char *text, const char *ifname, char *why, size_t size)
{
        return about_it(inet4_reason, text, ifname, why, size);
}

/* ---- network ---- */

/* An interface name safe to put in a path (dev_valid_name() allows more
 * than name_is_valid(): anything but '/', ':' and blanks). */
static bool ifname_ok(const char *s)
{
        size_t n = strlen(s);
        return n > 0 && n < HOSTUSE_IFNAMSIZ && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 &&
               strcspn(s, "/: \t\n") == n;
}

/* How upper sits on lower: a bridge port, a bond slave, a VLAN, a macvtap. */
static void net_relation(const char *lower, const char *upper, bool is_master, char *buf, size_t size)
{
        char path[128], uevent[512] = "";
        const char *devtype = NULL;

        (void) lower;
        snprintf(path, sizeof(path), "/sys/class/net/%s/uevent", upper);
        if (sysfs_read(path, uevent, sizeof(uevent)) > 0)
                devtype = strstr(uevent, "DEVTYPE=");
        snprintf(path, sizeof(path), "/sys/class/net/%s/bridge", upper);
        bool bridge = sysfs_exists(path);
        snprintf(path, sizeof(path), "/sys/class/net/%s/bonding", upper);
        bool bond = sysfs_exists(path);
        snprintf(path, sizeof(path), "/sys/class/net/%s/macvtap", upper);
        bool macvtap = sysfs_exists(path);

        if (is_master && strcmp(upper, "ovs-system") == 0)
                snprintf(buf, size, "is a port of the Open vSwitch datapath");
        else if (is_master && bond)
                snprintf(buf, size, "is a slave of");
        else if (is_master)
                snprintf(buf, size, "is a port of"); /* bridge, team, VRF */
        else if (devtype && strncmp(devtype, "DEVTYPE=vlan", 12) == 0)
                snprintf(buf, size, "carries the VLAN");
        else if (macvtap)
                snprintf(buf, size, "carries the macvtap");
        else if (bridge)
                snprintf(buf, size, "is a port of");
        else
                snprintf(buf, size, "is under"); /* macvlan, ipvlan, ... */
}

/* The NIC's interface and every interface stacked on it (master and
 * upper_* links, Documentation/ABI/testing/sysfs-class-net), breadth first,
 * each once. */
size_t hostuse_net_walk(const char *ifname, HostNetNode *nodes, size_t max)
{
        size_t n = 0;
        if (!max || !ifname_ok(ifname))
                return 0;
        memset(&nodes[0], 0, sizeof(nodes[0]));
        snprintf(nodes[0].name, sizeof(nodes[0].name), "%s", ifname);
        nodes[0].parent = -1;
        n = 1;
        for (size_t i = 0; i < n; i++) {
                char path[128], master[HOSTUSE_IFNAMSIZ] = "", **names = NULL;
                size_t nn = 0;
                snprintf(path, sizeof(path), "/sys/class/net/%s/master", nodes[i].name);
                if (pci_link_basename(path, master, sizeof(master)) < 0)
                        master[0] = '\0';
                snprintf(path, sizeof(path), "/sys/class/net/%s", nodes[i].name);
                if (sysfs_list(path, &names, &nn) < 0)
                        continue;
                for (size_t k = 0; k <= nn; k++) {
                        /* the master first (the bridge or bond, before a trunk's
                         * VLANs fill the list), then the upper_ links */
                        const char *up = k == 0 ? (master[0] ? master : NULL)
                                                : (strncmp(names[k - 1], "upper_", 6) == 0 ? names[k - 1] + 6 : NULL);
                        if (!up || !ifname_ok(up))
                                continue;
                        bool seen = false;
                        for (size_t j = 0; j < n; j++)
                                seen |= strcmp(nodes[j].name, up) == 0;
                        if (seen || n >= max)
                                continue;
                        HostNetNode *nd = &nodes[n];
                        memset(nd, 0, sizeof(*nd));
                        snprintf(nd->name, sizeof(nd->name), "%s", up);
                        nd->parent = (int) i;
                        net_relation(nodes[i].name, up, strcmp(up, master) == 0, nd->relation, sizeof(nd->relation));
                        n++;
                }
                sysfs_list_free(names, nn);
        }
        return n;
}

/* "enp3s0 is a slave of bond0, which is a port of vmbr0" for node i. */
void hostuse_net_chain(const HostNetNode *nodes, size_t i, char *buf, size_t size)
{
        size_t path[32], n = 0;
        for (int k = (int) i; k >= 0 && n < 32; k = nodes[k].parent)
                path[n++] = (size_t) k;
        size_t len = (size_t) snprintf(buf, size, "%s", nodes[path[n - 1]].name);
        for (size_t k = n - 1; k-- > 0 && len < size;)
                len += (size_t) snprintf(buf + len, size - len, "%s %s %s", k == n - 2 ? "" : ", which",
                                         nodes[path[k]].relation, nodes[path[k]].name);
}

/* Open vSwitch: every port's master is the one datapath device ovs-system,
 * whatever bridge it is on, and which bridge that is lives in ovsdb, not
 * in sysfs.  So a port of ovs-system counts as the host's when any
 * interface that looks like an OVS internal port (virtual: no device link;
 * nothing under it: no lower_ link; neither bridge nor bond; not lo) has
 * the default route or a host address.  That also takes in a dummy, tun or
 * wireguard interface with an address: a refusal that force='yes' lifts. */
static bool ovs_addressed_port(const char *route, const char *inet4, const char *inet6, char *name, size_t nsize,
                               char *reason, size_t rsize)
{
        char **names = NULL;
        size_t n = 0;
        bool found = false;

        if (sysfs_list("/sys/class/net", &names, &n) < 0)
                return false;
        for (size_t i = 0; i < n && !found; i++) {
                char path[128], **files = NULL;
                size_t nf = 0;
                bool lower = false;
                if (!ifname_ok(names[i]) || strcmp(names[i], "lo") == 0 || strcmp(names[i], "ovs-system") == 0)
                        continue;
                if (!((route && route_reason(route, names[i], reason, rsize)) ||
                      (inet4 && inet4_reason(inet4, names[i], reason, rsize)) ||
                      (inet6 && inet6_reason(inet6, names[i], reason, rsize))))
                        continue;
                snprintf(path, sizeof(path), "/sys/class/net/%s", names[i]);
                if (sysfs_list(path, &files, &nf) < 0)
                        continue;
                for (size_t k = 0; k < nf; k++)
                        lower |= strncmp(files[k], "lower_", 6) == 0 || strcmp(files[k], "device") == 0 ||
                                 strcmp(files[k], "bridge") == 0 || strcmp(files[k], "bonding") == 0;
                sysfs_list_free(files, nf);
                if (!lower) {
                        snprintf(name, nsize, "%s", names[i]);
                        found = true;
                }
        }
        sysfs_list_free(names, n);
        return found;
}

/* The device's interfaces (its net/ directory), each with what is stacked
 * on it: the first that carries the default route or a host address.  A
 * NIC on a network driver whose net/ directory is there but empty has its
 * interfaces in another network namespace (sysfs shows each namespace its
 * own): a container's (LXC's phys type, `ip link set netns`), which loses
 * its network with the unbind.  The routes and addresses of that namespace
 * cannot be read from here, so it counts as in use. */
/* The device's network interfaces: those in BDF/net/, and those further
 * down its tree, whose /sys/class/net link passes through BDF (virtio-net's
 * BDF/virtioN/net/, a USB NIC under an xHCI controller).  *had_net_dir:
 * BDF/net/ exists.  0 or -ENOMEM. */
int hostuse_device_netdevs(const char *bdf, char ***ret, size_t *n_ret, bool *had_net_dir)
{
        char path[128], needle[PCI_ADDRESS_STRLEN + 2], **ifs = NULL, **all = NULL;
        size_t n = 0, n_all = 0;
        int r = 0;

        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/net", bdf);
        *had_net_dir = sysfs_list(path, &ifs, &n) == 0;
        if (!*had_net_dir)
                n = 0;
        snprintf(needle, sizeof(needle), "/%s/", bdf);
        if (sysfs_list("/sys/class/net", &all, &n_all) == 0)
                for (size_t i = 0; i < n_all && r == 0; i++) {
                        char target[SYSFS_PATH_MAX];
                        bool seen = false;
                        if (!ifname_ok(all[i]))
                                continue;
                        for (size_t k = 0; k < n; k++)
                                seen |= strcmp(ifs[k], all[i]) == 0;
                        snprintf(path, sizeof(path), "/sys/class/net/%s", all[i]);
                        if (seen || sysfs_readlink(path, target, sizeof(target)) < 0 || !strstr(target, needle))
                                continue;
                        char **grown = realloc(ifs, (n + 1) * sizeof(*ifs));
                        if (!grown || !(grown[n] = strdup(all[i]))) {
                                if (grown)
                                        ifs = grown;
                                r = -ENOMEM;
                                break;
                        }
                        ifs = grown;
                        n++;
                }
        sysfs_list_free(all, n_all);
        if (r < 0) {
                sysfs_list_free(ifs, n);
                return r;
        }
        *ret = ifs;
        *n_ret = n;
        return 0;
}

bool hostuse_network(const char *bdf, char *why, size_t size)
{
        char path[128], **ifs = NULL;
        size_t n_ifs = 0;
        bool had_net_dir;
        if (hostuse_device_netdevs(bdf, &ifs, &n_ifs, &had_net_dir) < 0) {
                snprintf(why, size, "its network interfaces could not be listed (out of memory)");
                return true;
        }
        if (n_ifs == 0 && !had_net_dir) {
                sysfs_list_free(ifs, n_ifs);
                return false;
        }
        if (n_ifs == 0) {
                char drv[64];
                snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
                sysfs_list_free(ifs, n_ifs);
                if (pci_link_basename(path, drv, sizeof(drv)) < 0 || strcmp(drv, "vfio-pci") == 0 ||
                    strcmp(drv, "pci-stub") == 0)
                        return false;
                snprintf(why, size, "it is bound to %s but none of its network interfaces is in this network "
                         "namespace: they were moved into another one (a container's?), whose network the unbind "
                         "would take away", drv);
                return true;
        }
        char *route = NULL, *inet4 = NULL, *inet6 = NULL;
        sysfs_read_alloc("/proc/net/route", 4 << 20, &route, NULL);
        if (netvf_inet4_text(&inet4) < 0)
                inet4 = NULL;
        sysfs_read_alloc("/proc/net/if_inet6", 4 << 20, &inet6, NULL);
        bool found = false;
        for (size_t f = 0; f < n_ifs && !found; f++) {
                HostNetNode nodes[HOSTUSE_NET_NODES];
                size_t n = hostuse_net_walk(ifs[f], nodes, HOSTUSE_NET_NODES);
                if (n == HOSTUSE_NET_NODES) {
                        snprintf(why, size, "its interface %s has %d or more interfaces stacked on it, more than "
                                 "vmprep looks through: it counts as the host's", ifs[f], HOSTUSE_NET_NODES - 1);
                        found = true;
                }
                for (size_t i = 0; i < n && !found; i++) {
                        char reason[160], chain[400], ovs[HOSTUSE_IFNAMSIZ];
                        if ((route && route_reason(route, nodes[i].name, reason, sizeof(reason))) ||
                            (inet4 && inet4_reason(inet4, nodes[i].name, reason, sizeof(reason))) ||
                            (inet6 && inet6_reason(inet6, nodes[i].name, reason, sizeof(reason)))) {
                                hostuse_net_chain(nodes, i, chain, sizeof(chain));
                                if (i == 0)
                                        snprintf(why, size, "it is the host's network interface %s and it %s",
                                                 nodes[0].name, reason);
                                else
                                        snprintf(why, size, "its interface %s, which %s", chain, reason);
                                found = true;
                        } else if (strcmp(nodes[i].name, "ovs-system") == 0 &&
                                   ovs_addressed_port(route, inet4, inet6, ovs, sizeof(ovs), reason, sizeof(reason))) {
                                hostuse_net_chain(nodes, i, chain, sizeof(chain));
                                snprintf(why, size, "its interface %s, and the Open vSwitch port %s %s (sysfs does not "
                                         "tell which OVS bridge a port is on)", chain, ovs, reason);
                                found = true;
                        }
                }
        }
        sysfs_list_free(ifs, n_ifs);
        free(route);
        free(inet4);
        free(inet6);
        return found;
}
