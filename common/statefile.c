/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The state directory and its files: names, line encoding, checksums,
 * the durable append (state_impl.h). */
#include "state_impl.h"

#include "log.h"
#include "parse.h"
#include "pci.h"
#include "plan.h"
#include "sysfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- encoding ---- */

void journal_escape(const char *in, char *out, size_t size)
{
        static const char hex[] = "0123456789ABCDEF";
        size_t o = 0;

        if (!*in) {
                snprintf(out, size, "-");
                return;
        }
        for (; *in && o + 4 < size; in++) {
                unsigned char c = (unsigned char) *in;
                if (c <= ' ' || c >= 0x7f || c == '%' || (c == '-' && o == 0 && in[1] == '\0')) {
                        out[o++] = '%';
                        out[o++] = hex[c >> 4];
                        out[o++] = hex[c & 15];
                } else {
                        out[o++] = (char) c;
                }
        }
        out[o] = '\0';
}

int journal_unescape(const char *in, char *out, size_t size)
{
        size_t o = 0;

        if (strcmp(in, "-") == 0) {
                out[0] = '\0';
                return 0;
        }
        for (; *in; in++) {
                if (o + 1 >= size)
                        return -ENOBUFS;
                if (*in == '%') {
                        unsigned v = 0;
                        for (int i = 1; i <= 2; i++) {
                                char c = in[i];
                                v <<= 4;
                                if (c >= '0' && c <= '9')
                                        v |= (unsigned) (c - '0');
                                else if (c >= 'A' && c <= 'F')
                                        v |= (unsigned) (c - 'A' + 10);
                                else
                                        return -EINVAL;
                        }
                        if (v == 0)
                                return -EINVAL;
                        out[o++] = (char) v;
                        in += 2;
                } else {
                        out[o++] = *in;
                }
        }
        out[o] = '\0';
        return 0;
}

/* FNV-1a, enough to recognise a torn or edited line. */
uint32_t state_checksum(const char *s, size_t n)
{
        uint32_t h = 2166136261u;
        for (size_t i = 0; i < n; i++) {
                h ^= (unsigned char) s[i];
                h *= 16777619u;
        }
        return h;
}

/* Split a line "fields ~cksum" into at most max fields; returns count or -EINVAL. */
int state_split_line(char *line, char **fields, int max)
{
        char *tilde = strrchr(line, '~');
        uint64_t want;
        int n = 0;

        if (!tilde || tilde == line || tilde[-1] != ' ')
                return -EINVAL;
        if (parse_u64_c(tilde + 1, UINT32_MAX, &want) < 0)
                return -EINVAL;
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
        /* let the fuzzers past the checksum to the fields behind it */
        if (want != UINT32_MAX && state_checksum(line, (size_t) (tilde - 1 - line)) != (uint32_t) want)
#else
        if (state_checksum(line, (size_t) (tilde - 1 - line)) != (uint32_t) want)
#endif
                return -EINVAL;
        tilde[-1] = '\0';
        for (char *save = NULL, *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
                if (n == max)
                        return -EINVAL;
                fields[n++] = t;
        }
        return n;
}

/* Append one checksummed line and make it durable.  A write that fails
 * or is cut short (a full disk) is cut back off, so that the next append
 * does not join the torn part into a damaged middle line, which would make
 * the whole journal unreadable. */
int state_append_line(int fd, const char *content)
{
        char *line = NULL;
        struct stat st;
        int n = asprintf(&line, "%s ~0x%08x\n", content, state_checksum(content, strlen(content)));

        if (n < 0)
                return -ENOMEM;
        if (fstat(fd, &st) < 0) {
                int e = -errno;
                free(line);
                return e;
        }
        ssize_t w = sysfs_append(fd, line, (size_t) n);
        free(line);
        if (w != n) {
                (void) !ftruncate(fd, st.st_size);
                return w < 0 ? (int) w : -EIO;
        }
        if (fdatasync(fd) < 0)
                return -errno;
        return 0;
}

/* ---- the state directory ---- */

int state_dir_check(void)
{
        struct stat st;
        if (journal_planning())
                return 0; /* reads only: a missing directory is no state */
        int r = sysfs_mkdir(VMPREP_RUNDIR, 0700);

        if (r < 0 && r != -EEXIST)
                return log_error_errno(r, "cannot create " VMPREP_RUNDIR);
        r = sysfs_lstat(VMPREP_RUNDIR, &st);
        if (r < 0)
                return log_error_errno(r, "cannot inspect " VMPREP_RUNDIR);
        if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
                return log_error_errno(SYNTHETIC_ERRNO(EUCLEAN),
                                       VMPREP_RUNDIR " is not a directory owned by uid %u with mode 0700 "
                                       "(it is %s, uid %u, mode %04o): refusing to keep state there",
                                       (unsigned) geteuid(),
                                       S_ISLNK(st.st_mode) ? "a symlink" : S_ISDIR(st.st_mode) ? "a directory" : "a file",
                                       (unsigned) st.st_uid, (unsigned) (st.st_mode & 07777));
        }
        return 0;
}

/* Open a state file and check it is ours: a regular file of our uid that
 * nobody else may write.  Every failure but -ENOENT (no such state, which
 * callers expect) is logged here. */
int state_open(const char *path, int flags, mode_t mode)
{
        struct stat st;
        int fd = sysfs_open(path, flags | O_NOFOLLOW, mode);

        if (fd == -ENOENT)
                return fd;
        if (fd < 0)
                return log_error_errno(fd, "cannot open %s", path);
        if (fstat(fd, &st) < 0) {
                int r = -errno;
                close(fd);
                return log_error_errno(r, "cannot inspect %s", path);
        }
        if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022)) {
                close(fd);
                return log_error_errno(SYNTHETIC_ERRNO(EUCLEAN),
                                       "%s is not a regular file owned by uid %u and writable only by it: refusing to "
                                       "use it",
                                       path, (unsigned) geteuid());
        }
        return fd;
}

/* ---- the journals' files ---- */

void journal_path(const char *uuid, const char *cap, char *buf, size_t size)
{
        snprintf(buf, size, VMPREP_RUNDIR "/%s.%s.journal", uuid, cap);
}

int journal_name_parse(const char *file, char uuid[37], char cap[32])
{
        size_t n = strlen(file);
        if (n < 36 + 1 + 1 + 8 || n - 8 - 37 >= 32 || strcmp(file + n - 8, ".journal") != 0 || file[36] != '.')
                return -EINVAL;
        snprintf(uuid, 37, "%.36s", file);
        snprintf(cap, 32, "%.*s", (int) (n - 8 - 37), file + 37);
        if (uuid_parse(uuid, uuid) < 0 || !name_is_valid(cap))
                return -EINVAL;
        return 0;
}

bool journal_exists(const char *uuid, const char *cap)
{
        char path[256];
        journal_path(uuid, cap, path, sizeof(path));
        return sysfs_exists(path);
}

/* A step value from the journal's escaped form (never longer than it). */
int state_unescape_value(const char *in, char **ret)
{
        size_t n = strlen(in) + 1;
        char *v = malloc(n);
        if (!v)
                return -ENOMEM;
        if (n > JOURNAL_STEP_VALUE_MAX || journal_unescape(in, v, n) < 0) {
                free(v);
                return -EINVAL;
        }
        free(*ret);
        *ret = v;
        return 0;
}

/* An escaped copy of a value (at most 3 bytes per byte). */
char *state_escape_value(const char *in)
{
        size_t n = 3 * strlen(in) + 2;
        char *out = malloc(n);
        if (out)
                journal_escape(in, out, n);
        return out;
}
