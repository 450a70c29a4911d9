/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "plan.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

int plan_add(Plan *p, const PlanStep *s)
{
        char *old = strdup(s->old ? s->old : ""), *new_ = strdup(s->new_ ? s->new_ : "");
        PlanStep *a = old && new_ ? realloc(p->steps, (p->n_steps + 1) * sizeof(*a)) : NULL;
        if (!a) {
                free(old);
                free(new_);
                return -ENOMEM;
        }
        p->steps = a;
        a[p->n_steps] = *s;
        a[p->n_steps].old = old;
        a[p->n_steps].new_ = new_;
        if (!a[p->n_steps].kind_name[0])
                snprintf(a[p->n_steps].kind_name, sizeof(a->kind_name), "%s", s->kind == STEP_ADD ? "add" : "set");
        p->n_steps++;
        return 0;
}

void plan_free(Plan *p)
{
        for (size_t i = 0; i < p->n_steps; i++) {
                free(p->steps[i].old);
                free(p->steps[i].new_);
        }
        free(p->steps);
        p->steps = NULL;
        p->n_steps = 0;
}

/* What a person would name the step's object: the file, or the unit and
 * property, the VF of a link, the module. */
void plan_object(const PlanStep *s, char *buf, size_t size)
{
        const char *p = s->path, *slash = strrchr(p, '/');
        unsigned vf;
        char bdf[64];
        if (!strcmp(s->kind_name, "sdcpus") && slash)
                snprintf(buf, size, "%s AllowedCPUs=", slash + 1);
        else if (!strcmp(s->kind_name, "unit") && slash)
                snprintf(buf, size, "%s (systemd unit)", slash + 1);
        else if (!strcmp(s->kind_name, "module") && slash)
                snprintf(buf, size, "module %s", slash + 1);
        else if (!strcmp(s->kind_name, "vf") && sscanf(p, "/sys/bus/pci/devices/%63[^/]/virtfn%u", bdf, &vf) == 2)
                snprintf(buf, size, "%s VF %u", bdf, vf);
        else if (!strcmp(s->kind_name, "claim"))
                snprintf(buf, size, "ledger %s", s->resource);
        else
                snprintf(buf, size, "%s", p);
}

/* A value as the text output shows it: the empty string visibly so; a
 * bind's "DRIVER/OVERRIDE" and a VF count's "COUNT/AUTOPROBE" spelt out
 * (--json has them as the journal records them). */
static const char *shown(const PlanStep *s, const char *v, char *buf, size_t size)
{
        const char *slash = strchr(v, '/');
        if (slash && !strcmp(s->kind_name, "bind")) {
                int n = (int) (slash - v);
                if (slash[1])
                        snprintf(buf, size, "%.*s (driver_override %s)", n, n ? v : "no driver", slash + 1);
                else
                        snprintf(buf, size, "%.*s", n ? n : 9, n ? v : "no driver");
                return buf;
        }
        if (slash && !strcmp(s->kind_name, "numvfs")) {
                snprintf(buf, size, "%.*s (sriov_drivers_autoprobe %s)", (int) (slash - v), v, slash + 1);
                return buf;
        }
        return v[0] ? v : "''";
}

void plan_print(const Plan *p, FILE *f)
{
        char obj[700], a[160], b[160];
        for (size_t i = 0; i < p->n_steps; i++) {
                const PlanStep *s = &p->steps[i];
                const char *old = shown(s, s->old, a, sizeof(a)), *new_ = shown(s, s->new_, b, sizeof(b));
                const char *at = s->started ? "at started: " : "";
                plan_object(s, obj, sizeof(obj));
                if (s->keep)
                        fprintf(f, "%-9s %-8s %s: %s, left as it is  # %s%s\n", s->cap, "keep", obj, old, at, s->why);
                else if (s->kind == STEP_ADD)
                        fprintf(f, "%-9s %-8s %s: %s -> %s (%+lld)  # %s%s\n", s->cap, s->kind_name, obj, old, new_,
                                (long long) s->delta, at, s->why);
                else
                        fprintf(f, "%-9s %-8s %s: %s -> %s  # %s%s\n", s->cap, s->kind_name, obj, old, new_, at, s->why);
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
        char obj[700];
        fprintf(f, "[");
        for (size_t i = 0; i < p->n_steps; i++) {
                const PlanStep *s = &p->steps[i];
                plan_object(s, obj, sizeof(obj));
                fprintf(f, "%s{\"capability\":", i ? "," : "");
                json_string(f, s->cap);
                fprintf(f, ",\"kind\":");
                json_string(f, s->keep ? "keep" : s->kind_name);
                fprintf(f, ",\"journal\":");
                if (s->journal[0])
                        json_string(f, s->journal);
                else
                        fprintf(f, "null");
                fprintf(f, ",\"resource\":");
                json_string(f, s->resource);
                fprintf(f, ",\"object\":");
                json_string(f, obj);
                fprintf(f, ",\"path\":");
                json_string(f, s->path);
                fprintf(f, ",\"old\":");
                json_string(f, s->old);
                fprintf(f, ",\"new\":");
                json_string(f, s->new_);
                if (s->kind == STEP_ADD && !s->keep)
                        fprintf(f, ",\"delta\":%lld", (long long) s->delta);
                fprintf(f, ",\"phase\":\"%s\",\"reason\":", s->started ? "started" : "prepare");
                json_string(f, s->why);
                fprintf(f, "}");
        }
        fprintf(f, "]");
}
