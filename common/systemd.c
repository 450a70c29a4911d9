/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "systemd.h"

#include "parse.h"
#include "sysfs.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool systemd_running(void)
{
        return sysfs_exists("/run/systemd/system");
}

#ifdef VMPREP_TEST_BUILD

static int unit_file(const char *unit, char *buf, size_t size)
{
        if (!name_is_valid(unit))
                return -EINVAL;
        snprintf(buf, size, "/run/systemd/fake-units/%s/AllowedCPUs", unit);
        return 0;
}

int systemd_unit_get_allowed_cpus(const char *unit, char *buf, size_t size)
{
        char path[256];
        int r = unit_file(unit, path, sizeof(path));
        if (r < 0)
                return r;
        r = sysfs_read(path, buf, size);
        return r < 0 ? r : 0;
}

int systemd_unit_set_allowed_cpus(const char *unit, const char *list)
{
        char path[256];
        int r = unit_file(unit, path, sizeof(path));
        if (r < 0)
                return r;
        if (!sysfs_exists(path))
                return -ENOENT; /* "Unit system.slice not loaded" */
        return sysfs_write(path, list);
}

#elif defined(HAVE_SDBUS)

#include <systemd/sd-bus.h>

#define SD_DEST "org.freedesktop.systemd1"
#define SD_PATH "/org/freedesktop/systemd1"

static int bus_open(sd_bus **ret)
{
        return sd_bus_open_system(ret);
}

static const char *unit_interface(const char *unit)
{
        size_t n = strlen(unit);
        if (n > 6 && strcmp(unit + n - 6, ".scope") == 0)
                return "org.freedesktop.systemd1.Scope";
        if (n > 8 && strcmp(unit + n - 8, ".service") == 0)
                return "org.freedesktop.systemd1.Service";
        return "org.freedesktop.systemd1.Slice";
}

int systemd_unit_get_allowed_cpus(const char *unit, char *buf, size_t size)
{
        sd_bus *bus = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        char *path = NULL;
        const void *bytes = NULL;
        size_t n = 0;
        CpuSet set;
        int r;

        r = bus_open(&bus);
        if (r < 0)
                return r;
        r = sd_bus_path_encode(SD_PATH "/unit", unit, &path);
        if (r < 0)
                goto out;
        r = sd_bus_get_property(bus, SD_DEST, path, unit_interface(unit), "AllowedCPUs", &error, &reply, "ay");
        if (r < 0)
                goto out;
        r = sd_bus_message_read_array(reply, 'y', &bytes, &n);
        if (r < 0)
                goto out;
        cpuset_clear(&set);
        for (size_t i = 0; i < n && i * 8 < CPUSET_MAX; i++)
                for (unsigned b = 0; b < 8; b++)
                        if (((const uint8_t *) bytes)[i] & (1u << b))
                                cpuset_set(&set, (unsigned) (i * 8 + b));
        r = cpuset_format(&set, buf, size);
out:
        sd_bus_message_unref(reply);
        sd_bus_error_free(&error);
        free(path);
        sd_bus_flush_close_unref(bus);
        return r;
}

int systemd_unit_set_allowed_cpus(const char *unit, const char *list)
{
        sd_bus *bus = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *m = NULL, *reply = NULL;
        uint8_t bytes[CPUSET_MAX / 8];
        size_t n = 0;
        CpuSet set;
        int r;
        if (sysfs_dry_run())
                return 0; /* vmprep plan: no D-Bus call */

        cpuset_clear(&set);
        if (*list && cpuset_parse(list, &set) < 0)
                return -EINVAL;
        memset(bytes, 0, sizeof(bytes));
        for (int c = cpuset_next(&set, 0); c >= 0; c = cpuset_next(&set, (unsigned) c + 1)) {
                bytes[c / 8] |= (uint8_t) (1u << (c % 8));
                n = (size_t) c / 8 + 1; /* an empty array resets AllowedCPUs= */
        }
        r = bus_open(&bus);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_call(bus, &m, SD_DEST, SD_PATH, "org.freedesktop.systemd1.Manager",
                                           "SetUnitProperties");
        if (r >= 0)
                r = sd_bus_message_append(m, "sb", unit, 1);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(sv)");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'r', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", "AllowedCPUs");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', "ay");
        if (r >= 0)
                r = sd_bus_message_append_array(m, 'y', bytes, n);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_call(bus, m, 0, &error, &reply);
        sd_bus_message_unref(reply);
        sd_bus_message_unref(m);
        sd_bus_error_free(&error);
        sd_bus_flush_close_unref(bus);
        return r < 0 ? r : 0;
}

#else

int systemd_unit_get_allowed_cpus(const char *unit, char *buf, size_t size)
{
        (void) unit;
        (void) buf;
        (void) size;
        return -EOPNOTSUPP; /* built without libsystemd */
}

int systemd_unit_set_allowed_cpus(const char *unit, const char *list)
{
        (void) unit;
        (void) list;
        return -EOPNOTSUPP;
}

#endif
