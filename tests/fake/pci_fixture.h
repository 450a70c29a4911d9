/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fake PCI hosts for the vfio tests, built under a fake root: devices on
 * buses 0x40 and above only (never this machine's 0000:00:xx.x).
 *
 * Every device lists reset_method "flr bus" and supports those two
 * (ROOT/.fake/pci/BDF.reset-methods, tests/fake/fake_pci.c); VFs "flr".
 *
 *   base            drivers_probe, /dev/vfio/vfio, the vfio-pci driver,
 *                   an empty /proc/net/route, a root filesystem elsewhere
 *   gpu-hda         0000:41:00.0 GPU (nvidia) + 0000:41:00.1 HDA (snd_hda_intel), group 20;
 *                   modules nvidia and nvidia_drm loaded
 *   gpu-bridge-usb  0000:40:01.0 PCIe bridge (pcieport), 0000:42:00.0 GPU (nouveau),
 *                   0000:42:00.3 USB (xhci_hcd), all in group 21
 *   sriov-nic       0000:43:00.0 PF (ixgbe, enp67s0f0), 8 VFs possible, none now, group 22
 *   sriov-nic-2vfs  the same with 2 VFs on ixgbevf (0000:43:10.0, 0000:43:10.2), VF 1 with a MAC
 *   nvme-mounted    0000:44:00.0 NVMe (nvme) holding the mounted /var, group 23
 *   boot-vga        0000:45:00.0 boot GPU (amdgpu) + 0000:45:00.1 HDA, group 24,
 *                   fbcon on vtcon1, efi-framebuffer.0 bound to efi-framebuffer,
 *                   /sys/class/drm/card0, /dev/dri/card0 open by Xorg (pid 4242) of
 *                   gdm.service, the display manager of a systemd host (the test double)
 *   host-nic        0000:46:00.0 NIC (igb, eno1) carrying the default route, group 25
 *
 * and the recorded host shapes of tests/fake/host_shapes.c (not in "all":
 * each is a whole host, with its own mounts, swaps and routes):
 *
 *   fedora-workstation  btrfs root over two NVMe, swap on a SATA disk, br0 over
 *                       the onboard NIC, two GPUs, USB controllers with the
 *                       keyboard and mouse, a gamepad, a btrfs USB stick
 *   proxmox-server      ZFS root mirror (rpool) on two NVMe, an imported pool
 *                       without mounts, bond0 under vmbr0 with a VLAN, a VLAN on
 *                       a second NIC, a bridge with only IPv6
 *   macvtap-host        untagged running VMs: a macvtap on a NIC, a whole SATA
 *                       disk, and a dead VM's status file
 *   nfv-host        (a host of its own, not in "all": its PF sits where gpu-hda's GPU does)
 *                   an NFV host: Intel X710 PF 0000:41:00.0 (i40e, enp65s0f0, 64 VFs
 *                   possible, group 30) with 8 VFs 0000:41:02.0-7 (groups 4000-4007),
 *                   made by the fake kernel (tests/fake/nfv_host.c says who uses which)
 */
#pragma once

/* Add fixture `name` (one of the above, or "all") to the tree at root;
 * "base" is added first by every other one.  0 or -errno. */
int pci_fixture_build(const char *root, const char *name);


/* For the fixture files (tests/fake/host_shapes.c, tests/fake/nfv_host.c):
 * write under the root of the build in progress (paths start with '/';
 * directories are made), make a symlink or a directory, add a PCI device
 * bound to drv (NULL: no driver) in IOMMU group `group`, or write through
 * the fake kernel (0 or -errno). */
const char *fixture_root(void);
void fixture_put(const char *rel, const char *content);
void fixture_append(const char *rel, const char *content);
void fixture_link(const char *rel, const char *target);
void fixture_dir(const char *rel);
void fixture_device(const char *bdf, const char *vendor, const char *dev, const char *cls, int group, const char *drv);
int fixture_kernel_write(const char *path, const char *value);
/* tests/fake/host_shapes.c: build shape `name`; -ENOENT when there is none. */
int host_shape_build(const char *name);
/* tests/fake/nfv_host.c */
void fixture_nfv_host(void);
