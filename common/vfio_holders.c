/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What stands in the way of passing a device: interlocks with the host and
 * other VMs, a reset the device lacks, processes and units holding its nodes
 * (vfio.h). */
#include "vfio_impl.h"
#include "resource.h"

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
 * or logs the refusal and returns -errno. */
int vfio_check_interlocks(const Target *t, const Settings *set, const Ledger *l, const char *uuid,
                            const RunningVm *vms, size_t n_vms, bool defer_holders)
{
        char why[768] = "", holder[160];
        const PciDevice *dev = &t->dev;
        bool force = set->force_all || t->force;
        const char *hint = "";

        /* another running VM: never overridden by force */
        for (size_t i = 0; i < l->n_holds; i++) {
                char res[64];
                res_pci(res, sizeof(res), dev->bdf);
                if (strcmp(l->holds[i].resource, res) == 0 && strcmp(l->holds[i].uuid, uuid) != 0) {
                        vfio_vm_name(l->holds[i].uuid, holder, sizeof(holder));
                        return log_error_errno(SYNTHETIC_ERRNO(EBUSY),
                                               "cannot pass %s (%s, %s) to this VM: the running VM %s holds it",
                                               dev->bdf, vfio_class_name(dev->class_), t->origin, holder);
                }
        }
        /* libvirt gives it to another VM, or a process has its /dev/vfio:
         * not overridden by force either */
        int used = sriov_device_user(uuid, l, dev, why, sizeof(why));
        if (used > 0) {
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "cannot pass %s (%s, %s) to this VM: %s", dev->bdf,
                                       vfio_class_name(dev->class_), t->origin, why);
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
                        return log_error_errno(SYNTHETIC_ERRNO(EBUSY),
                                               "cannot pass %s (%s, %s) to this VM: it is the PF of %d VFs, which "
                                               "unbinding %s removes, and %s",
                                               dev->bdf, vfio_class_name(dev->class_), t->origin, dev->sriov_numvfs,
                                               dev->driver, n > 0 ? users : "who uses them cannot be told");
                }
        }
        /* another running VM's disk or macvtap: not overridden by force either */
        if (hostuse_running_vm(dev->bdf, vms, n_vms, why, sizeof(why))) {
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "cannot pass %s (%s, %s) to this VM: %s", dev->bdf,
                                       vfio_class_name(dev->class_), t->origin, why);
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
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "refusing to bind %s (%s, %s) to " STUB
                                       ": %s%s; force='yes' on <vmprep:device address='%s'/> passes it anyway",
                                       dev->bdf, vfio_class_name(dev->class_), t->origin, why, hint, dev->bdf);
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
int vfio_check_reset(const Target *t)
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
                return log_error_errno(SYNTHETIC_ERRNO(ENODEV),
                                       "cannot set the reset method of %s (%s, %s) to '%s' (%s): there is no %s; this "
                                       "kernel lacks it (it came with Linux 5.15), or the device has no reset method "
                                       "at all",
                                       t->dev.bdf, vfio_class_name(t->dev.class_), t->origin, t->reset, t->reset_origin,
                                       path);
        }
        if (r < 0)
                return log_error_errno(r, "cannot read %s", path);
        if (vfio_reset_method_check(t->reset, offered, why, sizeof(why)) < 0) {
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "cannot set the reset method of %s (%s, %s) to '%s' (%s): %s", t->dev.bdf,
                                       vfio_class_name(t->dev.class_), t->origin, t->reset, t->reset_origin, why);
        }
        return 0;
}

/* The other running VMs, whose disks and macvtaps the interlocks look
 * for.  Not knowing them is said, not fatal: libvirt still refuses a
 * device that QEMU holds open. */
void vfio_running_load(const char *uuid, RunningVm **vms, size_t *n)
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
int vfio_holders_sort(const PciDevice *dev, HolderPolicy *p, char *blocking, size_t size, UnitsToStop *stop)
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
        int r = vfio_holders_sort(dev, p, blocking, sizeof(blocking), &stop);
        if (r < 0)
                return log_error_errno(r, "cannot tell which processes hold the device nodes of %s", dev->bdf);
        if (r > 0) {
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "refusing to unbind %s (%s, %s) from %s: its device nodes are open in %s; the "
                                       "unbind would block until they close",
                                       dev->bdf, vfio_class_name(dev->class_), origin, dev->driver, blocking);
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

int vfio_free_device_nodes(Journal *j, const Targets *ts, const Settings *set, bool display)
{
        UnitsToStop stopped = { .n = 0 };
        char blocking[768], names[400] = "";
        int r;

        for (size_t i = 0; i < ts->n; i++) {
                const Target *t = &ts->t[i];
                UnitsToStop stop = { .n = 0 };
                r = vfio_holders_sort(&t->dev, set->holders, blocking, sizeof(blocking), &stop);
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
                        r = vfio_holders_sort(&t->dev, set->holders, blocking, sizeof(blocking), &stop);
                }
                if (r < 0) {
                        return log_error_errno(r, "cannot tell which processes hold the device nodes of %s",
                                               t->dev.bdf);
                }
                if (r > 0 && !(display && journal_planning())) {
                        char waited[200] = "";
                        if (display && stop.n == 0)
                                snprintf(waited, sizeof(waited), " %.3g s after the display manager stopped (a user "
                                         "session that outlives it: loginctl terminate-user)", holders_wait_ms() / 1000.0);
                        return log_error_errno(SYNTHETIC_ERRNO(ETIMEDOUT),
                                               "refusing to unbind %s (%s, %s) from %s: its device nodes are open in "
                                               "%s%s; the unbind would block until they close",
                                               t->dev.bdf, vfio_class_name(t->dev.class_), t->origin, t->dev.driver,
                                               blocking, waited);
                }
                for (size_t k = 0; k < stop.n; k++) {
                        char why[256], resource[128];
                        if (units_has(&stopped, stop.unit[k]))
                                continue;
                        /* (one that is not running, "deactivating" say, is
                         * not stopped, and is looked at again below) */
                        snprintf(why, sizeof(why), "%s holds the device nodes of %s: %s stopped over D-Bus "
                                 "(StopUnit) until release", stop.who[k], t->dev.bdf, stop.unit[k]);
                        res_holder(resource, sizeof(resource), stop.unit[k]);
                        r = display_stop_unit(j, stop.unit[k], resource, "the system service ", why);
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
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "refusing to unbind %s (%s, %s) from %s: its device nodes are still open in %s "
                                       "although vmprep stopped %s; the unbind would block until they close",
                                       t->dev.bdf, vfio_class_name(t->dev.class_), t->origin, t->dev.driver, blocking,
                                       names);
        }
        return 0;
}
