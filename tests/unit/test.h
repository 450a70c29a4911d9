/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A small test harness: TEST(name) registers a test; CHECK* fail it with
 * the file, line and values.  The runner prints "ok"/"not ok" per test and
 * a closing "N passed, N failed, N skipped" line.
 */
#pragma once

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef void (*TestFn)(void);
void test_register(const char *name, TestFn fn);
void test_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void test_skip(const char *why);
bool test_failed(void);

#define TEST(name)                                                                            \
        static void name(void);                                                               \
        __attribute__((constructor)) static void register_##name(void) { test_register(#name, name); } \
        static void name(void)

#define CHECK(cond)                                                                           \
        do {                                                                                  \
                if (!(cond)) {                                                                \
                        test_fail(__FILE__, __LINE__, "%s", #cond);                           \
                        return;                                                               \
                }                                                                             \
        } while (0)

#define CHECK_STR(a, b)                                                                       \
        do {                                                                                  \
                const char *_a = (a), *_b = (b);                                              \
                if (!_a || !_b || strcmp(_a, _b) != 0) {                                      \
                        test_fail(__FILE__, __LINE__, "%s == %s: got '%s', want '%s'", #a, #b, \
                                  _a ? _a : "(null)", _b ? _b : "(null)");                    \
                        return;                                                               \
                }                                                                             \
        } while (0)

#define CHECK_INT(a, b)                                                                       \
        do {                                                                                  \
                long long _a = (long long) (a), _b = (long long) (b);                         \
                if (_a != _b) {                                                               \
                        test_fail(__FILE__, __LINE__, "%s == %s: got %lld, want %lld", #a, #b, _a, _b); \
                        return;                                                               \
                }                                                                             \
        } while (0)

#define CHECK_CONTAINS(hay, needle)                                                           \
        do {                                                                                  \
                const char *_h = (hay), *_n = (needle);                                       \
                if (!_h || !strstr(_h, _n)) {                                                 \
                        test_fail(__FILE__, __LINE__, "'%s' does not contain '%s'", _h ? _h : "(null)", _n); \
                        return;                                                               \
                }                                                                             \
        } while (0)

/* ---- fake trees (tests/unit/tree.c) ---- */

/* A fresh fake root; sets $VMPREP_ROOT and the gateway to it. */
const char *tree_new(void);
/* Remove it. */
void tree_free(void);
/* Write rel (created with its directories) under the root. */
void tree_write(const char *rel, const char *content);
/* Contents of rel (static buffer, trailing newline removed), or NULL. */
const char *tree_read(const char *rel);
unsigned long long tree_read_ull(const char *rel);
/* A NUMA node with a hugepage pool of that size holding nr pages. */
void tree_add_pool(unsigned node, unsigned long long size_kib, unsigned long long nr);
/* Nodes with memory ("0" or "0-1") and the default page size. */
void tree_set_host(const char *nodes, unsigned long long default_kib);
/* Capture what vmprep logs to stderr (errors) between start and end (malloc'd). */
void stderr_capture_start(void);
char *stderr_capture_end(void);
/* Read a whole file from the source tree (malloc'd), or NULL. */
char *slurp(const char *path, size_t *len);
