/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "hook.h"

#include "domain.h"
#include "log.h"
#include "profile.h"
#include "sysfs.h"
#include "tune.h"
#include "xml.h"

#include "journal.h"
#include "readall.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#define EVENTS_LOG VMPREP_RUNDIR "/events.log"
#define EVENTS_LOG_OLD VMPREP_RUNDIR "/events.log.1"
#define EVENTS_LOG_MAX (1024 * 1024)

/* What vmprep did and undid, for `vmprep status` and for a person: one line
 * per action in /run/vmprep/events.log (the previous MiB in events.log.1).
 * syslog(3) gets the same lines, but many hosts of this kind have no syslog
 * daemon. */
void hook_events_sink(int level, const char *line)
{
        struct stat st;
        struct timespec now;
        struct tm tm;
        char stamp[32], buf[3000];

        if (sysfs_lstat(VMPREP_RUNDIR, &st) < 0 || !S_ISDIR(st.st_mode))
                return; /* state_dir_check() decides; never create it from here */
        if (sysfs_lstat(EVENTS_LOG, &st) == 0 && st.st_size > EVENTS_LOG_MAX)
                sysfs_rename(EVENTS_LOG, EVENTS_LOG_OLD);
        int fd = sysfs_open(EVENTS_LOG, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0600);
        if (fd < 0)
                return;
        clock_gettime(CLOCK_REALTIME, &now);
        gmtime_r(&now.tv_sec, &tm);
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
        int n = snprintf(buf, sizeof(buf), "%s %s[%d] %s%s\n", stamp,
                         level <= LOG_LEVEL_ERROR ? "error" : level <= LOG_LEVEL_WARNING ? "warning" : "info",
                         (int) getpid(), line, "");
        if (n > 0)
                (void) !write(fd, buf, (size_t) n < sizeof(buf) ? (size_t) n : sizeof(buf) - 1);
        close(fd);
}

/*
 * libvirt's migrate phase, on the destination, before anything is
 * transferred: `HOOK NAME migrate begin -` with the incoming domain XML on
 * stdin.  A non-zero exit aborts the migration and libvirt shows our
 * stderr; stdout would be taken as a replacement XML, so nothing goes there.
 * Checked, changing nothing on this host (no journal, no ledger, no
 * events.log): the profile is valid, and what this capability's prepare
 * will need is here — the plan's own checks (devices present and not held
 * by the host or another VM, claimed cores online and free) and the room a
 * shared pool must have.  Prepare, later, does the work.
 */
static int hook_migrate(const Capability *cap)
{
        char err[2048] = "";
        Domain *d = NULL;
        Profile *p = NULL;
        Plan plan = { NULL, 0 };
        size_t len = 0;
        int r = sysfs_init(NULL);

        if (r < 0)
                return log_error_errno(r, "cannot set up the kernel gateway"), 1;
        char *xml = read_all_fd(STDIN_FILENO, XML_MAX_BYTES + 1, &len);
        if (!xml) {
                log_error("out of memory reading the incoming domain XML: refusing the migration");
                return 1;
        }
        r = domain_parse(xml, len, &d, err, sizeof(err));
        free(xml);
        if (r == 0 && !d->uuid[0])
                r = fail_msg(err, sizeof(err), "the domain XML has no <uuid>; vmprep keys its state by UUID");
        if (r == 0)
                r = profile_from_domain(d, &p, err, sizeof(err));
        if (r < 0) {
                log_error("refusing the incoming migration: %s", err);
                domain_free(d);
                return 1;
        }
        if (!p) {
                domain_free(d);
                return 0; /* untagged: libvirt's own checks only */
        }
        /* what other VMs hold is in the ledger: unknown, nothing can be promised */
        Ledger l = { .lock_fd = -1 };
        r = ledger_read(&l); /* logs an unreadable one */
        bool damaged = l.damaged;
        if (damaged)
                ledger_report_damage(&l, "refusing the incoming migration (nothing was changed here)");
        else if (r < 0)
                log_error("refusing the incoming migration: the ledger cannot be read (nothing was changed here)");
        ledger_clear(&l);
        if (damaged || r < 0) {
                profile_free(p);
                domain_free(d);
                return 1;
        }
        r = capability_plan(cap, d, p, &plan); /* logs its refusal as prepare would */
        if (r == 0 && cap->check)
                r = cap->check(d, p); /* logs its refusal */
        if (r < 0) {
                log_error("refusing the incoming migration: this host cannot give the VM what vmprep's %s "
                          "prepare needs (nothing was changed here)", cap->name);
        }
        plan_free(&plan);
        profile_free(p);
        domain_free(d);
        return r < 0 ? 1 : 0;
}

int hook_main(int argc, char **argv)
{
        const Capability *cap = NULL;
        char ident[64], err[2048];
        Domain *d = NULL;
        Profile *p = NULL;
        int r = 0;

        if (argc < 4) {
                fprintf(stderr, "usage: vmprep-hook CAPABILITY DOMAIN OPERATION [SUB-OPERATION [EXTRA]] < domain.xml\n");
                return 2;
        }
        cap = capability_find(argv[1]);
        if (!cap) {
                fprintf(stderr, "vmprep-hook: unknown capability '%s'\n", argv[1]);
                return 2;
        }
        snprintf(ident, sizeof(ident), "vmprep-%s", cap->name);
        log_open(ident, true);
        log_set_context(argv[2]);
        const char *op = argv[3];
        if (strcmp(op, "migrate") == 0)
                return hook_migrate(cap);
        log_set_sink(hook_events_sink);
        r = sysfs_init(NULL);
        if (r < 0)
                return log_error_errno(r, "cannot set up the kernel gateway"), 1;

        bool starting = strcmp(op, "prepare") == 0;
        bool started = strcmp(op, "started") == 0 && cap->started;
        bool giving_back = strcmp(op, "release") == 0;
        bool reconnect = strcmp(op, "reconnect") == 0;
        if (!starting && !started && !giving_back && !reconnect)
                return 0; /* start, stopped, restore, or nothing for this capability */

        size_t len = 0;
        char *xml = read_all_fd(STDIN_FILENO, XML_MAX_BYTES + 1, &len);
        if (!xml) {
                log_error("out of memory reading the domain XML");
                return starting ? 1 : 0;
        }
        r = domain_parse(xml, len, &d, err, sizeof(err));
        free(xml);
        if (r < 0) {
                log_error_planned(r, err);
                return starting ? 1 : 0;
        }
        if (!d->uuid[0]) {
                log_error("the domain XML has no <uuid>; vmprep keys its state by UUID");
                domain_free(d);
                return starting ? 1 : 0;
        }

        r = profile_from_domain(d, &p, err, sizeof(err));
        if (r < 0) {
                log_error_planned(r, err);
                if (starting) {
                        domain_free(d);
                        return 1;
                }
                /* what the journal says can be given back without the profile */
        }

        /* Every failure below is logged where it is known (log.h): this
         * says nothing more about r, only that something was kept. */
        unsigned said = log_errors();
        if (starting) {
                if (p)
                        r = cap->prepare(d, p);
                else
                        r = cap->release(d->uuid, d->name); /* untagged since: leftovers only */
        } else if (started) {
                r = p ? cap->started(d, p) : 0;
        } else if (giving_back) {
                r = cap->release(d->uuid, d->name);
        } else {
                (void) cap->reconnect(d->uuid); /* logs what it finds */
                r = 0; /* a failing reconnect hook makes libvirt kill the VM */
        }
        log_unsaid(r, said, op);
        bool gave_back = giving_back || (starting && !p);
        if (r < 0 && gave_back && journal_exists(d->uuid, cap->name))
                log_error("not everything was given back: " VMPREP_RUNDIR "/%s.%s.journal keeps what is left; "
                          "once the VM has stopped and the cause above is fixed, 'vmprep reconcile' gives it back",
                          d->uuid, cap->name);

        profile_free(p);
        domain_free(d);
        /* libvirt ignores the status of release; it still says
         * to whoever runs a hook by hand that something was kept */
        if (r < 0 && (starting || started || gave_back))
                return 1;
        return 0;
}
