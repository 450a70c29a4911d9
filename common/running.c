/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "running.h"

#include "sysfs.h"
#include "xml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void vm_clear(RunningVm *vm)
{
        free(vm->name);
        domain_free(vm->domain);
        memset(vm, 0, sizeof(*vm));
}

/* The <domain> inside <domstatus>, serialised on its own so that the one
 * domain reader (domain_parse) reads it as it reads a hook's stdin. */
static int inner_domain(xmlDocPtr status, xmlNodePtr dom, Domain **ret, char *err, size_t errlen)
{
        xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
        if (!doc)
                return -ENOMEM;
        xmlNodePtr copy = xmlDocCopyNode(dom, doc, 1);
        if (!copy) {
                xmlFreeDoc(doc);
                return -ENOMEM;
        }
        xmlDocSetRootElement(doc, copy);
        (void) status; /* xmlDocCopyNode carries the namespaces the copy uses */
        xmlChar *buf = NULL;
        int len = 0;
        xmlDocDumpMemory(doc, &buf, &len);
        xmlFreeDoc(doc);
        if (!buf)
                return -ENOMEM;
        int r = domain_parse((const char *) buf, (size_t) len, ret, err, errlen);
        xmlFree(buf);
        return r;
}

/* Fill vm from one status file; 1 when it is a running VM, 0 when not. */
static int read_status(const char *file, RunningVm *vm)
{
        char path[512], err[256] = "";
        int found = 0;

        snprintf(path, sizeof(path), RUNNING_STATUS_DIR "/%s", file);
        xmlDocPtr doc = xml_parse_file(path, err, sizeof(err));
        if (!doc)
                return 0;
        xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
        xmlNodePtr st = ctx ? xml_first(ctx, NULL, "/domstatus") : NULL;
        xmlNodePtr dom = ctx ? xml_first(ctx, NULL, "/domstatus/domain") : NULL;
        _cleanup_xmlstr_ char *pid = st ? xml_attr(st, "pid") : NULL;
        uint64_t p;
        char proc[64];

        if (!dom || !pid || parse_u64(pid, 1, INT32_MAX, &p) < 0)
                goto out;
        snprintf(proc, sizeof(proc), "/proc/%llu", (unsigned long long) p);
        if (!sysfs_exists(proc))
                goto out;
        vm->pid = (pid_t) p;
        vm->id = -1;
        if (inner_domain(doc, dom, &vm->domain, vm->err, sizeof(vm->err)) == 0) {
                vm->name = strdup(vm->domain->name);
                memcpy(vm->uuid, vm->domain->uuid, sizeof(vm->uuid));
                vm->id = vm->domain->id;
        } else {
                /* still a running VM: name and uuid straight from the file */
                xmlNodePtr n = xml_first(ctx, NULL, "/domstatus/domain/name");
                xmlNodePtr u = xml_first(ctx, NULL, "/domstatus/domain/uuid");
                _cleanup_xmlstr_ char *name = n ? xml_text(n) : NULL;
                _cleanup_xmlstr_ char *uuid = u ? xml_text(u) : NULL;
                size_t fl = strlen(file);
                vm->name = name && *name ? strdup(name) : strndup(file, fl > 4 ? fl - 4 : fl);
                if (uuid && uuid_parse(uuid, vm->uuid) < 0)
                        vm->uuid[0] = '\0';
                if (!vm->err[0])
                        snprintf(vm->err, sizeof(vm->err), "cannot read its domain XML");
        }
        found = vm->name ? 1 : 0;
        if (!found)
                vm_clear(vm);
out:
        xmlXPathFreeContext(ctx);
        xmlFreeDoc(doc);
        return found;
}

int running_vms(const char *skip_uuid, RunningVm **ret, size_t *n)
{
        char **names = NULL;
        size_t n_names = 0, count = 0;
        RunningVm *vms = NULL;

        *ret = NULL;
        *n = 0;
        int r = sysfs_list(RUNNING_STATUS_DIR, &names, &n_names);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (n_names) {
                vms = calloc(n_names, sizeof(*vms));
                if (!vms) {
                        sysfs_list_free(names, n_names);
                        return -ENOMEM;
                }
        }
        for (size_t i = 0; i < n_names; i++) {
                size_t l = strlen(names[i]);
                if (l < 5 || names[i][0] == '.' || strcmp(names[i] + l - 4, ".xml") != 0)
                        continue;
                RunningVm *vm = &vms[count];
                if (read_status(names[i], vm) != 1)
                        continue;
                if (skip_uuid && *skip_uuid && strcmp(vm->uuid, skip_uuid) == 0) {
                        vm_clear(vm);
                        continue;
                }
                count++;
        }
        sysfs_list_free(names, n_names);
        if (!count) {
                free(vms);
                vms = NULL;
        }
        *ret = vms;
        *n = count;
        return 0;
}

void running_vms_free(RunningVm *vms, size_t n)
{
        if (!vms)
                return;
        for (size_t i = 0; i < n; i++)
                vm_clear(&vms[i]);
        free(vms);
}
