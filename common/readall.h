/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Read a whole file descriptor into a NUL-terminated malloc'd buffer.
 * libc only and header-only: the hooks' static fast path uses it too.
 */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* At most max bytes (more are left unread); NULL when out of memory. */
static inline char *read_all_fd(int fd, size_t max, size_t *len)
{
        size_t cap = 16384, n = 0;
        char *buf = malloc(cap + 1);

        if (!buf)
                return NULL;
        for (;;) {
                if (n == cap) {
                        if (cap >= max)
                                break;
                        cap = cap * 2 > max ? max : cap * 2;
                        char *nb = realloc(buf, cap + 1);
                        if (!nb) {
                                free(buf);
                                return NULL;
                        }
                        buf = nb;
                }
                ssize_t r = read(fd, buf + n, cap - n);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        break;
                n += (size_t) r;
        }
        buf[n] = '\0';
        *len = n;
        return buf;
}
