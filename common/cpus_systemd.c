/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Backend: systemd, AllowedCPUs= over D-Bus (cpus_impl.h). */
#include "cpus_impl.h"

#include "log.h"
#include "systemd.h"
#include "sysfs.h"

#include <errno.h>
#include <stdlib.h>

/* systemd: AllowedCPUs= on the host's units, for the runtime only. */
static const char *const systemd_host_units[] = { "system.slice", "user.slice", "init.scope" };

static int sd_apply(Journal *j, const Config *conf, const CpuSet *host, Stats *st)
{
        (void) st; /* systemd moves nothing: the units' CPUs change */
        char want[4096], cur[JOURNAL_STEP_VALUE_MAX], path[256];
        size_t n = conf->n_scopes ? conf->n_scopes : 3;
        int r;

        cpuset_format(host, want, sizeof(want));
        for (size_t i = 0; i < n; i++) {
                const char *unit = conf->n_scopes ? conf->scopes[i] : systemd_host_units[i];
                unsigned seq = 0;
                r = systemd_unit_get_allowed_cpus(unit, cur, sizeof(cur));
                if (r < 0)
                        return log_error_errno(r, "cannot read AllowedCPUs= of %s from systemd", unit);
                if (strcmp(cur, want) == 0)
                        continue;
                snprintf(path, sizeof(path), "/org/freedesktop/systemd1/unit/%s", unit);
                bool first = !cpus_live_step(j, path);
                if (first) {
                        r = journal_begin_custom(j, "sdcpus", "cpus/host", path, cur, want, &seq);
                        if (r < 0)
                                return r;
                }
                r = systemd_unit_set_allowed_cpus(unit, want);
                if (r < 0)
                        return log_error_errno(r, "cannot set AllowedCPUs=%s on %s", want, unit);
                sysfs_crash_point(path);
                if (first) {
                        r = journal_done(j, NULL, seq, want);
                        if (r < 0)
                                return r;
                }
                log_info("%s: AllowedCPUs=%s (runtime)", unit, want);
        }
        return 0;
}

int cpus_undo_sdcpus(const JournalStep *s, const UndoContext *ctx)
{
        (void) ctx; /* the step alone says what to give back */
        const char *unit = strrchr(s->path, '/');
        char cur[JOURNAL_STEP_VALUE_MAX];
        int r;

        if (!unit || !name_is_valid(unit + 1))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "journal step %u: '%s' names no systemd unit", s->seq,
                                       s->path);
        unit++;
        r = systemd_unit_get_allowed_cpus(unit, cur, sizeof(cur));
        if (r == 0 && strcmp(cur, s->old) == 0)
                return 0;
        r = systemd_unit_set_allowed_cpus(unit, s->old);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return log_error_errno(r, "cannot reset AllowedCPUs= of %s to '%s'", unit, s->old);
        log_info("%s: AllowedCPUs=%s again", unit, s->old);
        return 0;
}

const CpusBackend cpus_backend_systemd = { .name = "systemd", .apply = sd_apply };
