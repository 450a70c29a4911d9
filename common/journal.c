/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The journals: load, open, steps, undo (journal.h). */
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

static void step_free(JournalStep *s)
{
        free(s->old);
        free(s->new_);
        free(s->result);
}

JournalStep *journal_find_step(Journal *j, unsigned seq)
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
                n = state_split_line(line, f, 8);
                if (n < 0) {
                        if (last) {
                                /* a write cut short by a crash: it never happened */
                                if (lineno > 1)
                                        log_warning("%s: ignoring the torn last line %u", path, lineno);
                                torn = true;
                                break;
                        }
                        return log_error_errno(SYNTHETIC_ERRNO(EBADMSG),
                                               "%s: line %u is damaged; not guessing what it said", path, lineno);
                }
                if (!header) {
                        char uuid[37];
                        if (n != 5 || strcmp(f[0], "vmprep-journal") != 0 || strcmp(f[1], "1") != 0 ||
                            uuid_parse(f[2], uuid) < 0 || strcmp(uuid, j->uuid) != 0 || strcmp(f[3], j->cap) != 0) {
                                return log_error_errno(SYNTHETIC_ERRNO(EBADMSG),
                                                       "%s: not a vmprep journal of this VM and capability", path);
                        }
                        journal_unescape(f[4], j->name, sizeof(j->name));
                        header = true;
                        continue;
                }
                uint64_t seq;
                if (n < 2 || parse_u64(f[1], 1, 1000000, &seq) < 0)
                        goto bad;
                if (strcmp(f[0], "S") == 0 && n == 7) {
                        if (journal_find_step(j, (unsigned) seq))
                                goto bad;
                        JournalStep *s = realloc(j->steps, (j->n_steps + 1) * sizeof(*s));
                        if (!s)
                                return log_oom();
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
                                return log_oom();
                        if (journal_unescape(f[3], s->resource, sizeof(s->resource)) < 0 ||
                            journal_unescape(f[4], s->path, sizeof(s->path)) < 0 ||
                            state_unescape_value(f[5], &s->old) < 0 || state_unescape_value(f[6], &s->new_) < 0 ||
                            s->path[0] != '/')
                                goto bad;
                        if (seq >= j->next_seq)
                                j->next_seq = (unsigned) seq + 1;
                } else if (strcmp(f[0], "D") == 0 && n == 3) {
                        JournalStep *s = journal_find_step(j, (unsigned) seq);
                        if (!s || state_unescape_value(f[2], &s->result) < 0)
                                goto bad;
                        s->done = true;
                } else if (strcmp(f[0], "U") == 0 && n == 2) {
                        JournalStep *s = journal_find_step(j, (unsigned) seq);
                        if (!s)
                                goto bad;
                        s->undone = true;
                } else {
                        goto bad;
                }
                continue;
        bad:
                return log_error_errno(SYNTHETIC_ERRNO(EBADMSG), "%s: line %u is not a journal record", path, lineno);
        }
        if (!header && (lineno == 0 || (lineno == 1 && torn)))
                return -ENODATA; /* its creation was cut short: nothing was journalled */
        if (!header) {
                return log_error_errno(SYNTHETIC_ERRNO(EBADMSG), "%s: the journal has no header", path);
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
                return log_oom();
        snprintf(j->uuid, sizeof(j->uuid), "%s", uuid);
        snprintf(j->cap, sizeof(j->cap), "%s", cap);
        snprintf(j->name, sizeof(j->name), "%s", name ? name : "");
        j->next_seq = 1;
        journal_path(uuid, cap, path, sizeof(path));

        read_only = read_only || journal_planning();
        j->fd = state_open(path, read_only ? O_RDONLY : O_RDWR | O_APPEND, 0);
        if (journal_planning() && j->fd == -ENOENT && create) {
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
                        r = state_append_line(j->fd, line);
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
                return r == -ENOENT && create ? log_error_errno(r, "cannot create %s", path) : r;
        }
        char *text = NULL;
        r = sysfs_read_alloc(path, STATE_FILE_MAX, &text, NULL);
        if (r < 0 && r != -ENOENT)
                log_error_errno(r, "cannot read %s", path);
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

int journal_record(Journal *j, const char *fmt_kind, unsigned seq, const char *value)
{
        char *ev = NULL, *line = NULL;
        int r;

        if (journal_planning())
                return 0;
        ev = value ? state_escape_value(value) : NULL;
        if (value && !ev)
                return log_oom();
        r = ev ? asprintf(&line, "%s %u %s", fmt_kind, seq, ev) : asprintf(&line, "%s %u", fmt_kind, seq);
        free(ev);
        if (r < 0)
                return log_oom();
        r = state_append_line(j->fd, line);
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
                return log_error_errno(SYNTHETIC_ERRNO(ENAMETOOLONG),
                                       "cannot journal the change of %s: its name or value is too long for the journal",
                                       path);
        journal_escape(resource, er, sizeof(er));
        journal_escape(path, ep, sizeof(ep));
        eo = state_escape_value(old);
        en = state_escape_value(new_);
        vo = strdup(old);
        vn = strdup(new_);
        vr = strdup("");
        if (!eo || !en || !vo || !vn || !vr ||
            asprintf(&line, "S %u %s %s %s %s %s", j->next_seq, kind_name, er, ep, eo, en) < 0) {
                r = log_oom();
                goto fail;
        }
        s = realloc(j->steps, (j->n_steps + 1) * sizeof(*s));
        if (!s) {
                r = log_oom();
                goto fail;
        }
        j->steps = s;
        r = journal_planning() ? journal_plan_record(j, kind, kind_name, resource, path, old, new_) : state_append_line(j->fd, line);
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

        if (kind == STEP_ADD && !journal_planning()) {
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
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "internal error: a counter's step without the ledger");
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
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "internal error: '%s' is no step kind", kind);
        return begin_step(j, NULL, STEP_CUSTOM, kind, resource, path, old, new_, seq);
}

int journal_done(Journal *j, Ledger *l, unsigned seq, const char *result)
{
        JournalStep *s = journal_find_step(j, seq);
        int r;

        if (!s)
                return log_error_errno(SYNTHETIC_ERRNO(ENOENT), "internal error: journal of %s has no step %u", j->uuid,
                                       seq);
        /* The change happened whether or not the D line can be written:
         * the undo that follows a failure here, in this process, gives
         * back what it added.  (A crash instead leaves the ledger's pending
         * slot, from which the next holder of the lock finds the amount.) */
        char *copy = strdup(result);
        if (!copy)
                return log_oom();
        free(s->result);
        s->result = copy;
        s->done = true;
        r = journal_record(j, "D", seq, result);
        if (r < 0)
                return r;
        if (s->kind == STEP_ADD) {
                int64_t amount;
                if (parse_i64(result, INT64_MIN, INT64_MAX, &amount) < 0)
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "internal error: '%s' is no amount", result);
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

        if (journal_planning())
                return 0; /* a plan gives nothing back: it took nothing */

        if (s->kind == STEP_CUSTOM) {
                JournalUndoFn fn = undo_fn_of(s->kind_name);
                if (!fn) {
                        return log_error_errno(SYNTHETIC_ERRNO(EPROTO),
                                               "journal of %s: no way to undo a '%s' step (%s); is this vmprep older "
                                               "than the one that wrote it?",
                                               j->uuid, s->kind_name, s->path);
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
