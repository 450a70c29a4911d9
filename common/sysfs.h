/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The gateway to the kernel: every read and write of /sys, /proc, cgroupfs,
 * /run and /etc/vmprep goes through here.  Code names live paths
 * ("/sys/devices/system/node/node0/..."); the gateway prefixes them with the
 * root, which is "" on a real host.
 *
 * A test build (VMPREP_TEST_BUILD) takes its root from $VMPREP_ROOT and
 * refuses to touch anything when it is unset, so that a test that forgot
 * its fake tree fails instead of writing to this machine's kernel.  In a
 * test build writes also pass through the fake kernel model (tests/fake)
 * when it is linked in, and $VMPREP_TEST_CRASH_AT=N kills the process at
 * the N-th crash point (after each kernel write and journal append), and
 * $VMPREP_TEST_FAIL_AT=K[:ERRNO] makes the K-th kernel write fail, and
 * $VMPREP_TEST_FAIL_APPEND=K[:short] the K-th append to a state file.
 *
 * Every function returns 0 (or a length) on success and -errno on failure.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#define SYSFS_PATH_MAX 4096

/* Initialise from the environment (test builds) or an explicit root
 * (the vmprep command's --root).  NULL keeps the default. */
int sysfs_init(const char *root);
const char *sysfs_root(void);

/* root + path into buf; refuses relative paths and "." / ".." components. */
int sysfs_path(const char *path, char *buf, size_t size);

/* Read a small file; trailing newline removed; returns the length. */
int sysfs_read(const char *path, char *buf, size_t size);
/* Read a whole file into a malloc'd NUL-terminated buffer (at most max bytes). */
int sysfs_read_alloc(const char *path, size_t max, char **ret, size_t *ret_len);
int sysfs_read_u64(const char *path, uint64_t *ret);
int sysfs_read_i64(const char *path, int64_t *ret);
/* The target of a symlink, e.g. a device's driver link. */
int sysfs_readlink(const char *path, char *buf, size_t size);

/* One write(2) of value, as the kernel wants it; a short write is -EIO. */
int sysfs_write(const char *path, const char *value);
/* Dry run (vmprep plan runs the hooks' own prepare): every write, mkdir,
 * rmdir, rename, link, unlink and open for writing through this gateway
 * succeeds without touching anything (open: -EROFS).  Callers that act
 * outside it (D-Bus, netlink, modules) ask sysfs_dry_run() themselves. */
void sysfs_set_dry_run(bool on);
bool sysfs_dry_run(void);
int sysfs_write_u64(const char *path, uint64_t value);

/* Append len bytes to a state file opened through sysfs_open (a journal,
 * O_APPEND): one write(2); returns the bytes written (fewer on a full disk)
 * or -errno.  In the test build the K-th append of
 * $VMPREP_TEST_FAIL_APPEND=K[:short] fails with EIO, or with ":short"
 * writes half of buf and reports that, as a full disk does. */
ssize_t sysfs_append(int fd, const char *buf, size_t len);

bool sysfs_exists(const char *path);
int sysfs_lstat(const char *path, struct stat *st);
/* open(2) with O_CLOEXEC added.  Reads follow symlinks (/proc/mounts is
 * one); state files and writes pass O_NOFOLLOW. */
int sysfs_open(const char *path, int flags, mode_t mode);
int sysfs_mkdir(const char *path, mode_t mode);
/* rmdir(2): removes a cgroup (the kernel refuses with EBUSY while it has tasks). */
int sysfs_rmdir(const char *path);
int sysfs_rename(const char *from, const char *to);
/* link(2): a second name for a state file. */
int sysfs_link(const char *from, const char *to);
int sysfs_unlink(const char *path);
/* chown(2) of path itself (never through a symlink) and chmod(2) (refused,
 * -ELOOP, on a symlink). */
int sysfs_chown(const char *path, uid_t uid, gid_t gid);
int sysfs_chmod(const char *path, mode_t mode);
/* opendir(3) of a gateway path, or NULL with errno set. */
#include <dirent.h>
DIR *sysfs_opendir(const char *path);
/* The entries of a directory (no "." and ".."), in natural order
 * ("node2" before "node10"), as a malloc'd array of malloc'd names;
 * free with sysfs_list_free.  Output that lists devices or nodes must not
 * depend on the filesystem's readdir order. */
int sysfs_list(const char *path, char ***ret, size_t *n);
void sysfs_list_free(char **names, size_t n);

/* A point where a test may kill the process ($VMPREP_TEST_CRASH_AT). */
#ifdef VMPREP_TEST_BUILD
void sysfs_crash_point(const char *what);
#else
static inline void sysfs_crash_point(const char *what) { (void) what; }
#endif
