/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the state files' code shares and nothing else sees:
 *
 *   statefile.c     the state directory, its files' names, line encoding
 *                   and checksums, the durable append
 *   journal.c       the journals: load, open, steps, undo
 *   ledger.c        the ledger: holds, lock, pending change, rebuild
 *   journal_plan.c  plan mode: steps recorded instead of taken
 */
#pragma once

#include "journal.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LEDGER_PATH VMPREP_RUNDIR "/ledger"
#define LEDGER_TMP VMPREP_RUNDIR "/ledger.tmp"
#define LEDGER_LOCK VMPREP_RUNDIR "/ledger.lock"
#define STATE_FILE_MAX (16u * 1024 * 1024)
/* A hook waits at most this long for another VM's hook to finish. */
#define LEDGER_LOCK_TIMEOUT_MS 120000

/* statefile.c */
uint32_t state_checksum(const char *s, size_t n);
int state_split_line(char *line, char **fields, int max);
int state_append_line(int fd, const char *content);
int state_open(const char *path, int flags, mode_t mode);
void journal_path(const char *uuid, const char *cap, char *buf, size_t size);
int state_unescape_value(const char *in, char **ret);
char *state_escape_value(const char *in);

/* journal_plan.c: a step of plan mode (journal_planning()) */
int journal_plan_record(const Journal *j, StepKind kind, const char *kind_name, const char *resource, const char *path, const char *old, const char *new_);

/* ledger.c: a hold changed by amount, without the name check of ledger_hold */
int ledger_add_hold(Ledger *l, const char *uuid, const char *resource, int64_t amount);

/* journal.c: the step with this sequence number; a line appended (a D
 * or U record of step seq, with value) */
JournalStep *journal_find_step(Journal *j, unsigned seq);
int journal_record(Journal *j, const char *fmt_kind, unsigned seq, const char *value);
