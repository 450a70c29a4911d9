/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What hugepages.c takes from hugepages_host.c and nothing else sees. */
#pragma once

#include "hugepages.h"

#include <stddef.h>
#include <stdint.h>

/* Memory node can still turn into hugepages (free plus page cache; with one
 * memory node, the machine's MemAvailable too), in KiB. */
uint64_t hugepages_node_room_kib(unsigned node, size_t memory_nodes);
/* "order 9: 12 blocks, ..." of node, for a refusal; "" when unknown. */
void hugepages_describe_fragmentation(unsigned node, uint64_t size_kib, char *buf, size_t size);
/* "1234 MiB" free on node, or "an unknown amount of". */
void hugepages_node_free_memory(unsigned node, char *buf, size_t size);
/* The machine's MemTotal in KiB, 0 when unknown. */
uint64_t hugepages_machine_total_kib(void);
