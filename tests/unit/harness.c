/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "test.h"

#include "common/log.h"

#include <stdarg.h>
#include <stdlib.h>

typedef struct Test {
        const char *name;
        TestFn fn;
} Test;

static Test tests[512];
static size_t n_tests;
static bool failed, skipped;
static char skip_reason[256];

void test_register(const char *name, TestFn fn)
{
        if (n_tests < sizeof(tests) / sizeof(tests[0]))
                tests[n_tests++] = (Test){ name, fn };
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
        va_list ap;
        fprintf(stdout, "#   %s:%d: ", file, line);
        va_start(ap, fmt);
        vfprintf(stdout, fmt, ap);
        va_end(ap);
        fprintf(stdout, "\n");
        failed = true;
}

void test_skip(const char *why)
{
        skipped = true;
        snprintf(skip_reason, sizeof(skip_reason), "%s", why);
}

bool test_failed(void) { return failed; }

static int by_name(const void *a, const void *b)
{
        return strcmp(((const Test *) a)->name, ((const Test *) b)->name);
}

int main(int argc, char **argv)
{
        unsigned passed = 0, nfailed = 0, nskipped = 0, i = 0;

        log_open("vmprep-test", false);
        log_set_stderr_level(getenv("VMPREP_TEST_VERBOSE") ? LOG_LEVEL_DEBUG : -1);
        qsort(tests, n_tests, sizeof(tests[0]), by_name);
        for (size_t k = 0; k < n_tests; k++) {
                if (argc > 1 && !strstr(tests[k].name, argv[1]))
                        continue;
                failed = skipped = false;
                tests[k].fn();
                tree_free();
                i++;
                if (failed) {
                        printf("not ok %u - %s\n", i, tests[k].name);
                        nfailed++;
                } else if (skipped) {
                        printf("ok %u - %s # SKIP %s\n", i, tests[k].name, skip_reason);
                        nskipped++;
                } else {
                        printf("ok %u - %s\n", i, tests[k].name);
                        passed++;
                }
                fflush(stdout);
        }
        printf("1..%u\n", i);
        printf("unit: %u passed, %u failed, %u skipped\n", passed, nfailed, nskipped);
        return nfailed ? 1 : 0;
}
