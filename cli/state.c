/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "state.h"

#include "common/log.h"
#include "common/parse.h"
#include "common/sysfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static StateVm *vm_for(State *s, const char *uuid)
{
        for (size_t i = 0; i < s->n_vms; i++)
                if (!strcmp(s->vms[i].uuid, uuid))
                        return &s->vms[i];
        StateVm *v = realloc(s->vms, (s->n_vms + 1) * sizeof(*v));
        if (!v)
                return NULL;
        s->vms = v;
        v = &s->vms[s->n_vms++];
        memset(v, 0, sizeof(*v));
        snprintf(v->uuid, sizeof(v->uuid), "%s", uuid);
        return v;
}

int state_load(State *s)
{
        memset(s, 0, sizeof(*s));
        s->ledger.lock_fd = -1;
        char **names = NULL;
        size_t n_names = 0;
        int r = sysfs_list(VMPREP_RUNDIR, &names, &n_names);
        if (r == -ENOENT)
                return 0;
        if (r == -EACCES || r == -EPERM)
                return r; /* state_load_or_say() says what to do */
        if (r < 0)
                return log_error_errno(r, "cannot read " VMPREP_RUNDIR);
        for (size_t i = 0; i < n_names; i++) {
                char uuid[37], cap[32];
                if (journal_name_parse(names[i], uuid, cap) < 0)
                        continue;
                Journal *j = NULL;
                /* read, never removed: without the ledger lock a hook may
                 * be creating this journal (header not yet written) */
                r = journal_read(uuid, cap, &j);
                if (r == -ENOENT)
                        continue;
                if (r < 0) {
                        s->errors++;
                        continue;
                }
                StateVm *v = vm_for(s, uuid);
                if (!v || v->n_journals == 16) {
                        journal_close(j);
                        continue;
                }
                if (!v->name[0])
                        snprintf(v->name, sizeof(v->name), "%s", j->name);
                v->journals[v->n_journals++] = j;
        }
        sysfs_list_free(names, n_names);
        r = ledger_read(&s->ledger);
        return r < 0 && r != -EBADMSG ? r : 0; /* a damaged ledger: s->ledger.damaged */
}

int state_load_or_say(State *s)
{
        int r = state_load(s);
        if ((r == -EACCES || r == -EPERM) && geteuid() != 0)
                fprintf(stderr, "vmprep: needs root to read " VMPREP_RUNDIR " (or run `vmprep show VM|FILE.xml` "
                                "for the profile alone)\n");
        else if (r == -EACCES || r == -EPERM) /* root, and still refused: a security module */
                log_error_errno(r, "cannot read " VMPREP_RUNDIR);
        return r; /* any other failure was logged where it happened */
}

void state_free(State *s)
{
        for (size_t i = 0; i < s->n_vms; i++)
                for (size_t k = 0; k < s->vms[i].n_journals; k++)
                        journal_close(s->vms[i].journals[k]);
        free(s->vms);
        ledger_clear(&s->ledger);
}

const char *state_vm_name(const State *s, const char *uuid)
{
        for (size_t i = 0; i < s->n_vms; i++)
                if (!strcmp(s->vms[i].uuid, uuid) && s->vms[i].name[0])
                        return s->vms[i].name;
        return uuid;
}
