/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The front of every vmprep hook: libc only, linked statically, one binary
 * installed under each name of common/hook_table.h (hard links), which
 * tells it the capability.
 *
 * libvirt runs every executable in qemu.d for every VM in every phase, so
 * this part decides with nothing but libc whether vmprep has anything to
 * do: it reads the domain XML from stdin and exits 0 at once when the XML
 * carries no urn:vmprep:1 profile and (for the phases that give things
 * back) no journal exists for the VM's UUID.  Only otherwise does it hand
 * the buffered XML, on a memfd as stdin, to the full handler, which loads
 * libxml2 and the rest.
 *
 * It never writes to stdout: in the migrate and restore phases libvirt
 * takes a hook's stdout as a replacement domain XML.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hook_table.h"
#include "common/readall.h"

#ifndef VMPREP_HOOK_FULL
#error "VMPREP_HOOK_FULL must name the full handler"
#endif

#define MAX_XML (64u * 1024 * 1024)

static const HookName hooks[] = { VMPREP_HOOK_TABLE };
static const char *cap = "hook";

static void say(const char *a, const char *b, const char *c)
{
        /* stderr only; libvirt shows it when the hook fails */
        fprintf(stderr, "vmprep-%s: %s%s%s\n", cap, a, b ? b : "", c ? c : "");
}

/* The hook this binary runs as, from the last component of argv[0]
 * (libvirt runs each hook by its path in qemu.d; a symlink there keeps its
 * name): NN-vmprep-CAP, whatever NN (an administrator may reorder the
 * hooks).  A name with a suffix after CAP (NAME.dpkg-new while dpkg unpacks
 * the package, .dpkg-old, .bak) is a copy beside the hook, or one set
 * aside: *copy says so. */
static const HookName *hook_of(const char *argv0, int *copy)
{
        const char *base = strrchr(argv0, '/');
        base = base ? base + 1 : argv0;
        const char *c = strstr(base, "-vmprep-");
        if (!c)
                return NULL;
        c += strlen("-vmprep-");
        size_t n = strcspn(c, ".");
        *copy = c[n] != '\0';
        for (size_t i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++)
                if (strlen(hooks[i].cap) == n && strncmp(c, hooks[i].cap, n) == 0)
                        return &hooks[i];
        return NULL;
}

/* The domain's <uuid>, lowercased, or "" (the first <uuid> in libvirt's
 * live XML is the domain's: it follows <name>). */
static void find_uuid(const char *xml, char out[37])
{
        const char *p = strstr(xml, "<uuid>");
        size_t n = 0;

        out[0] = '\0';
        if (!p)
                return;
        p += 6;
        while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
                p++;
        for (; n < 36; p++, n++) {
                char c = *p;
                if (c >= 'A' && c <= 'F')
                        c = (char) (c - 'A' + 'a');
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-'))
                        break;
                out[n] = c;
        }
        out[n] = '\0';
        if (n != 36)
                out[0] = '\0';
}

static int journal_exists(const char *uuid)
{
        char path[4096];
        struct stat st;
        const char *root = "";

#ifdef VMPREP_TEST_BUILD
        root = getenv("VMPREP_ROOT");
        if (!root)
                root = "";
#endif
        snprintf(path, sizeof(path), "%s/run/vmprep/%s.%s.journal", root, uuid, cap);
        return lstat(path, &st) == 0;
}

/* Is op one of the space-separated words of phases? */
static int phase_wanted(const char *phases, const char *op)
{
        size_t n = strlen(op);
        for (const char *p = phases; n > 0 && (p = strstr(p, op)); p += n)
                if ((p == phases || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
                        return 1;
        return 0;
}

int main(int argc, char **argv)
{
        const char *op = argc > 2 ? argv[2] : "";
        size_t len = 0;
        char uuid[37];
        int copy = 0;
        const HookName *h = hook_of(argc > 0 ? argv[0] : "", &copy);

        if (!h) {
                /* a name without -vmprep-CAP: which capability is unknown,
                 * so a start is refused rather than run unprepared */
                fprintf(stderr, "vmprep: this hook is installed as '%s', which names none of vmprep's capabilities (",
                        argc > 0 ? argv[0] : "");
                for (size_t i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++)
                        fprintf(stderr, "%s%s", i ? ", " : "", hooks[i].file);
                fprintf(stderr, "); reinstall vmprep\n");
                return strcmp(op, "prepare") == 0 ? 1 : 0;
        }
        if (copy)
                return 0; /* libvirt runs the hook itself too: once is what the VM gets */
        cap = h->cap;

        /* Phases this capability does nothing in (start, started, ...) cost a
         * bare exec even for tagged VMs.  restore is never listed; migrate
         * is, to check the destination (the handler prints nothing on
         * stdout either: libvirt would take it as a replacement XML). */
        if (!phase_wanted(h->phases, op))
                return 0;

        char *xml = read_all_fd(STDIN_FILENO, MAX_XML, &len);
        if (!xml) {
                say("out of memory reading the domain XML", NULL, NULL);
                return strcmp(op, "prepare") == 0 ? 1 : 0;
        }

        int tagged = memmem(xml, len, "urn:vmprep:1", 12) != NULL;
        if (!tagged) {
                /* untagged while running, or a crashed start: a journal still counts */
                find_uuid(xml, uuid);
                if (!uuid[0] || !journal_exists(uuid)) {
                        free(xml);
                        return 0;
                }
        }

        int fd = memfd_create("vmprep-domain-xml", MFD_CLOEXEC);
        if (fd < 0) {
                say("cannot create a memfd: ", strerror(errno), NULL);
                return strcmp(op, "prepare") == 0 ? 1 : 0;
        }
        for (size_t off = 0; off < len;) {
                ssize_t w = write(fd, xml + off, len - off);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0) {
                        say("cannot buffer the domain XML: ", strerror(errno), NULL);
                        return strcmp(op, "prepare") == 0 ? 1 : 0;
                }
                off += (size_t) w;
        }
        free(xml);
        if (lseek(fd, 0, SEEK_SET) < 0 || dup2(fd, STDIN_FILENO) < 0) {
                say("cannot pass on the domain XML: ", strerror(errno), NULL);
                return strcmp(op, "prepare") == 0 ? 1 : 0;
        }
        close(fd);

        char *args[8] = { (char *) "vmprep-hook", (char *) cap };
        for (int i = 1; i < argc && i <= 4; i++)
                args[i + 1] = argv[i];
        args[argc < 5 ? argc + 1 : 6] = NULL;
        execv(VMPREP_HOOK_FULL, args);
        say("cannot run " VMPREP_HOOK_FULL ": ", strerror(errno), NULL);
        return strcmp(op, "prepare") == 0 ? 1 : 0;
}
