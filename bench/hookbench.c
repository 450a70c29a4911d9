/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Time hook executables as libvirt runs them: fork, stdin from a domain XML
 * file, argv "NAME OPERATION SUB-OPERATION -", wait.  Each round runs the
 * given phases in order (so a prepare is always followed by its release);
 * prints per phase the median, 10th and 90th percentile wall time.
 *
 *   hookbench -n ROUNDS -x DOMAIN.xml -l LABEL [-c CAPABILITY] [-k N] PROGRAM... PHASE...
 *   (-c: run PROGRAM CAPABILITY NAME ..., as the full handler is called;
 *    -k N: the first N arguments are programs, run one after the other per
 *    phase as libvirt runs the hooks in qemu.d, and timed together: a hook set)
 *   PHASE: prepare | start | started | stopped | release | reconnect
 * Output: one line per phase: "LABEL PHASE median_us p10_us p90_us"
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *sub_of(const char *phase)
{
        if (!strcmp(phase, "stopped") || !strcmp(phase, "release"))
                return "end";
        return "begin";
}

static int cmp(const void *a, const void *b)
{
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
        int rounds = 20, opt, nprogs = 1;
        const char *xml = NULL, *label = "hook", *cap = NULL;

        while ((opt = getopt(argc, argv, "n:x:l:c:k:")) != -1) {
                if (opt == 'n')
                        rounds = atoi(optarg) > 0 ? atoi(optarg) : 20;
                else if (opt == 'x')
                        xml = optarg;
                else if (opt == 'l')
                        label = optarg;
                else if (opt == 'c')
                        cap = optarg;
                else if (opt == 'k')
                        nprogs = atoi(optarg) > 0 ? atoi(optarg) : 1;
                else
                        return 2;
        }
        if (!xml || optind + nprogs + 1 > argc) {
                fprintf(stderr, "usage: hookbench -n ROUNDS -x DOMAIN.xml -l LABEL PROGRAM PHASE...\n");
                return 2;
        }
        char **progs = &argv[optind];
        int nphases = argc - optind - nprogs;
        double *t = calloc((size_t) (rounds * nphases), sizeof(double));
        int failures = 0;

        for (int r = 0; r < rounds; r++) {
                for (int p = 0; p < nphases; p++) {
                        const char *phase = argv[optind + nprogs + p];
                        struct timespec a, b;
                        clock_gettime(CLOCK_MONOTONIC, &a);
                        for (int k = 0; k < nprogs; k++) {
                        const char *prog = progs[k];
                        int fd = open(xml, O_RDONLY | O_CLOEXEC);
                        if (fd < 0) {
                                perror(xml);
                                return 1;
                        }
                        pid_t pid = fork();
                        if (pid == 0) {
                                dup2(fd, 0);
                                int null = open("/dev/null", O_WRONLY);
                                dup2(null, 1);
                                if (cap)
                                        execl(prog, prog, cap, "bench-vm", phase, sub_of(phase), "-", (char *) NULL);
                                else
                                        execl(prog, prog, "bench-vm", phase, sub_of(phase), "-", (char *) NULL);
                                _exit(127);
                        }
                        int st;
                        waitpid(pid, &st, 0);
                        close(fd);
                        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                                failures++;
                        }
                        clock_gettime(CLOCK_MONOTONIC, &b);
                        t[p * rounds + r] = (double) (b.tv_sec - a.tv_sec) * 1e6 + (double) (b.tv_nsec - a.tv_nsec) / 1e3;
                }
        }
        for (int p = 0; p < nphases; p++) {
                double *v = &t[p * rounds];
                qsort(v, (size_t) rounds, sizeof(double), cmp);
                printf("%s %s %.0f %.0f %.0f\n", label, argv[optind + nprogs + p], v[rounds / 2], v[rounds / 10],
                       v[(rounds * 9) / 10]);
        }
        free(t);
        if (failures)
                fprintf(stderr, "hookbench: %d runs exited non-zero\n", failures);
        return failures ? 1 : 0;
}
