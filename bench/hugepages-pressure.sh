#!/usr/bin/env bash
# Hugepage allocation under memory pressure: vmprep's node-targeted
# compact-and-retry (the installed 20-vmprep-hugepages hook's prepare on a
# tagged domain that needs REQ_MIB of 2 MiB pages on node 0, then its release)
# vs the community script (bench/baselines/community-hugepages.sh: sync,
# drop_caches=3, compact_memory, write nr_hugepages), in two cases:
#   a. a large page cache: files under /var/tmp (a real filesystem), written and
#      fsync'd until MemFree is about 1 GiB (at most CACHE_GIB), then read again
#      before each run so that every run starts with the cache full;
#   b. unmovable fragmentation: bench/fragment.c faults in all but ~1 GiB of
#      free memory (at most FRAG_GIB), mlocks every page whose frame number is
#      a multiple of 64 (so every 2 MiB block it held keeps 8) and frees the rest,
#      with vm.compact_unevictable_allowed=0.  What is left unfragmented (free
#      2 MiB+ blocks, all zones, /proc/buddyinfo) is counted and the request
#      is that plus 512 pages (at most REQ_MIB pages), so that no run can be
#      served from free blocks alone (the ~1 GiB margin keeps the machine safe
#      for other users).
# Per run: pages obtained, wall time, page cache thrown away (Cached before -
# after, MiB), and vmprep's own message when it cannot get them.  Last, still
# fragmented, vmprep asked for 4 x 1 GiB pages (at most 4 GiB, rolled back on
# a shortfall): what it tells the user when it cannot get them.  ROUNDS runs
# each, alternating which goes first; medians and spread over the runs.
# Needs root and the 2 MiB pool; takes /run/vmprep-libvirt.lock; installs
# vmprep (make install) and puts back the pool, compact_unevictable_allowed,
# the files and the install state as found.
#   bench/hugepages-pressure.sh [ROUNDS] [REQ_MIB] [CACHE_GIB] [FRAG_GIB]   (3 2048 20 20)
set -uo pipefail
here=$(cd -- "$(dirname -- "$0")" && pwd)
repo=$(cd -- "$here/.." && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
ROUNDS=${1:-3} REQ_MIB=${2:-2048} CACHE_GIB=${3:-20} FRAG_GIB=${4:-20}
N=$((REQ_MIB / 2))
POOL=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
POOL1G=/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages
CUA=/proc/sys/vm/compact_unevictable_allowed
HOOKDIR=/etc/libvirt/hooks/qemu.d
HOOK=$HOOKDIR/20-vmprep-hugepages
UUID=9a6f3c1e-2b4d-4e8f-a1b2-c3d4e5f60718
[ "$(id -u)" = 0 ] && [ -w "$POOL" ] && [ -w "$CUA" ] || { echo "hugepages-pressure: needs root, $POOL and $CUA"; exit 1; }
exec 9>/run/vmprep-libvirt.lock
flock 9
W=$(mktemp -d /tmp/vmprep-bench-hp-XXXXXX)
CACHE=$(mktemp -d /var/tmp/vmprep-bench-cache-XXXXXX)
orig_pool=$(cat "$POOL") orig_cua=$(cat "$CUA") orig_1g=$(cat "$POOL1G" 2>/dev/null)
had_hooks_dir=no; [ -d /etc/libvirt/hooks ] && had_hooks_dir=yes
had_qemu_d=no; [ -d "$HOOKDIR" ] && had_qemu_d=yes
was_installed=no; [ -x "$HOOK" ] && [ -x /usr/local/libexec/vmprep/vmprep-hook ] && was_installed=yes
FRAG_PID=
cleanup() {
        [ -n "$FRAG_PID" ] && kill "$FRAG_PID" 2>/dev/null && wait "$FRAG_PID" 2>/dev/null
        [ -x "$HOOK" ] && "$HOOK" vmprep-bench-hp release end - < "$W/vm.xml" 2>/dev/null
        echo "$orig_cua" > "$CUA"
        [ -x "$HOOK" ] && [ -f "$W/vm1g.xml" ] && "$HOOK" vmprep-bench-hp1g release end - < "$W/vm1g.xml" 2>/dev/null
        echo "$orig_pool" > "$POOL"
        [ -n "$orig_1g" ] && echo "$orig_1g" > "$POOL1G"
        rm -rf "$CACHE" "$W"
        if [ $was_installed = no ]; then
                make -s -C "$repo" uninstall >/dev/null 2>&1
                rm -f /etc/libvirt/hooks/daemon.d/vmprep-reconcile
                rmdir /etc/libvirt/hooks/daemon.d 2>/dev/null
                [ $had_qemu_d = no ] && rmdir "$HOOKDIR" 2>/dev/null
                [ $had_hooks_dir = no ] && rmdir /etc/libvirt/hooks 2>/dev/null
        fi
        [ "$(cat "$POOL")" = "$orig_pool" ] && [ "$(cat "$CUA")" = "$orig_cua" ] ||
                echo "hugepages-pressure: pool $(cat "$POOL") (was $orig_pool), $CUA $(cat "$CUA") (was $orig_cua)" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM
make -s -C "$repo" all install > "$W/make.log" 2>&1 || { echo "hugepages-pressure: make install failed"; tail "$W/make.log"; exit 1; }
cc -O2 -o "$W/fragment" "$here/fragment.c" || exit 1
mkxml() { # MIB: the tagged domain that needs MIB of 2 MiB pages on node 0
        cat > "$W/vm.xml" <<EOX
<domain type='kvm'><name>vmprep-bench-hp</name><uuid>$UUID</uuid><memory unit='MiB'>$1</memory>
<memoryBacking><hugepages/></memoryBacking><vcpu>1</vcpu><numatune><memory mode='strict' nodeset='0'/></numatune>
<metadata><vmprep:profile xmlns:vmprep="urn:vmprep:1"><vmprep:hugepages/></vmprep:profile></metadata>
<devices><serial type='pty'/></devices></domain>
EOX
        N=$(($1 / 2))
}
mkxml "$REQ_MIB"
# free blocks of 2 MiB or more, in 2 MiB units, every zone of node 0
free_2m() { awk '$1 == "Node" && $2 == "0," { for (i = 14; i <= NF; i++) s += $i * 2 ^ (i - 14) } END { print s + 0 }' /proc/buddyinfo; }
mi() { awk -v k="$1:" '$1 == k { printf "%d", $2 / 1024 }' /proc/meminfo; }
RAW=$W/raw; : > "$RAW"
fail=0
# run CASE WHO: one allocation, measured; the pool back to orig afterwards
run() {
        local case=$1 who=$2 c0 c1 t0 t1 got rc msg=""
        sync; c0=$(mi Cached); t0=${EPOCHREALTIME/[.,]/}
        if [ "$who" = vmprep ]; then
                "$HOOK" vmprep-bench-hp prepare begin - < "$W/vm.xml" > /dev/null 2> "$W/err"; rc=$?
                t1=${EPOCHREALTIME/[.,]/}; c1=$(mi Cached)
                if [ $rc = 0 ]; then got=$(( $(cat "$POOL") - orig_pool ))
                else
                        got=$(grep -o 'got [0-9]*' "$W/err" | head -1 | cut -d' ' -f2); got=${got:-0}
                        msg=$(grep -m1 'cannot' "$W/err" || head -1 "$W/err"); msg="exit $rc: ${msg:-(nothing on stderr)}"
                        [ $rc = 127 ] || [ $rc = 126 ] && { echo "hugepages-pressure: $HOOK did not run (exit $rc)" >&2; fail=1; }
                fi
                "$HOOK" vmprep-bench-hp release end - < "$W/vm.xml" > /dev/null 2>> "$W/err"
                [ "$(cat "$POOL")" = "$orig_pool" ] || { echo "hugepages-pressure: vmprep release left the pool at $(cat "$POOL")" >&2; fail=1; }
        else
                "$here/baselines/community-hugepages.sh" $((orig_pool + N)) > "$W/out" 2> "$W/err"; rc=$?
                t1=${EPOCHREALTIME/[.,]/}; c1=$(mi Cached)
                got=$(( $(awk '{ print $2 }' "$W/out") - orig_pool ))
                [ $rc = 0 ] || msg=$(cat "$W/err")
                echo "$orig_pool" > "$POOL"
        fi
        local ms=$(( (t1 - t0) / 1000 )) dropped=$((c0 - c1))
        echo "$case-$who-pages $got" >> "$RAW"; echo "$case-$who-ms $ms" >> "$RAW"; echo "$case-$who-dropped_mib $dropped" >> "$RAW"
        echo "run $case $who: pages $got of $N, ${ms} ms, cache $c0 -> $c1 MiB (dropped $dropped)${msg:+; says: $msg}"
}
fill_cache() { # read every cache file so that it is all in the page cache again
        cat "$CACHE"/* > /dev/null
}

bench_machine
echo "# request: $N x 2 MiB pages ($REQ_MIB MiB) on node 0; pool before: $orig_pool; rounds: $ROUNDS"
# a. page cache
free_mib=$(mi MemFree)
cache_mib=$(( free_mib - 1024 )); [ $cache_mib -gt $((CACHE_GIB * 1024)) ] && cache_mib=$((CACHE_GIB * 1024))
[ $cache_mib -lt 256 ] && cache_mib=256
echo "# a. page cache: writing $cache_mib MiB to $CACHE (MemFree $free_mib MiB), fsync"
for ((i = 0; i < cache_mib / 1024 + 1; i++)); do
        sz=$(( cache_mib - i * 1024 )); [ $sz -gt 1024 ] && sz=1024; [ $sz -le 0 ] && break
        dd if=/dev/urandom of="$CACHE/f$i" bs=1M count=$sz conv=fsync status=none || { echo "hugepages-pressure: write failed"; exit 1; }
done
echo "# a. Cached $(mi Cached) MiB, MemFree $(mi MemFree) MiB"
for ((r = 0; r < ROUNDS; r++)); do
        for who in $([ $((r % 2)) = 0 ] && echo "vmprep community" || echo "community vmprep"); do
                fill_cache; run cache $who
        done
done
rm -rf "${CACHE:?}"/*

# b. unmovable fragmentation
echo 0 > "$CUA"
free_mib=$(mi MemFree)
frag_mib=$(( free_mib - 1024 )); [ $frag_mib -gt $((FRAG_GIB * 1024)) ] && frag_mib=$((FRAG_GIB * 1024))
[ $frag_mib -lt 256 ] && frag_mib=256
echo "# b. fragmentation: $frag_mib MiB faulted in, every 64th page frame mlocked, the rest freed (MemFree was $free_mib MiB); compact_unevictable_allowed=0"
"$W/fragment" "$frag_mib" > "$W/frag.out" & FRAG_PID=$!
for _ in $(seq 600); do grep -q ready "$W/frag.out" 2>/dev/null && break; kill -0 $FRAG_PID 2>/dev/null || break; sleep 0.1; done
grep -q ready "$W/frag.out" || { echo "hugepages-pressure: fragment helper did not get ready"; exit 1; }
left=$(free_2m)
want=$((left + 512)); [ $want -gt "$REQ_MIB" ] && want=$REQ_MIB    # at most REQ_MIB pages (2 x REQ_MIB MiB)
mkxml $((want * 2))
echo "# b. locked $(awk '{ print $2 " KiB, " $3 }' "$W/frag.out"); MemFree $(mi MemFree) MiB, Cached $(mi Cached) MiB; free 2 MiB blocks left: $left; request: $N x 2 MiB pages"
for ((r = 0; r < ROUNDS; r++)); do
        for who in $([ $((r % 2)) = 0 ] && echo "vmprep community" || echo "community vmprep"); do
                run frag $who
                echo "#   free 2 MiB blocks now: $(free_2m)"
        done
done
if [ -n "$orig_1g" ]; then
        cat > "$W/vm1g.xml" <<EOX
<domain type='kvm'><name>vmprep-bench-hp1g</name><uuid>9a6f3c1e-2b4d-4e8f-a1b2-c3d4e5f60719</uuid><memory unit='GiB'>4</memory>
<memoryBacking><hugepages><page size='1' unit='GiB'/></hugepages></memoryBacking><vcpu>1</vcpu><numatune><memory mode='strict' nodeset='0'/></numatune>
<metadata><vmprep:profile xmlns:vmprep="urn:vmprep:1"><vmprep:hugepages/></vmprep:profile></metadata>
<devices><serial type='pty'/></devices></domain>
EOX
        t0=${EPOCHREALTIME/[.,]/}
        "$HOOK" vmprep-bench-hp1g prepare begin - < "$W/vm1g.xml" > /dev/null 2> "$W/err1g"; rc=$?
        t1=${EPOCHREALTIME/[.,]/}
        echo "# b. vmprep, 4 x 1 GiB pages, fragmented: exit $rc in $(( (t1 - t0) / 1000 )) ms; 1 GiB pool now $(cat "$POOL1G") (was $orig_1g)"
        grep -m1 'cannot' "$W/err1g" | sed 's/^/#   vmprep says: /'
        "$HOOK" vmprep-bench-hp1g release end - < "$W/vm1g.xml" > /dev/null 2>&1
        [ "$(cat "$POOL1G")" = "$orig_1g" ] || { echo "hugepages-pressure: 1 GiB pool $(cat "$POOL1G") after release, was $orig_1g" >&2; fail=1; }
fi
kill "$FRAG_PID"; wait "$FRAG_PID" 2>/dev/null; FRAG_PID=
echo "$orig_cua" > "$CUA"

echo "# label median p10 p90 n"
bench_stats "$RAW" | tee "$W/stats"
for c in cache frag; do
        echo "ratio vmprep/community $c-ms $(bench_ratio $c-vmprep-ms $c-community-ms "$W/stats")"
        vp=$(awk -v l=$c-vmprep-pages '$1 == l { print $2 }' "$W/stats"); cp=$(awk -v l=$c-community-pages '$1 == l { print $2 }' "$W/stats")
        vd=$(awk -v l=$c-vmprep-dropped_mib '$1 == l { print $2 }' "$W/stats"); cd_=$(awk -v l=$c-community-dropped_mib '$1 == l { print $2 }' "$W/stats")
        echo "goal $c-at-least-as-many-pages-dropping-less-cache: vmprep $vp pages dropping $vd MiB, community $cp pages dropping $cd_ MiB: $(awk -v a="$vp" -v b="$cp" -v x="$vd" -v y="$cd_" 'BEGIN { print (a >= b && x < y ? "met" : "missed") }')"
done
exit $fail
