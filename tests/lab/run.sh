#!/usr/bin/env bash
# tests/lab/run.sh - vmprep's lab: build the guest image (build-image.sh), boot
# it under QEMU once per kernel (Debian 12's 6.1 and bookworm-backports' 6.12)
# and read the scenarios' TAP (scenarios.sh) from its second serial port.
# As root, from anywhere:
#
#     tests/lab/run.sh            (also: make lab-check)
#
# The machine (../../../shared/LAB.md): q35 with kernel-irqchip=split and an
# intel-iommu (intremap, caching-mode), two NUMA nodes of 4G (cpus 0-1) and 3G
# (cpus 2-3), a VGA + HDA pair at 00:05.0/00:05.1 (one IOMMU group: a GPU and
# its audio function), an SR-IOV NVMe (4 VFs) behind a root port at 00:02.0
# (so the PF is 01:00.0; namespace 1 reads zeros, namespace 2 is a sparse
# 512 MiB file made for each boot, for filesystems and swap), an e1000e behind
# a pxb-pcie on node 1 (81:00.0), a qemu-xhci at 00:07.0 (an IOMMU group of
# its own) with a USB keyboard on it, no network.  One 1 GiB page per node
# reserved at boot, 2 MiB pages by default.  TCG (-smp 4) unless /proc/cpuinfo
# shows vmx or svm.  The disk is opened with snapshot=on: every boot starts
# from the same image.
#
# Then each kernel named in LAB_QEMU10 (default 6.12) boots once more, briefly,
# under QEMU 10 from bookworm-backports (tests/lab/qemu10.sh, unpacked beside
# the system QEMU 7.2) with an igb SR-IOV NIC at 02:00.0 (root port 00:06.0)
# and only the disk besides, for the igb scenarios: VF settings over rtnetlink
# for real.
#
# Environment: LAB_KERNELS="6.1 6.12" (which to boot), LAB_TIMEOUT=1500 (seconds
# per boot), LAB_BOOT_LIMIT=240 (seconds to the test service; a guest stuck
# booting is run once more), LAB_ONLY=regex (scenario ids), LAB_BENCH_ROUNDS=1
# (rounds of the isolation benchmark in the guest), LAB_KEEP=1 (keep the logs in
# build/lab/logs), LAB_SKIP_BUILD=1 (boot the image already built), and
# build-image.sh's LAB_CACHE, LAB_NO_CACHE, LAB_MIRROR, LAB_MOCK_HOOKS (shell
# stand-ins for the hooks not merged yet, to check their scenarios: the verdict
# is then on the scenarios, not on vmprep).
#
# Output: each guest's TAP, prefixed by the kernel ("[6.1] ok 3 - ..."), the
# stage timings, and as the very last line
#     lab: N passed, N failed, N skipped
# Exit status 0 when every boot produced a complete TAP stream (plan line
# present) with no "not ok", within its timeout.
set -u -o pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd -- "$HERE/../.." && pwd)
OUT=${LAB_OUT:-$REPO/build/lab}
KERNELS=${LAB_KERNELS:-6.1 6.12}
LIMIT=${LAB_TIMEOUT:-1500}
LOGS=$OUT/logs

passed=0 failed=0 skipped=0
timings=()
todos=()  # known vmprep bugs (TAP TODO), listed at the end
now() { local t=${EPOCHREALTIME/./}; echo "${t:0:-3}"; } # ms
secs() { printf '%d.%d' $(($1 / 1000)) $(($1 % 1000 / 100)); }
timing() { timings+=("$1=$(secs "$2")s"); }

finish() {
        local t
        for t in "${todos[@]}"; do printf '# known vmprep bug (TODO): %s\n' "$t"; done
        printf '# stage timings: %s\n' "${timings[*]:-none}"
        printf 'lab: %d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped"
        ((failed == 0))
        exit $?
}
setup_fail() {
        printf 'not ok - lab set-up: %s\n' "$1"
        failed=$((failed + 1))
        finish
}

if ((EUID != 0)); then
        printf 'ok - lab # SKIP needs root\n'
        skipped=$((skipped + 1))
        finish
fi
# one lab guest at a time on this machine (it is shared)
exec 8>/run/vmprep-lab.lock
if ! flock -n 8; then
        printf '# waiting for another lab run to finish (/run/vmprep-lab.lock)\n'
        flock -w 1800 8 || setup_fail "/run/vmprep-lab.lock still held after 30 minutes"
fi
for cmd in qemu-system-x86_64 timeout; do
        command -v "$cmd" >/dev/null || setup_fail "'$cmd' not found (tests/lab/deps.sh installs what the lab needs)"
done

# ---- the image ------------------------------------------------------------------------
t0=$(now)
if [[ ${LAB_SKIP_BUILD:-0} == 1 && -s $OUT/lab.ext4 && -s $OUT/kernels/list ]]; then
        printf '# using the image already built: %s\n' "$OUT/lab.ext4"
else
        "$HERE/deps.sh" >&2 || setup_fail "tests/lab/deps.sh"
        # the log sits beside $OUT: its parent must exist (a fresh checkout has no build/)
        mkdir -p -- "$(dirname -- "$OUT")"
        LAB_OUT=$OUT "$HERE/build-image.sh" >"$OUT.build.log" 2>&1
        st=$?
        grep '^# stage ' "$OUT.build.log" | while read -r _ _ name s; do printf '# image: %s %s s\n' "$name" "$s"; done
        if ((st != 0)); then
                tail -n 30 "$OUT.build.log" | sed 's/^/#   /'
                setup_fail "build-image.sh failed (exit $st; log: $OUT.build.log)"
        fi
        while read -r _ _ name s; do timings+=("$name=${s}s"); done < <(grep '^# stage ' "$OUT.build.log")
fi
timing image-total "$(($(now) - t0))"

# ---- QEMU 10 for the igb ----------------------------------------------------------------
QEMU10_KERNELS=${LAB_QEMU10-6.12}
QEMU10=""
if [[ -n $QEMU10_KERNELS ]]; then
        t0=$(now)
        if QEMU10=$("$HERE/qemu10.sh" 2>"$OUT.qemu10.err"); then
                printf '# QEMU 10 for %s: %s\n' "$QEMU10_KERNELS" "$("$QEMU10/usr/bin/qemu-system-x86_64" --version | head -n 1)"
        else
                QEMU10=""
                printf 'not ok - QEMU 10 for the igb (%s): %s\n' "$QEMU10_KERNELS" "$(tr '\n' ' ' <"$OUT.qemu10.err")"
                failed=$((failed + 1))
        fi
        timing qemu10 "$(($(now) - t0))"
fi

# ---- the machine ------------------------------------------------------------------------
if grep -qwE 'vmx|svm' /proc/cpuinfo && [[ -w /dev/kvm ]]; then
        ACCEL=(-accel kvm -cpu host)
else
        # LAB.md: this machine's KVM (no vmx/svm) cannot boot a stock kernel
        # shellcheck disable=SC2054 # commas are QEMU's
        ACCEL=(-accel tcg,thread=multi,tb-size=512 -cpu max)
fi
# nokaslr: a kernel placed at random in node 0's upper 2G leaves no 1G-aligned
# room there for the boot-time 1 GiB page, which then lands on node 1 instead.
# systemd.unit=multi-user.target: the image's default, graphical.target,
# pulls display-manager.service (the lab's stand-in) at boot, which then
# races the GPU scenarios for card0 (on Debian 13 it won: the card came back
# as card1); the scenarios start it themselves when they want it.
APPEND="root=/dev/vda rw console=ttyS0,115200 panic=-1 loglevel=4 nokaslr intel_iommu=on iommu=pt \
hugepagesz=1G hugepages=0:1,1:1 default_hugepagesz=2M systemd.show_status=0 net.ifnames=0 \
systemd.unit=multi-user.target"
[[ -n ${LAB_BENCH_ROUNDS:-} ]] && APPEND+=" vmprep_lab.bench_rounds=$LAB_BENCH_ROUNDS"

# boot LABEL VMLINUZ INITRD [qemu10]: one guest run; its TAP in $LOGS/LABEL.tap.
# With qemu10: QEMU 10 and a small machine (the disk and the igb, no NVMe,
# GPU or e1000e), running the igb scenarios only: QEMU 10's own flakes under
# TCG (seen: an MSI-X table assertion with the SR-IOV NVMe, a vCPU whose
# timer stopped) then cost one short boot, not the kernel's whole run.
boot() {
        local ver=$1 kernel=$OUT/kernels/$2 initrd=$OUT/kernels/$3
        local tap=$LOGS/$ver.tap console=$LOGS/$ver.console qpid t0 t_service="" t_end="" st
        local qemu=(qemu-system-x86_64) devs append=$APPEND ns2=$OUT/$ver.nvme-ns2.raw
        # shellcheck disable=SC2054 # commas are QEMU's
        if [[ ${4:-} == qemu10 ]]; then
                qemu=(env "QEMU_MODULE_DIR=$QEMU10/usr/lib/x86_64-linux-gnu/qemu" "$QEMU10/usr/bin/qemu-system-x86_64"
                        -L "$QEMU10/usr/share/seabios" -L "$QEMU10/usr/share/qemu")
                # the empty root port at 00:02.0 keeps the igb on bus 02, as the domains say
                devs=(-device pcie-root-port,id=rp1,bus=pcie.0,addr=0x2,chassis=1
                        -device pcie-root-port,id=rp3,bus=pcie.0,addr=0x6,chassis=3 -device igb,bus=rp3)
                append+=" vmprep_lab.only=igb vmprep_lab.igb=1"
        else
                devs=(-device VGA,addr=0x5.0,multifunction=on -device ich9-intel-hda,id=hda,addr=0x5.1
                        -audiodev none,id=snd0 -device hda-duplex,bus=hda.0,audiodev=snd0
                        -device pcie-root-port,id=rp1,bus=pcie.0,addr=0x2,chassis=1
                        -device nvme-subsys,id=s0,nqn=vmprep-lab
                        -device nvme,id=nvme0,bus=rp1,serial=vmpreplab0,subsys=s0,sriov_max_vfs=4,sriov_vq_flexible=8,sriov_vi_flexible=4,max_ioqpairs=10,msix_qsize=5
                        -blockdev driver=null-co,node-name=null0,size=1073741824
                        -device nvme-ns,drive=null0,bus=nvme0,nsid=1
                        -blockdev "driver=raw,node-name=ns2,file.driver=file,file.filename=$ns2"
                        -device nvme-ns,drive=ns2,bus=nvme0,nsid=2
                        -device pxb-pcie,id=pxb1,bus=pcie.0,bus_nr=0x80,numa_node=1
                        -device pcie-root-port,id=rp2,bus=pxb1,chassis=2
                        -device e1000e,bus=rp2
                        -device qemu-xhci,id=xhci,bus=pcie.0,addr=0x7 -device usb-kbd,bus=xhci.0)
                [[ -n ${LAB_ONLY:-} ]] && append+=" vmprep_lab.only=$LAB_ONLY"
        fi
        rm -f -- "$tap" "$console"
        : >"$tap"
        # the NVMe's second namespace holds what the guest writes (btrfs, swap):
        # a sparse file, new for each boot
        rm -f -- "$ns2"
        [[ ${4:-} == qemu10 ]] || truncate -s 512M -- "$ns2"
        t0=$(now)
        timeout --kill-after=10 "$LIMIT" "${qemu[@]}" \
                -name "vmprep-lab-$ver" -nodefaults -no-user-config -display none -no-reboot \
                "${ACCEL[@]}" -smp 4 -m 7G \
                -machine q35,kernel-irqchip=split \
                -device intel-iommu,intremap=on,caching-mode=on \
                -object memory-backend-ram,id=m0,size=4G -object memory-backend-ram,id=m1,size=3G \
                -numa node,nodeid=0,cpus=0-1,memdev=m0 -numa node,nodeid=1,cpus=2-3,memdev=m1 \
                -kernel "$kernel" -initrd "$initrd" -append "$append" \
                -drive "file=$OUT/lab.ext4,format=raw,if=none,id=disk0,snapshot=on" \
                -device virtio-blk-pci,drive=disk0,bus=pcie.0,addr=0x3 \
                "${devs[@]}" \
                -serial "file:$console" -serial "file:$tap" \
                >"$LOGS/$ver.qemu" 2>&1 &
        qpid=$!
        # watch the TAP file: first line = the service started; "# lab: end" = done.
        # The service starts 15-40 s after QEMU; a guest still booting after
        # LAB_BOOT_LIMIT s has hung under TCG (seen once in six 6.12 boots under
        # QEMU 10: a vCPU's timer stopped, RCU stalls from 27 s of uptime on)
        local stuck=""
        while kill -0 "$qpid" 2>/dev/null; do
                if [[ -z $t_service ]] && grep -q '^# lab: kernel' "$tap" 2>/dev/null; then
                        t_service=$(now)
                fi
                if [[ -z $t_service && -z $stuck ]] && (($(now) - t0 > ${LAB_BOOT_LIMIT:-240} * 1000)); then
                        stuck="the guest had not reached the test service after ${LAB_BOOT_LIMIT:-240} s"
                        pkill -TERM -P "$qpid" 2>/dev/null
                        kill -TERM "$qpid" 2>/dev/null
                fi
                if [[ -z $t_end ]] && grep -q '^# lab: end' "$tap" 2>/dev/null; then
                        t_end=$(now)
                fi
                sleep 0.2
        done
        wait "$qpid"
        st=$?
        rm -f -- "$ns2"
        local t_exit
        t_exit=$(now)
        tr -d '\r' <"$tap" >"$tap.clean" && mv -f -- "$tap.clean" "$tap"
        [[ -z $t_service ]] && grep -q '^# lab: kernel' "$tap" && t_service=$t_exit
        [[ -z $t_end ]] && grep -q '^# lab: end' "$tap" && t_end=$t_exit
        sed "s/^/[$ver] /" "$tap"
        if [[ -n $t_service ]]; then
                timing "boot-$ver" "$((t_service - t0))"
                [[ -n $t_end ]] && timing "scenarios-$ver" "$((t_end - t_service))"
                [[ -n $t_end ]] && timing "poweroff-$ver" "$((t_exit - t_end))"
        fi
        timing "guest-total-$ver" "$((t_exit - t0))"

        # A run that ended before its plan line for a reason that is not
        # vmprep's is run once more before it counts: the guest kernel crashing
        # (an "Oops: int3" under multi-threaded TCG, which emulates the kernel's
        # live code patching imperfectly), QEMU aborting, or a boot stuck
        # before the test service.  why: what happened; kept: the log kept.
        local why="" kept=""
        if [[ -z ${LAB_RETRY:-} ]] && ! grep -qE '^1\.\.[0-9]+$' "$tap"; then
                if grep -q 'Kernel panic' "$console"; then
                        why="the guest kernel crashed before the scenarios ended: $(grep -m1 -E 'Oops|BUG:|Kernel panic' "$console" | tr -d '\r' | cut -c1-120)"
                        kept=$console.crashed
                        cp -f -- "$console" "$kept"
                elif ((st == 134)); then
                        why="QEMU aborted before the scenarios ended: $(grep -m1 -i 'assert' "$LOGS/$ver.qemu" | cut -c1-160)"
                        kept=$LOGS/$ver.qemu.aborted
                        cp -f -- "$LOGS/$ver.qemu" "$kept"
                elif [[ -n $stuck ]]; then
                        why="$stuck ($(grep -m1 -E 'rcu: INFO|Oops|BUG:|hung_task' "$console" | tr -d '\r' | cut -c1-120))"
                        kept=$console.stuck
                        cp -f -- "$console" "$kept"
                fi
        fi
        if [[ -n $why ]]; then
                printf '# [%s] %s; running it again (log: %s)\n' "$ver" "$why" "$kept"
                return 3
        fi
        [[ -n $stuck ]] && st=124
        local p f s todo line problem=""
        # TAP: "# SKIP" is skipped; "not ok ... # TODO" is a known vmprep bug,
        # listed and counted as skipped; any other "not ok" fails the lab
        p=$(grep -cE '^ok [0-9]+ ' "$tap")
        s=$(grep -cE '^ok [0-9]+ .*# SKIP' "$tap")
        todo=$(grep -cE '^not ok [0-9]+ .*# TODO' "$tap")
        f=$(grep -cE '^not ok ' "$tap")
        p=$((p - s)) f=$((f - todo)) s=$((s + todo))
        passed=$((passed + p)) skipped=$((skipped + s)) failed=$((failed + f))
        while IFS= read -r line; do todos+=("[$ver] ${line#not ok }"); done < <(grep -E '^not ok [0-9]+ .*# TODO' "$tap")
        if ((st == 124 || st == 137)); then
                problem="timed out after $LIMIT s"
        elif ! grep -qE '^1\.\.[0-9]+$' "$tap"; then
                problem="no plan line (QEMU exit $st)"
        elif [[ $(grep -cE '^(not )?ok [0-9]+ ' "$tap") != "$(sed -n 's/^1\.\.//p' "$tap")" ]]; then
                problem="the plan does not match the results"
        elif ((st != 0)); then
                problem="QEMU exited $st"
        fi
        if [[ -n $problem ]]; then
                printf 'not ok - [%s] the guest run: %s\n' "$ver" "$problem"
                failed=$((failed + 1))
                printf '#   QEMU: %s\n' "$(tail -n 5 "$LOGS/$ver.qemu" | tr '\n' ' ')"
                tail -n 25 "$console" | tr -d '\r' | sed 's/^/#   console: /'
        fi
        printf '# [%s] %d passed, %d failed, %d skipped\n' "$ver" "$p" "$f" "$s"
}

# boot_kernel VERSION [qemu10]: boot the image's kernel of that version, once
# more if boot says the run was not vmprep's (3)
boot_kernel() {
        local line label=$1 vmlinuz initrd
        line=$(awk -v v="$1" '$1 == v' "$OUT/kernels/list" | tail -n 1)
        if [[ -z $line ]]; then
                printf 'not ok - [%s] no such kernel in the image (%s)\n' "$1" "$(cut -d' ' -f2 "$OUT/kernels/list" | tr '\n' ' ')"
                failed=$((failed + 1))
                return
        fi
        [[ ${2:-} == qemu10 ]] && label+=-qemu10
        read -r _ vmlinuz initrd <<<"$line"
        boot "$label" "$vmlinuz" "$initrd" "${2:-}" || { [[ $? == 3 ]] && LAB_RETRY=1 boot "$label" "$vmlinuz" "$initrd" "${2:-}"; }
}

rm -rf -- "$LOGS"
mkdir -p "$LOGS"
for ver in $KERNELS; do boot_kernel "$ver"; done
# the igb scenarios, under QEMU 10 (unless LAB_ONLY leaves them out)
if [[ -n $QEMU10 ]] && [[ -z ${LAB_ONLY:-} || igb =~ $LAB_ONLY ]]; then
        for ver in $QEMU10_KERNELS; do boot_kernel "$ver" qemu10; done
fi
[[ ${LAB_KEEP:-0} == 1 ]] || ((failed > 0)) || rm -rf -- "$LOGS"
finish
