/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The one error convention (log.h): what a failure says, and what it returns. */
#include "test.h"

#include "common/log.h"

#include <errno.h>

static char last[2600];
static unsigned lines;

static void capture(int level, const char *line)
{
        (void) level;
        snprintf(last, sizeof(last), "%s", line);
        lines++;
}

static void start(void)
{
        last[0] = '\0';
        lines = 0;
        log_set_sink(capture);
}

TEST(log_error_errno_appends_the_cause_and_returns_minus_errno)
{
        start();
        unsigned before = log_errors();
        int r = log_error_errno(ENOENT, "cannot read %s", "/x");
        log_set_sink(NULL);
        CHECK_INT(r, -ENOENT);
        CHECK_CONTAINS(last, "cannot read /x: No such file or directory");
        CHECK_INT(log_errors(), before + 1);
        /* a negative error reads the same */
        start();
        CHECK_INT(log_error_errno(-EIO, "write"), -EIO);
        log_set_sink(NULL);
        CHECK_CONTAINS(last, "write: Input/output error");
}

TEST(synthetic_errno_says_the_message_alone)
{
        start();
        int r = log_error_errno(SYNTHETIC_ERRNO(EBUSY), "0000:43:00.0 is in use");
        log_set_sink(NULL);
        CHECK_INT(r, -EBUSY);
        CHECK(strstr(last, "in use") && !strstr(last, "busy")); /* no ": Device or resource busy" */
        CHECK(!strstr(last, "Unknown error"));
        start();
        CHECK_INT(log_oom(), -ENOMEM);
        log_set_sink(NULL);
        CHECK_CONTAINS(last, "out of memory");
        CHECK(!strstr(last, "Cannot allocate"));
}

TEST(a_planning_functions_message_is_logged_once_with_its_error)
{
        char err[64] = "";
        start();
        CHECK_INT(log_error_planned(0, err), 0); /* success: nothing said */
        CHECK_INT(log_error_planned(1, err), 1);
        CHECK_INT(lines, 0);
        /* EINVAL, ENOMEM alike: the sentence, never strerror in its place */
        snprintf(err, sizeof(err), "<vmprep:isolate cpus='x'>: not a CPU list");
        CHECK_INT(log_error_planned(-EINVAL, err), -EINVAL);
        CHECK_INT(lines, 1);
        CHECK(strstr(last, "not a CPU list") && !strstr(last, "Invalid argument"));
        /* one that broke its word still says something */
        err[0] = '\0';
        CHECK_INT(log_error_planned(-ENOMEM, err), -ENOMEM);
        log_set_sink(NULL);
        CHECK_INT(lines, 2);
        CHECK_CONTAINS(last, "Cannot allocate memory");
}

TEST(fail_errno_fills_only_an_empty_message)
{
        char err[64] = "";
        CHECK_INT(fail_errno(err, sizeof(err), -ENOMEM), -ENOMEM);
        CHECK_STR(err, "Cannot allocate memory");
        snprintf(err, sizeof(err), "the sentence");
        CHECK_INT(fail_errno(err, sizeof(err), -EINVAL), -EINVAL);
        CHECK_STR(err, "the sentence");
        CHECK_INT(fail_errno(err, sizeof(err), 0), 0);
        CHECK_STR(err, "the sentence");
}

TEST(the_net_says_only_what_nobody_said)
{
        start();
        unsigned said = log_errors();
        log_error_errno(SYNTHETIC_ERRNO(EBUSY), "the device is in use");
        CHECK_INT(log_unsaid(-EBUSY, said, "prepare"), -EBUSY);
        CHECK_INT(lines, 1); /* said where it failed: nothing more */
        said = log_errors();
        CHECK_INT(log_unsaid(0, said, "prepare"), 0);
        CHECK_INT(lines, 1);
        CHECK_INT(log_unsaid(-EIO, said, "prepare"), -EIO); /* a path that forgot */
        log_set_sink(NULL);
        CHECK_INT(lines, 2);
        CHECK_CONTAINS(last, "prepare failed, and vmprep said nothing about why");
        CHECK_CONTAINS(last, "Input/output error");
}
