/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The plan: the host changes a capability would make for a domain, as data
 * (path, old value, new value, why), so that `vmprep plan` prints exactly
 * what a hook applies through the journal.
 */
#pragma once

#include "journal.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct PlanStep {
        char cap[32];
        StepKind kind;
        char kind_name[24]; /* the journal's word: set, add, or the capability's own (bind, vf, ...) */
        char journal[80];   /* the journal the hook writes it to: UUID.CAP (host steps: the all-zero UUID) */
        char resource[128];
        char path[512];
        char *old;          /* allocated by plan_add (values can be long: CPU masks) */
        char *new_;
        int64_t delta;      /* STEP_ADD */
        bool keep;          /* a decision to leave path as it is (old == new): shown, never applied */
        bool started;       /* taken at the started phase (the VM's own cgroups, once they exist) */
        char why[256];
} PlanStep;

typedef struct Plan {
        PlanStep *steps;
        size_t n_steps;
} Plan;

/* Append a copy of s (old and new_ copied; NULL reads as ""). */
int plan_add(Plan *p, const PlanStep *s);
void plan_free(Plan *p);
void plan_print(const Plan *p, FILE *f);
/* The step's object for a person: the file, "UNIT AllowedCPUs=", "BDF VF N", "module NAME"... */
void plan_object(const PlanStep *s, char *buf, size_t size);
/* How many steps change something (those that are not keep). */
size_t plan_changes(const Plan *p);
/* The steps as a JSON array (no newline after it). */
void plan_print_json(const Plan *p, FILE *f);
/* A string as a JSON string literal. */
void json_string(FILE *f, const char *s);
