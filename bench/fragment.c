/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unmovable fragmentation for the hugepage benchmark: fault in SIZE_MIB of
 * anonymous memory, mlock every page whose physical frame number is a
 * multiple of 64 (read from /proc/self/pagemap: root only; the kernel hands
 * out frames in no particular virtual order, so every 64th *virtual* page
 * would leave whole 2 MiB blocks unlocked), give the other pages back, print
 * "ready LOCKED_KIB HOW" and sleep until killed.  With
 * vm.compact_unevictable_allowed=0 compaction may not move locked pages:
 * every 2 MiB block the helper held keeps 8 of them, and no 2 MiB page can be
 * made there.  Memory held afterwards: about SIZE_MIB / 64.
 * Without pagemap frame numbers (not root) it falls back to every 64th
 * virtual page and says so on stderr.
 *   fragment SIZE_MIB
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
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
        size_t pg = 4096, size = (size_t) atol(argv[1]) << 20;
        char *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED) {
                perror("mmap");
                return 1;
        }
        /* no THP here: each 4 KiB page must be its own allocation */
        madvise(m, size, MADV_NOHUGEPAGE);
        for (size_t o = 0; o < size; o += pg)
                m[o] = 1;
        size_t npages = size / pg, locked = 0;
        int pm = open("/proc/self/pagemap", O_RDONLY);
        uint64_t ent[4096];
        int by_pfn = pm >= 0;
        for (size_t i = 0; i < npages; i += 4096) {
                size_t n = npages - i < 4096 ? npages - i : 4096;
                if (by_pfn && pread(pm, ent, n * 8, (off_t) (((uintptr_t) m / pg + i) * 8)) != (ssize_t) (n * 8))
                        by_pfn = 0;
                for (size_t k = 0; k < n; k++) {
                        uint64_t pfn = ent[k] & ((1ULL << 55) - 1);
                        if (by_pfn && k == 0 && i == 0 && pfn == 0) {
                                fprintf(stderr, "fragment: no frame numbers in pagemap: every 64th virtual page\n");
                                by_pfn = 0;
                        }
                        int keep = by_pfn ? pfn % 64 == 0 : (i + k) % 64 == 0;
                        char *a = m + (i + k) * pg;
                        if (keep) {
                                if (mlock(a, pg) == 0)
                                        locked += pg;
                        } else {
                                madvise(a, pg, MADV_DONTNEED);
                        }
                }
        }
        printf("ready %zu %s\n", locked >> 10, by_pfn ? "by-frame" : "by-virtual-page");
        fflush(stdout);
        for (;;)
                pause();
}
