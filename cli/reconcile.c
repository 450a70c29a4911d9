/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmprep reconcile: finish the journals of VMs that are not running — what
 * a crash, a killed hook or a release that never ran left behind — and
 * rebuild a damaged ledger from the journals.
 *
 * Which VMs run: asked of libvirt; with --offline (for libvirt's own
 * "daemon start" hook, where calling libvirt would deadlock) or when
 * libvirt cannot be reached, from libvirt's status files
 * (common/running.h).  Asked after the journals were listed: a VM whose
 * prepare wrote a journal in between is already active for libvirt.
 *
 * The host's own journal (the all-zero UUID, written by the cpus
 * capability) is no VM: it holds what isolation changed on the host, and
 * is replayed only when no VM claims cores any more, after the claims of
 * VMs that are not running have been finished.
 *
 * --before-removal (debian/prerm, make uninstall): vmprep is about to go, and
 * with it the hooks that would give back what VMs hold.  Changes nothing:
 * names each running VM that has a journal with what stopping it gives back,
 * and each VM that does not run but left a journal (reconcile finishes it),
 * and fails when there is any.  It never finishes a journal itself: a VM in
 * its prepare has a journal before libvirt's status file shows it running,
 * and must not lose what it was given.
 */
#include "cli.h"
#include "state.h"

#include "common/hook.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/running.h"
#include "common/sysfs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* UUIDs of running domains, space-separated, from libvirt's status files. */
static char *running_from_status_files(void)
{
        RunningVm *vms = NULL;
        size_t n = 0;

        if (running_vms(NULL, &vms, &n) < 0)
                return NULL;
        char *out = calloc(n + 1, UUID_STRLEN + 1);
        for (size_t i = 0; out && i < n; i++)
                if (vms[i].uuid[0]) {
                        strcat(out, vms[i].uuid);
                        strcat(out, " ");
                }
        running_vms_free(vms, n);
        return out;
}

static bool is_running(const char *running, const char *uuid)
{
        return strstr(running, uuid) != NULL;
}

/* Under the lock: move a damaged ledger aside and rebuild it. */
static int rebuild_ledger(void)
{
        char aside[256];
        unsigned unreadable = 0;
        Ledger l;
        int r = ledger_lock_even_damaged(&l);

        if (r < 0)
                return r;
        if (!l.damaged) {
                ledger_unlock(&l); /* another reconcile was first */
                return 0;
        }
        unsigned line = l.damaged_line;
        r = ledger_rebuild(&l, aside, sizeof(aside), &unreadable, false);
        ledger_unlock(&l);
        if (r < 0)
                return r;
        printf("the ledger was damaged (line %u): moved aside as %s, rebuilt from %d journal%s%s\n", line, aside, r,
               r == 1 ? "" : "s", unreadable ? " (some could not be read: see above)" : "");
        log_info("rebuilt " VMPREP_RUNDIR "/ledger from %d journals; the damaged one is %s", r, aside);
        return unreadable ? -EBADMSG : 0; /* said above, journal by journal */
}

/* Now, not when the state was listed: a VM may have started since. */
static bool has_journal(const char *uuid)
{
        size_t n;
        const Capability *caps = capabilities_all(&n);
        for (size_t i = 0; i < n; i++)
                if (journal_exists(uuid, caps[i].name))
                        return true;
        return false;
}

/* Under the lock: drop the holds of VMs that neither run nor have a journal
 * (what a release that lost its journal, or a ledger edited by hand, left):
 * nothing on the host stands behind them. */
static int drop_stale_holds(const char *running, bool dry)
{
        Ledger l = { .lock_fd = -1 };
        int r = dry ? ledger_read(&l) : ledger_lock(&l);
        bool changed = false;

        if (r < 0)
                return r;
        for (size_t i = l.n_holds; i-- > 0;) {
                char uuid[UUID_STRLEN], res[128];
                snprintf(uuid, sizeof(uuid), "%s", l.holds[i].uuid);
                if (!strcmp(uuid, LEDGER_HOST_UUID) || is_running(running, uuid))
                        continue;
                if (has_journal(uuid))
                        continue;
                snprintf(res, sizeof(res), "%s", l.holds[i].resource);
                printf("%s: not running, no journal; %s its hold of %s\n", uuid, dry ? "would drop" : "dropping", res);
                ledger_hold(&l, uuid, res, -l.holds[i].amount);
                changed = true;
        }
        if (changed && !dry)
                r = ledger_save(&l);
        if (dry)
                ledger_clear(&l);
        else
                ledger_unlock(&l);
        return r;
}

/* "vm1, vm2" claiming CPUs "2-5" in the ledger now. */
static int claims_now(const State *s, char *names, size_t nsize, char *cpus, size_t csize)
{
        Ledger l = { .lock_fd = -1 };
        CpuSet all;
        size_t len = 0;
        int n = 0, r = ledger_read(&l);

        names[0] = cpus[0] = '\0';
        if (r < 0)
                return r;
        cpuset_clear(&all);
        for (size_t i = 0; i < l.n_holds; i++) {
                const char *res = l.holds[i].resource;
                uint64_t cpu;
                if (strncmp(res, "cpus/", 5) != 0 || parse_u64(res + 5, 0, CPUSET_MAX - 1, &cpu) < 0)
                        continue;
                cpuset_set(&all, (unsigned) cpu);
                bool seen = false;
                for (size_t k = 0; k < i; k++)
                        seen |= !strcmp(l.holds[k].uuid, l.holds[i].uuid) && !strncmp(l.holds[k].resource, "cpus/", 5);
                if (seen)
                        continue;
                n++;
                if (len < nsize)
                        len += (size_t) snprintf(names + len, nsize - len, "%s%s", len ? ", " : "",
                                                 state_vm_name(s, l.holds[i].uuid));
        }
        ledger_clear(&l);
        cpuset_format(&all, cpus, csize);
        return n;
}

/* The host's journal: replayed when no VM claims cores. */
static int reconcile_host(const State *s, bool dry)
{
        char names[1024], cpus[256];

        if (!journal_exists(LEDGER_HOST_UUID, "cpus"))
                return 0;
        int n = claims_now(s, names, sizeof(names), cpus, sizeof(cpus));
        if (n < 0)
                return n;
        if (n > 0) {
                /* logged, so that events.log says why the host was not restored */
                log_info("host isolation kept: VM%s %s hold%s core%s %s", n == 1 ? "" : "s", names, n == 1 ? "s" : "",
                         strchr(cpus, ',') || strchr(cpus, '-') ? "s" : "", cpus);
                return 0;
        }
        printf("host: no VM claims cores; %s the host's isolation changes\n", dry ? "would restore" : "restoring");
        if (dry)
                return 0;
        log_set_context("host");
        /* cpus_release() checks the claims again under the lock: a VM that
         * started since keeps its isolation */
        int r = capability_find("cpus")->release(LEDGER_HOST_UUID, "host");
        log_set_context(NULL);
        return r < 0 ? r : 1;
}

/* One line of what undoing a live step gives back. */
static void print_giveback(const JournalStep *st)
{
        if (st->kind == STEP_ADD)
                printf("      %s: %s%s added, taken away\n", st->resource, st->done ? "+" : "",
                       st->done ? st->result : "an interrupted change");
        else if (st->kind == STEP_SET)
                printf("      %s: back to %s (now %s)\n", st->path, st->old, st->new_);
        else
                printf("      %s %s: back to %s\n", st->kind_name, st->resource[0] ? st->resource : st->path,
                       st->old);
}

/* The VMs that hold host state, running (want_running) or not, with what
 * stopping each, or reconcile, gives back (at most 4 steps per capability
 * shown); returns how many. */
static int print_holders(const State *s, const char *running, bool want_running)
{
        int n = 0;
        for (size_t i = 0; i < s->n_vms; i++)
                if (!strstr(running, s->vms[i].uuid) == !want_running)
                        n++;
        if (!n)
                return 0;
        if (want_running)
                printf("vmprep: %d running VM%s hold%s what vmprep prepared on this host; stopping %s gives it back:\n",
                       n, n == 1 ? "" : "s", n == 1 ? "s" : "", n == 1 ? "it" : "them");
        else
                printf("vmprep: %d VM%s that do%s not run left host state behind; `vmprep reconcile` gives it back:\n",
                       n, n == 1 ? "" : "s", n == 1 ? "es" : "");
        for (size_t i = 0; i < s->n_vms; i++) {
                const StateVm *v = &s->vms[i];
                if (!strstr(running, v->uuid) != !want_running)
                        continue;
                if (want_running)
                        printf("  %s (%s): virsh shutdown %s\n", v->name[0] ? v->name : "(unnamed)", v->uuid,
                               v->name[0] ? v->name : v->uuid);
                else
                        printf("  %s (%s)\n", v->name[0] ? v->name : "(unnamed)", v->uuid);
                for (size_t k = 0; k < v->n_journals; k++) {
                        const Journal *j = v->journals[k];
                        size_t live = journal_live_steps(j), shown = 0;
                        printf("    %s: %zu change%s\n", j->cap, live, live == 1 ? "" : "s");
                        for (size_t m = 0; m < j->n_steps && shown < 4; m++) {
                                if (j->steps[m].undone)
                                        continue;
                                print_giveback(&j->steps[m]);
                                shown++;
                        }
                        if (live > shown)
                                printf("      ... and %zu more\n", live - shown);
                }
        }
        return n;
}

int cmd_reconcile(const CliOptions *o, int argc, char **argv)
{
        bool offline = false, dry = false, removal = false;
        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--offline"))
                        offline = true;
                else if (!strcmp(argv[i], "--dry-run"))
                        dry = true;
                else if (!strcmp(argv[i], "--before-removal"))
                        removal = true;
                else {
                        fprintf(stderr, "Usage: vmprep reconcile [--offline] [--dry-run] [--before-removal]\n");
                        return EXIT_USAGE;
                }
        }
        log_open("vmprep-reconcile", true);
        if (!dry)
                log_set_sink(hook_events_sink);

        State s;
        int r = state_load_or_say(&s);
        if (r < 0)
                return EXIT_FAIL;
        char *running = NULL;
        const char *source = "libvirt";
        if (offline || virt_running_uuids(o, &running) != EXIT_OK) {
                source = RUNNING_STATUS_DIR;
                running = running_from_status_files();
        }
        if (!running) {
                fprintf(stderr, "vmprep: cannot tell which VMs run (from libvirt or " RUNNING_STATUS_DIR ")\n");
                state_free(&s);
                return EXIT_FAIL;
        }
        if (removal) {
                int held = print_holders(&s, running, true);
                held += print_holders(&s, running, false);
                fflush(stdout); /* the VMs first, then why that stops removal */
                if (held || s.errors)
                        fprintf(stderr, "vmprep: not removing vmprep while VMs hold host state: its hooks give it back "
                                        "when they stop, and nothing would once it is gone (their hugepages, CPUs, "
                                        "devices and settings would stay taken)\n");
                state_free(&s);
                free(running);
                return held || s.errors ? EXIT_FAIL : EXIT_OK;
        }

        int failed = s.errors, finished = 0;
        if (s.ledger.damaged) {
                if (dry)
                        printf("the ledger is damaged (line %u): would move it aside and rebuild it from the journals\n",
                               s.ledger.damaged_line);
                else if (rebuild_ledger() < 0)
                        failed++;
        }
        for (size_t i = 0; i < s.n_vms; i++) {
                StateVm *v = &s.vms[i];
                if (!strcmp(v->uuid, LEDGER_HOST_UUID))
                        continue;
                if (is_running(running, v->uuid)) {
                        printf("%s (%s): running, left alone\n", v->name, v->uuid);
                        continue;
                }
                for (size_t k = 0; k < v->n_journals; k++) {
                        const char *cap = v->journals[k]->cap;
                        const Capability *c = capability_find(cap);
                        printf("%s (%s): not running (per %s); %s %s: %zu step%s\n", v->name, v->uuid, source,
                               dry ? "would give back" : "giving back", cap, journal_live_steps(v->journals[k]),
                               journal_live_steps(v->journals[k]) == 1 ? "" : "s");
                        if (dry)
                                continue;
                        if (!c || !c->release) {
                                fprintf(stderr, "vmprep: %s: no capability '%s' in this vmprep\n", v->uuid, cap);
                                failed++;
                                continue;
                        }
                        log_set_context(v->name[0] ? v->name : v->uuid);
                        r = c->release(v->uuid, v->name);
                        log_set_context(NULL);
                        if (r < 0)
                                failed++;
                        else
                                finished++;
                }
        }
        if (!s.ledger.damaged || !dry) {
                /* (no holds: take no lock, create nothing in /run) */
                r = s.ledger.n_holds || s.ledger.damaged ? drop_stale_holds(running, dry) : 0;
                if (r < 0)
                        failed++;
                r = reconcile_host(&s, dry);
                if (r < 0)
                        failed++;
                else
                        finished += r;
        }
        if (s.n_vms == 0 && !s.ledger.damaged)
                printf("nothing to reconcile: no journals in " VMPREP_RUNDIR "\n");
        else if (!dry)
                printf("%d journal%s finished, %d failed\n", finished, finished == 1 ? "" : "s", failed);
        state_free(&s);
        free(running);
        return failed ? EXIT_FAIL : EXIT_OK;
}
