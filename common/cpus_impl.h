/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The cpus capability's own parts, shared by its files and by nothing else:
 *
 *   cpus.c            derivation (pure), vmprep.conf, the hook phases
 *   cpus_host.c       the host set: the host's journal, IRQs and masks, the
 *                     ledger's CPU holds, the backend table
 *   cpus_cg1.c        backend: cgroup v1 cpuset
 *   cpus_cg2.c        backend: cgroup v2 without systemd
 *   cpus_systemd.c    backend: systemd (AllowedCPUs= over D-Bus)
 *   cpus_partition.c  isolated partitions (cgroup v2)
 *
 * A backend confines host tasks to the host set, journalling each change
 * in the host's journal (LEDGER_HOST_UUID.cpus) with the value it found,
 * and has its own kind of step, undone by its cpus_undo_* function.
 */
#pragma once

#include "cpus.h"
#include "journal.h"
#include "parse.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define CAP "cpus"
#define CG1_ROOT "/sys/fs/cgroup/cpuset"
#define CG2_ROOT "/sys/fs/cgroup"
#define HOST_CGROUP "vmprep.host"
#define IRQ_DIR "/proc/irq"
#define IRQ_DEFAULT "/proc/irq/default_smp_affinity"
#define WQ_MASK "/sys/devices/virtual/workqueue/cpumask"
#define CPU_ONLINE "/sys/devices/system/cpu/online"
#ifndef VMPREP_CONF
#define VMPREP_CONF "/etc/vmprep/vmprep.conf"
#endif
#define MAX_SCOPES 16

/* ---- configuration: /etc/vmprep/vmprep.conf ---- */

/*
 *   # which cgroups hold host work (default: all of it)
 *   host-scope = /some/cgroup /another
 *
 * Paths are relative to the root of the cgroup hierarchy (v1: the cpuset
 * one; v2: the unified one); on a systemd host they name units
 * (system.slice ...).  The test build also takes the file's path from
 * $VMPREP_CONF (still through the gateway).
 */
typedef struct Config {
        char scopes[MAX_SCOPES][200];
        size_t n_scopes;
} Config;

typedef struct Stats {
        unsigned moved, unmovable, irqs, managed;
        char managed_list[256];
} Stats;

/* ---- backends: where host tasks are confined ---- */

typedef enum Backend {
        BACKEND_NONE,
        BACKEND_CGROUP1,
        BACKEND_CGROUP2,
        BACKEND_SYSTEMD,
} Backend;

/* A backend: its name for people, and how it confines host tasks to host
 * (conf: vmprep.conf's host-scope; st: what it moved). */
typedef struct CpusBackend {
        const char *name;
        int (*apply)(Journal *j, const Config *conf, const CpuSet *host, Stats *st);
} CpusBackend;
extern const CpusBackend cpus_backend_cg1, cpus_backend_cg2, cpus_backend_systemd;
/* The backend of this host (cgroup.controllers, systemd as PID 1). */
Backend cpus_backend_detect(void);
const CpusBackend *cpus_backend(Backend b);
const char *cpus_backend_name(Backend b);

/* vmprep.conf as the phases read it (the defaults when it has none). */
extern Config cpus_config;

/* The host's journal: write want to path, journalling the first change of
 * a path with the value found (cur); the journal's live step for path. */
int cpus_host_write(Journal *j, const char *kind, const char *path, const char *cur, const char *want);
JournalStep *cpus_live_step(Journal *j, const char *path);
/* A value that may be long (a CPU mask); one that fills buf is -EOVERFLOW. */
int cpus_read_value(const char *path, char *buf, size_t size);
/* A CPU list file ("" is the empty set). */
int cpus_read_set(const char *path, CpuSet *ret);

/* CPUs held under prefix ("cpus/", "cpus-irq/", "cpus-wq/", "cpus-part/")
 * by every VM but exclude (or only by only); a VM's claims dropped. */
void cpus_held(const Ledger *l, const char *prefix, const char *exclude, const char *only, CpuSet *ret);
void cpus_drop_claims(Ledger *l, const char *uuid);
/* Confine the host to the CPUs no VM (but exclude) claims, IRQs and
 * workqueues off the claimed ones, through the backend. */
int cpus_host_apply(Ledger *l, const char *exclude, Stats *st);

/* Partitions (cpus_partition.c): the machine cgroup; its exclusive CPUs;
 * the partition at prepare (before 6.7: machine.slice whole; 6.7+ in a
 * plan, the steps started will take) and at started (the VM's own). */
const char *cpus_machine_dir(void);
int cpus_machine_exclusive(Journal *j, const CpuSet *part);
int cpus_partition_prepare(Journal *j, const Domain *d, const CpusClaim *c, const CpuSet *taken, const char *self);
int cpus_partition_started(Journal *j, const Domain *d, const CpusClaim *c, const CpuSet *taken);

static inline const char *fmt_set(const CpuSet *s, char *buf, size_t size)
{
        if (cpuset_format(s, buf, size) < 0)
                snprintf(buf, size, "(a list too long to print)");
        return buf;
}

static inline bool claim_resource(const char *res, const char *prefix, unsigned *cpu)
{
        uint64_t v;
        size_t n = strlen(prefix);
        if (strncmp(res, prefix, n) != 0 || parse_u64(res + n, 0, CPUSET_MAX - 1, &v) < 0)
                return false;
        *cpu = (unsigned) v;
        return true;
}

static inline bool word_in(const char *list, const char *word)
{
        size_t n = strlen(word);
        for (const char *p = list; (p = strstr(p, word)); p += n)
                if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
                        return true;
        return false;
}
