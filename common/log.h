/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging for a person: stderr (which libvirt shows on a failed start) and
 * syslog(3).  Never stdout: libvirt takes a hook's stdout as domain XML in
 * the migrate and restore phases.
 *
 * One convention, systemd's: code that runs in a hook logs a failure once,
 * where it is known (it has the path, the device, the value), and returns
 * -errno; its callers pass r up without logging it again, and hook_main()
 * logs nothing about r.  log_error_errno() returns its (negative) error so
 * that `return log_error_errno(r, "...");` reads naturally; with
 * SYNTHETIC_ERRNO(E) it returns -E without appending strerror(E), for a
 * refusal whose message says it all.
 *
 * Only the pure planning functions (domain and profile parsing, the
 * derivations `vmprep plan` prints) take a message buffer (err, errlen)
 * instead: they fill it on every failure, never log, and their caller logs
 * or prints it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

enum {
        LOG_LEVEL_ERROR = 3,
        LOG_LEVEL_WARNING = 4,
        LOG_LEVEL_INFO = 6,
        LOG_LEVEL_DEBUG = 7,
};

/* ident: "vmprep-hugepages", "vmprep"...; to_syslog: also send to syslog. */
void log_open(const char *ident, bool to_syslog);
/* Messages at or below this level reach stderr (default: warnings). */
void log_set_stderr_level(int level);
/* Info and debug messages on (default) or dropped everywhere: vmprep plan
 * runs the hooks' prepare, whose narration ("reserved ...") would say what
 * did not happen. */
void log_set_narration(bool on);
/* Context prefixed to every message, e.g. the VM name. NULL clears it. */
void log_set_context(const char *context);

/* Also hand every message at info level or above, as a finished line, to
 * sink (the hooks append them to /run/vmprep/events.log). */
void log_set_sink(void (*sink)(int level, const char *line));

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int log_msg_errno(int level, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_error_errno(err, ...) log_msg_errno(LOG_LEVEL_ERROR, err, __VA_ARGS__)
#define log_warning_errno(err, ...) log_msg_errno(LOG_LEVEL_WARNING, err, __VA_ARGS__)

/* log_error_errno(SYNTHETIC_ERRNO(EBUSY), "...") logs the message alone and
 * returns -EBUSY. */
#define LOG_ERRNO_SYNTHETIC (1 << 30)
#define SYNTHETIC_ERRNO(e) (LOG_ERRNO_SYNTHETIC | (e))

/* "out of memory", once, where the allocation failed; returns -ENOMEM. */
int log_oom(void);

/* How many error-level messages this process has logged. */
unsigned log_errors(void);
/* The net under the convention: r < 0 with no error logged since
 * log_errors() read said is a path that forgot to say why (a bug); say
 * at least what failed, so that no failure is ever silent.  Returns r. */
int log_unsaid(int r, unsigned said, const char *what);

/* A planning function's refusal: the message goes into err (errlen
 * bytes), the result is -EINVAL. */
int fail_msg(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A planning function's failure r (< 0) that has no sentence yet: err gets
 * strerror's ("Cannot allocate memory"); returns r. */
int fail_errno(char *err, size_t errlen, int r);

/* In a hook, after a planning function: r < 0 logs what it wrote into err
 * (every one fills it on every failure) and returns r; r >= 0 is returned
 * as it is. */
int log_error_planned(int r, const char *err);
