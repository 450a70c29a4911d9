/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The PCI reader against fake trees, and the fake kernel's PCI model. */
#include "test.h"

#include "common/pci.h"
#include "common/sysfs.h"
#include "tests/fake/pci_fixture.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static PciAddress A(const char *s)
{
        PciAddress a = { 0 };
        pci_address_parse(s, &a);
        return a;
}

static bool present(const char *rel)
{
        char p[1024];
        snprintf(p, sizeof(p), "%s%s", sysfs_root(), rel);
        return access(p, F_OK) == 0;
}

TEST(pci_reads_gpu_and_its_group)
{
        const char *root = tree_new();
        CHECK_INT(pci_fixture_build(root, "gpu-hda"), 0);
        PciAddress a = A("0000:41:00.0");
        PciDevice d;
        CHECK_INT(pci_device_read(&a, &d), 0);
        CHECK_STR(d.bdf, "0000:41:00.0");
        CHECK_INT(d.vendor, 0x10de);
        CHECK_INT(d.device, 0x2204);
        CHECK_INT(d.class_, 0x030000);
        CHECK_STR(d.driver, "nvidia");
        CHECK_STR(d.driver_override, "");
        CHECK_INT(d.iommu_group, 20);
        CHECK(!d.boot_vga);
        CHECK(!pci_device_is_bridge(&d));
        CHECK_INT(d.sriov_totalvfs, -1);
        CHECK(!d.is_vf);

        PciAddress *m = NULL;
        size_t n = 0;
        CHECK_INT(pci_group_members(20, &m, &n), 0);
        CHECK_INT(n, 2);
        CHECK(pci_address_equal(&m[0], &a));
        PciAddress hda = A("0000:41:00.1");
        CHECK(pci_address_equal(&m[1], &hda));
        free(m);
}

TEST(pci_missing_device_is_enoent)
{
        const char *root = tree_new();
        CHECK_INT(pci_fixture_build(root, "base"), 0);
        PciAddress a = A("0000:4f:00.0");
        PciDevice d;
        CHECK_INT(pci_device_read(&a, &d), -ENOENT);
}

TEST(pci_bridge_is_recognised_by_class)
{
        const char *root = tree_new();
        CHECK_INT(pci_fixture_build(root, "gpu-bridge-usb"), 0);
        PciAddress a = A("0000:40:01.0");
        PciDevice d;
        CHECK_INT(pci_device_read(&a, &d), 0);
        CHECK(pci_device_is_bridge(&d));
        CHECK_STR(d.driver, "pcieport");
        PciAddress *m = NULL;
        size_t n = 0;
        CHECK_INT(pci_group_members(21, &m, &n), 0);
        CHECK_INT(n, 3);
        free(m);
}

TEST(fake_pci_bind_order_moves_driver_link_and_makes_dev_vfio)
{
        const char *root = tree_new();
        CHECK_INT(pci_fixture_build(root, "gpu-hda"), 0);
        PciAddress g = A("0000:41:00.0"), h = A("0000:41:00.1");
        char drv[64];
        CHECK_INT(sysfs_write("/sys/bus/pci/devices/0000:41:00.0/driver_override", "vfio-pci"), 0);
        CHECK_STR(tree_read("/sys/bus/pci/devices/0000:41:00.0/driver_override"), "vfio-pci");
        CHECK_INT(sysfs_write("/sys/bus/pci/drivers/nvidia/unbind", "0000:41:00.0"), 0);
        CHECK_INT(pci_device_driver(&g, drv, sizeof(drv)), 0);
        CHECK_STR(drv, "");
        CHECK_INT(sysfs_write("/sys/bus/pci/drivers_probe", "0000:41:00.0"), 0);
        CHECK_INT(pci_device_driver(&g, drv, sizeof(drv)), 0);
        CHECK_STR(drv, "vfio-pci");
        CHECK(!present("/dev/vfio/20")); /* the HDA still on snd_hda_intel: not viable */
        CHECK_INT(sysfs_write("/sys/bus/pci/devices/0000:41:00.1/driver_override", "vfio-pci"), 0);
        CHECK_INT(sysfs_write("/sys/bus/pci/drivers/snd_hda_intel/unbind", "0000:41:00.1"), 0);
        CHECK_INT(sysfs_write("/sys/bus/pci/drivers_probe", "0000:41:00.1"), 0);
        CHECK(present("/dev/vfio/20"));
        /* and back: clear override with "\n", unbind, probe → native driver */
        CHECK_INT(sysfs_write("/sys/bus/pci/devices/0000:41:00.1/driver_override", "\n"), 0);
        CHECK_STR(tree_read("/sys/bus/pci/devices/0000:41:00.1/driver_override"), "(null)");
        CHECK_INT(sysfs_write("/sys/bus/pci/drivers/vfio-pci/unbind", "0000:41:00.1"), 0);
        CHECK_INT(sysfs_write("/sys/bus/pci/drivers_probe", "0000:41:00.1"), 0);
        CHECK_INT(pci_device_driver(&h, drv, sizeof(drv)), 0);
        CHECK_STR(drv, "snd_hda_intel");
        CHECK(!present("/dev/vfio/20"));
}

TEST(fake_pci_failure_injection)
{
        const char *root = tree_new();
        CHECK_INT(pci_fixture_build(root, "gpu-hda"), 0);
        tree_write("/.fake/pci/0000:41:00.1.unbind-busy", "");
        CHECK_INT(sysfs_write("/sys/bus/pci/drivers/snd_hda_intel/unbind", "0000:41:00.1"), -EBUSY);
        CHECK_INT(sysfs_write("/sys/bus/pci/drivers/nvidia/unbind", "0000:41:00.1"), -ENODEV);
        CHECK_INT(sysfs_write("/sys/bus/pci/drivers/nvidia/unbind", "0000:41:00.0"), 0);
        tree_write("/.fake/pci/0000:41:00.0.refuse-nvidia", "");
        CHECK_INT(sysfs_write("/sys/bus/pci/drivers/nvidia/bind", "0000:41:00.0"), -ENODEV);
        CHECK_INT(sysfs_write("/sys/bus/pci/drivers_probe", "0000:41:00.0"), 0); /* succeeds, stays unbound */
        PciAddress g = A("0000:41:00.0");
        char drv[64];
        CHECK_INT(pci_device_driver(&g, drv, sizeof(drv)), 0);
        CHECK_STR(drv, "");
}

TEST(fake_pci_sriov_numvfs_only_through_zero)
{
        const char *root = tree_new();
        CHECK_INT(pci_fixture_build(root, "sriov-nic"), 0);
        PciAddress pf = A("0000:43:00.0"), vf;
        PciDevice d;
        CHECK_INT(sysfs_write("/sys/bus/pci/devices/0000:43:00.0/sriov_drivers_autoprobe", "0"), 0);
        CHECK_INT(sysfs_write("/sys/bus/pci/devices/0000:43:00.0/sriov_numvfs", "9"), -ERANGE);
        CHECK_INT(sysfs_write("/sys/bus/pci/devices/0000:43:00.0/sriov_numvfs", "4"), 0);
        CHECK_INT(sysfs_write("/sys/bus/pci/devices/0000:43:00.0/sriov_numvfs", "8"), -EBUSY);
        CHECK_INT(pci_device_read(&pf, &d), 0);
        CHECK_INT(d.sriov_totalvfs, 8);
        CHECK_INT(d.sriov_numvfs, 4);
        CHECK_INT(pci_device_virtfn(&pf, 3, &vf), 0);
        char bdf[PCI_ADDRESS_STRLEN];
        pci_address_format(&vf, bdf);
        CHECK_STR(bdf, "0000:43:10.6");
        CHECK_INT(pci_device_read(&vf, &d), 0);
        CHECK(d.is_vf);
        CHECK(pci_address_equal(&d.physfn, &pf));
        CHECK_STR(d.driver, ""); /* autoprobe off */
        CHECK(d.iommu_group >= 0);
        CHECK_INT(sysfs_write("/sys/bus/pci/devices/0000:43:00.0/sriov_numvfs", "0"), 0);
        CHECK_INT(pci_device_virtfn(&pf, 0, &vf), -ENOENT);
        CHECK(!present("/sys/bus/pci/devices/0000:43:10.6"));
        /* with autoprobe the VFs come up on their driver */
        CHECK_INT(sysfs_write("/sys/bus/pci/devices/0000:43:00.0/sriov_drivers_autoprobe", "1"), 0);
        CHECK_INT(sysfs_write("/sys/bus/pci/devices/0000:43:00.0/sriov_numvfs", "2"), 0);
        CHECK_INT(pci_device_virtfn(&pf, 1, &vf), 0);
        CHECK_INT(pci_device_read(&vf, &d), 0);
        CHECK_STR(d.driver, "ixgbevf");
}

TEST(fake_pci_modprobe_creates_vfio_pci)
{
        const char *root = tree_new();
        CHECK_INT(pci_fixture_build(root, "base"), 0);
        CHECK(pci_driver_present("vfio-pci"));
        CHECK(!pci_driver_present("../x"));
        const char *files[] = { "bind", "unbind", "new_id", "" };
        for (size_t i = 0; i < 4; i++) {
                char p[1024];
                snprintf(p, sizeof(p), "%s/sys/bus/pci/drivers/vfio-pci/%s", root, files[i]);
                CHECK_INT(remove(p), 0);
        }
        CHECK(!pci_driver_present("vfio-pci"));
        CHECK_INT(sysfs_write("/.fake/modprobe", "vfio-pci"), 0);
        CHECK(pci_driver_present("vfio-pci"));
}

#include "common/hostuse.h"

TEST(hostuse_finds_the_mount_on_an_nvme_and_none_on_a_gpu)
{
        const char *root = tree_new();
        CHECK_INT(pci_fixture_build(root, "nvme-mounted"), 0);
        CHECK_INT(pci_fixture_build(root, "gpu-hda"), 0);
        char why[256];
        CHECK(hostuse_mounted("0000:44:00.0", why, sizeof(why)));
        CHECK_STR(why, "it holds the mounted filesystem /var (/dev/nvme0n1p1)");
        CHECK(!hostuse_mounted("0000:41:00.0", why, sizeof(why)));
        /* the root disk's controller is not 0000:40:17 by accident of a prefix */
        CHECK(!hostuse_mounted("0000:40:17.1", why, sizeof(why)));
}

TEST(hostuse_finds_the_default_route_nic)
{
        const char *root = tree_new();
        CHECK_INT(pci_fixture_build(root, "host-nic"), 0);
        CHECK_INT(pci_fixture_build(root, "sriov-nic"), 0);
        char why[256];
        CHECK(hostuse_network("0000:46:00.0", why, sizeof(why)));
        CHECK_STR(why, "it is the host's network interface eno1 and it carries the default route");
        CHECK(!hostuse_network("0000:43:00.0", why, sizeof(why)));
}

TEST(hostuse_names_the_processes_holding_device_nodes)
{
        const char *root = tree_new();
        CHECK_INT(pci_fixture_build(root, "boot-vga"), 0);
        CHECK_INT(pci_fixture_build(root, "gpu-hda"), 0);
        char who[256];
        CHECK_INT(hostuse_holders("0000:45:00.0", who, sizeof(who)), 1);
        CHECK_STR(who, "Xorg (pid 4242)");
        CHECK_INT(hostuse_holders("0000:41:00.1", who, sizeof(who)), 0);
        tree_write("/proc/777/comm", "pipewire\n");
        char p[512];
        snprintf(p, sizeof(p), "%s/proc/777/fd", root);
        CHECK_INT(mkdir(p, 0755), 0);
        snprintf(p, sizeof(p), "%s/proc/777/fd/31", root);
        CHECK_INT(symlink("/dev/snd/pcmC1D0p", p), 0);
        CHECK_INT(hostuse_holders("0000:41:00.1", who, sizeof(who)), 1);
        CHECK_STR(who, "pipewire (pid 777)");
        /* card 1 is the HDA's; card 10 would not be */
        snprintf(p, sizeof(p), "%s/proc/777/fd/31", root);
        CHECK_INT(unlink(p), 0);
        CHECK_INT(symlink("/dev/snd/controlC10", p), 0);
        CHECK_INT(hostuse_holders("0000:41:00.1", who, sizeof(who)), 0);
}
