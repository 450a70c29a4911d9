/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "test.h"

#include "common/running.h"

#include <stdio.h>
#include <stdlib.h>

/* A libvirt status file as libvirtd 9.0 writes it (abridged), with QEMU's pid
 * alive (a /proc/PID directory in the tree) or not. */
static void status_file(const char *file, const char *name, const char *uuid, int pid, bool alive,
                        const char *extra)
{
        char path[256], text[4096];
        snprintf(path, sizeof(path), "/run/libvirt/qemu/%s", file);
        snprintf(text, sizeof(text),
                 "<!--\nWARNING: THIS IS AN AUTO-GENERATED FILE.\n-->\n"
                 "<domstatus state='running' reason='booted' pid='%d'>\n"
                 "  <monitor path='/var/lib/libvirt/qemu/domain-3-x/monitor.sock' type='unix'/>\n"
                 "  <vcpus>\n    <vcpu id='0' pid='%d'/>\n  </vcpus>\n"
                 "  <domain type='kvm' id='7' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n"
                 "    <name>%s</name>\n    <uuid>%s</uuid>\n"
                 "    <memory unit='KiB'>262144</memory>\n    <vcpu placement='static'>2</vcpu>\n"
                 "    <cputune><vcpupin vcpu='0' cpuset='1'/></cputune>\n%s"
                 "  </domain>\n</domstatus>\n",
                 pid, pid + 1, name, uuid, extra);
        tree_write(path, text);
        if (alive) {
                snprintf(path, sizeof(path), "/proc/%d/stat", pid);
                tree_write(path, "x");
        }
}

TEST(running_vms_lists_live_status_files_and_skips_the_caller)
{
        tree_new();
        status_file("win10_rt.xml", "win10_rt", "11111111-2222-3333-4444-555555555555", 4242, true,
                    "    <devices><hostdev mode='subsystem' type='pci'><source>"
                    "<address domain='0x0000' bus='0x41' slot='0x00' function='0x0'/></source></hostdev></devices>\n");
        status_file("gone.xml", "gone", "22222222-2222-3333-4444-555555555555", 4343, false, "");
        status_file("self.xml", "self", "33333333-2222-3333-4444-555555555555", 4444, true, "");
        tree_write("/run/libvirt/qemu/win10_rt.pid", "4242");

        RunningVm *v = NULL;
        size_t n = 0;
        CHECK_INT(running_vms("33333333-2222-3333-4444-555555555555", &v, &n), 0);
        CHECK_INT(n, 1);
        CHECK_STR(v[0].name, "win10_rt");
        CHECK_STR(v[0].uuid, "11111111-2222-3333-4444-555555555555");
        CHECK_INT(v[0].pid, 4242);
        CHECK_INT(v[0].id, 7);
        CHECK(v[0].domain != NULL);
        CHECK_INT(v[0].domain->n_hostdevs, 1);
        CHECK_INT(v[0].domain->hostdevs[0].bus, 0x41);
        CHECK_INT(v[0].domain->n_vcpupins, 1);
        running_vms_free(v, n);

        CHECK_INT(running_vms(NULL, &v, &n), 0);
        CHECK_INT(n, 2);
        CHECK_STR(v[0].name, "self"); /* natural order of the file names */
        CHECK_STR(v[1].name, "win10_rt");
        running_vms_free(v, n);
        tree_free();
}

TEST(running_vms_keeps_a_vm_whose_xml_vmprep_rejects)
{
        tree_new();
        /* a second <vcpupin> value the reader refuses: still a running VM */
        status_file("odd.xml", "odd", "44444444-2222-3333-4444-555555555555", 5000, true,
                    "    <cputune><vcpupin vcpu='1' cpuset='banana'/></cputune>\n");
        RunningVm *v = NULL;
        size_t n = 0;
        CHECK_INT(running_vms(NULL, &v, &n), 0);
        CHECK_INT(n, 1);
        CHECK_STR(v[0].name, "odd");
        CHECK_STR(v[0].uuid, "44444444-2222-3333-4444-555555555555");
        CHECK(v[0].domain == NULL);
        CHECK_CONTAINS(v[0].err, "banana");
        running_vms_free(v, n);
        tree_free();
}

TEST(running_vms_is_empty_without_libvirt_status_directory)
{
        tree_new();
        RunningVm *v = (RunningVm *) 1;
        size_t n = 9;
        CHECK_INT(running_vms(NULL, &v, &n), 0);
        CHECK_INT(n, 0);
        CHECK(v == NULL);
        tree_free();
}
