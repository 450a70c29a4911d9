/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "vfio.h"

#include "display.h"
#include "hostuse.h"
#include "log.h"
#include "parse.h"
#include "pci.h"
#include "running.h"
#include "sriov.h"
#include "sysfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libkmod.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CAP "vfio"
#define STUB "vfio-pci"

/* ---- pure helpers ---- */

int vfio_origin_encode(const char *driver, const char *override, char *buf, size_t size)
{
        if (strchr(driver, '/'))
                return -EINVAL;
        int n = snprintf(buf, size, "%s/%s", driver, override);
        return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : 0;
}

int vfio_origin_decode(const char *s, char *driver, size_t dsize, char *override, size_t osize)
{
        const char *slash = strchr(s, '/');
        if (!slash || (size_t) (slash - s) >= dsize || strlen(slash + 1) >= osize)
                return -EINVAL;
        memcpy(driver, s, (size_t) (slash - s));
        driver[slash - s] = '\0';
        snprintf(override, osize, "%s", slash + 1);
        if (driver[0] && !name_is_valid(driver))
                return -EINVAL;
        return 0;
}

/* Is word one of the blank-separated words of list? */
static bool word_listed(const char *list, const char *word, size_t len)
{
        while (*list) {
                list += strspn(list, " \t\n");
                size_t n = strcspn(list, " \t\n");
                if (n && n == len && strncmp(list, word, len) == 0)
                        return true;
                list += n;
        }
        return false;
}

int vfio_reset_method_check(const char *want, const char *offered, char *why, size_t size)
{
        const char *w = want;
        if (strcmp(want, "default") == 0)
                return 0;
        while (*w) {
                w += strspn(w, " ");
                size_t n = strcspn(w, " ");
                if (!n)
                        break;
                if (n == 7 && strncmp(w, "default", 7) == 0) {
                        snprintf(why, size, "'default' stands alone (it gives the device back every method the "
                                 "kernel found for it)");
                        return -EINVAL;
                }
                if (word_listed(w + n, w, n)) {
                        snprintf(why, size, "it names %.*s twice", (int) n, w);
                        return -EINVAL;
                }
                if (!word_listed(offered, w, n)) {
                        snprintf(why, size, "the device does not offer %.*s; its reset_method lists %s", (int) n, w,
                                 offered[0] ? offered : "none (every method turned off)");
                        return -EINVAL;
                }
                w += n;
        }
        return 0;
}

/* ---- state of one device ---- */

typedef struct Target {
        PciDevice dev;
        bool direct;       /* named by the domain or the profile */
        bool force;        /* interlocks off for this one */
        char origin[96];   /* why it is moved, for messages */
        const char *reset; /* reset-method wanted (the profile's string), or NULL */
        char reset_origin[320]; /* the element that asks for it, for messages */
} Target;

typedef struct Targets {
        Target *t;
        size_t n;
} Targets;

static Target *targets_find(Targets *ts, const PciAddress *a)
{
        for (size_t i = 0; i < ts->n; i++)
                if (pci_address_equal(&ts->t[i].dev.addr, a))
                        return &ts->t[i];
        return NULL;
}

static int targets_add(Targets *ts, const PciDevice *dev, bool direct, bool force, const char *origin)
{
        Target *t = targets_find(ts, &dev->addr);
        if (t) {
                t->direct |= direct;
                t->force |= force;
                if (direct)
                        snprintf(t->origin, sizeof(t->origin), "%s", origin);
                return 0;
        }
        t = realloc(ts->t, (ts->n + 1) * sizeof(*t));
        if (!t)
                return -ENOMEM;
        ts->t = t;
        t = &ts->t[ts->n++];
        memset(t, 0, sizeof(*t));
        t->dev = *dev;
        t->direct = direct;
        t->force = force;
        snprintf(t->origin, sizeof(t->origin), "%s", origin);
        return 0;
}

static const char *class_name(uint32_t cls)
{
        switch (cls >> 16) {
        case 0x01: return "storage controller";
        case 0x02: return "network controller";
        case 0x03: return "display controller";
        case 0x04: return "multimedia device";
        case 0x06: return "bridge";
        case 0x0c: return (cls >> 8) == 0x0c03 ? "USB controller" : "serial bus controller";
        default: return "device";
        }
}

/* ---- the kernel side: bind, return ---- */

int vfio_undo_module(const JournalStep *s, const UndoContext *ctx);

static int write_bdf(const char *path, const char *bdf)
{
        return sysfs_write(path, bdf);
}

static int driver_path(const char *driver, const char *file, char *buf, size_t size)
{
        if (!name_is_valid(driver))
                return -EINVAL;
        snprintf(buf, size, "/sys/bus/pci/drivers/%s/%s", driver, file);
        return 0;
}

/*
 * Give a device back: the reverse of the bind, in the kernel's order —
 * driver_override back to what it was ("\n" clears it: a zero-length write
 * never reaches the kernel), unbind from vfio-pci, drivers_probe (which now
 * finds the native driver); if the probe picked nothing, bind the original
 * driver explicitly.  Returns 0 when the device is on its original driver
 * with its original override.
 */
int vfio_undo_bind(const JournalStep *s, const UndoContext *ctx)
{
        (void) ctx; /* the step alone says what to give back */
        static const char prefix[] = "/sys/bus/pci/devices/";
        char orig_drv[PCI_DRIVER_MAX], orig_ovr[PCI_DRIVER_MAX], path[256];
        PciAddress a;
        PciDevice dev;
        int r;

        if (strncmp(s->path, prefix, sizeof(prefix) - 1) != 0 ||
            pci_address_parse(s->path + sizeof(prefix) - 1, &a) < 0 ||
            vfio_origin_decode(s->old, orig_drv, sizeof(orig_drv), orig_ovr, sizeof(orig_ovr)) < 0) {
                log_error("journal step %u: '%s' '%s' is not a device binding", s->seq, s->path, s->old);
                return -VMPREP_EREPORTED;
        }
        r = pci_device_read(&a, &dev);
        if (r == -ENOENT) {
                log_warning("%s is gone (a VF removed with its PF's VFs?): nothing to give back", s->path);
                return 0;
        }
        if (r < 0)
                return log_error_errno(r, "cannot read %s", s->path);

        if (strcmp(dev.driver_override, orig_ovr) != 0) {
                pci_device_path(&a, "driver_override", path, sizeof(path));
                r = sysfs_write(path, orig_ovr[0] ? orig_ovr : "\n");
                if (r < 0)
                        return log_error_errno(r, "cannot give %s back: writing '%s' to %s", dev.bdf, orig_ovr, path);
        }
        if (strcmp(dev.driver, orig_drv) == 0)
                return 0; /* never moved (a crash before the unbind), or already back */
        if (dev.driver[0]) {
                driver_path(dev.driver, "unbind", path, sizeof(path));
                r = write_bdf(path, dev.bdf);
                if (r < 0)
                        return log_error_errno(r, "cannot give %s back to %s: unbinding it from %s", dev.bdf,
                                               orig_drv[0] ? orig_drv : "no driver", dev.driver);
        }
        if (orig_drv[0]) {
                r = write_bdf("/sys/bus/pci/drivers_probe", dev.bdf);
                if (r < 0)
                        log_warning_errno(r, "drivers_probe of %s", dev.bdf);
                char now[PCI_DRIVER_MAX];
                r = pci_device_driver(&a, now, sizeof(now));
                if (r == 0 && !now[0] && driver_path(orig_drv, "bind", path, sizeof(path)) == 0) {
                        r = write_bdf(path, dev.bdf);
                        if (r < 0)
                                return log_error_errno(r, "cannot give %s back to %s: its bind refused it", dev.bdf,
                                                       orig_drv);
                        r = pci_device_driver(&a, now, sizeof(now));
                }
                if (r < 0)
                        return log_error_errno(r, "cannot read the driver of %s", dev.bdf);
                if (strcmp(now, orig_drv) != 0) {
                        log_error("cannot give %s back to %s: it is on %s", dev.bdf, orig_drv, now[0] ? now : "no driver");
                        return -VMPREP_EREPORTED;
                }
        }
        log_info("gave %s back to %s", dev.bdf, orig_drv[0] ? orig_drv : "no driver (as it was)");
        return 0;
}

/*
 * pci_device_read, except in vmprep plan for a VF that the plan's SR-IOV
 * step re-creates: it does not exist yet (or will be replaced), so it is
 * read as it will come up: unbound with autoprobe off, on no group yet
 * (*fresh: the group is its own, as each VF's is).  With autoprobe on,
 * on the driver the kernel will pick (predict_vf_driver).
 */
/* vmprep plan: the driver a VF of pf will come up on with autoprobe on,
 * as the kernel picks it: the module whose PCI alias matches the VF's
 * modalias (the PF's sriov_vf_device, vendor, subsystem and class), looked
 * up in modules.alias through libkmod.  "" when that cannot be told. */
static void predict_vf_driver(const PciAddress *pf, char *drv, size_t size)
{
        char path[256], buf[32], alias[96];
        unsigned long vendor = 0, device = 0, sv = 0xffffffff, sd = 0xffffffff, cls = 0;
        const struct { const char *file; unsigned long *v; } f[] = {
                { "vendor", &vendor }, { "sriov_vf_device", &device }, { "subsystem_vendor", &sv },
                { "subsystem_device", &sd }, { "class", &cls },
        };

        drv[0] = '\0';
        for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
                pci_device_path(pf, f[i].file, path, sizeof(path));
                if (sysfs_read(path, buf, sizeof(buf)) < 0) {
                        if (i < 2)
                                return; /* no VF device ID (before Linux 5.6?): not known */
                        continue;
                }
                *f[i].v = strtoul(buf, NULL, 16);
        }
        snprintf(alias, sizeof(alias), "pci:v%08lXd%08lXsv%08lXsd%08lXbc%02lXsc%02lXi%02lX", vendor, device, sv, sd,
                 (cls >> 16) & 0xff, (cls >> 8) & 0xff, cls & 0xff);
        struct kmod_ctx *ctx = kmod_new(NULL, NULL);
        struct kmod_list *list = NULL;
        if (!ctx)
                return;
        kmod_load_resources(ctx);
        if (kmod_module_new_from_lookup(ctx, alias, &list) >= 0 && list) {
                struct kmod_module *mod = kmod_module_get_module(list);
                snprintf(drv, size, "%s", kmod_module_get_name(mod));
                kmod_module_unref(mod);
        }
        kmod_module_unref_list(list);
        kmod_unref(ctx);
}

static int device_read(const PciAddress *a, PciDevice *dev, bool *fresh)
{
        bool autoprobe = false;
        PciAddress pf;
        int r = pci_device_read(a, dev);
        *fresh = false;
        if (!sriov_planned_vf_of(a, &autoprobe, &pf))
                return r;
        if (r == -ENOENT) {
                memset(dev, 0, sizeof(*dev));
                dev->addr = *a;
                pci_address_format(a, dev->bdf);
                dev->class_ = 0x020000;
                dev->numa_node = -1;
                dev->sriov_totalvfs = -1;
                dev->is_vf = true;
                r = 0;
        }
        if (r == 0) {
                dev->driver[0] = dev->driver_override[0] = '\0';
                if (autoprobe)
                        predict_vf_driver(&pf, dev->driver, sizeof(dev->driver));
                dev->iommu_group = -1;
                *fresh = true;
        }
        return r;
}

/*
 * A device's reset_method back to what it listed before (the step's old
 * value; "" was every method turned off, which the kernel takes as an
 * empty write, and "\n" is how an empty write reaches it).  Nothing to do
 * when it already lists that (a crash before the write) or the device is
 * gone (a VF removed with its PF's VFs).
 */
int vfio_undo_reset(const JournalStep *s, const UndoContext *ctx)
{
        (void) ctx; /* the step alone says what to give back */
        static const char prefix[] = "/sys/bus/pci/devices/";
        const char *bdf = s->path + sizeof(prefix) - 1, *slash;
        char addr[PCI_ADDRESS_STRLEN + 1], path[256], now[256];
        PciAddress a;
        int r;

        if (strncmp(s->path, prefix, sizeof(prefix) - 1) != 0 || !(slash = strchr(bdf, '/')) ||
            strcmp(slash, "/reset_method") != 0 || (size_t) (slash - bdf) >= sizeof(addr)) {
                log_error("journal step %u: '%s' is not a device's reset_method", s->seq, s->path);
                return -VMPREP_EREPORTED;
        }
        snprintf(addr, sizeof(addr), "%.*s", (int) (slash - bdf), bdf);
        if (pci_address_parse(addr, &a) < 0) {
                log_error("journal step %u: '%s' is not a device's reset_method", s->seq, s->path);
                return -VMPREP_EREPORTED;
        }
        pci_device_path(&a, "reset_method", path, sizeof(path));
        r = sysfs_read(path, now, sizeof(now));
        if (r == -ENOENT) {
                log_warning("%s is gone (a VF removed with its PF's VFs?): no reset_method to give back", addr);
                return 0;
        }
        if (r < 0)
                return log_error_errno(r, "cannot read %s", path);
        if (strcmp(now, s->old) == 0)
                return 0;
        r = sysfs_write(path, s->old[0] ? s->old : "\n");
        if (r < 0)
                return log_error_errno(r, "cannot give %s its reset_method '%s' back", addr, s->old);
        r = sysfs_read(path, now, sizeof(now));
        if (r < 0)
                return log_error_errno(r, "cannot read %s", path);
        if (strcmp(now, s->old) != 0) {
                log_error("cannot give %s its reset_method '%s' back: it lists '%s'", addr, s->old, now);
                return -VMPREP_EREPORTED;
        }
        log_info("gave %s its reset_method '%s' back", addr, s->old[0] ? s->old : "(none)");
        return 0;
}

/*
 * Move one device to vfio-pci in the order libvirt and the kernel
 * documentation use: driver_override "vfio-pci", unbind from the current
 * driver, drivers_probe; then read the driver link back.  Its original
 * driver and override are journalled first.  Already on vfio-pci: nothing
 * done, nothing journalled.
 */
static int bind_one(Journal *j, const Target *t, char *err, size_t errlen)
{
        char path[256], old[2 * PCI_DRIVER_MAX + 2], now[PCI_DRIVER_MAX];
        PciDevice dev;
        unsigned seq;
        bool fresh;
        int r;

        r = device_read(&t->dev.addr, &dev, &fresh);
        if (r < 0) {
                snprintf(err, errlen, "cannot read %s: %s", t->dev.bdf, strerror(-r));
                return r;
        }
        if (strcmp(dev.driver, STUB) == 0) {
                log_info("%s is already on " STUB ": nothing to do", dev.bdf);
                return 0;
        }
        r = vfio_origin_encode(dev.driver, dev.driver_override, old, sizeof(old));
        if (r < 0)
                return r;
        char resource[64];
        snprintf(resource, sizeof(resource), "pci/%s", dev.bdf);
        pci_device_path(&dev.addr, NULL, path, sizeof(path));
        journal_plan_why("%s, %s: driver_override, %s%s%sdrivers_probe", class_name(dev.class_), t->origin,
                         dev.driver[0] ? "unbind from " : "", dev.driver, dev.driver[0] ? ", " : "");
        r = journal_begin_custom(j, "bind", resource, path, old, STUB, &seq);
        if (r < 0)
                return r;

        pci_device_path(&dev.addr, "driver_override", path, sizeof(path));
        r = sysfs_write(path, STUB);
        if (r < 0) {
                snprintf(err, errlen, "cannot bind %s to " STUB ": writing %s: %s", dev.bdf, path, strerror(-r));
                return r;
        }
        if (dev.driver[0]) {
                driver_path(dev.driver, "unbind", path, sizeof(path));
                r = write_bdf(path, dev.bdf);
                if (r < 0) {
                        snprintf(err, errlen, "cannot bind %s (%s, %s) to " STUB ": %s will not let it go (%s)",
                                 dev.bdf, class_name(dev.class_), t->origin, dev.driver, strerror(-r));
                        return r;
                }
        }
        r = write_bdf("/sys/bus/pci/drivers_probe", dev.bdf);
        if (r < 0) {
                snprintf(err, errlen, "cannot bind %s to " STUB ": drivers_probe: %s", dev.bdf, strerror(-r));
                return r;
        }
        r = pci_device_driver(&dev.addr, now, sizeof(now));
        if (journal_planning()) /* nothing was written: nothing to read back */
                snprintf(now, sizeof(now), STUB), r = 0;
        if (r < 0 || strcmp(now, STUB) != 0) {
                snprintf(err, errlen, "cannot bind %s to " STUB ": after drivers_probe it is on %s", dev.bdf,
                         r < 0 ? strerror(-r) : now[0] ? now : "no driver");
                return r < 0 ? r : -EIO;
        }
        r = journal_done(j, NULL, seq, STUB);
        if (r < 0)
                return r;
        log_info("bound %s (%s) to " STUB ", was on %s", dev.bdf, class_name(dev.class_),
                 dev.driver[0] ? dev.driver : "no driver");
        return 0;
}

/*
 * reset-method: write it to the device's reset_method, its old list
 * journalled first.  The file lists the methods the kernel tries when
 * vfio-pci resets the device, in order; a write names some of them, in the
 * order wanted, or "default" for every one the kernel found for it
 * (drivers/pci/pci.c, reset_method_store).  check_reset() has checked the
 * value against the list before anything was changed.  Already listing
 * exactly that: nothing done, nothing journalled ("default" is always
 * written: what the kernel found cannot be told from the file).
 */
static int set_reset_method(Journal *j, const Target *t, char *err, size_t errlen)
{
        char path[256], old[256], now[256], resource[64];
        bool autoprobe;
        unsigned seq;
        int r;

        if (!t->reset)
                return 0;
        pci_device_path(&t->dev.addr, "reset_method", path, sizeof(path));
        snprintf(resource, sizeof(resource), "pci/%s/reset_method", t->dev.bdf);
        r = sysfs_read(path, old, sizeof(old));
        /* vmprep plan: the VF its SR-IOV step creates is not there yet, and
         * neither is the list it will come up with: the plan shows '' */
        bool unborn = r == -ENOENT && sriov_planned_vf(&t->dev.addr, &autoprobe);
        if (unborn)
                old[0] = '\0', r = 0;
        if (r < 0) {
                snprintf(err, errlen, "cannot read %s: %s", path, strerror(-r));
                return r;
        }
        if (strcmp(t->reset, "default") != 0 && strcmp(old, t->reset) == 0) {
                log_info("%s already has reset_method '%s': nothing to do", t->dev.bdf, old);
                return journal_plan_keep(CAP, resource, path, old, "%s", t->reset_origin);
        }
        journal_plan_why("the reset methods vfio-pci may use on %s, in order (%s)%s", t->dev.bdf, t->reset_origin,
                         unborn ? "; the VF is not there yet: what it lists is read, and checked, once it is" : "");
        r = journal_begin_custom(j, "reset", resource, path, old, t->reset, &seq);
        if (r < 0)
                return r;
        r = sysfs_write(path, t->reset);
        if (r < 0) {
                snprintf(err, errlen, "cannot set the reset_method of %s to '%s' (%s): %s", t->dev.bdf, t->reset,
                         t->reset_origin, strerror(-r));
                return r;
        }
        if (journal_planning()) /* nothing was written: nothing to read back */
                snprintf(now, sizeof(now), "%s", t->reset), r = 0;
        else
                r = sysfs_read(path, now, sizeof(now));
        if (r < 0 || (strcmp(t->reset, "default") != 0 && strcmp(now, t->reset) != 0)) {
                snprintf(err, errlen, "cannot set the reset_method of %s to '%s' (%s): it lists %s%s%s after the "
                         "write", t->dev.bdf, t->reset, t->reset_origin, r < 0 ? "? (" : "'",
                         r < 0 ? strerror(-r) : now, r < 0 ? ")" : "'");
                return r < 0 ? r : -EIO;
        }
        r = journal_done(j, NULL, seq, now);
        if (r < 0)
                return r;
        log_info("set the reset_method of %s to '%s' (%s), was '%s'", t->dev.bdf, now, t->reset_origin, old);
        return 0;
}

/* modprobe.d's install/remove lines are shell commands, which libkmod
 * runs unless told not to: a hook (root, inside libvirtd's start path)
 * never runs them, but says so, since the line may do something the host
 * relies on (Debian's nvidia packages ship such lines). */
static void module_commands_note(struct kmod_module *mod, const char *asked, bool install)
{
        const char *cmd = install ? kmod_module_get_install_commands(mod) : kmod_module_get_remove_commands(mod);
        const char *name = kmod_module_get_name(mod);
        char normal[72];
        if (!cmd)
                return;
        snprintf(normal, sizeof(normal), "%.64s", asked);
        for (char *c = normal; *c; c++)
                if (*c == '-')
                        *c = '_';
        log_warning("modprobe.d has %s command for %s; vmprep %s the module without running it ('%s')",
                    install ? "an install" : "a remove", strcmp(normal, name) == 0 ? asked : name,
                    install ? "loads" : "unloads", cmd);
}

/*
 * Load a module with its dependencies, as modprobe would but without
 * running modprobe.d's install commands (KMOD_PROBE_IGNORE_COMMAND).  With
 * blacklist, a module modprobe.d blacklists is not loaded and the result
 * is MODULE_BLACKLISTED (> 0): the admin's choice, for the caller to
 * report.  Returns 0 or -errno.
 */
#define MODULE_BLACKLISTED 1
static int module_load(const char *name, bool blacklist)
{
        if (sysfs_dry_run())
                return 0; /* vmprep plan */
        struct kmod_ctx *ctx = kmod_new(NULL, NULL);
        struct kmod_list *list = NULL, *it;
        unsigned flags = KMOD_PROBE_IGNORE_COMMAND | (blacklist ? KMOD_PROBE_APPLY_BLACKLIST : 0);
        int r = -ENOENT;
        if (!ctx)
                return -ENOMEM;
        kmod_load_resources(ctx);
        r = kmod_module_new_from_lookup(ctx, name, &list);
        if (r >= 0 && !list)
                r = -ENOENT;
        kmod_list_foreach(it, list)
        {
                struct kmod_module *mod = kmod_module_get_module(it);
                struct kmod_list *deps = kmod_module_get_dependencies(mod), *d;
                kmod_list_foreach(d, deps)
                {
                        struct kmod_module *dep = kmod_module_get_module(d);
                        module_commands_note(dep, kmod_module_get_name(dep), true);
                        kmod_module_unref(dep);
                }
                kmod_module_unref_list(deps);
                module_commands_note(mod, name, true);
                r = kmod_module_probe_insert_module(mod, flags, NULL, NULL, NULL, NULL);
                kmod_module_unref(mod);
                if (r != 0)
                        break;
        }
        kmod_module_unref_list(list);
        kmod_unref(ctx);
        return r > 0 ? MODULE_BLACKLISTED : r;
}

/* rmmod without force: -EBUSY (or -EAGAIN) while anything uses it.
 * libkmod's remove is delete_module(2) alone: modprobe.d's remove
 * commands are the modprobe tool's, never run from here. */
static int module_unload(const char *name)
{
        if (sysfs_dry_run())
                return 0; /* vmprep plan */
        struct kmod_ctx *ctx = kmod_new(NULL, NULL);
        struct kmod_module *mod = NULL;
        if (!ctx)
                return -ENOMEM;
        int r = kmod_module_new_from_name(ctx, name, &mod);
        if (r == 0) {
                module_commands_note(mod, name, false);
                r = kmod_module_remove_module(mod, 0);
                kmod_module_unref(mod);
        }
        kmod_unref(ctx);
        return r > 0 ? -r : r;
}

/* /sys/module/NAME, with '-' read as '_' as the kernel does. */
static bool module_loaded(const char *name)
{
        char path[128], n[72];
        snprintf(n, sizeof(n), "%.64s", name);
        for (char *c = n; *c; c++)
                if (*c == '-')
                        *c = '_';
        snprintf(path, sizeof(path), "/sys/module/%s", n);
        return sysfs_exists(path);
}

int vfio_undo_module(const JournalStep *s, const UndoContext *ctx)
{
        (void) ctx; /* the step alone says what to give back */
        const char *name = s->path + strlen("/sys/module/");
        if (strncmp(s->path, "/sys/module/", 12) != 0 || !name_is_valid(name)) {
                log_error("journal step %u: '%s' is not a module", s->seq, s->path);
                return -VMPREP_EREPORTED;
        }
        if (module_loaded(name))
                return 0;
        /* it was loaded when vmprep unloaded it: a blacklist does not
         * apply to giving it back */
        int r = module_load(name, false);
        if (r < 0)
                return log_error_errno(r, "cannot load the module %s again", name);
        log_info("loaded the module %s again", name);
        return 0;
}

/* unload-modules='a,b,c': unloaded in that order once the devices have left
 * them; loaded again (in the reverse order) at release. */
static int unload_modules(Journal *j, const char *list, char *err, size_t errlen)
{
        char buf[512], *save = NULL;
        snprintf(buf, sizeof(buf), "%s", list);
        for (char *name = strtok_r(buf, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
                char path[128];
                unsigned seq;
                if (!name_is_valid(name) || !module_loaded(name))
                        continue;
                snprintf(path, sizeof(path), "/sys/module/%s", name);
                journal_plan_why("unload-modules='%s' (delete_module)", list);
                int r = journal_begin_custom(j, "module", "module", path, "loaded", "unloaded", &seq);
                if (r < 0)
                        return r;
                r = module_unload(name);
                if (r < 0) {
                        snprintf(err, errlen, "cannot unload the module %s (unload-modules='%s'): %s", name, list,
                                 strerror(-r));
                        return r;
                }
                log_info("unloaded the module %s", name);
                r = journal_done(j, NULL, seq, "unloaded");
                if (r < 0)
                        return r;
        }
        return 0;
}

/* vfio-pci's driver directory, loading the module when it is missing.
 * driver_override never loads a module by itself. */
static int ensure_stub_driver(char *err, size_t errlen)
{
        if (pci_driver_present(STUB))
                return 0;
        int r = module_load(STUB, true);
        if (r == MODULE_BLACKLISTED) {
                snprintf(err, errlen, "modprobe.d blacklists " STUB " ('blacklist vfio_pci'), and vmprep respects that: "
                         "nothing was bound; remove the blacklist line, or load " STUB " yourself (modprobe " STUB ")");
                return -EPERM;
        }
        if (r < 0) {
                snprintf(err, errlen, "the " STUB " driver is not loaded and loading it failed (%s); is the module "
                         "installed (CONFIG_VFIO_PCI)?", strerror(-r));
                return r;
        }
        if (journal_planning()) /* a plan loads nothing: no driver directory to wait for */
                return 0;
        for (int waited = 0; waited < 1000; waited += 10) {
                if (pci_driver_present(STUB)) {
                        log_info("loaded " STUB);
                        return 0;
                }
                struct timespec ts = { 0, 10 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        snprintf(err, errlen, "loaded " STUB ", but /sys/bus/pci/drivers/" STUB " did not appear");
        return -ENOENT;
}

/* ---- interlocks ---- */

void vfio_vm_name(const char *uuid, char *buf, size_t size)
{
        Journal *j = NULL;
        snprintf(buf, size, "%s", uuid);
        if (journal_open(uuid, CAP, NULL, false, &j) == 0) {
                if (j->name[0])
                        snprintf(buf, size, "%.100s (%s)", j->name, uuid);
                journal_close(j);
        }
}

/* What vmprep knows of the system services that may hold a device's
 * nodes, read when the first such holder is seen. */
typedef struct HolderPolicy {
        bool loaded;
        bool systemd;
        char dm_unit[128];          /* the display manager's unit ("gdm.service"), "" if none */
        char own_unit[96];          /* the service this hook runs in: libvirtd's */
        const char *stop_services;  /* stop-services=, or NULL */
} HolderPolicy;

typedef struct Settings {
        bool whole_group;
        bool force_all;
        const char *single_gpu; /* auto, on, off */
        HolderPolicy *holders;
} Settings;

static int check_holders(const PciDevice *dev, const char *origin, HolderPolicy *p);

/* A chipset function on a host driver that an IOMMU group shared with a
 * device to pass (Intel's PCH at 00:1f.x: LPC/eSPI with the watchdog and
 * GPIO, SMBus, SPI flash; a host bridge) would take along: what it is, or
 * NULL.  PCI class codes: base 0x06 bridges (0x0604 PCI-to-PCI aside,
 * handled as a bridge), 0x0c05 SMBus, 0x0c80 other serial bus. */
static const char *chipset_function(const PciDevice *dev)
{
        unsigned cls = dev->class_ >> 8;
        if (!dev->driver[0] || strcmp(dev->driver, STUB) == 0)
                return NULL;
        switch (cls) {
        case 0x0600: return "host bridge";
        case 0x0601: return "ISA bridge";
        case 0x0602: return "EISA bridge";
        case 0x0680: return "bridge";
        case 0x0c05: return "SMBus controller";
        case 0x0c80: return "serial bus controller";
        default: return NULL;
        }
}

/* Refuse devices the host is using.  defer_holders: the display manager
 * is stopped first (single-GPU), so open device nodes are looked for once
 * it is down, just before the devices move (free_device_nodes).  Returns 0
 * or -VMPREP_EREPORTED. */
static int check_interlocks(const Target *t, const Settings *set, const Ledger *l, const char *uuid,
                            const RunningVm *vms, size_t n_vms, bool defer_holders)
{
        char why[768] = "", holder[160];
        const PciDevice *dev = &t->dev;
        bool force = set->force_all || t->force;
        const char *hint = "";

        /* another running VM: never overridden by force */
        for (size_t i = 0; i < l->n_holds; i++) {
                char res[64];
                snprintf(res, sizeof(res), "pci/%s", dev->bdf);
                if (strcmp(l->holds[i].resource, res) == 0 && strcmp(l->holds[i].uuid, uuid) != 0) {
                        vfio_vm_name(l->holds[i].uuid, holder, sizeof(holder));
                        log_error("cannot pass %s (%s, %s) to this VM: the running VM %s holds it", dev->bdf,
                                  class_name(dev->class_), t->origin, holder);
                        return -VMPREP_EREPORTED;
                }
        }
        /* libvirt gives it to another VM, or a process has its /dev/vfio:
         * not overridden by force either */
        int used = sriov_device_user(uuid, l, dev, why, sizeof(why));
        if (used > 0) {
                log_error("cannot pass %s (%s, %s) to this VM: %s", dev->bdf, class_name(dev->class_), t->origin, why);
                return -VMPREP_EREPORTED;
        }
        if (used < 0)
                log_warning_errno(used, "cannot tell whether libvirt gives %s to another VM", dev->bdf);
        why[0] = '\0';
        if (strcmp(dev->driver, STUB) == 0)
                return 0; /* already the stub's: the host does not use it */
        /* a PF whose VFs others use: unbinding its driver removes them */
        if (dev->sriov_numvfs > 0 && dev->driver[0]) {
                char users[1024];
                int n = sriov_vfs_in_use(uuid, l, dev, users, sizeof(users));
                if (n != 0) {
                        log_error("cannot pass %s (%s, %s) to this VM: it is the PF of %d VFs, which unbinding %s "
                                  "removes, and %s", dev->bdf, class_name(dev->class_), t->origin, dev->sriov_numvfs,
                                  dev->driver, n > 0 ? users : "who uses them cannot be told");
                        return -VMPREP_EREPORTED;
                }
        }
        /* another running VM's disk or macvtap: not overridden by force either */
        if (hostuse_running_vm(dev->bdf, vms, n_vms, why, sizeof(why))) {
                log_error("cannot pass %s (%s, %s) to this VM: %s", dev->bdf, class_name(dev->class_), t->origin, why);
                return -VMPREP_EREPORTED;
        }

        const char *chipset = chipset_function(dev);
        if (t->direct && pci_device_is_bridge(dev)) {
                snprintf(why, sizeof(why), "it is a PCI bridge; the devices behind it are passed, not the bridge");
        } else if (chipset) {
                snprintf(why, sizeof(why), "it is a chipset function (%s, on %s) that the host needs (watchdog, GPIO, "
                         "sensors, firmware flash)", chipset, dev->driver);
        } else if (hostuse_mounted(dev->bdf, why, sizeof(why)) || hostuse_swap(dev->bdf, why, sizeof(why)) ||
                   hostuse_block_held(dev->bdf, why, sizeof(why)) || hostuse_network(dev->bdf, why, sizeof(why)) ||
                   hostuse_input(dev->bdf, why, sizeof(why))) {
                ;
        } else if (dev->sriov_numvfs > 0 && dev->driver[0]) {
                snprintf(why, sizeof(why), "it is the PF of %d VFs, which unbinding %s removes (none is in use now)",
                         dev->sriov_numvfs, dev->driver);
        } else if (dev->boot_vga && display_fbcon_bound(holder, sizeof(holder)) && strcmp(set->single_gpu, "off") == 0) {
                snprintf(why, sizeof(why), "it is the boot GPU and drives the framebuffer console (%s), and "
                         "single-gpu='off'", holder);
                hint = "; set single-gpu='auto' to have vmprep stop the display and free the console";
        }
        if (why[0] && !force) {
                log_error("refusing to bind %s (%s, %s) to " STUB ": %s%s; force='yes' on "
                          "<vmprep:device address='%s'/> passes it anyway", dev->bdf, class_name(dev->class_),
                          t->origin, why, hint, dev->bdf);
                return -VMPREP_EREPORTED;
        }
        if (why[0])
                log_warning("passing %s although %s (force='yes')", dev->bdf, why);

        return defer_holders ? 0 : check_holders(dev, t->origin, set->holders);
}

/*
 * Does the device offer the reset-method asked for?  Its reset_method
 * (Linux 5.15 and later) lists the methods the kernel will use for it; a
 * method it does not list, the kernel refuses (EINVAL).  Checked for every
 * device before anything is changed.  vmprep plan cannot check a VF its
 * SR-IOV step has yet to create: the hook checks it once it exists.
 */
static int check_reset(const Target *t)
{
        char path[256], offered[256], why[320];
        bool autoprobe;
        int r;

        if (!t->reset)
                return 0;
        pci_device_path(&t->dev.addr, "reset_method", path, sizeof(path));
        r = sysfs_read(path, offered, sizeof(offered));
        if (r == -ENOENT && sriov_planned_vf(&t->dev.addr, &autoprobe))
                return 0;
        if (r == -ENOENT) {
                log_error("cannot set the reset method of %s (%s, %s) to '%s' (%s): there is no %s; this kernel "
                          "lacks it (it came with Linux 5.15), or the device has no reset method at all",
                          t->dev.bdf, class_name(t->dev.class_), t->origin, t->reset, t->reset_origin, path);
                return -VMPREP_EREPORTED;
        }
        if (r < 0)
                return log_error_errno(r, "cannot read %s", path);
        if (vfio_reset_method_check(t->reset, offered, why, sizeof(why)) < 0) {
                log_error("cannot set the reset method of %s (%s, %s) to '%s' (%s): %s", t->dev.bdf,
                          class_name(t->dev.class_), t->origin, t->reset, t->reset_origin, why);
                return -VMPREP_EREPORTED;
        }
        return 0;
}

/* The other running VMs, whose disks and macvtaps the interlocks look
 * for.  Not knowing them is said, not fatal: libvirt still refuses a
 * device that QEMU holds open. */
static void running_load(const char *uuid, RunningVm **vms, size_t *n)
{
        int r = running_vms(uuid, vms, n);
        if (r < 0)
                log_warning_errno(r, "cannot list the running VMs in " RUNNING_STATUS_DIR ": their disks and "
                                  "<interface type='direct'> are not checked");
        for (size_t i = 0; i < *n; i++)
                if (!(*vms)[i].domain)
                        log_warning("cannot tell what the running VM %s uses (%s): its disks and <interface "
                                    "type='direct'> are not checked", (*vms)[i].name, (*vms)[i].err);
}

/* ---- processes holding the device nodes ---- */

/*
 * Never unbind a device whose nodes are open: the unbind blocks in the
 * kernel until the holder exits (seen with /dev/snd/controlC0), and
 * libvirtd with it.  force does not change that.
 *
 * A holder that runs in a system service (its cgroup is under
 * system.slice) is stopped instead, over D-Bus, for the VM's lifetime,
 * when vmprep may stop that service:
 *   - nvidia-persistenced.service always: all it does is hold /dev/nvidiaN
 *     open so that the driver keeps each GPU initialised between clients,
 *     which is moot for a GPU that leaves the driver; nothing else on the
 *     host depends on it, and without stopping it no NVIDIA GPU could ever
 *     be passed on a host that runs it (every distribution's driver
 *     package enables it);
 *   - any other service only when <vmprep:vfio stop-services=> names it:
 *     a service holding a GPU is usually doing work on it (an inference
 *     server, a miner, a compositor in a kiosk), and stopping that is the
 *     owner's decision, made once in the profile, not vmprep's guess;
 *   - never the display manager (single-gpu= decides about the display),
 *     libvirt itself (libvirtd, virtqemud, the service this hook runs in:
 *     stopping it would wait on this very hook) or systemd's and D-Bus's
 *     own services, whatever stop-services says.
 * Anything else holding the nodes (a user's application, a shell, a
 * process outside systemd) is refused by name and pid, as is every holder
 * on a host without systemd.  Each stop is journalled before it is made
 * (display.h's "unit" step, resource holder/UNIT), so release, and
 * reconcile after a crash, start the service again once the device is
 * back on its driver.
 */
#define PERSISTENCED_UNIT "nvidia-persistenced.service"

static void policy_load(HolderPolicy *p)
{
        char id[128], state[64], *text = NULL;
        if (p->loaded)
                return;
        p->loaded = true;
        p->systemd = display_have_systemd();
        if (p->systemd && display_unit_state(DISPLAY_MANAGER_UNIT, id, sizeof(id), state, sizeof(state)) == 0 &&
            strcmp(state, "not-found") != 0)
                snprintf(p->dm_unit, sizeof(p->dm_unit), "%s", id);
        if (sysfs_read_alloc("/proc/self/cgroup", 65536, &text, NULL) == 0) {
                hostuse_cgroup_service(text, p->own_unit, sizeof(p->own_unit));
                free(text);
        }
}

static bool list_has(const char *list, const char *name)
{
        size_t n = strlen(name);
        for (const char *c = list; c && *c;) {
                const char *comma = strchr(c, ',');
                size_t len = comma ? (size_t) (comma - c) : strlen(c);
                if (len == n && strncmp(c, name, n) == 0)
                        return true;
                c = comma ? comma + 1 : NULL;
        }
        return false;
}

/* Why vmprep does not stop the system service unit, which holds a
 * device's nodes: NULL when it does. */
static const char *unit_refusal(HolderPolicy *p, const char *unit)
{
        policy_load(p);
        if (!p->systemd)
                return "which vmprep cannot stop: this host does not run systemd (no /run/systemd/system)";
        if (!service_name_is_valid(unit))
                return "not a service name vmprep handles";
        if (p->dm_unit[0] && strcmp(unit, p->dm_unit) == 0)
                return "the display manager: single-gpu='on' stops it for the VM";
        if (strcmp(unit, "libvirtd.service") == 0 || strcmp(unit, "virtqemud.service") == 0 ||
            (p->own_unit[0] && strcmp(unit, p->own_unit) == 0))
                return "libvirt's own: vmprep never stops it";
        if (strcmp(unit, "dbus.service") == 0 || strcmp(unit, "dbus-broker.service") == 0 ||
            strncmp(unit, "systemd-", 8) == 0)
                return "part of systemd or D-Bus: vmprep never stops it";
        if (strcmp(unit, PERSISTENCED_UNIT) == 0 || list_has(p->stop_services, unit))
                return NULL;
        return "which vmprep stops only when <vmprep:vfio stop-services=> names it";
}

#define STOP_MAX 8
typedef struct UnitsToStop {
        char unit[STOP_MAX][96];
        char who[STOP_MAX][96]; /* the first holder seen in it: "nvidia-persiste (pid 1234)" */
        size_t n;
} UnitsToStop;

static bool units_has(const UnitsToStop *u, const char *unit)
{
        for (size_t i = 0; i < u->n; i++)
                if (strcmp(u->unit[i], unit) == 0)
                        return true;
        return false;
}

/*
 * The processes holding dev's nodes, sorted: those vmprep does not stop
 * into blocking ("python3 (pid 777), ollama (pid 555 of ollama.service,
 * which ...)"), the services it stops into stop.  Returns how many block,
 * or -errno.
 */
static int holders_sort(const PciDevice *dev, HolderPolicy *p, char *blocking, size_t size, UnitsToStop *stop)
{
        HostHolder *h = NULL;
        size_t n = 0, len = 0;
        int count = 0;

        blocking[0] = '\0';
        if (!dev->driver[0] || strcmp(dev->driver, STUB) == 0)
                return 0;
        int r = hostuse_holder_list(dev->bdf, &h, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                const char *no = h[i].unit[0] ? unit_refusal(p, h[i].unit) : NULL;
                if (h[i].unit[0] && !no && (units_has(stop, h[i].unit) || stop->n < STOP_MAX)) {
                        if (!units_has(stop, h[i].unit)) {
                                snprintf(stop->unit[stop->n], sizeof(stop->unit[0]), "%s", h[i].unit);
                                snprintf(stop->who[stop->n], sizeof(stop->who[0]), "%.60s (pid %llu)", h[i].comm,
                                         h[i].pid);
                                stop->n++;
                        }
                        continue;
                }
                if (len < size && !h[i].unit[0])
                        len += (size_t) snprintf(blocking + len, size - len, "%s%s (pid %llu)", count ? ", " : "",
                                                 h[i].comm, h[i].pid);
                else if (len < size)
                        len += (size_t) snprintf(blocking + len, size - len, "%s%s (pid %llu of %s, %s)",
                                                 count ? ", " : "", h[i].comm, h[i].pid, h[i].unit,
                                                 no ? no : "one service more than vmprep stops for one device");
                count++;
        }
        free(h);
        return count;
}

/* Refuse a device whose nodes a process holds that vmprep would not stop
 * (before anything is changed, when the display stays up). */
static int check_holders(const PciDevice *dev, const char *origin, HolderPolicy *p)
{
        char blocking[768];
        UnitsToStop stop = { .n = 0 };
        int r = holders_sort(dev, p, blocking, sizeof(blocking), &stop);
        if (r < 0)
                return log_error_errno(r, "cannot tell which processes hold the device nodes of %s", dev->bdf);
        if (r > 0) {
                log_error("refusing to unbind %s (%s, %s) from %s: its device nodes are open in %s; the unbind "
                          "would block until they close", dev->bdf, class_name(dev->class_), origin, dev->driver,
                          blocking);
                return -VMPREP_EREPORTED;
        }
        return 0;
}

/*
 * Just before the devices move (after the display went down): stop the
 * services holding their nodes that vmprep may stop, then look again:
 * whatever still holds them is refused by name.  vmprep plan stops
 * nothing, so it does not look again; and while the display manager it
 * would stop is still up, it does not refuse the holders that would go
 * with it.
 */
/* How long a holder may take to let go once the display manager is down. */
static long holders_wait_ms(void)
{
#ifdef VMPREP_TEST_BUILD
        const char *v = getenv("VMPREP_TEST_HOLDERS_WAIT_MS");
        if (v)
                return strtol(v, NULL, 10);
#endif
        return 15000;
}

static int free_device_nodes(Journal *j, const Targets *ts, const Settings *set, bool display, char *err,
                             size_t errlen)
{
        UnitsToStop stopped = { .n = 0 };
        char blocking[768], names[400] = "";
        int r;

        for (size_t i = 0; i < ts->n; i++) {
                const Target *t = &ts->t[i];
                UnitsToStop stop = { .n = 0 };
                r = holders_sort(&t->dev, set->holders, blocking, sizeof(blocking), &stop);
                /* The display manager is down, but the user's session (its
                 * PipeWire or WirePlumber on the HDMI audio, user@UID.service
                 * outliving the session by UserStopDelaySec, 10 s by
                 * default) may still be letting go: wait for it, bounded. */
                for (long waited = 0; r > 0 && stop.n == 0 && display && !journal_planning() &&
                                      waited < holders_wait_ms(); waited += 250) {
                        if (waited == 0)
                                log_info("waiting up to %.3g s for %s to close the device nodes of %s after the display "
                                         "manager stopped", holders_wait_ms() / 1000.0, blocking, t->dev.bdf);
                        nanosleep(&(struct timespec){ 0, 250 * 1000 * 1000 }, NULL);
                        r = holders_sort(&t->dev, set->holders, blocking, sizeof(blocking), &stop);
                }
                if (r < 0) {
                        snprintf(err, errlen, "cannot tell which processes hold the device nodes of %s: %s",
                                 t->dev.bdf, strerror(-r));
                        return r;
                }
                if (r > 0 && !(display && journal_planning())) {
                        char waited[200] = "";
                        if (display && stop.n == 0)
                                snprintf(waited, sizeof(waited), " %.3g s after the display manager stopped (a user "
                                         "session that outlives it: loginctl terminate-user)", holders_wait_ms() / 1000.0);
                        log_error("refusing to unbind %s (%s, %s) from %s: its device nodes are open in %s%s; the "
                                  "unbind would block until they close", t->dev.bdf, class_name(t->dev.class_),
                                  t->origin, t->dev.driver, blocking, waited);
                        return -VMPREP_EREPORTED;
                }
                for (size_t k = 0; k < stop.n; k++) {
                        char why[256], resource[128];
                        if (units_has(&stopped, stop.unit[k]))
                                continue;
                        /* (one that is not running, "deactivating" say, is
                         * not stopped, and is looked at again below) */
                        snprintf(why, sizeof(why), "%s holds the device nodes of %s: %s stopped over D-Bus "
                                 "(StopUnit) until release", stop.who[k], t->dev.bdf, stop.unit[k]);
                        snprintf(resource, sizeof(resource), "holder/%s", stop.unit[k]);
                        r = display_stop_unit(j, stop.unit[k], resource, "the system service ", why, err, errlen);
                        if (r < 0)
                                return r;
                        if (stopped.n < STOP_MAX) {
                                snprintf(stopped.unit[stopped.n], sizeof(stopped.unit[0]), "%s", stop.unit[k]);
                                size_t len = strlen(names);
                                snprintf(names + len, sizeof(names) - len, "%s%s", stopped.n ? ", " : "",
                                         stop.unit[k]);
                                stopped.n++;
                        }
                }
        }
        if (!stopped.n || journal_planning())
                return 0; /* no holder in a service: the first look was the last */
        for (size_t i = 0; i < ts->n; i++) {
                const Target *t = &ts->t[i];
                if (!t->dev.driver[0] || strcmp(t->dev.driver, STUB) == 0 ||
                    hostuse_holders(t->dev.bdf, blocking, sizeof(blocking)) == 0)
                        continue;
                log_error("refusing to unbind %s (%s, %s) from %s: its device nodes are still open in %s although "
                          "vmprep stopped %s; the unbind would block until they close", t->dev.bdf,
                          class_name(t->dev.class_), t->origin, t->dev.driver, blocking, names);
                return -VMPREP_EREPORTED;
        }
        return 0;
}

/* ---- prepare ---- */

static int add_request(Targets *ts, const PciAddress *a, bool force, const char *origin, const Settings *set)
{
        bool fresh;
        PciDevice dev;
        char bdf[PCI_ADDRESS_STRLEN];
        int r;

        pci_address_format(a, bdf);
        r = device_read(a, &dev, &fresh);
        if (r == 0 && fresh)
                return targets_add(ts, &dev, true, force, origin); /* a VF is alone in its group */
        if (r == -ENOENT) {
                log_error("%s names %s, which this host does not have (no /sys/bus/pci/devices/%s)", origin, bdf, bdf);
                return -VMPREP_EREPORTED;
        }
        if (r < 0)
                return log_error_errno(r, "cannot read PCI device %s", bdf);
        if (dev.iommu_group < 0) {
                log_error("%s (%s) has no IOMMU group: the IOMMU is off (intel_iommu=on / amd_iommu=on on the "
                          "kernel command line) or the firmware has it disabled", bdf, origin);
                return -VMPREP_EREPORTED;
        }
        r = targets_add(ts, &dev, true, force, origin);
        if (r < 0)
                return r;

        PciAddress *members = NULL;
        size_t n = 0;
        r = pci_group_members(dev.iommu_group, &members, &n);
        if (r < 0)
                return log_error_errno(r, "cannot list IOMMU group %d of %s", dev.iommu_group, bdf);
        for (size_t i = 0; i < n && r == 0; i++) {
                PciDevice m;
                if (pci_address_equal(&members[i], a))
                        continue;
                r = pci_device_read(&members[i], &m);
                if (r < 0) {
                        char mb[PCI_ADDRESS_STRLEN];
                        pci_address_format(&members[i], mb);
                        r = log_error_errno(r, "cannot read %s, in IOMMU group %d with %s", mb, dev.iommu_group, bdf);
                        break;
                }
                if (pci_device_is_bridge(&m))
                        continue; /* bridges stay with the host: VFIO allows them */
                if (set->whole_group) {
                        char why[96];
                        snprintf(why, sizeof(why), "in IOMMU group %d with %s", dev.iommu_group, bdf);
                        r = targets_add(ts, &m, false, force, why);
                } else if (m.driver[0] && strcmp(m.driver, STUB) != 0 && strcmp(m.driver, "pci-stub") != 0 &&
                           !targets_find(ts, &m.addr)) {
                        log_error("cannot pass %s alone (group='device'): IOMMU group %d is not viable, its member %s "
                                  "(%s) is bound to %s; pass the whole group (group='whole') or name %s too",
                                  bdf, dev.iommu_group, m.bdf, class_name(m.class_), m.driver, m.bdf);
                        r = -VMPREP_EREPORTED;
                }
        }
        free(members);
        return r;
}

static int collect(const Domain *d, const Profile *p, const Settings *set, Targets *ts)
{
        const ProfileElem *e = profile_elem(p, "vfio");
        int r = 0;

        for (size_t i = 0; i < d->n_hostdevs && r == 0; i++) {
                char origin[64], bdf[PCI_ADDRESS_STRLEN];
                pci_address_format(&d->hostdevs[i], bdf);
                snprintf(origin, sizeof(origin), "<hostdev> %s", bdf);
                bool force = false;
                for (size_t k = 0; e && k < e->n_children; k++) {
                        PciAddress a;
                        if (pci_address_parse(profile_attr(&e->children[k], "address"), &a) == 0 &&
                            pci_address_equal(&a, &d->hostdevs[i]))
                                force = profile_attr_yes(&e->children[k], "force", false);
                }
                r = add_request(ts, &d->hostdevs[i], force, origin, set);
        }
        for (size_t k = 0; e && k < e->n_children && r == 0; k++) {
                const ProfileElem *c = &e->children[k];
                PciAddress a;
                if (strcmp(c->name, "device") != 0 || pci_address_parse(profile_attr(c, "address"), &a) < 0)
                        continue;
                char origin[96];
                snprintf(origin, sizeof(origin), "<vmprep:device address='%s'>", profile_attr(c, "address"));
                r = add_request(ts, &a, profile_attr_yes(c, "force", false), origin, set);
        }
        return r;
}

/*
 * Who gets which reset-method: a <vmprep:device>'s own for that device,
 * else <vmprep:vfio>'s for every device the VM is given (named by a
 * <hostdev>, an <interface type='hostdev'> or a <vmprep:device>).  Not for
 * the members of its IOMMU group that only come along to make the group
 * viable: the VM does not get them (a <vmprep:device> for one gives it).
 */
static void reset_wanted(const ProfileElem *e, Targets *ts)
{
        const char *all = profile_attr(e, "reset-method");
        for (size_t i = 0; i < ts->n; i++) {
                Target *t = &ts->t[i];
                t->reset = NULL;
                if (!t->direct)
                        continue;
                for (size_t k = 0; e && k < e->n_children; k++) {
                        const ProfileElem *c = &e->children[k];
                        const char *v = profile_attr(c, "reset-method"), *addr = profile_attr(c, "address");
                        PciAddress a;
                        if (v && strcmp(c->name, "device") == 0 && pci_address_parse(addr, &a) == 0 &&
                            pci_address_equal(&a, &t->dev.addr)) {
                                t->reset = v;
                                snprintf(t->reset_origin, sizeof(t->reset_origin),
                                         "<vmprep:device address='%s' reset-method='%s'>", addr, v);
                        }
                }
                if (!t->reset && all) {
                        t->reset = all;
                        snprintf(t->reset_origin, sizeof(t->reset_origin), "<vmprep:vfio reset-method='%s'>", all);
                }
        }
}

/* Single-GPU: a GPU the host display runs on is freed by stopping the
 * display first (single-gpu='auto': the boot GPU with fbcon or open device
 * nodes; 'on': any GPU passed). */
static bool needs_display(const Targets *ts, const Settings *set)
{
        for (size_t i = 0; i < ts->n; i++) {
                const PciDevice *dev = &ts->t[i].dev;
                char vt[32], who[768];
                UnitsToStop stop = { .n = 0 };
                if ((dev->class_ >> 16) != PCI_CLASS_DISPLAY || strcmp(dev->driver, STUB) == 0 ||
                    strcmp(set->single_gpu, "off") == 0)
                        continue;
                /* (a service vmprep stops anyway, nvidia-persistenced, is no display) */
                if (strcmp(set->single_gpu, "on") == 0 ||
                    (dev->boot_vga && (display_fbcon_bound(vt, sizeof(vt)) ||
                                       holders_sort(dev, set->holders, who, sizeof(who), &stop) != 0)))
                        return true;
        }
        return false;
}

static Settings settings_of(const Profile *p, HolderPolicy *holders)
{
        const ProfileElem *e = profile_elem(p, "vfio");
        *holders = (HolderPolicy){ .stop_services = e ? profile_attr(e, "stop-services") : NULL };
        return (Settings){
                .whole_group = !e || !profile_attr(e, "group") || strcmp(profile_attr(e, "group"), "whole") == 0,
                .force_all = profile_attr_yes(e, "force", false),
                .single_gpu = e && profile_attr(e, "single-gpu") ? profile_attr(e, "single-gpu") : "auto",
                .holders = holders,
        };
}

/* Wait, bounded, for /dev/vfio/N of every group moved. */
static int wait_groups(const Targets *ts, char *err, size_t errlen)
{
        struct timespec start, now, pause = { 0, 5 * 1000 * 1000 };
        if (journal_planning())
                return 0; /* nothing was bound */
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (size_t i = 0; i < ts->n; i++) {
                char path[64];
                snprintf(path, sizeof(path), "/dev/vfio/%d", ts->t[i].dev.iommu_group);
                for (;;) {
                        if (sysfs_exists(path))
                                break;
                        clock_gettime(CLOCK_MONOTONIC, &now);
                        long ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
                        if (ms > VFIO_DEV_WAIT_MS) {
                                snprintf(err, errlen, "%s did not appear within %d s after binding IOMMU group %d "
                                         "(%s) to " STUB "; is every device of the group on " STUB "?", path,
                                         VFIO_DEV_WAIT_MS / 1000, ts->t[i].dev.iommu_group, ts->t[i].dev.bdf);
                                return -ETIMEDOUT;
                        }
                        nanosleep(&pause, NULL);
                }
        }
        return 0;
}

/* Drop this VM's device holds whose binding is no longer live. */
static void drop_holds(Ledger *l, const char *uuid, const Journal *j)
{
        for (size_t i = l->n_holds; i-- > 0;) {
                LedgerHold *h = &l->holds[i];
                if (strcmp(h->uuid, uuid) != 0 || strncmp(h->resource, "pci/", 4) != 0)
                        continue;
                bool live = false;
                for (size_t k = 0; j && k < j->n_steps; k++)
                        if (!j->steps[k].undone && strcmp(j->steps[k].resource, h->resource) == 0)
                                live = true;
                if (!live) {
                        char res[128];
                        snprintf(res, sizeof(res), "%s", h->resource);
                        ledger_hold(l, uuid, res, -h->amount);
                }
        }
}

/* Undo this VM's journal (if any) and its holds, under the ledger lock. */
static int release_locked(Ledger *l, const char *uuid, const char *name, bool quiet)
{
        Journal *j = NULL;
        int r = journal_open(uuid, CAP, name, false, &j);

        if (r == -ENOENT) {
                r = sriov_end_release(l, uuid, NULL);
                drop_holds(l, uuid, NULL);
                int r2 = ledger_save(l);
                return r < 0 ? r : r2;
        }
        if (r < 0)
                return r;
        if (!quiet)
                log_info("giving back the PCI devices of %s", j->name[0] ? j->name : uuid);
        r = journal_undo(j, l);
        int r1 = sriov_end_release(l, uuid, j);
        if (r == 0)
                r = r1;
        drop_holds(l, uuid, j);
        int r2 = ledger_save(l);
        journal_close(j);
        return r < 0 ? r : r2;
}

/* A VF count left raised because others use its VFs now stays in the
 * journal: the start goes on with it, and its release gives the count back
 * once they are free. */
static int finish_leftover(Ledger *l, const char *uuid, const char *name)
{
        int r = release_locked(l, uuid, name, true);
        return r < 0 && !sriov_only_counts_left(uuid) ? r : 0;
}

int vfio_prepare(const Domain *d, const Profile *p)
{
        const ProfileElem *e = profile_elem(p, "vfio");
        HolderPolicy holders;
        Settings set = settings_of(p, &holders);
        Targets ts = { NULL, 0 };
        Journal *j = NULL;
        Ledger l;
        char err[1024] = "";
        int r;

        r = journal_start(&l, d->uuid, d->name, CAP, "vfio", finish_leftover);
        if (r < 0)
                return r;
        bool any_sriov = profile_any_enabled(p, "sriov");
        if (!profile_enabled(p, "vfio") && !any_sriov)
                goto out;

        /* Nothing to move, nothing to create: no journal either. */
        if (!any_sriov) {
                r = collect(d, p, &set, &ts);
                if (r < 0 || ts.n == 0)
                        goto out;
        }
        r = journal_open(d->uuid, CAP, d->name, true, &j);
        if (r < 0)
                goto out;
        if (any_sriov) {
                /* VFs first: the domain's hostdevs may be VFs that do not exist yet */
                r = sriov_prepare(j, &l, d, p);
                if (r == 0 && profile_enabled(p, "vfio"))
                        r = collect(d, p, &set, &ts);
        }
        bool display = r == 0 && needs_display(&ts, &set);
        RunningVm *vms = NULL;
        size_t n_vms = 0;
        if (r == 0 && ts.n)
                running_load(d->uuid, &vms, &n_vms);
        for (size_t i = 0; i < ts.n && r == 0; i++)
                r = check_interlocks(&ts.t[i], &set, &l, d->uuid, vms, n_vms, display);
        running_vms_free(vms, n_vms);
        if (r == 0)
                reset_wanted(e, &ts);
        for (size_t i = 0; i < ts.n && r == 0; i++)
                r = check_reset(&ts.t[i]);
        if (r < 0)
                goto fail;
        /* Hold every device before touching any: a second VM's prepare,
         * serialised behind this lock, sees them taken. */
        for (size_t i = 0; i < ts.n && r == 0; i++) {
                char res[64];
                snprintf(res, sizeof(res), "pci/%s", ts.t[i].dev.bdf);
                if (ledger_held(&l, res, d->uuid) == 0)
                        r = ledger_hold(&l, d->uuid, res, 1);
                /* a VF: this VM uses its PF's VFs, so a VM that raised the
                 * count and stops first hands its restore to this one */
                if (r == 0 && ts.t[i].dev.is_vf) {
                        char pf[PCI_ADDRESS_STRLEN];
                        pci_address_format(&ts.t[i].dev.physfn, pf);
                        snprintf(res, sizeof(res), "sriov/%s", pf);
                        if (ledger_held(&l, res, d->uuid) == 0)
                                r = ledger_hold(&l, d->uuid, res, 1);
                }
        }
        if (r == 0)
                r = ledger_save(&l);
        if (r < 0)
                goto fail;

        if (display) {
                log_info("the GPU drives the host display: taking the display down first (single-gpu='%s')",
                         set.single_gpu);
                r = display_release_gpu(j, set.force_all, err, sizeof(err));
        }
        if (ts.n && r == 0)
                r = free_device_nodes(j, &ts, &set, display, err, sizeof(err));
        if (ts.n && r == 0)
                r = ensure_stub_driver(err, sizeof(err));
        for (size_t i = 0; i < ts.n && r == 0; i++)
                r = bind_one(j, &ts.t[i], err, sizeof(err));
        for (size_t i = 0; i < ts.n && r == 0; i++)
                r = set_reset_method(j, &ts.t[i], err, sizeof(err));
        if (r == 0 && ts.n && profile_enabled(p, "vfio") && profile_attr(e, "unload-modules"))
                r = unload_modules(j, profile_attr(e, "unload-modules"), err, sizeof(err));
        if (r == 0)
                r = wait_groups(&ts, err, sizeof(err));
        if (r == 0)
                goto out;
fail:
        if (!error_reported(r))
                log_error("%s", err[0] ? err : strerror(-r));
        /* Give back what this start moved, then fail the start. */
        if (journal_undo(j, &l) < 0)
                log_error("could not give back every device moved by this start; release will try again");
        sriov_end_release(&l, d->uuid, j);
        drop_holds(&l, d->uuid, j);
        ledger_save(&l);
        r = -VMPREP_EREPORTED;
out:
        journal_close(j);
        ledger_unlock(&l);
        free(ts.t);
        return r;
}

int vfio_release(const char *uuid, const char *name)
{
        Ledger l;
        int r = ledger_lock_release(&l, false);
        if (r < 0)
                return r;
        r = release_locked(&l, uuid, name, false);
        ledger_unlock(&l);
        return r;
}

int vfio_reconnect(const char *uuid)
{
        return journal_reconnect_check(uuid, CAP);
}
