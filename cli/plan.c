/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vmprep plan, vmprep show: the hooks' own derivation, applying nothing. */
#include "cli.h"

#include "common/cpus_share.h"
#include "common/hook.h"
#include "common/journal.h"
#include "common/log.h"
#include "common/plan.h"
#include "common/tune.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_plan_domain(const Domain *d, Profile **pret, Plan *plan)
{
        char err[2048];
        int r = profile_from_domain(d, pret, err, sizeof(err));
        if (r < 0) {
                log_msg(LOG_LEVEL_ERROR, "%s: %s", d->name, err);
                return EXIT_FAIL;
        }
        if (!*pret)
                return EXIT_OK;
        /* The hooks' own prepare, in their order (10-vmprep-vfio ...
         * 40-vmprep-tune), in plan mode: each step it would journal is
         * recorded instead, and nothing is written (journal.h). */
        size_t n;
        const Capability *caps = capabilities_all(&n);
        char ctx[300];
        for (size_t i = 0; i < n; i++) {
                snprintf(ctx, sizeof(ctx), "%s: %s", d->name, caps[i].name);
                log_set_context(ctx); /* "vmprep: db1: cpus: ...", as the hooks say it with their name */
                unsigned said = log_errors();
                r = log_unsaid(capability_plan(&caps[i], d, *pret, plan), said, "the plan");
                log_set_context(NULL);
                if (r < 0)
                        return EXIT_FAIL; /* the capability said why, as its hook would */
        }
        if (tune_ksm_advice(d, *pret, err, sizeof(err)))
                log_warning("%s: %s", d->name, err);
        return EXIT_OK;
}

/* The effective profile and the whole plan of a domain; EXIT_* */
static int domain_plan(const CliOptions *o, const char *arg, Domain **dret, Profile **pret, Plan *plan)
{
        int r = cli_load_domain(o, arg, dret);
        if (r != EXIT_OK)
                return r;
        return cli_plan_domain(*dret, pret, plan);
}

/* plan --json: the last error said on the way, for the JSON error object */
static char plan_error[2048];
static void plan_error_sink(int level, const char *line)
{
        if (level > LOG_LEVEL_ERROR)
                return;
        if (!strncmp(line, "vmprep: ", 8))
                line += 8;
        snprintf(plan_error, sizeof(plan_error), "%s", line);
}

int cmd_plan(const CliOptions *o, int argc, char **argv)
{
        const char *arg = NULL;
        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--json"))
                        continue;
                if (argv[i][0] == '-' && argv[i][1])
                        return cli_unknown_option("plan", argv[i]);
                if (arg) {
                        fprintf(stderr, "vmprep plan: one domain at a time\n");
                        return EXIT_USAGE;
                }
                arg = argv[i];
        }
        if (!arg) {
                fprintf(stderr, "Usage: vmprep plan VM|FILE.xml [--json]\n");
                return EXIT_USAGE;
        }
        Domain *d = NULL;
        Profile *p = NULL;
        Plan plan = { 0 };
        if (o->json)
                log_set_sink(plan_error_sink);
        int r = domain_plan(o, arg, &d, &p, &plan);
        log_set_sink(NULL);
        if (r != EXIT_OK && o->json) {
                /* a program reading stdout gets JSON either way */
                printf("{\"domain\":");
                json_string(stdout, d ? d->name : arg);
                printf(",\"error\":");
                json_string(stdout, plan_error[0] ? plan_error : "the plan failed (see standard error)");
                printf(",\"exit\":%d}\n", r);
        }
        /* (other VMs on the claimed cores: 30-vmprep-cpus's prepare warns, above) */
        if (r == EXIT_OK) {
                if (o->json) {
                        printf("{\"domain\":");
                        json_string(stdout, d->name);
                        printf(",\"uuid\":");
                        json_string(stdout, d->uuid);
                        printf(",\"tagged\":%s,\"steps\":", p ? "true" : "false");
                        plan_print_json(&plan, stdout);
                        printf("}\n");
                } else if (!p) {
                        printf("%s has no vmprep profile: the hooks leave it alone.\n", d->name);
                } else if (plan_changes(&plan) == 0) {
                        printf("%s: nothing to change on this host.\n", d->name);
                        plan_print(&plan, stdout); /* what it leaves as it is, and why */
                } else {
                        size_t n = plan_changes(&plan);
                        printf("%s: %zu step%s, in order (undone in reverse at stop):\n", d->name, n, n == 1 ? "" : "s");
                        plan_print(&plan, stdout);
                }
        }
        if (!o->json && d && p)
                cli_pin_report(o, d, stdout);
        plan_free(&plan);
        profile_free(p);
        domain_free(d);
        return r;
}

static void print_effective(const Domain *d, const Profile *p)
{
        printf("# effective profile of %s%s%s%s\n", d->name, p->use ? " (named profile '" : "", p->use ? p->use : "",
               p->use ? "' with the domain's overrides)" : "");
        profile_print(p, stdout);
}

int cmd_show(const CliOptions *o, int argc, char **argv)
{
        if (argc == 2 && argv[1][0] == '-' && argv[1][1])
                return cli_unknown_option("show", argv[1]);
        if (argc != 2) {
                fprintf(stderr, "Usage: vmprep show VM|FILE.xml\n");
                return EXIT_USAGE;
        }
        Domain *d = NULL;
        Profile *p = NULL;
        Plan plan = { 0 };
        if (geteuid() != 0 && !o->root) {
                /* the profile needs no privilege; what the hooks would change
                 * here does (the ledger in /run/vmprep is root's) */
                char err[2048];
                int r = cli_load_domain(o, argv[1], &d);
                if (r == EXIT_OK && profile_from_domain(d, &p, err, sizeof(err)) < 0) {
                        fprintf(stderr, "vmprep: %s: %s\n", d->name, err);
                        r = EXIT_FAIL;
                } else if (r == EXIT_OK && !p) {
                        printf("%s has no vmprep profile.\n", d->name);
                } else if (r == EXIT_OK) {
                        print_effective(d, p);
                        printf("# what it changes on this host: run as root (vmprep show or vmprep plan read "
                               VMPREP_RUNDIR ")\n");
                }
                profile_free(p);
                domain_free(d);
                return r;
        }
        int r = domain_plan(o, argv[1], &d, &p, &plan);
        if (r == EXIT_OK && !p)
                printf("%s has no vmprep profile.\n", d->name);
        else if (r == EXIT_OK) {
                print_effective(d, p);
                printf("# derived from the domain XML on this host:\n");
                if (plan.n_steps == 0)
                        printf("#   nothing to change\n");
                for (size_t i = 0; i < plan.n_steps; i++) {
                        char obj[700];
                        plan_object(&plan.steps[i], obj, sizeof(obj));
                        printf("#   %s: %s: %s\n", plan.steps[i].cap, obj, plan.steps[i].why);
                }
        }
        if (d && p)
                cli_pin_report(o, d, stdout);
        plan_free(&plan);
        profile_free(p);
        domain_free(d);
        return r;
}
