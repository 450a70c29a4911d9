/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "cpus_share.h"

#include "cpus.h"
#include "log.h"
#include "numa.h"
#include "running.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where libvirt lets vCPU v run: its <vcpupin>, else <vcpu cpuset>, else
 * anywhere (NULL). */
static const CpuSet *vcpu_pin(const Domain *vm, unsigned v)
{
        for (size_t i = 0; i < vm->n_vcpupins; i++)
                if (vm->vcpupins[i].id == v)
                        return &vm->vcpupins[i].cpus;
        return vm->has_vcpu_cpuset ? &vm->vcpu_cpuset : NULL;
}

static bool add_overlap(CpuSet *on, const CpuSet *pin, const CpuSet *cpus)
{
        bool hit = false;
        for (size_t k = 0; k < CPUSET_MAX / 64; k++) {
                uint64_t both = pin->bits[k] & cpus->bits[k];
                on->bits[k] |= both;
                hit = hit || both;
        }
        return hit;
}

void cpus_share_of(const Domain *vm, const CpuSet *cpus, CpusShare *ret)
{
        memset(ret, 0, sizeof(*ret));
        for (unsigned v = 0; v < vm->vcpu_max && v < CPUSET_MAX; v++) {
                const CpuSet *pin = vcpu_pin(vm, v);
                if (!pin)
                        cpuset_set(&ret->unpinned, v);
                else if (add_overlap(&ret->on, pin, cpus))
                        cpuset_set(&ret->vcpus, v);
        }
        /* QEMU's own threads: <emulatorpin>, else <vcpu cpuset>, else anywhere */
        const CpuSet *emu = vm->has_emulatorpin ? &vm->emulatorpin : vm->has_vcpu_cpuset ? &vm->vcpu_cpuset : NULL;
        if (!emu)
                ret->emulator_unpinned = true;
        else
                ret->emulator = add_overlap(&ret->on, emu, cpus);
        for (size_t i = 0; i < vm->n_iothreadpins; i++)
                if (vm->iothreadpins[i].id < CPUSET_MAX && add_overlap(&ret->on, &vm->iothreadpins[i].cpus, cpus))
                        cpuset_set(&ret->iothreads, vm->iothreadpins[i].id);
}

void cpus_share_format_ids(const CpuSet *ids, char *buf, size_t size)
{
        size_t len = 0;
        buf[0] = '\0';
        for (int a = cpuset_next(ids, 0); a >= 0 && len < size;) {
                int b = a;
                while (b + 1 < CPUSET_MAX && cpuset_isset(ids, (unsigned) b + 1))
                        b++;
                if (b - a >= 2)
                        len += (size_t) snprintf(buf + len, size - len, "%s%d-%d", len ? "," : "", a, b);
                else
                        for (int i = a; i <= b && len < size; i++)
                                len += (size_t) snprintf(buf + len, size - len, "%s%d", len ? "," : "", i);
                a = b + 1 < CPUSET_MAX ? cpuset_next(ids, (unsigned) b + 1) : -1;
        }
}

/* "vCPU 0,1, iothread 2 and its emulator threads" into buf */
static void threads_phrase(const CpuSet *vcpus, const CpuSet *iothreads, bool emulator, char *buf, size_t size)
{
        char parts[3][300];
        int n = 0;
        char ids[256];

        if (!cpuset_empty(vcpus)) {
                cpus_share_format_ids(vcpus, ids, sizeof(ids));
                snprintf(parts[n++], sizeof(parts[0]), "vCPU %s", ids);
        }
        if (!cpuset_empty(iothreads)) {
                cpus_share_format_ids(iothreads, ids, sizeof(ids));
                snprintf(parts[n++], sizeof(parts[0]), "iothread %s", ids);
        }
        if (emulator)
                snprintf(parts[n++], sizeof(parts[0]), "its emulator threads");
        buf[0] = '\0';
        for (int i = 0; i < n; i++) {
                size_t len = strlen(buf);
                snprintf(buf + len, size - len, "%s%s", i == 0 ? "" : i == n - 1 ? " and " : ", ", parts[i]);
        }
}

/* buf += (sep when buf is not empty) + text, cut at size */
static void append(char *buf, size_t size, const char *sep, const char *text)
{
        size_t len = strlen(buf);
        for (const char *p = len ? sep : ""; *p && len + 1 < size; p++)
                buf[len++] = *p;
        for (const char *p = text; *p && len + 1 < size; p++)
                buf[len++] = *p;
        if (len < size)
                buf[len] = '\0';
}

int cpus_share_check(const Domain *d, const CpuSet *claim, bool partition, char *err, size_t errlen, char *warn,
                     size_t warnlen)
{
        RunningVm *vms = NULL;
        size_t n = 0, n_names = 0;
        char line[1024], what[700], on[256], names[512] = "", loose[2048] = "", unknown[2048] = "";
        int r = running_vms(d->uuid, &vms, &n);

        err[0] = '\0';
        if (warn)
                warn[0] = '\0';
        if (r < 0) {
                snprintf(err, errlen, "cannot list the running VMs in " RUNNING_STATUS_DIR ": %s", strerror(-r));
                return r;
        }
        for (size_t i = 0; i < n; i++) {
                const RunningVm *vm = &vms[i];
                CpusShare s;
                if (!vm->domain) {
                        snprintf(line, sizeof(line), "cannot tell which CPUs the running VM '%s' uses (its status file "
                                 "in " RUNNING_STATUS_DIR ": %s)", vm->name, vm->err);
                        append(unknown, sizeof(unknown), "; ", line);
                        continue;
                }
                cpus_share_of(vm->domain, claim, &s);
                if (!cpuset_empty(&s.on)) {
                        threads_phrase(&s.vcpus, &s.iothreads, s.emulator, what, sizeof(what));
                        cpuset_format(&s.on, on, sizeof(on));
                        snprintf(line, sizeof(line), "VM '%s' has %s pinned to CPU %s, which this VM isolates", vm->name,
                                 what, on);
                        append(err, errlen, "; ", line);
                        snprintf(line, sizeof(line), "'%s'", vm->name);
                        append(names, sizeof(names), ", ", line);
                        n_names++;
                }
                if (!partition && (!cpuset_empty(&s.unpinned) || s.emulator_unpinned)) {
                        CpuSet none;
                        cpuset_clear(&none);
                        threads_phrase(&s.unpinned, &none, s.emulator_unpinned, what, sizeof(what));
                        snprintf(line, sizeof(line), "VM '%s' has %s unpinned", vm->name, what);
                        append(loose, sizeof(loose), "; ", line);
                }
        }
        running_vms_free(vms, n);
        if (warn && loose[0]) {
                cpuset_format(claim, on, sizeof(on));
                snprintf(warn, warnlen, "%s: they may run on CPU %s too, which this VM isolates; pin them off it "
                         "(<vcpupin>, <emulatorpin>), or use <vmprep:isolate mode='partition'> on a 6.7 or later kernel "
                         "with cgroup v2, which keeps every other cgroup off the cores", loose, on);
        }
        if (warn && unknown[0])
                append(warn, warnlen, "; ", unknown);
        if (!err[0])
                return 0;
        size_t len = strlen(err);
        if (len < errlen)
                snprintf(err + len, errlen - len, "; other VMs may not run on isolated cores: stop %s or pin %s "
                         "elsewhere (virsh vcpupin, emulatorpin, iothreadpin with --live), or pin %s elsewhere", names,
                         n_names == 1 ? "it" : "them", d->name);
        return -EINVAL;
}

void cpus_share_warnings(const Domain *d, const Profile *p, char *warn, size_t warnlen)
{
        CpuTopology t;
        CpusClaim c;
        CpuSet none;
        char err[4096];

        warn[0] = '\0';
        if (!profile_enabled(p, "isolate") || numa_topology_read(&t) < 0)
                return;
        cpuset_clear(&none);
        int r = cpus_derive(d, p, &t, &none, &c, err, sizeof(err));
        numa_topology_free(&t);
        if (r == 0)
                cpus_share_check(d, &c.cpus, c.partition, err, sizeof(err), warn, warnlen);
}
