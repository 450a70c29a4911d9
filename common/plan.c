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

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when it is not one
 * (a stray continuation byte, an overlong or surrogate form, or a sequence
 * cut short: a kernel name or a message truncated to its buffer). */
static size_t utf8_len(const unsigned char *s)
{
        size_t n;
        unsigned min;
        unsigned cp;

        if (s[0] < 0x80)
                return 1;
        if ((s[0] & 0xe0) == 0xc0)
                n = 2, min = 0x80, cp = s[0] & 0x1f;
        else if ((s[0] & 0xf0) == 0xe0)
                n = 3, min = 0x800, cp = s[0] & 0x0f;
        else if ((s[0] & 0xf8) == 0xf0)
                n = 4, min = 0x10000, cp = s[0] & 0x07;
        else
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return n;
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
        const unsigned char *p = (const unsigned char *) s;

        fputc('"', f);
        while (*p) {
                unsigned char c = *p;
                size_t n = utf8_len(p);
                if (n == 0) {
                        /* JSON must be UTF-8: a byte that is not is replaced */
                        fputs("\\ufffd", f);
                        p++;
                } else if (c == '"' || c == '\\') {
                        fprintf(f, "\\%c", c);
                        p++;
                } else if (c < 0x20 || c == 0x7f) {
                        fprintf(f, "\\u%04x", c);
                        p++;
                } else {
                        fwrite(p, 1, n, f);
                        p += n;
                }
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
