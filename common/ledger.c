/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The ledger: what running VMs hold of shared things (journal.h). */
#include "state_impl.h"

#include "log.h"
#include "parse.h"
#include "pci.h"
#include "plan.h"
#include "resource.h"
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

int ledger_add_hold(Ledger *l, const char *uuid, const char *resource, int64_t amount)
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
                return log_oom();
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
                return log_error_errno(SYNTHETIC_ERRNO(ENAMETOOLONG),
                                       "cannot hold '%s' in the ledger: the name is too long", resource);
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
                return log_error_errno(SYNTHETIC_ERRNO(ENAMETOOLONG),
                                       "cannot keep the host's value of %s in the ledger: it is too long", resource);
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
                int n = state_split_line(line, f, 10);
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
                return log_error_errno(r, "cannot read " LEDGER_PATH);
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
        if (journal_planning())
                return 0;

        sysfs_unlink(LEDGER_TMP);
        fd = state_open(LEDGER_TMP, O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (fd < 0)
                return fd == -ENOENT ? log_error_errno(fd, "cannot create " LEDGER_TMP) : fd;
        r = state_append_line(fd, "vmprep-ledger 1");
        for (size_t i = 0; i < l->n_holds && r == 0; i++) {
                char er[400];
                journal_escape(l->holds[i].resource, er, sizeof(er));
                snprintf(line, sizeof(line), "hold %s %s %lld", l->holds[i].uuid, er, (long long) l->holds[i].amount);
                r = state_append_line(fd, line);
        }
        if (r == 0 && l->has_pending) {
                char ep[1600], eo[800], et[800];
                LedgerPending *p = &l->pending;
                journal_escape(p->path, ep, sizeof(ep));
                journal_escape(p->old, eo, sizeof(eo));
                journal_escape(p->target, et, sizeof(et));
                snprintf(line, sizeof(line), "pending %s %s %u %s %s %s %s", p->uuid, p->cap, p->seq,
                         p->undo ? "undo" : "do", ep, eo, et);
                r = state_append_line(fd, line);
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
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "journal of %s: step %u: '%s' (%s) is not a CPU claim",
                                       uuid, s->seq, s->new_, s->old);
        for (int c = cpuset_next(&cpus, 0); c >= 0 && r == 0; c = cpuset_next(&cpus, (unsigned) c + 1)) {
                char res[32];
                res_cpu(res, sizeof(res), "cpus", c);
                r = hold_once(l, uuid, res);
                if (r == 0 && irqs) {
                        res_cpu(res, sizeof(res), "cpus-irq", c);
                        r = hold_once(l, uuid, res);
                }
                if (r == 0 && wq) {
                        res_cpu(res, sizeof(res), "cpus-wq", c);
                        r = hold_once(l, uuid, res);
                }
                if (r == 0 && cpuset_isset(&part, (unsigned) c)) {
                        res_cpu(res, sizeof(res), "cpus-part", c);
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
                        res_sriov(pf, sizeof(pf), bdf);
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
        JournalStep *s = journal_find_step(j, p->seq);
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

/* The ledger read; a damaged one is reported and refused, unless the
 * caller takes it even damaged (l->damaged says so). */
static int read_checked(Ledger *l, bool even_damaged)
{
        int r = ledger_read(l);
        if (r == -EBADMSG && even_damaged)
                return 0;
        if (r == -EBADMSG)
                ledger_report_damage(l, "nothing was changed");
        return r;
}

static int lock_and_read(Ledger *l, bool even_damaged)
{
        struct timespec pause = { 0, 10 * 1000 * 1000 };
        int r;

        memset(l, 0, sizeof(*l));
        l->lock_fd = -1;
        if (journal_planning())
                return read_checked(l, even_damaged); /* as it stands, without the lock: a plan writes nothing */
        r = state_dir_check();
        if (r < 0)
                return r;
        int fd = state_open(LEDGER_LOCK, O_RDWR | O_CREAT, 0600);
        if (fd == -ENOENT)
                return log_error_errno(fd, "cannot create " LEDGER_LOCK);
        if (fd < 0)
                return fd;
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
                        return log_error_errno(SYNTHETIC_ERRNO(ETIMEDOUT),
                                               "another vmprep hook has held " LEDGER_LOCK " for %d s; giving up",
                                               LEDGER_LOCK_TIMEOUT_MS / 1000);
                }
                nanosleep(&pause, NULL);
        }
        l->lock_fd = fd;
        r = read_checked(l, even_damaged);
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

        if (r < 0 || !l->damaged || journal_planning())
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
        /* ledger_rebuild() said why, but for the journals it could not read
         * (-EBADMSG), each of which journal_open() named */
        if (even_damaged)
                return 0; /* the caller gives back from its own journal */
        ledger_report_damage(l, r == -EBADMSG ? "nothing was given back, and the ledger cannot be rebuilt while a "
                                                "journal cannot be read (see above)"
                                              : "nothing was given back, and the ledger cannot be rebuilt (see above)");
        ledger_unlock(l);
        return r;
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
