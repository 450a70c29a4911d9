/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "vm_cgroup.h"

#include "log.h"
#include "machine_name.h"
#include "running.h"
#include "sysfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CG2_ROOT "/sys/fs/cgroup"
#define COMPONENT_MAX 256

/*
 * The unified-hierarchy cgroup of a process from /proc/PID/cgroup: the
 * "0::PATH" line (the only line on a pure v2 host; one of several on a
 * hybrid one, where the "N:controllers:PATH" lines are v1's).
 */
static int pid_cgroup(pid_t pid, char *buf, size_t size)
{
        char path[64], *text = NULL, *save = NULL;
        int r;

        snprintf(path, sizeof(path), "/proc/%d/cgroup", (int) pid);
        r = sysfs_read_alloc(path, 1 << 16, &text, NULL);
        if (r < 0)
                return r;
        r = -ENOENT;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                if (strncmp(line, "0::/", 4) != 0)
                        continue;
                r = snprintf(buf, size, "%s", line + 3) >= (int) size ? -ENAMETOOLONG : 0;
                break;
        }
        free(text);
        return r;
}

/* The child of the machine cgroup ms that cgroup path cg (as in
 * /proc/PID/cgroup) lies in: "/machine.slice/S/libvirt/emulator" → "S". */
static int child_of(const char *ms, const char *cg, char *comp, size_t size)
{
        const char *rel = ms + strlen(CG2_ROOT);
        size_t n = strlen(rel);

        if (strncmp(cg, rel, n) != 0 || cg[n] != '/' || !cg[n + 1])
                return -ENOENT;
        const char *start = cg + n + 1, *end = strchr(start, '/');
        size_t len = end ? (size_t) (end - start) : strlen(start);
        if (len >= size)
                return -ENAMETOOLONG;
        memcpy(comp, start, len);
        comp[len] = '\0';
        return 0;
}

/* The two names libvirt may give domain id/name's child of ms (systemd
 * scope, libvirt's own directory); false when the id is unknown. */
static bool expected_children(int id, const char *name, char *scope, char *manual, size_t size)
{
        char machine[80];
        return machine_name(id, name, machine, sizeof(machine)) == 0 && machine_scope(machine, scope, size) == 0 &&
               machine_cgroup_manual(machine, manual, size) == 0;
}

static bool same_vm(const RunningVm *vm, const Domain *d)
{
        return d->uuid[0] ? strcmp(vm->uuid, d->uuid) == 0 : strcmp(vm->name, d->name) == 0;
}

int vm_cgroup_find(const char *ms, const Domain *d, char *ret, size_t size)
{
        char scope[COMPONENT_MAX] = "", manual[COMPONENT_MAX] = "", comp[COMPONENT_MAX], cg[1024];
        bool named = expected_children(d->id, d->name, scope, manual, sizeof(scope));
        RunningVm *vms = NULL;
        size_t n = 0;
        int r;

        if (running_vms(NULL, &vms, &n) < 0)
                n = 0; /* no status files to read: the exact name alone */
        for (size_t i = 0; i < n; i++) {
                const RunningVm *vm = &vms[i];
                /* a status file of another start of this VM (another id) says
                 * nothing about this one */
                if (!same_vm(vm, d) || (d->id >= 0 && vm->id >= 0 && vm->id != d->id))
                        continue;
                if (pid_cgroup(vm->pid, cg, sizeof(cg)) < 0)
                        break; /* QEMU went away meanwhile: the exact name alone */
                r = child_of(ms, cg, comp, sizeof(comp));
                if (r < 0) {
                        r = log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                            "the QEMU of %s (pid %d) runs in the cgroup %s, not under %s: only a VM in "
                                            "the machine cgroup can be made an isolated partition (a "
                                            "<resource><partition>?)",
                                            d->name, (int) vm->pid, cg, ms);
                } else if (named && strcmp(comp, scope) != 0 && strcmp(comp, manual) != 0) {
                        r = log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                            "the QEMU of %s (pid %d) runs in %s/%s, but libvirt names the cgroup of "
                                            "domain id %d %s (or %s): not writing a cgroup that may be another VM's",
                                            d->name, (int) vm->pid, ms, comp, d->id, scope, manual);
                } else {
                        r = snprintf(ret, size, "%s/%s", ms, comp) >= (int) size
                                    ? log_error_errno(SYNTHETIC_ERRNO(ENAMETOOLONG), "%s/%s: too long a path", ms, comp)
                                    : 0;
                }
                running_vms_free(vms, n);
                return r;
        }
        running_vms_free(vms, n);
        if (named) {
                const char *const names[] = { scope, manual };
                for (size_t i = 0; i < 2; i++) {
                        snprintf(cg, sizeof(cg), "%s/%s/cgroup.procs", ms, names[i]);
                        if (!sysfs_exists(cg))
                                continue;
                        log_warning("no running QEMU of %s in " RUNNING_STATUS_DIR ": using the cgroup libvirt names "
                                    "for domain id %d, %s", d->name, d->id, names[i]);
                        if (snprintf(ret, size, "%s/%s", ms, names[i]) >= (int) size)
                                return log_error_errno(SYNTHETIC_ERRNO(ENAMETOOLONG), "%s/%s: too long a path", ms,
                                                       names[i]);
                        return 0;
                }
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "cannot find the cgroup of %s: no running QEMU in " RUNNING_STATUS_DIR
                                       " and neither %s/%s nor %s/%s exists (did the VM stop?)",
                                       d->name, ms, scope, ms, manual);
        }
        return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                               "cannot find the cgroup of %s: no running QEMU in " RUNNING_STATUS_DIR
                               " and no domain id in its XML to name it by",
                               d->name);
}

static void add_name(char *buf, size_t size, size_t *len, const char *fmt, const char *name)
{
        if (*len >= size)
                return;
        int k = snprintf(buf + *len, size - *len, "%s", *len ? ", " : "");
        if (k > 0)
                *len += (size_t) k;
        if (*len < size) {
                k = snprintf(buf + *len, size - *len, fmt, name);
                if (k > 0)
                        *len += (size_t) k;
        }
        if (*len >= size)
                *len = size; /* cut short: the count still counts */
}

int vm_cgroup_others(const char *ms, const Domain *d, const char *self, char *buf, size_t size)
{
        const char *self_name = self ? strrchr(self, '/') : NULL;
        RunningVm *vms = NULL;
        char **children = NULL;
        size_t n = 0, n_children = 0, len = 0;
        bool *theirs = NULL;
        int count = 0, r;

        buf[0] = '\0';
        self_name = self_name ? self_name + 1 : NULL;
        r = running_vms(d->uuid, &vms, &n);
        if (r < 0)
                return r;
        r = sysfs_list(ms, &children, &n_children);
        if (r < 0 && r != -ENOENT)
                goto out;
        r = 0;
        theirs = calloc(n_children + 1, sizeof(*theirs));
        if (!theirs) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                char cg[1024], comp[COMPONENT_MAX], scope[COMPONENT_MAX], manual[COMPONENT_MAX];
                bool known = pid_cgroup(vms[i].pid, cg, sizeof(cg)) == 0;
                bool named = expected_children(vms[i].id, vms[i].name, scope, manual, sizeof(scope));
                if (!d->uuid[0] && strcmp(vms[i].name, d->name) == 0)
                        continue; /* d itself, when its XML has no UUID */
                if (known && child_of(ms, cg, comp, sizeof(comp)) < 0)
                        continue; /* runs elsewhere (its own <resource><partition>) */
                for (size_t k = 0; k < n_children; k++)
                        if ((known && strcmp(children[k], comp) == 0) ||
                            (named && (strcmp(children[k], scope) == 0 || strcmp(children[k], manual) == 0)))
                                theirs[k] = true;
                add_name(buf, size, &len, "'%s'", vms[i].name);
                count++;
        }
        for (size_t k = 0; k < n_children; k++) {
                char procs[SYSFS_PATH_MAX];
                if (theirs[k] || (self_name && strcmp(children[k], self_name) == 0))
                        continue;
                snprintf(procs, sizeof(procs), "%s/%s/cgroup.procs", ms, children[k]);
                if (!sysfs_exists(procs))
                        continue; /* a file, not a cgroup */
                add_name(buf, size, &len, "the cgroup %s", children[k]);
                count++;
        }
out:
        free(theirs);
        sysfs_list_free(children, n_children);
        running_vms_free(vms, n);
        return r < 0 ? r : count;
}
