/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Tunables for VMs that ask for them (<vmprep:tune>): per VM core the
 * cpufreq governor and a C-state limit (cpuidle stateN/disable); host-wide
 * THP, KSM, sched_rt_runtime_us, swappiness and vm.stat_interval.
 *
 * Every value is a shared resource counted in the ledger ("tune/thp",
 * "tune/governor/cpu3", ...): the first VM that asks records the value it
 * found (the ledger's baseline), later ones must ask for the same value or
 * are refused, and the last one out writes the baseline back.
 */
#pragma once

#include "domain.h"
#include "profile.h"

#include <stddef.h>

typedef struct TuneSetting {
        char resource[64];  /* ledger resource, e.g. "tune/thp" */
        char path[256];
        char want[32];      /* as written to the file */
        char label[64];     /* for messages: "THP", "governor of CPU 3" */
} TuneSetting;

/*
 * Pure: the settings a profile asks for; cores are the VM's claimed CPUs
 * (only needed for governor and max-cstate; cstates[c] is the number of
 * cpuidle states CPU c has).  *n = 0 when nothing is asked.
 */
int tune_settings(const Profile *p, const CpuSet *cores, const unsigned *cstates, TuneSetting **ret, size_t *n);

/*
 * The realtime checks: <vcpusched> fifo/rr on every vCPU, <memoryBacking>
 * <locked/>, and isolcpus/nohz_full/rcu_nocbs covering vcpus on the kernel
 * command line.  Writes warnings (one per line) into buf; returns how many.
 */
int tune_realtime_check(const Domain *d, const CpuSet *vcpus, const char *cmdline, char *buf, size_t size);

int tune_prepare(const Domain *d, const Profile *p);
int tune_release(const char *uuid, const char *name);
int tune_reconnect(const char *uuid);
/* vmprep plan (common/cpus_plan.c). */
#include "plan.h"
int tune_plan(const Domain *d, const Profile *p, Plan *plan, char *err, size_t errlen);
