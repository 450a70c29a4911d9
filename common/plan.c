/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int plan_add(Plan *p, const PlanStep *s)
{
        PlanStep *a = realloc(p->steps, (p->n_steps + 1) * sizeof(*a));
        if (!a)
                return -ENOMEM;
        p->steps = a;
        a[p->n_steps++] = *s;
        return 0;
}

void plan_free(Plan *p)
{
        free(p->steps);
        p->steps = NULL;
        p->n_steps = 0;
}

void plan_print(const Plan *p, FILE *f)
{
        for (size_t i = 0; i < p->n_steps; i++) {
                const PlanStep *s = &p->steps[i];
                if (s->keep)
                        fprintf(f, "%-10s %s: %s, left as it is  # %s\n", s->cap, s->path, s->old, s->why);
                else if (s->kind == STEP_ADD)
                        fprintf(f, "%-10s %s: %s -> %s (%+lld)  # %s\n", s->cap, s->path, s->old, s->new_,
                                (long long) s->delta, s->why);
                else
                        fprintf(f, "%-10s %s: %s -> %s  # %s\n", s->cap, s->path, s->old, s->new_, s->why);
        }
}

size_t plan_changes(const Plan *p)
{
        size_t n = 0;
        for (size_t i = 0; i < p->n_steps; i++)
                n += !p->steps[i].keep;
        return n;
}

void json_string(FILE *f, const char *s)
{
        fputc('"', f);
        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;
                if (c == '"' || c == '\\')
                        fprintf(f, "\\%c", c);
                else if (c < 0x20)
                        fprintf(f, "\\u%04x", c);
                else
                        fputc(c, f);
        }
        fputc('"', f);
}

void plan_print_json(const Plan *p, FILE *f)
{
        fprintf(f, "[");
        for (size_t i = 0; i < p->n_steps; i++) {
                const PlanStep *s = &p->steps[i];
                fprintf(f, "%s{\"capability\":", i ? "," : "");
                json_string(f, s->cap);
                fprintf(f, ",\"kind\":\"%s\",\"resource\":", s->keep ? "keep" : s->kind == STEP_ADD ? "add" : "set");
                json_string(f, s->resource);
                fprintf(f, ",\"path\":");
                json_string(f, s->path);
                fprintf(f, ",\"old\":");
                json_string(f, s->old);
                fprintf(f, ",\"new\":");
                json_string(f, s->new_);
                if (s->kind == STEP_ADD)
                        fprintf(f, ",\"delta\":%lld", (long long) s->delta);
                fprintf(f, ",\"why\":");
                json_string(f, s->why);
                fprintf(f, "}");
        }
        fprintf(f, "]");
}
