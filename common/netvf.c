/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "netvf.h"

#include "pci.h"
#include "sysfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef VMPREP_TEST_BUILD
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#endif

int netvf_format(const VfConfig *c, char *buf, size_t size)
{
        size_t len = 0;
        buf[0] = '\0';
#define ADD(...)                                                                        \
        do {                                                                            \
                int n_ = snprintf(buf + len, size - len, __VA_ARGS__);                  \
                if (n_ < 0 || (size_t) n_ >= size - len)                                \
                        return -ENAMETOOLONG;                                           \
                len += (size_t) n_;                                                     \
        } while (0)
        if (c->has_mac)
                ADD("%smac=%02x:%02x:%02x:%02x:%02x:%02x", len ? " " : "", c->mac[0], c->mac[1], c->mac[2], c->mac[3],
                    c->mac[4], c->mac[5]);
        if (c->has_vlan)
                ADD("%svlan=%u qos=%u", len ? " " : "", c->vlan, c->qos);
        if (c->trust >= 0)
                ADD("%strust=%s", len ? " " : "", c->trust ? "on" : "off");
        if (c->spoofchk >= 0)
                ADD("%sspoofchk=%s", len ? " " : "", c->spoofchk ? "on" : "off");
#undef ADD
        return 0;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
        unsigned v[6];
        int n = 0;
        if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%n", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &n) != 6 || s[n] ||
            n != 17)
                return -EINVAL;
        for (int i = 0; i < 6; i++)
                mac[i] = (uint8_t) v[i];
        return 0;
}

static int parse_onoff(const char *s, int *ret)
{
        if (strcmp(s, "on") == 0)
                *ret = 1;
        else if (strcmp(s, "off") == 0)
                *ret = 0;
        else
                return -EINVAL;
        return 0;
}

int netvf_parse(const char *s, VfConfig *ret)
{
        VfConfig c = { .trust = -1, .spoofchk = -1 };
        char buf[256], *save = NULL;
        uint64_t v;

        if (strlen(s) >= sizeof(buf))
                return -EINVAL;
        snprintf(buf, sizeof(buf), "%s", s);
        for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
                char *eq = strchr(t, '=');
                if (!eq)
                        return -EINVAL;
                *eq++ = '\0';
                if (strcmp(t, "mac") == 0) {
                        if (parse_mac(eq, c.mac) < 0)
                                return -EINVAL;
                        c.has_mac = true;
                } else if (strcmp(t, "vlan") == 0) {
                        if (parse_u64(eq, 0, 4095, &v) < 0)
                                return -EINVAL;
                        c.vlan = (unsigned) v;
                        c.has_vlan = true;
                } else if (strcmp(t, "qos") == 0) {
                        if (parse_u64(eq, 0, 7, &v) < 0)
                                return -EINVAL;
                        c.qos = (unsigned) v;
                } else if (strcmp(t, "trust") == 0) {
                        if (parse_onoff(eq, &c.trust) < 0)
                                return -EINVAL;
                } else if (strcmp(t, "spoofchk") == 0) {
                        if (parse_onoff(eq, &c.spoofchk) < 0)
                                return -EINVAL;
                } else {
                        return -EINVAL;
                }
        }
        *ret = c;
        return 0;
}

int netvf_validate(const VfConfig *c, char *err, size_t errlen)
{
        if (c->has_vlan && c->vlan > 4094) {
                snprintf(err, errlen, "vlan='%u': VLAN IDs are 1-4094 (4095 is reserved; the kernel takes it, "
                         "switches do not)", c->vlan);
                return -EINVAL;
        }
        if (c->has_vlan && c->qos > 7) {
                snprintf(err, errlen, "qos='%u': the 802.1p priority is 0-7", c->qos);
                return -EINVAL;
        }
        if (c->has_vlan && c->vlan == 0 && c->qos) {
                snprintf(err, errlen, "qos='%u' without a vlan: the priority travels in the VLAN tag", c->qos);
                return -EINVAL;
        }
        if (c->has_mac) {
                static const uint8_t zero[6];
                if (c->mac[0] & 1) {
                        snprintf(err, errlen, "mac='%02x:%02x:%02x:%02x:%02x:%02x' is a multicast address", c->mac[0],
                                 c->mac[1], c->mac[2], c->mac[3], c->mac[4], c->mac[5]);
                        return -EINVAL;
                }
                if (!memcmp(c->mac, zero, 6)) {
                        snprintf(err, errlen, "mac='00:00:00:00:00:00' is not an address");
                        return -EINVAL;
                }
        }
        return 0;
}

int netvf_pf_ifname(const PciAddress *pf, char *buf, size_t size)
{
        char path[128];
        pci_device_path(pf, "net", path, sizeof(path));
        DIR *dir = sysfs_opendir(path);
        if (!dir)
                return -errno;
        int r = -ENOENT;
        struct dirent *de;
        while ((de = readdir(dir)))
                if (de->d_name[0] != '.' && strlen(de->d_name) < size && strlen(de->d_name) < 16) {
                        memcpy(buf, de->d_name, strlen(de->d_name) + 1);
                        r = 0;
                        break;
                }
        closedir(dir);
        return r;
}

static bool vf_exists(const PciAddress *pf, unsigned vf)
{
        PciAddress a;
        return pci_device_virtfn(pf, vf, &a) == 0;
}

/* A VF nobody has configured: what the kernel reports after creating it. */
static const VfConfig fresh = { .has_mac = true, .has_vlan = true, .vlan = 0, .qos = 0, .trust = 0, .spoofchk = 1 };

void netvf_fresh(VfConfig *ret)
{
        *ret = fresh;
}

#ifdef VMPREP_TEST_BUILD

static void merge(VfConfig *into, const VfConfig *want)
{
        if (want->has_mac) {
                into->has_mac = true;
                memcpy(into->mac, want->mac, 6);
        }
        if (want->has_vlan) {
                into->has_vlan = true;
                into->vlan = want->vlan;
                into->qos = want->qos;
        }
        if (want->trust >= 0)
                into->trust = want->trust;
        if (want->spoofchk >= 0)
                into->spoofchk = want->spoofchk;
}


int netvf_get(const PciAddress *pf, const char *ifname, unsigned vf, VfConfig *ret)
{
        char path[128], buf[256];
        if (!vf_exists(pf, vf))
                return -EINVAL;
        snprintf(path, sizeof(path), "/.fake/vf/%s/%u", ifname, vf);
        int r = sysfs_read(path, buf, sizeof(buf));
        if (r == -ENOENT) {
                *ret = fresh;
                return 0;
        }
        if (r < 0)
                return r;
        VfConfig c = fresh;
        VfConfig got;
        r = netvf_parse(buf, &got);
        if (r < 0)
                return r;
        merge(&c, &got);
        *ret = c;
        return 0;
}

int netvf_set(const PciAddress *pf, const char *ifname, unsigned vf, const VfConfig *want)
{
        if (sysfs_dry_run())
                return 0; /* vmprep plan: no netlink request */
        char path[128], buf[256];
        VfConfig c;
        int r = netvf_get(pf, ifname, vf, &c);
        if (r < 0)
                return r;
        merge(&c, want);
        r = netvf_format(&c, buf, sizeof(buf));
        if (r < 0)
                return r;
        snprintf(path, sizeof(path), "/.fake/vf/%s", ifname);
        sysfs_mkdir("/.fake/vf", 0755);
        sysfs_mkdir(path, 0755);
        snprintf(path, sizeof(path), "/.fake/vf/%s/%u", ifname, vf);
        int fd = sysfs_open(path, O_WRONLY | O_CREAT, 0644);
        if (fd < 0)
                return fd;
        close(fd);
        return sysfs_write(path, buf);
}

int netvf_inet4_text(char **ret)
{
        char *text = NULL;
        int r = sysfs_read_alloc("/.fake/inet4", 1 << 20, &text, NULL);
        if (r == -ENOENT)
                text = strdup("");
        else if (r < 0)
                return r;
        if (!text)
                return -ENOMEM;
        *ret = text;
        return 0;
}

#else

/* A reply for a PF with many VFs is large (each VF's info, even without its
 * statistics): room for 256 VFs. */
#define RTNL_REPLY_MAX (64 * 1024)
/* A hook must never hang libvirtd: no answer within this is an error. */
#define RTNL_TIMEOUT_S 5

/* One request, one answer: cb (may be NULL) sees each reply message.  The
 * request carries NLM_F_ACK, so the kernel's acknowledgement (an
 * NLMSG_ERROR of 0, after the reply for a GET) ends the exchange. */
static int rtnl_talk(struct nlmsghdr *req, mnl_cb_t cb, void *data)
{
        struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
        struct timeval tv = { .tv_sec = RTNL_TIMEOUT_S };
        int r;

        if (!nl)
                return -errno;
        char *buf = malloc(RTNL_REPLY_MAX);
        if (!buf) {
                r = -ENOMEM;
                goto out;
        }
        if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
            mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
                r = -errno;
                goto out;
        }
        req->nlmsg_flags |= NLM_F_ACK;
        unsigned portid = mnl_socket_get_portid(nl);
        req->nlmsg_seq = (unsigned) time(NULL);
        if (mnl_socket_sendto(nl, req, req->nlmsg_len) < 0) {
                r = -errno;
                goto out;
        }
        for (;;) {
                ssize_t n = mnl_socket_recvfrom(nl, buf, RTNL_REPLY_MAX);
                if (n < 0) {
                        /* EAGAIN after SO_RCVTIMEO: say what it means */
                        r = errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
                        break;
                }
                r = mnl_cb_run(buf, (size_t) n, req->nlmsg_seq, portid, cb, data);
                if (r < 0) {
                        r = -errno;
                        break;
                }
                if (r == MNL_CB_STOP) {
                        r = 0;
                        break;
                }
        }
out:
        mnl_socket_close(nl);
        free(buf);
        return r;
}

typedef struct GetCtx {
        unsigned vf;
        VfConfig *ret;
        bool found;
} GetCtx;

static int vf_info_cb(const struct nlattr *info, GetCtx *g)
{
        const struct nlattr *a;
        VfConfig c = { .trust = -1, .spoofchk = -1 };
        int index = -1;

        mnl_attr_for_each_nested(a, info) {
                switch (mnl_attr_get_type(a)) {
                case IFLA_VF_MAC:
                        if (mnl_attr_get_payload_len(a) >= sizeof(struct ifla_vf_mac)) {
                                const struct ifla_vf_mac *m = mnl_attr_get_payload(a);
                                index = (int) m->vf;
                                memcpy(c.mac, m->mac, 6);
                                c.has_mac = true;
                        }
                        break;
                case IFLA_VF_VLAN:
                        if (mnl_attr_get_payload_len(a) >= sizeof(struct ifla_vf_vlan)) {
                                const struct ifla_vf_vlan *v = mnl_attr_get_payload(a);
                                c.has_vlan = true;
                                c.vlan = v->vlan;
                                c.qos = v->qos;
                        }
                        break;
                case IFLA_VF_SPOOFCHK:
                        if (mnl_attr_get_payload_len(a) >= sizeof(struct ifla_vf_spoofchk))
                                c.spoofchk = ((const struct ifla_vf_spoofchk *) mnl_attr_get_payload(a))->setting ? 1 : 0;
                        break;
                case IFLA_VF_TRUST:
                        if (mnl_attr_get_payload_len(a) >= sizeof(struct ifla_vf_trust))
                                c.trust = ((const struct ifla_vf_trust *) mnl_attr_get_payload(a))->setting ? 1 : 0;
                        break;
                }
        }
        if (index == (int) g->vf) {
                *g->ret = c;
                g->found = true;
        }
        return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
        GetCtx *g = data;
        const struct nlattr *a;
        mnl_attr_for_each(a, nlh, sizeof(struct ifinfomsg)) {
                if (mnl_attr_get_type(a) != IFLA_VFINFO_LIST)
                        continue;
                const struct nlattr *info;
                mnl_attr_for_each_nested(info, a)
                        if (mnl_attr_get_type(info) == IFLA_VF_INFO)
                                vf_info_cb(info, g);
        }
        return MNL_CB_OK;
}

/* The header of an RTM_GETLINK/RTM_SETLINK request for the PF's interface,
 * in buf; NULL with *r set when the interface or the VF does not exist. */
static struct nlmsghdr *link_request(char *buf, const PciAddress *pf, const char *ifname, unsigned vf,
                                     uint16_t type, int *r)
{
        unsigned index = if_nametoindex(ifname);

        if (!index) {
                *r = -errno;
                return NULL;
        }
        if (!vf_exists(pf, vf)) {
                *r = -EINVAL;
                return NULL;
        }
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = NLM_F_REQUEST;
        struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
        ifm->ifi_family = AF_UNSPEC;
        ifm->ifi_index = (int) index;
        return nlh;
}

int netvf_get(const PciAddress *pf, const char *ifname, unsigned vf, VfConfig *ret)
{
        char buf[MNL_SOCKET_BUFFER_SIZE];
        int r;
        struct nlmsghdr *nlh = link_request(buf, pf, ifname, vf, RTM_GETLINK, &r);

        if (!nlh)
                return r;
        /* without RTEXT_FILTER_VF the kernel leaves IFLA_VFINFO_LIST out;
         * the VFs' statistics are not needed */
        mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_VF | RTEXT_FILTER_SKIP_STATS);
        GetCtx g = { vf, ret, false };
        r = rtnl_talk(nlh, link_cb, &g);
        if (r < 0)
                return r;
        return g.found ? 0 : -ENOENT;
}

int netvf_set(const PciAddress *pf, const char *ifname, unsigned vf, const VfConfig *want)
{
        if (sysfs_dry_run())
                return 0; /* vmprep plan: no netlink request */
        char buf[MNL_SOCKET_BUFFER_SIZE];
        int r;
        struct nlmsghdr *nlh = link_request(buf, pf, ifname, vf, RTM_SETLINK, &r);

        if (!nlh)
                return r;
        struct nlattr *list = mnl_attr_nest_start(nlh, IFLA_VFINFO_LIST);
        struct nlattr *info = mnl_attr_nest_start(nlh, IFLA_VF_INFO);
        if (want->has_mac) {
                struct ifla_vf_mac m = { .vf = vf };
                memcpy(m.mac, want->mac, 6);
                mnl_attr_put(nlh, IFLA_VF_MAC, sizeof(m), &m);
        }
        if (want->has_vlan) {
                struct ifla_vf_vlan v = { .vf = vf, .vlan = want->vlan, .qos = want->qos };
                mnl_attr_put(nlh, IFLA_VF_VLAN, sizeof(v), &v);
        }
        if (want->spoofchk >= 0) {
                struct ifla_vf_spoofchk s = { .vf = vf, .setting = (unsigned) want->spoofchk };
                mnl_attr_put(nlh, IFLA_VF_SPOOFCHK, sizeof(s), &s);
        }
        if (want->trust >= 0) {
                struct ifla_vf_trust t = { .vf = vf, .setting = (unsigned) want->trust };
                mnl_attr_put(nlh, IFLA_VF_TRUST, sizeof(t), &t);
        }
        mnl_attr_nest_end(nlh, info);
        mnl_attr_nest_end(nlh, list);
        return rtnl_talk(nlh, NULL, NULL);
}

typedef struct AddrText {
        char *buf;
        size_t len, cap;
        int err;
} AddrText;

static int addr_cb(const struct nlmsghdr *nlh, void *data)
{
        AddrText *t = data;
        const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
        const struct nlattr *a;
        const unsigned char *ip = NULL;
        char ifname[IF_NAMESIZE], line[IF_NAMESIZE + 32];

        if (nlh->nlmsg_type != RTM_NEWADDR || ifa->ifa_family != AF_INET)
                return MNL_CB_OK;
        mnl_attr_for_each(a, nlh, sizeof(*ifa)) {
                /* IFA_LOCAL is the interface's own address; IFA_ADDRESS the
                 * peer's on a point-to-point link, the same otherwise */
                if (mnl_attr_get_payload_len(a) < 4)
                        continue;
                if (mnl_attr_get_type(a) == IFA_LOCAL || (!ip && mnl_attr_get_type(a) == IFA_ADDRESS))
                        ip = mnl_attr_get_payload(a);
        }
        if (!ip || !if_indextoname(ifa->ifa_index, ifname))
                return MNL_CB_OK;
        int n = snprintf(line, sizeof(line), "%s %u.%u.%u.%u/%u\n", ifname, ip[0], ip[1], ip[2], ip[3],
                         (unsigned) ifa->ifa_prefixlen);
        if (n <= 0 || (size_t) n >= sizeof(line))
                return MNL_CB_OK;
        if (t->len + (size_t) n + 1 > t->cap) {
                size_t cap = t->cap ? t->cap * 2 : 4096;
                char *b = realloc(t->buf, cap);
                if (!b) {
                        t->err = -ENOMEM;
                        return MNL_CB_ERROR;
                }
                t->buf = b;
                t->cap = cap;
        }
        memcpy(t->buf + t->len, line, (size_t) n + 1);
        t->len += (size_t) n;
        return MNL_CB_OK;
}

int netvf_inet4_text(char **ret)
{
        char req[MNL_SOCKET_BUFFER_SIZE];
        AddrText t = { 0 };
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(req);
        nlh->nlmsg_type = RTM_GETADDR;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
        ifa->ifa_family = AF_INET;
        int r = rtnl_talk(nlh, addr_cb, &t);
        if (r == 0 && t.err)
                r = t.err;
        if (r == 0 && !t.buf && !(t.buf = strdup("")))
                r = -ENOMEM;
        if (r < 0) {
                free(t.buf);
                return r;
        }
        *ret = t.buf;
        return 0;
}

#endif
