/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the vfio files share and nothing else sees. */
#pragma once

#include "vfio.h"
#include "display.h"
#include "hostuse.h"
#include "log.h"
#include "parse.h"
#include "pci.h"
#include "running.h"
#include "sriov.h"
#include "sysfs.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libkmod.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CAP "vfio"
#define STUB "vfio-pci"

#define STOP_MAX 8

/* ---- state of one device ---- */

typedef struct Target {
        PciDevice dev;
        bool direct;       /* named by the domain or the profile */
        bool force;        /* interlocks off for this one */
        char origin[96];   /* why it is moved, for messages */
        const char *reset; /* reset-method wanted (the profile's string), or NULL */
        char reset_origin[320]; /* the element that asks for it, for messages */
} Target;

typedef struct Targets {
        Target *t;
        size_t n;
} Targets;

/* What vmprep knows of the system services that may hold a device's
 * nodes, read when the first such holder is seen. */
typedef struct HolderPolicy {
        bool loaded;
        bool systemd;
        char dm_unit[128];          /* the display manager's unit ("gdm.service"), "" if none */
        char own_unit[96];          /* the service this hook runs in: libvirtd's */
        const char *stop_services;  /* stop-services=, or NULL */
} HolderPolicy;

typedef struct Settings {
        bool whole_group;
        bool force_all;
        const char *single_gpu; /* auto, on, off */
        HolderPolicy *holders;
} Settings;
typedef struct UnitsToStop {
        char unit[STOP_MAX][96];
        char who[STOP_MAX][96]; /* the first holder seen in it: "nvidia-persiste (pid 1234)" */
        size_t n;
} UnitsToStop;

const char *vfio_class_name(uint32_t cls);
int vfio_device_read(const PciAddress *a, PciDevice *dev, bool *fresh);
int vfio_bind_one(Journal *j, const Target *t);
int vfio_set_reset_method(Journal *j, const Target *t);
int vfio_unload_modules(Journal *j, const char *list);
int vfio_ensure_stub_driver(void);
int vfio_check_interlocks(const Target *t, const Settings *set, const Ledger *l, const char *uuid, const RunningVm *vms, size_t n_vms, bool defer_holders);
int vfio_check_reset(const Target *t);
void vfio_running_load(const char *uuid, RunningVm **vms, size_t *n);
int vfio_holders_sort(const PciDevice *dev, HolderPolicy *p, char *blocking, size_t size, UnitsToStop *stop);
int vfio_free_device_nodes(Journal *j, const Targets *ts, const Settings *set, bool display);
