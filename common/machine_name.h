/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The names libvirt's QEMU driver gives a running domain's cgroup, so that
 * vmprep can name that cgroup exactly instead of guessing from the domain
 * name (which libvirt changes: "win10_rt" runs as "qemu-3-win10rt").
 *
 * Facts from libvirt (src/hypervisor/domain_driver.c,
 * virDomainDriverGenerateMachineName and virDomainMachineNameAppendValid;
 * the same rules in 9.0, checked against Debian 12's libvirt.so, and 11.x),
 * and systemd's unit name escaping (libvirt's virSystemdMakeScopeName,
 * systemd's unit_name_escape):
 *
 *   machine name   "qemu-" ID "-" NAME', where NAME' keeps only ASCII
 *                  letters, digits, '-' and '.'; a '-' or '.' is kept only
 *                  right after a kept letter or digit (so runs collapse to
 *                  their first and a leading one goes); characters stop
 *                  being added once the whole name has 64; then trailing
 *                  '-' and '.' are trimmed (of the whole: "qemu-3-" + "___"
 *                  is "qemu-3").
 *   systemd        machine.slice/"machine-" ESC(machine name) ".scope" with
 *                  '-' escaped as "\x2d" (the machine name holds nothing
 *                  else that needs escaping), the QEMU threads below it in
 *                  libvirt/{emulator,vcpuN,iothreadN}.
 *   no systemd     machine/machine name ".libvirt-qemu"/{emulator,vcpuN}.
 */
#pragma once

#include <stddef.h>

/* libvirt's machine name of the running domain NAME with domain id ID
 * (>= 0) into buf.  Returns 0, -EINVAL for a negative id, -ENOBUFS. */
int machine_name(int id, const char *name, char *buf, size_t size);

/* The machine name of NAME before it runs, for `vmprep plan`: "qemu-ID-"
 * and NAME' as libvirt cuts it for a one-digit id (ID stands for the id
 * libvirt gives the domain at start).  Returns 0 or -ENOBUFS. */
int machine_name_pending(const char *name, char *buf, size_t size);

/* The systemd scope unit machined makes for a machine name:
 * "machine-qemu\x2d3\x2dwin10rt.scope".  Returns 0 or -ENOBUFS. */
int machine_scope(const char *machine, char *buf, size_t size);

/* The directory libvirt makes without systemd: "qemu-3-win10rt.libvirt-qemu".
 * Returns 0 or -ENOBUFS. */
int machine_cgroup_manual(const char *machine, char *buf, size_t size);
