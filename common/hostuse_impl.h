/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the hostuse files share and nothing else sees. */
#pragma once

#include "hostuse.h"
#include "netvf.h"
#include "parse.h"
#include "pci.h"
#include "sysfs.h"
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MEMBERS_MAX 32

/* a block device name on the PCI device bdf; a /dev node's kernel name;
 * the network interfaces of a PCI device (its net/ and USB or virtio children) */
bool hostuse_block_name_on_device(const char *name, const char *bdf);
bool hostuse_dev_kernel_name(const char *devpath, char *name, size_t size);
int hostuse_device_netdevs(const char *bdf, char ***ret, size_t *n_ret, bool *had_net_dir);
