# shellcheck shell=bash
# bench/lib.sh - shared by the bench scripts.
#   bench_stats FILE   FILE: lines "LABEL VALUE"; prints per label, in order of
#                      first appearance: "LABEL median p10 p90 n"
#   bench_ratio A B FILE  prints median(A)/median(B) from bench_stats output FILE
bench_stats() {
        sort -k1,1 -k2,2n "$1" | awk '
        { v[$1, ++n[$1]] = $2; if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } }
        END {
                for (i = 1; i <= k; i++) {
                        l = order[i]; m = n[l]
                        printf "%s %.1f %.1f %.1f %d\n", l, v[l, int((m + 1) / 2)], v[l, int(m / 10) + 1], v[l, m - int(m / 10)], m
                }
        }'
}
bench_ratio() {
        awk -v a="$1" -v b="$2" '$1 == a { x = $2 } $1 == b { y = $2 } END { if (y > 0) printf "%.3f\n", x / y; else print "nan" }' "$3"
}
bench_machine() {
        echo "# machine: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%Y-%m-%d %H:%M UTC')"
}
