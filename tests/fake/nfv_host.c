/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An NFV host as it looks after months in production: one Intel X710 PF
 * (0000:41:00.0, i40e, enp65s0f0; first VF offset 16, stride 1, as the X710
 * reports them) with 8 VFs 0000:41:02.0-7, made by the fake kernel with
 * autoprobe on (so they came up on iavf), and then put to work:
 *
 *   VF 0  0000:41:02.0  iavf, enp65s2 with the host address 2001:db8::5/64
 *   VF 1  0000:41:02.1  iavf, enp65s2f1 with 10.0.0.5/24 (route 10.0.0.0/24)
 *   VF 2  0000:41:02.2  vfio-pci, <hostdev> of the untagged running VM router_vm.1,
 *                       whose QEMU (pid 5001) holds /dev/vfio/4002
 *   VF 3  0000:41:02.3  vfio-pci, <interface type='hostdev'> of the untagged
 *                       running VM fw_vm (QEMU pid 5002, /dev/vfio/4003 open)
 *   VF 4  0000:41:02.4  unbound, in the VF pool of the libvirt network
 *                       sriov-net (<forward mode='hostdev'>, defined and active)
 *   VF 5  0000:41:02.5  vfio-pci, /dev/vfio/4005 open by a hand-started
 *                       qemu-system-x86 (pid 1234) no libvirt status file names
 *   VF 6  0000:41:02.6  unbound, free
 *   VF 7  0000:41:02.7  vfio-pci, nobody holds it: free
 *
 * Also a defined, inactive network 'uplink-pool' whose <pf dev='enp99s0f0'/>
 * is a PF this host does not have (it must not count against 0000:41:00.0).
 */
#include "pci_fixture.h"

#include <stdio.h>

#define NFV_PF "0000:41:00.0"
#define PFDIR "/sys/bus/pci/devices/" NFV_PF

static void to_vfio(const char *vf)
{
        char p[128];
        snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/driver_override", vf);
        fixture_kernel_write(p, "vfio-pci");
        fixture_kernel_write("/sys/bus/pci/drivers/iavf/unbind", vf);
        fixture_kernel_write("/sys/bus/pci/drivers_probe", vf);
}

static void qemu(int pid, const char *comm, int group)
{
        char p[128], t[64];
        snprintf(p, sizeof(p), "/proc/%d/comm", pid);
        snprintf(t, sizeof(t), "%s\n", comm);
        fixture_put(p, t);
        snprintf(p, sizeof(p), "/proc/%d/fd/0", pid);
        fixture_link(p, "/dev/null");
        snprintf(p, sizeof(p), "/proc/%d/fd/23", pid);
        snprintf(t, sizeof(t), "/dev/vfio/%d", group);
        fixture_link(p, t);
}

/* libvirtd's status file of a running, untagged VM with one VF. */
static void running_vm(const char *name, const char *uuid, int pid, const char *device)
{
        char p[128], text[2048];
        snprintf(p, sizeof(p), "/run/libvirt/qemu/%s.xml", name);
        snprintf(text, sizeof(text),
                 "<!--\nWARNING: THIS IS AN AUTO-GENERATED FILE.\n-->\n"
                 "<domstatus state='running' reason='booted' pid='%d'>\n"
                 "  <monitor path='/var/lib/libvirt/qemu/domain-4-%s/monitor.sock' type='unix'/>\n"
                 "  <domain type='kvm' id='4'>\n    <name>%s</name>\n    <uuid>%s</uuid>\n"
                 "    <memory unit='KiB'>2097152</memory>\n    <vcpu placement='static'>2</vcpu>\n"
                 "    <devices>\n      %s\n    </devices>\n  </domain>\n</domstatus>\n",
                 pid, name, name, uuid, device);
        fixture_put(p, text);
}

static const char sriov_net[] =
        "<network>\n  <name>sriov-net</name>\n  <uuid>7c1d2b3a-0000-4000-8000-00000000beef</uuid>\n"
        "  <forward mode='hostdev' managed='yes'>\n"
        "    <address type='pci' domain='0x0000' bus='0x41' slot='0x02' function='0x4'/>\n"
        "  </forward>\n</network>\n";

void fixture_nfv_host(void)
{
        char p[128];

        fixture_device(NFV_PF, "0x8086", "0x1572", "0x020000", 30, "i40e");
        fixture_put(PFDIR "/sriov_totalvfs", "64\n");
        fixture_put(PFDIR "/sriov_numvfs", "0\n");
        fixture_put(PFDIR "/sriov_drivers_autoprobe", "1\n");
        fixture_put(PFDIR "/net/enp65s0f0/operstate", "up\n");
        fixture_put("/.fake/pci/" NFV_PF ".vf-device", "0x154c\n");
        fixture_put("/.fake/pci/" NFV_PF ".vf-driver", "iavf\n");
        fixture_put("/.fake/pci/" NFV_PF ".vf-offset", "16\n");
        fixture_put("/.fake/pci/" NFV_PF ".vf-stride", "1\n");
        fixture_put(PFDIR "/sriov_offset", "16\n"); /* as the kernel shows the routing */
        fixture_put(PFDIR "/sriov_stride", "1\n");
        fixture_put("/sys/bus/pci/drivers/iavf/bind", "");
        fixture_put("/sys/bus/pci/drivers/iavf/unbind", "");
        fixture_kernel_write(PFDIR "/sriov_numvfs", "8");

        /* VFs 0 and 1: host interfaces with addresses */
        fixture_put("/sys/bus/pci/devices/0000:41:02.0/net/enp65s2/operstate", "up\n");
        fixture_put("/sys/bus/pci/devices/0000:41:02.1/net/enp65s2f1/operstate", "up\n");
        fixture_put("/proc/net/if_inet6", "20010db8000000000000000000000005 0b 40 00 80 enp65s2\n");
        snprintf(p, sizeof(p), "%s/proc/net/route", fixture_root());
        FILE *f = fopen(p, "ae");
        if (f) {
                fputs("enp65s2f1\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n", f);
                fclose(f);
        }

        /* VFs 2 and 3: untagged running VMs */
        to_vfio("0000:41:02.2");
        to_vfio("0000:41:02.3");
        running_vm("router_vm.1", "2f6a0d1c-3b4e-4f50-8a61-7b8c9d0e1f21", 5001,
                   "<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x41' "
                   "slot='0x02' function='0x2'/></source></hostdev>");
        qemu(5001, "qemu-system-x86", 4002);
        running_vm("fw_vm", "2f6a0d1c-3b4e-4f50-8a61-7b8c9d0e1f22", 5002,
                   "<interface type='hostdev' managed='yes'><mac address='52:54:00:aa:00:03'/><source><address "
                   "type='pci' domain='0x0000' bus='0x41' slot='0x02' function='0x3'/></source></interface>");
        qemu(5002, "qemu-system-x86", 4003);

        /* VF 4: a libvirt hostdev network's pool (managed: unbound until a VM takes it) */
        fixture_kernel_write("/sys/bus/pci/drivers/iavf/unbind", "0000:41:02.4");
        fixture_put("/etc/libvirt/qemu/networks/sriov-net.xml", sriov_net);
        fixture_put("/run/libvirt/network/sriov-net.xml", "<networkstatus>\n  <class_id bitmap='0-2'/>\n");
        snprintf(p, sizeof(p), "%s/run/libvirt/network/sriov-net.xml", fixture_root());
        f = fopen(p, "ae");
        if (f) {
                fputs(sriov_net, f);
                fputs("</networkstatus>\n", f);
                fclose(f);
        }
        fixture_put("/etc/libvirt/qemu/networks/uplink-pool.xml",
                    "<network>\n  <name>uplink-pool</name>\n  <forward mode='hostdev' managed='yes'>\n"
                    "    <pf dev='enp99s0f0'/>\n  </forward>\n</network>\n");

        /* VF 5: open by a QEMU that libvirt does not know */
        to_vfio("0000:41:02.5");
        qemu(1234, "qemu-system-x86", 4005);

        /* VFs 6 and 7: free */
        fixture_kernel_write("/sys/bus/pci/drivers/iavf/unbind", "0000:41:02.6");
        to_vfio("0000:41:02.7");
}
