/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "pci_fixture.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *R;

static void mkdirs(const char *full)
{
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s", full);
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                mkdir(p, 0755);
                *s = '/';
        }
}

static void put(const char *rel, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(const char *rel, const char *fmt, ...)
{
        char p[PATH_MAX];
        va_list ap;
        snprintf(p, sizeof(p), "%s%s", R, rel);
        mkdirs(p);
        FILE *f = fopen(p, "we");
        if (!f)
                return;
        va_start(ap, fmt);
        vfprintf(f, fmt, ap);
        va_end(ap);
        fclose(f);
}

static void lnk(const char *rel, const char *target)
{
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s%s", R, rel);
        mkdirs(p);
        unlink(p);
        if (symlink(target, p) < 0)
                perror(p);
}

static void dir(const char *rel)
{
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s%s/", R, rel);
        mkdirs(p);
}

static void driver(const char *name)
{
        char p[256];
        snprintf(p, sizeof(p), "/sys/bus/pci/drivers/%s/bind", name);
        put(p, "%s", "");
        snprintf(p, sizeof(p), "/sys/bus/pci/drivers/%s/unbind", name);
        put(p, "%s", "");
}

/* A device with its native driver (bound when bound=true). */
static void device(const char *bdf, const char *vendor, const char *dev, const char *cls, int group, const char *drv,
                   bool bound)
{
        char p[256], t[256];
#define F(file, ...)                                                            \
        do {                                                                    \
                snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/%s", bdf, file); \
                put(p, __VA_ARGS__);                                            \
        } while (0)
        F("vendor", "%s\n", vendor);
        F("device", "%s\n", dev);
        F("class", "%s\n", cls);
        F("driver_override", "(null)\n");
        F("numa_node", "0\n");
        F("reset_method", "flr bus\n");
        if (strncmp(cls, "0x03", 4) == 0)
                F("boot_vga", "0\n");
#undef F
        snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/iommu_group", bdf);
        snprintf(t, sizeof(t), "../../../../kernel/iommu_groups/%d", group);
        lnk(p, t);
        snprintf(p, sizeof(p), "/sys/kernel/iommu_groups/%d/devices/%s", group, bdf);
        snprintf(t, sizeof(t), "../../../../bus/pci/devices/%s", bdf);
        lnk(p, t);
        /* what the device supports, in the kernel's order (fake_pci.c) */
        snprintf(p, sizeof(p), "/.fake/pci/%s.reset-methods", bdf);
        put(p, "flr bus\n");
        if (drv) {
                driver(drv);
                snprintf(p, sizeof(p), "/.fake/pci/%s.native", bdf);
                put(p, "%s\n", drv);
                if (bound) {
                        snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/driver", bdf);
                        snprintf(t, sizeof(t), "../../../../bus/pci/drivers/%s", drv);
                        lnk(p, t);
                }
        }
}

static void base(void)
{
        put("/sys/bus/pci/drivers_probe", "%s", "");
        put("/dev/vfio/vfio", "%s", "");
        driver("vfio-pci");
        put("/sys/bus/pci/drivers/vfio-pci/new_id", "%s", "");
        put("/proc/net/route", "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n");
        put("/proc/net/if_inet6", "%s", "");
        /* / on a SATA disk behind a controller this tree does not pass */
        put("/proc/self/mountinfo", "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
                                    "23 22 0:21 / /proc rw,nosuid shared:2 - proc proc rw\n");
        lnk("/sys/dev/block/8:1", "../../devices/pci0000:40/0000:40:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda/sda1");
        dir("/proc/1/fd");
        put("/proc/1/comm", "init\n");
        lnk("/proc/1/fd/0", "/dev/null");
        dir("/sys/class/vtconsole");
        dir("/sys/class/drm");
        dir("/sys/class/graphics");
        dir("/sys/class/sound");
        dir("/sys/bus/platform/devices");
}

static void gpu_hda(void)
{
        put("/sys/module/nvidia/refcnt", "0\n");
        put("/sys/module/nvidia_drm/refcnt", "0\n");
        device("0000:41:00.0", "0x10de", "0x2204", "0x030000", 20, "nvidia", true);
        device("0000:41:00.1", "0x10de", "0x1aef", "0x040300", 20, "snd_hda_intel", true);
        lnk("/sys/class/sound/card1/device", "../../../bus/pci/devices/0000:41:00.1");
        dir("/sys/class/sound/controlC1");
        lnk("/sys/class/sound/controlC1/device", "../card1");
}

static void gpu_bridge_usb(void)
{
        device("0000:40:01.0", "0x1022", "0x1483", "0x060400", 21, "pcieport", true);
        device("0000:42:00.0", "0x10de", "0x1b80", "0x030000", 21, "nouveau", true);
        device("0000:42:00.3", "0x1022", "0x149c", "0x0c0330", 21, "xhci_hcd", true);
}

static void sriov_nic(void)
{
        device("0000:43:00.0", "0x8086", "0x1528", "0x020000", 22, "ixgbe", true);
        put("/sys/bus/pci/devices/0000:43:00.0/sriov_totalvfs", "8\n");
        put("/sys/bus/pci/devices/0000:43:00.0/sriov_numvfs", "0\n");
        put("/sys/bus/pci/devices/0000:43:00.0/sriov_drivers_autoprobe", "1\n");
        /* the VF routing the fake kernel uses (fake_pci.c), as the kernel shows it */
        put("/sys/bus/pci/devices/0000:43:00.0/sriov_offset", "128\n");
        put("/sys/bus/pci/devices/0000:43:00.0/sriov_stride", "2\n");
        put("/sys/bus/pci/devices/0000:43:00.0/net/enp67s0f0/operstate", "up\n");
        put("/.fake/pci/0000:43:00.0.vf-device", "0x1515\n");
        put("/.fake/pci/0000:43:00.0.vf-driver", "ixgbevf\n");
        put("/sys/bus/pci/devices/0000:43:00.0/sriov_vf_device", "1515\n");
        /* modules.alias's "pci:v00008086d00001515sv*sd*bc*sc*i*" of ixgbevf, as
         * the fake libkmod matches it: exactly the VF's modalias */
        put("/etc/modprobe.d/ixgbevf-alias.conf", "%s",
            "alias pci:v00008086d00001515svFFFFFFFFsdFFFFFFFFbc02sc00i00 ixgbevf\n");
        driver("ixgbevf");
}

int fake_pci_write(const char *root, const char *path, const char *value);

/* ---- for fixtures in other files (pci_fixture.h) ---- */

const char *fixture_root(void)
{
        return R;
}

int fixture_kernel_write(const char *path, const char *value)
{
        return fake_pci_write(R, path, value);
}

/* The same PF with 2 VFs already there, made by the fake kernel itself
 * (autoprobe on: they are on ixgbevf), VF 1 with an administrator's MAC. */
static void sriov_nic_2vfs(void)
{
        sriov_nic();
        fake_pci_write(R, "/sys/bus/pci/devices/0000:43:00.0/sriov_numvfs", "2");
        put("/.fake/vf/enp67s0f0/1", "mac=02:00:00:00:00:11 vlan=0 qos=0 trust=off spoofchk=on");
}

static void nvme_mounted(void)
{
        device("0000:44:00.0", "0x144d", "0xa808", "0x010802", 23, "nvme", true);
        const char *blk = "../devices/pci0000:40/0000:40:01.2/0000:44:00.0/nvme/nvme0/nvme0n1";
        lnk("/sys/block/nvme0n1", blk);
        dir("/sys/devices/pci0000:40/0000:40:01.2/0000:44:00.0/nvme/nvme0/nvme0n1/nvme0n1p1");
        lnk("/sys/dev/block/259:1", "../../devices/pci0000:40/0000:40:01.2/0000:44:00.0/nvme/nvme0/nvme0n1/nvme0n1p1");
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/proc/self/mountinfo", R);
        FILE *f = fopen(p, "ae");
        if (f) {
                fputs("40 22 259:1 / /var rw,relatime shared:20 - xfs /dev/nvme0n1p1 rw\n", f);
                fclose(f);
        }
}

static void boot_vga(void)
{
        device("0000:45:00.0", "0x1002", "0x73bf", "0x030000", 24, "amdgpu", true);
        device("0000:45:00.1", "0x1002", "0xab28", "0x040300", 24, "snd_hda_intel", true);
        put("/sys/bus/pci/devices/0000:45:00.0/boot_vga", "1\n");
        put("/sys/class/vtconsole/vtcon0/name", "(S) dummy device\n");
        put("/sys/class/vtconsole/vtcon0/bind", "0\n");
        put("/sys/class/vtconsole/vtcon1/name", "(M) frame buffer device\n");
        put("/sys/class/vtconsole/vtcon1/bind", "1\n");
        put("/sys/bus/platform/drivers/efi-framebuffer/bind", "%s", "");
        put("/sys/bus/platform/drivers/efi-framebuffer/unbind", "%s", "");
        dir("/sys/bus/platform/devices/efi-framebuffer.0");
        lnk("/sys/bus/platform/devices/efi-framebuffer.0/driver", "../../../../bus/platform/drivers/efi-framebuffer");
        lnk("/sys/class/drm/card0/device", "../../../bus/pci/devices/0000:45:00.0");
        lnk("/sys/class/graphics/fb0/device", "../../../bus/platform/devices/efi-framebuffer.0");
        /* systemd runs gdm as the display manager; its Xorg holds card0 */
        dir("/run/systemd/system");
        put("/.fake/systemd/units/display-manager.service", "gdm.service active\n");
        put("/.fake/systemd/units/gdm.service", "gdm.service active\n");
        put("/.fake/systemd/units/gdm.service.pids", "4242 Xorg /dev/dri/card0\n");
        put("/proc/4242/comm", "Xorg\n");
        lnk("/proc/4242/fd/12", "/dev/dri/card0");
        lnk("/proc/4242/fd/0", "/dev/null");
}

/* gpu-hda's GPU on the NVIDIA driver, as /dev/nvidia0 (its "Device
 * Minor"), held open by nvidia-persistenced, which systemd runs: every
 * distribution's driver package enables it.  A host of its own (not in
 * "all"): it brings systemd along. */
static void gpu_persistenced(void)
{
        gpu_hda();
        put("/proc/driver/nvidia/gpus/0000:41:00.0/information",
            "Model: \t\t NVIDIA GeForce RTX 3090\nIRQ:   \t\t 156\nGPU UUID: \t GPU-5f0c3a1e-7d2f-4a8b-9c6d-1e2f3a4b5c01\n"
            "Bus Type: \t PCIe\nBus Location: \t 0000:41:00.0\nDevice Minor: \t 0\nGPU Excluded:\t No\n");
        dir("/run/systemd/system");
        put("/.fake/systemd/units/nvidia-persistenced.service", "nvidia-persistenced.service active\n");
        put("/.fake/systemd/units/nvidia-persistenced.service.pids", "1234 nvidia-persiste /dev/nvidia0\n");
        put("/proc/1234/comm", "nvidia-persiste\n");
        put("/proc/1234/cgroup", "0::/system.slice/nvidia-persistenced.service\n");
        lnk("/proc/1234/fd/12", "/dev/nvidia0");
        lnk("/proc/1234/fd/0", "/dev/null");
}

static void host_nic(void)
{
        device("0000:46:00.0", "0x8086", "0x1533", "0x020000", 25, "igb", true);
        put("/sys/bus/pci/devices/0000:46:00.0/net/eno1/operstate", "up\n");
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/proc/net/route", R);
        FILE *f = fopen(p, "ae");
        if (f) {
                fputs("eno1\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
                      "eno1\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n", f);
                fclose(f);
        }
}

/* The helpers above for the fixture files beside this one (host_shapes.c),
 * on the root of the build in progress. */
void fixture_put(const char *rel, const char *content)
{
        put(rel, "%s", content);
}

void fixture_append(const char *rel, const char *content)
{
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s%s", R, rel);
        mkdirs(p);
        FILE *f = fopen(p, "ae");
        if (f) {
                fputs(content, f);
                fclose(f);
        }
}

void fixture_link(const char *rel, const char *target)
{
        lnk(rel, target);
}

void fixture_dir(const char *rel)
{
        dir(rel);
}

void fixture_device(const char *bdf, const char *vendor, const char *dev, const char *cls, int group, const char *drv)
{
        device(bdf, vendor, dev, cls, group, drv, drv != NULL);
}

int pci_fixture_build(const char *root, const char *name)
{
        static const struct {
                const char *name;
                void (*fn)(void);
                bool own_host; /* a whole host of its own: not in "all" */
        } fixtures[] = {
                { "gpu-hda", gpu_hda, false },       { "gpu-bridge-usb", gpu_bridge_usb, false },
                { "sriov-nic", sriov_nic, false },   { "sriov-nic-2vfs", sriov_nic_2vfs, false },
                { "nvme-mounted", nvme_mounted, false }, { "boot-vga", boot_vga, false },
                { "host-nic", host_nic, false },     { "nfv-host", fixture_nfv_host, true },
                { "gpu-persistenced", gpu_persistenced, true },
        };
        char p[PATH_MAX];
        bool all = strcmp(name, "all") == 0, found = all || strcmp(name, "base") == 0;

        R = root;
        snprintf(p, sizeof(p), "%s/sys/bus/pci/drivers_probe", root);
        if (access(p, F_OK) != 0)
                base();
        for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++)
                if ((all && !fixtures[i].own_host) || strcmp(name, fixtures[i].name) == 0) {
                        fixtures[i].fn();
                        found = true;
                }
        if (!found)
                found = host_shape_build(name) == 0;
        return found ? 0 : -ENOENT;
}
