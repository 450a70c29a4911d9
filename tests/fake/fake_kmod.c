/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fake libkmod: linked into test builds in place of the real one, so
 * that common/vfio.c makes the same libkmod calls in both builds and a
 * test can see which flags it passed.  It reads modprobe.d from the fake
 * tree, ROOT/etc/modprobe.d/ *.conf, one directive a line:
 *
 *   blacklist NAME       kmod_module_probe_insert_module() with
 *                        KMOD_PROBE_APPLY_BLACKLIST returns that flag (> 0,
 *                        as libkmod does) instead of loading NAME
 *   install NAME CMD...  without KMOD_PROBE_IGNORE_COMMAND, probing NAME
 *                        "runs" CMD instead of loading it, as libkmod does
 *                        through system(3): the fake appends "NAME: CMD"
 *                        to ROOT/.fake/kmod-ran-commands and loads nothing
 *   remove NAME CMD...   returned by kmod_module_get_remove_commands(); like
 *                        libkmod, kmod_module_remove_module() never runs it
 *                        (only the modprobe tool does)
 *   alias ALIAS NAME     kmod_module_new_from_lookup(ALIAS) gives NAME (a
 *                        device's modalias, which libkmod matches against
 *                        modules.alias's patterns, is matched exactly; one
 *                        with no line gives an empty list)
 *
 * Names are normalised as libkmod does ('-' read as '_').  Loading and
 * unloading go to the fake kernel's /.fake/modprobe and /.fake/rmmod
 * (tests/fake/fake_pci.c), so /sys/module/NAME and vfio-pci's driver
 * directory come and go as before.  Not modelled: modules.dep and
 * dependencies (none), softdeps, options, the builtin index.
 */
#include "common/sysfs.h"

#include <errno.h>
#include <libkmod.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kmod_ctx {
        int refs;
};

struct kmod_module {
        int refs;
        char name[64];
        char install[256];
        char remove[256];
};

struct kmod_list {
        struct kmod_module *mod;
};

static void normalise(const char *in, char *out, size_t size)
{
        size_t i = 0;
        for (; in[i] && i + 1 < size; i++)
                out[i] = in[i] == '-' ? '_' : in[i];
        out[i] = '\0';
}

/* The value of the first "KEY NAME REST" line of modprobe.d for name into
 * buf ("" when none); returns whether one was found. */
static bool config_find(const char *key, const char *name, char *buf, size_t size)
{
        char **files = NULL;
        size_t n = 0;
        bool found = false;

        buf[0] = '\0';
        if (sysfs_list("/etc/modprobe.d", &files, &n) < 0)
                return false;
        for (size_t f = 0; f < n && !found; f++) {
                char path[512], *text = NULL, *save = NULL;
                size_t len = strlen(files[f]);
                if (len < 5 || strcmp(files[f] + len - 5, ".conf") != 0)
                        continue;
                snprintf(path, sizeof(path), "/etc/modprobe.d/%s", files[f]);
                if (sysfs_read_alloc(path, 65536, &text, &len) < 0)
                        continue;
                for (char *line = strtok_r(text, "\n", &save); line && !found; line = strtok_r(NULL, "\n", &save)) {
                        char word[64], mod[64], mine[64];
                        int at = 0;
                        if (sscanf(line, " %63s %63s %n", word, mod, &at) < 2 || strcmp(word, key) != 0)
                                continue;
                        normalise(mod, mine, sizeof(mine));
                        if (strcmp(mine, name) != 0)
                                continue;
                        snprintf(buf, size, "%s", line + at);
                        found = true;
                }
                free(text);
        }
        sysfs_list_free(files, n);
        return found;
}

struct kmod_ctx *kmod_new(const char *dirname, const char *const *config_paths)
{
        (void) dirname;
        (void) config_paths;
        struct kmod_ctx *ctx = calloc(1, sizeof(*ctx));
        if (ctx)
                ctx->refs = 1;
        return ctx;
}

struct kmod_ctx *kmod_unref(struct kmod_ctx *ctx)
{
        if (ctx && --ctx->refs == 0)
                free(ctx);
        return NULL;
}

int kmod_load_resources(struct kmod_ctx *ctx)
{
        (void) ctx;
        return 0;
}

int kmod_module_new_from_name(struct kmod_ctx *ctx, const char *name, struct kmod_module **mod)
{
        (void) ctx;
        struct kmod_module *m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->refs = 1;
        normalise(name, m->name, sizeof(m->name));
        config_find("install", m->name, m->install, sizeof(m->install));
        config_find("remove", m->name, m->remove, sizeof(m->remove));
        *mod = m;
        return 0;
}

int kmod_module_new_from_lookup(struct kmod_ctx *ctx, const char *given_alias, struct kmod_list **list)
{
        char name[64], target[64];
        struct kmod_list *l;

        *list = NULL;
        if (sysfs_exists("/.fake/modprobe-fails"))
                return 0; /* no such module: an empty list, as libkmod */
        normalise(given_alias, name, sizeof(name));
        if (config_find("alias", name, target, sizeof(target)))
                normalise(strtok(target, " \t"), name, sizeof(name));
        else if (strncmp(name, "pci:", 4) == 0)
                return 0; /* a device's modalias no module claims: an empty list, as libkmod */
        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        int r = kmod_module_new_from_name(ctx, name, &l->mod);
        if (r < 0) {
                free(l);
                return r;
        }
        *list = l;
        return 0;
}

struct kmod_list *kmod_list_next(const struct kmod_list *list, const struct kmod_list *curr)
{
        (void) list;
        (void) curr;
        return NULL; /* lists of one */
}

struct kmod_module *kmod_module_ref(struct kmod_module *mod)
{
        if (mod)
                mod->refs++;
        return mod;
}

struct kmod_module *kmod_module_unref(struct kmod_module *mod)
{
        if (mod && --mod->refs == 0)
                free(mod);
        return NULL;
}

int kmod_module_unref_list(struct kmod_list *list)
{
        if (list) {
                kmod_module_unref(list->mod);
                free(list);
        }
        return 0;
}

struct kmod_module *kmod_module_get_module(const struct kmod_list *entry)
{
        return entry ? kmod_module_ref(entry->mod) : NULL;
}

const char *kmod_module_get_name(const struct kmod_module *mod)
{
        return mod->name;
}

const char *kmod_module_get_install_commands(const struct kmod_module *mod)
{
        return mod->install[0] ? mod->install : NULL;
}

const char *kmod_module_get_remove_commands(const struct kmod_module *mod)
{
        return mod->remove[0] ? mod->remove : NULL;
}

struct kmod_list *kmod_module_get_dependencies(const struct kmod_module *mod)
{
        (void) mod;
        return NULL;
}

/* Already loaded: libkmod returns 0 without looking at blacklist or
 * install commands (no KMOD_PROBE_IGNORE_LOADED here). */
static bool loaded(const char *name)
{
        char path[128];
        if (strcmp(name, "vfio_pci") == 0)
                return sysfs_exists("/sys/bus/pci/drivers/vfio-pci");
        snprintf(path, sizeof(path), "/sys/module/%s", name);
        return sysfs_exists(path);
}

int kmod_module_probe_insert_module(struct kmod_module *mod, unsigned int flags, const char *extra_options,
                                    int (*run_install)(struct kmod_module *m, const char *cmdline, void *data),
                                    const void *data,
                                    void (*print_action)(struct kmod_module *m, bool install, const char *options))
{
        char buf[64];
        (void) extra_options;
        (void) run_install;
        (void) data;
        (void) print_action;

        if (loaded(mod->name))
                return 0;
        if ((flags & KMOD_PROBE_APPLY_BLACKLIST) && config_find("blacklist", mod->name, buf, sizeof(buf)))
                return KMOD_PROBE_APPLY_BLACKLIST;
        if (mod->install[0] && !(flags & KMOD_PROBE_IGNORE_COMMAND)) {
                /* libkmod hands the line to system(3) here */
                char path[512], line[400];
                snprintf(line, sizeof(line), "%s: %s\n", mod->name, mod->install);
                if (sysfs_path("/.fake/kmod-ran-commands", path, sizeof(path)) == 0) {
                        FILE *f = fopen(path, "ae");
                        if (f) {
                                fputs(line, f);
                                fclose(f);
                        }
                }
                return 0;
        }
        int r = sysfs_write("/.fake/modprobe", mod->name);
        return r < 0 ? r : 0;
}

int kmod_module_remove_module(struct kmod_module *mod, unsigned int flags)
{
        (void) flags;
        int r = sysfs_write("/.fake/rmmod", mod->name);
        return r < 0 ? r : 0;
}
