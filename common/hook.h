/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one hook main shared by every capability: argv as libvirt passes it
 * (after the capability name), the domain XML on stdin, nothing on stdout,
 * one clear stderr line on failure.  Exit status: 0 success, 1 failure
 * (libvirt aborts the start), 2 usage.
 */
#pragma once

int hook_main(int argc, char **argv);
