/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * State in /run/vmprep (root only, 0700, never through a symlink):
 *
 * The journal: per VM (by UUID) and capability, /run/vmprep/UUID.CAP.journal,
 * a write-ahead log.  Before each host change the step is appended with the
 * value it replaces ("S"), after it the result read back ("D"), after its
 * undo an "U".  Each line carries a checksum, so a torn last line is
 * recognised.  Release replays the journal backwards and deletes it; a crash
 * at any point leaves a journal that release, reconnect or `vmprep
 * reconcile` can finish.
 *
 *   vmprep-journal 1 UUID CAP NAME
 *   S SEQ KIND RESOURCE PATH OLD NEW    KIND: set (undo writes OLD back)
 *                                            add (undo subtracts the result)
 *                                            any other word: a capability's own
 *                                            kind, undone by its registered function
 *   D SEQ RESULT                        set: value read back; add: amount added
 *   U SEQ
 *
 * The ledger: /run/vmprep/ledger, replaced atomically under an exclusive
 * flock of /run/vmprep/ledger.lock.  It counts what running VMs hold of
 * shared resources ("hold UUID RESOURCE AMOUNT") and carries the one change
 * to a shared counter that is in flight ("pending ..."), so that whoever
 * takes the lock after a crash can tell whether the change happened.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMPREP_RUNDIR "/run/vmprep"
/* Short values: the ledger's pending counter change, callers' read buffers */
#define JOURNAL_VALUE_MAX 256
/* The longest old or new value of a step: the kernel's hex mask of 8192
 * CPUs is 2303 characters (a host with 4096 CPUs: 1151) */
#define JOURNAL_STEP_VALUE_MAX 16384

typedef enum StepKind {
        STEP_SET,
        STEP_ADD,
        STEP_CUSTOM, /* kind_name names it; undone by journal_register_undo()'s function */
} StepKind;

typedef struct JournalStep {
        unsigned seq;
        StepKind kind;
        char kind_name[24];
        char resource[128];
        char path[512];
        char *old;            /* allocated, never NULL: values can be long (CPU masks) */
        char *new_;
        bool done;
        char *result;         /* "" until done */
        bool undone;
} JournalStep;

typedef struct Journal {
        char uuid[37];
        char cap[32];
        char name[256];
        JournalStep *steps;
        size_t n_steps;
        unsigned next_seq;
        int fd;
} Journal;

typedef struct LedgerHold {
        char uuid[37];
        char resource[128];
        int64_t amount;
} LedgerHold;

typedef struct LedgerPending {
        char uuid[37];
        char cap[32];
        unsigned seq;
        bool undo;
        char path[512];
        char old[JOURNAL_VALUE_MAX];
        char target[JOURNAL_VALUE_MAX];
} LedgerPending;

typedef struct Ledger {
        int lock_fd;
        LedgerHold *holds;
        size_t n_holds;
        bool has_pending;
        LedgerPending pending;
        /* The file failed its checksums (damaged_line: the first bad line,
         * 1 for an empty file): holds is empty and ledger_save() refuses
         * to replace the file until ledger_rebuild() has rebuilt it. */
        bool damaged;
        unsigned damaged_line;
} Ledger;

/* Create /run/vmprep if needed and check it is a root-owned 0700 directory. */
int state_dir_check(void);

/* The VM and capability of a journal's file name "UUID.CAP.journal";
 * -EINVAL for any other name. */
int journal_name_parse(const char *file, char uuid[37], char cap[32]);
/* Does a journal exist for this VM and capability? */
bool journal_exists(const char *uuid, const char *cap);
/*
 * The opening of a capability's prepare: take the ledger lock (l), then
 * finish the journal an earlier start of the VM left (a crash, or a release
 * libvirt never ran), saying so, by giving back what it holds: with finish
 * (the capability's own release under the lock), or journal_release when
 * NULL.  Returns 0 with the lock held; on failure the lock is released
 * (ledger_unlock on l is still safe).
 */
typedef int (*JournalFinishFn)(Ledger *l, const char *uuid, const char *name);
int journal_start(Ledger *l, const char *uuid, const char *name, const char *cap, const char *what,
                  JournalFinishFn finish);
/* Open (create=true: create if missing) the journal; -ENOENT if missing. */
int journal_open(const char *uuid, const char *cap, const char *name, bool create, Journal **ret);
/* Load the journal to look at it without the ledger lock (vmprep status):
 * never written, never removed; one whose creation has not yet written
 * its header (or a crash cut short) reads as -ENOENT. */
int journal_read(const char *uuid, const char *cap, Journal **ret);
void journal_close(Journal *j);
/* What a capability does at libvirt's reconnect (libvirtd restarted with the
 * VM running): read the journal, warn of interrupted steps, change nothing.
 * A missing journal is fine; a damaged one is reported (-errno). */
int journal_reconnect_check(const char *uuid, const char *cap);
/* Undo everything the journal of (uuid, cap) still holds, under the ledger
 * lock the caller has, and close it: 0 when there is no journal.  With
 * what (e.g. "the CPUs"), logs "giving back WHAT of VM" first. */
int journal_release(Ledger *l, const char *uuid, const char *cap, const char *name, const char *what);
/* Steps not yet undone. */
size_t journal_live_steps(const Journal *j);
/* Remove the journal file (after everything is undone). */
int journal_remove(Journal *j);

/*
 * Record a set step before making it (a file whose old value undo writes
 * back): the S line.  Returns the step's sequence number in *seq.
 */
int journal_begin_set(Journal *j, const char *resource, const char *path, const char *old, const char *new_,
                      unsigned *seq);
/*
 * Record an add step before making it (a counter other VMs share, such as
 * nr_hugepages, raised from old towards target): the S line, then the
 * ledger's pending record (counter, old, target), saved to the ledger file,
 * so that if this holder of the lock dies before journal_done the next one
 * finishes the change from the counter itself (ledger_lock).
 */
int journal_begin_add(Journal *j, Ledger *l, const char *resource, const char *path, const char *old,
                      const char *target, unsigned *seq);
/* The same for a capability's own kind of step (a driver bind, VFs created,
 * a cgroup moved): kind is a word such as "bind", undone by its function in
 * the table of undo kinds (common/capabilities.c). */
int journal_begin_custom(Journal *j, const char *kind, const char *resource, const char *path, const char *old,
                         const char *new_, unsigned *seq);
/* What an undo function gets besides its step: the ledger the caller holds
 * locked, and the VM whose journal is undone (the all-zero UUID for the
 * host's CPU journal). */
typedef struct UndoContext {
        Ledger *ledger;
        const char *uuid;
} UndoContext;
/* Undo of a custom step: returns 0 when the host is as s->old describes. */
typedef int (*JournalUndoFn)(const JournalStep *s, const UndoContext *ctx);
/* The undo function of a custom kind, from the table; NULL for none. */
JournalUndoFn journal_undo_fn(const char *kind);
#ifdef VMPREP_TEST_BUILD
/* Tests only: an extra kind, looked up after the table's. */
int journal_register_undo(const char *kind, JournalUndoFn fn);
#endif

/* Record the result after the change (D); for STEP_ADD result is the amount
 * added, which the ledger then holds for this VM. */
int journal_done(Journal *j, Ledger *l, unsigned seq, const char *result);

/*
 * Undo every live step, newest first, best effort: a failing step is
 * reported and the others still undone.  Deletes the journal when nothing
 * is left.  Returns 0 or the first error.
 */
int journal_undo(Journal *j, Ledger *l);

/* Take the ledger lock (bounded wait), load it and finish a change that a
 * crashed holder left pending.  A damaged ledger is reported (what it
 * means, and that `vmprep reconcile` rebuilds it) and the lock released. */
int ledger_lock(Ledger *l);
/* The same, but a damaged ledger keeps the lock and returns 0 with
 * l->damaged set and no holds: for a release, which gives back from its own
 * journal, and for the rebuild. */
int ledger_lock_even_damaged(Ledger *l);
/*
 * Under the lock of a damaged ledger (l->damaged): keep the damaged file
 * as /run/vmprep/ledger.damaged-TIMESTAMP (its path in aside) and replace
 * it with what the journals in /run/vmprep say their VMs hold:
 * the amount each live "add" step added; for the CPUs a VM claims, the
 * claim step's CPUs (with the IRQ, workqueue and partition holds its old
 * value lists); a "shared" setting (tune) and its baseline, the value
 * the first journal found; a device bound ("bind": pci/BDF) or a PF
 * whose VFs a VM uses ("numvfs", "vf": sriov/BDF).  Lost: free pool
 * pages promised to a VM that is starting (until started) and SR-IOV
 * restore duties handed from one VM to another.  Returns the number of
 * journals read, or -errno; a journal that cannot be read is reported
 * and counted in *unreadable; with all_or_nothing, one that cannot be
 * read leaves the ledger as it was (damaged, not saved) and returns -EBADMSG.
 */
int ledger_rebuild(Ledger *l, char *aside, size_t size, unsigned *unreadable, bool all_or_nothing);
/*
 * The lock for a release, which must give back even when the ledger is
 * damaged: a damaged ledger is rebuilt from the journals at once, as
 * ledger_rebuild() does (the journals are what is authoritative), and the
 * release goes on with it.  When a journal cannot be read the ledger stays
 * damaged: with even_damaged the lock is kept and 0 returned with
 * l->damaged set and no holds (hugepages gives back exactly what its own
 * journal added); without, that is reported and the lock released.
 */
int ledger_lock_release(Ledger *l, bool even_damaged);
/* One line for a person: that the ledger is damaged, what came of it
 * (outcome, e.g. "nothing was changed") and what to run. */
void ledger_report_damage(const Ledger *l, const char *outcome);
void ledger_unlock(Ledger *l);
int ledger_save(Ledger *l);
/* Sum of holds of a resource over all VMs, or for one VM (uuid != NULL). */
int64_t ledger_held(const Ledger *l, const char *resource, const char *uuid);
/* Add amount (negative: take away) to what a VM holds of a resource, in
 * memory; ledger_save() makes it durable.  A hold that reaches 0 goes.
 * Also for holds that no counter backs (a PCI device a running VM has,
 * CPUs it claims), which other VMs must be refused. */
int ledger_hold(Ledger *l, const char *uuid, const char *resource, int64_t amount);

/*
 * The value a host-wide setting had before the first VM that changed it
 * (THP, KSM, a governor...), kept until the last VM that needed the change
 * gives it back.  Kept in the ledger, so that the count and the value
 * change in one atomic save: as a hold of the all-zero UUID on the
 * resource "baseline:RESOURCE=VALUE" (VALUE escaped as in the journal),
 * which hooks that know nothing of baselines still read as an ordinary hold.
 * get returns -ENOENT when none is recorded.
 */
#define LEDGER_HOST_UUID "00000000-0000-0000-0000-000000000000"
int ledger_baseline_set(Ledger *l, const char *resource, const char *value);
int ledger_baseline_get(const Ledger *l, const char *resource, char *buf, size_t size);
void ledger_baseline_clear(Ledger *l, const char *resource);

/* Read the ledger without locking (for status). */
int ledger_read(Ledger *l);
void ledger_clear(Ledger *l);

/* The parsers behind journal_open() and ledger_read(), for tests and the
 * fuzzers: text is modified.  j must have uuid and cap set. */
int journal_load_text(Journal *j, char *text, const char *path);
int ledger_parse_text(Ledger *l, char *text);

/*
 * Plan mode (vmprep plan): the capabilities' own prepare runs, and every
 * step it would journal goes to plan instead (kind, resource, path, old,
 * new: what the journal would record), while nothing is written: no
 * journal, no ledger, no kernel file (sysfs_set_dry_run), no D-Bus call,
 * netlink request or module change (each asks sysfs_dry_run(), which is
 * true throughout a plan; code that reads back what it wrote asks
 * journal_planning()).
 * journal_plan_why gives the next step's reason; journal_plan_keep adds a
 * decision to leave something as it is.
 */
struct Plan;
void journal_plan_begin(struct Plan *plan);
void journal_plan_end(void);
bool journal_planning(void);
void journal_plan_why(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The steps planned from here on are taken at the started phase (true) or
 * at prepare (false, the default of each journal_plan_begin). */
void journal_plan_started(bool started);
int journal_plan_keep(const char *cap, const char *resource, const char *path, const char *value, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

/* Percent-escape a value so that it is one non-empty token. */
void journal_escape(const char *in, char *out, size_t size);
int journal_unescape(const char *in, char *out, size_t size);
