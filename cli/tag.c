/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmprep tag, vmprep untag: the profile element, written through libvirt.
 *
 * tag edits the element the domain already has (what it cannot express on
 * its command line — <vmprep:device>, <vmprep:sriov>, hand-written children
 * — stays as it is) unless --replace, builds it with libxml2 from names the
 * profile grammar knows, and checks the result as the hooks will: the merged
 * profile and every capability's plan against the domain on this host.  A
 * domain that would not start is not written unless --force.
 */
#include "cli.h"

#include "common/plan.h"
#include "common/xml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TAG_USAGE "VM PROFILE [ELEMENT.ATTR=VALUE...] [--pin] [--live] [--config] [--replace] [--force]"

typedef struct Override {
        char elem[32];
        char attr[32];
        const char *value;
} Override;

typedef struct TagArgs {
        const char *vm, *use;
        Override ov[32];
        size_t n_ov;
        bool live, config, replace, force, pin;
} TagArgs;

/* ELEMENT.ATTR=VALUE, with both names checked against the grammar. */
static int parse_override(const char *a, Override *ov)
{
        char err[512];
        const char *dot = strchr(a, '.'), *eq = strchr(a, '=');
        if (!dot || !eq || eq < dot || dot == a || eq == dot + 1 || (size_t) (dot - a) >= sizeof(ov->elem) ||
            (size_t) (eq - dot - 1) >= sizeof(ov->attr)) {
                fprintf(stderr, "vmprep tag: '%s' is not ELEMENT.ATTRIBUTE=VALUE (like hugepages.size=1G)\n", a);
                return EXIT_USAGE;
        }
        snprintf(ov->elem, sizeof(ov->elem), "%.*s", (int) (dot - a), a);
        snprintf(ov->attr, sizeof(ov->attr), "%.*s", (int) (eq - dot - 1), dot + 1);
        ov->value = eq + 1;
        if (profile_check_override(ov->elem, ov->attr, err, sizeof(err)) < 0) {
                fprintf(stderr, "vmprep tag: %s: %s\n", a, err);
                return EXIT_USAGE;
        }
        return EXIT_OK;
}

static int tag_args(int argc, char **argv, TagArgs *t)
{
        memset(t, 0, sizeof(*t));
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (!strcmp(a, "--live"))
                        t->live = true;
                else if (!strcmp(a, "--config"))
                        t->config = true;
                else if (!strcmp(a, "--replace"))
                        t->replace = true;
                else if (!strcmp(a, "--force"))
                        t->force = true;
                else if (!strcmp(a, "--pin"))
                        t->pin = true;
                else if (a[0] == '-' && a[1])
                        return cli_unknown_option("tag", a);
                else if (!t->vm)
                        t->vm = a;
                else if (!t->use)
                        t->use = a;
                else if (t->n_ov == sizeof(t->ov) / sizeof(t->ov[0])) {
                        fprintf(stderr, "vmprep tag: too many ELEMENT.ATTR=VALUE arguments (at most %zu)\n",
                                t->n_ov);
                        return EXIT_USAGE;
                } else {
                        int r = parse_override(a, &t->ov[t->n_ov]);
                        if (r != EXIT_OK)
                                return r;
                        t->n_ov++;
                }
        }
        if (!t->vm || !t->use) {
                fprintf(stderr, "Usage: vmprep tag " TAG_USAGE "\n"
                                "  PROFILE: a named profile (gaming, realtime, nfv, database, ai-training, or one in\n"
                                "  /etc/vmprep/profiles), or 'custom' for none; e.g. vmprep tag win10 gaming hugepages.compact=no\n");
                return EXIT_USAGE;
        }
        return EXIT_OK;
}

/* The domain's <vmprep:profile> element, or NULL. */
static xmlNodePtr find_profile(xmlDocPtr doc)
{
        xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
        if (!ctx)
                return NULL;
        xmlNodePtr n = xml_first(ctx, NULL,
                                 "/domain/metadata/*[local-name()='profile' and namespace-uri()='" PROFILE_NS "']");
        xmlXPathFreeContext(ctx);
        return n;
}

/* First child element of parent in the profile namespace named name. */
static xmlNodePtr child_named(xmlNodePtr parent, const char *name)
{
        for (xmlNodePtr c = parent->children; c; c = c->next)
                if (c->type == XML_ELEMENT_NODE && c->ns && !xmlStrcmp(c->ns->href, BAD_CAST PROFILE_NS) &&
                    !xmlStrcmp(c->name, BAD_CAST name))
                        return c;
        return NULL;
}

/*
 * The new profile element, in doc (the domain's document, so that it can
 * take the old element's place): a copy of the old one unless replace, with
 * use= and the overrides applied.
 */
static xmlNodePtr build_profile(xmlDocPtr doc, xmlNodePtr old, const TagArgs *t)
{
        xmlNodePtr p;
        xmlNsPtr ns;

        if (old && !t->replace) {
                p = xmlDocCopyNode(old, doc, 1);
                if (!p)
                        return NULL;
                ns = p->ns;
        } else {
                p = xmlNewDocNode(doc, NULL, BAD_CAST "profile", NULL);
                if (!p)
                        return NULL;
                ns = xmlNewNs(p, BAD_CAST PROFILE_NS, BAD_CAST "vmprep");
                xmlSetNs(p, ns);
        }
        if (!strcmp(t->use, "custom"))
                xmlUnsetProp(p, BAD_CAST "use");
        else
                xmlSetProp(p, BAD_CAST "use", BAD_CAST t->use);
        for (size_t i = 0; i < t->n_ov; i++) {
                xmlNodePtr e = child_named(p, t->ov[i].elem);
                if (!e)
                        e = xmlNewChild(p, ns, BAD_CAST t->ov[i].elem, NULL);
                /* xmlSetProp escapes the value; the names were checked */
                if (!e || !xmlSetProp(e, BAD_CAST t->ov[i].attr, BAD_CAST t->ov[i].value)) {
                        xmlFreeNode(p);
                        return NULL;
                }
        }
        return p;
}

/* Serialise node; malloc'd. */
static char *dump(xmlDocPtr doc, xmlNodePtr node)
{
        xmlBufferPtr b = xmlBufferCreate();
        if (!b)
                return NULL;
        char *s = NULL;
        if (xmlNodeDump(b, doc, node, 0, 0) >= 0)
                s = strdup((const char *) xmlBufferContent(b));
        xmlBufferFree(b);
        return s;
}

/* Drop the namespace from node and its descendants: libvirt puts the
 * element into urn:vmprep:1 itself (virDomainSetMetadata with a key) and
 * refuses one that declares it already. */
static void strip_ns(xmlNodePtr node)
{
        for (xmlNodePtr c = node; c; c = c->next) {
                if (c->type != XML_ELEMENT_NODE)
                        continue;
                c->ns = NULL;
                if (c->nsDef) {
                        xmlFreeNsList(c->nsDef);
                        c->nsDef = NULL;
                }
                strip_ns(c->children);
        }
}

/*
 * Does the domain, with this profile, pass what its prepare would check
 * here?  Prints the plan's failure (the capability's own message).
 */
static int check_domain(xmlDocPtr doc, const char *vm)
{
        xmlChar *buf = NULL;
        int len = 0;
        char err[2048];
        Domain *d = NULL;
        Profile *p = NULL;
        Plan plan = { 0 };

        xmlDocDumpMemory(doc, &buf, &len);
        if (!buf)
                return EXIT_FAIL;
        int r = domain_parse((const char *) buf, (size_t) len, &d, err, sizeof(err));
        xmlFree(buf);
        if (r < 0) {
                fprintf(stderr, "vmprep tag: %s: %s\n", vm, err);
                return EXIT_FAIL;
        }
        r = cli_plan_domain(d, &p, &plan);
        plan_free(&plan);
        profile_free(p);
        domain_free(d);
        return r;
}

int cmd_tag(const CliOptions *o, int argc, char **argv)
{
        TagArgs t;
        int r = tag_args(argc, argv, &t);
        if (r != EXIT_OK)
                return r;

        /* the definition it edits: the live one only for --live alone */
        char *text = NULL, err[2048];
        bool live_only = t.live && !t.config;
        if (t.pin && t.live) {
                fprintf(stderr, "vmprep tag: --pin writes the persistent definition (its pins take effect at the next "
                                "start); not with --live\n");
                return EXIT_USAGE;
        }
        if (t.pin && !t.config && virt_domain_active(o, t.vm) == 1) {
                fprintf(stderr, "vmprep tag: %s is running: --pin changes its definition; write it for the next start "
                                "with --config (or shut it down first)\n", t.vm);
                return EXIT_FAIL;
        }
        r = virt_domain_xml(o, t.vm, !live_only, &text);
        if (r != EXIT_OK)
                return r;
        xmlDocPtr doc = xml_parse(text, strlen(text), "the domain XML", err, sizeof(err));
        free(text);
        if (!doc) {
                fprintf(stderr, "vmprep tag: %s: %s\n", t.vm, err);
                return EXIT_FAIL;
        }
        xmlNodePtr old = find_profile(doc);
        xmlNodePtr np = build_profile(doc, old, &t);
        char *ns_xml = np ? dump(doc, np) : NULL;
        if (!ns_xml) {
                fprintf(stderr, "vmprep tag: out of memory\n");
                xmlFreeNode(np);
                xmlFreeDoc(doc);
                return EXIT_FAIL;
        }

        /* the profile alone: grammar, values, the named profile */
        Profile *p = NULL, *named = NULL;
        r = profile_parse_document(ns_xml, strlen(ns_xml), "the new profile", &p, err, sizeof(err));
        if (r == 0 && p->use)
                r = profile_load_named(p->use, &named, err, sizeof(err));
        profile_free(p);
        profile_free(named);
        if (r < 0) {
                fprintf(stderr, "vmprep tag: %s\n", err);
                goto fail;
        }

        /* the domain with it, as its prepare would see it on this host */
        xmlNodePtr plain = xmlCopyNode(np, 1);
        if (old) {
                xmlReplaceNode(old, np);
                xmlFreeNode(old);
        } else {
                xmlNodePtr root = xmlDocGetRootElement(doc);
                xmlNodePtr md = NULL;
                for (xmlNodePtr c = root->children; c && !md; c = c->next)
                        if (c->type == XML_ELEMENT_NODE && !c->ns && !xmlStrcmp(c->name, BAD_CAST "metadata"))
                                md = c;
                if (!md)
                        md = xmlNewChild(root, NULL, BAD_CAST "metadata", NULL);
                xmlAddChild(md, np);
        }
        np = NULL;
        /* --pin: the pins vmprep chooses for the domain with this profile */
        if (t.pin && cli_pin_doc(o, doc, t.vm, stdout) != EXIT_OK) {
                fprintf(stderr, "vmprep tag: %s: nothing was written\n", t.vm);
                xmlFreeNode(plain);
                goto fail;
        }
        if (check_domain(doc, t.vm) != EXIT_OK) {
                if (!t.force) {
                        fprintf(stderr, "vmprep tag: %s would not start with this profile (above); nothing was "
                                        "written. Fix the domain, or write it anyway with --force.\n", t.vm);
                        xmlFreeNode(plain);
                        goto fail;
                }
                fprintf(stderr, "vmprep tag: %s would not start with this profile (above); written anyway "
                                "(--force)\n", t.vm);
        }

        strip_ns(plain);
        char *plain_xml = plain ? dump(NULL, plain) : NULL;
        xmlFreeNode(plain);
        if (t.pin) {
                /* profile and pins in one definition */
                xmlChar *all = NULL;
                int n = 0;
                xmlDocDumpMemory(doc, &all, &n);
                r = all ? virt_define_xml(o, (const char *) all) : EXIT_FAIL;
                xmlFree(all);
        } else {
                r = plain_xml ? virt_set_metadata(o, t.vm, plain_xml, t.live, t.config) : EXIT_FAIL;
        }
        free(plain_xml);
        if (r == EXIT_OK) {
                printf("%s: %s\n", t.vm, ns_xml);
                if (old && !t.replace)
                        printf("%s: kept what the profile had besides (--replace starts afresh)\n", t.vm);
                if (virt_domain_active(o, t.vm) == 1 && !live_only)
                        printf("%s runs: the profile takes effect at its next start\n", t.vm);
        }
        free(ns_xml);
        xmlFreeDoc(doc);
        return r;
fail:
        free(ns_xml);
        xmlFreeNode(np);
        xmlFreeDoc(doc);
        return EXIT_FAIL;
}

int cmd_untag(const CliOptions *o, int argc, char **argv)
{
        bool live = false, config = false;
        const char *vm = NULL;
        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--live")) {
                        live = true;
                } else if (!strcmp(argv[i], "--config")) {
                        config = true;
                } else if (argv[i][0] == '-' && argv[i][1]) {
                        return cli_unknown_option("untag", argv[i]);
                } else if (vm) {
                        fprintf(stderr, "vmprep untag: one VM at a time ('%s' and '%s')\n", vm, argv[i]);
                        return EXIT_USAGE;
                } else {
                        vm = argv[i];
                }
        }
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
