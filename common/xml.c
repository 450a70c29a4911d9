/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "xml.h"

#include "sysfs.h"

#include <errno.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void xml_silent(void *ctx, const char *msg, ...)
{
        (void) ctx;
        (void) msg;
}

xmlDocPtr xml_parse(const char *buf, size_t len, const char *what, char *err, size_t errlen)
{
        xmlDocPtr doc;

        xmlSetGenericErrorFunc(NULL, xml_silent);
        if (len > XML_MAX_BYTES) {
                snprintf(err, errlen, "%s is %zu bytes, more than the %u vmprep reads", what, len,
                         XML_MAX_BYTES);
                return NULL;
        }
        if (len == 0) {
                snprintf(err, errlen, "%s is empty", what);
                return NULL;
        }
        xmlResetLastError();
        /* XML_PARSE_HUGE: libvirt hands the hook whatever domain it accepted,
         * and libxml2 >= 2.11 otherwise refuses a text node over 10 MB (a
         * large <description>, a <metadata> blob of another tool) — that
         * would fail the VM's start for a part vmprep never reads.  The
         * document itself stays bounded by XML_MAX_BYTES above, and entities
         * are never substituted, so lifting the per-node limits lets no
         * input grow past what was read. */
        doc = xmlReadMemory(buf, (int) len, what, NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_HUGE);
        if (!doc) {
                const xmlError *e = xmlGetLastError();
                char msg[256] = "unknown error";
                if (e && e->message) {
                        snprintf(msg, sizeof(msg), "%s", e->message);
                        size_t n = strlen(msg);
                        while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
                                msg[--n] = '\0';
                }
                snprintf(err, errlen, "%s is not well-formed XML (line %d: %s)", what,
                         e ? e->line : 0, msg);
                return NULL;
        }
        return doc;
}

xmlXPathObjectPtr xml_xpath(xmlXPathContextPtr ctx, xmlNodePtr node, const char *expr)
{
        ctx->node = node;
        return xmlXPathEvalExpression((const xmlChar *) expr, ctx);
}

size_t xml_count(xmlXPathObjectPtr obj)
{
        if (!obj || obj->type != XPATH_NODESET || !obj->nodesetval)
                return 0;
        return (size_t) obj->nodesetval->nodeNr;
}

xmlNodePtr xml_item(xmlXPathObjectPtr obj, size_t i)
{
        return obj->nodesetval->nodeTab[i];
}

xmlNodePtr xml_first(xmlXPathContextPtr ctx, xmlNodePtr node, const char *expr)
{
        xmlXPathObjectPtr obj = xml_xpath(ctx, node, expr);
        xmlNodePtr n = xml_count(obj) > 0 ? xml_item(obj, 0) : NULL;
        xmlXPathFreeObject(obj);
        return n;
}

char *xml_attr(xmlNodePtr node, const char *name)
{
        xmlChar *v = xmlGetNoNsProp(node, (const xmlChar *) name);
        if (!v)
                return NULL;
        char *s = strdup((const char *) v);
        xmlFree(v);
        return s;
}

char *xml_text(xmlNodePtr node)
{
        xmlChar *v = xmlNodeGetContent(node);
        if (!v)
                return strdup("");
        const char *s = (const char *) v;
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
                s++;
        size_t n = strlen(s);
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
                n--;
        char *out = strndup(s, n);
        xmlFree(v);
        return out;
}

void xml_freep(char **p)
{
        free(*p);
        *p = NULL;
}

int xml_pci_address(xmlNodePtr node, PciAddress *ret, char *err, size_t errlen)
{
        static const char *const parts[] = { "domain", "bus", "slot", "function" };
        static const uint64_t max[] = { 0xffffffff, 0xff, 0x1f, 7 };
        uint64_t v[4] = { 0 };

        for (size_t i = 0; i < 4; i++) {
                _cleanup_xmlstr_ char *s = xml_attr(node, parts[i]);
                if (!s) {
                        if (i == 0)
                                continue;
                        snprintf(err, errlen, " has no %s attribute", parts[i]);
                        return -EINVAL;
                }
                if (parse_u64_c(s, max[i], &v[i]) < 0) {
                        snprintf(err, errlen, " %s='%s'>: not a PCI %s number (0x0-0x%llx)", parts[i], s, parts[i],
                                 (unsigned long long) max[i]);
                        return -EINVAL;
                }
        }
        ret->domain = (uint32_t) v[0];
        ret->bus = (uint8_t) v[1];
        ret->slot = (uint8_t) v[2];
        ret->function = (uint8_t) v[3];
        return 0;
}

xmlDocPtr xml_parse_file(const char *path, char *err, size_t errlen)
{
        char *text = NULL;
        size_t len = 0;
        int r = sysfs_read_alloc(path, XML_MAX_BYTES, &text, &len);
        if (r < 0) {
                snprintf(err, errlen, "cannot read %s: %s", path, strerror(-r));
                return NULL;
        }
        xmlDocPtr doc = xml_parse(text, len, path, err, errlen);
        free(text);
        return doc;
}
