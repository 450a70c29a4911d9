/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A VF's MAC, VLAN/QoS, trust and spoofchk, set on its PF's interface.
 * Production: rtnetlink through libmnl (RTM_SETLINK with IFLA_VFINFO_LIST;
 * read back with RTM_GETLINK, which lists VFs only when asked with
 * IFLA_EXT_MASK = RTEXT_FILTER_VF).  Test build: a file per VF in the fake
 * tree (/.fake/vf/IFNAME/N, "mac=.. vlan=.. qos=.. trust=.. spoofchk=..")
 * through the gateway; the fake kernel wipes them when sriov_numvfs changes,
 * as the kernel does.
 */
#pragma once

#include "parse.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct VfConfig {
        bool has_mac;
        uint8_t mac[6];
        bool has_vlan;       /* vlan 0 = none */
        unsigned vlan, qos;
        int trust;           /* -1 leave, 0 off, 1 on */
        int spoofchk;
} VfConfig;

/* "mac=52:54:00:6d:90:02 vlan=100 qos=0 trust=on spoofchk=off" (set fields only). */
int netvf_format(const VfConfig *c, char *buf, size_t size);
int netvf_parse(const char *s, VfConfig *ret);
/* Validate what the kernel would take but a switch would not: VLAN 1-4094
 * (0 clears), QoS 0-7 and only with a VLAN, a unicast non-zero MAC. */
int netvf_validate(const VfConfig *c, char *err, size_t errlen);

/* The PF's interface name (its only entry under BDF/net/). */
int netvf_pf_ifname(const PciAddress *pf, char *buf, size_t size);

/* Read VF vf of the PF's current settings; set the fields of want that are set. */
int netvf_get(const PciAddress *pf, const char *ifname, unsigned vf, VfConfig *ret);
/* What a VF reads right after sriov_numvfs created it (zero MAC, no VLAN,
 * trust off, spoofchk on): vmprep plan's old value of a VF it would create. */
void netvf_fresh(VfConfig *ret);
int netvf_set(const PciAddress *pf, const char *ifname, unsigned vf, const VfConfig *want);

/* Every IPv4 address of this network namespace, whatever routing table its
 * routes are in (a VRF's, a policy-routing table, none: noprefixroute), as
 * "IFNAME A.B.C.D/PLEN" lines (rtnetlink RTM_GETADDR; the test build reads
 * /.fake/inet4).  *ret is malloc'ed; 0 or -errno. */
int netvf_inet4_text(char **ret);
