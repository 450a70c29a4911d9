/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The domain reader: the parts of a libvirt domain XML that vmprep derives
 * its work from.  Parsed with libxml2 (no network, no entity expansion, no
 * XInclude) and XPath; tolerant of what users really write (misplaced
 * elements, missing <uuid>, odd whitespace), strict on every value vmprep
 * uses: a value that does not parse is an error naming element, attribute
 * and value.
 */
#pragma once

#include "parse.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _xmlDoc *DomainXmlDoc;

typedef struct DomainPage {
        uint64_t size_kib;
        bool has_nodeset;     /* guest NUMA cells this page size applies to */
        CpuSet nodeset;
} DomainPage;

typedef struct DomainCell {
        unsigned id;
        CpuSet cpus;
        uint64_t memory_kib;
        bool memaccess_shared;
} DomainCell;

typedef struct DomainMemnode {
        unsigned cellid;
        char mode[16];        /* strict, preferred, interleave, restrictive */
        CpuSet nodeset;
} DomainMemnode;

typedef struct DomainPin {
        unsigned id;          /* vcpu or iothread id */
        CpuSet cpus;
} DomainPin;

typedef struct DomainSched {
        CpuSet vcpus;
        char scheduler[16];   /* fifo, rr, batch, idle, other */
        bool has_priority;
        int priority;
} DomainSched;

typedef struct DomainDirect {
        char *dev;            /* <source dev='enp66s0'>: the host NIC the macvtap sits on */
        char *target;         /* <target dev='macvtap0'>, NULL when absent (libvirt fills it in) */
} DomainDirect;

typedef struct Domain {
        char *name;
        char uuid[UUID_STRLEN];       /* "" when the XML has none */
        int id;                       /* <domain id='N'> of a running domain; -1 when absent */
        uint64_t memory_kib;          /* 0 when absent */

        bool has_vcpu;                /* <vcpu> present (else one vCPU) */
        unsigned vcpu_max, vcpu_current;
        bool has_vcpu_cpuset;
        CpuSet vcpu_cpuset;

        bool hugepages;               /* <memoryBacking><hugepages> */
        bool locked;
        bool access_shared;           /* <memoryBacking><access mode='shared'/> */
        DomainPage *pages;
        size_t n_pages;

        bool has_numatune;
        char numatune_mode[16];
        bool numatune_auto;           /* placement='auto': numad decides */
        CpuSet numatune_nodeset;      /* valid when has_numatune && !numatune_auto */
        DomainMemnode *memnodes;
        size_t n_memnodes;

        DomainCell *cells;
        size_t n_cells;

        DomainPin *vcpupins;
        size_t n_vcpupins;
        bool has_emulatorpin;
        CpuSet emulatorpin;
        DomainPin *iothreadpins;
        size_t n_iothreadpins;
        DomainSched *vcpuscheds;
        size_t n_vcpuscheds;

        PciAddress *hostdevs;         /* <hostdev type='pci'> and <interface type='hostdev'> sources */
        size_t n_hostdevs;
        bool has_vhostuser;

        DomainXmlDoc doc;             /* kept for the profile reader */
        bool nosharepages;            /* <memoryBacking><nosharepages/>: QEMU keeps guest memory out of KSM */

        /* What a running VM holds on the host besides PCI devices, for the
         * host-use interlocks (common/hostuse): kept as written, checked
         * where they are used (a path or name that does not resolve is no
         * reason to refuse a domain) */
        char **disk_devs;             /* <disk type='block'><source dev='/dev/...'> */
        size_t n_disk_devs;
        DomainDirect *directs;        /* <interface type='direct'> */
        size_t n_directs;
} Domain;

/*
 * Parse a domain XML document from memory.  On error returns -EINVAL and
 * fills err (a sentence for a person, naming element, attribute and value).
 */
int domain_parse(const char *xml, size_t len, Domain **ret, char *err, size_t errlen);
void domain_free(Domain *d);
/* The vCPUs, up to <vcpu>'s maximum (hot-pluggable ones too), that no
 * <vcpupin> names. */
void domain_unpinned_vcpus(const Domain *d, CpuSet *out);
