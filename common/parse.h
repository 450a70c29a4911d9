/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Strict parsers for everything vmprep reads from domain XML, profiles,
 * journals and kernel files: bounded integers, sizes with units, CPU and
 * node lists, PCI addresses and UUIDs.  Nothing here uses atoi(): every
 * parser rejects trailing garbage, empty strings, signs where none belong
 * and values outside the caller's bounds, and returns 0 or -errno.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Highest CPU or node number vmprep accepts (the kernel's CONFIG_NR_CPUS
 * maximum is 8192). */
#define CPUSET_MAX 8192

typedef struct CpuSet {
        uint64_t bits[CPUSET_MAX / 64];
} CpuSet;

typedef struct PciAddress {
        uint32_t domain;
        uint8_t bus;
        uint8_t slot;
        uint8_t function;
} PciAddress;

/* "dddd:bb:ss.f" plus NUL; domains above 0xffff (VMD) take more digits. */
#define PCI_ADDRESS_STRLEN 20
#define UUID_STRLEN 37

/* Unsigned decimal integer in [min, max]. No sign, no spaces. */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret);
/* Signed decimal integer in [min, max]. */
int parse_i64(const char *s, int64_t min, int64_t max, int64_t *ret);
/* Unsigned integer as libvirt writes address parts: "0x1f" (hex) or "31". */
int parse_u64_c(const char *s, uint64_t max, uint64_t *ret);

/* "yes"/"no" → true/false. */
int parse_yesno(const char *s, bool *ret);

/*
 * A size with an optional unit, returned in KiB (rounded up).
 * Units are libvirt's: b/bytes, k/KiB (1024), KB (1000), M/MiB, MB, G/GiB,
 * GB, T/TiB, TB, P/PiB, PB, E/EiB, EB.  unit may be NULL/empty, meaning
 * default_unit (itself a unit string, usually "KiB").  The number and the
 * unit may also be glued together in s ("2M", "1G", "2048K").
 */
int parse_size_kib(const char *s, const char *unit, const char *default_unit, uint64_t *ret_kib);

/* Format KiB for a person: "2 MiB", "1 GiB", "512 KiB" (exact). */
void format_size_kib(uint64_t kib, char *buf, size_t size);
/* Rounded, for amounts of memory: "23.5 GiB", "512 MiB", "3 KiB". */
void format_memory_kib(uint64_t kib, char *buf, size_t size);

/*
 * CPU / node list as libvirt and the kernel write them: "0-3,8,10-11",
 * with libvirt's "^N" exclusions and spaces around commas.  Numbers must be
 * below CPUSET_MAX; an empty list, or one that excludes all it includes, is
 * an error.
 */
int cpuset_parse(const char *s, CpuSet *ret);
/* Canonical form "0-3,8"; "" for the empty set.  Returns -ENOBUFS if it does not fit. */
int cpuset_format(const CpuSet *set, char *buf, size_t size);
/* A CPU set as the kernel's hex mask ("ff,ffffffff": 32-bit words, highest
 * first; smp_affinity, workqueue cpumask) and back. */
int cpus_mask_format(const CpuSet *set, char *buf, size_t size);
int cpus_mask_parse(const char *s, CpuSet *ret);
void cpuset_clear(CpuSet *set);
void cpuset_set(CpuSet *set, unsigned cpu);
bool cpuset_isset(const CpuSet *set, unsigned cpu);
unsigned cpuset_count(const CpuSet *set);
bool cpuset_empty(const CpuSet *set);
bool cpuset_equal(const CpuSet *a, const CpuSet *b);
bool cpuset_intersects(const CpuSet *a, const CpuSet *b);
void cpuset_or(CpuSet *dst, const CpuSet *src);
void cpuset_andnot(CpuSet *dst, const CpuSet *src);
/* Lowest member >= from, or -1. */
int cpuset_next(const CpuSet *set, unsigned from);

/* "0000:0d:00.0", "0d:00.0" (domain 0). Anything else, "../" included, is -EINVAL. */
int pci_address_parse(const char *s, PciAddress *ret);
void pci_address_format(const PciAddress *a, char buf[PCI_ADDRESS_STRLEN]);
bool pci_address_equal(const PciAddress *a, const PciAddress *b);

/* RFC 4122 text form, any case; returned lowercased in buf (UUID_STRLEN). */
int uuid_parse(const char *s, char ret[UUID_STRLEN]);

/* A profile / module / unit name: [A-Za-z0-9][A-Za-z0-9_.-]{0,63}. */
bool name_is_valid(const char *s);
/* A systemd service's name as vmprep handles it: [A-Za-z0-9][A-Za-z0-9_.@-]*
 * ending in ".service", at most 64 characters ('@' for a template's
 * instance, getty@tty1.service; no "\x2d" escapes). */
bool service_name_is_valid(const char *s);
