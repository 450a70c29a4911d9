/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "display.h"

#include "log.h"
#include "parse.h"
#include "sysfs.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef VMPREP_TEST_BUILD
#include <systemd/sd-bus.h>
#endif

/* ---- the unit manager: systemd over D-Bus, or the test double ---- */

#ifdef VMPREP_TEST_BUILD

int display_unit_state(const char *unit, char *id, size_t idsize, char *state, size_t ssize)
{
        char path[256], buf[256], a[128], b[64];
        if (!name_is_valid(unit) && !service_name_is_valid(unit))
                return -EINVAL;
        snprintf(path, sizeof(path), "/.fake/systemd/units/%s", unit);
        int r = sysfs_read(path, buf, sizeof(buf));
        if (r == -ENOENT) {
                snprintf(id, idsize, "%s", unit);
                snprintf(state, ssize, "not-found");
                return 0;
        }
        if (r < 0)
                return r;
        if (sscanf(buf, "%127s %63s", a, b) != 2)
                return -EINVAL;
        snprintf(id, idsize, "%s", a);
        snprintf(state, ssize, "%s", b);
        return 0;
}

static int unit_call(const char *method, const char *unit)
{
        char path[64];
        snprintf(path, sizeof(path), "/.fake/systemd/%s", method);
        return sysfs_write(path, unit);
}

#else

int display_unit_state(const char *unit, char *id, size_t idsize, char *state, size_t ssize)
{
        sd_bus *bus = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *object;
        char *s = NULL, *i = NULL, *load = NULL;
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0)
                return r;
        /* LoadUnit, not GetUnit: an inactive unit may not be loaded */
        r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                               "org.freedesktop.systemd1.Manager", "LoadUnit", &error, &reply, "s", unit);
        if (r >= 0)
                r = sd_bus_message_read(reply, "o", &object);
        if (r >= 0)
                r = sd_bus_get_property_string(bus, "org.freedesktop.systemd1", object, "org.freedesktop.systemd1.Unit",
                                               "LoadState", &error, &load);
        if (r >= 0 && strcmp(load, "not-found") == 0) {
                snprintf(id, idsize, "%s", unit);
                snprintf(state, ssize, "not-found");
        } else {
                if (r >= 0)
                        r = sd_bus_get_property_string(bus, "org.freedesktop.systemd1", object,
                                                       "org.freedesktop.systemd1.Unit", "Id", &error, &i);
                if (r >= 0)
                        r = sd_bus_get_property_string(bus, "org.freedesktop.systemd1", object,
                                                       "org.freedesktop.systemd1.Unit", "ActiveState", &error, &s);
                if (r >= 0) {
                        snprintf(id, idsize, "%s", i);
                        snprintf(state, ssize, "%s", s);
                }
        }
        /* systemd's own words; the caller says what failed, or copes */
        if (r < 0 && sd_bus_error_is_set(&error))
                log_warning("systemd: %s: %s", unit, error.message);
        free(s);
        free(i);
        free(load);
        sd_bus_message_unref(reply);
        sd_bus_error_free(&error);
        sd_bus_flush_close_unref(bus);
        return r;
}

/* StopUnit / StartUnit with mode "replace": queues a job and returns. */
static int unit_call(const char *method, const char *unit)
{
        if (sysfs_dry_run())
                return 0; /* vmprep plan: no D-Bus call */
        sd_bus *bus = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int r = sd_bus_open_system(&bus);
        if (r < 0)
                return r;
        r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                               "org.freedesktop.systemd1.Manager", strcmp(method, "stop") == 0 ? "StopUnit" : "StartUnit",
                               &error, &reply, "ss", unit, "replace");
        if (r < 0 && sd_bus_error_is_set(&error)) /* systemd's own words; the caller says what failed */
                log_warning("systemd: %s %s: %s", method, unit, error.message);
        sd_bus_message_unref(reply);
        sd_bus_error_free(&error);
        sd_bus_flush_close_unref(bus);
        return r;
}

#endif

bool display_have_systemd(void)
{
        struct stat st;
        return sysfs_lstat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
}

static long elapsed_ms(const struct timespec *start)
{
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* Wait for the unit to reach one of the states (space separated). */
static int unit_wait(const char *unit, const char *states, long budget_ms, char *state, size_t ssize)
{
        struct timespec start, pause = { 0, 20 * 1000 * 1000 };
        char id[128];
        if (sysfs_dry_run()) {
                snprintf(state, ssize, "inactive"); /* vmprep plan: nothing was stopped */
                return 0;
        }
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
                int r = display_unit_state(unit, id, sizeof(id), state, ssize);
                if (r < 0)
                        return r;
                size_t n = strlen(state);
                for (const char *p = states; (p = strstr(p, state)); p += n)
                        if ((p == states || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
                                return 0;
                if (elapsed_ms(&start) > budget_ms)
                        return -ETIMEDOUT;
                nanosleep(&pause, NULL);
        }
}

/* ---- undo ---- */

int display_undo_unit(const JournalStep *s, const UndoContext *ctx)
{
        (void) ctx; /* the step alone says what to give back */
        const char *unit = s->path + strlen("/systemd/");
        char state[64];
        if (strncmp(s->path, "/systemd/", 9) != 0 || (!name_is_valid(unit) && !service_name_is_valid(unit))) {
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "journal step %u: '%s' is not a unit", s->seq, s->path);
        }
        int r = unit_call("start", unit);
        if (r < 0)
                return log_error_errno(r, "cannot start %s again", unit);
        /* StartUnit queues a job: give it a moment, but do not hold the stop of a VM hostage */
        if (unit_wait(unit, "active activating", 5000, state, sizeof(state)) < 0)
                log_warning("started %s again; it is %s", unit, state);
        log_info("started %s again", unit);
        return 0;
}

int display_undo_platform(const JournalStep *s, const UndoContext *ctx)
{
        (void) ctx; /* the step alone says what to give back */
        char path[600], drv[64];
        const char *dev = strrchr(s->path, '/');
        if (strncmp(s->path, "/sys/bus/platform/devices/", 26) != 0 || !dev || !name_is_valid(dev + 1) ||
            !name_is_valid(s->old)) {
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "journal step %u: '%s' '%s' is not a platform device binding", s->seq, s->path,
                                       s->old);
        }
        dev++;
        snprintf(path, sizeof(path), "%s/driver", s->path);
        char target[256];
        if (sysfs_readlink(path, target, sizeof(target)) > 0) {
                const char *b = strrchr(target, '/');
                snprintf(drv, sizeof(drv), "%.63s", b ? b + 1 : target);
                if (strcmp(drv, s->old) == 0)
                        return 0; /* never unbound, or already back */
        }
        snprintf(path, sizeof(path), "/sys/bus/platform/drivers/%s/bind", s->old);
        int r = sysfs_write(path, dev);
        if (r < 0)
                return log_error_errno(r, "cannot bind %s to %s again", dev, s->old);
        log_info("bound %s to %s again", dev, s->old);
        return 0;
}


/* ---- release the GPU ---- */

typedef int (*DirFn)(const char *name, void *data);

static int each_entry(const char *dir_path, DirFn fn, void *data)
{
        char **names = NULL;
        size_t n = 0;
        /* sorted, so that the journal and the messages are stable */
        int r = sysfs_list(dir_path, &names, &n);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return log_error_errno(r, "cannot list %s", dir_path);
        for (size_t i = 0; i < n && r >= 0; i++)
                if (names[i][0] != '.' && name_is_valid(names[i]))
                        r = fn(names[i], data);
        sysfs_list_free(names, n);
        return r < 0 ? r : 0;
}

bool display_fbcon_bound(char *which, size_t size)
{
        DIR *dir = sysfs_opendir("/sys/class/vtconsole");
        if (!dir)
                return false;
        bool found = false;
        struct dirent *de;
        while (!found && (de = readdir(dir))) {
                char path[300], name[128], bind[16];
                if (strncmp(de->d_name, "vtcon", 5) != 0 || !name_is_valid(de->d_name))
                        continue;
                snprintf(path, sizeof(path), "/sys/class/vtconsole/%s/name", de->d_name);
                if (sysfs_read(path, name, sizeof(name)) < 0 || !strstr(name, "frame buffer"))
                        continue;
                snprintf(path, sizeof(path), "/sys/class/vtconsole/%s/bind", de->d_name);
                if (sysfs_read(path, bind, sizeof(bind)) >= 0 && strcmp(bind, "1") == 0) {
                        snprintf(which, size, "%.32s", de->d_name);
                        found = true;
                }
        }
        closedir(dir);
        return found;
}

typedef struct Ctx {
        Journal *j;
} Ctx;

static int unbind_vtcon(const char *name, void *data)
{
        Ctx *c = data;
        char path[300], text[128], bind[16];
        unsigned seq;

        if (strncmp(name, "vtcon", 5) != 0)
                return 0;
        snprintf(path, sizeof(path), "/sys/class/vtconsole/%s/name", name);
        if (sysfs_read(path, text, sizeof(text)) < 0 || !strstr(text, "frame buffer"))
                return 0;
        snprintf(path, sizeof(path), "/sys/class/vtconsole/%s/bind", name);
        if (sysfs_read(path, bind, sizeof(bind)) < 0 || strcmp(bind, "1") != 0)
                return 0;
        journal_plan_why("single GPU: the framebuffer console %s lets go of the GPU", name);
        int r = journal_begin_set(c->j, "display/vtconsole", path, "1", "0", &seq);
        if (r < 0)
                return r;
        r = sysfs_write(path, "0");
        if (r < 0) {
                return log_error_errno(r, "cannot unbind the framebuffer console %s (%s)", name, text);
        }
        log_info("unbound the framebuffer console %s", name);
        return journal_done(c->j, NULL, seq, "0");
}

static int unbind_fb_device(const char *name, void *data)
{
        Ctx *c = data;
        static const char *const kinds[] = { "efi-framebuffer", "simple-framebuffer", "vesa-framebuffer" };
        char path[400], target[256], drv[64], devpath[300];
        unsigned seq;
        bool match = false;

        for (size_t i = 0; i < 3; i++)
                match |= strncmp(name, kinds[i], strlen(kinds[i])) == 0;
        if (!match)
                return 0;
        snprintf(devpath, sizeof(devpath), "/sys/bus/platform/devices/%s", name);
        snprintf(path, sizeof(path), "%s/driver", devpath);
        if (sysfs_readlink(path, target, sizeof(target)) <= 0)
                return 0; /* not bound */
        const char *b = strrchr(target, '/');
        snprintf(drv, sizeof(drv), "%.63s", b ? b + 1 : target);
        if (!name_is_valid(drv))
                return 0;
        journal_plan_why("single GPU: the boot framebuffer %s unbound from %s", name, drv);
        int r = journal_begin_custom(c->j, "platform", "display/framebuffer", devpath, drv, "", &seq);
        if (r < 0)
                return r;
        snprintf(path, sizeof(path), "/sys/bus/platform/drivers/%s/unbind", drv);
        r = sysfs_write(path, name);
        if (r < 0) {
                return log_error_errno(r, "cannot unbind the boot framebuffer %s from %s", name, drv);
        }
        log_info("unbound the boot framebuffer %s from %s", name, drv);
        return journal_done(c->j, NULL, seq, "");
}

int display_stop_unit(Journal *j, const char *unit, const char *resource, const char *label, const char *why)
{
        char id[128], state[64], upath[200];
        unsigned seq;
        int r = display_unit_state(unit, id, sizeof(id), state, sizeof(state));
        if (r < 0) {
                return log_error_errno(r, "cannot ask systemd about %s%s", label, unit);
        }
        if (strcmp(state, "active") != 0 && strcmp(state, "activating") != 0 && strcmp(state, "reloading") != 0)
                return 0; /* not running: nothing to stop, nothing to start again */
        if (!name_is_valid(id) && !service_name_is_valid(id))
                snprintf(id, sizeof(id), "%s", unit);
        snprintf(upath, sizeof(upath), "/systemd/%s", id);
        journal_plan_why("%s", why);
        r = journal_begin_custom(j, "unit", resource, upath, state, "inactive", &seq);
        if (r < 0)
                return r;
        r = unit_call("stop", id);
        if (r < 0) {
                return log_error_errno(r, "cannot stop %s%s", label, id);
        }
        /* StopUnit only queues a job */
        r = unit_wait(id, "inactive failed", DISPLAY_STOP_WAIT_MS, state, sizeof(state));
        if (r == -ETIMEDOUT)
                return log_error_errno(SYNTHETIC_ERRNO(ETIMEDOUT), "stopped %s%s, but it is still %s after %d s", label,
                                       id, state, DISPLAY_STOP_WAIT_MS / 1000);
        if (r < 0)
                return log_error_errno(r, "stopped %s%s, but cannot tell whether it stopped", label, id);
        log_info("stopped %s%s", label, id);
        return journal_done(j, NULL, seq, state);
}

int display_release_gpu(Journal *j, bool force)
{
        Ctx c = { j };
        char id[128], state[64];
        int r;

        if (!display_have_systemd()) {
                if (!force) {
                        return log_error_errno(SYNTHETIC_ERRNO(EPERM),
                                               "the GPU drives the host display, and this host does not run systemd "
                                               "(no /run/systemd/system), so vmprep cannot stop the display manager; "
                                               "stop it yourself before starting the VM and set force='yes', or set "
                                               "single-gpu='off'");
                }
                log_warning("no systemd: not stopping a display manager (force='yes'); freeing the consoles only");
        } else {
                r = display_unit_state(DISPLAY_MANAGER_UNIT, id, sizeof(id), state, sizeof(state));
                if (r < 0) {
                        return log_error_errno(r, "cannot ask systemd about " DISPLAY_MANAGER_UNIT);
                }
                if (!name_is_valid(id) && !service_name_is_valid(id))
                        snprintf(id, sizeof(id), DISPLAY_MANAGER_UNIT);
                char why[200];
                snprintf(why, sizeof(why), "single GPU: the display manager %s stopped over D-Bus (StopUnit)", id);
                r = display_stop_unit(j, id, "display/unit", "the display manager ", why);
                if (r < 0)
                        return r;
        }
        r = each_entry("/sys/class/vtconsole", unbind_vtcon, &c);
        if (r < 0)
                return r;
        return each_entry("/sys/bus/platform/devices", unbind_fb_device, &c);
}
