/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The hook executables: one static binary (hooks/fast.c) installed under
 * each of these names, which libvirt runs in this (byte) order; the name
 * says the capability, and the libvirt operations it acts on (the fast
 * path exits at once in the others).  Pure data, for the libc-only front:
 * the Makefile reads the names from here, and a unit test holds the
 * operations to the capability table (common/capabilities.c): prepare,
 * started where the capability has one, release, reconnect, migrate.
 */
#pragma once

typedef struct HookName {
        const char *file;       /* the name in /etc/libvirt/hooks/qemu.d */
        const char *cap;        /* the capability (common/capabilities.c) */
        const char *phases;     /* the operations it acts on, space-separated */
} HookName;

#define VMPREP_HOOK_TABLE                                                                   \
        { "10-vmprep-vfio", "vfio", "prepare release reconnect migrate" },                 \
        { "20-vmprep-hugepages", "hugepages", "prepare started release reconnect migrate" }, \
        { "30-vmprep-cpus", "cpus", "prepare started release reconnect migrate" },         \
        { "40-vmprep-tune", "tune", "prepare release reconnect migrate" },
