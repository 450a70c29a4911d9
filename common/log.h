/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging for a person: stderr (which libvirt shows on a failed start) and
 * syslog(3).  Never stdout: libvirt takes a hook's stdout as domain XML in
 * the migrate and restore phases.
 *
 * Functions that fail return -errno; the caller at the top logs once.
 * log_error_errno() returns its (negative) error so that
 * `return log_error_errno(r, "...");` reads naturally.
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

/* A validation failure for the caller to report: the message goes into
 * err (errlen bytes), the result is -EINVAL. */
int fail_msg(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A sticky "already reported" marker: a function that logged its own,
 * more precise message returns -EREPORTED's value wrapped so that the top
 * level does not log a second, vaguer one. */
#define VMPREP_EREPORTED 4095
static inline bool error_reported(int r) { return r == -VMPREP_EREPORTED; }
