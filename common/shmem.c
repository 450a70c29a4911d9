/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "shmem.h"

#include "log.h"
#include "parse.h"
#include "resource.h"
#include "sysfs.h"
#include "xml.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHM_DIR "/dev/shm/"
#define DEFAULT_MODE 0660
/* libvirt's default when <shmem> has no <size> (QEMU's ivshmem default) */
#define DEFAULT_SIZE (4u << 20)

/* getpwnam_r/getgrnam_r want a buffer of sysconf(_SC_GETPW_R_SIZE_MAX),
 * which is only a hint; a group with many members needs more: grow. */
static int lookup_user(const char *name, uid_t *uid, gid_t *gid)
{
        size_t size = 1024;
        for (;;) {
                struct passwd pw, *res = NULL;
                char *buf = malloc(size);
                if (!buf)
                        return -ENOMEM;
                int r = getpwnam_r(name, &pw, buf, size, &res);
                if (r == 0 && res) {
                        *uid = pw.pw_uid;
                        *gid = pw.pw_gid;
                }
                free(buf);
                if (r == ERANGE && size < (1u << 20)) {
                        size *= 4;
                        continue;
                }
                return r ? -r : res ? 0 : -ENOENT;
        }
}

static int lookup_group(const char *name, gid_t *gid)
{
        size_t size = 1024;
        for (;;) {
                struct group gr, *res = NULL;
                char *buf = malloc(size);
                if (!buf)
                        return -ENOMEM;
                int r = getgrnam_r(name, &gr, buf, size, &res);
                if (r == 0 && res)
                        *gid = gr.gr_gid;
                free(buf);
                if (r == ERANGE && size < (1u << 20)) {
                        size *= 4;
                        continue;
                }
                return r ? -r : res ? 0 : -ENOENT;
        }
}

/* The domain's <shmem name='NAME'>: its model and size in bytes.
 * Returns 1 when found, 0 when the domain has none by that name. */
static int domain_shmem(const Domain *d, const char *name, char *model, size_t model_size, uint64_t *size,
                        char *err, size_t errlen)
{
        xmlXPathContextPtr ctx = xmlXPathNewContext(d->doc);
        int found = 0;
        if (!ctx)
                return -ENOMEM;
        xmlXPathObjectPtr obj = xml_xpath(ctx, NULL, "/domain/devices/shmem");
        for (size_t i = 0; i < xml_count(obj) && !found; i++) {
                xmlNodePtr n = xml_item(obj, i);
                _cleanup_xmlstr_ char *nm = xml_attr(n, "name");
                if (!nm || strcmp(nm, name) != 0)
                        continue;
                found = 1;
                model[0] = '\0';
                xmlNodePtr m = xml_first(ctx, n, "model");
                if (m) {
                        _cleanup_xmlstr_ char *type = xml_attr(m, "type");
                        snprintf(model, model_size, "%s", type ? type : "");
                }
                *size = DEFAULT_SIZE;
                xmlNodePtr s = xml_first(ctx, n, "size");
                if (s) {
                        _cleanup_xmlstr_ char *unit = xml_attr(s, "unit");
                        _cleanup_xmlstr_ char *text = xml_text(s);
                        uint64_t kib;
                        /* libvirt reads the number in bytes when no unit is given */
                        if (!text || parse_size_kib(text, unit, "b", &kib) < 0 || kib == 0 ||
                            kib > UINT64_MAX / 1024) {
                                snprintf(err, errlen, "<shmem name='%s'><size unit='%s'>%s</size>: not a size", name,
                                         unit ? unit : "", text ? text : "");
                                found = -EINVAL;
                                break;
                        }
                        *size = kib * 1024;
                }
        }
        xmlXPathFreeObject(obj);
        xmlXPathFreeContext(ctx);
        return found;
}

int shmem_items(const Domain *d, const Profile *p, ShmemItem **ret, size_t *n, char *err, size_t errlen)
{
        ShmemItem *arr = NULL;
        int r = 0;

        *ret = NULL;
        *n = 0;
        if (errlen)
                err[0] = '\0';
        for (size_t i = 0; p && i < p->n_elems && r == 0; i++) {
                const ProfileElem *e = &p->elems[i];
                if (strcmp(e->name, "shmem") != 0 || !profile_elem_enabled(e))
                        continue;
                ShmemItem *a = realloc(arr, (*n + 1) * sizeof(*a));
                if (!a) {
                        r = -ENOMEM;
                        break;
                }
                arr = a;
                ShmemItem *it = &arr[(*n)++];
                memset(it, 0, sizeof(*it));
                const char *name = profile_attr(e, "name"), *dev = profile_attr(e, "device");
                const char *owner = profile_attr(e, "owner"), *group = profile_attr(e, "group");
                const char *mode = profile_attr(e, "mode");
                const char *what = name ? "name" : "device", *key = name ? name : dev ? dev : "";
                it->uid = (uid_t) -1;
                it->gid = (gid_t) -1;
                it->mode = DEFAULT_MODE;
                if (name) {
                        snprintf(it->path, sizeof(it->path), SHM_DIR "%s", name);
                        int f = domain_shmem(d, name, it->model, sizeof(it->model), &it->size, err, errlen);
                        if (f < 0) {
                                r = f;
                                break;
                        }
                        if (f == 0) {
                                snprintf(err, errlen,
                                         "<vmprep:shmem name='%s'>: the domain has no <shmem name='%s'> device "
                                         "(add <shmem name='%s'><model type='ivshmem-plain'/><size unit='M'>32</size>"
                                         "</shmem> to <devices>)", name, name, name);
                                r = -EINVAL;
                                break;
                        }
                        if (it->model[0] && strcmp(it->model, "ivshmem-plain") != 0) {
                                snprintf(err, errlen,
                                         "<vmprep:shmem name='%s'>: the domain's <shmem name='%s'> has model '%s'; "
                                         "only ivshmem-plain maps " SHM_DIR "%s (ivshmem-doorbell's memory comes "
                                         "from its server)", name, name, it->model, name);
                                r = -EINVAL;
                                break;
                        }
                } else {
                        it->device = true;
                        snprintf(it->path, sizeof(it->path), "%s", dev ? dev : "");
                }
                if (mode) {
                        /* the grammar has checked it: 0?[0-7]{3} */
                        char *end = NULL;
                        unsigned long m = strtoul(mode, &end, 8);
                        if (!end || *end || m > 0777) {
                                snprintf(err, errlen, "<vmprep:shmem %s='%s' mode='%s'>: not a mode like 0660", what,
                                         key, mode);
                                r = -EINVAL;
                                break;
                        }
                        it->mode = (mode_t) m;
                }
                if (owner) {
                        snprintf(it->owner, sizeof(it->owner), "%s", owner);
                        gid_t primary;
                        int u = lookup_user(owner, &it->uid, &primary);
                        if (u < 0) {
                                snprintf(err, errlen, "<vmprep:shmem %s='%s' owner='%s'>: %s", what, key, owner,
                                         u == -ENOENT ? "no such user on this host" : strerror(-u));
                                r = -EINVAL;
                                break;
                        }
                }
                if (group) {
                        snprintf(it->group, sizeof(it->group), "%s", group);
                        int g = lookup_group(group, &it->gid);
                        if (g < 0) {
                                snprintf(err, errlen, "<vmprep:shmem %s='%s' group='%s'>: %s", what, key, group,
                                         g == -ENOENT ? "no such group on this host" : strerror(-g));
                                r = -EINVAL;
                                break;
                        }
                }
        }
        if (r < 0) {
                free(arr);
                *n = 0;
                return fail_errno(err, errlen, r);
        }
        *ret = arr;
        return 0;
}

/* "alice:kvm 0660" for a person (numbers for IDs without a name) */
static void owner_text(uid_t uid, gid_t gid, mode_t mode, char *buf, size_t size)
{
        char ub[1024], gb[4096], u[24], g[24];
        struct passwd pw, *pr = NULL;
        struct group gr, *grr = NULL;
        snprintf(u, sizeof(u), "%lu", (unsigned long) uid);
        snprintf(g, sizeof(g), "%lu", (unsigned long) gid);
        bool un = getpwuid_r(uid, &pw, ub, sizeof(ub), &pr) == 0 && pr;
        bool gn = getgrgid_r(gid, &gr, gb, sizeof(gb), &grr) == 0 && grr;
        snprintf(buf, size, "%.24s:%.24s %04o", un ? pw.pw_name : u, gn ? gr.gr_name : g, (unsigned) (mode & 07777));
}

static void owner_format(uid_t uid, gid_t gid, mode_t mode, char *buf, size_t size)
{
        snprintf(buf, size, "%lu:%lu:%04o", (unsigned long) uid, (unsigned long) gid, (unsigned) (mode & 07777));
}

static int owner_parse(const char *s, uid_t *uid, gid_t *gid, mode_t *mode)
{
        unsigned long u, g;
        unsigned m;
        char end;
        if (sscanf(s, "%lu:%lu:%o%c", &u, &g, &m, &end) != 3 || m > 07777)
                return -EINVAL;
        *uid = (uid_t) u;
        *gid = (gid_t) g;
        *mode = (mode_t) m;
        return 0;
}

/* The owner and mode an item wants for a file that is now st. */
static void wanted(const ShmemItem *it, const struct stat *st, uid_t *uid, gid_t *gid, mode_t *mode)
{
        *uid = it->uid == (uid_t) -1 ? st->st_uid : it->uid;
        *gid = it->gid == (gid_t) -1 ? st->st_gid : it->gid;
        *mode = it->mode;
}

static int set_owner(const char *path, uid_t uid, gid_t gid, mode_t mode)
{
        int r = sysfs_chown(path, uid, gid);
        if (r == 0)
                r = sysfs_chmod(path, mode);
        return r;
}

/* Undo of "owner": the owner and mode the file had before. */
int shmem_undo_owner(const JournalStep *s, const UndoContext *ctx)
{
        (void) ctx; /* the step alone says what to give back */
        uid_t uid;
        gid_t gid;
        mode_t mode;
        struct stat st;
        if (owner_parse(s->old, &uid, &gid, &mode) < 0)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "journal step %u: '%s' is not an owner and mode",
                                       s->seq, s->old);
        int r = sysfs_lstat(s->path, &st);
        if (r == -ENOENT) {
                log_info("%s is gone; no owner to give back", s->path);
                return 0;
        }
        if (r < 0 || S_ISLNK(st.st_mode))
                return log_error_errno(r < 0 ? r : -ELOOP, "cannot give %s its owner back", s->path);
        r = set_owner(s->path, uid, gid, mode);
        if (r < 0)
                return log_error_errno(r, "cannot give %s its owner %lu:%lu and mode %04o back", s->path,
                                       (unsigned long) uid, (unsigned long) gid, (unsigned) mode);
        log_info("%s: owner %lu:%lu, mode %04o again", s->path, (unsigned long) uid, (unsigned long) gid,
                 (unsigned) mode);
        return 0;
}

/* Undo of "shmem": this VM's hold goes; the file vmprep created goes with
 * the last VM that holds it. */
int shmem_undo_file(const JournalStep *s, const UndoContext *ctx)
{
        Ledger *l = ctx->ledger;
        struct stat st;
        if (!l || !ctx->uuid)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "internal error: undo of %s without the ledger",
                                       s->path);
        int64_t mine = ledger_held(l, s->resource, ctx->uuid);
        int64_t others = ledger_held(l, s->resource, NULL) - mine;
        if (others > 0) {
                log_warning("%s stays: another running VM uses it (vmprep created it for this one)", s->path);
        } else if (sysfs_lstat(s->path, &st) == 0) {
                if (!S_ISREG(st.st_mode)) {
                        log_warning("%s is no longer a regular file: left alone", s->path);
                } else {
                        int r = sysfs_unlink(s->path);
                        if (r < 0 && r != -ENOENT)
                                return log_error_errno(r, "cannot remove %s", s->path);
                        log_info("removed %s (vmprep created it)", s->path);
                }
        }
        if (mine > 0) {
                ledger_hold(l, ctx->uuid, s->resource, -mine);
                return ledger_save(l);
        }
        return 0;
}

/* Undo of "shmemuse": a file that was there before; only the hold goes. */
int shmem_undo_use(const JournalStep *s, const UndoContext *ctx)
{
        Ledger *l = ctx->ledger;
        if (!l || !ctx->uuid)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "internal error: undo of %s without the ledger",
                                       s->path);
        int64_t mine = ledger_held(l, s->resource, ctx->uuid);
        if (mine <= 0)
                return 0;
        ledger_hold(l, ctx->uuid, s->resource, -mine);
        return ledger_save(l);
}


static void size_text(uint64_t bytes, char *buf, size_t size)
{
        if (bytes % (1u << 20) == 0)
                snprintf(buf, size, "%llu MiB", (unsigned long long) (bytes >> 20));
        else
                snprintf(buf, size, "%llu bytes", (unsigned long long) bytes);
}

static int hold(Ledger *l, const char *uuid, const char *resource)
{
        int r = ledger_hold(l, uuid, resource, 1);
        return r < 0 ? r : ledger_save(l);
}

/* A file vmprep creates: exactly the size the domain says (QEMU refuses a
 * smaller one and maps a larger one only in part), then owner and mode. */
static int create_file(Journal *j, Ledger *l, const Domain *d, const ShmemItem *it, const char *resource)
{
        char want[96], sz[32];
        unsigned seq;
        uid_t uid = it->uid == (uid_t) -1 ? 0 : it->uid;
        gid_t gid = it->gid == (gid_t) -1 ? 0 : it->gid;
        int r;

        owner_format(uid, gid, it->mode, want, sizeof(want));
        char new_[128];
        snprintf(new_, sizeof(new_), "%llu %s", (unsigned long long) it->size, want);
        char who[96];
        owner_text(uid, gid, it->mode, who, sizeof(who));
        size_text(it->size, sz, sizeof(sz));
        journal_plan_why("the <shmem name='%.64s'> QEMU maps for %.64s: %s, %s; removed when it stops",
                         it->path + strlen(SHM_DIR), d->name, sz, who);
        r = journal_begin_custom(j, "shmem", resource, it->path, "absent", new_, &seq);
        if (r < 0)
                return r;
        r = hold(l, d->uuid, resource);
        if (r < 0)
                return r;
        if (journal_planning()) /* vmprep plan: the step is recorded, nothing is created */
                return journal_done(j, NULL, seq, new_);
        int fd = sysfs_open(it->path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
        if (fd < 0) {
                return log_error_errno(fd, "cannot create %s", it->path);
        }
        if (ftruncate(fd, (off_t) it->size) < 0 || fchown(fd, uid, gid) < 0 || fchmod(fd, it->mode) < 0) {
                r = -errno;
                close(fd);
                return log_error_errno(r, "cannot size %s to %llu bytes for %s:%s, mode %04o", it->path,
                                       (unsigned long long) it->size, it->owner[0] ? it->owner : "root",
                                       it->group[0] ? it->group : "root", (unsigned) it->mode);
        }
        close(fd);
        sysfs_crash_point(it->path);
        size_text(it->size, sz, sizeof(sz));
        log_info("created %s: %s, %s:%s, mode %04o", it->path, sz, it->owner[0] ? it->owner : "root",
                 it->group[0] ? it->group : "root", (unsigned) it->mode);
        return journal_done(j, NULL, seq, new_);
}

static int apply_one(Journal *j, Ledger *l, const Domain *d, const ShmemItem *it)
{
        char resource[400], old[64], new_[64];
        struct stat st;
        unsigned seq;
        int r;

        res_shmem(resource, sizeof(resource), it->path);
        r = sysfs_lstat(it->path, &st);
        if (r == -ENOENT && it->device) {
                return log_error_errno(SYNTHETIC_ERRNO(ENODEV),
                                       "<vmprep:shmem device='%s'>: there is no %s (load the kvmfr module: modprobe "
                                       "kvmfr static_size_mb=SIZE)",
                                       it->path, it->path);
        }
        if (r == -ENOENT)
                return create_file(j, l, d, it, resource);
        if (r < 0) {
                return log_error_errno(r, "cannot look at %s", it->path);
        }
        if (it->device ? !S_ISCHR(st.st_mode) : !S_ISREG(st.st_mode)) {
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "%s is %s, not %s: left alone", it->path,
                                       S_ISLNK(st.st_mode) ? "a symbolic link" :
                                       S_ISDIR(st.st_mode) ? "a directory" : "something else",
                                       it->device ? "a character device" : "a regular file");
        }
        if (!it->device && st.st_size > 0 && (uint64_t) st.st_size < it->size) {
                char a[32], b[32];
                size_text((uint64_t) st.st_size, a, sizeof(a));
                size_text(it->size, b, sizeof(b));
                return log_error_errno(SYNTHETIC_ERRNO(EBUSY),
                                       "%s exists with %s, less than the %s of the domain's <shmem name='%s'>: QEMU "
                                       "refuses a smaller backing file (remove it if nothing uses it)",
                                       it->path, a, b, it->path + strlen(SHM_DIR));
        }
        if (!it->device) {
                /* a file that was there: kept at release, and counted so
                 * that a VM that created it leaves it to this one */
                journal_plan_why("the file was there: %.64s uses it, and it is kept when the VMs using it stop",
                                 d->name);
                r = journal_begin_custom(j, "shmemuse", resource, it->path, "present", "present", &seq);
                if (r < 0)
                        return r;
                r = hold(l, d->uuid, resource);
                if (r < 0)
                        return r;
                r = journal_done(j, NULL, seq, "present");
                if (r < 0)
                        return r;
        }
        uid_t uid;
        gid_t gid;
        mode_t mode;
        wanted(it, &st, &uid, &gid, &mode);
        if (uid == st.st_uid && gid == st.st_gid && mode == (st.st_mode & 07777))
                return 0;
        owner_format(st.st_uid, st.st_gid, st.st_mode, old, sizeof(old));
        owner_format(uid, gid, mode, new_, sizeof(new_));
        char was[96], will[96];
        owner_text(st.st_uid, st.st_gid, st.st_mode, was, sizeof(was));
        owner_text(uid, gid, mode, will, sizeof(will));
        journal_plan_why("%s for %.64s: %s -> %s; owner and mode given back when it stops",
                         it->device ? "the kvmfr device" : "the existing shared-memory file, kept", d->name, was, will);
        r = journal_begin_custom(j, "owner", resource, it->path, old, new_, &seq);
        if (r < 0)
                return r;
        r = set_owner(it->path, uid, gid, mode);
        if (r < 0) {
                return log_error_errno(r, "cannot give %s to %s:%s, mode %04o", it->path,
                                       it->owner[0] ? it->owner : "(as is)", it->group[0] ? it->group : "(as is)",
                                       (unsigned) mode);
        }
        log_info("%s: owner %s:%s, mode %04o (was %s)", it->path, it->owner[0] ? it->owner : "(as is)",
                 it->group[0] ? it->group : "(as is)", (unsigned) mode, old);
        return journal_done(j, NULL, seq, new_);
}

int shmem_apply(Journal *j, Ledger *l, const Domain *d, const ShmemItem *items, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                int r = apply_one(j, l, d, &items[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool is_pow2(uint64_t v) { return v && !(v & (v - 1)); }

/* One doctor line: "fail|warn\tCHECK\tDETAIL\tFIX\n" */
static int line(char *buf, size_t size, size_t *len, bool failed, const char *check, const char *detail,
                const char *fix)
{
        if (*len < size)
                *len += (size_t) snprintf(buf + *len, size - *len, "%s\t%s\t%s\t%s\n", failed ? "fail" : "warn",
                                          check, detail, fix);
        return 1;
}

/* Does an AppArmor file that confines QEMU name path? */
static bool apparmor_names(const char *uuid, const char *path)
{
        char files[3][128];
        snprintf(files[0], sizeof(files[0]), "/etc/apparmor.d/local/abstractions/libvirt-qemu");
        snprintf(files[1], sizeof(files[1]), "/etc/apparmor.d/abstractions/libvirt-qemu");
        snprintf(files[2], sizeof(files[2]), "/etc/apparmor.d/libvirt/libvirt-%s.files", uuid);
        for (size_t i = 0; i < 3; i++) {
                char *text = NULL;
                if (sysfs_read_alloc(files[i], 4u << 20, &text, NULL) < 0)
                        continue;
                bool found = strstr(text, path) != NULL;
                free(text);
                if (found)
                        return true;
        }
        return false;
}

int shmem_doctor(const Domain *d, const Profile *p, char *buf, size_t size)
{
        ShmemItem *items = NULL;
        size_t n = 0, len = 0;
        char detail[1024], fix[1024], err[1024] = "";
        int count = 0;

        buf[0] = '\0';
        if (shmem_items(d, p, &items, &n, err, sizeof(err)) < 0)
                return line(buf, size, &len, true, "shmem", err, "fix the <vmprep:shmem> element or create the user/group");
        /* AppArmor confines QEMU when the kernel has it and libvirt ships its profile */
        bool apparmor = sysfs_exists("/sys/kernel/security/apparmor") &&
                        (sysfs_exists("/etc/apparmor.d/usr.sbin.libvirtd") ||
                         sysfs_exists("/etc/apparmor.d/libvirt/TEMPLATE.qemu"));
        char enforce[8] = "";
        bool selinux = sysfs_read("/sys/fs/selinux/enforce", enforce, sizeof(enforce)) > 0 && strcmp(enforce, "1") == 0;
        for (size_t i = 0; i < n; i++) {
                const ShmemItem *it = &items[i];
                char sz[32], up[32];
                if (!it->device && !is_pow2(it->size)) {
                        uint64_t next = 1;
                        while (next < it->size && next < (UINT64_C(1) << 62))
                                next <<= 1;
                        size_text(it->size, sz, sizeof(sz));
                        size_text(next, up, sizeof(up));
                        snprintf(detail, sizeof(detail), "<shmem name='%s'> is %s, not a power of two: the ivshmem "
                                 "BAR must be one, and libvirt refuses to start the VM", it->path + strlen(SHM_DIR), sz);
                        snprintf(fix, sizeof(fix), "make its <size> a power of two: %s", up);
                        count += line(buf, size, &len, true, "shmem", detail, fix);
                }
                if (!it->owner[0]) {
                        snprintf(detail, sizeof(detail), "<vmprep:shmem %s='%s'> names no owner: %s stays root's, "
                                 "and the Looking Glass client, run as your user, cannot open it",
                                 it->device ? "device" : "name", it->device ? it->path : it->path + strlen(SHM_DIR),
                                 it->path);
                        snprintf(fix, sizeof(fix), "add owner='YOUR-USER' group='kvm' (QEMU's group) to it");
                        count += line(buf, size, &len, false, "shmem", detail, fix);
                }
                if (apparmor && !apparmor_names(d->uuid, it->path)) {
                        snprintf(detail, sizeof(detail), "AppArmor confines QEMU here and no libvirt AppArmor file "
                                 "names %s: QEMU may be denied it", it->path);
                        snprintf(fix, sizeof(fix), "add '%s rw,' to /etc/apparmor.d/local/abstractions/libvirt-qemu, "
                                 "then systemctl reload apparmor", it->path);
                        count += line(buf, size, &len, false, "apparmor", detail, fix);
                }
                if (selinux) {
                        snprintf(detail, sizeof(detail), "SELinux is enforcing: QEMU's svirt domain may be denied %s",
                                 it->path);
                        snprintf(fix, sizeof(fix), "start the VM, then 'ausearch -m avc -c qemu' and allow what it "
                                 "shows with a local policy module (audit2allow -M)");
                        count += line(buf, size, &len, false, "selinux", detail, fix);
                }
                if (it->device) {
                        char *conf = NULL;
                        bool listed = sysfs_read_alloc("/etc/libvirt/qemu.conf", 1u << 20, &conf, NULL) == 0 &&
                                      strstr(conf, it->path) != NULL;
                        free(conf);
                        if (!listed) {
                                snprintf(detail, sizeof(detail), "%s is not in /etc/libvirt/qemu.conf: libvirt's device "
                                         "cgroup lets QEMU open only the devices cgroup_device_acl lists", it->path);
                                snprintf(fix, sizeof(fix), "add \"%s\" to cgroup_device_acl in /etc/libvirt/qemu.conf "
                                         "and restart libvirtd", it->path);
                                count += line(buf, size, &len, false, "kvmfr", detail, fix);
                        }
                }
        }
        free(items);
        return count;
}
