/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * systemd's view of a unit's CPUs: AllowedCPUs= on a slice or scope,
 * changed at runtime only (SetUnitProperties with runtime=true, the D-Bus
 * call behind `systemctl set-property --runtime`), never through a
 * systemctl subprocess.  systemd owns the cgroup tree on such hosts, so
 * vmprep changes units through systemd rather than their cgroup files.
 *
 * Production: sd-bus from libsystemd (built when pkg-config finds it).
 * Test builds: a double that keeps each unit's value in the fake tree at
 * /run/systemd/fake-units/UNIT/AllowedCPUs, through the gateway.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Is systemd the service manager (/run/systemd/system exists)? */
bool systemd_running(void);
/* The unit's AllowedCPUs= as a CPU list, "" when unset. */
int systemd_unit_get_allowed_cpus(const char *unit, char *buf, size_t size);
/* Set it for the runtime; "" resets it to unset. */
int systemd_unit_set_allowed_cpus(const char *unit, const char *list);
