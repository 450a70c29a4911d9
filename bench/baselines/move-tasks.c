/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The baseline: move every task (thread) listed in FROM/tasks into TO/tasks
 * one by one, one open/write/close per thread, as a naive tool does
 * (cgclassify, a shell loop over `tasks`).  Prints the count and the
 * milliseconds it took. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
        char path[4096], line[64];
        struct timespec a, b;
        unsigned moved = 0;

        if (argc != 3)
                return 2;
        clock_gettime(CLOCK_MONOTONIC, &a);
        snprintf(path, sizeof(path), "%s/tasks", argv[1]);
        FILE *f = fopen(path, "re");
        if (!f)
                return perror(path), 1;
        snprintf(path, sizeof(path), "%s/tasks", argv[2]);
        while (fgets(line, sizeof(line), f)) {
                int fd = open(path, O_WRONLY | O_CLOEXEC);
                if (fd < 0)
                        return perror(path), 1;
                if (write(fd, line, strlen(line)) > 0)
                        moved++;
                close(fd);
        }
        fclose(f);
        clock_gettime(CLOCK_MONOTONIC, &b);
        printf("%u %.1f\n", moved, (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6);
        return 0;
}
