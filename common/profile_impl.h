/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What profile.c and profile_grammar.c share and nothing else sees. */
#pragma once

#include "profile.h"
#include "sysfs.h"
#include "xml.h"
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#ifndef VMPREP_PROFILEDIR
#define VMPREP_PROFILEDIR "/usr/local/share/vmprep/profiles"
#endif
#define PROFILE_ETCDIR "/etc/vmprep/profiles"
#define PROFILE_MAX_BYTES (1024 * 1024)

typedef enum AttrType {
        A_YESNO,
        A_ONOFF,
        A_ENUM,
        A_SIZE,
        A_LIST_AUTO,  /* "auto" or a CPU/node list */
        A_PCI,
        A_UINT,
        A_MAC,
        A_MODULES,
        A_SERVICES,   /* systemd services: a,b.service */
        A_RT_RUNTIME,
        A_SHM_NAME,   /* a file name in /dev/shm */
        A_KVMFR,      /* /dev/kvmfrN */
        A_ACCOUNT,    /* a user or group name */
        A_MODE,       /* an octal file mode without set-id or sticky bits */
        A_RESET,      /* a PCI reset_method value: "default" or method names */
} AttrType;

typedef struct AttrSpec {
        const char *name;
        AttrType type;
        const char *const *choices; /* A_ENUM, NULL-terminated */
        uint64_t min, max;          /* A_UINT */
        bool required;
} AttrSpec;

typedef struct ElemSpec {
        const char *name;
        const AttrSpec *attrs;
        bool multiple;             /* may appear more than once, told apart by key */
        const char *key;           /* attribute that identifies it among its siblings */
        const struct ElemSpec *children;
        /* another attribute that identifies it instead of key: exactly one
         * of the two is given (<vmprep:shmem name=...> or device=...) */
        const char *key2;
} ElemSpec;

/* ---- errors ---- */

typedef struct Ctx {
        const char *origin;
        char *err;
        size_t errlen;
} Ctx;

/* the grammar's top-level elements (<vmprep:profile>'s children) */
extern const ElemSpec profile_top_elems[];
/* -EINVAL, with "ORIGIN: " and the sentence in c->err */
int profile_fail(Ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* a value checked against its attribute's type (-EINVAL with the sentence) */
int profile_check_value(Ctx *c, const char *elem, const AttrSpec *a, const char *v);
