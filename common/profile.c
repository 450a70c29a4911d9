/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "profile.h"

#include "sysfs.h"
#include "xml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#ifndef VMPREP_PROFILEDIR
#define VMPREP_PROFILEDIR "/usr/local/share/vmprep/profiles"
#endif
#define PROFILE_ETCDIR "/etc/vmprep/profiles"
#define PROFILE_MAX_BYTES (1024 * 1024)

static const char *shipped_dir = VMPREP_PROFILEDIR;

void profile_set_shipped_dir(const char *dir) { shipped_dir = dir; }

/* ---- the grammar ---- */

/* A named profile's name, as the schema has it: [a-z0-9][a-z0-9_-]{0,63}. */
static bool profile_name_valid(const char *s)
{
        size_t n = 0;
        if (!s || !((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
                return false;
        for (; *s; s++, n++)
                if (n >= 64 || !((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
                        return false;
        return true;
}

typedef enum AttrType {
        A_YESNO,
        A_ONOFF,
        A_ENUM,
        A_SIZE,
        A_LIST_AUTO,  /* "auto" or a CPU/node list */
        A_PCI,
        A_UINT,
        A_MAC,
        A_MODULES,
        A_SERVICES,   /* systemd services: a,b.service */
        A_RT_RUNTIME,
        A_SHM_NAME,   /* a file name in /dev/shm */
        A_KVMFR,      /* /dev/kvmfrN */
        A_ACCOUNT,    /* a user or group name */
        A_MODE,       /* an octal file mode without set-id or sticky bits */
        A_RESET,      /* a PCI reset_method value: "default" or method names */
} AttrType;

typedef struct AttrSpec {
        const char *name;
        AttrType type;
        const char *const *choices; /* A_ENUM, NULL-terminated */
        uint64_t min, max;          /* A_UINT */
        bool required;
} AttrSpec;

typedef struct ElemSpec {
        const char *name;
        const AttrSpec *attrs;
        bool multiple;             /* may appear more than once, told apart by key */
        const char *key;           /* attribute that identifies it among its siblings */
        const struct ElemSpec *children;
        /* another attribute that identifies it instead of key: exactly one
         * of the two is given (<vmprep:shmem name=...> or device=...) */
        const char *key2;
} ElemSpec;

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
static const ElemSpec top_elems[] = {
        { "vfio", vfio_attrs, false, NULL, vfio_children, NULL },
        { "hugepages", hugepages_attrs, false, NULL, NULL, NULL },
        { "isolate", isolate_attrs, false, NULL, NULL, NULL },
        { "sriov", sriov_attrs, true, "pf", sriov_children, NULL },
        { "tune", tune_attrs, false, NULL, NULL, NULL },
        { "shmem", shmem_attrs, true, "name", NULL, "device" },
        { NULL, NULL, false, NULL, NULL, NULL },
};

/* ---- errors ---- */

typedef struct Ctx {
        const char *origin;
        char *err;
        size_t errlen;
} Ctx;

static int fail(Ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(Ctx *c, const char *fmt, ...)
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

static int check_value(Ctx *c, const char *elem, const AttrSpec *a, const char *v)
{
        uint64_t u;
        CpuSet set;
        PciAddress pci;
        bool b;

        switch (a->type) {
        case A_YESNO:
                if (parse_yesno(v, &b) < 0)
                        return fail(c, "<vmprep:%s %s='%s'>: must be yes or no", elem, a->name, v);
                return 0;
        case A_ONOFF:
                if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0)
                        return fail(c, "<vmprep:%s %s='%s'>: must be on or off", elem, a->name, v);
                return 0;
        case A_ENUM: {
                char list[256] = "";
                for (const char *const *ch = a->choices; *ch; ch++) {
                        if (strcmp(v, *ch) == 0)
                                return 0;
                        size_t n = strlen(list);
                        snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "", *ch);
                }
                return fail(c, "<vmprep:%s %s='%s'>: must be one of %s", elem, a->name, v, list);
        }
        case A_SIZE:
                if (!is_page_size(v) || parse_size_kib(v, NULL, "KiB", &u) < 0 || u == 0)
                        return fail(c,
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
                        return fail(c, "<vmprep:%s %s='%s'>: must be auto or a list like 0-3,8 (numbers below %d)",
                                    elem, a->name, v, CPUSET_MAX);
                return 0;
        case A_PCI:
                if (pci_address_parse(v, &pci) < 0)
                        return fail(c, "<vmprep:%s %s='%s'>: not a PCI address like 0000:03:00.0", elem, a->name, v);
                return 0;
        case A_UINT:
                if (parse_u64(v, a->min, a->max, &u) < 0)
                        return fail(c, "<vmprep:%s %s='%s'>: must be a whole number from %llu to %llu", elem,
                                    a->name, v, (unsigned long long) a->min, (unsigned long long) a->max);
                return 0;
        case A_MAC:
                if (!is_mac(v))
                        return fail(c, "<vmprep:%s %s='%s'>: not a MAC address like 52:54:00:6d:90:02", elem,
                                    a->name, v);
                return 0;
        case A_MODULES:
                if (!is_module_list(v))
                        return fail(c, "<vmprep:%s %s='%s'>: not a comma-separated list of module names", elem,
                                    a->name, v);
                return 0;
        case A_SERVICES:
                if (!is_service_list(v))
                        return fail(c, "<vmprep:%s %s='%s'>: not a comma-separated list of systemd services like "
                                    "ollama.service (letters, digits, _ . @ -, each ending in .service, at most 64)",
                                    elem, a->name, v);
                return 0;
        case A_RT_RUNTIME:
                if (strcmp(v, "unlimited") != 0 && parse_u64(v, 0, INT32_MAX, &u) < 0)
                        return fail(c, "<vmprep:%s %s='%s'>: must be unlimited or microseconds from 0 to %d", elem,
                                    a->name, v, INT32_MAX);
                return 0;
        case A_SHM_NAME:
                if (!is_shm_name(v))
                        return fail(c, "<vmprep:%s %s='%s'>: not a /dev/shm file name (letters, digits, . _ -, "
                                    "not starting with . or -, at most 100)", elem, a->name, v);
                return 0;
        case A_KVMFR:
                if (!is_kvmfr(v))
                        return fail(c, "<vmprep:%s %s='%s'>: not a kvmfr device like /dev/kvmfr0", elem, a->name, v);
                return 0;
        case A_ACCOUNT:
                if (!is_account(v))
                        return fail(c, "<vmprep:%s %s='%s'>: not a user or group name (letters, digits, . _ -, "
                                    "at most 32, not starting with a digit)", elem, a->name, v);
                return 0;
        case A_MODE:
                if (!is_mode(v))
                        return fail(c, "<vmprep:%s %s='%s'>: not a file mode like 0660 (octal, no set-id or "
                                    "sticky bits)", elem, a->name, v);
                return 0;
        case A_RESET:
                if (!is_reset_methods(v))
                        return fail(c, "<vmprep:%s %s='%s'>: must be default or up to 7 reset methods separated by "
                                    "single blanks, like 'flr bus' (device_specific, acpi, flr, af_flr, pm, bus, "
                                    "cxl_bus)", elem, a->name, v);
                return 0;
        }
        return -EINVAL;
}

/* A key value in canonical form so that "03:00.0" and "0000:03:00.0" match. */
static void canonical_key(const ElemSpec *spec, const char *v, char *out, size_t size)
{
        PciAddress pci;
        if (spec->key && strcmp(spec->key, "address") == 0 && pci_address_parse(v, &pci) == 0) {
                char buf[PCI_ADDRESS_STRLEN];
                pci_address_format(&pci, buf);
                snprintf(out, size, "%s", buf);
        } else if (spec->key && strcmp(spec->key, "pf") == 0 && pci_address_parse(v, &pci) == 0) {
                char buf[PCI_ADDRESS_STRLEN];
                pci_address_format(&pci, buf);
                snprintf(out, size, "%s", buf);
        } else if (spec->key && strcmp(spec->key, "index") == 0) {
                uint64_t u;
                if (parse_u64(v, 0, UINT64_MAX, &u) == 0)
                        snprintf(out, size, "%llu", (unsigned long long) u);
                else
                        snprintf(out, size, "%s", v);
        } else {
                snprintf(out, size, "%s", v ? v : "");
        }
}

/* ---- the element tree ---- */

static void elem_clear(ProfileElem *e)
{
        for (size_t i = 0; i < e->n_attrs; i++) {
                free(e->attrs[i].name);
                free(e->attrs[i].value);
        }
        free(e->attrs);
        for (size_t i = 0; i < e->n_children; i++)
                elem_clear(&e->children[i]);
        free(e->children);
        free(e->name);
        memset(e, 0, sizeof(*e));
}

void profile_free(Profile *p)
{
        if (!p)
                return;
        for (size_t i = 0; i < p->n_elems; i++)
                elem_clear(&p->elems[i]);
        free(p->elems);
        free(p->use);
        free(p);
}

static ProfileElem *elem_append(ProfileElem **arr, size_t *n)
{
        ProfileElem *a = realloc(*arr, (*n + 1) * sizeof(**arr));
        if (!a)
                return NULL;
        *arr = a;
        memset(&a[*n], 0, sizeof(a[*n]));
        return &a[(*n)++];
}

static int elem_set_attr(ProfileElem *e, const char *name, const char *value)
{
        for (size_t i = 0; i < e->n_attrs; i++)
                if (strcmp(e->attrs[i].name, name) == 0) {
                        char *v = strdup(value);
                        if (!v)
                                return -ENOMEM;
                        free(e->attrs[i].value);
                        e->attrs[i].value = v;
                        return 0;
                }
        ProfileAttr *a = realloc(e->attrs, (e->n_attrs + 1) * sizeof(*a));
        if (!a)
                return -ENOMEM;
        e->attrs = a;
        a[e->n_attrs].name = strdup(name);
        a[e->n_attrs].value = strdup(value);
        if (!a[e->n_attrs].name || !a[e->n_attrs].value) {
                free(a[e->n_attrs].name);
                free(a[e->n_attrs].value);
                return -ENOMEM;
        }
        e->n_attrs++;
        return 0;
}

const char *profile_attr(const ProfileElem *e, const char *name)
{
        if (!e)
                return NULL;
        for (size_t i = 0; i < e->n_attrs; i++)
                if (strcmp(e->attrs[i].name, name) == 0)
                        return e->attrs[i].value;
        return NULL;
}

bool profile_attr_yes(const ProfileElem *e, const char *name, bool def)
{
        const char *v = profile_attr(e, name);
        bool b;
        if (!v || parse_yesno(v, &b) < 0)
                return def;
        return b;
}

int profile_check_override(const char *elem, const char *attr, char *err, size_t errlen)
{
        char names[128] = "";
        for (const ElemSpec *e = top_elems; e->name; e++) {
                if (e->multiple)
                        continue;
                snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", names[0] ? ", " : "",
                         e->name);
        }
        for (const ElemSpec *e = top_elems; e->name; e++) {
                if (strcmp(e->name, elem) != 0)
                        continue;
                if (e->multiple) {
                        snprintf(err, errlen,
                                 "<%s> may appear more than once, so %s.%s cannot say which: write it into "
                                 "the domain's <metadata> by hand (virsh edit); tag keeps it",
                                 elem, elem, attr);
                        return -EINVAL;
                }
                char attrs[256] = "";
                for (const AttrSpec *a = e->attrs; a->name; a++) {
                        if (strcmp(a->name, attr) == 0)
                                return 0;
                        snprintf(attrs + strlen(attrs), sizeof(attrs) - strlen(attrs), "%s%s",
                                 attrs[0] ? ", " : "", a->name);
                }
                snprintf(err, errlen, "<%s> has no attribute '%s' (it has %s)", elem, attr, attrs);
                return -EINVAL;
        }
        snprintf(err, errlen, "'%s' is not a profile element (%s)", elem, names);
        return -EINVAL;
}

const ProfileElem *profile_elem(const Profile *p, const char *name)
{
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_elems; i++)
                if (strcmp(p->elems[i].name, name) == 0)
                        return &p->elems[i];
        return NULL;
}

bool profile_enabled(const Profile *p, const char *name)
{
        const ProfileElem *e = profile_elem(p, name);
        return e && profile_attr_yes(e, "enabled", true);
}

bool profile_elem_enabled(const ProfileElem *e) { return e && profile_attr_yes(e, "enabled", true); }

bool profile_any_enabled(const Profile *p, const char *name)
{
        for (size_t i = 0; p && i < p->n_elems; i++)
                if (strcmp(p->elems[i].name, name) == 0 && profile_elem_enabled(&p->elems[i]))
                        return true;
        return false;
}

static bool in_ns(xmlNodePtr n)
{
        return n->ns && n->ns->href && strcmp((const char *) n->ns->href, PROFILE_NS) == 0;
}

static const char *key_of(const ElemSpec *spec, const ProfileElem *e)
{
        const char *k = spec->key ? profile_attr(e, spec->key) : NULL;
        return !k && spec->key2 ? profile_attr(e, spec->key2) : k;
}

/* Read element `node` (already matched to `spec`) into `out`, checking
 * attributes, values and children. */
static int read_elem(Ctx *c, const ElemSpec *spec, xmlNodePtr node, ProfileElem *out)
{
        int r;

        out->name = strdup(spec->name);
        if (!out->name)
                return -ENOMEM;
        for (xmlAttrPtr a = node->properties; a; a = a->next) {
                const char *an = (const char *) a->name;
                const AttrSpec *as = NULL;

                if (a->ns)
                        return fail(c, "<vmprep:%s>: attribute %s:%s is not part of the vmprep profile", spec->name,
                                    a->ns->prefix ? (const char *) a->ns->prefix : "", an);
                for (const AttrSpec *s = spec->attrs; s->name; s++)
                        if (strcmp(s->name, an) == 0)
                                as = s;
                if (!as)
                        return fail(c, "<vmprep:%s>: unknown attribute %s", spec->name, an);
                _cleanup_xmlstr_ char *v = xml_attr(node, an);
                if (!v)
                        return -ENOMEM;
                r = check_value(c, spec->name, as, v);
                if (r < 0)
                        return r;
                r = elem_set_attr(out, an, v);
                if (r < 0)
                        return r;
        }
        for (const AttrSpec *s = spec->attrs; s->name; s++)
                if (s->required && !profile_attr(out, s->name))
                        return fail(c, "<vmprep:%s>: the %s attribute is required", spec->name, s->name);
        if (spec->key2 && !profile_attr(out, spec->key) == !profile_attr(out, spec->key2))
                return fail(c, "<vmprep:%s>: give %s= or %s=, one of them", spec->name, spec->key, spec->key2);

        for (xmlNodePtr ch = node->children; ch; ch = ch->next) {
                if (ch->type == XML_COMMENT_NODE || ch->type == XML_PI_NODE)
                        continue;
                if (ch->type == XML_TEXT_NODE || ch->type == XML_CDATA_SECTION_NODE) {
                        for (const xmlChar *t = ch->content; t && *t; t++)
                                if (*t != ' ' && *t != '\t' && *t != '\n' && *t != '\r')
                                        return fail(c, "<vmprep:%s>: text is not allowed inside it", spec->name);
                        continue;
                }
                if (ch->type != XML_ELEMENT_NODE)
                        return fail(c, "<vmprep:%s>: unexpected content (entity or other node)", spec->name);
                const ElemSpec *cs = NULL;
                if (in_ns(ch) && spec->children)
                        for (const ElemSpec *s = spec->children; s->name; s++)
                                if (strcmp(s->name, (const char *) ch->name) == 0)
                                        cs = s;
                if (!cs)
                        return fail(c, "<vmprep:%s>: unknown element <%s%s%s>%s", spec->name,
                                    ch->ns && ch->ns->prefix ? (const char *) ch->ns->prefix : "",
                                    ch->ns && ch->ns->prefix ? ":" : "", (const char *) ch->name,
                                    in_ns(ch) ? "" : " (elements must be in namespace " PROFILE_NS ")");
                ProfileElem *e = elem_append(&out->children, &out->n_children);
                if (!e)
                        return -ENOMEM;
                r = read_elem(c, cs, ch, e);
                if (r < 0)
                        return r;
                /* duplicates among siblings */
                for (size_t i = 0; i + 1 < out->n_children; i++) {
                        if (strcmp(out->children[i].name, e->name) != 0)
                                continue;
                        char k1[128], k2[128];
                        canonical_key(cs, key_of(cs, &out->children[i]), k1, sizeof(k1));
                        canonical_key(cs, key_of(cs, e), k2, sizeof(k2));
                        if (!cs->multiple || strcmp(k1, k2) == 0)
                                return fail(c, "<vmprep:%s%s%s%s%s> appears twice in <vmprep:%s>", cs->name,
                                            cs->key ? " " : "",
                                            cs->key2 && !profile_attr(e, cs->key) ? cs->key2 : cs->key ? cs->key : "",
                                            cs->key ? "=" : "", cs->key ? k2 : "", spec->name);
                }
        }
        return 0;
}

static const ElemSpec root_spec = { "profile", NULL, false, NULL, top_elems, NULL };

/* Read a <vmprep:profile> element into a new Profile (no merge). */
static int read_profile(Ctx *c, xmlNodePtr root, Profile **ret)
{
        static const AttrSpec no_attrs[] = { { NULL, 0, NULL, 0, 0, false } };
        Profile *p;
        ProfileElem tmp = { 0 };
        char *use = NULL;
        int r;

        if (!in_ns(root) || strcmp((const char *) root->name, "profile") != 0)
                return fail(c, "the vmprep element must be <vmprep:profile xmlns:vmprep=\"%s\">, not <%s>",
                            PROFILE_NS, (const char *) root->name);
        /* use= is the one attribute of the root; read_elem sees none. */
        for (xmlAttrPtr a = root->properties; a; a = a->next) {
                if (a->ns || strcmp((const char *) a->name, "use") != 0) {
                        free(use); /* use="..." before an unknown attribute (found by fuzz_profile) */
                        return fail(c, "<vmprep:profile>: unknown attribute %s", (const char *) a->name);
                }
                if (use)
                        continue;
                use = xml_attr(root, "use");
                if (!use)
                        return -ENOMEM;
                if (!profile_name_valid(use)) {
                        r = fail(c, "<vmprep:profile use='%s'>: not a profile name (lowercase letters, digits, - and _)",
                                 use);
                        free(use);
                        return r;
                }
        }
        ElemSpec spec = root_spec;
        spec.attrs = no_attrs;
        xmlAttrPtr saved = root->properties;
        root->properties = NULL; /* checked above */
        r = read_elem(c, &spec, root, &tmp);
        root->properties = saved;
        if (r < 0) {
                free(use);
                elem_clear(&tmp);
                return r;
        }
        p = calloc(1, sizeof(*p));
        if (!p) {
                free(use);
                elem_clear(&tmp);
                return -ENOMEM;
        }
        p->use = use;
        p->elems = tmp.children;
        p->n_elems = tmp.n_children;
        free(tmp.name);
        *ret = p;
        return 0;
}

int profile_parse_document(const char *xml, size_t len, const char *origin, Profile **ret, char *err,
                           size_t errlen)
{
        Ctx c = { origin, err, errlen };
        char perr[512];
        xmlDocPtr doc = xml_parse(xml, len, origin, perr, sizeof(perr));
        int r;

        if (!doc) {
                snprintf(err, errlen, "%s", perr);
                return -EINVAL;
        }
        r = read_profile(&c, xmlDocGetRootElement(doc), ret);
        xmlFreeDoc(doc);
        return r;
}

static int load_file(const char *path, bool through_gateway, char **ret, size_t *len)
{
        if (through_gateway)
                return sysfs_read_alloc(path, PROFILE_MAX_BYTES, ret, len);
        FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        char *buf = malloc(PROFILE_MAX_BYTES + 1);
        if (!buf) {
                fclose(f);
                return -ENOMEM;
        }
        size_t n = fread(buf, 1, PROFILE_MAX_BYTES + 1, f);
        int bad = ferror(f);
        fclose(f);
        if (bad || n > PROFILE_MAX_BYTES) {
                free(buf);
                return bad ? -EIO : -EFBIG;
        }
        buf[n] = '\0';
        *ret = buf;
        *len = n;
        return 0;
}

int profile_load_named(const char *name, Profile **ret, char *err, size_t errlen)
{
        char path[SYSFS_PATH_MAX];
        char *buf = NULL;
        size_t len = 0;
        int r;

        if (!profile_name_valid(name)) {
                snprintf(err, errlen, "'%s' is not a profile name", name);
                return -EINVAL;
        }
        snprintf(path, sizeof(path), PROFILE_ETCDIR "/%s.xml", name);
        r = load_file(path, true, &buf, &len);
        if (r == -ENOENT) {
                snprintf(path, sizeof(path), "%s/%s.xml", shipped_dir, name);
                r = load_file(path, false, &buf, &len);
        }
        if (r == -ENOENT) {
                snprintf(err, errlen, "<vmprep:profile use='%s'>: there is no profile '%s' (looked in " PROFILE_ETCDIR
                         " and %s)", name, name, shipped_dir);
                return -EINVAL;
        }
        if (r < 0) {
                snprintf(err, errlen, "cannot read profile %s: %s", path, strerror(-r));
                return r;
        }
        char origin[SYSFS_PATH_MAX + 32];
        snprintf(origin, sizeof(origin), "profile '%s' (%s)", name, path);
        r = profile_parse_document(buf, len, origin, ret, err, errlen);
        free(buf);
        if (r == 0 && (*ret)->use) {
                snprintf(err, errlen, "%s: a named profile cannot itself use another (use='%s')", origin, (*ret)->use);
                profile_free(*ret);
                *ret = NULL;
                return -EINVAL;
        }
        return r;
}

/* Merge src's attributes and children over dst (same element). */
static int merge_elem(const ElemSpec *spec, ProfileElem *dst, const ProfileElem *src)
{
        int r;

        for (size_t i = 0; i < src->n_attrs; i++) {
                r = elem_set_attr(dst, src->attrs[i].name, src->attrs[i].value);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < src->n_children; i++) {
                const ProfileElem *s = &src->children[i];
                const ElemSpec *cs = NULL;
                for (const ElemSpec *x = spec->children; x && x->name; x++)
                        if (strcmp(x->name, s->name) == 0)
                                cs = x;
                if (!cs)
                        return -EINVAL;
                ProfileElem *d = NULL;
                char k1[128], k2[128];
                canonical_key(cs, key_of(cs, s), k1, sizeof(k1));
                for (size_t j = 0; j < dst->n_children; j++) {
                        if (strcmp(dst->children[j].name, s->name) != 0)
                                continue;
                        canonical_key(cs, key_of(cs, &dst->children[j]), k2, sizeof(k2));
                        if (!cs->multiple || strcmp(k1, k2) == 0)
                                d = &dst->children[j];
                }
                if (!d) {
                        d = elem_append(&dst->children, &dst->n_children);
                        if (!d)
                                return -ENOMEM;
                        d->name = strdup(s->name);
                        if (!d->name)
                                return -ENOMEM;
                }
                r = merge_elem(cs, d, s);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Checks across attributes, after the merge. */
static int check_merged(Ctx *c, const Profile *p)
{
        for (size_t i = 0; i < p->n_elems; i++) {
                const ProfileElem *e = &p->elems[i];
                if (strcmp(e->name, "sriov") != 0)
                        continue;
                const char *vfs = profile_attr(e, "vfs");
                uint64_t n;
                if (!vfs || parse_u64(vfs, 0, UINT64_MAX, &n) < 0)
                        continue;
                for (size_t j = 0; j < e->n_children; j++) {
                        const char *idx = profile_attr(&e->children[j], "index");
                        uint64_t k;
                        if (idx && parse_u64(idx, 0, UINT64_MAX, &k) == 0 && k >= n)
                                return fail(c, "<vmprep:vf index='%s'>: the PF %s gets only %s VFs (0-%llu)", idx,
                                            profile_attr(e, "pf"), vfs, (unsigned long long) (n ? n - 1 : 0));
                }
        }
        return 0;
}

int profile_from_domain(const Domain *d, Profile **ret, char *err, size_t errlen)
{
        Ctx c = { "domain <metadata>", err, errlen };
        xmlXPathContextPtr ctx = xmlXPathNewContext(d->doc);
        Profile *own = NULL, *base = NULL;
        int r;

        *ret = NULL;
        if (!ctx)
                return -ENOMEM;
        xmlXPathObjectPtr obj = xml_xpath(ctx, NULL, "/domain/metadata/*[namespace-uri()='" PROFILE_NS "']");
        size_t n = xml_count(obj);
        if (n == 0) {
                r = 0;
                goto out;
        }
        if (n > 1) {
                r = fail(&c, "%zu elements in namespace " PROFILE_NS "; libvirt keeps one per namespace: "
                         "put everything inside one <vmprep:profile>", n);
                goto out;
        }
        r = read_profile(&c, xml_item(obj, 0), &own);
        if (r < 0)
                goto out;
        if (own->use) {
                r = profile_load_named(own->use, &base, err, errlen);
                if (r < 0)
                        goto out;
                /* The merge: the domain's elements over the named profile's. */
                for (size_t i = 0; i < own->n_elems; i++) {
                        const ProfileElem *s = &own->elems[i];
                        const ElemSpec *spec = NULL;
                        for (const ElemSpec *x = top_elems; x->name; x++)
                                if (strcmp(x->name, s->name) == 0)
                                        spec = x;
                        ProfileElem *dst = NULL;
                        char k1[128], k2[128];
                        canonical_key(spec, key_of(spec, s), k1, sizeof(k1));
                        for (size_t j = 0; j < base->n_elems; j++) {
                                if (strcmp(base->elems[j].name, s->name) != 0)
                                        continue;
                                canonical_key(spec, key_of(spec, &base->elems[j]), k2, sizeof(k2));
                                if (!spec->multiple || strcmp(k1, k2) == 0)
                                        dst = &base->elems[j];
                        }
                        if (!dst) {
                                dst = elem_append(&base->elems, &base->n_elems);
                                if (!dst || !(dst->name = strdup(s->name))) {
                                        r = -ENOMEM;
                                        goto out;
                                }
                        }
                        r = merge_elem(spec, dst, s);
                        if (r < 0)
                                goto out;
                }
                base->use = own->use;
                own->use = NULL;
                profile_free(own);
                own = base;
                base = NULL;
        }
        r = check_merged(&c, own);
        if (r < 0)
                goto out;
        *ret = own;
        own = NULL;
out:
        profile_free(own);
        profile_free(base);
        xmlXPathFreeObject(obj);
        xmlXPathFreeContext(ctx);
        return r;
}

static void print_elem(const ProfileElem *e, FILE *f, int depth)
{
        fprintf(f, "%*s<vmprep:%s", depth * 2, "", e->name);
        for (size_t i = 0; i < e->n_attrs; i++)
                fprintf(f, " %s=\"%s\"", e->attrs[i].name, e->attrs[i].value);
        if (!e->n_children) {
                fprintf(f, "/>\n");
                return;
        }
        fprintf(f, ">\n");
        for (size_t i = 0; i < e->n_children; i++)
                print_elem(&e->children[i], f, depth + 1);
        fprintf(f, "%*s</vmprep:%s>\n", depth * 2, "", e->name);
}

void profile_print(const Profile *p, FILE *f)
{
        fprintf(f, "<vmprep:profile xmlns:vmprep=\"" PROFILE_NS "\"");
        if (p->use)
                fprintf(f, " use=\"%s\"", p->use);
        fprintf(f, ">\n");
        for (size_t i = 0; i < p->n_elems; i++)
                print_elem(&p->elems[i], f, 1);
        fprintf(f, "</vmprep:profile>\n");
}
