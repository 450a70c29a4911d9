/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unmovable fragmentation for the hugepage benchmark: fault in SIZE_MIB of
 * anonymous memory, mlock every 64th 4 KiB page (with
 * vm.compact_unevictable_allowed=0 compaction may not move them), give the
 * other pages back, print "ready LOCKED_KIB" and sleep until killed.  Every
 * 2 MiB block it touched keeps 8 locked pages: no 2 MiB page can be made
 * there.  Memory held afterwards: SIZE_MIB / 64.
 *   fragment SIZE_MIB
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
        if (argc != 2 || atol(argv[1]) <= 0) {
                fprintf(stderr, "usage: fragment SIZE_MIB\n");
                return 2;
        }
        size_t pg = 4096, size = (size_t) atol(argv[1]) << 20, stride = 64 * pg;
        char *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED) {
                perror("mmap");
                return 1;
        }
        /* no THP here: each 4 KiB page must be its own allocation */
        madvise(m, size, MADV_NOHUGEPAGE);
        for (size_t o = 0; o < size; o += pg)
                m[o] = 1;
        size_t locked = 0;
        for (size_t o = 0; o < size; o += stride) {
                if (mlock(m + o, pg) == 0)
                        locked += pg;
                /* the 63 pages after the locked one go back to the kernel */
                size_t rest = o + stride <= size ? stride - pg : size - o - pg;
                if (rest)
                        madvise(m + o + pg, rest, MADV_DONTNEED);
        }
        printf("ready %zu\n", locked >> 10);
        fflush(stdout);
        for (;;)
                pause();
}
