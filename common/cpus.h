/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * CPU isolation: which host CPUs a VM claims (derived from its domain XML),
 * and keeping host work, IRQs and unbound workqueues off them while it runs.
 *
 * The host set is always recomputed: online CPUs minus the union of the
 * claims of the VMs that run (held in the ledger, one hold "cpus/N" per
 * claimed CPU).  What isolation changed on the host is recorded once, with
 * the value found, in the host's own journal (/run/vmprep/<zero UUID>.cpus
 * .journal), which the last VM out replays to restore the baseline exactly.
 */
#pragma once

#include "domain.h"
#include "journal.h"
#include "numa.h"
#include "profile.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct CpusClaim {
        CpuSet cpus;   /* every CPU the VM's threads may run on */
        CpuSet vcpus;  /* the CPUs its vCPUs may run on */
        CpuSet emulator;
        bool irqs, workqueues;
        bool partition;
} CpusClaim;

/*
 * Pure derivation: the union of <vcpupin>, <emulatorpin>, <iothreadpin> and
 * <vcpu cpuset>, checking every vCPU up to <vcpu>'s maximum has a pin or a
 * vcpu cpuset, that every CPU exists and is online, and the profile's
 * cpus= list (when not "auto").  taken: CPUs other VMs claim (only to
 * suggest free ones).  -EINVAL with a sentence in err; for unpinned vCPUs
 * the sentence points to `vmprep pin`.  Emulator and iothread pins on CPU
 * 0's core are the host's share (where `vmprep pin` puts them): not claimed.
 */
int cpus_derive(const Domain *d, const Profile *p, const CpuTopology *t, const CpuSet *taken, CpusClaim *ret,
                char *err, size_t errlen);

/*
 * NUMA agreement of the claim with the domain's memory (<numatune>) and
 * its PCI devices (pci_nodes[i]: node of d->hostdevs[i], -1 unknown), per
 * the profile's numa= (strict: -EINVAL with err; prefer: warnings into
 * err, returns 1; ignore: 0).
 */
int cpus_numa_check(const Domain *d, const Profile *p, const CpuTopology *t, const CpusClaim *c,
                    const int *pci_nodes, char *err, size_t errlen);

/* Hook phases. */
int cpus_prepare(const Domain *d, const Profile *p);
int cpus_started(const Domain *d, const Profile *p);
int cpus_release(const char *uuid, const char *name);
int cpus_reconnect(const char *uuid);

/* Undo of the cpus journal's own kinds (the table in capabilities.c). */
int cpus_undo_claim(const JournalStep *s, const UndoContext *ctx);
int cpus_undo_restore(const JournalStep *s, const UndoContext *ctx);
int cpus_undo_cg1host(const JournalStep *s, const UndoContext *ctx);
int cpus_undo_cg2ctl(const JournalStep *s, const UndoContext *ctx);
int cpus_undo_sdcpus(const JournalStep *s, const UndoContext *ctx);
