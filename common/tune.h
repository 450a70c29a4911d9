/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Tunables for VMs that ask for them (<vmprep:tune>): per VM core the
 * cpufreq governor and a C-state limit (cpuidle stateN/disable); host-wide
 * THP, KSM, sched_rt_runtime_us, swappiness and vm.stat_interval.
 *
 * Every value is a shared resource counted in the ledger ("tune/thp",
 * "tune/governor/policy3", ...): the first VM that asks records the value it
 * found (the ledger's baseline), later ones must ask for the same value or
 * are refused, and the last one out writes the baseline back.  A governor
 * belongs to a cpufreq policy, which may cover several CPUs (and so several
 * VMs): it is counted per policy, so whichever VM stops last restores it.
 */
#pragma once

#include "domain.h"
#include "journal.h"
#include "profile.h"

#include <stddef.h>

typedef struct TuneSetting {
        char resource[64];  /* ledger resource, e.g. "tune/thp" */
        char path[256];
        char want[32];      /* as written to the file */
        char label[64];     /* for messages: "THP", "governor of CPU 3" */
        char also[32];      /* another value that gives what is asked ("" if none): KSM run 2 for 'off' */
        bool absent_ok;     /* a host without the file has what is asked already (no KSM: nothing merges) */
} TuneSetting;

/* The host's CPUs as tune_settings needs them, n_cpus entries each:
 * cstates[c] is how many cpuidle states CPU c has, policy[c] the N of the
 * cpufreq policyN that CPU c belongs to (-1: none known, the governor is
 * then set through cpuC/cpufreq). */
typedef struct TuneHost {
        unsigned n_cpus;
        unsigned *cstates;
        int *policy;
} TuneHost;

/* Read cpuidle states and cpufreq policies of CPUs 0..n_cpus-1. */
int tune_host_read(unsigned n_cpus, TuneHost *ret);
void tune_host_free(TuneHost *h);

/*
 * Pure: the settings a profile asks for; cores are the VM's claimed CPUs
 * (only needed for governor and max-cstate), host what is known of them
 * (NULL: no C-states, a governor per CPU).  One governor setting per
 * cpufreq policy.  *n = 0 when nothing is asked.
 */
int tune_settings(const Profile *p, const CpuSet *cores, const TuneHost *host, TuneSetting **ret, size_t *n);

/* An EPP setting (resource tune/epp/...): its policy's scaling_driver and
 * energy_performance_available_preferences; -ENOENT when the latter is
 * missing.  tune_epp_check: 0 when the driver offers t->want, else
 * -EINVAL with a sentence (read_result: what reading t->path gave). */
int tune_epp_info(const TuneSetting *t, char *driver, size_t dsize, char *offered, size_t osize);
int tune_epp_check(const TuneSetting *t, int read_result, char *err, size_t errlen);

/* The value t's file holds now (THP's bracketed word) into buf. */
int tune_current(const TuneSetting *t, char *buf, size_t size);
/* Does the value cur already give what t asks? */
bool tune_satisfied(const TuneSetting *t, const char *cur);

/* Warn (log_warning) of each governor setting whose cpufreq policy also
 * covers CPUs outside cores: the governor changes their clock too. */
void tune_warn_shared_policies(const TuneSetting *s, size_t n, const CpuSet *cores);

/*
 * KSM's per-VM knob: for a VM whose profile asks ksm='off' or 'unmerge'
 * but lacks <memoryBacking><nosharepages/>, a sentence saying what to add
 * into buf; returns 1, else 0 (and buf is "").
 */
int tune_ksm_advice(const Domain *d, const Profile *p, char *buf, size_t size);

/*
 * The realtime checks: <vcpusched> fifo/rr on every vCPU, <memoryBacking>
 * <locked/> and <nosharepages/>, and isolcpus/nohz_full/rcu_nocbs covering
 * vcpus on the kernel command line.  Writes warnings (one per line) into buf; returns how many.
 */
int tune_realtime_check(const Domain *d, const CpuSet *vcpus, const char *cmdline, char *buf, size_t size);

int tune_prepare(const Domain *d, const Profile *p);
int tune_release(const char *uuid, const char *name);
int tune_reconnect(const char *uuid);

/* Undo of "shared" (the table in capabilities.c). */
int tune_undo_shared(const JournalStep *s, const UndoContext *ctx);
