/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The profile grammar (elements, attributes, value types; profiles/profile.rng
 * says the same) and the checks of each value (profile.h). */
#include "profile_impl.h"

/* ---- the grammar ---- */

static const char *const e_group[] = { "whole", "device", NULL };
static const char *const e_single_gpu[] = { "auto", "on", "off", NULL };
static const char *const e_mode[] = { "cgroup", "partition", NULL };
static const char *const e_numa[] = { "strict", "prefer", "ignore", NULL };
static const char *const e_governor[] = { "performance", "powersave", "schedutil", "ondemand",
                                          "conservative", "userspace", NULL };
/* energy_performance_preference as amd-pstate and intel_pstate (active
 * mode) offer it; the CPU's own list is checked at prepare */
static const char *const e_epp[] = { "default", "performance", "balance_performance", "balance_power", "power",
                                     NULL };
static const char *const e_thp[] = { "always", "madvise", "never", NULL };
/* /sys/kernel/mm/ksm/run 1, 0 and 2: unmerging is host-wide and synchronous,
 * so it is asked for by name, never implied by "off" */
static const char *const e_ksm[] = { "on", "off", "unmerge", NULL };

#define ENABLED { "enabled", A_YESNO, NULL, 0, 0, false }

static const AttrSpec device_attrs[] = {
        { "address", A_PCI, NULL, 0, 0, true },
        { "force", A_YESNO, NULL, 0, 0, false },
        { "reset-method", A_RESET, NULL, 0, 0, false },
        { NULL, 0, NULL, 0, 0, false },
};
static const ElemSpec vfio_children[] = {
        { "device", device_attrs, true, "address", NULL, NULL },
        { NULL, NULL, false, NULL, NULL, NULL },
};
static const AttrSpec vfio_attrs[] = {
        ENABLED,
        { "group", A_ENUM, e_group, 0, 0, false },
        { "single-gpu", A_ENUM, e_single_gpu, 0, 0, false },
        { "force", A_YESNO, NULL, 0, 0, false },
        { "unload-modules", A_MODULES, NULL, 0, 0, false },
        { "reset-method", A_RESET, NULL, 0, 0, false },
        { "stop-services", A_SERVICES, NULL, 0, 0, false },
        { NULL, 0, NULL, 0, 0, false },
};
static const AttrSpec hugepages_attrs[] = {
        ENABLED,
        { "size", A_SIZE, NULL, 0, 0, false },
        { "nodes", A_LIST_AUTO, NULL, 0, 0, false },
        { "compact", A_YESNO, NULL, 0, 0, false },
        { NULL, 0, NULL, 0, 0, false },
};
static const AttrSpec isolate_attrs[] = {
        ENABLED,
        { "cpus", A_LIST_AUTO, NULL, 0, 0, false },
        { "irqs", A_YESNO, NULL, 0, 0, false },
        { "workqueues", A_YESNO, NULL, 0, 0, false },
        { "mode", A_ENUM, e_mode, 0, 0, false },
        { "numa", A_ENUM, e_numa, 0, 0, false },
        { NULL, 0, NULL, 0, 0, false },
};
static const AttrSpec vf_attrs[] = {
        { "index", A_UINT, NULL, 0, 65535, true },
        { "mac", A_MAC, NULL, 0, 0, false },
        { "vlan", A_UINT, NULL, 0, 4094, false },
        { "qos", A_UINT, NULL, 0, 7, false },
        { "trust", A_ONOFF, NULL, 0, 0, false },
        { "spoofchk", A_ONOFF, NULL, 0, 0, false },
        { NULL, 0, NULL, 0, 0, false },
};
static const ElemSpec sriov_children[] = {
        { "vf", vf_attrs, true, "index", NULL, NULL },
        { NULL, NULL, false, NULL, NULL, NULL },
};
/* No force= here: nothing ever read it (vfio's force= is what overrides
 * the in-use checks, and it covers the VFs too); enabled="no" makes the
 * element inert, like every other one. */
static const AttrSpec sriov_attrs[] = {
        ENABLED,
        { "pf", A_PCI, NULL, 0, 0, true },
        { "vfs", A_UINT, NULL, 0, 65535, false },
        { "autoprobe", A_YESNO, NULL, 0, 0, false },
        { NULL, 0, NULL, 0, 0, false },
};
static const AttrSpec tune_attrs[] = {
        ENABLED,
        { "governor", A_ENUM, e_governor, 0, 0, false },
        { "epp", A_ENUM, e_epp, 0, 0, false },
        { "thp", A_ENUM, e_thp, 0, 0, false },
        { "ksm", A_ENUM, e_ksm, 0, 0, false },
        { "rt-runtime", A_RT_RUNTIME, NULL, 0, 0, false },
        { "max-cstate", A_UINT, NULL, 0, 9, false },
        { "swappiness", A_UINT, NULL, 0, 200, false },
        { "stat-interval", A_UINT, NULL, 1, 3600, false },
        { NULL, 0, NULL, 0, 0, false },
};
/* Looking Glass shared memory: a /dev/shm file (name=) the domain's
 * <shmem> maps, or a kvmfr device (device=), handed to a user */
static const AttrSpec shmem_attrs[] = {
        ENABLED,
        { "name", A_SHM_NAME, NULL, 0, 0, false },
        { "device", A_KVMFR, NULL, 0, 0, false },
        { "owner", A_ACCOUNT, NULL, 0, 0, false },
        { "group", A_ACCOUNT, NULL, 0, 0, false },
        { "mode", A_MODE, NULL, 0, 0, false },
        { NULL, 0, NULL, 0, 0, false },
};
const ElemSpec profile_top_elems[] = {
        { "vfio", vfio_attrs, false, NULL, vfio_children, NULL },
        { "hugepages", hugepages_attrs, false, NULL, NULL, NULL },
        { "isolate", isolate_attrs, false, NULL, NULL, NULL },
        { "sriov", sriov_attrs, true, "pf", sriov_children, NULL },
        { "tune", tune_attrs, false, NULL, NULL, NULL },
        { "shmem", shmem_attrs, true, "name", NULL, "device" },
        { NULL, NULL, false, NULL, NULL, NULL },
};
int profile_fail(Ctx *c, const char *fmt, ...)
{
        va_list ap;
        int n = snprintf(c->err, c->errlen, "%s: ", c->origin);
        if (n < 0 || (size_t) n >= c->errlen)
                n = 0;
        va_start(ap, fmt);
        vsnprintf(c->err + n, c->errlen - (size_t) n, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

/* ---- value checks ---- */

static bool is_mac(const char *s)
{
        for (int i = 0; i < 6; i++) {
                for (int j = 0; j < 2; j++, s++)
                        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') || (*s >= 'A' && *s <= 'F')))
                                return false;
                if (i < 5 && *s++ != ':')
                        return false;
        }
        return *s == '\0';
}

/*
 * A hugepage size.  The grammar is deliberately narrower than
 * parse_size_kib() (libvirt's whole unit table), and profile.rng says the
 * same thing:
 *   - a number of 1 to 7 digits without a leading zero: "0" is no size, and
 *     seven digits keep every unit below clear of 64-bit overflow, so the
 *     schema (which cannot do arithmetic) and this agree;
 *   - then nothing (KiB) or a binary unit as libvirt spells it: k K KiB,
 *     m M MiB, g G GiB, t T TiB.  The decimal units (KB, MB, GB, TB) are
 *     refused: "2MB" is 2,000,000 bytes, which is no page size on any
 *     machine, and a user who writes it means 2M; saying so here beats a
 *     hook failing at start.  Bytes (b, bytes) and P/E are refused for the
 *     same reason: no page is a byte count, none is a petabyte.
 */
static bool is_page_size(const char *s)
{
        static const char *const units[] = { "",  "k", "K", "KiB", "m", "M", "MiB",
                                             "g", "G", "GiB", "t", "T", "TiB", NULL };
        size_t n = 0;
        if (*s < '1' || *s > '9')
                return false;
        while (s[n] >= '0' && s[n] <= '9')
                n++;
        if (n > 7)
                return false;
        for (const char *const *u = units; *u; u++)
                if (strcmp(s + n, *u) == 0)
                        return true;
        return false;
}

static bool is_module_list(const char *s)
{
        bool want_name = true;
        for (; *s; s++) {
                if (*s == ',') {
                        if (want_name)
                                return false;
                        want_name = true;
                } else if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                           *s == '_' || *s == '-') {
                        want_name = false;
                } else {
                        return false;
                }
        }
        return !want_name;
}

/* Comma-separated service_name_is_valid() names, no blanks:
 * "ollama.service,foo@gpu0.service" */
static bool is_service_list(const char *s)
{
        char name[72];
        for (;;) {
                const char *comma = strchr(s, ',');
                size_t n = comma ? (size_t) (comma - s) : strlen(s);
                if (n >= sizeof(name))
                        return false;
                memcpy(name, s, n);
                name[n] = '\0';
                if (!service_name_is_valid(name))
                        return false;
                if (!comma)
                        return true;
                s = comma + 1;
        }
}

/* A name libvirt puts under /dev/shm: letters, digits, '.', '_', '-', not
 * starting with '.' or '-', at most 100 characters (the ledger's resource
 * "shmem:/dev/shm/NAME" stays within its 128) */
static bool is_shm_name(const char *s)
{
        size_t n = 0;
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
                return false;
        for (; *s; s++, n++)
                if (n >= 100 || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                                  *s == '_' || *s == '.' || *s == '-'))
                        return false;
        return true;
}

/* /dev/kvmfr0 .. /dev/kvmfr999, no leading zero */
static bool is_kvmfr(const char *s)
{
        if (strncmp(s, "/dev/kvmfr", 10) != 0)
                return false;
        s += 10;
        size_t n = strspn(s, "0123456789");
        return n >= 1 && n <= 3 && s[n] == '\0' && !(s[0] == '0' && n > 1);
}

/* A user or group name as useradd(8) takes it: [a-z_][a-z0-9_.-]*, at most
 * 32 characters, optionally ending in $; capitals allowed (some directory
 * services have them).  No numeric IDs: a name says whose it is. */
static bool is_account(const char *s)
{
        size_t n = 0;
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
                return false;
        for (; *s; s++, n++) {
                if (n >= 32)
                        return false;
                if (*s == '$' && s[1] == '\0' && n > 0)
                        return true;
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                      *s == '_' || *s == '.' || *s == '-'))
                        return false;
        }
        return true;
}

/* 3 octal digits, or 4 starting with 0: 660, 0660 */
static bool is_mode(const char *s)
{
        size_t n = strlen(s);
        if (n == 4 && *s++ == '0')
                n = 3;
        return n == 3 && strspn(s, "01234567") == 3;
}

/*
 * A value for a device's reset_method file (drivers/pci/pci.c,
 * reset_method_store): "default", or 1 to 7 method names separated by
 * single blanks, in the order the kernel is to try them.  A name is
 * [a-z][a-z_]{0,31}: the kernel's are device_specific, acpi, flr, af_flr,
 * pm, bus and cxl_bus, and a newer kernel may add one, so the names are not
 * closed here; whether the device offers them is checked at prepare
 * against what its reset_method lists (vfio_reset_method_check).  7 is
 * the most the kernel takes (PCI_NUM_RESET_METHODS - 1).
 */
static bool is_reset_methods(const char *s)
{
        unsigned words = 0;
        if (strcmp(s, "default") == 0)
                return true;
        for (;;) {
                size_t n = 0;
                if (*s < 'a' || *s > 'z')
                        return false;
                while ((s[n] >= 'a' && s[n] <= 'z') || s[n] == '_')
                        n++;
                if (n > 32 || ++words > 7)
                        return false;
                s += n;
                if (*s == '\0')
                        return true;
                if (*s++ != ' ')
                        return false;
        }
}

int profile_check_value(Ctx *c, const char *elem, const AttrSpec *a, const char *v)
{
        uint64_t u;
        CpuSet set;
        PciAddress pci;
        bool b;

        switch (a->type) {
        case A_YESNO:
                if (parse_yesno(v, &b) < 0)
                        return profile_fail(c, "<vmprep:%s %s='%s'>: must be yes or no", elem, a->name, v);
                return 0;
        case A_ONOFF:
                if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0)
                        return profile_fail(c, "<vmprep:%s %s='%s'>: must be on or off", elem, a->name, v);
                return 0;
        case A_ENUM: {
                char list[256] = "";
                for (const char *const *ch = a->choices; *ch; ch++) {
                        if (strcmp(v, *ch) == 0)
                                return 0;
                        size_t n = strlen(list);
                        snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "", *ch);
                }
                return profile_fail(c, "<vmprep:%s %s='%s'>: must be one of %s", elem, a->name, v, list);
        }
        case A_SIZE:
                if (!is_page_size(v) || parse_size_kib(v, NULL, "KiB", &u) < 0 || u == 0)
                        return profile_fail(c,
                                    "<vmprep:%s %s='%s'>: not a page size (like 2M, 1G or 2048K: up to 7 digits, "
                                    "then K, M, G or T, or KiB, MiB, GiB, TiB; none means KiB)",
                                    elem, a->name, v);
                return 0;
        case A_LIST_AUTO:
                /* cpuset_parse(): libvirt's cpuset syntax ("0-3,8", "^N"
                 * exclusions, blanks around items), numbers below CPUSET_MAX.
                 * profile.rng has the same syntax and bound; the two things it
                 * cannot say (RelaxNG does no arithmetic) are checked here
                 * only: a range that runs backwards ("3-1") and a list whose
                 * exclusions remove all it includes ("7,^7"). */
                if (strcmp(v, "auto") != 0 && cpuset_parse(v, &set) < 0)
                        return profile_fail(c, "<vmprep:%s %s='%s'>: must be auto or a list like 0-3,8 (numbers below %d)",
                                    elem, a->name, v, CPUSET_MAX);
                return 0;
        case A_PCI:
                if (pci_address_parse(v, &pci) < 0)
                        return profile_fail(c, "<vmprep:%s %s='%s'>: not a PCI address like 0000:03:00.0", elem, a->name, v);
                return 0;
        case A_UINT:
                if (parse_u64(v, a->min, a->max, &u) < 0)
                        return profile_fail(c, "<vmprep:%s %s='%s'>: must be a whole number from %llu to %llu", elem,
                                    a->name, v, (unsigned long long) a->min, (unsigned long long) a->max);
                return 0;
        case A_MAC:
                if (!is_mac(v))
                        return profile_fail(c, "<vmprep:%s %s='%s'>: not a MAC address like 52:54:00:6d:90:02", elem,
                                    a->name, v);
                return 0;
        case A_MODULES:
                if (!is_module_list(v))
                        return profile_fail(c, "<vmprep:%s %s='%s'>: not a comma-separated list of module names", elem,
                                    a->name, v);
                return 0;
        case A_SERVICES:
                if (!is_service_list(v))
                        return profile_fail(c, "<vmprep:%s %s='%s'>: not a comma-separated list of systemd services like "
                                    "ollama.service (letters, digits, _ . @ -, each ending in .service, at most 64)",
                                    elem, a->name, v);
                return 0;
        case A_RT_RUNTIME:
                if (strcmp(v, "unlimited") != 0 && parse_u64(v, 0, INT32_MAX, &u) < 0)
                        return profile_fail(c, "<vmprep:%s %s='%s'>: must be unlimited or microseconds from 0 to %d", elem,
                                    a->name, v, INT32_MAX);
                return 0;
        case A_SHM_NAME:
                if (!is_shm_name(v))
                        return profile_fail(c, "<vmprep:%s %s='%s'>: not a /dev/shm file name (letters, digits, . _ -, "
                                    "not starting with . or -, at most 100)", elem, a->name, v);
                return 0;
        case A_KVMFR:
                if (!is_kvmfr(v))
                        return profile_fail(c, "<vmprep:%s %s='%s'>: not a kvmfr device like /dev/kvmfr0", elem, a->name, v);
                return 0;
        case A_ACCOUNT:
                if (!is_account(v))
                        return profile_fail(c, "<vmprep:%s %s='%s'>: not a user or group name (letters, digits, . _ -, "
                                    "at most 32, not starting with a digit)", elem, a->name, v);
                return 0;
        case A_MODE:
                if (!is_mode(v))
                        return profile_fail(c, "<vmprep:%s %s='%s'>: not a file mode like 0660 (octal, no set-id or "
                                    "sticky bits)", elem, a->name, v);
                return 0;
        case A_RESET:
                if (!is_reset_methods(v))
                        return profile_fail(c, "<vmprep:%s %s='%s'>: must be default or up to 7 reset methods separated by "
                                    "single blanks, like 'flr bus' (device_specific, acpi, flr, af_flr, pm, bus, "
                                    "cxl_bus)", elem, a->name, v);
                return 0;
        }
        return -EINVAL;
}
