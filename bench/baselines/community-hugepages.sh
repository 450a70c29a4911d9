#!/bin/bash
# The hugepage step of the common community hook scripts (the "alloc_hugepages"
# start script of per-VM hook folders), rewritten here from its public
# description for benchmarking only: flush, drop every clean cache, compact all
# memory, then ask for the pages and check what came.
#   community-hugepages.sh TOTAL_PAGES     (2 MiB pages, the whole pool)
# Prints "allocated GOT of WANT"; on a shortfall gives the pages back to the
# previous size and exits 1, as those scripts do.
POOL=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
WANT=$1
PREV=$(cat "$POOL")
sync
echo 3 > /proc/sys/vm/drop_caches
echo 1 > /proc/sys/vm/compact_memory
echo "$WANT" > "$POOL"
GOT=$(cat "$POOL")
echo "allocated $GOT of $WANT"
if [ "$GOT" -lt "$WANT" ]; then
        echo "Not able to allocate all hugepages. Reverting..." >&2
        echo "$PREV" > "$POOL"
        exit 1
fi
