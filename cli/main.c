/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "cli.h"

#include "common/log.h"
#include "common/sysfs.h"
#include "common/xml.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef VMPREP_VERSION
#define VMPREP_VERSION "0.1"
#endif

static const struct {
        const char *name;
        int (*fn)(const CliOptions *o, int argc, char **argv);
        const char *args, *what;
} commands[] = {
        { "plan", cmd_plan, "VM|FILE.xml [--json]", "the steps the hooks would take now, applying nothing" },
        { "show", cmd_show, "VM|FILE.xml", "the effective profile: named profile, overrides, what is derived" },
        { "tag", cmd_tag, "VM PROFILE [ELEMENT.ATTR=VALUE...] [--pin] [--live] [--config] [--replace] [--force]",
          "write the profile into the domain, keeping what it had besides, once it would start here\n"
          "             (--pin: with the pins `vmprep pin` chooses, in one definition)" },
        { "pin", cmd_pin, "VM|FILE.xml [--dry-run] [--config]",
          "write the vCPU, emulator and iothread pins and the guest topology vmprep chooses\n"
          "             (whole cores of one NUMA node and L3, never CPU 0's core), showing the diff first" },
        { "untag", cmd_untag, "VM [--live] [--config]", "remove the profile from the domain" },
        { "status", cmd_status, "[--json] [--map|--no-map]", "what vmprep holds now, per VM, and the host map" },
        { "doctor", cmd_doctor, "[VM|FILE.xml] [--json]", "is this host (and this VM) ready" },
        { "reconcile", cmd_reconcile, "[--offline] [--dry-run] [--before-removal]",
          "finish what a crash left: undo journals of VMs that do not run\n"
          "             (--before-removal: change nothing, fail naming the VMs that hold host state)" },
};

static void usage(FILE *f)
{
        fprintf(f, "Usage: vmprep [--root DIR] [--connect URI] COMMAND [ARGS]\n\n"
                   "Prepare the host for libvirt VMs tagged with a vmprep profile, and give it back.\n\n"
                   "Commands:\n");
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                fprintf(f, "  %-10s %s\n  %-10s   %s\n", commands[i].name, commands[i].args, "", commands[i].what);
        fprintf(f, "\nOptions:\n"
                   "  --root DIR       read the host from a recorded tree DIR instead of /\n"
                   "  --connect URI    libvirt URI (default qemu:///system)\n"
                   "  -h, --help       this text; COMMAND --help for one command\n"
                   "  -V, --version    the version\n\n"
                   "Exit status: 0 done, 1 failed, 2 usage, 3 libvirt unreachable or no such domain.\n"
                   "See vmprep(8) and vmprep-profile(5).\n");
}

char *cli_read_file(const char *path, size_t *len)
{
        const size_t max = XML_MAX_BYTES;
        bool is_stdin = strcmp(path, "-") == 0;
        int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        const char *name = is_stdin ? "standard input" : path;

        if (fd < 0) {
                log_msg(LOG_LEVEL_ERROR, "cannot read %s: %s", name, strerror(errno));
                return NULL;
        }
        if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
                log_msg(LOG_LEVEL_ERROR, "%s is a directory, not a domain XML file", name);
                close(fd);
                return NULL;
        }
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t) st.st_size > max) {
                log_msg(LOG_LEVEL_ERROR, "%s is %llu bytes, more than the %zu vmprep reads", name,
                        (unsigned long long) st.st_size, max);
                close(fd);
                return NULL;
        }
        size_t cap = 65536, n = 0;
        char *buf = malloc(cap + 1);
        while (buf) {
                ssize_t r = read(fd, buf + n, cap - n);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0) {
                        log_msg(LOG_LEVEL_ERROR, "cannot read %s: %s", name, strerror(errno));
                        free(buf);
                        buf = NULL;
                        break;
                }
                if (r == 0)
                        break;
                n += (size_t) r;
                if (n == cap) {
                        if (cap > max) {
                                log_msg(LOG_LEVEL_ERROR, "%s is more than the %zu bytes vmprep reads", name, max);
                                free(buf);
                                buf = NULL;
                                break;
                        }
                        cap *= 2;
                        char *nb = realloc(buf, cap + 1);
                        if (!nb) {
                                free(buf);
                                buf = NULL;
                        } else {
                                buf = nb;
                        }
                }
        }
        if (!is_stdin)
                close(fd);
        if (buf) {
                if (n == 0) {
                        log_msg(LOG_LEVEL_ERROR, "%s is empty, not a domain XML", name);
                        free(buf);
                        return NULL;
                }
                buf[n] = '\0';
                *len = n;
        }
        return buf;
}

int cli_load_domain(const CliOptions *o, const char *arg, Domain **ret)
{
        char *xml = NULL, err[2048];
        size_t len = 0;
        int r;

        if (strchr(arg, '/') || strcmp(arg, "-") == 0 ||
            (strlen(arg) > 4 && strcmp(arg + strlen(arg) - 4, ".xml") == 0)) {
                xml = cli_read_file(arg, &len);
                if (!xml)
                        return EXIT_FAIL;
        } else {
                r = virt_domain_xml(o, arg, false, &xml);
                if (r != EXIT_OK)
                        return r;
                len = strlen(xml);
        }
        r = domain_parse(xml, len, ret, err, sizeof(err));
        free(xml);
        if (r < 0) {
                log_msg(LOG_LEVEL_ERROR, "%s: %s", arg, err);
                return EXIT_FAIL;
        }
        return EXIT_OK;
}

int cli_unknown_option(const char *cmd, const char *arg)
{
        fprintf(stderr, "vmprep %s: unknown option %s (vmprep %s --help)\n", cmd, arg, cmd);
        return EXIT_USAGE;
}

const char *cli_color(const CliOptions *o, const char *which)
{
        if (!o->color)
                return "";
        if (!strcmp(which, "pass"))
                return "\033[32m";
        if (!strcmp(which, "warn"))
                return "\033[33m";
        if (!strcmp(which, "fail"))
                return "\033[31m";
        if (!strcmp(which, "bold"))
                return "\033[1m";
        if (!strcmp(which, "dim"))
                return "\033[2m";
        return "\033[0m";
}

/*
 * With modular daemons every one of them (virtqemud, virtnetworkd,
 * virtstoraged, virtnodedevd, ...) runs the daemon hooks when it starts;
 * only the daemon that runs QEMU VMs — virtqemud, or the monolithic
 * libvirtd — has VMs whose journals to finish.  The caller is our parent
 * (libvirt forks the hook).  Anything that is not a libvirt daemon (a
 * person, a script) is obeyed.
 */
static bool daemon_hook_is_for_qemu(void)
{
        char path[64], comm[32];
        snprintf(path, sizeof(path), "/proc/%d/comm", (int) getppid());
        if (sysfs_read(path, comm, sizeof(comm)) < 0)
                return true;
        if (!strcmp(comm, "libvirtd") || !strcmp(comm, "virtqemud"))
                return true;
        size_t n = strlen(comm);
        bool other_daemon = !strncmp(comm, "virt", 4) && n > 5 && comm[n - 1] == 'd';
        return !other_daemon;
}

/*
 * Installed as libvirt's daemon hook (daemon.d/vmprep-reconcile, a symlink
 * to this binary), libvirtd or virtqemud runs it as
 * "vmprep-reconcile - start - start" when it starts: finish the journals of
 * VMs that stopped while the daemon was down.  It must not call libvirt (the
 * daemon waits for the hook), so --offline; it prints nothing on stdout and
 * never fails the daemon's start.
 */
static int daemon_hook(int argc, char **argv)
{
        if (argc < 3 || strcmp(argv[2], "start") != 0)
                return EXIT_OK;
        CliOptions o = { .uri = "qemu:///system" };
        char *args[] = { (char *) "reconcile", (char *) "--offline", NULL };
        if (sysfs_init(NULL) < 0 || !freopen("/dev/null", "w", stdout))
                return EXIT_OK;
        if (!daemon_hook_is_for_qemu())
                return EXIT_OK;
        cmd_reconcile(&o, 2, args);
        return EXIT_OK;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "root", required_argument, NULL, 'r' },
                { "connect", required_argument, NULL, 'c' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                { NULL, 0, NULL, 0 },
        };
        CliOptions o = { .uri = "qemu:///system" };
        int c;

        const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
        if (strstr(base, "vmprep-reconcile"))
                return daemon_hook(argc, argv);
        log_open("vmprep", false);
        log_set_stderr_level(LOG_LEVEL_INFO);
        /* "+": stop at the command; its own options follow it */
        while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
                switch (c) {
                case 'r':
                        o.root = optarg;
                        break;
                case 'c':
                        o.uri = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return EXIT_OK;
                case 'V':
                        printf("vmprep %s\n", VMPREP_VERSION);
                        return EXIT_OK;
                default:
                        usage(stderr);
                        return EXIT_USAGE;
                }
        }
        if (optind >= argc) {
                usage(stderr);
                return EXIT_USAGE;
        }
        const char *cmd = argv[optind];
        if (o.root) {
                /* a recorded tree: an absolute path to a directory (a wrong
                 * one would read as an empty host and mislead every report) */
                struct stat st;
                if (o.root[0] != '/') {
                        fprintf(stderr, "vmprep: --root %s: give an absolute path\n", o.root);
                        return EXIT_USAGE;
                }
                if (stat(o.root, &st) < 0) {
                        fprintf(stderr, "vmprep: --root %s: %s\n", o.root, strerror(errno));
                        return EXIT_USAGE;
                }
                if (!S_ISDIR(st.st_mode)) {
                        fprintf(stderr, "vmprep: --root %s: not a directory\n", o.root);
                        return EXIT_USAGE;
                }
        }
        if (sysfs_init(o.root) < 0) {
                fprintf(stderr, "vmprep: --root %s: path too long\n", o.root);
                return EXIT_USAGE;
        }
        /* The shipped profiles elsewhere (a build tree, a test): the command
         * only; the hooks run with libvirtd's rebuilt environment. */
        const char *pd = getenv("VMPREP_PROFILEDIR");
        if (pd && *pd)
                profile_set_shipped_dir(pd);
        const char *nc = getenv("NO_COLOR");
        o.tty = isatty(STDOUT_FILENO);
        o.color = o.tty && !(nc && *nc);
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
                if (strcmp(cmd, commands[i].name) != 0)
                        continue;
                int sub_argc = argc - optind;
                char **sub_argv = argv + optind;
                for (int k = 1; k < sub_argc; k++)
                        if (!strcmp(sub_argv[k], "--help") || !strcmp(sub_argv[k], "-h")) {
                                printf("Usage: vmprep %s %s\n\n%s.\n", commands[i].name, commands[i].args,
                                       commands[i].what);
                                return EXIT_OK;
                        }
                for (int k = 1; k < sub_argc; k++)
                        if (!strcmp(sub_argv[k], "--json"))
                                o.json = true;
                return commands[i].fn(&o, sub_argc, sub_argv);
        }
        fprintf(stderr, "vmprep: unknown command '%s' (vmprep --help lists them)\n", cmd);
        return EXIT_USAGE;
}
