/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmprep status: what vmprep holds now, from the journals and the ledger;
 * on a terminal also the host as a map — each NUMA node with its cores
 * (SMT siblings side by side, the VM holding each), its hugepage pools and
 * who holds their pages, and the PCI devices by IOMMU group with their driver.
 */
#include "cli.h"
#include "state.h"

#include "common/cpus_share.h"
#include "common/hugepages.h"
#include "common/log.h"
#include "common/plan.h"
#include "common/profile.h"
#include "common/running.h"
#include "common/sysfs.h"
#include "common/resource.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void print_map_json(const State *s);

static void print_json(const State *s, bool map)
{
        printf("{\"vms\":[");
        for (size_t i = 0; i < s->n_vms; i++) {
                const StateVm *v = &s->vms[i];
                printf("%s{\"uuid\":\"%s\",\"name\":", i ? "," : "", v->uuid);
                json_string(stdout, v->name);
                printf(",\"capabilities\":[");
                for (size_t k = 0; k < v->n_journals; k++) {
                        const Journal *j = v->journals[k];
                        printf("%s{\"name\":", k ? "," : "");
                        json_string(stdout, j->cap);
                        printf(",\"steps\":[");
                        int first = 1;
                        for (size_t n = 0; n < j->n_steps; n++) {
                                const JournalStep *st = &j->steps[n];
                                if (st->undone)
                                        continue;
                                printf("%s{\"kind\":", first ? "" : ",");
                                first = 0;
                                json_string(stdout, st->kind_name);
                                printf(",\"resource\":");
                                json_string(stdout, st->resource);
                                printf(",\"path\":");
                                json_string(stdout, st->path);
                                printf(",\"old\":");
                                json_string(stdout, st->old);
                                printf(",\"new\":");
                                json_string(stdout, st->new_);
                                printf(",\"done\":%s,\"result\":", st->done ? "true" : "false");
                                json_string(stdout, st->result);
                                printf("}");
                        }
                        printf("]}");
                }
                printf("]}");
        }
        printf("],\"holds\":[");
        for (size_t i = 0; i < s->ledger.n_holds; i++) {
                const LedgerHold *h = &s->ledger.holds[i];
                printf("%s{\"uuid\":\"%s\",\"name\":", i ? "," : "", h->uuid);
                json_string(stdout, state_vm_name(s, h->uuid));
                printf(",\"resource\":");
                json_string(stdout, h->resource);
                printf(",\"amount\":%lld}", (long long) h->amount);
        }
        printf("],\"pending\":%s,\"unreadable_journals\":%d,\"ledger_damaged\":%s",
               s->ledger.has_pending ? "true" : "false", s->errors, s->ledger.damaged ? "true" : "false");
        if (map) {
                printf(",\"map\":");
                print_map_json(s);
        }
        printf("}\n");
}

static void print_vms(const CliOptions *o, const State *s)
{
        if (s->n_vms == 0) {
                printf("vmprep holds nothing: no VM has a journal in " VMPREP_RUNDIR ".\n");
                return;
        }
        for (size_t i = 0; i < s->n_vms; i++) {
                const StateVm *v = &s->vms[i];
                printf("%s%s%s  %s\n", cli_color(o, "bold"), v->name[0] ? v->name : "(unnamed)", cli_color(o, "reset"),
                       v->uuid);
                for (size_t k = 0; k < v->n_journals; k++) {
                        const Journal *j = v->journals[k];
                        for (size_t n = 0; n < j->n_steps; n++) {
                                const JournalStep *st = &j->steps[n];
                                if (st->undone)
                                        continue;
                                if (st->kind == STEP_ADD)
                                        printf("  %-10s %s: +%s%s (%s -> %s)\n", j->cap, st->resource,
                                               st->done ? st->result : "?", st->done ? "" : " (interrupted)", st->old,
                                               st->new_);
                                else
                                        printf("  %-10s %s: %s -> %s%s\n", j->cap, st->path, st->old, st->new_,
                                               st->done ? "" : " (interrupted)");
                        }
                }
        }
        if (s->ledger.has_pending)
                printf("a change to %s by %s was interrupted; the next hook or `vmprep reconcile` finishes it\n",
                       s->ledger.pending.path, state_vm_name(s, s->ledger.pending.uuid));
        if (s->errors)
                printf("%d journal%s could not be read (see the messages above)\n", s->errors, s->errors == 1 ? "" : "s");
}

/* "name 128, name2 64" for a pool, "name" for a CPU or a device */
static void holders(const State *s, const char *resource, char *buf, size_t size)
{
        size_t len = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < s->ledger.n_holds && len < size; i++) {
                const LedgerHold *h = &s->ledger.holds[i];
                if (strcmp(h->resource, resource))
                        continue;
                if (strncmp(resource, "hugepages/", 10) == 0)
                        len += (size_t) snprintf(buf + len, size - len, "%s%s %lld", len ? ", " : "",
                                                 state_vm_name(s, h->uuid), (long long) h->amount);
                else /* a CPU or a device: held or not, no amount */
                        len += (size_t) snprintf(buf + len, size - len, "%s%s", len ? ", " : "", state_vm_name(s, h->uuid));
        }
}

/* "  CPU 9: db1 vCPU 1, gamer_2 vCPU 0,1": every running VM's vCPUs pinned
 * on cpu (tagged or not, from libvirt's status files) */
static void print_vcpus_on(const RunningVm *vms, size_t n, unsigned cpu)
{
        CpuSet one;
        size_t shown = 0;

        cpuset_clear(&one);
        cpuset_set(&one, cpu);
        for (size_t i = 0; i < n; i++) {
                CpusShare sh;
                char ids[256];
                if (!vms[i].domain)
                        continue;
                cpus_share_of(vms[i].domain, &one, &sh);
                if (cpuset_empty(&sh.vcpus))
                        continue;
                cpus_share_format_ids(&sh.vcpus, ids, sizeof(ids));
                if (!shown++)
                        printf("  CPU %u: ", cpu);
                else
                        printf(", ");
                printf("%s vCPU %s", vms[i].name, ids);
        }
        if (shown)
                printf("\n");
}

/* The VMs whose vCPUs may run anywhere, and those vmprep cannot read. */
static void print_unpinned(const RunningVm *vms, size_t n)
{
        CpuSet none;
        size_t shown = 0;

        cpuset_clear(&none);
        for (size_t i = 0; i < n; i++) {
                CpusShare sh;
                char ids[256];
                if (!vms[i].domain)
                        continue; /* said below */
                cpus_share_of(vms[i].domain, &none, &sh);
                if (cpuset_empty(&sh.unpinned))
                        continue;
                cpus_share_format_ids(&sh.unpinned, ids, sizeof(ids));
                printf("%s%s vCPU %s", shown++ ? ", " : "unpinned (may run on any CPU): ", vms[i].name, ids);
        }
        if (shown)
                printf("\n");
        for (size_t i = 0; i < n; i++)
                if (!vms[i].domain)
                        printf("running VM '%s': cannot read its status file (%s)\n", vms[i].name, vms[i].err);
}

static void print_map(const CliOptions *o, const State *s)
{
        char buf[4096], path[600];
        CpuSet nodes;
        RunningVm *vms = NULL;
        size_t n_vms = 0;

        running_vms(NULL, &vms, &n_vms);
        printf("\n%shost map%s\n", cli_color(o, "bold"), cli_color(o, "reset"));
        if (sysfs_read("/sys/devices/system/node/online", buf, sizeof(buf)) < 0 || cpuset_parse(buf, &nodes) < 0) {
                cpuset_clear(&nodes);
                cpuset_set(&nodes, 0);
        }
        for (int node = cpuset_next(&nodes, 0); node >= 0; node = cpuset_next(&nodes, (unsigned) node + 1)) {
                CpuSet cpus, done;
                cpuset_clear(&done);
                snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/cpulist", node);
                printf("node %d\n  cores:", node);
                if (sysfs_read(path, buf, sizeof(buf)) >= 0 && cpuset_parse(buf, &cpus) == 0) {
                        for (int c = cpuset_next(&cpus, 0); c >= 0; c = cpuset_next(&cpus, (unsigned) c + 1)) {
                                if (cpuset_isset(&done, (unsigned) c))
                                        continue;
                                CpuSet sib;
                                snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/topology/thread_siblings_list", c);
                                if (sysfs_read(path, buf, sizeof(buf)) < 0 || cpuset_parse(buf, &sib) < 0) {
                                        cpuset_clear(&sib);
                                        cpuset_set(&sib, (unsigned) c);
                                }
                                printf(" [");
                                for (int t = cpuset_next(&sib, 0); t >= 0; t = cpuset_next(&sib, (unsigned) t + 1)) {
                                        char res[32], who[512];
                                        res_cpu(res, sizeof(res), "cpus", t);
                                        holders(s, res, who, sizeof(who));
                                        printf("%s%d:%s", t == cpuset_next(&sib, 0) ? "" : " ", t, who[0] ? who : "host");
                                        cpuset_set(&done, (unsigned) t);
                                }
                                printf("]");
                        }
                        printf("\n");
                        for (int c = cpuset_next(&cpus, 0); c >= 0; c = cpuset_next(&cpus, (unsigned) c + 1))
                                print_vcpus_on(vms, n_vms, (unsigned) c);
                } else {
                        printf("\n");
                }
                HugepagePool *pools = NULL;
                size_t n_pools = 0;
                (void) hugepages_node_pools((unsigned) node, &pools, &n_pools);
                for (size_t pi = 0; pi < n_pools; pi++) {
                        char size[32], res[96], who[512];
                        format_size_kib(pools[pi].size_kib, size, sizeof(size));
                        res_hugepages(res, sizeof(res), (unsigned) node, (unsigned long long) pools[pi].size_kib);
                        holders(s, res, who, sizeof(who));
                        printf("  hugepages %-7s %llu (free %llu)%s%s\n", size, (unsigned long long) pools[pi].pages,
                               (unsigned long long) pools[pi].free, who[0] ? "  held by: " : "", who);
                }
                free(pools);
        }
        print_unpinned(vms, n_vms);
        running_vms_free(vms, n_vms);
        char **groups = NULL;
        size_t ngroups = 0;
        sysfs_list("/sys/kernel/iommu_groups", &groups, &ngroups);
        for (size_t gi = 0; gi < ngroups; gi++) {
                if (gi == 0)
                        printf("PCI devices by IOMMU group\n");
                snprintf(path, sizeof(path), "/sys/kernel/iommu_groups/%s/devices", groups[gi]);
                printf("  group %s:", groups[gi]);
                char **devs = NULL;
                size_t n_devs = 0;
                sysfs_list(path, &devs, &n_devs);
                for (size_t di = 0; di < n_devs; di++) {
                        const char *bdf = devs[di];
                        PciAddress a;
                        if (pci_address_parse(bdf, &a) < 0)
                                continue;
                        char link[512], drv[600] = "no driver";
                        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
                        if (sysfs_readlink(path, link, sizeof(link)) > 0)
                                snprintf(drv, sizeof(drv), "%s", strrchr(link, '/') ? strrchr(link, '/') + 1 : link);
                        char res[300], who[512];
                        res_pci(res, sizeof(res), bdf);
                        holders(s, res, who, sizeof(who));
                        printf(" %s (%s%s%s)", bdf, drv, who[0] ? ", held by " : "", who);
                }
                sysfs_list_free(devs, n_devs);
                printf("\n");
        }
        sysfs_list_free(groups, ngroups);
        if (!ngroups)
                printf("no IOMMU groups: the IOMMU is off or absent (see vmprep doctor)\n");
}

/* ---- the host map as JSON (status --json) ---- */

/* [{"uuid":...,"name":...[,"amount":N]}] of the ledger's holds of resource */
static void json_holders(const State *s, const char *resource, bool amount)
{
        size_t shown = 0;
        printf("[");
        for (size_t i = 0; i < s->ledger.n_holds; i++) {
                const LedgerHold *h = &s->ledger.holds[i];
                if (strcmp(h->resource, resource))
                        continue;
                printf("%s{\"uuid\":\"%s\",\"name\":", shown++ ? "," : "", h->uuid);
                json_string(stdout, state_vm_name(s, h->uuid));
                if (amount)
                        printf(",\"amount\":%lld", (long long) h->amount);
                printf("}");
        }
        printf("]");
}

static void json_ids(const CpuSet *ids)
{
        printf("[");
        for (int i = cpuset_next(ids, 0); i >= 0; i = cpuset_next(ids, (unsigned) i + 1))
                printf("%s%d", i == cpuset_next(ids, 0) ? "" : ",", i);
        printf("]");
}

/* A running VM carries a vmprep profile (one vmprep cannot read counts). */
static bool running_tagged(const RunningVm *vm)
{
        char err[512];
        Profile *p = NULL;
        if (!vm->domain)
                return false;
        int r = profile_from_domain(vm->domain, &p, err, sizeof(err));
        bool tagged = r < 0 || p;
        profile_free(p);
        return tagged;
}

static void json_vm(const RunningVm *vm, bool tagged)
{
        printf("\"name\":");
        json_string(stdout, vm->name);
        printf(",\"uuid\":");
        json_string(stdout, vm->uuid);
        printf(",\"tagged\":%s", tagged ? "true" : "false");
}

/* Every running VM's threads pinned on cpu (tagged or not). */
static void json_threads_on(const RunningVm *vms, const bool *tagged, size_t n, unsigned cpu)
{
        CpuSet one;
        size_t shown = 0;

        cpuset_clear(&one);
        cpuset_set(&one, cpu);
        printf("[");
        for (size_t i = 0; i < n; i++) {
                CpusShare sh;
                if (!vms[i].domain)
                        continue;
                cpus_share_of(vms[i].domain, &one, &sh);
                if (cpuset_empty(&sh.vcpus) && cpuset_empty(&sh.iothreads) && !sh.emulator)
                        continue;
                printf("%s{", shown++ ? "," : "");
                json_vm(&vms[i], tagged[i]);
                printf(",\"vcpus\":");
                json_ids(&sh.vcpus);
                printf(",\"iothreads\":");
                json_ids(&sh.iothreads);
                printf(",\"emulator\":%s}", sh.emulator ? "true" : "false");
        }
        printf("]");
}

static void print_map_json(const State *s)
{
        char buf[4096], path[600];
        CpuSet nodes;
        RunningVm *vms = NULL;
        size_t n_vms = 0;

        running_vms(NULL, &vms, &n_vms);
        bool *tagged = calloc(n_vms ? n_vms : 1, sizeof(*tagged));
        for (size_t i = 0; tagged && i < n_vms; i++)
                tagged[i] = running_tagged(&vms[i]);
        if (!tagged)
                n_vms = 0; /* out of memory: the map without running VMs */
        if (sysfs_read("/sys/devices/system/node/online", buf, sizeof(buf)) < 0 || cpuset_parse(buf, &nodes) < 0) {
                cpuset_clear(&nodes);
                cpuset_set(&nodes, 0);
        }
        printf("{\"nodes\":[");
        for (int node = cpuset_next(&nodes, 0); node >= 0; node = cpuset_next(&nodes, (unsigned) node + 1)) {
                CpuSet cpus;
                printf("%s{\"node\":%d,\"cpus\":[", node == cpuset_next(&nodes, 0) ? "" : ",", node);
                snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/cpulist", node);
                if (sysfs_read(path, buf, sizeof(buf)) < 0 || cpuset_parse(buf, &cpus) < 0)
                        cpuset_clear(&cpus);
                for (int c = cpuset_next(&cpus, 0); c >= 0; c = cpuset_next(&cpus, (unsigned) c + 1)) {
                        char res[32], sib[256] = "";
                        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/topology/thread_siblings_list", c);
                        if (sysfs_read(path, sib, sizeof(sib)) < 0)
                                snprintf(sib, sizeof(sib), "%d", c);
                        sib[strcspn(sib, "\n")] = '\0';
                        res_cpu(res, sizeof(res), "cpus", c);
                        printf("%s{\"cpu\":%d,\"siblings\":", c == cpuset_next(&cpus, 0) ? "" : ",", c);
                        json_string(stdout, sib);
                        /* a VM's claim: vmprep keeps host tasks (and IRQs,
                         * workqueues as the profile asks) off this CPU */
                        printf(",\"isolated\":%s,\"held_by\":", ledger_held(&s->ledger, res, NULL) > 0 ? "true" : "false");
                        json_holders(s, res, false);
                        printf(",\"pinned\":");
                        json_threads_on(vms, tagged, n_vms, (unsigned) c);
                        printf("}");
                }
                printf("],\"hugepages\":[");
                HugepagePool *pools = NULL;
                size_t n_pools = 0;
                (void) hugepages_node_pools((unsigned) node, &pools, &n_pools);
                for (size_t pi = 0; pi < n_pools; pi++) {
                        char res[96];
                        unsigned long long kib = (unsigned long long) pools[pi].size_kib;
                        res_hugepages(res, sizeof(res), (unsigned) node, kib);
                        printf("%s{\"size_kib\":%llu,\"pages\":%llu,\"free\":%llu,\"held_by\":", pi ? "," : "", kib,
                               (unsigned long long) pools[pi].pages, (unsigned long long) pools[pi].free);
                        json_holders(s, res, true);
                        printf("}");
                }
                free(pools);
                printf("]}");
        }
        printf("],\"unpinned\":[");
        size_t shown = 0;
        CpuSet none;
        cpuset_clear(&none);
        for (size_t i = 0; i < n_vms; i++) {
                CpusShare sh;
                if (!vms[i].domain)
                        continue;
                cpus_share_of(vms[i].domain, &none, &sh);
                if (cpuset_empty(&sh.unpinned) && !sh.emulator_unpinned)
                        continue;
                printf("%s{", shown++ ? "," : "");
                json_vm(&vms[i], tagged[i]);
                printf(",\"vcpus\":");
                json_ids(&sh.unpinned);
                printf(",\"emulator\":%s}", sh.emulator_unpinned ? "true" : "false");
        }
        printf("],\"unreadable_vms\":[");
        shown = 0;
        for (size_t i = 0; i < n_vms; i++) {
                if (vms[i].domain)
                        continue;
                printf("%s{\"name\":", shown++ ? "," : "");
                json_string(stdout, vms[i].name);
                printf(",\"error\":");
                json_string(stdout, vms[i].err);
                printf("}");
        }
        free(tagged);
        running_vms_free(vms, n_vms);

        char **groups = NULL;
        size_t ngroups = 0;
        sysfs_list("/sys/kernel/iommu_groups", &groups, &ngroups);
        printf("],\"iommu_groups\":[");
        for (size_t gi = 0; gi < ngroups; gi++) {
                printf("%s{\"group\":", gi ? "," : "");
                json_string(stdout, groups[gi]);
                printf(",\"devices\":[");
                snprintf(path, sizeof(path), "/sys/kernel/iommu_groups/%s/devices", groups[gi]);
                char **devs = NULL;
                size_t n_devs = 0, nd = 0;
                sysfs_list(path, &devs, &n_devs);
                for (size_t di = 0; di < n_devs; di++) {
                        PciAddress a;
                        char link[512], res[300];
                        if (pci_address_parse(devs[di], &a) < 0)
                                continue;
                        printf("%s{\"address\":", nd++ ? "," : "");
                        json_string(stdout, devs[di]);
                        printf(",\"driver\":");
                        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", devs[di]);
                        if (sysfs_readlink(path, link, sizeof(link)) > 0)
                                json_string(stdout, strrchr(link, '/') ? strrchr(link, '/') + 1 : link);
                        else
                                printf("null");
                        res_pci(res, sizeof(res), devs[di]);
                        printf(",\"held_by\":");
                        json_holders(s, res, false);
                        printf("}");
                }
                sysfs_list_free(devs, n_devs);
                printf("]}");
        }
        sysfs_list_free(groups, ngroups);
        printf("]}");
}

int cmd_status(const CliOptions *o, int argc, char **argv)
{
        bool map = o->tty, nomap = false;
        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--json"))
                        continue;
                if (!strcmp(argv[i], "--map"))
                        map = true;
                else if (!strcmp(argv[i], "--no-map"))
                        nomap = true;
                else {
                        fprintf(stderr, "Usage: vmprep status [--json] [--map|--no-map]\n");
                        return EXIT_USAGE;
                }
        }
        State s;
        int r = state_load_or_say(&s);
        if (r < 0)
                return EXIT_FAIL;
        if (o->json) {
                print_json(&s, !nomap);
        } else {
                print_vms(o, &s);
                if (map && !nomap)
                        print_map(o, &s);
        }
        if (s.ledger.damaged)
                fprintf(stderr, "vmprep: " VMPREP_RUNDIR "/ledger is damaged (line %u): what VMs hold of shared "
                        "resources is not shown; 'vmprep reconcile' rebuilds it from the journals\n",
                        s.ledger.damaged_line);
        int failed = s.errors + s.ledger.damaged;
        state_free(&s);
        return failed ? EXIT_FAIL : EXIT_OK;
}
