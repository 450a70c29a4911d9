/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Parse a run of decimal digits at *p into *ret, advancing *p.  Overflow and
 * an empty run are errors. */
static int scan_decimal(const char **p, uint64_t *ret)
{
        const char *s = *p;
        uint64_t v = 0;

        if (!is_digit(*s))
                return -EINVAL;
        for (; is_digit(*s); s++) {
                unsigned d = (unsigned) (*s - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *p = s;
        *ret = v;
        return 0;
}

int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
        uint64_t v;
        int r;

        if (!s)
                return -EINVAL;
        r = scan_decimal(&s, &v);
        if (r < 0)
                return r;
        if (*s != '\0')
                return -EINVAL;
        if (v < min || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

int parse_i64(const char *s, int64_t min, int64_t max, int64_t *ret)
{
        bool neg = false;
        uint64_t v;
        int r;

        if (!s)
                return -EINVAL;
        if (*s == '-') {
                neg = true;
                s++;
        }
        r = scan_decimal(&s, &v);
        if (r < 0)
                return r;
        if (*s != '\0')
                return -EINVAL;
        if (neg) {
                if (v > (uint64_t) INT64_MAX + 1)
                        return -ERANGE;
                int64_t n = v == (uint64_t) INT64_MAX + 1 ? INT64_MIN : -(int64_t) v;
                if (n < min || n > max)
                        return -ERANGE;
                *ret = n;
        } else {
                if (v > (uint64_t) INT64_MAX || (int64_t) v < min || (int64_t) v > max)
                        return -ERANGE;
                *ret = (int64_t) v;
        }
        return 0;
}

int parse_u64_c(const char *s, uint64_t max, uint64_t *ret)
{
        uint64_t v = 0;

        if (!s || !*s)
                return -EINVAL;
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
                s += 2;
                if (!*s)
                        return -EINVAL;
                for (; *s; s++) {
                        int d = hexval(*s);
                        if (d < 0)
                                return -EINVAL;
                        if (v > (UINT64_MAX >> 4))
                                return -ERANGE;
                        v = (v << 4) | (unsigned) d;
                }
        } else {
                int r = scan_decimal(&s, &v);
                if (r < 0)
                        return r;
                if (*s)
                        return -EINVAL;
        }
        if (v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

int parse_yesno(const char *s, bool *ret)
{
        if (!s)
                return -EINVAL;
        if (strcmp(s, "yes") == 0)
                *ret = true;
        else if (strcmp(s, "no") == 0)
                *ret = false;
        else
                return -EINVAL;
        return 0;
}

/* Bytes per unit, libvirt's table (src/util/virutil.c virScaleInteger). */
static int unit_scale(const char *u, uint64_t *ret)
{
        static const struct {
                const char *name;
                unsigned power;  /* exponent */
                bool si;         /* 1000-based */
        } table[] = {
                { "b", 0, false },  { "bytes", 0, false },
                { "k", 1, false },  { "K", 1, false },  { "KiB", 1, false }, { "KB", 1, true },
                { "m", 2, false },  { "M", 2, false },  { "MiB", 2, false }, { "MB", 2, true },
                { "g", 3, false },  { "G", 3, false },  { "GiB", 3, false }, { "GB", 3, true },
                { "t", 4, false },  { "T", 4, false },  { "TiB", 4, false }, { "TB", 4, true },
                { "p", 5, false },  { "P", 5, false },  { "PiB", 5, false }, { "PB", 5, true },
                { "e", 6, false },  { "E", 6, false },  { "EiB", 6, false }, { "EB", 6, true },
        };

        for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
                if (strcmp(u, table[i].name) != 0)
                        continue;
                uint64_t scale = 1;
                for (unsigned p = 0; p < table[i].power; p++)
                        scale *= table[i].si ? 1000 : 1024;
                *ret = scale;
                return 0;
        }
        return -EINVAL;
}

int parse_size_kib(const char *s, const char *unit, const char *default_unit, uint64_t *ret_kib)
{
        uint64_t v, scale;
        int r;

        if (!s)
                return -EINVAL;
        r = scan_decimal(&s, &v);
        if (r < 0)
                return r;
        if (*s != '\0') {
                /* Glued unit ("2M"); then a separate unit attribute is a contradiction. */
                if (unit && *unit)
                        return -EINVAL;
                unit = s;
        }
        if (!unit || !*unit)
                unit = default_unit;
        r = unit_scale(unit, &scale);
        if (r < 0)
                return r;
        if (v != 0 && scale > UINT64_MAX / v)
                return -ERANGE;
        v *= scale;
        *ret_kib = v / 1024 + (v % 1024 ? 1 : 0);
        return 0;
}

void format_size_kib(uint64_t kib, char *buf, size_t size)
{
        static const char *const names[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
        unsigned i = 0;

        while (i + 1 < sizeof(names) / sizeof(names[0]) && kib >= 1024 && kib % 1024 == 0) {
                kib /= 1024;
                i++;
        }
        snprintf(buf, size, "%llu %s", (unsigned long long) kib, names[i]);
}

void format_memory_kib(uint64_t kib, char *buf, size_t size)
{
        static const char *const names[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
        double v = (double) kib;
        unsigned i = 0;

        while (i + 1 < sizeof(names) / sizeof(names[0]) && v >= 1024) {
                v /= 1024;
                i++;
        }
        if (v >= 100 || v == (double) (uint64_t) v)
                snprintf(buf, size, "%.0f %s", v, names[i]);
        else
                snprintf(buf, size, "%.1f %s", v, names[i]);
}

void cpuset_clear(CpuSet *set) { memset(set, 0, sizeof(*set)); }

void cpuset_set(CpuSet *set, unsigned cpu)
{
        if (cpu < CPUSET_MAX)
                set->bits[cpu / 64] |= UINT64_C(1) << (cpu % 64);
}

bool cpuset_isset(const CpuSet *set, unsigned cpu)
{
        return cpu < CPUSET_MAX && (set->bits[cpu / 64] >> (cpu % 64)) & 1;
}

unsigned cpuset_count(const CpuSet *set)
{
        unsigned n = 0;
        for (size_t i = 0; i < CPUSET_MAX / 64; i++)
                n += (unsigned) __builtin_popcountll(set->bits[i]);
        return n;
}

bool cpuset_empty(const CpuSet *set) { return cpuset_next(set, 0) < 0; }

bool cpuset_equal(const CpuSet *a, const CpuSet *b) { return memcmp(a, b, sizeof(*a)) == 0; }

bool cpuset_intersects(const CpuSet *a, const CpuSet *b)
{
        for (size_t i = 0; i < CPUSET_MAX / 64; i++)
                if (a->bits[i] & b->bits[i])
                        return true;
        return false;
}

void cpuset_or(CpuSet *dst, const CpuSet *src)
{
        for (size_t i = 0; i < CPUSET_MAX / 64; i++)
                dst->bits[i] |= src->bits[i];
}

void cpuset_andnot(CpuSet *dst, const CpuSet *src)
{
        for (size_t i = 0; i < CPUSET_MAX / 64; i++)
                dst->bits[i] &= ~src->bits[i];
}

int cpuset_next(const CpuSet *set, unsigned from)
{
        for (unsigned w = from / 64; w < CPUSET_MAX / 64; w++) {
                uint64_t bits = set->bits[w];
                if (w == from / 64)
                        bits &= ~UINT64_C(0) << (from % 64);
                if (bits)
                        return (int) (w * 64 + (unsigned) __builtin_ctzll(bits));
        }
        return -1;
}

static const char *skip_spaces(const char *s)
{
        while (*s == ' ' || *s == '\t' || *s == '\n')
                s++;
        return s;
}

/*
 * Grammar (libvirt virBitmapParse): item {"," item}, item = ["^"] N ["-" M],
 * with optional blanks around items.  Exclusions apply after all inclusions.
 */
int cpuset_parse(const char *s, CpuSet *ret)
{
        CpuSet include, exclude;
        bool any = false;

        if (!s)
                return -EINVAL;
        cpuset_clear(&include);
        cpuset_clear(&exclude);

        for (;;) {
                bool neg = false;
                uint64_t lo, hi;
                int r;

                s = skip_spaces(s);
                if (*s == '^') {
                        neg = true;
                        s++;
                }
                r = scan_decimal(&s, &lo);
                if (r < 0)
                        return -EINVAL;
                hi = lo;
                if (*s == '-') {
                        if (neg)
                                return -EINVAL;
                        s++;
                        r = scan_decimal(&s, &hi);
                        if (r < 0)
                                return -EINVAL;
                }
                if (lo >= CPUSET_MAX || hi >= CPUSET_MAX || hi < lo)
                        return -ERANGE;
                for (uint64_t c = lo; c <= hi; c++)
                        cpuset_set(neg ? &exclude : &include, (unsigned) c);
                if (!neg)
                        any = true;
                s = skip_spaces(s);
                if (*s == '\0')
                        break;
                if (*s != ',')
                        return -EINVAL;
                s++;
        }
        if (!any)
                return -EINVAL;
        cpuset_andnot(&include, &exclude);
        if (cpuset_empty(&include))
                return -EINVAL; /* "7,^7": everything excluded (found by fuzz_parsers) */
        *ret = include;
        return 0;
}

int cpuset_format(const CpuSet *set, char *buf, size_t size)
{
        size_t len = 0;
        int c = cpuset_next(set, 0);

        if (size == 0)
                return -ENOBUFS;
        buf[0] = '\0';
        while (c >= 0) {
                int end = c;
                while (end + 1 < CPUSET_MAX && cpuset_isset(set, (unsigned) end + 1))
                        end++;
                int n = end == c ? snprintf(buf + len, size - len, "%s%d", len ? "," : "", c)
                                 : snprintf(buf + len, size - len, "%s%d-%d", len ? "," : "", c, end);
                if (n < 0 || (size_t) n >= size - len)
                        return -ENOBUFS;
                len += (size_t) n;
                c = end + 1 < CPUSET_MAX ? cpuset_next(set, (unsigned) end + 1) : -1;
        }
        return 0;
}

/* Between min_digits and max_digits hex digits. */
static int scan_hex(const char **p, unsigned min_digits, unsigned max_digits, uint32_t *ret)
{
        const char *s = *p;
        uint32_t v = 0;
        unsigned n = 0;
        int d;

        while ((d = hexval(*s)) >= 0) {
                if (++n > max_digits)
                        return -EINVAL;
                v = (v << 4) | (unsigned) d;
                s++;
        }
        if (n < min_digits)
                return -EINVAL;
        *p = s;
        *ret = v;
        return 0;
}

int pci_address_parse(const char *s, PciAddress *ret)
{
        uint32_t a, b, slot, fn, domain = 0;
        const char *p = s;

        if (!s)
                return -EINVAL;
        /* Either "DDDD:BB:SS.F" or "BB:SS.F". */
        if (scan_hex(&p, 2, 8, &a) < 0 || *p != ':')
                return -EINVAL;
        p++;
        if (scan_hex(&p, 2, 2, &b) < 0)
                return -EINVAL;
        if (*p == ':') {
                if (p - s < 7) /* the domain needs at least 4 digits */
                        return -EINVAL;
                p++;
                domain = a;
                a = b;
                if (scan_hex(&p, 2, 2, &b) < 0)
                        return -EINVAL;
        } else if (p - s != 5) {
                return -EINVAL;
        }
        /* now a = bus, b = slot */
        if (*p != '.')
                return -EINVAL;
        p++;
        if (scan_hex(&p, 1, 1, &fn) < 0 || *p != '\0')
                return -EINVAL;
        slot = b;
        if (a > 0xff || slot > 0x1f || fn > 7)
                return -ERANGE;
        ret->domain = domain;
        ret->bus = (uint8_t) a;
        ret->slot = (uint8_t) slot;
        ret->function = (uint8_t) fn;
        return 0;
}

void pci_address_format(const PciAddress *a, char buf[PCI_ADDRESS_STRLEN])
{
        snprintf(buf, PCI_ADDRESS_STRLEN, "%04x:%02x:%02x.%x", a->domain, a->bus, a->slot, a->function);
}

bool pci_address_equal(const PciAddress *a, const PciAddress *b)
{
        return a->domain == b->domain && a->bus == b->bus && a->slot == b->slot &&
               a->function == b->function;
}

int uuid_parse(const char *s, char ret[UUID_STRLEN])
{
        static const unsigned groups[] = { 8, 4, 4, 4, 12 };
        char out[UUID_STRLEN];
        size_t o = 0;

        if (!s)
                return -EINVAL;
        for (size_t g = 0; g < 5; g++) {
                for (unsigned i = 0; i < groups[g]; i++, s++) {
                        if (hexval(*s) < 0)
                                return -EINVAL;
                        out[o++] = (char) tolower((unsigned char) *s);
                }
                if (g < 4) {
                        if (*s != '-')
                                return -EINVAL;
                        out[o++] = *s++;
                }
        }
        if (*s != '\0')
                return -EINVAL;
        out[o] = '\0';
        memcpy(ret, out, UUID_STRLEN);
        return 0;
}

bool name_is_valid(const char *s)
{
        size_t n = 0;

        if (!s || !isalnum((unsigned char) s[0]))
                return false;
        for (; *s; s++, n++) {
                if (n >= 64)
                        return false;
                if (!isalnum((unsigned char) *s) && *s != '_' && *s != '-' && *s != '.')
                        return false;
        }
        return true;
}

bool service_name_is_valid(const char *s)
{
        static const char suffix[] = ".service";
        size_t n = s ? strlen(s) : 0;

        if (n <= sizeof(suffix) - 1 || n > 64 || strcmp(s + n - (sizeof(suffix) - 1), suffix) != 0 ||
            !isalnum((unsigned char) s[0]))
                return false;
        for (; *s; s++)
                if (!isalnum((unsigned char) *s) && *s != '_' && *s != '-' && *s != '.' && *s != '@')
                        return false;
        return true;
}

/* ---- masks: the kernel's bitmap format, 32-bit words in hex, highest first ---- */

int cpus_mask_format(const CpuSet *set, char *buf, size_t size)
{
        int top = -1;
        size_t len = 0;

        for (int w = CPUSET_MAX / 32 - 1; w >= 0; w--) {
                uint32_t v = (uint32_t) (set->bits[w / 2] >> ((w % 2) * 32));
                if (top < 0 && v == 0 && w > 0)
                        continue;
                int n = top < 0 ? snprintf(buf + len, size - len, "%x", v)
                                : snprintf(buf + len, size - len, ",%08x", v);
                if (n < 0 || (size_t) n >= size - len)
                        return -ENOBUFS;
                len += (size_t) n;
                top = w;
        }
        return 0;
}

int cpus_mask_parse(const char *s, CpuSet *ret)
{
        const char *words[CPUSET_MAX / 32];
        size_t n = 0;
        char copy[CPUSET_MAX / 4 + CPUSET_MAX / 32 + 2], *save = NULL;

        if (!s || !*s || strlen(s) >= sizeof(copy) || s[0] == ',' || s[strlen(s) - 1] == ',' || strstr(s, ",,"))
                return -EINVAL;
        snprintf(copy, sizeof(copy), "%s", s);
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (n == CPUSET_MAX / 32 || !*t || strlen(t) > 8)
                        return -EINVAL;
                words[n++] = t;
        }
        if (n == 0)
                return -EINVAL;
        cpuset_clear(ret);
        for (size_t i = 0; i < n; i++) {
                uint64_t v = 0;
                for (const char *h = words[i]; *h; h++) {
                        int x = *h >= '0' && *h <= '9' ? *h - '0'
                                : *h >= 'a' && *h <= 'f' ? *h - 'a' + 10
                                : *h >= 'A' && *h <= 'F' ? *h - 'A' + 10 : -1;
                        if (x < 0)
                                return -EINVAL;
                        v = v << 4 | (uint64_t) x;
                }
                size_t w = n - 1 - i;
                for (unsigned b = 0; b < 32; b++)
                        if (v & (UINT64_C(1) << b))
                                cpuset_set(ret, (unsigned) (w * 32 + b));
        }
        return 0;
}
