/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What /run/vmprep holds: the journals, grouped by VM (cli/state.c). */
#pragma once

#include "common/journal.h"

#include <stddef.h>

typedef struct StateVm {
        char uuid[37];
        char name[256];
        Journal *journals[16]; /* one per capability */
        size_t n_journals;
} StateVm;

typedef struct State {
        StateVm *vms;
        size_t n_vms;
        Ledger ledger;
        int errors;            /* journals that could not be read */
} State;

int state_load(State *s);
/* state_load(), and on stderr what to do when it may not read the state
 * (not root); any other failure was logged where it happened. */
int state_load_or_say(State *s);
void state_free(State *s);
/* The VM name a ledger hold belongs to, or its UUID. */
const char *state_vm_name(const State *s, const char *uuid);
