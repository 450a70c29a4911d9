/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Recorded host shapes: whole hosts as real distributions lay them out, for
 * the host-use interlocks (tests/hooks/hostshapes.sh).  Files and formats
 * as the kernel, udev and libvirt write them:
 *
 *   /proc/self/mountinfo     btrfs, ZFS: MAJ:MIN 0:N (an anonymous device)
 *   /sys/fs/btrfs/UUID/devices/NAME   a link to each member's block device
 *   /run/udev/data/bMAJ:MIN  E:ID_FS_TYPE=zfs_member, E:ID_FS_LABEL=POOL
 *   /proc/spl/kstat/zfs/POOL an imported pool
 *   /proc/swaps              "Filename Type Size Used Priority"
 *   /sys/class/net/IF/{master,upper_X,lower_X}, bridge/, bonding/, uevent DEVTYPE=
 *   /sys/class/input/inputN  a link into the USB device under the controller
 *   /run/libvirt/qemu/NAME.xml  <domstatus pid=...><domain id=...>
 *
 * Every PCI address is on a bus >= 0x50; links are relative, as sysfs's,
 * and never leave the root.
 */
#include "pci_fixture.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static void putf(const char *rel, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(const char *rel, const char *fmt, ...)
{
        char text[8192];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        fixture_put(rel, text);
}

/* A link at `link` to `target`, both from the root, written relative. */
static void link_to(const char *link, const char *target)
{
        char rel[PATH_MAX] = "";
        size_t len = 0;
        for (const char *c = strchr(link + 1, '/'); c; c = strchr(c + 1, '/'))
                len += (size_t) snprintf(rel + len, sizeof(rel) - len, "../");
        snprintf(rel + len, sizeof(rel) - len, "%s", target + 1);
        fixture_link(link, rel);
}

/* A block device whose sysfs directory is devdir: its dev file, the
 * /sys/class/block and /sys/dev/block links, and its node in /dev. */
static void block(const char *devdir, const char *name, const char *majmin)
{
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/dev", devdir);
        putf(p, "%s\n", majmin);
        snprintf(p, sizeof(p), "%s/holders", devdir);
        fixture_dir(p);
        snprintf(p, sizeof(p), "/sys/class/block/%s", name);
        link_to(p, devdir);
        snprintf(p, sizeof(p), "/sys/dev/block/%s", majmin);
        link_to(p, devdir);
        snprintf(p, sizeof(p), "/dev/%s", name);
        fixture_put(p, "");
}

/* An NVMe controller with namespace nvmeCn1 and partitions p1..pN
 * (259:minor, minor+1, ...); the namespace's directory into nsdir. */
static void nvme(const char *bdf, int group, int ctrl, int parts, int minor, char *nsdir, size_t size)
{
        char name[32], majmin[32], p[PATH_MAX];
        fixture_device(bdf, "0x144d", "0xa80a", "0x010802", group, "nvme");
        snprintf(nsdir, size, "/sys/devices/pci0000:%.2s/%s/nvme/nvme%d/nvme%dn1", bdf + 5, bdf, ctrl, ctrl);
        snprintf(name, sizeof(name), "nvme%dn1", ctrl);
        snprintf(majmin, sizeof(majmin), "259:%d", minor);
        block(nsdir, name, majmin);
        for (int i = 1; i <= parts; i++) {
                snprintf(name, sizeof(name), "nvme%dn1p%d", ctrl, i);
                snprintf(majmin, sizeof(majmin), "259:%d", minor + i);
                snprintf(p, sizeof(p), "%s/%s/partition", nsdir, name);
                putf(p, "%d\n", i);
                snprintf(p, sizeof(p), "%s/%s", nsdir, name);
                block(p, name, majmin);
        }
}

/* A SCSI disk sdX (8:minor) with one partition, under a controller's path. */
static void scsi_disk(const char *ctrl_path, const char *disk, int minor, bool partition)
{
        char dir[1024], p[PATH_MAX], majmin[16], part[16];
        snprintf(dir, sizeof(dir), "%s/block/%s", ctrl_path, disk);
        snprintf(majmin, sizeof(majmin), "8:%d", minor);
        block(dir, disk, majmin);
        if (!partition)
                return;
        snprintf(part, sizeof(part), "%s1", disk);
        snprintf(p, sizeof(p), "%s/%s", dir, part);
        snprintf(majmin, sizeof(majmin), "8:%d", minor + 1);
        block(p, part, majmin);
        snprintf(p, sizeof(p), "%s/%s/partition", dir, part);
        fixture_put(p, "1\n");
}

/* ---- network ---- */

static struct {
        char name[16];
        char dir[160];
} ifs[32];
static size_t n_ifs;

static const char *if_dir(const char *name)
{
        for (size_t i = 0; i < n_ifs; i++)
                if (strcmp(ifs[i].name, name) == 0)
                        return ifs[i].dir;
        return "/nonexistent";
}

static void if_add(const char *name, const char *dir, const char *uevent)
{
        char p[PATH_MAX];
        if (n_ifs < 32) {
                snprintf(ifs[n_ifs].name, sizeof(ifs[0].name), "%s", name);
                snprintf(ifs[n_ifs].dir, sizeof(ifs[0].dir), "%s", dir);
                n_ifs++;
        }
        snprintf(p, sizeof(p), "%s/operstate", dir);
        fixture_put(p, "up\n");
        snprintf(p, sizeof(p), "%s/uevent", dir);
        putf(p, "%sINTERFACE=%s\nIFINDEX=%zu\n", uevent, name, n_ifs + 1);
        snprintf(p, sizeof(p), "/sys/class/net/%s", name);
        link_to(p, dir);
}

/* A NIC's interface where the other fixtures put it (BDF/net/IF). */
static void nic(const char *bdf, int group, const char *name)
{
        char dir[PATH_MAX];
        fixture_device(bdf, "0x8086", "0x125c", "0x020000", group, "igc");
        snprintf(dir, sizeof(dir), "/sys/bus/pci/devices/%s/net/%s", bdf, name);
        if_add(name, dir, "");
        snprintf(dir, sizeof(dir), "/sys/bus/pci/devices/%s/net/%s/device", bdf, name);
        fixture_link(dir, "../../../"); /* the PCI device, as on a real host */
}

/* A virtual interface: bridge (bridge/), bond (bonding/), vlan, macvtap. */
static void virt(const char *name, const char *kind)
{
        char dir[1024], p[PATH_MAX], uevent[64] = "";
        snprintf(dir, sizeof(dir), "/sys/devices/virtual/net/%s", name);
        if (strcmp(kind, "bridge") == 0 || strcmp(kind, "bond") == 0 || strcmp(kind, "vlan") == 0)
                snprintf(uevent, sizeof(uevent), "DEVTYPE=%s\n", kind);
        if_add(name, dir, uevent);
        if (strcmp(kind, "bridge") == 0) {
                snprintf(p, sizeof(p), "%s/bridge/stp_state", dir);
                fixture_put(p, "0\n");
        } else if (strcmp(kind, "bond") == 0) {
                snprintf(p, sizeof(p), "%s/bonding/mode", dir);
                fixture_put(p, "802.3ad 4\n");
        } else if (strcmp(kind, "macvtap") == 0) {
                snprintf(p, sizeof(p), "%s/macvtap/tap%zu/dev", dir, n_ifs + 1);
                fixture_put(p, "243:1\n");
        }
}

/* upper on lower: upper_/lower_ links both ways, and master when lower is
 * enslaved (a bridge port, a bond slave), as net/core/dev.c makes them. */
static void stack(const char *lower, const char *upper, bool master)
{
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/upper_%s", if_dir(lower), upper);
        link_to(p, if_dir(upper));
        snprintf(p, sizeof(p), "%s/lower_%s", if_dir(upper), lower);
        link_to(p, if_dir(lower));
        if (master) {
                snprintf(p, sizeof(p), "%s/master", if_dir(lower));
                link_to(p, if_dir(upper));
        }
}

/* /proc/net/route lines: "Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT" */
static void route(const char *ifname, const char *dest, const char *gw, const char *flags, const char *mask)
{
        char line[256];
        snprintf(line, sizeof(line), "%s\t%s\t%s\t%s\t0\t0\t425\t%s\t0\t0\t0\n", ifname, dest, gw, flags, mask);
        fixture_append("/proc/net/route", line);
}

/* /proc/net/if_inet6: "ADDR IFINDEX PLEN SCOPE FLAGS IFNAME" (scope 20 is link) */
static void inet6(const char *addr, int plen, int scope, const char *ifname)
{
        char line[256];
        snprintf(line, sizeof(line), "%s %02x %02x %02x %02x %8s\n", addr, 4, plen, scope, 0x80, ifname);
        fixture_append("/proc/net/if_inet6", line);
}

/* ---- input ---- */

/* An input device (and its event node) under a USB device of a controller. */
static void input(const char *usbdir, int n, const char *name, const char *ev)
{
        char dir[1024], p[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s/input/input%d", usbdir, n);
        snprintf(p, sizeof(p), "%s/name", dir);
        putf(p, "%s\n", name);
        snprintf(p, sizeof(p), "%s/capabilities/ev", dir);
        putf(p, "%s\n", ev);
        snprintf(p, sizeof(p), "/sys/class/input/input%d", n);
        link_to(p, dir);
        snprintf(p, sizeof(p), "%s/event%d/dev", dir, n);
        putf(p, "13:%d\n", 64 + n);
        snprintf(dir, sizeof(dir), "%s/input/input%d/event%d", usbdir, n, n);
        snprintf(p, sizeof(p), "/sys/class/input/event%d", n);
        link_to(p, dir);
}

/* ---- libvirt ---- */

/* /run/libvirt/qemu/NAME.xml as libvirtd writes it, QEMU alive or not. */
static void status_file(const char *name, const char *uuid, int pid, bool alive, const char *devices)
{
        char p[256];
        snprintf(p, sizeof(p), "/run/libvirt/qemu/%s.xml", name);
        putf(p,
             "<!--\nWARNING: THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE\n"
             "OVERWRITTEN AND LOST. Changes to this xml configuration should be made using:\n"
             "  virsh edit %s\n-->\n\n"
             "<domstatus state='running' reason='booted' pid='%d'>\n"
             "  <taint flag='high-privileges'/>\n"
             "  <monitor path='/var/lib/libvirt/qemu/domain-3-%s/monitor.sock' type='unix'/>\n"
             "  <vcpus>\n    <vcpu id='0' pid='%d'/>\n  </vcpus>\n"
             "  <domain type='kvm' id='3'>\n    <name>%s</name>\n    <uuid>%s</uuid>\n"
             "    <memory unit='KiB'>2097152</memory>\n    <vcpu placement='static'>2</vcpu>\n"
             "    <os>\n      <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>\n    </os>\n"
             "    <devices>\n      <emulator>/usr/bin/qemu-system-x86_64</emulator>\n%s    </devices>\n"
             "  </domain>\n</domstatus>\n",
             name, pid, name, pid + 1, name, uuid, devices);
        if (alive) {
                snprintf(p, sizeof(p), "/proc/%d/comm", pid);
                fixture_put(p, "qemu-system-x86\n");
        }
}

/* ---- the shapes ---- */

static const char ROUTE_HEADER[] = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";
static const char SWAPS_HEADER[] = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";

/*
 * Fedora Workstation 40: btrfs root (subvolumes root and home) on
 * nvme0n1p3, grown over nvme1n1p1 with `btrfs device add`; /boot and
 * /boot/efi on nvme0; zram swap and a swap partition on a SATA disk;
 * NetworkManager's br0 over the onboard NIC with the address and default
 * route; a boot GPU and a second GPU; USB: the keyboard and mouse on the
 * chipset controller (which shares IOMMU group 46 with the PSP), a gamepad
 * on a second controller, a btrfs USB stick on a third.
 *
 *   0000:50:00.0 NVMe nvme0 (group 40)     0000:51:00.0 NVMe nvme1 (group 41)
 *   0000:52:00.0 SATA sdb, swap (42)        0000:53:00.0 NIC enp83s0 in br0 (43)
 *   0000:54:00.0/.1 boot GPU + HDA (44): fbcon, GDM, gnome-shell on card0
 *   0000:55:00.0/.1 GPU + HDA (45)
 *   0000:56:00.2 PSP, 0000:56:00.3 USB keyboard+mouse (46)
 *   0000:57:00.0 USB gamepad (47)           0000:58:00.0 USB stick, btrfs (48)
 *   0000:59:1f.0/.3/.4/.5 the PCH: LPC, audio, SMBus, SPI (49)
 *   0000:5a:00.0 USB NIC of a dock, IPv6 address (50)
 *   0000:5b:00.0 virtio NIC eth1, route to 192.168.2.0/24 (51)
 */
static void fedora_workstation(void)
{
        char ns0[PATH_MAX], ns1[PATH_MAX];
        const char *fs = "/sys/fs/btrfs/5f3ad7e1-0b8c-4c1a-9e6e-3f5b2c7d8a90";
        const char *stick = "/sys/fs/btrfs/0c9d2a4e-61f7-4b3e-8d05-a1b2c3d4e5f6";

        nvme("0000:50:00.0", 40, 0, 3, 1, ns0, sizeof(ns0));
        nvme("0000:51:00.0", 41, 1, 1, 5, ns1, sizeof(ns1));
        fixture_put("/sys/fs/btrfs/features/free_space_tree", "0\n");
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/devices/nvme0n1p3", fs);
        snprintf(ns0 + strlen(ns0), sizeof(ns0) - strlen(ns0), "/nvme0n1p3");
        link_to(p, ns0);
        snprintf(p, sizeof(p), "%s/devices/nvme1n1p1", fs);
        snprintf(ns1 + strlen(ns1), sizeof(ns1) - strlen(ns1), "/nvme1n1p1");
        link_to(p, ns1);
        putf("/sys/fs/btrfs/5f3ad7e1-0b8c-4c1a-9e6e-3f5b2c7d8a90/label", "fedora\n");

        fixture_device("0000:52:00.0", "0x1022", "0x7901", "0x010601", 42, "ahci");
        scsi_disk("/sys/devices/pci0000:52/0000:52:00.0/ata2/host1/target1:0:0/1:0:0:0", "sdb", 16, true);
        /* zram swap: a virtual block device */
        block("/sys/devices/virtual/block/zram0", "zram0", "252:0");

        fixture_put("/proc/self/mountinfo",
                    "61 1 0:31 /root / rw,relatime shared:1 - btrfs /dev/nvme0n1p3 rw,seclabel,compress=zstd:1,ssd,"
                    "discard=async,space_cache=v2,subvolid=257,subvol=/root\n"
                    "23 61 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:13 - proc proc rw\n"
                    "25 61 0:5 / /dev rw,nosuid shared:2 - devtmpfs devtmpfs rw,seclabel,size=4096k,mode=755\n"
                    "95 61 259:2 / /boot rw,relatime shared:48 - ext4 /dev/nvme0n1p2 rw,seclabel\n"
                    "98 95 259:1 / /boot/efi rw,relatime shared:50 - vfat /dev/nvme0n1p1 rw,fmask=0077,dmask=0077\n"
                    "101 61 0:31 /home /home rw,relatime shared:52 - btrfs /dev/nvme0n1p3 rw,seclabel,compress=zstd:1,"
                    "ssd,discard=async,space_cache=v2,subvolid=256,subvol=/home\n"
                    "104 61 0:34 / /tmp rw,nosuid,nodev shared:54 - tmpfs tmpfs rw,seclabel,size=16310748k\n"
                    "880 61 0:61 / /run/media/user/My\\040Stick rw,nosuid,nodev,relatime shared:480 - btrfs /dev/sdc1 "
                    "rw,seclabel,ssd,space_cache=v2,subvolid=5,subvol=/\n");
        putf("/proc/swaps", "%s/dev/zram0                              partition\t8388604\t\t0\t\t100\n"
                            "/dev/sdb1                               partition\t16777212\t0\t\t-2\n",
             SWAPS_HEADER);

        nic("0000:53:00.0", 43, "enp83s0");
        virt("br0", "bridge");
        stack("enp83s0", "br0", true);
        putf("/proc/net/route", "%s", ROUTE_HEADER);
        route("br0", "00000000", "0101A8C0", "0003", "00000000");
        route("br0", "0001A8C0", "00000000", "0001", "00FFFFFF");
        fixture_put("/proc/net/if_inet6", "");
        inet6("fe80000000000000a2369ffffe0a0b0c", 64, 0x20, "enp83s0");
        inet6("20010db8000100000000000000000010", 64, 0x00, "br0");
        inet6("fe80000000000000a2369ffffe0a0b0c", 64, 0x20, "br0");

        fixture_device("0000:54:00.0", "0x1002", "0x73bf", "0x030000", 44, "amdgpu");
        fixture_device("0000:54:00.1", "0x1002", "0xab28", "0x040300", 44, "snd_hda_intel");
        fixture_put("/sys/bus/pci/devices/0000:54:00.0/boot_vga", "1\n");
        /* the desktop runs on the boot GPU: fbcon on its framebuffer, GDM
         * under systemd, gnome-shell holding card0 */
        fixture_put("/sys/class/vtconsole/vtcon0/name", "(S) dummy device\n");
        fixture_put("/sys/class/vtconsole/vtcon0/bind", "0\n");
        fixture_put("/sys/class/vtconsole/vtcon1/name", "(M) frame buffer device\n");
        fixture_put("/sys/class/vtconsole/vtcon1/bind", "1\n");
        fixture_link("/sys/class/drm/card0/device", "../../../bus/pci/devices/0000:54:00.0");
        fixture_dir("/run/systemd/system");
        fixture_put("/.fake/systemd/units/display-manager.service", "gdm.service active\n");
        fixture_put("/.fake/systemd/units/gdm.service", "gdm.service active\n");
        fixture_put("/.fake/systemd/units/gdm.service.pids", "2301 gnome-shell /dev/dri/card0\n");
        fixture_put("/proc/2301/comm", "gnome-shell\n");
        fixture_link("/proc/2301/fd/14", "/dev/dri/card0");
        fixture_link("/proc/2301/fd/0", "/dev/null");
        fixture_device("0000:55:00.0", "0x10de", "0x2204", "0x030000", 45, "nouveau");
        fixture_device("0000:55:00.1", "0x10de", "0x1aef", "0x040300", 45, "snd_hda_intel");

        /* the chipset's USB controller: the keyboard and mouse (ev 0x120013: KEY, REP; 0x17: REL) */
        fixture_device("0000:56:00.2", "0x1022", "0x1649", "0x108000", 46, "ccp");
        fixture_device("0000:56:00.3", "0x1022", "0x15b6", "0x0c0330", 46, "xhci_hcd");
        input("/sys/devices/pci0000:56/0000:56:00.3/usb3/3-2/3-2:1.0/0003:046D:C31C.0001", 3,
              "Logitech USB Keyboard", "120013");
        input("/sys/devices/pci0000:56/0000:56:00.3/usb3/3-3/3-3:1.0/0003:046D:C077.0002", 5,
              "Logitech USB Optical Mouse", "17");
        /* a USB NIC (a dock's) with the host's IPv6 address, under a third
         * xHCI controller: sysfs has it under the controller, not in its net/ */
        fixture_device("0000:5a:00.0", "0x1b21", "0x3241", "0x0c0330", 50, "xhci_hcd");
        if_add("enx00e04c680001",
               "/sys/devices/pci0000:5a/0000:5a:00.0/usb7/7-1/7-1:1.0/net/enx00e04c680001", "");
        inet6("20010db8000100000000000000000042", 64, 0x00, "enx00e04c680001");
        /* a virtio NIC (a nested host, or a cloud instance): BDF/virtio0/net/ */
        fixture_device("0000:5b:00.0", "0x1af4", "0x1041", "0x020000", 51, "virtio-pci");
        if_add("eth1", "/sys/devices/pci0000:5b/0000:5b:00.0/virtio0/net/eth1", "");
        route("eth1", "0002A8C0", "00000000", "0001", "00FFFFFF");
        /* the PCH at 59:1f.x, one IOMMU group as on most Intel boards: LPC
         * (watchdog, GPIO), the onboard audio, SMBus, SPI flash */
        fixture_device("0000:59:1f.0", "0x8086", "0x7a06", "0x060100", 49, "lpc_ich");
        fixture_device("0000:59:1f.3", "0x8086", "0x7ad0", "0x040300", 49, "snd_hda_intel");
        fixture_device("0000:59:1f.4", "0x8086", "0x7aa3", "0x0c0500", 49, "i801_smbus");
        fixture_device("0000:59:1f.5", "0x8086", "0x7aa4", "0x0c8000", 49, "intel-spi");
        /* a gamepad (ev 0x20000b: KEY, ABS, FF) on a second controller: not the host's input */
        fixture_device("0000:57:00.0", "0x1b21", "0x2142", "0x0c0330", 47, "xhci_hcd");
        input("/sys/devices/pci0000:57/0000:57:00.0/usb5/5-1/5-1:1.0/0003:045E:0B12.0003", 7,
              "Microsoft X-Box One pad", "20000b");
        /* a USB stick with btrfs on a third one */
        fixture_device("0000:58:00.0", "0x1912", "0x0014", "0x0c0330", 48, "xhci_hcd");
        scsi_disk("/sys/devices/pci0000:58/0000:58:00.0/usb7/7-1/7-1:1.0/host6/target6:0:0/6:0:0:0", "sdc", 32, true);
        snprintf(p, sizeof(p), "%s/devices/sdc1", stick);
        link_to(p, "/sys/devices/pci0000:58/0000:58:00.0/usb7/7-1/7-1:1.0/host6/target6:0:0/6:0:0:0/block/sdc/sdc1");
}

/* udev's record of a ZFS vdev partition, as blkid reports it. */
static void zfs_member(const char *majmin, const char *pool, const char *guid)
{
        char p[64];
        snprintf(p, sizeof(p), "/run/udev/data/b%s", majmin);
        putf(p, "S:disk/by-partuuid/%s\nI:4213221\nE:ID_FS_VERSION=5000\nE:ID_FS_TYPE=zfs_member\n"
                "E:ID_FS_USAGE=filesystem\nE:ID_FS_LABEL=%s\nE:ID_FS_LABEL_ENC=%s\nE:ID_FS_UUID=%s\n"
                "E:ID_PART_ENTRY_SCHEME=gpt\nG:systemd\nQ:systemd\nV:1\n",
             guid, pool, pool, guid);
}

/*
 * Proxmox VE 8: the installer's ZFS RAID1 rpool on nvme0n1p3 + nvme1n1p3,
 * datasets mounted at /, /rpool, /rpool/data, /var/lib/vz; a pool "tank"
 * imported for zvols with nothing mounted; an old disk with a pool that is
 * not imported; bond0 (LACP) over the two ports of a NIC under vmbr0 with
 * the management address and default route, and vmbr0.20 with an address;
 * a VLAN enp101s0f1.30 with an address on a second NIC; vmbr1 with only a
 * global IPv6 address.
 *
 *   0000:60:00.0 nvme0 rpool (50)   0000:61:00.0 nvme1 rpool (51)
 *   0000:62:00.0 nvme2 tank (52)    0000:63:00.0 nvme3 oldpool, not imported (53)
 *   0000:64:00.0/.1 enp100s0f0/f1 in bond0 under vmbr0 (54, 55)
 *   0000:65:00.0/.1 enp101s0f0 (free) / enp101s0f1 with VLAN 30 (56, 57)
 *   0000:66:00.0 enp102s0 in vmbr1, IPv6 only (58)
 */
static void proxmox_server(void)
{
        char ns[PATH_MAX];
        nvme("0000:60:00.0", 50, 0, 3, 1, ns, sizeof(ns));
        nvme("0000:61:00.0", 51, 1, 3, 5, ns, sizeof(ns));
        nvme("0000:62:00.0", 52, 2, 1, 9, ns, sizeof(ns));
        nvme("0000:63:00.0", 53, 3, 1, 11, ns, sizeof(ns));
        zfs_member("259:4", "rpool", "11874622190254317171");
        zfs_member("259:8", "rpool", "11874622190254317171");
        zfs_member("259:10", "tank", "5023166491876012345");
        zfs_member("259:12", "oldpool", "9203344556677889900");
        fixture_put("/proc/spl/kstat/zfs/rpool/state", "ONLINE\n");
        fixture_put("/proc/spl/kstat/zfs/tank/state", "ONLINE\n");
        fixture_put("/proc/self/mountinfo",
                    "24 1 0:21 / / rw,relatime shared:1 - zfs rpool/ROOT/pve-1 rw,xattr,noacl,casesensitive\n"
                    "25 24 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n"
                    "62 24 0:44 / /rpool rw,noatime shared:31 - zfs rpool rw,xattr,noacl,casesensitive\n"
                    "63 62 0:45 / /rpool/data rw,noatime shared:32 - zfs rpool/data rw,xattr,noacl,casesensitive\n"
                    "64 24 0:46 / /var/lib/vz rw,relatime shared:33 - zfs rpool/var-lib-vz rw,xattr,noacl\n");
        putf("/proc/swaps", "%s", SWAPS_HEADER);

        nic("0000:64:00.0", 54, "enp100s0f0");
        nic("0000:64:00.1", 55, "enp100s0f1");
        virt("bond0", "bond");
        virt("vmbr0", "bridge");
        virt("vmbr0.20", "vlan");
        stack("enp100s0f0", "bond0", true);
        stack("enp100s0f1", "bond0", true);
        stack("bond0", "vmbr0", true);
        stack("vmbr0", "vmbr0.20", false);
        nic("0000:65:00.0", 56, "enp101s0f0");
        nic("0000:65:00.1", 57, "enp101s0f1");
        virt("enp101s0f1.30", "vlan");
        stack("enp101s0f1", "enp101s0f1.30", false);
        nic("0000:66:00.0", 58, "enp102s0");
        virt("vmbr1", "bridge");
        stack("enp102s0", "vmbr1", true);

        putf("/proc/net/route", "%s", ROUTE_HEADER);
        route("vmbr0", "00000000", "0101A8C0", "0003", "00000000");
        route("vmbr0", "0001A8C0", "00000000", "0001", "00FFFFFF");
        route("vmbr0.20", "0000140A", "00000000", "0001", "00FFFFFF");
        route("enp101s0f1.30", "00001E0A", "00000000", "0001", "00FFFFFF");
        fixture_put("/proc/net/if_inet6", "");
        inet6("fe80000000000000a2369ffffe0a0b10", 64, 0x20, "vmbr0");
        inet6("20010db8002000000000000000000002", 64, 0x00, "vmbr1");
        inet6("fe80000000000000a2369ffffe0a0b11", 64, 0x20, "vmbr1");
}

/*
 * A host running untagged VMs: web1 with a macvtap (<interface
 * type='direct'> mode='bridge') on enp112s0, db1 with the whole SATA disk
 * /dev/sdb; old1's status file is left from a crash of libvirtd and its
 * QEMU is gone, so its disk sdc is free.  The host's own network is on a
 * NIC the tests do not pass.
 *
 *   0000:70:00.0 NIC enp112s0 with macvtap0 of web1 (60)
 *   0000:73:00.0 NIC enp115s0 with macvtap1 of mail1, through a macvtap network (63)
 *   0000:71:00.0 SATA sdb, db1's disk (61)
 *   0000:72:00.0 SATA sdc, the dead old1's disk (62)
 */
static void macvtap_host(void)
{
        nic("0000:70:00.0", 60, "enp112s0");
        virt("macvtap0", "macvtap");
        stack("enp112s0", "macvtap0", false);
        fixture_device("0000:71:00.0", "0x1022", "0x7901", "0x010601", 61, "ahci");
        scsi_disk("/sys/devices/pci0000:71/0000:71:00.0/ata3/host2/target2:0:0/2:0:0:0", "sdb", 16, false);
        fixture_device("0000:72:00.0", "0x1022", "0x7901", "0x010601", 62, "ahci");
        scsi_disk("/sys/devices/pci0000:72/0000:72:00.0/ata5/host4/target4:0:0/4:0:0:0", "sdc", 32, false);
        status_file("web1", "7c1e5a2b-3d4f-4e6a-8b9c-0d1e2f3a4b01", 5151, true,
                    "      <interface type='direct'>\n        <mac address='52:54:00:12:34:56'/>\n"
                    "        <source dev='enp112s0' mode='bridge'/>\n        <target dev='macvtap0'/>\n"
                    "        <model type='virtio'/>\n        <alias name='net0'/>\n      </interface>\n");
        status_file("db1", "7c1e5a2b-3d4f-4e6a-8b9c-0d1e2f3a4b02", 5252, true,
                    "      <disk type='block' device='disk'>\n        <driver name='qemu' type='raw' cache='none'/>\n"
                    "        <source dev='/dev/sdb' index='1'/>\n        <target dev='vda' bus='virtio'/>\n"
                    "      </disk>\n");
        /* mail1 reaches the network through a libvirt macvtap network: its
         * live XML says <interface type='network'> with the device in <actual> */
        nic("0000:73:00.0", 63, "enp115s0");
        virt("macvtap1", "macvtap");
        stack("enp115s0", "macvtap1", false);
        status_file("mail1", "7c1e5a2b-3d4f-4e6a-8b9c-0d1e2f3a4b04", 5454, true,
                    "      <interface type='network'>\n        <mac address='52:54:00:12:34:57'/>\n"
                    "        <source network='macvtap-net' portid='0b8e3c3a-4a56-4c0e-9a7e-2d2f3c4b5a60'/>\n"
                    "        <actual type='direct'>\n          <source dev='enp115s0' mode='bridge'/>\n        </actual>\n"
                    "        <target dev='macvtap1'/>\n        <model type='virtio'/>\n      </interface>\n");
        status_file("old1", "7c1e5a2b-3d4f-4e6a-8b9c-0d1e2f3a4b03", 5353, false,
                    "      <disk type='block' device='disk'>\n        <source dev='/dev/sdc'/>\n"
                    "        <target dev='vda' bus='virtio'/>\n      </disk>\n");
}

int host_shape_build(const char *name)
{
        static const struct {
                const char *name;
                void (*fn)(void);
        } shapes[] = {
                { "fedora-workstation", fedora_workstation },
                { "proxmox-server", proxmox_server },
                { "macvtap-host", macvtap_host },
        };
        for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
                if (strcmp(name, shapes[i].name) == 0) {
                        n_ifs = 0;
                        shapes[i].fn();
                        return 0;
                }
        return -ENOENT;
}
