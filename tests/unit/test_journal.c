/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "test.h"

#include "common/journal.h"
#include "common/sysfs.h"

#include <errno.h>
#include <stdlib.h>

#define UUID "11111111-2222-4333-8444-555555555555"
#define JPATH "/run/vmprep/" UUID ".test.journal"

TEST(journal_escape_round_trips_awkward_values)
{
        const char *values[] = { "", "-", "a b", "100%", "x\ny", "/sys/bus/pci/devices/0000:41:00.0/driver_override",
                                 "\t", "ü", NULL };
        for (size_t i = 0; values[i]; i++) {
                char e[256], back[256];
                journal_escape(values[i], e, sizeof(e));
                CHECK(strchr(e, ' ') == NULL && strchr(e, '\n') == NULL && e[0] != '\0');
                CHECK_INT(journal_unescape(e, back, sizeof(back)), 0);
                CHECK_STR(back, values[i]);
        }
        char out[8];
        CHECK(journal_unescape("%00", out, sizeof(out)) < 0); /* no NUL smuggling */
        CHECK(journal_unescape("%G1", out, sizeof(out)) < 0);
}

static char undone[2048];
static const Ledger *probe_ledger;
static int undo_probe(const JournalStep *s, const UndoContext *ctx)
{
        size_t n = strlen(undone);
        /* the undo gets the ledger its caller holds and the journal's VM */
        snprintf(undone + n, sizeof(undone) - n, "%s%s=%s%s", n ? "," : "", s->kind_name, s->old,
                 ctx->ledger == probe_ledger && !strcmp(ctx->uuid, UUID) ? "" : "(wrong context)");
        return 0;
}

TEST(journal_custom_steps_are_undone_newest_first_by_their_kind)
{
        tree_new();
        undone[0] = '\0';
        CHECK_INT(journal_register_undo("probe", undo_probe), 0);
        CHECK(journal_register_undo("set", undo_probe) < 0);
        CHECK(journal_register_undo("../x", undo_probe) < 0);
        CHECK(journal_register_undo("bind", undo_probe) < 0); /* the table's own kinds stay */
        CHECK(journal_undo_fn("bind") != NULL && journal_undo_fn("probe") == NULL);
        Journal *j = NULL;
        unsigned seq;
        CHECK_INT(journal_open(UUID, "test", "vm", true, &j), 0);
        CHECK_INT(journal_begin_custom(j, "probe", "r1", "/sys/a", "first", "x", &seq), 0);
        CHECK_INT(journal_done(j, NULL, seq, "x"), 0);
        CHECK_INT(journal_begin_custom(j, "probe", "r2", "/sys/b", "second", "y", &seq), 0);
        journal_close(j);
        /* reopened from the file, as release would */
        CHECK_INT(journal_open(UUID, "test", NULL, false, &j), 0);
        CHECK_INT(j->n_steps, 2);
        CHECK_STR(j->name, "vm");
        Ledger l;
        CHECK_INT(ledger_lock(&l), 0);
        probe_ledger = &l;
        CHECK_INT(journal_undo(j, &l), 0);
        ledger_unlock(&l);
        journal_close(j);
        CHECK_STR(undone, "probe=second,probe=first");
        CHECK(!journal_exists(UUID, "test"));
}

TEST(journal_ignores_a_torn_last_line_but_not_a_damaged_middle)
{
        tree_new();
        Journal *j = NULL;
        unsigned seq;
        Ledger l;
        tree_write("/sys/x", "old\n");
        CHECK_INT(ledger_lock(&l), 0);
        CHECK_INT(journal_open(UUID, "test", "vm", true, &j), 0);
        CHECK_INT(journal_begin_set(j, "x", "/sys/x", "old", "new", &seq), 0);
        journal_close(j);
        ledger_unlock(&l);
        /* a crash in the middle of an append */
        char path[512];
        snprintf(path, sizeof(path), "%s" JPATH, getenv("VMPREP_ROOT"));
        FILE *f = fopen(path, "a");
        fputs("D 1 ne", f);
        fclose(f);
        CHECK_INT(journal_open(UUID, "test", NULL, false, &j), 0);
        CHECK_INT(j->n_steps, 1);
        CHECK(!j->steps[0].done);
        journal_close(j);
        /* damage in the middle is refused */
        const char *text = tree_read(JPATH);
        char copy[4096];
        snprintf(copy, sizeof(copy), "%s", text);
        char *second = strchr(copy, '\n');
        CHECK(second);
        second[1] = 'X';
        f = fopen(path, "w");
        fputs(copy, f);
        fputs("\nU 1 ~0x00000000\n", f);
        fclose(f);
        CHECK(journal_open(UUID, "test", NULL, false, &j) < 0);
}

TEST(journal_set_steps_restore_the_old_value)
{
        tree_new();
        tree_write("/sys/knob", "before\n");
        Journal *j = NULL;
        Ledger l;
        unsigned seq;
        CHECK_INT(ledger_lock(&l), 0);
        CHECK_INT(journal_open(UUID, "test", "vm", true, &j), 0);
        CHECK_INT(journal_begin_set(j, "knob", "/sys/knob", "before", "after", &seq), 0);
        CHECK_INT(sysfs_write("/sys/knob", "after"), 0);
        CHECK_INT(journal_done(j, &l, seq, "after"), 0);
        CHECK_STR(tree_read("/sys/knob"), "after");
        CHECK_INT(journal_undo(j, &l), 0);
        journal_close(j);
        ledger_unlock(&l);
        CHECK_STR(tree_read("/sys/knob"), "before");
}
