/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vmprep plan, vmprep show: the hooks' own derivation, applying nothing. */
#include "cli.h"

#include "common/hook.h"
#include "common/log.h"
#include "common/plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The effective profile and the whole plan of a domain; EXIT_* */
static int domain_plan(const CliOptions *o, const char *arg, Domain **dret, Profile **pret, Plan *plan)
{
        char err[2048];
        int r = cli_load_domain(o, arg, dret);
        if (r != EXIT_OK)
                return r;
        r = profile_from_domain(*dret, pret, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "vmprep: %s: %s\n", (*dret)->name, r == -EINVAL ? err : strerror(-r));
                return EXIT_FAIL;
        }
        if (!*pret)
                return EXIT_OK;
        size_t n;
        const Capability *caps = capabilities_all(&n);
        for (size_t i = 0; i < n; i++) {
                if (!caps[i].plan)
                        continue;
                err[0] = '\0';
                r = caps[i].plan(*dret, *pret, plan, err, sizeof(err));
                if (r < 0) {
                        if (!error_reported(r)) /* else the capability said it already */
                                fprintf(stderr, "vmprep: %s: %s: %s\n", (*dret)->name, caps[i].name,
                                        err[0] ? err : strerror(-r));
                        return EXIT_FAIL;
                }
        }
        return EXIT_OK;
}

int cmd_plan(const CliOptions *o, int argc, char **argv)
{
        const char *arg = NULL;
        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--json"))
                        continue;
                if (argv[i][0] == '-' && argv[i][1]) {
                        fprintf(stderr, "vmprep plan: unknown option %s\n", argv[i]);
                        return EXIT_USAGE;
                }
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
        int r = domain_plan(o, arg, &d, &p, &plan);
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
        plan_free(&plan);
        profile_free(p);
        domain_free(d);
        return r;
}

int cmd_show(const CliOptions *o, int argc, char **argv)
{
        if (argc != 2) {
                fprintf(stderr, "Usage: vmprep show VM|FILE.xml\n");
                return EXIT_USAGE;
        }
        Domain *d = NULL;
        Profile *p = NULL;
        Plan plan = { 0 };
        int r = domain_plan(o, argv[1], &d, &p, &plan);
        if (r == EXIT_OK && !p)
                printf("%s has no vmprep profile.\n", d->name);
        else if (r == EXIT_OK) {
                printf("# effective profile of %s%s%s%s\n", d->name, p->use ? " (named profile '" : "",
                       p->use ? p->use : "", p->use ? "' with the domain's overrides)" : "");
                profile_print(p, stdout);
                printf("# derived from the domain XML on this host:\n");
                if (plan.n_steps == 0)
                        printf("#   nothing to change\n");
                for (size_t i = 0; i < plan.n_steps; i++)
                        printf("#   %s: %s\n", plan.steps[i].cap, plan.steps[i].why);
        }
        plan_free(&plan);
        profile_free(p);
        domain_free(d);
        return r;
}
