/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer: the journal and ledger readers, which read files root wrote —
 * but a crash or a hand can damage them. */
#include "common/journal.h"
#include "common/log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void) argc;
        (void) argv;
        log_set_stderr_level(-1);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *t = malloc(size + 1);
        if (!t)
                return 0;
        memcpy(t, data, size);
        t[size] = '\0';
        char *t2 = strdup(t);

        /* journal_close frees what the reader kept (each step's values too) */
        Journal *j = calloc(1, sizeof(*j));
        if (j) {
                j->fd = -1;
                snprintf(j->uuid, sizeof(j->uuid), "11111111-2222-4333-8444-555555555555");
                snprintf(j->cap, sizeof(j->cap), "hugepages");
                j->next_seq = 1;
                journal_load_text(j, t, "fuzz");
                journal_close(j);
        }

        Ledger l;
        memset(&l, 0, sizeof(l));
        l.lock_fd = -1;
        if (t2)
                ledger_parse_text(&l, t2);
        ledger_clear(&l);
        free(t2);
        free(t);
        return 0;
}
