# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables are for the suites that source this file
# Fake hugepage hosts for the hugepages hook suite (tests/hooks/hugepages.sh,
# faults.sh, planjournal.sh): a two-node host with 2 MiB and 1 GiB pools,
# domains, the pools' files.  Needs tests/hooks/lib.sh.

UUID_A=0a6e2f58-8c5c-4c1e-9a57-3f1c2b4d5e01
UUID_B=0a6e2f58-8c5c-4c1e-9a57-3f1c2b4d5e02
P0=sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages
P1=sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages

# A fresh fake host: two nodes, 2 MiB and 1 GiB pools.
hp_tree() {
        new_root hugepages
        mkdir -p "$ROOT/proc/sys/vm" "$ROOT/etc"
        mkdir -p "$ROOT/sys/devices/system/node"
        echo 0-1 > "$ROOT/sys/devices/system/node/has_memory"
        printf 'MemTotal:       16777216 kB\nHugepagesize:       2048 kB\n' > "$ROOT/proc/meminfo"
        printf 'Node 0, zone   Normal    100     50     20     10      5      3      2      1      1      0      0\n' > "$ROOT/proc/buddyinfo"
        : > "$ROOT/proc/sys/vm/compact_memory"
        local n s
        for n in 0 1; do
                for s in 2048 1048576; do
                        mkdir -p "$ROOT/sys/devices/system/node/node$n/hugepages/hugepages-${s}kB"
                        echo 0 > "$ROOT/sys/devices/system/node/node$n/hugepages/hugepages-${s}kB/nr_hugepages"
                        echo 0 > "$ROOT/sys/devices/system/node/node$n/hugepages/hugepages-${s}kB/free_hugepages"
                        mkdir -p "$ROOT/sys/kernel/mm/hugepages/hugepages-${s}kB"
                        echo 0 > "$ROOT/sys/kernel/mm/hugepages/hugepages-${s}kB/nr_hugepages"
                done
                : > "$ROOT/sys/devices/system/node/node$n/compact"
                printf 'Node %s MemTotal: 8388608 kB\nNode %s MemFree: 4194304 kB\n' "$n" "$n" > "$ROOT/sys/devices/system/node/node$n/meminfo"
        done
}

# domain NAME UUID MEM_MIB METADATA [EXTRA]
domain() {
        printf "<domain type='kvm'><name>%s</name><uuid>%s</uuid><memory unit='MiB'>%s</memory>" "$1" "$2" "$3"
        printf "<memoryBacking><hugepages/></memoryBacking>%s" "${5:-}"
        [ -n "$4" ] && printf "<metadata>%s</metadata>" "$4"
        printf "<devices><serial type='pty'/></devices></domain>\n"
}
TAG="<vmprep:profile xmlns:vmprep='urn:vmprep:1'><vmprep:hugepages/></vmprep:profile>"


# set_pool PATH N: an administrator's pool of N free pages (the global
# count kept as the sum over nodes, as the kernel shows it)
set_pool() {
        echo "$2" > "$ROOT/$1"; echo "$2" > "$ROOT/${1%nr_hugepages}free_hugepages"
        local size=${1#*hugepages/hugepages-}; size=${size%%/*}
        cat "$ROOT"/sys/devices/system/node/node*/hugepages/"hugepages-$size"/nr_hugepages \
                | awk '{ s += $1 } END { print s }' > "$ROOT/sys/kernel/mm/hugepages/hugepages-$size/nr_hugepages"
}
pool() { cat "$ROOT/$1"; }

