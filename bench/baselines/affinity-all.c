/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The baseline where cgroup v2 and systemd are the backend: pin every
 * user-space thread of the machine to CPUS one by one with
 * sched_setaffinity(), as the isolation scripts that loop `taskset -pc` over
 * /proc do.  affinity-all FIRST-LAST: prints the threads set, the threads
 * that refused (per-CPU kernel threads, exiting ones) and the milliseconds. */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int numeric(const char *s)
{
        if (!*s)
                return 0;
        for (; *s; s++)
                if (!isdigit((unsigned char) *s))
                        return 0;
        return 1;
}

int main(int argc, char **argv)
{
        unsigned first, last, set = 0, refused = 0;
        struct timespec a, b;
        cpu_set_t mask;

        if (argc != 2 || sscanf(argv[1], "%u-%u", &first, &last) != 2 || first > last || last >= CPU_SETSIZE) {
                fprintf(stderr, "usage: affinity-all FIRST-LAST\n");
                return 2;
        }
        CPU_ZERO(&mask);
        for (unsigned c = first; c <= last; c++)
                CPU_SET(c, &mask);
        clock_gettime(CLOCK_MONOTONIC, &a);
        DIR *proc = opendir("/proc");
        if (!proc)
                return 1;
        struct dirent *p;
        while ((p = readdir(proc))) {
                char path[300];
                if (!numeric(p->d_name))
                        continue;
                snprintf(path, sizeof(path), "/proc/%s/task", p->d_name);
                DIR *tasks = opendir(path);
                if (!tasks)
                        continue;
                struct dirent *t;
                while ((t = readdir(tasks))) {
                        if (!numeric(t->d_name))
                                continue;
                        if (sched_setaffinity((pid_t) strtol(t->d_name, NULL, 10), sizeof(mask), &mask) == 0)
                                set++;
                        else
                                refused++;
                }
                closedir(tasks);
        }
        closedir(proc);
        clock_gettime(CLOCK_MONOTONIC, &b);
        printf("%u %u %.1f\n", set, refused, (double) (b.tv_sec - a.tv_sec) * 1e3 + (double) (b.tv_nsec - a.tv_nsec) / 1e6);
        return 0;
}
