/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The vmprep command: one file per subcommand, sharing the hooks' library.
 * Exit codes (vmprep(8)):
 *   0  done (doctor: the host is ready, warnings aside)
 *   1  failed (plan: the domain cannot be prepared; doctor: a check failed;
 *      reconcile: something could not be finished)
 *   2  usage error
 *   3  libvirt could not be reached or the domain was not found
 */
#pragma once

#include "common/domain.h"
#include "common/profile.h"

#include <stdbool.h>
#include <stdio.h>

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_LIBVIRT = 3 };

typedef struct CliOptions {
        const char *root;   /* --root: read (and for reconcile, write) a recorded tree */
        const char *uri;    /* --connect */
        bool json;
        bool tty;           /* stdout is a terminal (status shows the host map) */
        bool color;         /* tty and NO_COLOR is unset: colour only, never content */
} CliOptions;

int cmd_plan(const CliOptions *o, int argc, char **argv);
int cmd_tag(const CliOptions *o, int argc, char **argv);
int cmd_untag(const CliOptions *o, int argc, char **argv);
int cmd_show(const CliOptions *o, int argc, char **argv);
int cmd_status(const CliOptions *o, int argc, char **argv);
int cmd_doctor(const CliOptions *o, int argc, char **argv);
int cmd_reconcile(const CliOptions *o, int argc, char **argv);
int cmd_pin(const CliOptions *o, int argc, char **argv);

/* ---- libvirt (cli/virt.c); the hooks never call libvirt ---- */

/* The domain's XML: live if it runs, else its config (or the inactive
 * config when inactive is set).  Returns EXIT_* codes, the XML malloc'd. */
int virt_domain_xml(const CliOptions *o, const char *name, bool inactive, char **ret);
/* Set (xml != NULL) or remove (xml == NULL) the urn:vmprep:1 metadata element. */
int virt_set_metadata(const CliOptions *o, const char *name, const char *xml, bool live, bool config);
/* 1 when the domain runs, 0 when not, -1 when libvirt cannot say. */
int virt_domain_active(const CliOptions *o, const char *name);
/* Define (or redefine) a domain from its XML: the persistent definition. */
int virt_define_xml(const CliOptions *o, const char *xml);
/* The inactive XML of every persistent domain, malloc'd each; EXIT_*. */
int virt_defined_xmls(const CliOptions *o, char ***ret, size_t *n);
/* UUIDs of running domains, as one malloc'd string "uuid uuid ...";
 * returns EXIT_LIBVIRT when libvirt cannot be reached. */
int virt_running_uuids(const CliOptions *o, char **ret);

/* ---- shared helpers (cli/main.c) ---- */

/* A domain from a file path (contains '/' or ends in .xml) or from libvirt. */
int cli_load_domain(const CliOptions *o, const char *arg, Domain **ret);
char *cli_read_file(const char *path, size_t *len);
/* The effective profile and every capability's plan of a domain on this
 * host, as `vmprep plan` shows it; EXIT_OK or EXIT_FAIL (said on stderr).
 * *pret is NULL for an untagged domain. */
struct Plan;
int cli_plan_domain(const Domain *d, Profile **pret, struct Plan *plan);
/* vmprep pin (cli/pin.c): choose the pins for the domain in doc, write
 * them into doc, and print the choice with its reasons and the diff on out.
 * EXIT_OK, or EXIT_FAIL said on stderr. */
struct _xmlDoc;
int cli_pin_doc(const CliOptions *o, struct _xmlDoc *doc, const char *label, FILE *out);
/* vmprep plan and show: the pins of d, each core with what it is, or what
 * `vmprep pin` would write when it has none. */
void cli_pin_report(const CliOptions *o, const Domain *d, FILE *out);
/* "vmprep CMD: unknown option ARG (vmprep CMD --help)" on stderr; returns
 * EXIT_USAGE.  An argument starting with '-' (but not "-" alone) that a
 * command does not know is never taken for a VM name. */
int cli_unknown_option(const char *cmd, const char *arg);
/* Colour escapes when o->color, else "". */
const char *cli_color(const CliOptions *o, const char *which);
