/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Small libxml2 helpers shared by the domain and profile readers: safe
 * parsing options, XPath node lists, attribute and text access.
 */
#pragma once

#include "parse.h"

#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <stdbool.h>
#include <stddef.h>

/* Largest document vmprep parses (a live domain XML is a few KiB). */
#define XML_MAX_BYTES (64u * 1024 * 1024)

/*
 * Parse from memory with no network, no DTD loading, no entity
 * substitution and no XInclude; libxml2 prints nothing.  On error returns
 * NULL and describes the problem in err.
 */
xmlDocPtr xml_parse(const char *buf, size_t len, const char *what, char *err, size_t errlen);

/* The same for a whole file read through the gateway (common/sysfs): a
 * libvirt status or network file.  NULL with err set when it does not
 * read or parse. */
xmlDocPtr xml_parse_file(const char *path, char *err, size_t errlen);

/* Evaluate expr relative to node; returns the node set (possibly empty) or
 * NULL on allocation failure.  Free with xmlXPathFreeObject. */
xmlXPathObjectPtr xml_xpath(xmlXPathContextPtr ctx, xmlNodePtr node, const char *expr);
size_t xml_count(xmlXPathObjectPtr obj);
xmlNodePtr xml_item(xmlXPathObjectPtr obj, size_t i);
/* First match of expr, or NULL. */
xmlNodePtr xml_first(xmlXPathContextPtr ctx, xmlNodePtr node, const char *expr);

/* Attribute without namespace as a malloc'd string (NULL when absent). */
char *xml_attr(xmlNodePtr node, const char *name);
/* Element text with leading/trailing blanks trimmed, malloc'd. */
char *xml_text(xmlNodePtr node);

/* A PCI <address domain= bus= slot= function=/> as libvirt writes it in
 * domain and network XML (numbers in C notation: 0x41, 65; domain may be
 * absent).  -EINVAL with err the rest of a message after "<address":
 * " has no bus attribute" or " bus='x'>: not a PCI bus number (0x0-0xff)". */
int xml_pci_address(xmlNodePtr node, PciAddress *ret, char *err, size_t errlen);

/* Free *p (for __attribute__((cleanup))). */
void xml_freep(char **p);
#define _cleanup_xmlstr_ __attribute__((cleanup(xml_freep)))
