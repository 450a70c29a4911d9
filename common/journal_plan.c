/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Plan mode: the hooks' own prepare, recorded instead of done (journal.h). */
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

int journal_plan_record(const Journal *j, StepKind kind, const char *kind_name, const char *resource, const char *path,
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
