#!/usr/bin/env bash
# PNG plots (gnuplot) from the outputs of bench/run.sh.
#   bench/plot.sh OUTDIR PLOTDIR
set -euo pipefail
IN=$1 OUT=$2
mkdir -p "$OUT"
D=$(mktemp -d); trap 'rm -rf "$D"' EXIT
PNG='set terminal pngcairo size 1100,650 font ",11"'
command -v gnuplot >/dev/null && gnuplot -e 'set terminal' 2>&1 | grep -q pngcairo || PNG='set terminal png size 1100,650'

# 1. hook cost: per phase, median with p10..p90, each label
if [ -s "$IN/hook-cost.txt" ]; then
        labels="floor vmprep-untagged bash-dispatcher full-handler-untagged floor-x4 vmprep-set"
        awk -v labels="$labels" 'NF == 5 && $3 ~ /^[0-9]+$/ { m[$1, $2] = $3 " " $4 " " $5 }
        END { n = split(labels, L, " "); split("prepare start started stopped release", P, " ")
              for (p = 1; p <= 5; p++) { printf "%s", P[p]; for (i = 1; i <= n; i++) printf " %s", ((L[i], P[p]) in m) ? m[L[i], P[p]] : "NaN NaN NaN"; print "" } }' \
                "$IN/hook-cost.txt" > "$D/hook.dat"
        gnuplot <<EOG
$PNG
set output "$OUT/hook-cost.png"
set title "Hook cost for an untagged VM, per libvirt phase (median, bars p10..p90; $(grep -m1 '^# machine' "$IN/hook-cost.txt" | cut -c 12-60))"
set ylabel "exec to exit, microseconds"
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.8 border -1
set key outside bottom center horizontal maxrows 2
set grid ytics
set yrange [0:*]
plot "$D/hook.dat" using 2:3:4:xtic(1) title "exec floor (static C)", \
     "" using 5:6:7 title "vmprep hook (fast path)", \
     "" using 8:9:10 title "community bash dispatcher", \
     "" using 11:12:13 title "full handler, no fast path", \
     "" using 14:15:16 title "floor x4", \
     "" using 17:18:19 title "vmprep set (4 hooks)"
EOG
fi

# 2. VM start and destroy
if [ -s "$IN/vm-cost.txt" ]; then
        for x in start destroy total; do
                awk -v x="$x" 'NF == 5 { m[$1] = $2 " " $3 " " $4 }
                END { printf "%s", x; split("nohooks floor vmprep dynamic prealloc kernel", L, " ")
                      for (i = 1; i <= 6; i++) printf " %s", ((L[i] "-" x) in m) ? m[L[i] "-" x] : "NaN NaN NaN"; print "" }' "$IN/vm-cost.txt"
        done > "$D/vm.dat"
        gnuplot <<EOG
$PNG
set output "$OUT/vm-cost.png"
set multiplot layout 1,2 title "virsh start / destroy with a real libvirtd + KVM (median, bars p10..p90)"
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.8 border -1
set grid ytics
set yrange [0:*]
set ylabel "milliseconds"
set key top left box opaque
set title "untagged 256 MiB VM"
plot "$D/vm.dat" using 2:3:4:xtic(1) title "no hooks", "" using 5:6:7 title "4 x exec floor as hooks", "" using 8:9:10 title "vmprep (4 hooks)"
set title "1 GiB hugepages VM"
plot "$D/vm.dat" using 11:12:13:xtic(1) title "tagged: vmprep allocates", "" using 17:18:19 title "untagged, the same pages written in/out around it", "" using 14:15:16 title "untagged, pool pre-allocated"
unset multiplot
EOG
fi

# 3. hugepages under pressure
if [ -s "$IN/hugepages-pressure.txt" ]; then
        for c in cache frag; do
                awk -v c="$c" 'NF == 5 { m[$1] = $2 " " $3 " " $4 }
                END { printf "%s", (c == "cache" ? "page-cache" : "fragmented")
                      split("pages ms dropped_mib", K, " ")
                      for (k = 1; k <= 3; k++) for (w = 1; w <= 2; w++) { who = (w == 1 ? "vmprep" : "community"); key = c "-" who "-" K[k]; printf " %s", (key in m) ? m[key] : "NaN NaN NaN" }
                      printf " %s\n", (req ? req : "NaN") }
                $1 == "run" && $2 == c { for (i = 3; i <= NF; i++) if ($i == "of") { req = $(i + 1); sub(",", "", req) } }' "$IN/hugepages-pressure.txt"
        done > "$D/hp.dat"
        gnuplot <<EOG
$PNG
set output "$OUT/hugepages-pressure.png"
set multiplot layout 1,3 title "2 MiB hugepages on node 0 under a large page cache and under unmovable fragmentation (median, bars p10..p90)"
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.8 border -1
set grid ytics
set key top left box opaque
set yrange [0:*]
set title "pages obtained (line: requested)"
plot "$D/hp.dat" using 2:3:4:xtic(1) title "vmprep", "" using 5:6:7 title "community script", "" using 0:20 with points pt 6 ps 3 lw 2 title "requested"
set title "time, ms"
plot "$D/hp.dat" using 8:9:10:xtic(1) title "vmprep", "" using 11:12:13 title "community script"
set title "page cache thrown away, MiB"
set yrange [*:*]
plot "$D/hp.dat" using 14:15:16:xtic(1) title "vmprep", "" using 17:18:19 title "community script"
unset multiplot
EOG
fi

# 4. isolation against host threads
if [ -s "$IN/cpus-isolate.txt" ]; then
        awk 'NF == 6 && $1 ~ /^[0-9]+$/' "$IN/cpus-isolate.txt" > "$D/cpus.dat"
        gnuplot <<EOG
$PNG
set output "$OUT/cpus-isolate.png"
set title "CPU isolation against host threads, cgroup v1 cpuset (medians)"
set xlabel "host threads"
set ylabel "milliseconds"
set logscale xy
set xrange [70:14000]
set grid
set key top left box opaque
set xtics ("100" 100, "1,000" 1000, "10,000" 10000)
plot "$D/cpus.dat" using 1:3 with linespoints lw 2 title "vmprep cpus prepare (exec to exit)", \
     "" using 1:4 with linespoints lw 2 title "vmprep: confining the tasks (host-apply step)", \
     "" using 1:5 with linespoints lw 2 title "baseline: every thread moved one by one", \
     "" using 1:6 with linespoints lw 2 title "vmprep cpus release"
EOG
fi
ls -l "$OUT"/*.png
