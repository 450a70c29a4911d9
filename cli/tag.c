/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vmprep tag, vmprep untag: the profile element, written through libvirt. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Append s to buf (size), XML-escaped for an attribute value. */
static void append_escaped(char *buf, size_t size, const char *s)
{
        size_t n = strlen(buf);
        for (; *s && n + 7 < size; s++) {
                const char *e = NULL;
                switch (*s) {
                case '&': e = "&amp;"; break;
                case '<': e = "&lt;"; break;
                case '>': e = "&gt;"; break;
                case '"': e = "&quot;"; break;
                case '\'': e = "&apos;"; break;
                }
                if (e) {
                        strcpy(buf + n, e);
                        n += strlen(e);
                } else {
                        buf[n++] = *s;
                }
        }
        buf[n] = '\0';
}

static void append(char *buf, size_t size, const char *s)
{
        size_t n = strlen(buf), m = strlen(s);
        if (n + m >= size)
                m = size - n - 1;
        memcpy(buf + n, s, m);
        buf[n + m] = '\0';
}

static int flags_of(int argc, char **argv, bool *live, bool *config)
{
        *live = *config = false;
        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--live"))
                        *live = true;
                else if (!strcmp(argv[i], "--config"))
                        *config = true;
        }
        return 0;
}

int cmd_tag(const CliOptions *o, int argc, char **argv)
{
        const char *vm = NULL, *use = NULL;
        char xml[8192] = "";
        char elems[16][32];
        char attrs[16][4096];
        size_t n_elems = 0;
        bool live, config;

        flags_of(argc, argv, &live, &config);
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (!strcmp(a, "--live") || !strcmp(a, "--config"))
                        continue;
                if (a[0] == '-' && a[1]) {
                        fprintf(stderr, "vmprep tag: unknown option %s\n", a);
                        return EXIT_USAGE;
                }
                if (!vm) {
                        vm = a;
                } else if (!use) {
                        use = a;
                } else {
                        /* ELEMENT.ATTR=VALUE */
                        const char *dot = strchr(a, '.'), *eq = strchr(a, '=');
                        if (!dot || !eq || eq < dot || dot == a || eq == dot + 1 || (size_t) (dot - a) >= 32) {
                                fprintf(stderr, "vmprep tag: '%s' is not ELEMENT.ATTRIBUTE=VALUE (like hugepages.size=1G)\n", a);
                                return EXIT_USAGE;
                        }
                        char elem[32];
                        snprintf(elem, sizeof(elem), "%.*s", (int) (dot - a), a);
                        size_t k;
                        for (k = 0; k < n_elems && strcmp(elems[k], elem); k++)
                                ;
                        if (k == n_elems) {
                                if (n_elems == 16) {
                                        fprintf(stderr, "vmprep tag: too many elements\n");
                                        return EXIT_USAGE;
                                }
                                snprintf(elems[n_elems], sizeof(elems[0]), "%s", elem);
                                attrs[n_elems][0] = '\0';
                                n_elems++;
                        }
                        char name[64];
                        snprintf(name, sizeof(name), " %.*s=\"", (int) (eq - dot - 1), dot + 1);
                        append(attrs[k], sizeof(attrs[k]), name);
                        append_escaped(attrs[k], sizeof(attrs[k]), eq + 1);
                        append(attrs[k], sizeof(attrs[k]), "\"");
                }
        }
        if (!vm || !use) {
                fprintf(stderr, "Usage: vmprep tag VM PROFILE [ELEMENT.ATTR=VALUE...] [--live] [--config]\n"
                                "  PROFILE: a named profile (gaming, realtime, nfv, database, ai-training, or one in\n"
                                "  /etc/vmprep/profiles), or 'custom' for none; e.g. vmprep tag win10 gaming hugepages.compact=no\n");
                return EXIT_USAGE;
        }
        /* libvirt puts the element and its children into the namespace itself
         * (virsh metadata --key vmprep): it gets them without a prefix, and
         * refuses an element that declares the namespace already.  vmprep
         * validates the namespaced form, as the hooks will read it. */
        char plain[8192] = "";
        for (int pass = 0; pass < 2; pass++) {
                char *buf = pass ? plain : xml;
                const char *pre = pass ? "" : "vmprep:";
                append(buf, sizeof(xml), "<");
                append(buf, sizeof(xml), pre);
                append(buf, sizeof(xml), "profile");
                if (!pass)
                        append(buf, sizeof(xml), " xmlns:vmprep=\"" PROFILE_NS "\"");
                if (strcmp(use, "custom") != 0) {
                        append(buf, sizeof(xml), " use=\"");
                        append_escaped(buf, sizeof(xml), use);
                        append(buf, sizeof(xml), "\"");
                }
                append(buf, sizeof(xml), ">");
                for (size_t k = 0; k < n_elems; k++) {
                        append(buf, sizeof(xml), "<");
                        append(buf, sizeof(xml), pre);
                        append(buf, sizeof(xml), elems[k]);
                        append(buf, sizeof(xml), attrs[k]);
                        append(buf, sizeof(xml), "/>");
                }
                append(buf, sizeof(xml), "</");
                append(buf, sizeof(xml), pre);
                append(buf, sizeof(xml), "profile>");
        }

        /* Validate in full before libvirt sees it: grammar, values, the named profile. */
        char err[2048];
        Profile *p = NULL, *named = NULL;
        int r = profile_parse_document(xml, strlen(xml), "the new profile", &p, err, sizeof(err));
        if (r == 0 && p->use)
                r = profile_load_named(p->use, &named, err, sizeof(err));
        profile_free(p);
        profile_free(named);
        if (r < 0) {
                fprintf(stderr, "vmprep tag: %s\n", r == -EINVAL ? err : strerror(-r));
                return EXIT_FAIL;
        }
        r = virt_set_metadata(o, vm, plain, live, config);
        if (r == EXIT_OK)
                printf("%s: %s\n", vm, xml);
        return r;
}

int cmd_untag(const CliOptions *o, int argc, char **argv)
{
        bool live, config;
        const char *vm = NULL;
        flags_of(argc, argv, &live, &config);
        for (int i = 1; i < argc; i++)
                if (strcmp(argv[i], "--live") && strcmp(argv[i], "--config"))
                        vm = vm ? NULL : argv[i];
        if (!vm) {
                fprintf(stderr, "Usage: vmprep untag VM [--live] [--config]\n");
                return EXIT_USAGE;
        }
        int r = virt_set_metadata(o, vm, NULL, live, config);
        if (r == EXIT_OK)
                printf("%s: vmprep profile removed%s\n", vm,
                       live ? " (a running VM is still given back at stop: its journal remains)" : "");
        return r;
}
