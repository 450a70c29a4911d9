/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "test.h"

#include "common/machine_name.h"

#include <errno.h>

static const char *name_of(int id, const char *name)
{
        static char buf[128];
        if (machine_name(id, name, buf, sizeof(buf)) < 0)
                return "(error)";
        return buf;
}

/* libvirt's own table: tests/virsystemdtest.c, TEST_MACHINE (the cases with
 * no embed root), same in libvirt 9.0 and 11.x. */
TEST(machine_name_matches_libvirts_own_examples)
{
        CHECK_STR(name_of(1, "demo"), "qemu-1-demo");
        CHECK_STR(name_of(2, "demo-name"), "qemu-2-demo-name");
        CHECK_STR(name_of(3, "demo!name"), "qemu-3-demoname");
        CHECK_STR(name_of(4, ".demo"), "qemu-4-demo");
        CHECK_STR(name_of(5, "bull\U0001f4a9"), "qemu-5-bull");
        CHECK_STR(name_of(6, "demo..name"), "qemu-6-demo.name");
        CHECK_STR(name_of(7, "12345678901234567890123456789012345678901234567890123456789"),
                  "qemu-7-123456789012345678901234567890123456789012345678901234567");
        CHECK_STR(name_of(8, "123456789012345678901234567890123456789012345678901234567890"),
                  "qemu-8-123456789012345678901234567890123456789012345678901234567");
        CHECK_STR(name_of(100, "kstest-network-device-default-httpks_(c9eed63e-981e-48ec-acdc-56b3f8c5f678)"),
                  "qemu-100-kstest-network-device-default-httpksc9eed63e-981e-48ec");
        CHECK_STR(name_of(10, "kstest-network-device-default-httpks_(c9eed63e-981e-48ec--cdc-56b3f8c5f678)"),
                  "qemu-10-kstest-network-device-default-httpksc9eed63e-981e-48ec-c");
        CHECK_STR(name_of(11, "demo.-.test."), "qemu-11-demo.test");
        CHECK_STR(name_of(1, "|.-m"), "qemu-1-m");
        CHECK_STR(name_of(1, "Auto-esx7.0-rhel7.9-special-characters~!@#$%^&*_=+,?><:;|.\"[]()`\\-m"),
                  "qemu-1-Auto-esx7.0-rhel7.9-special-characters.m");
}

/* The names of the partition tests, each checked against Debian 12's
 * libvirt 9.0 (virDomainDriverGenerateMachineName called from libvirt.so). */
TEST(machine_name_of_names_users_write)
{
        CHECK_STR(name_of(7, "win10_rt"), "qemu-7-win10rt");
        CHECK_STR(name_of(7, "rt_vm.1"), "qemu-7-rtvm.1");
        CHECK_STR(name_of(7, "my vm"), "qemu-7-myvm");
        CHECK_STR(name_of(7, "a_.b"), "qemu-7-a.b");
        CHECK_STR(name_of(7, "x._-y"), "qemu-7-x.y");
        CHECK_STR(name_of(7, "vm..1--2"), "qemu-7-vm.1-2");
        CHECK_STR(name_of(7, "\xc3\x9c" "n\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9 vm"), "qemu-7-ncdvm");
        CHECK_STR(name_of(7, "___"), "qemu-7"); /* the trim takes the prefix's '-' */
        CHECK_STR(name_of(7, "rt-vm."), "qemu-7-rt-vm");
        /* 70 characters: cut at 64 with the prefix, then the trailing '.' trimmed */
        CHECK_STR(name_of(7, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbb"),
                  "qemu-7-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        CHECK_STR(name_of(7, "b"), "qemu-7-b");
        CHECK_STR(name_of(7, "a-b"), "qemu-7-a-b");
}

TEST(machine_scope_escapes_dashes_as_systemd_does)
{
        char buf[128];
        /* libvirt's tests/virsystemdtest.c: TEST_SCOPE_NEW("qemu-3-demo", ...) */
        CHECK_INT(machine_scope("qemu-3-demo", buf, sizeof(buf)), 0);
        CHECK_STR(buf, "machine-qemu\\x2d3\\x2ddemo.scope");
        CHECK_INT(machine_scope("qemu-9-a-b", buf, sizeof(buf)), 0);
        CHECK_STR(buf, "machine-qemu\\x2d9\\x2da\\x2db.scope");
        CHECK_INT(machine_scope("qemu-7-rtvm.1", buf, sizeof(buf)), 0);
        CHECK_STR(buf, "machine-qemu\\x2d7\\x2drtvm.1.scope");
        CHECK_INT(machine_cgroup_manual("qemu-7-win10rt", buf, sizeof(buf)), 0);
        CHECK_STR(buf, "qemu-7-win10rt.libvirt-qemu");
        CHECK_INT(machine_scope("qemu-3-demo", buf, 20), -ENOBUFS);
        CHECK_INT(machine_name(-1, "demo", buf, sizeof(buf)), -EINVAL);
        CHECK_INT(machine_name(3, "demo", buf, 8), -ENOBUFS);
}

/* vmprep plan names the cgroup of a VM that does not run yet with ID for
 * its domain id, cut as libvirt cuts the name for a one-digit id. */
TEST(machine_name_pending_stands_ID_for_the_domain_id)
{
        char buf[128], scope[160];
        CHECK_INT(machine_name_pending("rt_vm.1", buf, sizeof(buf)), 0);
        CHECK_STR(buf, "qemu-ID-rtvm.1");
        CHECK_INT(machine_name_pending("___", buf, sizeof(buf)), 0);
        CHECK_STR(buf, "qemu-ID");
        CHECK_INT(machine_name_pending("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbb", buf, sizeof(buf)), 0);
        CHECK_STR(buf, "qemu-ID-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        CHECK_INT(machine_scope(buf, scope, sizeof(scope)), 0);
        CHECK_STR(scope, "machine-qemu\\x2dID\\x2daaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.scope");
        CHECK_INT(machine_name_pending("demo", buf, 10), -ENOBUFS);
}
