/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "machine_name.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* libvirt stops adding characters once the name (prefix included) has this many */
#define MACHINE_NAME_MAX 64

static bool hostname_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int machine_name(int id, const char *name, char *buf, size_t size)
{
        char out[MACHINE_NAME_MAX + 1];
        bool skip = true; /* drop a '-' or '.' that follows no kept letter or digit */
        int len;

        if (id < 0)
                return -EINVAL;
        len = snprintf(out, sizeof(out), "qemu-%d-", id);
        if (len < 0 || len >= MACHINE_NAME_MAX)
                return -ENOBUFS;
        for (const char *p = name; *p && len < MACHINE_NAME_MAX; p++) {
                if (*p == '-' || *p == '.') {
                        if (!skip)
                                out[len++] = *p;
                        skip = true;
                } else if (hostname_char(*p)) {
                        out[len++] = *p;
                        skip = false;
                }
                /* anything else (bytes of UTF-8 included) is left out and
                 * changes nothing: "a_.b" gives "a.b" */
        }
        while (len > 0 && (out[len - 1] == '-' || out[len - 1] == '.'))
                len--;
        out[len] = '\0';
        if ((size_t) len >= size)
                return -ENOBUFS;
        memcpy(buf, out, (size_t) len + 1);
        return 0;
}

int machine_name_pending(const char *name, char *buf, size_t size)
{
        char one[MACHINE_NAME_MAX + 1];
        int r = machine_name(1, name, one, sizeof(one));
        if (r < 0)
                return r;
        /* "qemu-1-NAME'" or, when nothing of NAME is kept, "qemu-1" */
        r = snprintf(buf, size, "qemu-ID%s", one + strlen("qemu-1"));
        return r < 0 || (size_t) r >= size ? -ENOBUFS : 0;
}

int machine_scope(const char *machine, char *buf, size_t size)
{
        size_t o = 0;
        int n = snprintf(buf, size, "machine-");

        if (n < 0 || (size_t) n >= size)
                return -ENOBUFS;
        o = (size_t) n;
        for (const char *p = machine; *p; p++) {
                if (o + 5 >= size)
                        return -ENOBUFS;
                if (*p == '-') {
                        memcpy(buf + o, "\\x2d", 4);
                        o += 4;
                } else {
                        buf[o++] = *p;
                }
        }
        n = snprintf(buf + o, size - o, ".scope");
        return n < 0 || (size_t) n >= size - o ? -ENOBUFS : 0;
}

int machine_cgroup_manual(const char *machine, char *buf, size_t size)
{
        int n = snprintf(buf, size, "%s.libvirt-qemu", machine);
        return n < 0 || (size_t) n >= size ? -ENOBUFS : 0;
}
