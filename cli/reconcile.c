/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmprep reconcile: finish the journals of VMs that are not running — what
 * a crash, a killed hook or a release that never ran left behind.
 *
 * Which VMs run: asked of libvirt; with --offline (for libvirt's own
 * "daemon start" hook, where calling libvirt would deadlock) or when
 * libvirt cannot be reached, from libvirt's status files
 * /run/libvirt/qemu/NAME.xml (<domstatus pid=...>, the domain's <uuid>)
 * whose QEMU pid is alive.
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
#include "common/sysfs.h"
#include "common/xml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LIBVIRT_STATUS_DIR "/run/libvirt/qemu"

/* UUIDs of domains libvirt's status files say are running. */
static char *running_from_status_files(void)
{
        size_t cap = 4096, len = 0;
        char *out = calloc(1, cap);
        char **names = NULL;
        size_t n_names = 0;

        if (!out || sysfs_list(LIBVIRT_STATUS_DIR, &names, &n_names) < 0)
                return out;
        for (size_t i = 0; i < n_names; i++) {
                size_t n = strlen(names[i]);
                if (n < 5 || strcmp(names[i] + n - 4, ".xml") || names[i][0] == '.')
                        continue;
                char path[512], *text = NULL, err[256];
                size_t tlen = 0;
                snprintf(path, sizeof(path), LIBVIRT_STATUS_DIR "/%s", names[i]);
                if (sysfs_read_alloc(path, XML_MAX_BYTES, &text, &tlen) < 0)
                        continue;
                xmlDocPtr doc = xml_parse(text, tlen, path, err, sizeof(err));
                free(text);
                if (!doc)
                        continue;
                xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
                xmlNodePtr st = ctx ? xml_first(ctx, NULL, "/domstatus") : NULL;
                xmlNodePtr u = ctx ? xml_first(ctx, NULL, "/domstatus/domain/uuid") : NULL;
                char *pid = st ? xml_attr(st, "pid") : NULL;
                char *uuid = u ? xml_text(u) : NULL;
                uint64_t p;
                char norm[37], proc[64];
                if (pid && uuid && parse_u64(pid, 1, INT32_MAX, &p) == 0 && uuid_parse(uuid, norm) == 0) {
                        snprintf(proc, sizeof(proc), "/proc/%llu", (unsigned long long) p);
                        if (sysfs_exists(proc) && len + 40 < cap) {
                                memcpy(out + len, norm, 36);
                                len += 36;
                                out[len++] = ' ';
                                out[len] = '\0';
                        }
                }
                free(pid);
                free(uuid);
                xmlXPathFreeContext(ctx);
                xmlFreeDoc(doc);
        }
        sysfs_list_free(names, n_names);
        return out;
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
        char *running = NULL;
        const char *source = "libvirt";
        if (offline || virt_running_uuids(o, &running) != EXIT_OK) {
                source = LIBVIRT_STATUS_DIR;
                running = running_from_status_files();
        }
        if (!running)
                return EXIT_FAIL;

        State s;
        int r = state_load(&s);
        if (r < 0) {
                fprintf(stderr, "vmprep: cannot read " VMPREP_RUNDIR ": %s\n", strerror(-r));
                free(running);
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
        log_open("vmprep-reconcile", true);
        if (!dry)
                log_set_sink(hook_events_sink);
        int failed = s.errors, finished = 0;
        for (size_t i = 0; i < s.n_vms; i++) {
                StateVm *v = &s.vms[i];
                if (strstr(running, v->uuid)) {
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
        if (s.n_vms == 0)
                printf("nothing to reconcile: no journals in " VMPREP_RUNDIR "\n");
        else if (!dry)
                printf("%d journal%s finished, %d failed\n", finished, finished == 1 ? "" : "s", failed);
        state_free(&s);
        free(running);
        return failed ? EXIT_FAIL : EXIT_OK;
}
