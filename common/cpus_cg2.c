/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Backend: cgroup v2 without systemd (cpus_impl.h). */
#include "cpus_impl.h"

#include "log.h"
#include "sysfs.h"

#include <errno.h>
#include <stdlib.h>

/* cgroup v2 without systemd: cpuset.cpus of the root's children other than
 * the VMs' (machine.slice, machine), with cpuset enabled in the root's
 * subtree_control ("cg2ctl": undo writes "-cpuset"). */
static bool is_machine_cgroup(const char *name)
{
        return strcmp(name, "machine.slice") == 0 || strcmp(name, "machine") == 0;
}

static int cg2_apply(Journal *j, const Config *conf, const CpuSet *host, Stats *st)
{
        (void) st; /* the root's children take their CPUs; no task moves */
        char buf[512], want[4096], path[SYSFS_PATH_MAX], cur[JOURNAL_STEP_VALUE_MAX];
        char **names = NULL;
        size_t n = 0;
        int r;

        r = sysfs_read(CG2_ROOT "/cgroup.subtree_control", buf, sizeof(buf));
        if (r < 0)
                return log_error_errno(r, "cannot read " CG2_ROOT "/cgroup.subtree_control");
        if (!word_in(buf, "cpuset")) {
                unsigned seq;
                r = journal_begin_custom(j, "cg2ctl", "cpus/host", CG2_ROOT "/cgroup.subtree_control", "", "+cpuset",
                                         &seq);
                if (r < 0)
                        return r;
                r = sysfs_write(CG2_ROOT "/cgroup.subtree_control", "+cpuset");
                if (r < 0)
                        return log_error_errno(r, "cannot enable the cpuset controller for the root's children");
                r = journal_done(j, NULL, seq, "+cpuset");
                if (r < 0)
                        return r;
        }
        cpuset_format(host, want, sizeof(want));
        if (conf->n_scopes) {
                names = calloc(conf->n_scopes, sizeof(*names));
                if (!names)
                        return log_oom();
                for (n = 0; n < conf->n_scopes; n++)
                        if (!(names[n] = strdup(conf->scopes[n] + 1))) {
                                sysfs_list_free(names, n);
                                return log_oom();
                        }
        } else {
                r = sysfs_list(CG2_ROOT, &names, &n);
                if (r < 0)
                        return log_error_errno(r, "cannot list " CG2_ROOT);
        }
        for (size_t i = 0; i < n && r >= 0; i++) {
                CpuSet now;
                if (!names[i] || is_machine_cgroup(names[i]))
                        continue;
                snprintf(path, sizeof(path), CG2_ROOT "/%s/cgroup.procs", names[i]);
                if (!sysfs_exists(path))
                        continue; /* a file, not a cgroup */
                snprintf(path, sizeof(path), CG2_ROOT "/%s/cpuset.cpus", names[i]);
                r = sysfs_read(path, cur, sizeof(cur));
                if (r == -ENOENT && journal_planning())
                        r = snprintf(cur, sizeof(cur), "%s", ""); /* a plan: the file comes, empty, with +cpuset */
                if (r < 0) {
                        log_error_errno(r, "cannot read %s", path);
                        break;
                }
                cpuset_clear(&now);
                if (*cur && cpuset_parse(cur, &now) < 0)
                        cpuset_clear(&now);
                if (cpuset_equal(&now, host)) {
                        r = 0;
                        continue;
                }
                r = cpus_host_write(j, "restore", path, cur, want);
                if (r < 0)
                        log_error_errno(r, "cannot write '%s' to %s", want, path);
        }
        sysfs_list_free(names, n);
        return r < 0 ? r : 0;
}

int cpus_undo_cg2ctl(const JournalStep *s, const UndoContext *ctx)
{
        (void) ctx; /* the step alone says what to give back */
        int r = sysfs_write(s->path, "-cpuset");
        if (r == -EBUSY) {
                log_warning("cpuset stays enabled in %s: a child cgroup still uses it", s->path);
                return 0;
        }
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return log_error_errno(r, "cannot disable the cpuset controller in %s", s->path);
        return 0;
}

const CpusBackend cpus_backend_cg2 = { .name = "cgroup v2", .apply = cg2_apply };
