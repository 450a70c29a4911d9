/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "test.h"

#include "common/domain.h"
#include "common/hostuse.h"
#include "tests/fake/pci_fixture.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

TEST(hostuse_mountinfo_reads_btrfs_zfs_and_escaped_mount_points)
{
        HostMount m;
        CHECK_INT(hostuse_mountinfo_parse("61 1 0:31 /root / rw,relatime shared:1 - btrfs /dev/nvme0n1p3 "
                                          "rw,compress=zstd:1,subvolid=257,subvol=/root", &m), 0);
        CHECK_STR(m.majmin, "0:31");
        CHECK_INT(m.major, 0);
        CHECK_STR(m.mountpoint, "/");
        CHECK_STR(m.fstype, "btrfs");
        CHECK_STR(m.source, "/dev/nvme0n1p3");
        /* no optional fields at all, and several */
        CHECK_INT(hostuse_mountinfo_parse("24 1 0:21 / / rw,relatime - zfs rpool/ROOT/pve-1 rw,xattr", &m), 0);
        CHECK_STR(m.source, "rpool/ROOT/pve-1");
        CHECK_INT(hostuse_mountinfo_parse("40 22 259:1 / /var rw shared:20 master:3 propagate_from:2 - xfs "
                                          "/dev/nvme0n1p1 rw", &m), 0);
        CHECK_INT(m.major, 259);
        CHECK_STR(m.fstype, "xfs");
        /* the kernel writes blanks and backslashes as \ooo */
        CHECK_INT(hostuse_mountinfo_parse("880 61 0:61 / /run/media/user/My\\040Stick rw - btrfs /dev/sdc1 rw", &m), 0);
        CHECK_STR(m.mountpoint, "/run/media/user/My Stick");
        CHECK_INT(hostuse_mountinfo_parse("1 2 x:y / / rw - ext4 /dev/sda1 rw", &m), -EINVAL);
        CHECK_INT(hostuse_mountinfo_parse("1 2 8:1 / / rw shared:1", &m), -EINVAL);
        CHECK_INT(hostuse_mountinfo_parse("", &m), -EINVAL);
}

TEST(hostuse_cgroup_service_finds_system_services_only)
{
        char unit[96];
        /* cgroup v2, and nested slices */
        CHECK(hostuse_cgroup_service("0::/system.slice/nvidia-persistenced.service\n", unit, sizeof(unit)));
        CHECK_STR(unit, "nvidia-persistenced.service");
        CHECK(hostuse_cgroup_service("0::/system.slice/system-ollama.slice/ollama@gpu0.service\n", unit, sizeof(unit)));
        CHECK_STR(unit, "ollama@gpu0.service");
        /* a delegated service's own sub-cgroup is still the service */
        CHECK(hostuse_cgroup_service("0::/system.slice/docker.service/init\n", unit, sizeof(unit)));
        CHECK_STR(unit, "docker.service");
        /* cgroup v1 hybrid and legacy: systemd's named hierarchy, not a controller's */
        CHECK(hostuse_cgroup_service("12:cpuset:/\n11:memory:/system.slice/x.service\n"
                                     "1:name=systemd:/system.slice/nvidia-persistenced.service\n", unit, sizeof(unit)));
        CHECK_STR(unit, "nvidia-persistenced.service");
        /* the unified line wins over the v1 ones */
        CHECK(hostuse_cgroup_service("1:name=systemd:/user.slice/user-1000.slice/session-2.scope\n"
                                     "0::/system.slice/b.service\n", unit, sizeof(unit)));
        CHECK_STR(unit, "b.service");
        /* no system service: a user's session, the user manager, a
         * container scope, init, a VM, no systemd, a cpuset-only v1 line */
        CHECK(!hostuse_cgroup_service("0::/user.slice/user-1000.slice/session-2.scope\n", unit, sizeof(unit)));
        CHECK_STR(unit, "");
        CHECK(!hostuse_cgroup_service("0::/user.slice/user-1000.slice/user@1000.service/app.slice/x.service\n", unit,
                                      sizeof(unit)));
        CHECK(!hostuse_cgroup_service("0::/system.slice/docker-0123abcd.scope\n", unit, sizeof(unit)));
        CHECK(!hostuse_cgroup_service("0::/init.scope\n", unit, sizeof(unit)));
        CHECK(!hostuse_cgroup_service("0::/machine.slice/machine-qemu\\x2d1\\x2dvm.scope/libvirt/vcpu0\n", unit,
                                      sizeof(unit)));
        CHECK(!hostuse_cgroup_service("0::/\n", unit, sizeof(unit)));
        CHECK(!hostuse_cgroup_service("3:cpuset:/system.slice/x.service\n", unit, sizeof(unit)));
        CHECK(!hostuse_cgroup_service("0::/system.slice/\n", unit, sizeof(unit)));
        CHECK(!hostuse_cgroup_service("", unit, sizeof(unit)));
        /* a name longer than the buffer is no name at all */
        CHECK(!hostuse_cgroup_service("0::/system.slice/a-very-long-service-name.service\n", unit, 16));
}

TEST(hostuse_swaps_lists_partitions_not_files)
{
        static const char text[] = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
                                   "/swapfile                               file\t\t2097148\t\t0\t\t-3\n"
                                   "/dev/zram0                              partition\t8388604\t\t0\t\t100\n"
                                   "/dev/mapper/fedora\\040swap              partition\t4194300\t\t0\t\t-2\n";
        const char *cur = text;
        char path[128];
        CHECK(hostuse_swaps_next(&cur, path, sizeof(path)));
        CHECK_STR(path, "/dev/zram0");
        CHECK(hostuse_swaps_next(&cur, path, sizeof(path)));
        CHECK_STR(path, "/dev/mapper/fedora swap");
        CHECK(!hostuse_swaps_next(&cur, path, sizeof(path)));
        cur = "Filename\tType\tSize\tUsed\tPriority\n";
        CHECK(!hostuse_swaps_next(&cur, path, sizeof(path)));
}

TEST(hostuse_net_walk_follows_bond_bridge_and_vlan)
{
        const char *root = tree_new();
        CHECK_INT(pci_fixture_build(root, "proxmox-server"), 0);
        HostNetNode nodes[HOSTUSE_NET_NODES];
        char chain[400];
        size_t n = hostuse_net_walk("enp100s0f0", nodes, HOSTUSE_NET_NODES);
        CHECK_INT(n, 4);
        CHECK_STR(nodes[1].name, "bond0");
        CHECK_STR(nodes[2].name, "vmbr0");
        CHECK_STR(nodes[3].name, "vmbr0.20");
        hostuse_net_chain(nodes, 3, chain, sizeof(chain));
        CHECK_STR(chain, "enp100s0f0 is a slave of bond0, which is a port of vmbr0, which carries the VLAN vmbr0.20");
        hostuse_net_chain(nodes, 0, chain, sizeof(chain));
        CHECK_STR(chain, "enp100s0f0");
        CHECK_INT(hostuse_net_walk("enp101s0f0", nodes, HOSTUSE_NET_NODES), 1);
        /* a walk never holds more than it was given, and never a name that is not one */
        CHECK_INT(hostuse_net_walk("enp100s0f0", nodes, 2), 2);
        CHECK_INT(hostuse_net_walk("../../etc", nodes, HOSTUSE_NET_NODES), 0);
}

TEST(hostuse_open_vswitch_port_counts_when_an_internal_port_has_the_address)
{
        const char *root = tree_new();
        CHECK_INT(pci_fixture_build(root, "host-nic"), 0);
        /* eno1 moved from the host's address to an OVS bridge: ovs-system is
         * its master, the address is on the internal port ovsbr0 */
        tree_write("/proc/net/route", "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
                                      "ovsbr0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n");
        tree_write("/sys/devices/virtual/net/ovs-system/uevent", "INTERFACE=ovs-system\nIFINDEX=5\n");
        tree_write("/sys/devices/virtual/net/ovsbr0/uevent", "INTERFACE=ovsbr0\nIFINDEX=6\n");
        char p[512];
        snprintf(p, sizeof(p), "%s/sys/class/net", root);
        CHECK_INT(mkdir(p, 0755), 0);
        snprintf(p, sizeof(p), "%s/sys/class/net/ovs-system", root);
        CHECK_INT(symlink("../../devices/virtual/net/ovs-system", p), 0);
        snprintf(p, sizeof(p), "%s/sys/class/net/ovsbr0", root);
        CHECK_INT(symlink("../../devices/virtual/net/ovsbr0", p), 0);
        snprintf(p, sizeof(p), "%s/sys/class/net/eno1", root);
        CHECK_INT(symlink("../../bus/pci/devices/0000:46:00.0/net/eno1", p), 0);
        snprintf(p, sizeof(p), "%s/sys/bus/pci/devices/0000:46:00.0/net/eno1/master", root);
        CHECK_INT(symlink("../../../../../devices/virtual/net/ovs-system", p), 0);
        snprintf(p, sizeof(p), "%s/sys/bus/pci/devices/0000:46:00.0/net/eno1/upper_ovs-system", root);
        CHECK_INT(symlink("../../../../../devices/virtual/net/ovs-system", p), 0);
        char why[512];
        CHECK(hostuse_network("0000:46:00.0", why, sizeof(why)));
        CHECK_STR(why, "its interface eno1 is a port of the Open vSwitch datapath ovs-system, and the Open vSwitch port "
                       "ovsbr0 carries the default route (sysfs does not tell which OVS bridge a port is on)");
        /* the address gone from OVS: the port is free */
        tree_write("/proc/net/route", "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n");
        CHECK(!hostuse_network("0000:46:00.0", why, sizeof(why)));
}

TEST(hostuse_sees_input_swap_and_held_disks_on_the_workstation)
{
        const char *root = tree_new();
        CHECK_INT(pci_fixture_build(root, "fedora-workstation"), 0);
        char why[512];
        CHECK(hostuse_input("0000:56:00.3", why, sizeof(why)));
        CHECK_STR(why, "the host's keyboard or mouse hangs off it: Logitech USB Keyboard (input3), Logitech USB "
                       "Optical Mouse (input5)");
        CHECK(!hostuse_input("0000:57:00.0", why, sizeof(why))); /* a gamepad */
        CHECK(!hostuse_input("0000:56:00.2", why, sizeof(why)));
        CHECK(hostuse_swap("0000:52:00.0", why, sizeof(why)));
        CHECK_STR(why, "it holds the active swap /dev/sdb1");
        CHECK(!hostuse_swap("0000:50:00.0", why, sizeof(why))); /* zram0 is on no PCI device */
        CHECK(!hostuse_block_held("0000:52:00.0", why, sizeof(why)));
        /* sdb1 becomes an LVM PV with an active LV (dm-3, not mounted) */
        tree_write("/sys/devices/virtual/block/dm-3/dm/name", "vg1-data\n");
        char p[512];
        snprintf(p, sizeof(p), "%s/sys/class/block/dm-3", root);
        CHECK_INT(symlink("../../devices/virtual/block/dm-3", p), 0);
        snprintf(p, sizeof(p), "%s/sys/class/block/sdb1/holders/dm-3", root);
        CHECK_INT(symlink("../../../../../../../../../../../virtual/block/dm-3", p), 0);
        CHECK(hostuse_block_held("0000:52:00.0", why, sizeof(why)));
        CHECK_STR(why, "its block device sdb1 is held by dm-3 (vg1-data) (an active LVM volume, md array or dm-crypt "
                       "device is built on it)");
}

TEST(hostuse_btrfs_over_two_nvme_and_an_unmatched_source)
{
        const char *root = tree_new();
        CHECK_INT(pci_fixture_build(root, "fedora-workstation"), 0);
        char why[512];
        CHECK(hostuse_mounted("0000:51:00.0", why, sizeof(why)));
        CHECK_STR(why, "it holds the mounted filesystem / (btrfs on nvme1n1p1)");
        /* a source no registered filesystem lists (a stale /dev/root): every mounted btrfs counts */
        tree_write("/proc/self/mountinfo", "61 1 0:31 /root / rw - btrfs /dev/root rw,subvol=/root\n");
        CHECK(hostuse_mounted("0000:51:00.0", why, sizeof(why)));
        CHECK_STR(why, "it holds the mounted filesystem / (btrfs on nvme1n1p1)");
        CHECK(!hostuse_mounted("0000:57:00.0", why, sizeof(why)));
}

TEST(domain_records_block_disks_and_direct_interfaces)
{
        static const char xml[] =
                "<domain type='kvm'><name>web1</name><memory>1024</memory><devices>"
                "<disk type='block' device='disk'><source dev='/dev/sdb'/><target dev='vda'/></disk>"
                "<disk type='file' device='disk'><source file='/var/lib/libvirt/images/a.qcow2'/></disk>"
                "<disk type='block' device='cdrom'><target dev='sdc'/></disk>"
                "<interface type='direct'><source dev='enp112s0' mode='bridge'/><target dev='macvtap0'/></interface>"
                "<interface type='direct'><source dev='eth1' mode='vepa'/></interface>"
                "<interface type='network'><source network='default'/></interface>"
                "</devices></domain>";
        Domain *d = NULL;
        char err[256];
        CHECK_INT(domain_parse(xml, sizeof(xml) - 1, &d, err, sizeof(err)), 0);
        CHECK_INT(d->n_disk_devs, 1);
        CHECK_STR(d->disk_devs[0], "/dev/sdb");
        CHECK_INT(d->n_directs, 2);
        CHECK_STR(d->directs[0].dev, "enp112s0");
        CHECK_STR(d->directs[0].target, "macvtap0");
        CHECK_STR(d->directs[1].dev, "eth1");
        CHECK(d->directs[1].target == NULL);
        domain_free(d);
}

/* ln TARGET REL: a symlink under the tree's root */
static int ln(const char *root, const char *target, const char *rel)
{
        char p[512];
        snprintf(p, sizeof(p), "%s%s", root, rel);
        return symlink(target, p);
}

TEST(hostuse_mounted_through_bcachefs_nvme_multipath_and_md)
{
        const char *root = tree_new();
        const char *p2 = "devices/pci0000:40/0000:40:01.2/0000:4a:00.0/nvme/nvme0/nvme0n1/nvme0n1p2";
        char t[256], why[512];
        tree_write("/sys/devices/pci0000:40/0000:40:01.2/0000:4a:00.0/nvme/nvme0/nvme0n1/nvme0n1p2/dev", "259:2\n");
        tree_write("/sys/class/block/.keep", "");
        tree_write("/sys/dev/block/.keep", "");
        snprintf(t, sizeof(t), "../../%s", p2);
        CHECK_INT(ln(root, t, "/sys/class/block/nvme0n1p2"), 0);
        CHECK_INT(ln(root, t, "/sys/dev/block/259:2"), 0);
        /* bcachefs over two devices: the source names both, joined with ':' */
        tree_write("/sys/fs/bcachefs/6a1f0c2e-5b7d-4e3a-9c8b-1d2e3f4a5b6c/dev-0/label", "\n");
        snprintf(t, sizeof(t), "../../../../../sys/%s", p2);
        CHECK_INT(ln(root, t, "/sys/fs/bcachefs/6a1f0c2e-5b7d-4e3a-9c8b-1d2e3f4a5b6c/dev-0/block"), 0);
        tree_write("/proc/self/mountinfo", "50 1 0:40 / /srv rw - bcachefs /dev/nvme0n1p2:/dev/nvme9n1p1 rw\n");
        CHECK(hostuse_mounted("0000:4a:00.0", why, sizeof(why)));
        CHECK_STR(why, "it holds the mounted filesystem /srv (bcachefs on nvme0n1p2)");

        /* an md RAID1 root on that partition */
        tree_write("/sys/devices/virtual/block/md127/slaves/.keep", "");
        CHECK_INT(ln(root, "../../devices/virtual/block/md127", "/sys/dev/block/9:127"), 0);
        CHECK_INT(ln(root, "../../../../../pci0000:40/x", "/sys/devices/virtual/block/md127/slaves/nvme0n1p2"), 0);
        tree_write("/proc/self/mountinfo", "52 1 9:127 / / rw - ext4 /dev/md127 rw\n");
        CHECK(hostuse_mounted("0000:4a:00.0", why, sizeof(why)));
        CHECK_STR(why, "it holds the mounted filesystem / (/dev/md127)");

        /* NVMe native multipath: the namespace lives under nvme-subsystem, its path under the controller */
        const char *head = "/sys/devices/virtual/nvme-subsystem/nvme-subsys1/nvme1n1";
        snprintf(t, sizeof(t), "%s/nvme1n1p1/dev", head);
        tree_write(t, "259:11\n");
        CHECK_INT(ln(root, "../../devices/virtual/nvme-subsystem/nvme-subsys1/nvme1n1/nvme1n1p1", "/sys/dev/block/259:11"), 0);
        CHECK_INT(ln(root, "../../devices/virtual/nvme-subsystem/nvme-subsys1/nvme1n1", "/sys/class/block/nvme1n1"), 0);
        snprintf(t, sizeof(t), "%s/multipath/.keep", head);
        tree_write(t, "");
        snprintf(t, sizeof(t), "%s/multipath/nvme1c1n1", head);
        CHECK_INT(ln(root, "../../../../../../../sys/devices/pci0000:40/0000:40:01.3/0000:4b:00.0/nvme/nvme1/nvme1c1n1", t), 0);
        tree_write("/proc/self/mountinfo", "51 1 259:11 / /data rw - xfs /dev/nvme1n1p1 rw\n");
        CHECK(hostuse_mounted("0000:4b:00.0", why, sizeof(why)));
        CHECK_STR(why, "it holds the mounted filesystem /data (/dev/nvme1n1p1)");
        CHECK(!hostuse_mounted("0000:4a:00.0", why, sizeof(why)));

        /* before 6.14 there is no multipath/ directory: the subsystem links
         * its controllers (nvme-subsys2/nvme2), as seen on 6.1 and 6.12 in the
         * lab's QEMU NVMe with a subsystem */
        const char *sub2 = "/sys/devices/virtual/nvme-subsystem/nvme-subsys2";
        snprintf(t, sizeof(t), "%s/nvme2n1/dev", sub2);
        tree_write(t, "259:20\n");
        snprintf(t, sizeof(t), "%s/subsysnqn", sub2);
        tree_write(t, "nqn.2019-08.org.qemu:lab\n");
        CHECK_INT(ln(root, "../../devices/virtual/nvme-subsystem/nvme-subsys2/nvme2n1", "/sys/dev/block/259:20"), 0);
        snprintf(t, sizeof(t), "%s/nvme2", sub2);
        CHECK_INT(ln(root, "../../../pci0000:40/0000:40:01.5/0000:4c:00.0/nvme/nvme2", t), 0);
        tree_write("/proc/self/mountinfo", "53 1 259:20 / /mnt/lab rw - btrfs /dev/nvme2n1 rw\n");
        CHECK(hostuse_mounted("0000:4c:00.0", why, sizeof(why)));
        CHECK_STR(why, "it holds the mounted filesystem /mnt/lab (/dev/nvme2n1)");
        CHECK(!hostuse_mounted("0000:4b:00.0", why, sizeof(why)));
}

TEST(hostuse_inet4_sees_addresses_whose_routes_are_not_in_the_main_table)
{
        /* a management VRF's port: its connected route is in the VRF's
         * table, so /proc/net/route (main table only) shows nothing */
        const char *route = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
                            "eno1\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
        const char *inet4 = "lo 127.0.0.1/8\neno1 192.168.1.10/24\neno2 10.99.0.5/24\n";
        char why[256] = "";
        CHECK(!hostuse_route_uses(route, "eno2", why, sizeof(why)));
        CHECK(hostuse_inet4_uses(inet4, "eno2", why, sizeof(why)));
        CHECK_STR(why, "it has the host address 10.99.0.5/24");
        CHECK(!hostuse_inet4_uses(inet4, "eno3", why, sizeof(why)));
        CHECK(!hostuse_inet4_uses(inet4, "eno", why, sizeof(why)));
        CHECK(!hostuse_inet4_uses("", "eno2", why, sizeof(why)));
}
