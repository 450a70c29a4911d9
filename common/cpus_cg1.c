/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Backend: cgroup v1 cpuset (cpus_impl.h). */
#include "cpus_impl.h"

#include "log.h"
#include "sysfs.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/*
 * cgroup v1: under each host-scope cgroup D (default: the root of the
 * cpuset hierarchy), a child D/vmprep.host with cpuset.cpus = the host set,
 * and D's own tasks moved into it, a process (all its threads) per write
 * of cgroup.procs.  v1 wants cpuset.mems and cpuset.cpus set before the
 * first task arrives.  Kernel threads that may not move (per-CPU ones)
 * answer EINVAL and stay.  Undo ("cg1host"): every task back into D, then
 * rmdir.
 */
static int cg1_move_all(const char *from, const char *to, bool self_too, unsigned *moved, unsigned *unmovable)
{
        char procs[SYSFS_PATH_MAX], dest[SYSFS_PATH_MAX], *text = NULL, *save = NULL;
        int r, first = 0;
        pid_t self = getpid();

        snprintf(procs, sizeof(procs), "%s/cgroup.procs", from);
        snprintf(dest, sizeof(dest), "%s/cgroup.procs", to);
        r = sysfs_read_alloc(procs, 64u << 20, &text, NULL);
        if (r < 0)
                return r;
        for (char *tok = strtok_r(text, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save)) {
                uint64_t pid;
                if (parse_u64(tok, 1, INT32_MAX, &pid) < 0)
                        continue;
                if ((pid_t) pid == self && !self_too)
                        continue; /* the hook itself is gone in a moment */
                r = sysfs_write(dest, tok);
                if (r == 0) {
                        (*moved)++;
                } else if (r == -ESRCH) {
                        continue; /* exited meanwhile */
                } else if (r == -EINVAL || r == -EPERM) {
                        (*unmovable)++; /* kernel threads bound to their CPU */
                } else if (!first) {
                        first = r;
                }
        }
        free(text);
        return first;
}

static void cg1_dir(const char *scope, char *buf, size_t size)
{
        if (strcmp(scope, "/") == 0)
                snprintf(buf, size, CG1_ROOT);
        else
                snprintf(buf, size, CG1_ROOT "%s", scope);
}

static int cg1_apply(Journal *j, const Config *conf, const CpuSet *host, Stats *st)
{
        static const Config whole = { .scopes = { "/" }, .n_scopes = 1 };
        const Config *c = conf->n_scopes ? conf : &whole;
#if defined(VMPREP_TEST_BUILD) || defined(VMPREP_REQUIRE_HOST_SCOPE)
        /* a test on the real machine must never move its init and agent,
         * unless it asks for the default scope itself: a file "default-scope"
         * beside the compiled-in VMPREP_CONF (the host-test build's
         * /run/vmprep-cpus-test/; tests/host/cpus.sh, which puts every task
         * back) */
        char consent[512];
        snprintf(consent, sizeof(consent), "%s", VMPREP_CONF);
        if (strrchr(consent, '/'))
                snprintf(strrchr(consent, '/'), sizeof(consent) - (size_t) (strrchr(consent, '/') - consent),
                         "/default-scope");
        if (!conf->n_scopes && !sysfs_root()[0] && !sysfs_exists(consent)) {
                return log_error_errno(SYNTHETIC_ERRNO(EPERM), "test build on the real machine without host-scope: "
                                                               "refusing to move every task of the host");
        }
#endif
        char dir[512], child[600], path[SYSFS_PATH_MAX], want[4096], buf[4096];
        int r;

        for (size_t i = 0; i < c->n_scopes; i++) {
                CpuSet parent, w, now;
                cg1_dir(c->scopes[i], dir, sizeof(dir));
                snprintf(path, sizeof(path), "%s/cpuset.effective_cpus", dir);
                r = cpus_read_set(path, &parent);
                if (r == -ENOENT) {
                        snprintf(path, sizeof(path), "%s/cpuset.cpus", dir);
                        r = cpus_read_set(path, &parent);
                }
                if (r < 0) {
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                               "host-scope '%s': no such cgroup in the cpuset hierarchy (%s: %s)",
                                               c->scopes[i], path, strerror(-r));
                }
                w = parent;
                for (size_t k = 0; k < CPUSET_MAX / 64; k++)
                        w.bits[k] &= host->bits[k];
                if (cpuset_empty(&w)) {
                        char a[256], b[256];
                        return log_error_errno(SYNTHETIC_ERRNO(EBUSY),
                                               "host-scope '%s' may only use CPUs %s, all of which running VMs claim "
                                               "(host CPUs: %s)",
                                               c->scopes[i], fmt_set(&parent, a, sizeof(a)),
                                               fmt_set(host, b, sizeof(b)));
                }
                cpuset_format(&w, want, sizeof(want));
                snprintf(child, sizeof(child), "%s/" HOST_CGROUP, dir);
                /* (one left by a run whose host journal is gone is adopted:
                 * journalled, so that the last VM out removes it) */
                if (!cpus_live_step(j, child)) {
                        unsigned seq;
                        r = journal_begin_custom(j, "cg1host", "cpus/host", child, "", c->scopes[i], &seq);
                        if (r < 0)
                                return r;
                        r = sysfs_mkdir(child, 0755);
                        if (r < 0 && r != -EEXIST)
                                return log_error_errno(r, "cannot create the cgroup %s", child);
                        sysfs_crash_point(child);
                        snprintf(path, sizeof(path), "%s/cpuset.effective_mems", dir);
                        r = sysfs_read(path, buf, sizeof(buf));
                        if (r < 0) {
                                snprintf(path, sizeof(path), "%s/cpuset.mems", dir);
                                r = sysfs_read(path, buf, sizeof(buf));
                        }
                        if (r < 0)
                                return log_error_errno(r, "cannot read %s", path);
                        snprintf(path, sizeof(path), "%s/cpuset.mems", child);
                        r = sysfs_write(path, buf);
                        if (r < 0)
                                return log_error_errno(r, "cannot write '%s' to %s", buf, path);
                        snprintf(path, sizeof(path), "%s/cpuset.cpus", child);
                        r = sysfs_write(path, want);
                        if (r < 0)
                                return log_error_errno(r, "cannot write '%s' to %s", want, path);
                        r = journal_done(j, NULL, seq, want);
                        if (r < 0)
                                return r;
                        log_info("created %s for the host's tasks on CPU %s", child, want);
                } else {
                        snprintf(path, sizeof(path), "%s/cpuset.cpus", child);
                        r = cpus_read_set(path, &now);
                        if (r < 0 || !cpuset_equal(&now, &w)) {
                                r = sysfs_write(path, want);
                                if (r < 0)
                                        return log_error_errno(r, "cannot write '%s' to %s", want, path);
                                log_info("host tasks of %s now on CPU %s", c->scopes[i], want);
                        }
                }
                r = cg1_move_all(dir, child, false, &st->moved, &st->unmovable);
                if (r < 0)
                        return log_error_errno(r, "cannot move the tasks of %s into %s", dir, child);
        }
        return 0;
}

/*
 * Undo of "cg1host": every task of D/vmprep.host back into D, then rmdir.
 * The hook itself is usually among them: libvirtd was moved into
 * vmprep.host at prepare, so its release hook is born there (and so is any
 * child it forks until it is moved back).  So everything moves, the hook
 * included, round after round until the cgroup is empty and rmdir succeeds,
 * within CG1_EMPTY_MS.  A task that cannot leave (a kernel thread that
 * became PF_NO_SETAFFINITY while inside, answering EINVAL) or a fork storm
 * that outlasts the bound leaves the cgroup behind: it then gets D's CPUs,
 * so that what stays there is confined no longer, it is named, and the step
 * counts as undone (the next VM start adopts and removes the directory).
 */
#define CG1_EMPTY_MS 2000

int cpus_undo_cg1host(const JournalStep *s, const UndoContext *ctx)
{
        (void) ctx; /* the step alone says what to give back */
        char parent[sizeof(((JournalStep *) 0)->path)], path[SYSFS_PATH_MAX], cpus[4096], left[256] = "";
        struct timespec t0, now;
        unsigned moved = 0, unmovable = 0;
        int r;

        if (!sysfs_exists(s->path))
                return 0;
        snprintf(parent, sizeof(parent), "%s", s->path);
        char *slash = strrchr(parent, '/');
        if (!slash || strcmp(slash + 1, HOST_CGROUP) != 0) /* only ever a vmprep.host directory */
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "journal step %u: '%s' is not a " HOST_CGROUP " cgroup",
                                       s->seq, s->path);
        *slash = '\0';
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (unsigned round = 0;; round++) {
                r = cg1_move_all(s->path, parent, true, &moved, &unmovable);
                if (r < 0 && r != -ENOENT)
                        return log_error_errno(r, "cannot move the tasks of %s back to %s", s->path, parent);
                r = sysfs_rmdir(s->path);
                if (r == 0 || r == -ENOENT) {
                        log_info("moved %u processes back to %s and removed %s%s", moved, parent, s->path,
                                 round ? " (they were still forking: several rounds)" : "");
                        return 0;
                }
                if (r != -EBUSY)
                        return log_error_errno(r, "cannot remove %s", s->path);
                clock_gettime(CLOCK_MONOTONIC, &now);
                if ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 >= CG1_EMPTY_MS)
                        break;
                if (round >= 2) {
                        struct timespec pause = { 0, 10 * 1000 * 1000 };
                        nanosleep(&pause, NULL);
                }
        }
        /* what is still there runs on every CPU of the parent again */
        snprintf(path, sizeof(path), "%s/cpuset.effective_cpus", parent);
        r = sysfs_read(path, cpus, sizeof(cpus));
        if (r < 0) {
                snprintf(path, sizeof(path), "%s/cpuset.cpus", parent);
                r = sysfs_read(path, cpus, sizeof(cpus));
        }
        snprintf(path, sizeof(path), "%s/cgroup.procs", s->path);
        sysfs_read(path, left, sizeof(left));
        for (char *p = left; *p; p++)
                if (*p == '\n')
                        *p = ' ';
        if (r >= 0) {
                snprintf(path, sizeof(path), "%s/cpuset.cpus", s->path);
                r = sysfs_write(path, cpus);
        }
        if (r < 0)
                return log_error_errno(r, "cannot remove %s: process %s stay%s in it after %u ms, and it cannot be given "
                                       "the CPUs of %s", s->path, left[0] ? left : "(none listed)",
                                       strchr(left, ' ') ? "" : "s", CG1_EMPTY_MS, parent);
        log_warning("cannot remove %s: process %s still in it after %u ms (%s); it keeps them on CPU %s, as %s, and "
                    "the next VM start removes it", s->path, left[0] ? left : "(none listed)", CG1_EMPTY_MS,
                    unmovable ? "kernel threads that may not move" : "they keep forking", cpus, parent);
        return 0;
}

const CpusBackend cpus_backend_cg1 = { .name = "cgroup v1 cpuset", .apply = cg1_apply };
