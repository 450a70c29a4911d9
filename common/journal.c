/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "journal.h"

#include "log.h"
#include "plan.h"
#include "parse.h"
#include "pci.h"
#include "sysfs.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LEDGER_PATH VMPREP_RUNDIR "/ledger"
#define LEDGER_TMP VMPREP_RUNDIR "/ledger.tmp"
#define LEDGER_LOCK VMPREP_RUNDIR "/ledger.lock"
#define STATE_FILE_MAX (16u * 1024 * 1024)
/* A hook waits at most this long for another VM's hook to finish. */
#define LEDGER_LOCK_TIMEOUT_MS 120000

/* ---- plan mode: the hooks' own prepare, recorded instead of done ---- */

static Plan *plan_sink;
static char plan_why[256];
static bool plan_started;

void journal_plan_begin(Plan *plan)
{
        plan_sink = plan;
        plan_why[0] = '\0';
        plan_started = false;
        sysfs_set_dry_run(true);
}

void journal_plan_end(void)
{
        plan_sink = NULL;
        sysfs_set_dry_run(false);
}

bool journal_planning(void)
{
        return plan_sink != NULL;
}

void journal_plan_why(const char *fmt, ...)
{
        va_list ap;
        if (!plan_sink)
                return;
        va_start(ap, fmt);
        vsnprintf(plan_why, sizeof(plan_why), fmt, ap);
        va_end(ap);
}

void journal_plan_started(bool started)
{
        plan_started = started;
}

/* The reason of a step whose code said none (journal_plan_why). */
static void default_why(const char *kind, const char *resource, const char *path, char *buf, size_t size)
{
        if (!strcmp(kind, "add"))
                snprintf(buf, size, "hugepages for the VM (%s)", resource);
        else if (!strcmp(kind, "claim"))
                snprintf(buf, size, "the VM claims these CPUs (ledger: cpus/N holds)");
        else if (!strncmp(path, "/proc/irq/", 10) && strstr(path, "smp_affinity_list"))
                snprintf(buf, size, "this IRQ off the claimed cores");
        else if (!strcmp(path, "/proc/irq/default_smp_affinity"))
                snprintf(buf, size, "new IRQs off the claimed cores (hex mask)");
        else if (strstr(path, "/workqueue/cpumask"))
                snprintf(buf, size, "unbound workqueues off the claimed cores (hex mask)");
        else if (!strcmp(kind, "sdcpus"))
                snprintf(buf, size, "host work keeps off the claimed cores (runtime AllowedCPUs= over D-Bus)");
        else if (!strcmp(kind, "cg1host"))
                snprintf(buf, size, "a cpuset cgroup for the host's tasks (cgroup v1), its tasks moved in");
        else if (!strcmp(kind, "cg2ctl"))
                snprintf(buf, size, "the cpuset controller for the root's children (cgroup v2)");
        else if (strstr(path, "/cpuset.cpus.exclusive"))
                snprintf(buf, size, "the cgroup holds the vCPUs' cores exclusively (a partition below needs it)");
        else if (!strcmp(resource, "cpus/partition"))
                snprintf(buf, size, "the vCPUs' cores become an isolated partition");
        else if (!strcmp(resource, "cpus/host"))
                snprintf(buf, size, "host tasks keep off the claimed cores");
        else
                snprintf(buf, size, "%s", resource);
}

static int plan_record(const Journal *j, StepKind kind, const char *kind_name, const char *resource, const char *path,
                       const char *old, const char *new_)
{
        PlanStep st = { .kind = kind, .old = (char *) old, .new_ = (char *) new_, .started = plan_started };
        snprintf(st.cap, sizeof(st.cap), "%s", j->cap);
        snprintf(st.kind_name, sizeof(st.kind_name), "%s", kind_name);
        snprintf(st.journal, sizeof(st.journal), "%s.%s", j->uuid, j->cap);
        snprintf(st.resource, sizeof(st.resource), "%s", resource);
        snprintf(st.path, sizeof(st.path), "%s", path);
        if (kind == STEP_ADD) {
                int64_t a = 0, b = 0;
                parse_i64(old, INT64_MIN, INT64_MAX, &a);
                parse_i64(new_, INT64_MIN, INT64_MAX, &b);
                st.delta = b - a;
        }
        if (plan_why[0])
                snprintf(st.why, sizeof(st.why), "%s", plan_why);
        else
                default_why(kind_name, resource, path, st.why, sizeof(st.why));
        plan_why[0] = '\0';
        return plan_add(plan_sink, &st);
}

int journal_plan_keep(const char *cap, const char *resource, const char *path, const char *value, const char *fmt, ...)
{
        va_list ap;
        if (!plan_sink)
                return 0;
        PlanStep st = { .kind = STEP_SET, .keep = true, .old = (char *) value, .new_ = (char *) value };
        snprintf(st.cap, sizeof(st.cap), "%s", cap);
        snprintf(st.kind_name, sizeof(st.kind_name), "keep");
        snprintf(st.resource, sizeof(st.resource), "%s", resource);
        snprintf(st.path, sizeof(st.path), "%s", path);
        va_start(ap, fmt);
        vsnprintf(st.why, sizeof(st.why), fmt, ap);
        va_end(ap);
        return plan_add(plan_sink, &st);
}

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
static uint32_t checksum(const char *s, size_t n)
{
        uint32_t h = 2166136261u;
        for (size_t i = 0; i < n; i++) {
                h ^= (unsigned char) s[i];
                h *= 16777619u;
        }
        return h;
}

/* Split a line "fields ~cksum" into at most max fields; returns count or -EINVAL. */
static int split_line(char *line, char **fields, int max)
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
        if (want != UINT32_MAX && checksum(line, (size_t) (tilde - 1 - line)) != (uint32_t) want)
#else
        if (checksum(line, (size_t) (tilde - 1 - line)) != (uint32_t) want)
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
static int append_line(int fd, const char *content)
{
        char *line = NULL;
        struct stat st;
        int n = asprintf(&line, "%s ~0x%08x\n", content, checksum(content, strlen(content)));

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
        if (plan_sink)
                return 0; /* reads only: a missing directory is no state */
        int r = sysfs_mkdir(VMPREP_RUNDIR, 0700);

        if (r < 0 && r != -EEXIST)
                return log_error_errno(r, "cannot create " VMPREP_RUNDIR);
        r = sysfs_lstat(VMPREP_RUNDIR, &st);
        if (r < 0)
                return log_error_errno(r, "cannot inspect " VMPREP_RUNDIR);
        if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
                log_error(VMPREP_RUNDIR " is not a directory owned by uid %u with mode 0700 "
                          "(it is %s, uid %u, mode %04o): refusing to keep state there",
                          (unsigned) geteuid(), S_ISLNK(st.st_mode) ? "a symlink" : S_ISDIR(st.st_mode) ? "a directory" : "a file",
                          (unsigned) st.st_uid, (unsigned) (st.st_mode & 07777));
                return -VMPREP_EREPORTED;
        }
        return 0;
}

/* Open a state file and check it is ours: a regular file of our uid that
 * nobody else may write. */
static int state_open(const char *path, int flags, mode_t mode)
{
        struct stat st;
        int fd = sysfs_open(path, flags | O_NOFOLLOW, mode);

        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022)) {
                close(fd);
                log_error("%s is not a regular file owned by uid %u and writable only by it: refusing to use it",
                          path, (unsigned) geteuid());
                return -VMPREP_EREPORTED;
        }
        return fd;
}

/* ---- the journal ---- */

static void journal_path(const char *uuid, const char *cap, char *buf, size_t size)
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
static int unescape_value(const char *in, char **ret)
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
static char *escape_value(const char *in)
{
        size_t n = 3 * strlen(in) + 2;
        char *out = malloc(n);
        if (out)
                journal_escape(in, out, n);
        return out;
}

static void step_free(JournalStep *s)
{
        free(s->old);
        free(s->new_);
        free(s->result);
}

static JournalStep *find_step(Journal *j, unsigned seq)
{
        for (size_t i = 0; i < j->n_steps; i++)
                if (j->steps[i].seq == seq)
                        return &j->steps[i];
        return NULL;
}

int journal_load_text(Journal *j, char *text, const char *path)
{
        char *save = NULL;
        unsigned lineno = 0;
        bool header = false, torn = false;

        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *f[8];
                bool last = save == NULL || *save == '\0';
                int n;

                lineno++;
                n = split_line(line, f, 8);
                if (n < 0) {
                        if (last) {
                                /* a write cut short by a crash: it never happened */
                                if (lineno > 1)
                                        log_warning("%s: ignoring the torn last line %u", path, lineno);
                                torn = true;
                                break;
                        }
                        log_error("%s: line %u is damaged; not guessing what it said", path, lineno);
                        return -VMPREP_EREPORTED;
                }
                if (!header) {
                        char uuid[37];
                        if (n != 5 || strcmp(f[0], "vmprep-journal") != 0 || strcmp(f[1], "1") != 0 ||
                            uuid_parse(f[2], uuid) < 0 || strcmp(uuid, j->uuid) != 0 || strcmp(f[3], j->cap) != 0) {
                                log_error("%s: not a vmprep journal of this VM and capability", path);
                                return -VMPREP_EREPORTED;
                        }
                        journal_unescape(f[4], j->name, sizeof(j->name));
                        header = true;
                        continue;
                }
                uint64_t seq;
                if (n < 2 || parse_u64(f[1], 1, 1000000, &seq) < 0)
                        goto bad;
                if (strcmp(f[0], "S") == 0 && n == 7) {
                        if (find_step(j, (unsigned) seq))
                                goto bad;
                        JournalStep *s = realloc(j->steps, (j->n_steps + 1) * sizeof(*s));
                        if (!s)
                                return -ENOMEM;
                        j->steps = s;
                        s = &j->steps[j->n_steps++];
                        memset(s, 0, sizeof(*s));
                        s->seq = (unsigned) seq;
                        if (strcmp(f[2], "set") == 0)
                                s->kind = STEP_SET;
                        else if (strcmp(f[2], "add") == 0)
                                s->kind = STEP_ADD;
                        else if (name_is_valid(f[2]) && strlen(f[2]) < sizeof(s->kind_name))
                                s->kind = STEP_CUSTOM;
                        else
                                goto bad;
                        snprintf(s->kind_name, sizeof(s->kind_name), "%s", f[2]);
                        s->result = strdup("");
                        if (!s->result)
                                return -ENOMEM;
                        if (journal_unescape(f[3], s->resource, sizeof(s->resource)) < 0 ||
                            journal_unescape(f[4], s->path, sizeof(s->path)) < 0 ||
                            unescape_value(f[5], &s->old) < 0 || unescape_value(f[6], &s->new_) < 0 ||
                            s->path[0] != '/')
                                goto bad;
                        if (seq >= j->next_seq)
                                j->next_seq = (unsigned) seq + 1;
                } else if (strcmp(f[0], "D") == 0 && n == 3) {
                        JournalStep *s = find_step(j, (unsigned) seq);
                        if (!s || unescape_value(f[2], &s->result) < 0)
                                goto bad;
                        s->done = true;
                } else if (strcmp(f[0], "U") == 0 && n == 2) {
                        JournalStep *s = find_step(j, (unsigned) seq);
                        if (!s)
                                goto bad;
                        s->undone = true;
                } else {
                        goto bad;
                }
                continue;
        bad:
                log_error("%s: line %u is not a journal record", path, lineno);
                return -VMPREP_EREPORTED;
        }
        if (!header && (lineno == 0 || (lineno == 1 && torn)))
                return -ENODATA; /* its creation was cut short: nothing was journalled */
        if (!header) {
                log_error("%s: the journal has no header", path);
                return -VMPREP_EREPORTED;
        }
        return 0;
}

static int journal_open_full(const char *uuid, const char *cap, const char *name, bool create, bool read_only,
                             Journal **ret);

int journal_open(const char *uuid, const char *cap, const char *name, bool create, Journal **ret)
{
        return journal_open_full(uuid, cap, name, create, false, ret);
}

int journal_read(const char *uuid, const char *cap, Journal **ret)
{
        return journal_open_full(uuid, cap, NULL, false, true, ret);
}

/* read_only: loaded, never written or removed (a plan reads so too) */
static int journal_open_full(const char *uuid, const char *cap, const char *name, bool create, bool read_only,
                             Journal **ret)
{
        char path[256];
        Journal *j;
        int r;

        r = state_dir_check();
        if (r < 0)
                return r;
        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        snprintf(j->uuid, sizeof(j->uuid), "%s", uuid);
        snprintf(j->cap, sizeof(j->cap), "%s", cap);
        snprintf(j->name, sizeof(j->name), "%s", name ? name : "");
        j->next_seq = 1;
        journal_path(uuid, cap, path, sizeof(path));

        read_only = read_only || plan_sink;
        j->fd = state_open(path, read_only ? O_RDONLY : O_RDWR | O_APPEND, 0);
        if (plan_sink && j->fd == -ENOENT && create) {
                j->fd = -1; /* a journal in memory only */
                *ret = j;
                return 0;
        }
        if (read_only && j->fd >= 0) {
                close(j->fd); /* read below, never written */
                j->fd = -1;
        } else if (read_only) {
                r = j->fd;
                j->fd = -1;
                journal_close(j);
                return r;
        }
        if (j->fd == -ENOENT && create) {
                j->fd = state_open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL, 0600);
                if (j->fd >= 0) {
                        char ename[800], line[1024];
                        journal_escape(j->name, ename, sizeof(ename));
                        snprintf(line, sizeof(line), "vmprep-journal 1 %s %s %s", uuid, cap, ename);
                        r = append_line(j->fd, line);
                        if (r < 0) {
                                journal_close(j);
                                sysfs_unlink(path);
                                return log_error_errno(r, "cannot write %s", path);
                        }
                        *ret = j;
                        return 0;
                }
        }
        if (j->fd < 0 && !read_only) {
                r = j->fd;
                j->fd = -1;
                journal_close(j);
                return r;
        }
        char *text = NULL;
        r = sysfs_read_alloc(path, STATE_FILE_MAX, &text, NULL);
        if (r == 0)
                r = journal_load_text(j, text, path);
        free(text);
        if (r == -ENODATA) {
                /* a crash between creating the file and writing its header
                 * (empty, or a cut header line): no step was ever written,
                 * so there is nothing to give back; the file goes */
                if (read_only && create) {
                        *ret = j; /* a plan: an empty journal in memory (no step was loaded) */
                        return 0;
                }
                journal_close(j);
                if (read_only)
                        return -ENOENT;
                log_warning("%s: a journal whose creation was cut short (no header, no step): removed", path);
                r = sysfs_unlink(path);
                if (r < 0 && r != -ENOENT)
                        return log_error_errno(r, "cannot remove %s", path);
                return create ? journal_open_full(uuid, cap, name, create, false, ret) : -ENOENT;
        }
        if (r < 0) {
                journal_close(j);
                return r;
        }
        *ret = j;
        return 0;
}

void journal_close(Journal *j)
{
        if (!j)
                return;
        if (j->fd >= 0)
                close(j->fd);
        for (size_t i = 0; i < j->n_steps; i++)
                step_free(&j->steps[i]);
        free(j->steps);
        free(j);
}

int journal_reconnect_check(const char *uuid, const char *cap)
{
        Journal *j = NULL;
        int r = journal_open(uuid, cap, NULL, false, &j);

        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        for (size_t i = 0; i < j->n_steps; i++) {
                const JournalStep *s = &j->steps[i];
                if (!s->done && !s->undone)
                        log_warning("journal of %s: %s of %s was interrupted; release will finish it", uuid,
                                    s->kind_name, s->path);
        }
        journal_close(j);
        return 0;
}

int journal_release(Ledger *l, const char *uuid, const char *cap, const char *name, const char *what)
{
        Journal *j = NULL;
        int r = journal_open(uuid, cap, name, false, &j);

        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (what)
                log_info("giving back %s of %s", what, j->name[0] ? j->name : uuid);
        r = journal_undo(j, l);
        journal_close(j);
        return r;
}

int journal_start(Ledger *l, const char *uuid, const char *name, const char *cap, const char *what,
                  JournalFinishFn finish)
{
        int r = ledger_lock(l);
        if (r < 0)
                return r;
        if (!journal_exists(uuid, cap))
                return 0;
        log_warning("finishing the %s journal a previous start of %s left", what, name);
        r = finish ? finish(l, uuid, name) : journal_release(l, uuid, cap, name, NULL);
        if (r < 0)
                ledger_unlock(l);
        return r;
}

size_t journal_live_steps(const Journal *j)
{
        size_t n = 0;
        for (size_t i = 0; i < j->n_steps; i++)
                n += !j->steps[i].undone;
        return n;
}

int journal_remove(Journal *j)
{
        char path[256];
        journal_path(j->uuid, j->cap, path, sizeof(path));
        return sysfs_unlink(path);
}

static int journal_record(Journal *j, const char *fmt_kind, unsigned seq, const char *value)
{
        char *ev = NULL, *line = NULL;
        int r;

        if (plan_sink)
                return 0;
        ev = value ? escape_value(value) : NULL;
        if (value && !ev)
                return -ENOMEM;
        r = ev ? asprintf(&line, "%s %u %s", fmt_kind, seq, ev) : asprintf(&line, "%s %u", fmt_kind, seq);
        free(ev);
        if (r < 0)
                return -ENOMEM;
        r = append_line(j->fd, line);
        free(line);
        if (r < 0)
                return log_error_errno(r, "cannot append to the journal of %s", j->uuid);
        sysfs_crash_point("journal append");
        return 0;
}

static int begin_step(Journal *j, Ledger *l, StepKind kind, const char *kind_name, const char *resource,
                      const char *path, const char *old, const char *new_, unsigned *seq)
{
        char er[400], ep[1600], *eo = NULL, *en = NULL, *line = NULL, *vo = NULL, *vn = NULL, *vr = NULL;
        JournalStep *s;
        int r;

        /* a counter's values also go into the ledger's pending record */
        size_t value_max = kind == STEP_ADD ? JOURNAL_VALUE_MAX : JOURNAL_STEP_VALUE_MAX;
        if (strlen(path) >= sizeof(s->path) || strlen(resource) >= sizeof(s->resource) ||
            strlen(old) >= value_max || strlen(new_) >= value_max)
                return -ENAMETOOLONG;
        journal_escape(resource, er, sizeof(er));
        journal_escape(path, ep, sizeof(ep));
        eo = escape_value(old);
        en = escape_value(new_);
        vo = strdup(old);
        vn = strdup(new_);
        vr = strdup("");
        r = -ENOMEM;
        if (!eo || !en || !vo || !vn || !vr ||
            asprintf(&line, "S %u %s %s %s %s %s", j->next_seq, kind_name, er, ep, eo, en) < 0)
                goto fail;
        s = realloc(j->steps, (j->n_steps + 1) * sizeof(*s));
        if (!s)
                goto fail;
        j->steps = s;
        r = plan_sink ? plan_record(j, kind, kind_name, resource, path, old, new_) : append_line(j->fd, line);
        if (r < 0) {
                log_error_errno(r, "cannot append to the journal of %s", j->uuid);
                goto fail;
        }
        free(eo);
        free(en);
        free(line);
        s = &j->steps[j->n_steps++];
        memset(s, 0, sizeof(*s));
        s->seq = j->next_seq++;
        s->kind = kind;
        snprintf(s->kind_name, sizeof(s->kind_name), "%s", kind_name);
        snprintf(s->resource, sizeof(s->resource), "%s", resource);
        snprintf(s->path, sizeof(s->path), "%s", path);
        s->old = vo;
        s->new_ = vn;
        s->result = vr;
        sysfs_crash_point("journal append");

        if (kind == STEP_ADD && !plan_sink) {
                LedgerPending *p = &l->pending;
                memset(p, 0, sizeof(*p));
                snprintf(p->uuid, sizeof(p->uuid), "%s", j->uuid);
                snprintf(p->cap, sizeof(p->cap), "%s", j->cap);
                p->seq = s->seq;
                p->undo = false;
                snprintf(p->path, sizeof(p->path), "%s", path);
                snprintf(p->old, sizeof(p->old), "%s", old);
                snprintf(p->target, sizeof(p->target), "%s", new_);
                l->has_pending = true;
                r = ledger_save(l);
                if (r < 0)
                        return r;
        }
        *seq = s->seq;
        return 0;
fail:
        free(eo);
        free(en);
        free(line);
        free(vo);
        free(vn);
        free(vr);
        return r;
}

int journal_begin_set(Journal *j, const char *resource, const char *path, const char *old, const char *new_,
                      unsigned *seq)
{
        return begin_step(j, NULL, STEP_SET, "set", resource, path, old, new_, seq);
}

int journal_begin_add(Journal *j, Ledger *l, const char *resource, const char *path, const char *old,
                      const char *target, unsigned *seq)
{
        if (!l)
                return -EINVAL;
        return begin_step(j, l, STEP_ADD, "add", resource, path, old, target, seq);
}

#ifdef VMPREP_TEST_BUILD
#define MAX_TEST_KINDS 4
static struct {
        char kind[24];
        JournalUndoFn fn;
} test_kinds[MAX_TEST_KINDS];

int journal_register_undo(const char *kind, JournalUndoFn fn)
{
        if (!name_is_valid(kind) || strlen(kind) >= sizeof(test_kinds[0].kind) || !strcmp(kind, "set") ||
            !strcmp(kind, "add") || journal_undo_fn(kind))
                return -EINVAL;
        for (size_t i = 0; i < MAX_TEST_KINDS; i++)
                if (!test_kinds[i].fn || !strcmp(test_kinds[i].kind, kind)) {
                        snprintf(test_kinds[i].kind, sizeof(test_kinds[i].kind), "%s", kind);
                        test_kinds[i].fn = fn;
                        return 0;
                }
        return -ENOSPC;
}
#endif

static JournalUndoFn undo_fn_of(const char *kind)
{
        JournalUndoFn fn = journal_undo_fn(kind);
#ifdef VMPREP_TEST_BUILD
        for (size_t i = 0; !fn && i < MAX_TEST_KINDS && test_kinds[i].fn; i++)
                if (!strcmp(test_kinds[i].kind, kind))
                        fn = test_kinds[i].fn;
#endif
        return fn;
}

int journal_begin_custom(Journal *j, const char *kind, const char *resource, const char *path, const char *old,
                         const char *new_, unsigned *seq)
{
        if (!name_is_valid(kind) || strlen(kind) >= 24 || !strcmp(kind, "set") || !strcmp(kind, "add"))
                return -EINVAL;
        return begin_step(j, NULL, STEP_CUSTOM, kind, resource, path, old, new_, seq);
}

static int ledger_add_hold(Ledger *l, const char *uuid, const char *resource, int64_t amount)
{
        for (size_t i = 0; i < l->n_holds; i++)
                if (strcmp(l->holds[i].uuid, uuid) == 0 && strcmp(l->holds[i].resource, resource) == 0) {
                        l->holds[i].amount += amount;
                        if (l->holds[i].amount <= 0)
                                l->holds[i] = l->holds[--l->n_holds];
                        return 0;
                }
        if (amount <= 0)
                return 0;
        LedgerHold *h = realloc(l->holds, (l->n_holds + 1) * sizeof(*h));
        if (!h)
                return -ENOMEM;
        l->holds = h;
        h = &l->holds[l->n_holds++];
        snprintf(h->uuid, sizeof(h->uuid), "%s", uuid);
        snprintf(h->resource, sizeof(h->resource), "%s", resource);
        h->amount = amount;
        return 0;
}

int ledger_hold(Ledger *l, const char *uuid, const char *resource, int64_t amount)
{
        if (strlen(resource) >= sizeof(l->holds[0].resource))
                return -ENAMETOOLONG;
        return ledger_add_hold(l, uuid, resource, amount);
}

static const LedgerHold *baseline_find(const Ledger *l, const char *resource)
{
        size_t n = strlen(resource);
        for (size_t i = 0; i < l->n_holds; i++) {
                const char *r = l->holds[i].resource;
                if (strcmp(l->holds[i].uuid, LEDGER_HOST_UUID) == 0 && strncmp(r, "baseline:", 9) == 0 &&
                    strncmp(r + 9, resource, n) == 0 && r[9 + n] == '=')
                        return &l->holds[i];
        }
        return NULL;
}

int ledger_baseline_set(Ledger *l, const char *resource, const char *value)
{
        char ev[JOURNAL_VALUE_MAX], res[128];

        journal_escape(value, ev, sizeof(ev));
        if (snprintf(res, sizeof(res), "baseline:%s=%s", resource, ev) >= (int) sizeof(res))
                return -ENAMETOOLONG;
        ledger_baseline_clear(l, resource);
        return ledger_add_hold(l, LEDGER_HOST_UUID, res, 1);
}

int ledger_baseline_get(const Ledger *l, const char *resource, char *buf, size_t size)
{
        const LedgerHold *h = baseline_find(l, resource);
        if (!h)
                return -ENOENT;
        return journal_unescape(h->resource + 9 + strlen(resource) + 1, buf, size);
}

void ledger_baseline_clear(Ledger *l, const char *resource)
{
        const LedgerHold *h;
        while ((h = baseline_find(l, resource)))
                l->holds[h - l->holds] = l->holds[--l->n_holds];
}

int journal_done(Journal *j, Ledger *l, unsigned seq, const char *result)
{
        JournalStep *s = find_step(j, seq);
        int r;

        if (!s)
                return -ENOENT;
        /* The change happened whether or not the D line can be written:
         * the undo that follows a failure here, in this process, gives
         * back what it added.  (A crash instead leaves the ledger's pending
         * slot, from which the next holder of the lock finds the amount.) */
        char *copy = strdup(result);
        if (!copy)
                return -ENOMEM;
        free(s->result);
        s->result = copy;
        s->done = true;
        r = journal_record(j, "D", seq, result);
        if (r < 0)
                return r;
        if (s->kind == STEP_ADD) {
                int64_t amount;
                if (parse_i64(result, INT64_MIN, INT64_MAX, &amount) < 0)
                        return -EINVAL;
                r = ledger_add_hold(l, j->uuid, s->resource, amount);
                if (r < 0)
                        return r;
                l->has_pending = false;
                return ledger_save(l);
        }
        return 0;
}

static int undo_step(Journal *j, Ledger *l, JournalStep *s)
{
        int r;

        if (plan_sink)
                return 0; /* a plan gives nothing back: it took nothing */

        if (s->kind == STEP_CUSTOM) {
                JournalUndoFn fn = undo_fn_of(s->kind_name);
                if (!fn) {
                        log_error("journal of %s: no way to undo a '%s' step (%s); is this vmprep older than the one "
                                  "that wrote it?", j->uuid, s->kind_name, s->path);
                        return -VMPREP_EREPORTED;
                }
                const UndoContext ctx = { .ledger = l, .uuid = j->uuid };
                r = fn(s, &ctx);
                if (r < 0)
                        return r;
                return journal_record(j, "U", s->seq, NULL);
        }

        if (s->kind == STEP_SET) {
                r = sysfs_write(s->path, s->old);
                if (r < 0)
                        return log_error_errno(r, "cannot restore %s to '%s'", s->path, s->old);
                log_info("restored %s to '%s'", s->path, s->old);
                return journal_record(j, "U", s->seq, NULL);
        }

        /* STEP_ADD: subtract what this step added, from whatever the counter
         * holds now (other VMs may have changed it since). */
        int64_t amount = 0;
        uint64_t cur;
        if (s->done && parse_i64(s->result, 0, INT64_MAX, &amount) < 0)
                amount = 0;
        if (amount == 0)
                return journal_record(j, "U", s->seq, NULL);
        r = sysfs_read_u64(s->path, &cur);
        if (r < 0)
                return log_error_errno(r, "cannot read %s", s->path);
        uint64_t target = cur > (uint64_t) amount ? cur - (uint64_t) amount : 0;

        if (l->damaged) {
                /* The journal alone says what this VM added: give back
                 * exactly that.  No pending slot (the ledger cannot be
                 * written): a crash between the write and the U line would
                 * have the next release subtract it again. */
                r = sysfs_write_u64(s->path, target);
                if (r < 0)
                        return log_error_errno(r, "cannot lower %s from %llu to %llu", s->path,
                                               (unsigned long long) cur, (unsigned long long) target);
                log_info("gave back %lld: %s %llu -> %llu (from the journal; the ledger is damaged)", (long long) amount,
                         s->path, (unsigned long long) cur, (unsigned long long) target);
                return journal_record(j, "U", s->seq, NULL);
        }

        LedgerPending *p = &l->pending;
        memset(p, 0, sizeof(*p));
        snprintf(p->uuid, sizeof(p->uuid), "%s", j->uuid);
        snprintf(p->cap, sizeof(p->cap), "%s", j->cap);
        p->seq = s->seq;
        p->undo = true;
        snprintf(p->path, sizeof(p->path), "%s", s->path);
        snprintf(p->old, sizeof(p->old), "%llu", (unsigned long long) cur);
        snprintf(p->target, sizeof(p->target), "%llu", (unsigned long long) target);
        l->has_pending = true;
        r = ledger_save(l);
        if (r < 0)
                return r;
        r = sysfs_write_u64(s->path, target);
        if (r < 0) {
                l->has_pending = false;
                ledger_save(l);
                return log_error_errno(r, "cannot lower %s from %llu to %llu", s->path, (unsigned long long) cur,
                                       (unsigned long long) target);
        }
        log_info("gave back %lld: %s %llu -> %llu", (long long) amount, s->path, (unsigned long long) cur,
                 (unsigned long long) target);
        r = journal_record(j, "U", s->seq, NULL);
        if (r < 0)
                return r;
        ledger_add_hold(l, j->uuid, s->resource, -amount);
        l->has_pending = false;
        return ledger_save(l);
}

int journal_undo(Journal *j, Ledger *l)
{
        int first = 0;

        for (size_t i = j->n_steps; i-- > 0;) {
                JournalStep *s = &j->steps[i];
                if (s->undone)
                        continue;
                int r = undo_step(j, l, s);
                if (r < 0) {
                        if (!first)
                                first = r;
                        continue;
                }
                s->undone = true;
        }
        if (journal_live_steps(j) == 0) {
                int r = journal_remove(j);
                if (r < 0 && r != -ENOENT && !first)
                        first = log_error_errno(r, "cannot remove the journal of %s", j->uuid);
        }
        return first;
}

/* ---- the ledger ---- */

void ledger_clear(Ledger *l)
{
        free(l->holds);
        l->holds = NULL;
        l->n_holds = 0;
        l->has_pending = false;
}

int ledger_parse_text(Ledger *l, char *text)
{
        char *save = NULL;
        unsigned lineno = 0;

        if (!*text) {
                /* ledger_save() always writes the header: an empty file is
                 * one cut off, not a ledger with nothing in it */
                lineno = 1;
                goto bad;
        }

        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *f[10];
                int n = split_line(line, f, 10);
                lineno++;
                if (n < 0)
                        goto bad;
                if (lineno == 1) {
                        if (n != 2 || strcmp(f[0], "vmprep-ledger") != 0 || strcmp(f[1], "1") != 0)
                                goto bad;
                } else if (strcmp(f[0], "hold") == 0 && n == 4) {
                        char uuid[37], res[128];
                        int64_t amount;
                        if (uuid_parse(f[1], uuid) < 0 || journal_unescape(f[2], res, sizeof(res)) < 0 ||
                            parse_i64(f[3], 1, INT64_MAX, &amount) < 0 || ledger_add_hold(l, uuid, res, amount) < 0)
                                goto bad;
                } else if (strcmp(f[0], "pending") == 0 && n == 8) {
                        LedgerPending *p = &l->pending;
                        uint64_t seq;
                        if (uuid_parse(f[1], p->uuid) < 0 || !name_is_valid(f[2]) ||
                            parse_u64(f[3], 1, 1000000, &seq) < 0 ||
                            (strcmp(f[4], "do") != 0 && strcmp(f[4], "undo") != 0) ||
                            journal_unescape(f[5], p->path, sizeof(p->path)) < 0 || p->path[0] != '/' ||
                            journal_unescape(f[6], p->old, sizeof(p->old)) < 0 ||
                            journal_unescape(f[7], p->target, sizeof(p->target)) < 0)
                                goto bad;
                        snprintf(p->cap, sizeof(p->cap), "%s", f[2]);
                        p->seq = (unsigned) seq;
                        p->undo = strcmp(f[4], "undo") == 0;
                        l->has_pending = true;
                } else {
                        goto bad;
                }
        }
        return 0;
bad:
        l->damaged_line = lineno;
        return -EBADMSG;
}

int ledger_read(Ledger *l)
{
        char *text = NULL;
        int r;

        ledger_clear(l);
        l->damaged = false;
        l->damaged_line = 0;
        int fd = state_open(LEDGER_PATH, O_RDONLY, 0);
        if (fd == -ENOENT)
                return 0;
        if (fd < 0)
                return fd;
        close(fd);
        r = sysfs_read_alloc(LEDGER_PATH, STATE_FILE_MAX, &text, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        r = ledger_parse_text(l, text);
        free(text);
        if (r == -EBADMSG) {
                ledger_clear(l);
                l->damaged = true;
        }
        return r;
}

void ledger_report_damage(const Ledger *l, const char *outcome)
{
        log_error(LEDGER_PATH " is damaged (line %u), so what the running VMs hold is unknown: %s; run "
                  "'vmprep reconcile': it rebuilds the ledger from their journals (keeping the damaged file "
                  "aside)", l->damaged_line, outcome);
}

int ledger_save(Ledger *l)
{
        char line[4000];
        int fd, r = 0;

        if (l->damaged)
                return -EBADMSG; /* never replace it with the little this process knows */
        if (plan_sink)
                return 0;

        sysfs_unlink(LEDGER_TMP);
        fd = state_open(LEDGER_TMP, O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (fd < 0)
                return log_error_errno(fd, "cannot write " LEDGER_TMP);
        r = append_line(fd, "vmprep-ledger 1");
        for (size_t i = 0; i < l->n_holds && r == 0; i++) {
                char er[400];
                journal_escape(l->holds[i].resource, er, sizeof(er));
                snprintf(line, sizeof(line), "hold %s %s %lld", l->holds[i].uuid, er, (long long) l->holds[i].amount);
                r = append_line(fd, line);
        }
        if (r == 0 && l->has_pending) {
                char ep[1600], eo[800], et[800];
                LedgerPending *p = &l->pending;
                journal_escape(p->path, ep, sizeof(ep));
                journal_escape(p->old, eo, sizeof(eo));
                journal_escape(p->target, et, sizeof(et));
                snprintf(line, sizeof(line), "pending %s %s %u %s %s %s %s", p->uuid, p->cap, p->seq,
                         p->undo ? "undo" : "do", ep, eo, et);
                r = append_line(fd, line);
        }
        close(fd);
        if (r == 0)
                r = sysfs_rename(LEDGER_TMP, LEDGER_PATH);
        if (r < 0)
                return log_error_errno(r, "cannot update " LEDGER_PATH);
        sysfs_crash_point("ledger save");
        return 0;
}

/* ---- rebuilding a damaged ledger from the journals ---- */

static int hold_once(Ledger *l, const char *uuid, const char *resource)
{
        return ledger_held(l, resource, uuid) ? 0 : ledger_hold(l, uuid, resource, 1);
}

/* The holds a CPU claim step stands for: "cpus/N" per CPU of s->new_, and
 * per the words of s->old (cpus.c writes "isolate[,irqs][,workqueues]
 * [,partition[:LIST]]", no LIST when it was too long: every CPU; older
 * journals wrote "", when both were the default) "cpus-irq/N",
 * "cpus-wq/N", "cpus-part/N". */
static int hold_claim(Ledger *l, const char *uuid, const JournalStep *s)
{
        CpuSet cpus, part;
        bool irqs = !s->old[0] || strstr(s->old, "irqs"), wq = !s->old[0] || strstr(s->old, "workqueues");
        const char *p = strstr(s->old, "partition");
        int r = cpuset_parse(s->new_, &cpus);

        cpuset_clear(&part);
        if (r == 0 && p && p[strlen("partition")] == ':')
                r = cpuset_parse(p + strlen("partition:"), &part);
        else if (p)
                part = cpus;
        if (r < 0)
                return r;
        for (int c = cpuset_next(&cpus, 0); c >= 0 && r == 0; c = cpuset_next(&cpus, (unsigned) c + 1)) {
                char res[32];
                snprintf(res, sizeof(res), "cpus/%d", c);
                r = hold_once(l, uuid, res);
                if (r == 0 && irqs) {
                        snprintf(res, sizeof(res), "cpus-irq/%d", c);
                        r = hold_once(l, uuid, res);
                }
                if (r == 0 && wq) {
                        snprintf(res, sizeof(res), "cpus-wq/%d", c);
                        r = hold_once(l, uuid, res);
                }
                if (r == 0 && cpuset_isset(&part, (unsigned) c)) {
                        snprintf(res, sizeof(res), "cpus-part/%d", c);
                        r = hold_once(l, uuid, res);
                }
        }
        return r;
}

/* What one live step of a VM's journal holds in the ledger. */
static int hold_step(Ledger *l, const char *uuid, const JournalStep *s)
{
        int64_t amount;

        if (s->kind == STEP_ADD) {
                if (!s->done || parse_i64(s->result, 0, INT64_MAX, &amount) < 0) {
                        log_warning("journal of %s: the change of %s was interrupted; how much it added is unknown "
                                    "(the ledger that knew is damaged)", uuid, s->path);
                        return 0;
                }
                return ledger_hold(l, uuid, s->resource, amount);
        }
        if (s->kind != STEP_CUSTOM)
                return 0;
        if (!strcmp(s->kind_name, "claim"))
                return hold_claim(l, uuid, s);
        if (!strcmp(s->kind_name, "shared")) {
                char base[JOURNAL_VALUE_MAX];
                if (ledger_baseline_get(l, s->resource, base, sizeof(base)) == -ENOENT) {
                        int r = ledger_baseline_set(l, s->resource, s->old);
                        if (r < 0)
                                return r;
                }
                return hold_once(l, uuid, s->resource);
        }
        if (!strcmp(s->kind_name, "bind") && !strncmp(s->resource, "pci/", 4)) {
                /* a VF the VM has: it uses its PF's VFs (vfio_prepare holds
                 * sriov/PF for every VF it binds, with no step of its own) */
                char link[256], bdf[PCI_ADDRESS_STRLEN], pf[64];
                snprintf(link, sizeof(link), "/sys/bus/pci/devices/%s/physfn", s->resource + 4);
                if (pci_link_basename(link, bdf, sizeof(bdf)) == 0) {
                        snprintf(pf, sizeof(pf), "sriov/%s", bdf);
                        int r = hold_once(l, uuid, pf);
                        if (r < 0)
                                return r;
                }
                return hold_once(l, uuid, s->resource);
        }
        if ((!strcmp(s->kind_name, "shmem") || !strcmp(s->kind_name, "shmemuse")) && !strncmp(s->resource, "shmem:", 6))
                /* a /dev/shm file the VM made or found (shmem.c holds it
                 * so that the first VM to stop leaves it to the others) */
                return hold_once(l, uuid, s->resource);
        if ((!strcmp(s->kind_name, "numvfs") || !strcmp(s->kind_name, "vf")) && !strncmp(s->resource, "sriov/", 6)) {
                char pf[128];
                const char *slash = strchr(s->resource + 6, '/');
                snprintf(pf, sizeof(pf), "%.*s", slash ? (int) (slash - s->resource) : (int) strlen(s->resource),
                         s->resource);
                return hold_once(l, uuid, pf);
        }
        return 0;
}

int ledger_rebuild(Ledger *l, char *aside, size_t size, unsigned *unreadable, bool all_or_nothing)
{
        char **names = NULL, stamp[32];
        size_t n_names = 0;
        struct timespec now;
        struct tm tm;
        int r, count = 0;

        *unreadable = 0;
        if (!l->damaged || l->lock_fd < 0)
                return -EINVAL;
        ledger_clear(l);
        r = sysfs_list(VMPREP_RUNDIR, &names, &n_names);
        if (r < 0)
                return log_error_errno(r, "cannot list " VMPREP_RUNDIR);
        for (size_t i = 0; i < n_names && r >= 0; i++) {
                char uuid[37], cap[32];
                Journal *j = NULL;
                if (journal_name_parse(names[i], uuid, cap) < 0)
                        continue;
                int rj = journal_open(uuid, cap, NULL, false, &j);
                if (rj == -ENOENT)
                        continue; /* gone meanwhile, or a creation cut short */
                if (rj < 0) {
                        (*unreadable)++;
                        continue;
                }
                for (size_t k = 0; k < j->n_steps && r >= 0; k++)
                        if (!j->steps[k].undone)
                                r = hold_step(l, uuid, &j->steps[k]);
                journal_close(j);
                count++;
        }
        sysfs_list_free(names, n_names);
        if (r < 0)
                return r;
        if (*unreadable && all_or_nothing) {
                ledger_clear(l); /* still damaged: what the unread journals hold is unknown */
                return -EBADMSG;
        }
        /* a second name first, then the rebuilt ledger replaces the damaged
         * one atomically: a crash in between leaves it damaged, never gone */
        clock_gettime(CLOCK_REALTIME, &now);
        gmtime_r(&now.tv_sec, &tm);
        strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
        snprintf(aside, size, LEDGER_PATH ".damaged-%s", stamp);
        r = sysfs_link(LEDGER_PATH, aside);
        if (r < 0 && r != -ENOENT && r != -EEXIST)
                return log_error_errno(r, "cannot keep the damaged " LEDGER_PATH " as %s", aside);
        l->damaged = false;
        r = ledger_save(l);
        return r < 0 ? r : count;
}

/* A holder of the lock died in the middle of changing a shared counter:
 * find out from the counter itself whether its write happened. */
static int ledger_finish_pending(Ledger *l)
{
        LedgerPending *p = &l->pending;
        Journal *j = NULL;
        uint64_t cur, old, target;
        int r;

        if (parse_u64(p->old, 0, UINT64_MAX, &old) < 0 || parse_u64(p->target, 0, UINT64_MAX, &target) < 0)
                goto drop;
        r = sysfs_read_u64(p->path, &cur);
        if (r < 0)
                return log_error_errno(r, "cannot read %s to finish an interrupted change", p->path);
        r = journal_open(p->uuid, p->cap, NULL, false, &j);
        if (r == -ENOENT)
                goto drop;
        if (r < 0)
                return r;
        JournalStep *s = find_step(j, p->seq);
        if (!s)
                goto drop_j;
        if (!p->undo && !s->done) {
                /* What the counter gained is what the step added. */
                char amount[32];
                snprintf(amount, sizeof(amount), "%llu", (unsigned long long) (cur > old ? cur - old : 0));
                log_warning("finishing an interrupted change of %s by VM %s: it added %s", p->path, p->uuid, amount);
                r = journal_done(j, l, s->seq, amount);
                journal_close(j);
                return r;
        }
        if (p->undo && !s->undone && cur != old) {
                int64_t amount = 0;
                log_warning("finishing an interrupted undo of %s by VM %s", p->path, p->uuid);
                r = journal_record(j, "U", s->seq, NULL);
                if (r < 0) {
                        journal_close(j);
                        return r;
                }
                s->undone = true;
                if (s->done && parse_i64(s->result, 0, INT64_MAX, &amount) == 0)
                        ledger_add_hold(l, j->uuid, s->resource, -amount);
                if (journal_live_steps(j) == 0)
                        journal_remove(j);
        }
drop_j:
        journal_close(j);
drop:
        l->has_pending = false;
        return ledger_save(l);
}

static int lock_and_read(Ledger *l, bool even_damaged)
{
        struct timespec pause = { 0, 10 * 1000 * 1000 };
        int r;

        memset(l, 0, sizeof(*l));
        l->lock_fd = -1;
        if (plan_sink) {
                /* read as it stands, without the lock (a plan writes nothing) */
                r = ledger_read(l);
                if (r == -EBADMSG && even_damaged)
                        return 0;
                if (r == -EBADMSG) {
                        ledger_report_damage(l, "nothing was changed");
                        r = -VMPREP_EREPORTED;
                }
                return r;
        }
        r = state_dir_check();
        if (r < 0)
                return r;
        int fd = state_open(LEDGER_LOCK, O_RDWR | O_CREAT, 0600);
        if (fd < 0)
                return log_error_errno(fd, "cannot open " LEDGER_LOCK);
        for (int waited = 0;; waited += 10) {
                if (flock(fd, LOCK_EX | LOCK_NB) == 0)
                        break;
                if (errno != EWOULDBLOCK && errno != EINTR) {
                        r = -errno;
                        close(fd);
                        return log_error_errno(r, "cannot lock " LEDGER_LOCK);
                }
                if (waited >= LEDGER_LOCK_TIMEOUT_MS) {
                        close(fd);
                        log_error("another vmprep hook has held " LEDGER_LOCK " for %d s; giving up",
                                  LEDGER_LOCK_TIMEOUT_MS / 1000);
                        return -VMPREP_EREPORTED;
                }
                nanosleep(&pause, NULL);
        }
        l->lock_fd = fd;
        r = ledger_read(l);
        if (r == -EBADMSG && even_damaged)
                return 0;
        if (r == -EBADMSG) {
                ledger_report_damage(l, "nothing was changed");
                r = -VMPREP_EREPORTED;
        }
        if (r == 0 && l->has_pending)
                r = ledger_finish_pending(l);
        if (r < 0)
                ledger_unlock(l);
        return r;
}

int ledger_lock(Ledger *l)
{
        return lock_and_read(l, false);
}

int ledger_lock_even_damaged(Ledger *l)
{
        return lock_and_read(l, true);
}

int ledger_lock_release(Ledger *l, bool even_damaged)
{
        char aside[256];
        unsigned unreadable = 0, line;
        int r = lock_and_read(l, true);

        if (r < 0 || !l->damaged || plan_sink)
                return r;
        line = l->damaged_line;
        r = ledger_rebuild(l, aside, sizeof(aside), &unreadable, true);
        if (r >= 0) {
                log_warning(LEDGER_PATH " was damaged (line %u): rebuilt it from the %d journal%s in " VMPREP_RUNDIR
                            " and kept the damaged file as %s", line, r, r == 1 ? "" : "s", aside);
                return 0;
        }
        l->damaged = true;
        l->damaged_line = line;
        if (even_damaged) {
                if (r != -EBADMSG)
                        log_warning_errno(r, "cannot rebuild the damaged " LEDGER_PATH);
                return 0; /* the caller gives back from its own journal */
        }
        if (r == -EBADMSG)
                ledger_report_damage(l, "nothing was given back, and the ledger cannot be rebuilt while a journal "
                                        "cannot be read (see above)");
        else
                log_error_errno(r, "cannot rebuild the damaged " LEDGER_PATH);
        ledger_unlock(l);
        return -VMPREP_EREPORTED;
}

void ledger_unlock(Ledger *l)
{
        if (l->lock_fd >= 0)
                close(l->lock_fd); /* releases the flock */
        l->lock_fd = -1;
        ledger_clear(l);
        l->damaged = false;
}

int64_t ledger_held(const Ledger *l, const char *resource, const char *uuid)
{
        int64_t sum = 0;
        for (size_t i = 0; i < l->n_holds; i++)
                if (strcmp(l->holds[i].resource, resource) == 0 && (!uuid || strcmp(l->holds[i].uuid, uuid) == 0))
                        sum += l->holds[i].amount;
        return sum;
}
