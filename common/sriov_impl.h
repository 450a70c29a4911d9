/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What sriov.c and sriov_users.c share and nothing else sees. */
#pragma once

#include "sriov.h"
#include "hostuse.h"
#include "log.h"
#include "netvf.h"
#include "parse.h"
#include "pci.h"
#include "running.h"
#include "sysfs.h"
#include "vfio.h"
#include "xml.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NETWORK_CONFIG_DIR "/etc/libvirt/qemu/networks"
#define NETWORK_STATUS_DIR "/run/libvirt/network"

/* A PF's file; another VM that holds sriov/BDF (its VFs); who uses a PF's
 * VFs (none: 0; else how many, named in buf) */
void sriov_pf_path(const PciAddress *pf, const char *file, char *buf, size_t size);
bool sriov_other_holder(const Ledger *l, const char *bdf, const char *uuid, char ret[UUID_STRLEN]);
int sriov_pf_users(const char *uuid, const Ledger *l, const PciAddress *pf, unsigned numvfs, const bool *asked, bool own, char *buf, size_t size);
