/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The libvirt client side of the vmprep command. */
#include "cli.h"

#include "common/log.h"
#include "common/profile.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdlib.h>
#include <string.h>

static void quiet(void *data, virErrorPtr e)
{
        (void) data;
        (void) e;
}

static virConnectPtr connect_to(const CliOptions *o)
{
        virSetErrorFunc(NULL, quiet);
        virConnectPtr c = virConnectOpen(o->uri);
        if (!c)
                log_msg(LOG_LEVEL_ERROR, "cannot connect to libvirt at %s: %s", o->uri, virGetLastErrorMessage());
        return c;
}

static virDomainPtr lookup(virConnectPtr c, const char *name)
{
        virDomainPtr d = virDomainLookupByName(c, name);
        if (!d)
                d = virDomainLookupByUUIDString(c, name);
        if (!d)
                log_msg(LOG_LEVEL_ERROR, "no domain '%s' in libvirt", name);
        return d;
}

/* Connect and find the domain; EXIT_LIBVIRT (said) when either fails. */
static int open_domain(const CliOptions *o, const char *name, virConnectPtr *c, virDomainPtr *d)
{
        *c = connect_to(o);
        if (!*c)
                return EXIT_LIBVIRT;
        *d = lookup(*c, name);
        if (!*d) {
                virConnectClose(*c);
                return EXIT_LIBVIRT;
        }
        return EXIT_OK;
}

int virt_domain_xml(const CliOptions *o, const char *name, bool inactive, char **ret)
{
        virConnectPtr c;
        virDomainPtr d;
        if (open_domain(o, name, &c, &d) != EXIT_OK)
                return EXIT_LIBVIRT;
        char *xml = virDomainGetXMLDesc(d, inactive ? VIR_DOMAIN_XML_INACTIVE : 0);
        int r = EXIT_OK;
        if (!xml) {
                log_msg(LOG_LEVEL_ERROR, "cannot read the XML of %s: %s", name, virGetLastErrorMessage());
                r = EXIT_LIBVIRT;
        }
        *ret = xml;
        virDomainFree(d);
        virConnectClose(c);
        return r;
}

int virt_set_metadata(const CliOptions *o, const char *name, const char *xml, bool live, bool config)
{
        virConnectPtr c;
        virDomainPtr d;
        if (open_domain(o, name, &c, &d) != EXIT_OK)
                return EXIT_LIBVIRT;
        unsigned flags = 0;
        if (live)
                flags |= VIR_DOMAIN_AFFECT_LIVE;
        if (config)
                flags |= VIR_DOMAIN_AFFECT_CONFIG;
        if (!live && !config)
                flags = virDomainIsActive(d) == 1 ? VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG
                                                  : VIR_DOMAIN_AFFECT_CONFIG;
        int r = virDomainSetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT, xml, xml ? "vmprep" : NULL, PROFILE_NS, flags);
        if (r < 0)
                log_msg(LOG_LEVEL_ERROR, "cannot %s the profile of %s: %s", xml ? "write" : "remove", name,
                        virGetLastErrorMessage());
        virDomainFree(d);
        virConnectClose(c);
        return r < 0 ? EXIT_FAIL : EXIT_OK;
}

int virt_domain_active(const CliOptions *o, const char *name)
{
        virConnectPtr c;
        virDomainPtr d;
        if (open_domain(o, name, &c, &d) != EXIT_OK)
                return -1;
        int r = virDomainIsActive(d);
        virDomainFree(d);
        virConnectClose(c);
        return r;
}

int virt_running_uuids(const CliOptions *o, char **ret)
{
        virSetErrorFunc(NULL, quiet);
        virConnectPtr c = virConnectOpen(o->uri);
        if (!c)
                return EXIT_LIBVIRT;
        virDomainPtr *doms = NULL;
        int n = virConnectListAllDomains(c, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
        if (n < 0) {
                virConnectClose(c);
                return EXIT_LIBVIRT;
        }
        char *out = calloc((size_t) n + 1, VIR_UUID_STRING_BUFLEN + 1);
        for (int i = 0; i < n; i++) {
                char u[VIR_UUID_STRING_BUFLEN];
                if (out && virDomainGetUUIDString(doms[i], u) == 0) {
                        strcat(out, u);
                        strcat(out, " ");
                }
                virDomainFree(doms[i]);
        }
        free(doms);
        virConnectClose(c);
        *ret = out;
        return out ? EXIT_OK : EXIT_FAIL;
}

int virt_define_xml(const CliOptions *o, const char *xml)
{
        virConnectPtr c = connect_to(o);
        if (!c)
                return EXIT_LIBVIRT;
        virDomainPtr d = virDomainDefineXML(c, xml);
        if (!d)
                log_msg(LOG_LEVEL_ERROR, "cannot define the domain: %s", virGetLastErrorMessage());
        else
                virDomainFree(d);
        virConnectClose(c);
        return d ? EXIT_OK : EXIT_FAIL;
}

int virt_defined_xmls(const CliOptions *o, char ***ret, size_t *n)
{
        virSetErrorFunc(NULL, quiet);
        *ret = NULL;
        *n = 0;
        virConnectPtr c = virConnectOpen(o->uri);
        if (!c)
                return EXIT_LIBVIRT;
        virDomainPtr *doms = NULL;
        int k = virConnectListAllDomains(c, &doms, VIR_CONNECT_LIST_DOMAINS_PERSISTENT);
        if (k < 0) {
                virConnectClose(c);
                return EXIT_LIBVIRT;
        }
        char **out = calloc((size_t) k + 1, sizeof(*out));
        for (int i = 0; i < k; i++) {
                if (out) {
                        char *x = virDomainGetXMLDesc(doms[i], VIR_DOMAIN_XML_INACTIVE);
                        if (x)
                                out[(*n)++] = x;
                }
                virDomainFree(doms[i]);
        }
        free(doms);
        virConnectClose(c);
        *ret = out;
        return out ? EXIT_OK : EXIT_FAIL;
}
