/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

static const char *log_ident = "vmprep";
static bool log_syslog;
static int log_stderr_level = LOG_LEVEL_WARNING;
static char log_context[256];
static void (*log_sink)(int level, const char *line);
static unsigned log_error_count;

unsigned log_errors(void) { return log_error_count; }

void log_set_sink(void (*sink)(int level, const char *line)) { log_sink = sink; }

void log_open(const char *ident, bool to_syslog)
{
        log_ident = ident;
        log_syslog = to_syslog;
        if (to_syslog)
                openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_stderr_level(int level) { log_stderr_level = level; }

static bool log_narration_off;
void log_set_narration(bool on) { log_narration_off = !on; }

void log_set_context(const char *context)
{
        snprintf(log_context, sizeof(log_context), "%s", context ? context : "");
}

static void log_emit(int level, int err, const char *fmt, va_list ap)
{
        char msg[2048];
        if (log_narration_off && level >= LOG_LEVEL_INFO)
                return;
        int n = vsnprintf(msg, sizeof(msg), fmt, ap);

        if (level <= LOG_LEVEL_ERROR)
                log_error_count++;
        if (n >= 0 && err > 0 && (size_t) n < sizeof(msg))
                snprintf(msg + n, sizeof(msg) - (size_t) n, ": %s", strerror(err));

        if (level <= log_stderr_level)
                fprintf(stderr, "%s: %s%s%s\n", log_ident, log_context,
                        log_context[0] ? ": " : "", msg);
        if (log_syslog)
                syslog(level, "%s%s%s", log_context, log_context[0] ? ": " : "", msg);
        if (log_sink && level <= LOG_LEVEL_INFO) {
                static bool busy; /* the sink may itself log an error */
                if (!busy) {
                        char line[2600];
                        busy = true;
                        snprintf(line, sizeof(line), "%s: %s%s%s", log_ident, log_context, log_context[0] ? ": " : "", msg);
                        log_sink(level, line);
                        busy = false;
                }
        }
}

void log_msg(int level, const char *fmt, ...)
{
        va_list ap;
        int saved = errno;

        va_start(ap, fmt);
        log_emit(level, 0, fmt, ap);
        va_end(ap);
        errno = saved;
}

int fail_msg(char *err, size_t errlen, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

int log_msg_errno(int level, int err, const char *fmt, ...)
{
        va_list ap;
        int saved = errno;

        if (err < 0)
                err = -err;
        bool synthetic = err & LOG_ERRNO_SYNTHETIC;
        err &= ~LOG_ERRNO_SYNTHETIC;
        va_start(ap, fmt);
        log_emit(level, synthetic ? 0 : err, fmt, ap);
        va_end(ap);
        errno = saved;
        return -err;
}

int fail_errno(char *err, size_t errlen, int r)
{
        if (r < 0 && errlen && !err[0])
                snprintf(err, errlen, "%s", strerror(-r));
        return r;
}

int log_error_planned(int r, const char *err)
{
        if (r >= 0)
                return r;
        if (!err[0]) /* a planning function that broke its word: still say something */
                return log_error_errno(r, "internal error: no message");
        return log_error_errno(SYNTHETIC_ERRNO(-r), "%s", err);
}

int log_unsaid(int r, unsigned said, const char *what)
{
        if (r < 0 && log_error_count == said)
                log_error_errno(r, "%s failed, and vmprep said nothing about why (a bug: please report it)", what);
        return r;
}

int log_oom(void) { return log_error_errno(SYNTHETIC_ERRNO(ENOMEM), "out of memory"); }
