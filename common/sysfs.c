/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "sysfs.h"

#include "log.h"
#include "parse.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char root[SYSFS_PATH_MAX];
static bool initialised;
static bool dry_run;

void sysfs_set_dry_run(bool on)
{
        dry_run = on;
}

bool sysfs_dry_run(void)
{
        return dry_run;
}

#ifdef VMPREP_TEST_BUILD
static bool refused; /* test build without VMPREP_ROOT */

/* Provided by tests/fake/fake_kernel.c when linked: applies a write the way
 * the kernel would.  Returns 1 when it handled the write, 0 to fall through
 * to a plain file write, or -errno to fail it. */
int fake_kernel_write(const char *root_dir, const char *path, const char *value) __attribute__((weak));
/* The same for mkdir and rmdir in cgroupfs (a new cgroup comes with its
 * control files; one with tasks cannot be removed). */
int fake_kernel_mkdir(const char *root_dir, const char *path) __attribute__((weak));
int fake_kernel_rmdir(const char *root_dir, const char *path) __attribute__((weak));
#endif

int sysfs_init(const char *r)
{
        initialised = true;
#ifdef VMPREP_TEST_BUILD
        if (!r)
                r = getenv("VMPREP_ROOT");
        if (!r || !*r) {
                refused = true;
                root[0] = '\0';
                return 0;
        }
        refused = false;
#endif
        if (!r)
                r = "";
        if (strlen(r) >= sizeof(root) / 2)
                return -ENAMETOOLONG;
        snprintf(root, sizeof(root), "%s", r);
        /* "/" and "" mean the real root; drop a trailing slash. */
        size_t n = strlen(root);
        while (n > 0 && root[n - 1] == '/')
                root[--n] = '\0';
        return 0;
}

const char *sysfs_root(void)
{
        if (!initialised)
                sysfs_init(NULL);
        return root;
}

static bool path_is_clean(const char *path)
{
        if (path[0] != '/')
                return false;
        for (const char *p = path; *p; p++) {
                if (*p != '/')
                        continue;
                const char *c = p + 1;
                if ((c[0] == '.' && (c[1] == '/' || c[1] == '\0')) ||
                    (c[0] == '.' && c[1] == '.' && (c[2] == '/' || c[2] == '\0')))
                        return false;
        }
        return true;
}

int sysfs_path(const char *path, char *buf, size_t size)
{
        const char *r = sysfs_root();

#ifdef VMPREP_TEST_BUILD
        if (refused) {
                log_error("test build: VMPREP_ROOT is not set, refusing to touch %s", path);
                return -EPERM;
        }
#endif
        if (!path || !path_is_clean(path))
                return -EINVAL;
        int n = snprintf(buf, size, "%s%s", r, path);
        if (n < 0 || (size_t) n >= size)
                return -ENAMETOOLONG;
        return 0;
}

int sysfs_open(const char *path, int flags, mode_t mode)
{
        if (dry_run && (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND)))
                return -EROFS;
        char full[SYSFS_PATH_MAX];
        int r = sysfs_path(path, full, sizeof(full));
        if (r < 0)
                return r;
        int fd = open(full, flags | O_CLOEXEC, mode);
        return fd < 0 ? -errno : fd;
}

int sysfs_read(const char *path, char *buf, size_t size)
{
        int fd = sysfs_open(path, O_RDONLY, 0);
        ssize_t n;

        if (fd < 0)
                return fd;
        if (size == 0) {
                close(fd);
                return -ENOBUFS;
        }
        do
                n = read(fd, buf, size - 1);
        while (n < 0 && errno == EINTR);
        int saved = errno;
        close(fd);
        if (n < 0)
                return -saved;
        buf[n] = '\0';
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
                buf[--n] = '\0';
        return (int) n;
}

int sysfs_read_alloc(const char *path, size_t max, char **ret, size_t *ret_len)
{
        int fd = sysfs_open(path, O_RDONLY, 0);
        size_t len = 0, cap = 4096;
        char *buf;

        if (fd < 0)
                return fd;
        buf = malloc(cap);
        if (!buf) {
                close(fd);
                return -ENOMEM;
        }
        for (;;) {
                if (len + 1 >= cap) {
                        if (cap >= max + 1) {
                                free(buf);
                                close(fd);
                                return -EFBIG;
                        }
                        size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
                        char *nbuf = realloc(buf, ncap);
                        if (!nbuf) {
                                free(buf);
                                close(fd);
                                return -ENOMEM;
                        }
                        buf = nbuf;
                        cap = ncap;
                }
                ssize_t n = read(fd, buf + len, cap - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int saved = errno;
                        free(buf);
                        close(fd);
                        return -saved;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        close(fd);
        buf[len] = '\0';
        *ret = buf;
        if (ret_len)
                *ret_len = len;
        return 0;
}

int sysfs_read_u64(const char *path, uint64_t *ret)
{
        char buf[64];
        int r = sysfs_read(path, buf, sizeof(buf));
        if (r < 0)
                return r;
        return parse_u64(buf, 0, UINT64_MAX, ret);
}

int sysfs_read_i64(const char *path, int64_t *ret)
{
        char buf[64];
        int r = sysfs_read(path, buf, sizeof(buf));
        if (r < 0)
                return r;
        return parse_i64(buf, INT64_MIN, INT64_MAX, ret);
}

int sysfs_readlink(const char *path, char *buf, size_t size)
{
        char full[SYSFS_PATH_MAX];
        int r = sysfs_path(path, full, sizeof(full));
        if (r < 0)
                return r;
        ssize_t n = readlink(full, buf, size - 1);
        if (n < 0)
                return -errno;
        buf[n] = '\0';
        return (int) n;
}

#ifdef VMPREP_TEST_BUILD
/*
 * Fault injection: $VMPREP_TEST_FAIL_AT=K[:ERRNO] makes the K-th kernel
 * write of the process fail with ERRNO (a number or EBUSY, EINVAL, ENOMEM,
 * ENODEV, EIO; default EBUSY) without touching the file, as the kernel
 * refuses a write.
 */
/* $NAME=K[:WHAT]: K (0 when unset or bad), and WHAT (NULL when none). */
static long fault_spec(const char *name, const char **what)
{
        const char *s = getenv(name);
        char num[32];
        uint64_t v;

        *what = NULL;
        if (!s)
                return 0;
        const char *colon = strchr(s, ':');
        snprintf(num, sizeof(num), "%.*s", colon ? (int) (colon - s) : (int) strlen(s), s);
        if (colon)
                *what = colon + 1;
        return parse_u64(num, 1, 1000000, &v) == 0 ? (long) v : 0;
}

static int injected_fault(const char *path)
{
        static long count, fail_at = -1;
        static int err = EBUSY;

        if (fail_at < 0) {
                static const struct {
                        const char *name;
                        int err;
                } names[] = { { "EBUSY", EBUSY }, { "EINVAL", EINVAL }, { "ENOMEM", ENOMEM },
                              { "ENODEV", ENODEV }, { "EIO", EIO }, { "EPERM", EPERM } };
                const char *what;
                uint64_t v;
                fail_at = fault_spec("VMPREP_TEST_FAIL_AT", &what);
                for (size_t i = 0; what && i < sizeof(names) / sizeof(names[0]); i++)
                        if (!strcmp(what, names[i].name))
                                err = names[i].err;
                if (what && parse_u64(what, 1, 4095, &v) == 0)
                        err = (int) v;
        }
        if (fail_at > 0 && ++count == fail_at) {
                fprintf(stderr, "vmprep: test fault: write %ld (%s) fails with %s\n", count, path, strerror(err));
                return -err;
        }
        return 0;
}
#endif

int sysfs_write(const char *path, const char *value)
{
        if (dry_run)
                return 0;
        char full[SYSFS_PATH_MAX];
        size_t len = strlen(value);
        int r = sysfs_path(path, full, sizeof(full));

        if (r < 0)
                return r;
#ifdef VMPREP_TEST_BUILD
        r = injected_fault(path);
        if (r < 0)
                return r;
        if (fake_kernel_write) {
                r = fake_kernel_write(root, path, value);
                if (r != 0) {
                        sysfs_crash_point(path);
                        return r < 0 ? r : 0;
                }
        }
#endif
        /* O_TRUNC, as the shell's `echo > file`: the kernel's files ignore
         * it, and a recorded tree (--root) is plain files whose content a
         * write replaces. */
        int fd = open(full, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        ssize_t n;
        do
                n = write(fd, value, len);
        while (n < 0 && errno == EINTR);
        int saved = errno;
        if (close(fd) < 0 && n >= 0) {
                n = -1;
                saved = errno;
        }
        if (n < 0)
                return -saved;
        if ((size_t) n != len)
                return -EIO;
        sysfs_crash_point(path);
        return 0;
}

ssize_t sysfs_append(int fd, const char *buf, size_t len)
{
        ssize_t n;
#ifdef VMPREP_TEST_BUILD
        static long count, fail_at = -1;
        static bool half;

        if (fail_at < 0) {
                const char *what;
                fail_at = fault_spec("VMPREP_TEST_FAIL_APPEND", &what);
                half = what && !strcmp(what, "short");
        }
        if (fail_at > 0 && ++count == fail_at) {
                fprintf(stderr, "vmprep: test fault: append %ld %s\n", count, half ? "is cut short" : "fails with EIO");
                if (!half)
                        return -EIO;
                len /= 2;
        }
#endif
        do
                n = write(fd, buf, len);
        while (n < 0 && errno == EINTR);
        return n < 0 ? -errno : n;
}

int sysfs_write_u64(const char *path, uint64_t value)
{
        char buf[32];
        snprintf(buf, sizeof(buf), "%llu", (unsigned long long) value);
        return sysfs_write(path, buf);
}

bool sysfs_exists(const char *path)
{
        struct stat st;
        return sysfs_lstat(path, &st) == 0;
}

int sysfs_lstat(const char *path, struct stat *st)
{
        char full[SYSFS_PATH_MAX];
        int r = sysfs_path(path, full, sizeof(full));
        if (r < 0)
                return r;
        return lstat(full, st) < 0 ? -errno : 0;
}

int sysfs_mkdir(const char *path, mode_t mode)
{
        if (dry_run)
                return 0;
        char full[SYSFS_PATH_MAX];
        int r = sysfs_path(path, full, sizeof(full));
        if (r < 0)
                return r;
        if (mkdir(full, mode) < 0)
                return -errno;
#ifdef VMPREP_TEST_BUILD
        if (fake_kernel_mkdir) {
                r = fake_kernel_mkdir(root, path);
                if (r < 0)
                        return r;
        }
#endif
        return 0; /* no crash point: the state directory's mkdir would shift every test's numbering */
}

int sysfs_rmdir(const char *path)
{
        if (dry_run)
                return 0;
        char full[SYSFS_PATH_MAX];
        int r = sysfs_path(path, full, sizeof(full));
        if (r < 0)
                return r;
#ifdef VMPREP_TEST_BUILD
        if (fake_kernel_rmdir) {
                r = fake_kernel_rmdir(root, path);
                if (r != 0) {
                        if (r > 0)
                                sysfs_crash_point(path);
                        return r < 0 ? r : 0;
                }
        }
#endif
        if (rmdir(full) < 0)
                return -errno;
        sysfs_crash_point(path);
        return 0;
}

/* Both of a rename's or a link's paths under the root. */
static int path_pair(const char *from, const char *to, char a[SYSFS_PATH_MAX], char b[SYSFS_PATH_MAX])
{
        int r = sysfs_path(from, a, SYSFS_PATH_MAX);
        return r < 0 ? r : sysfs_path(to, b, SYSFS_PATH_MAX);
}

int sysfs_rename(const char *from, const char *to)
{
        if (dry_run)
                return 0;
        char a[SYSFS_PATH_MAX], b[SYSFS_PATH_MAX];
        int r = path_pair(from, to, a, b);
        if (r < 0)
                return r;
        return rename(a, b) < 0 ? -errno : 0;
}

int sysfs_link(const char *from, const char *to)
{
        if (dry_run)
                return 0;
        char a[SYSFS_PATH_MAX], b[SYSFS_PATH_MAX];
        int r = path_pair(from, to, a, b);
        if (r < 0)
                return r;
        return link(a, b) < 0 ? -errno : 0;
}

int sysfs_unlink(const char *path)
{
        if (dry_run)
                return 0;
        char full[SYSFS_PATH_MAX];
        int r = sysfs_path(path, full, sizeof(full));
        if (r < 0)
                return r;
        return unlink(full) < 0 ? -errno : 0;
}

/* chown(2) without following a symlink at path, and chmod(2): owner and
 * mode of a file vmprep hands to a user (a /dev/shm file, a device node). */
int sysfs_chown(const char *path, uid_t uid, gid_t gid)
{
        if (dry_run)
                return 0;
        char full[SYSFS_PATH_MAX];
        int r = sysfs_path(path, full, sizeof(full));
        if (r < 0)
                return r;
        if (fchownat(AT_FDCWD, full, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        sysfs_crash_point(path);
        return 0;
}

int sysfs_chmod(const char *path, mode_t mode)
{
        if (dry_run)
                return 0;
        char full[SYSFS_PATH_MAX];
        struct stat st;
        int r = sysfs_path(path, full, sizeof(full));
        if (r < 0)
                return r;
        if (lstat(full, &st) < 0)
                return -errno;
        if (S_ISLNK(st.st_mode))
                return -ELOOP; /* chmod(2) would follow it */
        if (chmod(full, mode) < 0)
                return -errno;
        sysfs_crash_point(path);
        return 0;
}

DIR *sysfs_opendir(const char *path)
{
        char full[SYSFS_PATH_MAX];
        int r = sysfs_path(path, full, sizeof(full));
        if (r < 0) {
                errno = -r;
                return NULL;
        }
        return opendir(full);
}

static int natural(const void *a, const void *b)
{
        return strverscmp(*(char *const *) a, *(char *const *) b);
}

int sysfs_list(const char *path, char ***ret, size_t *n)
{
        DIR *d = sysfs_opendir(path);
        char **names = NULL;
        size_t count = 0;

        *ret = NULL;
        *n = 0;
        if (!d)
                return -errno;
        for (struct dirent *de; (de = readdir(d));) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                char **nn = realloc(names, (count + 1) * sizeof(*names));
                if (!nn || !(nn[count] = strdup(de->d_name))) {
                        names = nn ? nn : names;
                        sysfs_list_free(names, count);
                        closedir(d);
                        return -ENOMEM;
                }
                names = nn;
                count++;
        }
        closedir(d);
        if (count) /* qsort wants a non-NULL array even for 0 elements */
                qsort(names, count, sizeof(*names), natural);
        *ret = names;
        *n = count;
        return 0;
}

void sysfs_list_free(char **names, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
}

#ifdef VMPREP_TEST_BUILD
void sysfs_crash_point(const char *what)
{
        static long count;
        static long crash_at = -1;

        if (crash_at < 0) {
                const char *s = getenv("VMPREP_TEST_CRASH_AT");
                uint64_t v;
                crash_at = s && parse_u64(s, 1, 1000000, &v) == 0 ? (long) v : 0;
        }
        if (crash_at > 0 && ++count == crash_at) {
                fprintf(stderr, "vmprep: test crash point %ld (%s)\n", count, what);
                raise(SIGKILL);
        }
}
#endif
