/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Single-GPU hosts: when the GPU a VM is given is the one driving the host
 * display, the display must let go of it first.  In this order:
 *
 *   1. stop the display manager (display-manager.service, through systemd's
 *      D-Bus API; StopUnit only queues a job, so wait, bounded, for the unit
 *      to become inactive): its X server or compositor holds its /dev/dri nodes;
 *   2. unbind every vtconsole bound to a framebuffer driver (fbcon);
 *   3. unbind the efi-/simple-/vesa-framebuffer platform devices, which
 *      still own the boot framebuffer's memory.
 *
 * Each is journalled before it is done (capability "vfio"), so release, which
 * undoes the journal newest first, gives the GPU back to its driver before it
 * rebinds the framebuffers, then the consoles, then starts the unit again.
 *
 * The same stop, journalled alike, serves vfio for a system service whose
 * processes hold a passed device's nodes (nvidia-persistenced):
 * display_stop_unit().
 *
 * systemd is reached with sd-bus (libsystemd): its own client, which does the
 * authentication, marshalling and timeouts that a raw D-Bus client would
 * have to reimplement.  The test build uses a double instead: unit states in
 * /.fake/systemd/units/UNIT ("ID STATE"), StopUnit/StartUnit as writes to
 * /.fake/systemd/stop and /start that the fake kernel acts on.
 */
#pragma once

#include "journal.h"

#include <stdbool.h>
#include <stddef.h>

#define DISPLAY_MANAGER_UNIT "display-manager.service"
/* How long to wait for the display manager to stop (the test double's
 * "never stops" case need not take the real bound). */
#ifdef VMPREP_TEST_BUILD
#define DISPLAY_STOP_WAIT_MS 2000
#else
#define DISPLAY_STOP_WAIT_MS 15000
#endif

/* The first vtconsole bound to a framebuffer driver ("vtcon1"); false if none. */
bool display_fbcon_bound(char *which, size_t size);
/* Is systemd the init system here (/run/systemd/system)? */
bool display_have_systemd(void);

/* Take the display off the GPU (steps 1-3 above, through the journal).
 * With no systemd, refuse unless force (then only the consoles and
 * framebuffers are freed); logs why.  Returns 0 or -errno. */
int display_release_gpu(Journal *j, bool force);

/* A unit's id (display-manager.service is an alias: "gdm.service") and
 * ActiveState; "not-found" when systemd has no such unit. */
int display_unit_state(const char *unit, char *id, size_t idsize, char *state, size_t ssize);
/* Stop a unit over D-Bus until release: journalled first (kind "unit",
 * resource, path /systemd/ID, old value its state), so that release, or
 * reconcile after a crash, starts it again; StopUnit only queues a job, so
 * wait, bounded, for it to be inactive.  A unit that is not running:
 * nothing done, nothing journalled.  label reads before the name in
 * messages ("the display manager "), why is the plan's reason. */
int display_stop_unit(Journal *j, const char *unit, const char *resource, const char *label, const char *why);

/* Undo of "unit" and "platform" (the table in capabilities.c). */
int display_undo_unit(const JournalStep *s, const UndoContext *ctx);
int display_undo_platform(const JournalStep *s, const UndoContext *ctx);
