/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmprep doctor: is this host ready, and (with a VM) can it run that VM now
 * and does the VM's XML agree with its profile.  One line per check: pass,
 * warn or fail, each warning or failure with its fix.  Everything is read
 * through the gateway, so --root runs it on a recorded tree.
 */
#include "cli.h"

#include "common/cpus_share.h"
#include "common/hook.h"
#include "common/hook_table.h"
#include "common/hugepages.h"
#include "common/journal.h"
#include "common/log.h"
#include "common/plan.h"
#include "common/shmem.h"
#include "common/sysfs.h"
#include "common/tune.h"

#include <dirent.h>
#include <errno.h>
#include <pci/pci.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef VMPREP_HOOKDIR
#define VMPREP_HOOKDIR "/etc/libvirt/hooks/qemu.d"
#endif

typedef enum { PASS, WARN, FAIL } Status;

typedef struct Doctor {
        const CliOptions *o;
        /* doctor VM for a VM that passes no device through: the host's
         * missing IOMMU or vfio-pci is a warning, not a failure */
        bool passthrough_optional;
        unsigned counts[3];
        bool first_json;
        struct pci_access *pacc;
} Doctor;

static void report(Doctor *dr, Status st, const char *check, const char *fix, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));
static void report(Doctor *dr, Status st, const char *check, const char *fix, const char *fmt, ...)
{
        static const char *const names[] = { "pass", "warn", "fail" };
        char detail[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
        dr->counts[st]++;
        if (dr->o->json) {
                printf("%s{\"check\":", dr->first_json ? "" : ",");
                dr->first_json = false;
                json_string(stdout, check);
                printf(",\"status\":\"%s\",\"detail\":", names[st]);
                json_string(stdout, detail);
                printf(",\"fix\":");
                json_string(stdout, st == PASS || !fix ? "" : fix);
                printf("}");
                return;
        }
        printf("%s%-4s%s  %-12s %s\n", cli_color(dr->o, names[st]), st == PASS ? "PASS" : st == WARN ? "WARN" : "FAIL",
               cli_color(dr->o, "reset"), check, detail);
        if (st != PASS && fix)
                printf("      %sfix:%s %s\n", cli_color(dr->o, "dim"), cli_color(dr->o, "reset"), fix);
}

static char *read_text(const char *path)
{
        char *t = NULL;
        return sysfs_read_alloc(path, 4u << 20, &t, NULL) == 0 ? t : NULL;
}

static bool cmdline_has(const char *cmdline, const char *word)
{
        size_t n = strlen(word);
        for (const char *p = cmdline; p && (p = strstr(p, word)); p += n)
                if ((p == cmdline || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0' || p[n] == '\n' || word[n - 1] == '='))
                        return true;
        return false;
}

static void check_kvm(Doctor *dr)
{
        if (sysfs_exists("/dev/kvm"))
                report(dr, PASS, "kvm", NULL, "/dev/kvm is present");
        else
                report(dr, FAIL, "kvm", "enable VT-x/AMD-V in the firmware and load kvm_intel or kvm_amd",
                       "/dev/kvm is missing: QEMU would run without hardware virtualization");
}

static void check_iommu(Doctor *dr, const char *cmdline, const char *cpuinfo)
{
        size_t groups = 0;
        char **names;
        if (sysfs_list("/sys/kernel/iommu_groups", &names, &groups) == 0)
                sysfs_list_free(names, groups);
        bool amd = cpuinfo && strstr(cpuinfo, "AuthenticAMD");
        const char *fix = amd ? "enable AMD-Vi (IOMMU) in the firmware and add 'amd_iommu=on iommu=pt' to the kernel command line"
                              : "enable VT-d in the firmware and add 'intel_iommu=on iommu=pt' to the kernel command line";
        if (groups == 0) {
                report(dr, dr->passthrough_optional ? WARN : FAIL, "iommu", fix,
                       "no IOMMU groups: PCI passthrough (vfio) is impossible on this host");
                return;
        }
        report(dr, PASS, "iommu", NULL, "%zu IOMMU groups", groups);
        if (!cmdline_has(cmdline, "iommu=pt"))
                report(dr, WARN, "iommu=pt", "add 'iommu=pt' to the kernel command line",
                       "the host's own devices go through IOMMU translation (slower DMA for the host)");
}

static void check_vfio_module(Doctor *dr)
{
        char release[128], path[256];
        if (sysfs_exists("/sys/bus/pci/drivers/vfio-pci")) {
                report(dr, PASS, "vfio-pci", NULL, "the vfio-pci driver is loaded");
                return;
        }
        if (sysfs_read("/proc/sys/kernel/osrelease", release, sizeof(release)) < 0)
                release[0] = '\0';
        bool found = false;
        const char *files[] = { "modules.dep", "modules.builtin" };
        for (size_t i = 0; i < 2 && !found; i++) {
                snprintf(path, sizeof(path), "/lib/modules/%s/%s", release, files[i]);
                char *t = read_text(path);
                found = t && strstr(t, "/vfio-pci.ko");
                free(t);
        }
        if (found)
                report(dr, PASS, "vfio-pci", NULL, "vfio-pci is available as a module (vmprep loads it when needed)");
        else
                report(dr, dr->passthrough_optional ? WARN : FAIL, "vfio-pci",
                       "install a kernel built with CONFIG_VFIO_PCI (Debian's stock kernels have it)",
                       "no vfio-pci driver for kernel %s", release);
}

/*
 * libpci's error handler must not return, and its default one exits the
 * process — doctor would stop before it reports.  Ours keeps the message
 * and jumps back to the call into libpci, which then goes on without it
 * (device names as numbers).
 */
static jmp_buf pci_jump;
static char pci_error[256];

static void pci_fatal(char *msg, ...) __attribute__((format(printf, 1, 2), noreturn));
static void pci_fatal(char *msg, ...)
{
        va_list ap;
        va_start(ap, msg);
        vsnprintf(pci_error, sizeof(pci_error), msg, ap);
        va_end(ap);
        longjmp(pci_jump, 1);
}

static void pci_quiet(char *msg, ...) __attribute__((format(printf, 1, 2)));
static void pci_quiet(char *msg, ...)
{
        (void) msg;
}

/* libpci for device names, reading the tree doctor reads (--root). */
static struct pci_access *pci_open(void)
{
        static struct pci_access *pacc;
        char sysfs[SYSFS_PATH_MAX];

        pacc = pci_alloc();
        if (!pacc)
                return NULL;
        pacc->error = pci_fatal;
        pacc->warning = pci_quiet;
        pacc->debug = pci_quiet;
        if (setjmp(pci_jump)) {
                fprintf(stderr, "vmprep doctor: libpci: %s (device names shown as numbers)\n", pci_error);
                pci_cleanup(pacc);
                return NULL;
        }
        /* only the sysfs method: the others probe I/O ports of the real host */
        pacc->method = PCI_ACCESS_SYS_BUS_PCI;
        if (sysfs_path("/sys/bus/pci", sysfs, sizeof(sysfs)) == 0)
                pci_set_param(pacc, (char *) "sysfs.path", sysfs);
        pci_init(pacc);
        return pacc;
}

static const char *pci_name(Doctor *dr, unsigned vendor, unsigned device, char *buf, size_t size)
{
        if (dr->pacc) {
                if (setjmp(pci_jump)) {
                        fprintf(stderr, "vmprep doctor: libpci: %s (device names shown as numbers)\n", pci_error);
                        dr->pacc = NULL; /* in no state to be called again, nor freed */
                }
        }
        if (dr->pacc &&
            pci_lookup_name(dr->pacc, buf, (int) size, PCI_LOOKUP_VENDOR | PCI_LOOKUP_DEVICE, vendor, device))
                return buf;
        snprintf(buf, size, "[%04x:%04x]", vendor, device);
        return buf;
}

static unsigned long read_hex(const char *dev, const char *file)
{
        char path[256], buf[64];
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", dev, file);
        if (sysfs_read(path, buf, sizeof(buf)) < 0)
                return ~0UL;
        return strtoul(buf, NULL, 16);
}

/* GPUs and NICs: their IOMMU group, whether they can be passed alone; SR-IOV. */
/*
 * AMD GPUs whose reset does not work between VM runs (the second start
 * finds the GPU hung), by device ID: the families the out-of-tree
 * vendor-reset module (github.com/gnif/vendor-reset) resets, from its
 * device table src/device-db.h: Polaris 10/11/12, Vega 10/20, Navi 10/12/14.
 */
static const struct { unsigned short device; const char *family; } amd_reset_bug[] = {
        /* Polaris 10 */
        { 0x67c0, "Polaris 10" }, { 0x67c1, "Polaris 10" }, { 0x67c2, "Polaris 10" }, { 0x67c4, "Polaris 10" },
        { 0x67c7, "Polaris 10" }, { 0x67c8, "Polaris 10" }, { 0x67c9, "Polaris 10" }, { 0x67ca, "Polaris 10" },
        { 0x67cc, "Polaris 10" }, { 0x67cf, "Polaris 10" }, { 0x67d0, "Polaris 10" }, { 0x67df, "Polaris 10" },
        { 0x6fdf, "Polaris 10" },
        /* Polaris 11 */
        { 0x67e0, "Polaris 11" }, { 0x67e1, "Polaris 11" }, { 0x67e3, "Polaris 11" }, { 0x67e7, "Polaris 11" },
        { 0x67e8, "Polaris 11" }, { 0x67e9, "Polaris 11" }, { 0x67eb, "Polaris 11" }, { 0x67ef, "Polaris 11" },
        { 0x67ff, "Polaris 11" },
        /* Polaris 12 */
        { 0x6980, "Polaris 12" }, { 0x6981, "Polaris 12" }, { 0x6985, "Polaris 12" }, { 0x6986, "Polaris 12" },
        { 0x6987, "Polaris 12" }, { 0x6995, "Polaris 12" }, { 0x6997, "Polaris 12" }, { 0x699f, "Polaris 12" },
        /* Vega 10 */
        { 0x6860, "Vega 10" }, { 0x6861, "Vega 10" }, { 0x6862, "Vega 10" }, { 0x6863, "Vega 10" },
        { 0x6864, "Vega 10" }, { 0x6867, "Vega 10" }, { 0x6868, "Vega 10" }, { 0x6869, "Vega 10" },
        { 0x686a, "Vega 10" }, { 0x686b, "Vega 10" }, { 0x686c, "Vega 10" }, { 0x686d, "Vega 10" },
        { 0x686e, "Vega 10" }, { 0x686f, "Vega 10" }, { 0x687f, "Vega 10" },
        /* Vega 20 */
        { 0x66a0, "Vega 20" }, { 0x66a1, "Vega 20" }, { 0x66a2, "Vega 20" }, { 0x66a3, "Vega 20" },
        { 0x66a4, "Vega 20" }, { 0x66a7, "Vega 20" }, { 0x66af, "Vega 20" },
        /* Navi 10 */
        { 0x7310, "Navi 10" }, { 0x7312, "Navi 10" }, { 0x7318, "Navi 10" }, { 0x7319, "Navi 10" },
        { 0x731a, "Navi 10" }, { 0x731b, "Navi 10" }, { 0x731e, "Navi 10" }, { 0x731f, "Navi 10" },
        /* Navi 14 */
        { 0x7340, "Navi 14" }, { 0x7341, "Navi 14" }, { 0x7347, "Navi 14" }, { 0x734f, "Navi 14" },
        /* Navi 12 */
        { 0x7360, "Navi 12" }, { 0x7362, "Navi 12" },
};

static const char *amd_reset_family(unsigned long vendor, unsigned long device)
{
        if (vendor != 0x1002)
                return NULL;
        for (size_t i = 0; i < sizeof(amd_reset_bug) / sizeof(amd_reset_bug[0]); i++)
                if (amd_reset_bug[i].device == device)
                        return amd_reset_bug[i].family;
        return NULL;
}

/* A GPU's reset: the methods the kernel offers (reset_method, since 5.15;
 * absent on older kernels and for a device with no reset), and for the AMD
 * families without a working reset, the vendor-reset module. */
static void check_gpu_reset(Doctor *dr, const char *bdf, const char *name, unsigned long vendor,
                            unsigned long device)
{
        char path[600], methods[256];
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset_method", bdf);
        bool known = sysfs_read(path, methods, sizeof(methods)) > 0;
        const char *family = amd_reset_family(vendor, device);
        if (family) {
                bool loaded = sysfs_exists("/sys/module/vendor_reset");
                char fix[400];
                /* reset-method: vfio.c writes it to reset_method while the VM runs */
                snprintf(fix, sizeof(fix),
                         "install the vendor-reset module (github.com/gnif/vendor-reset, DKMS), load it at boot, "
                         "and give the GPU reset_method 'device_specific' (<vmprep:device address='%s' "
                         "reset-method='device_specific'/> in the VM's <vmprep:vfio>)", bdf);
                report(dr, loaded ? PASS : WARN, "gpu-reset", fix,
                       "%s %s: AMD %s, whose reset does not work between VM runs (a second start finds it hung); "
                       "vendor-reset is %s; reset_method: %s", bdf, name, family, loaded ? "loaded" : "not loaded",
                       known ? methods : "none listed (no reset_method file: kernel before 5.15, or no reset)");
                return;
        }
        report(dr, PASS, "gpu-reset", NULL, "%s %s: reset_method: %s", bdf, name,
               known ? methods : "none listed (no reset_method file: kernel before 5.15, or no reset)");
}

static void check_devices(Doctor *dr)
{
        char **devs = NULL;
        size_t n_devs = 0, seen = 0;
        sysfs_list("/sys/bus/pci/devices", &devs, &n_devs);
        for (size_t di = 0; di < n_devs; di++) {
                const char *bdf = devs[di];
                PciAddress a;
                if (pci_address_parse(bdf, &a) < 0)
                        continue;
                unsigned long cls = read_hex(bdf, "class");
                bool gpu = (cls >> 16) == 0x03, nic = (cls >> 16) == 0x02;
                char path[600], link[256], name[256], others[1024] = "";
                unsigned long vendor = read_hex(bdf, "vendor"), device = read_hex(bdf, "device");
                uint64_t total;

                snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/sriov_totalvfs", bdf);
                if (sysfs_read_u64(path, &total) == 0 && total > 0) {
                        uint64_t cur = 0;
                        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/sriov_numvfs", bdf);
                        sysfs_read_u64(path, &cur);
                        report(dr, PASS, "sr-iov", NULL, "%s %s: SR-IOV capable, %llu of %llu VFs enabled", bdf,
                               pci_name(dr, (unsigned) vendor, (unsigned) device, name, sizeof(name)),
                               (unsigned long long) cur, (unsigned long long) total);
                }
                if (!gpu && !nic)
                        continue;
                seen++;
                pci_name(dr, (unsigned) vendor, (unsigned) device, name, sizeof(name));
                if (gpu)
                        check_gpu_reset(dr, bdf, name, vendor, device);
                snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
                if (sysfs_readlink(path, link, sizeof(link)) < 0) {
                        report(dr, WARN, gpu ? "gpu" : "nic", "turn the IOMMU on (see the iommu check)",
                               "%s %s: in no IOMMU group, cannot be passed through", bdf, name);
                        continue;
                }
                const char *group = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
                snprintf(path, sizeof(path), "/sys/kernel/iommu_groups/%s/devices", group);
                char **members = NULL;
                size_t n_members = 0, alone_blockers = 0;
                sysfs_list(path, &members, &n_members);
                for (size_t mi = 0; mi < n_members; mi++) {
                        const char *m_name = members[mi];
                        PciAddress ma;
                        if (pci_address_parse(m_name, &ma) < 0 || !strcmp(m_name, bdf))
                                continue;
                        unsigned long mc = read_hex(m_name, "class");
                        if ((mc >> 8) == 0x0604)
                                continue; /* bridges stay with the host */
                        /* the GPU's own audio function goes along: same slot */
                        if (ma.domain == a.domain && ma.bus == a.bus && ma.slot == a.slot)
                                continue;
                        size_t n = strlen(others);
                        snprintf(others + n, sizeof(others) - n, "%s%s", n ? ", " : "", m_name);
                        alone_blockers++;
                }
                sysfs_list_free(members, n_members);
                if (alone_blockers)
                        report(dr, WARN, gpu ? "gpu" : "nic",
                               "move the card to another slot, or pass the whole group (<vmprep:vfio group=\"whole\"/>)",
                               "%s %s: IOMMU group %s also holds %s", bdf, name, group, others);
                else
                        report(dr, PASS, gpu ? "gpu" : "nic", NULL, "%s %s: IOMMU group %s, can be passed alone",
                               bdf, name, group);
        }
        sysfs_list_free(devs, n_devs);
        if (!seen)
                report(dr, PASS, "devices", NULL, "no GPU or NIC found in /sys/bus/pci");
}

static void check_hugepages(Doctor *dr, const char *mounts, const char *cpuinfo, const char *cmdline)
{
        if (mounts && strstr(mounts, " hugetlbfs "))
                report(dr, PASS, "hugetlbfs", NULL, "hugetlbfs is mounted");
        else
                report(dr, FAIL, "hugetlbfs", "mount -t hugetlbfs hugetlbfs /dev/hugepages (systemd does this at boot)",
                       "no hugetlbfs mount: libvirt cannot back VMs with hugepages");
        CpuSet nodes;
        char buf[1024], path[256];
        if (sysfs_read("/sys/devices/system/node/online", buf, sizeof(buf)) < 0 || cpuset_parse(buf, &nodes) < 0) {
                cpuset_clear(&nodes);
                cpuset_set(&nodes, 0);
        }
        for (int n = cpuset_next(&nodes, 0); n >= 0; n = cpuset_next(&nodes, (unsigned) n + 1)) {
                char pools[512] = "", freemem[32] = "?";
                HugepagePool *pl = NULL;
                size_t n_pl = 0;
                (void) hugepages_node_pools((unsigned) n, &pl, &n_pl);
                for (size_t pi = 0; pi < n_pl; pi++) {
                        char size[32];
                        format_size_kib(pl[pi].size_kib, size, sizeof(size));
                        size_t l = strlen(pools);
                        snprintf(pools + l, sizeof(pools) - l, "%s%s: %llu (%llu free)", l ? ", " : "", size,
                                 (unsigned long long) pl[pi].pages, (unsigned long long) pl[pi].free);
                }
                free(pl);
                snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/meminfo", n);
                char *mi = read_text(path);
                const char *m = mi ? strstr(mi, "MemFree:") : NULL;
                unsigned long long kib;
                if (m && sscanf(m, "MemFree: %llu kB", &kib) == 1)
                        format_memory_kib(kib, freemem, sizeof(freemem));
                free(mi);
                report(dr, PASS, "hugepages", NULL, "node %d: %s; %s free", n, pools[0] ? pools : "no pools", freemem);
        }
        /* fragmentation: free blocks of 2 MiB (order 9) or more, per node */
        char *bi = read_text("/proc/buddyinfo");
        char *save = NULL;
        for (char *line = bi ? strtok_r(bi, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
                unsigned node;
                int off = 0;
                char zone[32];
                if (sscanf(line, "Node %u, zone %31s%n", &node, zone, &off) < 2)
                        continue;
                unsigned long long v[16] = { 0 }, big = 0;
                char *p = line + off, *end;
                int k = 0;
                for (; k < 16; k++) {
                        v[k] = strtoull(p, &end, 10);
                        if (end == p)
                                break;
                        p = end;
                }
                for (int o = 9; o < k; o++)
                        big += v[o] << (o - 9);
                if (!strcmp(zone, "Normal") || !strcmp(zone, "Movable"))
                        report(dr, PASS, "fragmentation", NULL,
                               "node %u zone %s: room for %llu more 2 MiB pages without compaction", node, zone, big);
        }
        free(bi);
        bool gb = cpuinfo && strstr(cpuinfo, " pdpe1gb");
        if (!gb)
                report(dr, WARN, "1g-pages", "1 GiB pages need a CPU with pdpe1gb (most x86 CPUs since 2010)",
                       "this CPU cannot map 1 GiB pages");
        else if (cmdline_has(cmdline, "hugepagesz=1G") || cmdline_has(cmdline, "default_hugepagesz=1G"))
                report(dr, PASS, "1g-pages", NULL, "1 GiB pages supported and reserved at boot (kernel command line)");
        else if (cmdline_has(cmdline, "hugetlb_cma="))
                report(dr, PASS, "1g-pages", NULL, "1 GiB pages supported; hugetlb_cma reserves room for them at runtime");
        else
                report(dr, WARN, "1g-pages",
                       "reserve them at boot: 'hugepagesz=1G hugepages=N' (or 'hugetlb_cma=NG') on the kernel command line",
                       "1 GiB pages supported by the CPU, but rarely obtainable at runtime without hugetlb_cma");
}

static void check_numa(Doctor *dr)
{
        CpuSet nodes;
        char buf[1024], path[256], line[2048] = "";
        if (sysfs_read("/sys/devices/system/node/online", buf, sizeof(buf)) < 0 || cpuset_parse(buf, &nodes) < 0) {
                report(dr, PASS, "numa", NULL, "no NUMA information: one node");
                return;
        }
        for (int n = cpuset_next(&nodes, 0); n >= 0; n = cpuset_next(&nodes, (unsigned) n + 1)) {
                char cpus[256] = "", dist[256] = "";
                snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/cpulist", n);
                sysfs_read(path, cpus, sizeof(cpus));
                snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/distance", n);
                sysfs_read(path, dist, sizeof(dist));
                size_t l = strlen(line);
                snprintf(line + l, sizeof(line) - l, "%snode %d: cpus %s, distances %s", l ? "; " : "", n,
                         cpus[0] ? cpus : "none", dist);
        }
        report(dr, PASS, "numa", NULL, "%u node%s (%s)", cpuset_count(&nodes), cpuset_count(&nodes) == 1 ? "" : "s", line);
}

static void check_cgroups(Doctor *dr, const char *mounts)
{
        char buf[512];
        bool v2root = mounts && strstr(mounts, " /sys/fs/cgroup cgroup2 ");
        bool v1cpuset = mounts && strstr(mounts, " cgroup ") && strstr(mounts, "cpuset");
        if (v2root) {
                bool cpuset = sysfs_read("/sys/fs/cgroup/cgroup.controllers", buf, sizeof(buf)) >= 0 && strstr(buf, "cpuset");
                report(dr, cpuset ? PASS : FAIL, "cgroups",
                       "enable the cpuset controller (echo +cpuset > /sys/fs/cgroup/cgroup.subtree_control)",
                       "cgroup v2%s", cpuset ? " with the cpuset controller" : " without the cpuset controller");
        } else if (v1cpuset) {
                report(dr, PASS, "cgroups", NULL, "cgroup v1 (hybrid) with the v1 cpuset controller");
        } else {
                report(dr, FAIL, "cgroups", "mount the cpuset controller (cgroup v2, or v1 cpuset)",
                       "no cpuset controller: vmprep cannot keep host tasks off the VM's cores");
        }
        char comm[64] = "";
        sysfs_read("/proc/1/comm", comm, sizeof(comm));
        if (!strcmp(comm, "systemd"))
                report(dr, PASS, "systemd", NULL, "systemd is PID 1: vmprep changes its units over D-Bus");
        else
                report(dr, WARN, "systemd", "nothing to do unless you expected systemd; display-manager handling needs it",
                       "PID 1 is '%s', not systemd: vmprep writes cgroupfs directly and cannot stop a display manager",
                       comm[0] ? comm : "?");
}

/* A running libvirt daemon that runs QEMU VMs: the monolithic libvirtd,
 * or virtqemud of the modular daemons (Fedora, RHEL, openSUSE). */
typedef struct LibvirtDaemon {
        char name[16];
        unsigned pid;
        long long started; /* seconds since the epoch, -1 when unknown */
} LibvirtDaemon;

/* When the process started: /proc/PID/stat field 22 (clock ticks after
 * boot; the comm in field 2 may hold spaces and parentheses, so count from
 * its last ')') plus btime from /proc/stat. */
static long long process_started(unsigned pid)
{
        char path[64], stat[1024];
        snprintf(path, sizeof(path), "/proc/%u/stat", pid);
        if (sysfs_read(path, stat, sizeof(stat)) < 0)
                return -1;
        const char *p = strrchr(stat, ')');
        unsigned long long ticks;
        if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                         &ticks) != 1)
                return -1;
        char *text = read_text("/proc/stat");
        const char *b = text ? strstr(text, "\nbtime ") : NULL;
        long long btime = -1;
        if (b)
                btime = strtoll(b + 7, NULL, 10);
        free(text);
        long hz = sysconf(_SC_CLK_TCK);
        if (btime <= 0 || hz <= 0)
                return -1;
        return btime + (long long) (ticks / (unsigned long long) hz);
}

static size_t libvirt_daemons(LibvirtDaemon *out, size_t max)
{
        char **names = NULL;
        size_t n_names = 0, n = 0;
        if (sysfs_list("/proc", &names, &n_names) < 0)
                return 0;
        for (size_t i = 0; i < n_names && n < max; i++) {
                char path[300], comm[16];
                uint64_t pid;
                if (parse_u64(names[i], 1, INT32_MAX, &pid) < 0)
                        continue;
                snprintf(path, sizeof(path), "/proc/%s/comm", names[i]);
                if (sysfs_read(path, comm, sizeof(comm)) < 0 || (strcmp(comm, "libvirtd") && strcmp(comm, "virtqemud")))
                        continue;
                snprintf(out[n].name, sizeof(out[n].name), "%s", comm);
                out[n].pid = (unsigned) pid;
                out[n].started = process_started((unsigned) pid);
                n++;
        }
        sysfs_list_free(names, n_names);
        return n;
}

/* The oldest hook libvirt could have found (lstat ctime of the entries of
 * qemu.d, and the hooks/qemu script): -1 when there is none. */
static long long oldest_hook(void)
{
        char **names = NULL;
        size_t n = 0;
        long long oldest = -1;
        struct stat st;
        char path[600];
        /* the single-script hook beside qemu.d: /etc/libvirt/hooks/qemu */
        snprintf(path, sizeof(path), "%s", VMPREP_HOOKDIR);
        size_t len = strlen(path);
        if (len > 2 && !strcmp(path + len - 2, ".d"))
                path[len - 2] = '\0';
        if (sysfs_lstat(path, &st) == 0)
                oldest = st.st_ctime;
        if (sysfs_list(VMPREP_HOOKDIR, &names, &n) < 0)
                return oldest;
        for (size_t i = 0; i < n; i++) {
                snprintf(path, sizeof(path), VMPREP_HOOKDIR "/%s", names[i]);
                if (sysfs_lstat(path, &st) == 0 && (oldest < 0 || st.st_ctime < oldest))
                        oldest = st.st_ctime;
        }
        sysfs_list_free(names, n);
        return oldest;
}

/* Did vmprep-reload-libvirt send this daemon SIGHUP at or after when?
 * It records "PID EPOCH" lines in /run/vmprep/daemon-reloaded. */
static bool reloaded_since(unsigned pid, long long when)
{
        char *text = read_text(VMPREP_RUNDIR "/daemon-reloaded");
        bool yes = false;
        for (char *line = text, *next; line && *line && !yes; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                unsigned p;
                long long t;
                yes = sscanf(line, "%u %lld", &p, &t) == 2 && p == pid && t >= when;
        }
        free(text);
        return yes;
}

/*
 * libvirt looks for hooks when its QEMU daemon starts and on SIGHUP; one
 * that found none at all runs none until told (seen on libvirt 9.0 and
 * 11.3), though once any hook was found new files are picked up.  So: which
 * daemon runs, and did it start before the first hook existed?
 */
static void check_daemon(Doctor *dr)
{
        LibvirtDaemon dm[4];
        size_t n = libvirt_daemons(dm, 4);
        bool systemd = sysfs_exists("/run/systemd/system");
        if (n == 0) {
                report(dr, WARN, "libvirt", systemd ? "systemctl start libvirtd (or virtqemud)" : "start libvirtd",
                       "neither libvirtd nor virtqemud is running");
                return;
        }
        long long hooks = oldest_hook();
        for (size_t i = 0; i < n; i++) {
                char fix[160];
                if (systemd)
                        snprintf(fix, sizeof(fix), "systemctl reload %s", dm[i].name);
                else
                        snprintf(fix, sizeof(fix), "kill -HUP %u", dm[i].pid);
                if (dm[i].started >= 0 && hooks >= 0 && dm[i].started < hooks && !reloaded_since(dm[i].pid, hooks))
                        report(dr, WARN, dm[i].name, fix,
                               "%s (pid %u) started before any hook was in " VMPREP_HOOKDIR
                               " and has not been reloaded since: it runs no hook, vmprep's included, until it is",
                               dm[i].name, dm[i].pid);
                else
                        report(dr, PASS, dm[i].name, NULL, "%s (pid %u) runs%s", dm[i].name, dm[i].pid,
                               dm[i].started < 0 || hooks < 0 ? ""
                                                              : " and has seen the hooks (started or reloaded after them)");
        }
        if (n > 1)
                report(dr, WARN, "libvirt", "run one of them: disable libvirtd, or the modular daemons",
                       "both libvirtd and virtqemud run: each runs the hooks of its own VMs");
}

static void check_hooks(Doctor *dr)
{
        static const HookName hooks[] = { VMPREP_HOOK_TABLE };
        char path[512], names[256] = "";
        struct stat st;
        size_t missing = 0, len = 0;
        for (size_t i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++) {
                snprintf(path, sizeof(path), VMPREP_HOOKDIR "/%s", hooks[i].file);
                if (sysfs_lstat(path, &st) == 0 && (st.st_mode & S_IXUSR))
                        continue;
                missing++;
                if (len < sizeof(names))
                        len += (size_t) snprintf(names + len, sizeof(names) - len, "%s%s", len ? ", " : "",
                                                 hooks[i].file);
        }
        if (missing) {
                report(dr, FAIL, "hooks", "make install (or install the vmprep package)",
                       "%zu of vmprep's %zu hooks %s missing from " VMPREP_HOOKDIR " (or not executable): %s", missing,
                       sizeof(hooks) / sizeof(hooks[0]), missing == 1 ? "is" : "are", names);
                return;
        }
        report(dr, PASS, "hooks", NULL, "installed in " VMPREP_HOOKDIR);
}

/* "Key:  N kB" from a meminfo text (a node's lines carry "Node N " first). */
static bool meminfo_kib(const char *text, const char *key, unsigned long long *ret)
{
        const char *m = text ? strstr(text, key) : NULL;
        return m && sscanf(m + strlen(key), " %llu kB", ret) == 1;
}

/*
 * Can each node give the pages the plan adds?  A node's free memory plus
 * its page cache is what the kernel can turn into hugepages (compaction and
 * reclaim, which the hook drives); with one memory node the machine's
 * MemAvailable counts too (a node's meminfo can show less than the machine
 * has: ZONE_MOVABLE memory on virtio-mem guests).  1 GiB pages at run time
 * rarely succeed however much is free: a warning with the boot option.
 * Returns false when it reported a failure or warning.
 */
static bool check_pages(Doctor *dr, const Plan *plan)
{
        char **nodes = NULL;
        size_t n_nodes = 0, mem_nodes = 0;
        bool ok = true;

        if (sysfs_list("/sys/devices/system/node", &nodes, &n_nodes) == 0)
                for (size_t i = 0; i < n_nodes; i++)
                        mem_nodes += !strncmp(nodes[i], "node", 4);
        sysfs_list_free(nodes, n_nodes);
        char *machine = read_text("/proc/meminfo");
        unsigned long long machine_avail = 0;
        if (!meminfo_kib(machine, "MemAvailable:", &machine_avail))
                machine_avail = 0;
        free(machine);

        for (size_t i = 0; i < plan->n_steps; i++) {
                const PlanStep *st = &plan->steps[i];
                unsigned node;
                unsigned long long size_kib;
                if (st->kind != STEP_ADD || st->delta <= 0 ||
                    sscanf(st->path, "/sys/devices/system/node/node%u/hugepages/hugepages-%llukB/nr_hugepages", &node,
                           &size_kib) != 2)
                        continue;
                unsigned long long need = (unsigned long long) st->delta * size_kib, free_kib = 0, cache = 0;
                char path[128], fix[160], size[16];
                snprintf(path, sizeof(path), "/sys/devices/system/node/node%u/meminfo", node);
                char *mi = read_text(path);
                meminfo_kib(mi, "MemFree:", &free_kib);
                meminfo_kib(mi, "FilePages:", &cache);
                free(mi);
                unsigned long long avail = free_kib + cache;
                if (mem_nodes <= 1 && machine_avail > avail)
                        avail = machine_avail;
                if (size_kib >= 1024 * 1024)
                        snprintf(size, sizeof(size), "%lluG", size_kib / (1024 * 1024));
                else
                        snprintf(size, sizeof(size), "%lluM", size_kib / 1024);
                snprintf(fix, sizeof(fix), "free memory on node %u, or reserve the pages at boot: hugepagesz=%s hugepages=%u:%lld",
                         node, size, node, (long long) st->delta);
                if (need > avail) {
                        report(dr, FAIL, "hugepages", fix,
                               "node %u needs %lld more %s pages (%llu MiB) but has %llu MiB free or reclaimable",
                               node, (long long) st->delta, size, need / 1024, avail / 1024);
                        ok = false;
                } else if (size_kib >= 1024 * 1024) {
                        snprintf(fix, sizeof(fix), "reserve them at boot: hugepagesz=1G hugepages=%u:%lld", node,
                                 (long long) st->delta);
                        report(dr, WARN, "hugepages", fix,
                               "node %u needs %lld more 1 GiB pages at start: the kernel rarely finds 1 GiB of "
                               "contiguous memory once it has run a while", node, (long long) st->delta);
                        ok = false;
                }
        }
        return ok;
}

/* What to do about a capability's refusal, besides what its message says. */
static const char *capability_fix(const char *cap)
{
        if (!strcmp(cap, "hugepages"))
                return "free memory on the node, or reserve the pages at boot (the message names the option)";
        if (!strcmp(cap, "cpus"))
                return "pin the VM's vCPUs to cores no other VM holds (<cputune>), as the message says";
        if (!strcmp(cap, "vfio"))
                return "pass a device that is present and not used by the host or another VM (vmprep status --map)";
        if (!strcmp(cap, "tune"))
                return "change the <vmprep:tune> attribute the message names";
        return "change what the message names; vmprep plan VM shows the steps";
}

/* A capability's own messages, caught once (not also on stderr): its
 * first error, and its warnings one per line. */
static char cap_error[2048], cap_warnings[4096];
static void cap_error_sink(int level, const char *line)
{
        if (!strncmp(line, "vmprep: ", 8))
                line += 8;
        if (level <= LOG_LEVEL_ERROR && !cap_error[0])
                snprintf(cap_error, sizeof(cap_error), "%s", line);
        else if (level == LOG_LEVEL_WARNING && strlen(cap_warnings) + strlen(line) + 2 < sizeof(cap_warnings))
                snprintf(cap_warnings + strlen(cap_warnings), sizeof(cap_warnings) - strlen(cap_warnings), "%s\n",
                         line);
}

/* With a VM: can the host satisfy it now, and does its XML agree with its profile? */
static int check_vm(Doctor *dr, const char *arg, const char *mounts)
{
        Domain *d = NULL;
        Profile *p = NULL;
        char err[2048];
        int r = cli_load_domain(dr->o, arg, &d);
        if (r != EXIT_OK)
                return r;
        r = profile_from_domain(d, &p, err, sizeof(err));
        if (r < 0) {
                report(dr, FAIL, "profile", "fix the <vmprep:profile> element (vmprep-profile(5))", "%s", err);
                domain_free(d);
                return EXIT_OK;
        }
        if (!p)
                report(dr, WARN, "profile", "vmprep tag VM PROFILE", "%s has no vmprep profile: the hooks leave it alone",
                       d->name);
        else
                report(dr, PASS, "profile", NULL, "%s: profile valid%s%s", d->name, p->use ? ", based on " : "",
                       p->use ? p->use : "");
        size_t n;
        const Capability *caps = capabilities_all(&n);
        for (size_t i = 0; p && i < n; i++) {
                Plan plan = { 0 };
                err[0] = '\0';
                cap_error[0] = cap_warnings[0] = '\0';
                log_set_sink(cap_error_sink);
                log_set_stderr_level(LOG_LEVEL_ERROR - 1); /* said once, in the report below */
                int pr = capability_plan(&caps[i], d, p, &plan);
                log_set_stderr_level(LOG_LEVEL_INFO);
                log_set_sink(NULL);
                for (char *w = cap_warnings, *next; *w; w = next) {
                        next = strchr(w, '\n');
                        *next++ = '\0';
                        report(dr, WARN, caps[i].name, NULL, "%s", w);
                }
                if (pr < 0)
                        report(dr, FAIL, caps[i].name, capability_fix(caps[i].name), "%s",
                               err[0] ? err : cap_error[0] ? cap_error : strerror(-pr));
                else if (plan.n_steps && (strcmp(caps[i].name, "hugepages") || check_pages(dr, &plan)))
                        report(dr, PASS, caps[i].name, NULL, "this host can do it now: %zu step%s (vmprep plan)",
                               plan.n_steps, plan.n_steps == 1 ? "" : "s");
                plan_free(&plan);
        }
        if (p && profile_enabled(p, "isolate")) {
                char warn[4096];
                cpus_share_warnings(d, p, warn, sizeof(warn));
                if (warn[0])
                        report(dr, WARN, "cpu-sharing", "pin the other VMs off these cores, or isolate with mode='partition'",
                               "%s", warn);
        }
        if (d->has_vhostuser) {
                bool shared = d->access_shared;
                for (size_t i = 0; i < d->n_cells; i++)
                        shared = shared || d->cells[i].memaccess_shared;
                if (!shared)
                        report(dr, FAIL, "vhost-user",
                               "add <memoryBacking><access mode='shared'/></memoryBacking> (or memAccess='shared' on each <cell>)",
                               "a vhost-user interface needs guest memory shared with the switch (OVS-DPDK); "
                               "without it the datapath sees no packets");
                else
                        report(dr, PASS, "vhost-user", NULL, "guest memory is shared for the vhost-user interface");
        }
        if (d->hugepages && !(mounts && strstr(mounts, " hugetlbfs ")))
                report(dr, FAIL, "hugetlbfs", "mount -t hugetlbfs hugetlbfs /dev/hugepages",
                       "%s is backed by hugepages but no hugetlbfs is mounted", d->name);
        bool realtime = p && ((p->use && !strcmp(p->use, "realtime")) || profile_enabled(p, "tune"));
        if (realtime && profile_attr(profile_elem(p, "tune"), "rt-runtime") && d->n_vcpuscheds == 0)
                report(dr, FAIL, "realtime", "add <cputune><vcpusched vcpus='0-N' scheduler='fifo' priority='1'/></cputune>",
                       "the profile asks for realtime tuning but the domain has no <vcpusched>: its vCPUs run SCHED_OTHER");
        if (realtime && profile_attr(profile_elem(p, "tune"), "rt-runtime") && !d->locked)
                report(dr, WARN, "realtime", "add <memoryBacking><locked/></memoryBacking>",
                       "guest memory is not locked: page faults can add latency");
        char shm[8192];
        if (p && shmem_doctor(d, p, shm, sizeof(shm)) > 0) {
                char *save = NULL;
                for (char *l = strtok_r(shm, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                        char *check = strchr(l, '\t'), *detail = check ? strchr(check + 1, '\t') : NULL;
                        char *fix = detail ? strchr(detail + 1, '\t') : NULL;
                        if (!fix)
                                continue;
                        *check++ = *detail++ = *fix++ = '\0';
                        report(dr, strcmp(l, "fail") == 0 ? FAIL : WARN, check, fix, "%s", detail);
                }
        }
        if (p && tune_ksm_advice(d, p, err, sizeof(err)))
                report(dr, WARN, "ksm", "add <memoryBacking><nosharepages/></memoryBacking>", "%s", err);
        profile_free(p);
        domain_free(d);
        return EXIT_OK;
}

int cmd_doctor(const CliOptions *o, int argc, char **argv)
{
        Doctor dr = { .o = o, .first_json = true };
        const char *vm = NULL;
        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--json"))
                        continue;
                if (argv[i][0] == '-' || vm) {
                        fprintf(stderr, "Usage: vmprep doctor [VM|FILE.xml] [--json]\n");
                        return EXIT_USAGE;
                }
                vm = argv[i];
        }
        if (vm) {
                /* does this VM pass a device through at all? */
                Domain *d = NULL;
                Profile *p = NULL;
                char err[256];
                if (cli_load_domain(o, vm, &d) == EXIT_OK) {
                        bool devices = d->n_hostdevs > 0;
                        if (profile_from_domain(d, &p, err, sizeof(err)) == 0 && p) {
                                const ProfileElem *v = profile_elem(p, "vfio");
                                devices = devices || (v && v->n_children > 0) || profile_any_enabled(p, "sriov");
                        }
                        dr.passthrough_optional = !devices;
                        profile_free(p);
                        domain_free(d);
                }
        }
        dr.pacc = pci_open();
        char *cmdline = read_text("/proc/cmdline"), *cpuinfo = read_text("/proc/cpuinfo"),
             *mounts = read_text("/proc/mounts");
        if (o->json)
                printf("{\"checks\":[");
        check_kvm(&dr);
        check_iommu(&dr, cmdline ? cmdline : "", cpuinfo);
        check_vfio_module(&dr);
        check_devices(&dr);
        check_hugepages(&dr, mounts, cpuinfo, cmdline ? cmdline : "");
        check_numa(&dr);
        check_cgroups(&dr, mounts);
        check_hooks(&dr);
        check_daemon(&dr);
        int r = vm ? check_vm(&dr, vm, mounts) : EXIT_OK;
        if (o->json)
                printf("],\"summary\":{\"pass\":%u,\"warn\":%u,\"fail\":%u}}\n", dr.counts[PASS], dr.counts[WARN],
                       dr.counts[FAIL]);
        else
                printf("%u passed, %u warnings, %u failed\n", dr.counts[PASS], dr.counts[WARN], dr.counts[FAIL]);
        free(cmdline);
        free(cpuinfo);
        free(mounts);
        if (dr.pacc)
                pci_cleanup(dr.pacc);
        if (r != EXIT_OK)
                return r;
        return dr.counts[FAIL] ? EXIT_FAIL : EXIT_OK;
}
