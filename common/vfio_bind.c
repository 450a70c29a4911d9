/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The kernel side of vfio: bind to vfio-pci and back, reset_method, modules (vfio.h). */
#include "vfio_impl.h"
#include "resource.h"

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
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "journal step %u: '%s' '%s' is not a device binding",
                                       s->seq, s->path, s->old);
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
                r = driver_path(dev.driver, "unbind", path, sizeof(path));
                if (r < 0)
                        return log_error_errno(r, "cannot give %s back: its driver is named '%s'", dev.bdf, dev.driver);
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
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "cannot give %s back to %s: it is on %s",
                                               dev.bdf, orig_drv, now[0] ? now : "no driver");
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

int vfio_device_read(const PciAddress *a, PciDevice *dev, bool *fresh)
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
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "journal step %u: '%s' is not a device's reset_method",
                                       s->seq, s->path);
        }
        snprintf(addr, sizeof(addr), "%.*s", (int) (slash - bdf), bdf);
        if (pci_address_parse(addr, &a) < 0) {
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "journal step %u: '%s' is not a device's reset_method",
                                       s->seq, s->path);
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
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "cannot give %s its reset_method '%s' back: it lists '%s'", addr, s->old, now);
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
int vfio_bind_one(Journal *j, const Target *t)
{
        char path[256], old[2 * PCI_DRIVER_MAX + 2], now[PCI_DRIVER_MAX];
        PciDevice dev;
        unsigned seq;
        bool fresh;
        int r;

        r = vfio_device_read(&t->dev.addr, &dev, &fresh);
        if (r < 0) {
                return log_error_errno(r, "cannot read %s", t->dev.bdf);
        }
        if (strcmp(dev.driver, STUB) == 0) {
                log_info("%s is already on " STUB ": nothing to do", dev.bdf);
                return 0;
        }
        r = vfio_origin_encode(dev.driver, dev.driver_override, old, sizeof(old));
        if (r < 0)
                return r;
        char resource[64];
        res_pci(resource, sizeof(resource), dev.bdf);
        pci_device_path(&dev.addr, NULL, path, sizeof(path));
        journal_plan_why("%s, %s: driver_override, %s%s%sdrivers_probe", vfio_class_name(dev.class_), t->origin,
                         dev.driver[0] ? "unbind from " : "", dev.driver, dev.driver[0] ? ", " : "");
        r = journal_begin_custom(j, "bind", resource, path, old, STUB, &seq);
        if (r < 0)
                return r;

        pci_device_path(&dev.addr, "driver_override", path, sizeof(path));
        r = sysfs_write(path, STUB);
        if (r < 0) {
                return log_error_errno(r, "cannot bind %s to " STUB ": writing %s", dev.bdf, path);
        }
        if (dev.driver[0]) {
                r = driver_path(dev.driver, "unbind", path, sizeof(path));
                if (r < 0)
                        return log_error_errno(r, "cannot bind %s to " STUB ": its driver is named '%s'", dev.bdf,
                                               dev.driver);
                r = write_bdf(path, dev.bdf);
                if (r < 0) {
                        return log_error_errno(SYNTHETIC_ERRNO(-r),
                                               "cannot bind %s (%s, %s) to " STUB ": %s will not let it go (%s)",
                                               dev.bdf, vfio_class_name(dev.class_), t->origin, dev.driver,
                                               strerror(-r));
                }
        }
        r = write_bdf("/sys/bus/pci/drivers_probe", dev.bdf);
        if (r < 0) {
                return log_error_errno(r, "cannot bind %s to " STUB ": drivers_probe", dev.bdf);
        }
        r = pci_device_driver(&dev.addr, now, sizeof(now));
        if (journal_planning()) /* nothing was written: nothing to read back */
                snprintf(now, sizeof(now), STUB), r = 0;
        if (r < 0 || strcmp(now, STUB) != 0) {
                return log_error_errno(SYNTHETIC_ERRNO(r < 0 ? -r : EIO),
                                       "cannot bind %s to " STUB ": after drivers_probe it is on %s", dev.bdf,
                                       r < 0 ? strerror(-r) : now[0] ? now : "no driver");
        }
        r = journal_done(j, NULL, seq, STUB);
        if (r < 0)
                return r;
        log_info("bound %s (%s) to " STUB ", was on %s", dev.bdf, vfio_class_name(dev.class_),
                 dev.driver[0] ? dev.driver : "no driver");
        return 0;
}

/*
 * reset-method: write it to the device's reset_method, its old list
 * journalled first.  The file lists the methods the kernel tries when
 * vfio-pci resets the device, in order; a write names some of them, in the
 * order wanted, or "default" for every one the kernel found for it
 * (drivers/pci/pci.c, reset_method_store).  vfio_check_reset() has checked the
 * value against the list before anything was changed.  Already listing
 * exactly that: nothing done, nothing journalled ("default" is always
 * written: what the kernel found cannot be told from the file).
 */
int vfio_set_reset_method(Journal *j, const Target *t)
{
        char path[256], old[256], now[256], resource[64];
        bool autoprobe;
        unsigned seq;
        int r;

        if (!t->reset)
                return 0;
        pci_device_path(&t->dev.addr, "reset_method", path, sizeof(path));
        res_pci_reset(resource, sizeof(resource), t->dev.bdf);
        r = sysfs_read(path, old, sizeof(old));
        /* vmprep plan: the VF its SR-IOV step creates is not there yet, and
         * neither is the list it will come up with: the plan shows '' */
        bool unborn = r == -ENOENT && sriov_planned_vf(&t->dev.addr, &autoprobe);
        if (unborn)
                old[0] = '\0', r = 0;
        if (r < 0) {
                return log_error_errno(r, "cannot read %s", path);
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
                return log_error_errno(r, "cannot set the reset_method of %s to '%s' (%s)", t->dev.bdf, t->reset,
                                       t->reset_origin);
        }
        if (journal_planning()) /* nothing was written: nothing to read back */
                snprintf(now, sizeof(now), "%s", t->reset), r = 0;
        else
                r = sysfs_read(path, now, sizeof(now));
        if (r < 0 || (strcmp(t->reset, "default") != 0 && strcmp(now, t->reset) != 0)) {
                return log_error_errno(SYNTHETIC_ERRNO(r < 0 ? -r : EIO),
                                       "cannot set the reset_method of %s to '%s' (%s): it lists %s%s%s after the "
                                       "write",
                                       t->dev.bdf, t->reset, t->reset_origin, r < 0 ? "? (" : "'",
                                       r < 0 ? strerror(-r) : now, r < 0 ? ")" : "'");
        }
        r = journal_done(j, NULL, seq, now);
        if (r < 0)
                return r;
        log_info("set the reset_method of %s to '%s' (%s), was '%s'", t->dev.bdf, now, t->reset_origin, old);
        return 0;
}

/*
 * Load a module with its dependencies, as modprobe would but without
 * running modprobe.d's install commands (KMOD_PROBE_IGNORE_COMMAND).  With
 * blacklist, a module modprobe.d blacklists is not loaded and the result
 * is MODULE_BLACKLISTED (> 0): the admin's choice, for the caller to
 * report.  Returns 0 or -errno.
 */
#define MODULE_BLACKLISTED 1


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
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "journal step %u: '%s' is not a module", s->seq,
                                       s->path);
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
int vfio_unload_modules(Journal *j, const char *list)
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
                        return log_error_errno(r, "cannot unload the module %s (unload-modules='%s')", name, list);
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
int vfio_ensure_stub_driver(void)
{
        if (pci_driver_present(STUB))
                return 0;
        int r = module_load(STUB, true);
        if (r == MODULE_BLACKLISTED) {
                return log_error_errno(SYNTHETIC_ERRNO(EPERM),
                                       "modprobe.d blacklists " STUB
                                       " ('blacklist vfio_pci'), and vmprep respects that: nothing was bound; remove "
                                       "the blacklist line, or load " STUB " yourself (modprobe " STUB ")");
        }
        if (r < 0) {
                return log_error_errno(SYNTHETIC_ERRNO(-r),
                                       "the " STUB " driver is not loaded and loading it failed (%s); is the module "
                                       "installed (CONFIG_VFIO_PCI)?",
                                       strerror(-r));
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
        return log_error_errno(SYNTHETIC_ERRNO(ENOENT),
                               "loaded " STUB ", but /sys/bus/pci/drivers/" STUB " did not appear");
}
