#!/usr/bin/env bash
# One grammar: every value in the table below goes through both
# profiles/profile.rng (xmllint) and the C parser (build/test/profile-check,
# which calls profile_parse_document), and both must give the verdict the
# table says.  Verdicts:
#   valid        both accept
#   invalid      both refuse
#   parser-only  the schema accepts, the parser refuses: only for what
#                RelaxNG cannot express (it does no arithmetic), which
#                profile.rng's header lists: a backwards range ("3-1") and a
#                list whose ^N exclusions remove everything ("7,^7")
# Values are pasted into the attribute verbatim: write blanks as &#32; and
# tabs as &#9; (XML would fold a literal tab into a space), @empty for "".
# Usage: tests/grammar-agree.sh [BUILD_DIR]   (default build/test)
set -uo pipefail
repo=$(cd -- "$(dirname -- "$0")/.." && pwd)
cd "$repo" || exit 1
T_SUITE=grammar
# shellcheck source=tests/lib.sh
. tests/lib.sh
check=${1:-build/test}/profile-check
RNG=${RNG:-profiles/profile.rng}
XMLLINT=${XMLLINT:-xmllint}
[ -x "$check" ] || { echo "missing $check (make $check)"; exit 1; }
command -v "$XMLLINT" >/dev/null || { echo "$XMLLINT not found (install libxml2-utils)"; exit 1; }

# VERDICT ELEMENT ATTRIBUTE VALUE
table=$(cat <<'TABLE'
valid profile use realtime
valid profile use a123456789-123456789_123456789-123456789-123456789-123456789-123
invalid profile use a123456789-123456789_123456789-123456789-123456789-123456789-1234
invalid profile use Realtime
invalid profile use -rt
invalid profile use @empty
valid vfio enabled yes
valid vfio enabled no
invalid vfio enabled Yes
invalid vfio enabled true
invalid vfio enabled &#32;yes
invalid vfio enabled @empty
valid vfio group whole
valid vfio group device
invalid vfio group Whole
invalid vfio group device&#32;
valid vfio single-gpu auto
valid vfio single-gpu on
valid vfio single-gpu off
invalid vfio single-gpu yes
valid vfio force yes
invalid vfio force on
valid vfio unload-modules nvidia
valid vfio unload-modules nvidia_drm,nvidia-uvm,amdgpu
invalid vfio unload-modules nvidia,
invalid vfio unload-modules ,nvidia
invalid vfio unload-modules nvidia,,amdgpu
invalid vfio unload-modules nvidia,&#32;amdgpu
invalid vfio unload-modules nvidia.ko
invalid vfio unload-modules @empty
valid vfio reset-method default
valid vfio reset-method bus
valid vfio reset-method flr&#32;bus
valid vfio reset-method device_specific&#32;acpi&#32;flr&#32;af_flr&#32;pm&#32;bus&#32;cxl_bus
valid vfio reset-method abcdefghi_abcdefghi_abcdefghi_ab
invalid vfio reset-method abcdefghi_abcdefghi_abcdefghi_abc
invalid vfio reset-method flr&#32;flr&#32;flr&#32;flr&#32;flr&#32;flr&#32;flr&#32;flr
invalid vfio reset-method flr,bus
invalid vfio reset-method flr&#32;&#32;bus
invalid vfio reset-method flr&#32;
invalid vfio reset-method &#32;flr
invalid vfio reset-method flr&#9;bus
invalid vfio reset-method FLR
invalid vfio reset-method _flr
invalid vfio reset-method af-flr
invalid vfio reset-method flr2
valid vfio reset-method flr&#32;flr&#32;flr&#32;flr&#32;flr&#32;flr&#32;flr
invalid vfio reset-method @empty
valid vfio stop-services ollama.service
valid vfio stop-services ollama.service,llama-server@gpu0.service,a_b.c.service
valid vfio stop-services a23456789-123456789-123456789-123456789-123456789-123456.service
invalid vfio stop-services a23456789-123456789-123456789-123456789-123456789-1234567.service
invalid vfio stop-services ollama
invalid vfio stop-services ollama.socket
invalid vfio stop-services .service
invalid vfio stop-services -x.service
invalid vfio stop-services ollama.service,
invalid vfio stop-services ollama.service,&#32;foo.service
invalid vfio stop-services ollama\x2dgpu.service
invalid vfio stop-services @empty
valid device address 0000:01:00.0
valid device address 01:00.1
valid device address 0000:01:1f.7
valid device address 10000:01:00.0
valid device address ffffffff:ff:1f.7
valid device address ABCD:0A:1F.0
invalid device address 0000:01:20.0
invalid device address 0000:01:00.8
invalid device address 123456789:01:00.0
invalid device address 000:01:00.0
invalid device address 0000:1:00.0
invalid device address 0000:01:0.0
invalid device address 0000:01:00
invalid device address ../01:00.0
invalid device address @empty
valid device force no
invalid device force No
valid device reset-method device_specific
valid device reset-method default
valid device reset-method pm&#32;flr
invalid device reset-method Default
invalid device reset-method flr;bus
invalid device reset-method @empty
valid hugepages enabled no
valid hugepages size 2M
valid hugepages size 1G
valid hugepages size 2048K
valid hugepages size 2048k
valid hugepages size 2048
valid hugepages size 1048576KiB
valid hugepages size 2MiB
valid hugepages size 1GiB
valid hugepages size 16g
valid hugepages size 1T
valid hugepages size 1TiB
valid hugepages size 1t
valid hugepages size 9999999T
valid hugepages size 1
invalid hugepages size 10000000
invalid hugepages size 0
invalid hugepages size 0M
invalid hugepages size 02M
invalid hugepages size 2MB
invalid hugepages size 1GB
invalid hugepages size 2KB
invalid hugepages size 1TB
invalid hugepages size 4096b
invalid hugepages size 4096bytes
invalid hugepages size 1P
invalid hugepages size 1E
invalid hugepages size 2X
invalid hugepages size 2&#32;M
invalid hugepages size 2m&#32;
invalid hugepages size -2M
invalid hugepages size M
invalid hugepages size @empty
valid hugepages nodes auto
valid hugepages nodes 0
valid hugepages nodes 0-1,3
valid hugepages nodes 0,^1
valid hugepages nodes 0-7,^3,^5
valid hugepages nodes ^3,0-7
valid hugepages nodes 0,&#32;1
valid hugepages nodes &#32;0&#32;,&#32;1&#32;
valid hugepages nodes 0,&#9;1
valid hugepages nodes 8191
valid hugepages nodes 0-8191
valid hugepages nodes 008191
valid hugepages nodes 1-1
invalid hugepages nodes 8192
invalid hugepages nodes 0-8192
invalid hugepages nodes 100000
invalid hugepages nodes ^1
invalid hugepages nodes ^1,^2
invalid hugepages nodes ^1-3,5
invalid hugepages nodes 0-
invalid hugepages nodes -1
invalid hugepages nodes 0,,1
invalid hugepages nodes 0,
invalid hugepages nodes 0&#32;1
invalid hugepages nodes Auto
invalid hugepages nodes &#32;auto
invalid hugepages nodes @empty
parser-only hugepages nodes 3-1
parser-only hugepages nodes 7,^7
valid hugepages compact yes
invalid hugepages compact 1
valid isolate cpus auto
valid isolate cpus 2-5,8,10-11
valid isolate cpus 0-15,^0,^8
invalid isolate cpus 2-5;8
invalid isolate cpus 9000
parser-only isolate cpus 5-2
valid isolate irqs no
valid isolate workqueues no
invalid isolate workqueues off
valid isolate mode cgroup
valid isolate mode partition
invalid isolate mode isolated
valid isolate numa strict
valid isolate numa prefer
valid isolate numa ignore
invalid isolate numa preferred
valid sriov enabled no
valid sriov enabled yes
invalid sriov enabled off
invalid sriov force yes
valid sriov pf 0000:03:00.0
valid sriov pf 03:00.0
invalid sriov pf 0000:03:00.9
valid sriov vfs 0
valid sriov vfs 65535
valid sriov vfs 007
invalid sriov vfs 65536
invalid sriov vfs 70000
invalid sriov vfs -1
invalid sriov vfs +1
invalid sriov vfs 1.0
invalid sriov vfs 99999999999999999999999
valid sriov autoprobe yes
invalid sriov autoprobe on
valid vf index 0
valid vf index 65535
invalid vf index 65536
invalid vf index -1
valid vf mac 52:54:00:6d:90:02
valid vf mac 52:54:00:6D:90:0A
invalid vf mac 52:54:00:6d:90
invalid vf mac 52:54:00:6d:90:02:03
invalid vf mac 52-54-00-6d-90-02
invalid vf mac 52:54:00:6d:90:0g
valid vf vlan 0
valid vf vlan 4094
invalid vf vlan 4095
invalid vf vlan -1
valid vf qos 0
valid vf qos 7
invalid vf qos 8
valid vf trust on
valid vf trust off
invalid vf trust yes
valid vf spoofchk off
invalid vf spoofchk no
valid tune enabled no
valid tune governor performance
valid tune governor powersave
valid tune governor schedutil
valid tune governor ondemand
valid tune governor conservative
valid tune governor userspace
invalid tune governor turbo
valid tune thp always
valid tune thp madvise
valid tune thp never
invalid tune thp no
valid tune ksm on
valid tune ksm off
valid tune ksm unmerge
invalid tune ksm yes
valid tune rt-runtime unlimited
valid tune rt-runtime 0
valid tune rt-runtime 950000
valid tune rt-runtime 2147483647
invalid tune rt-runtime 2147483648
invalid tune rt-runtime 3000000000
invalid tune rt-runtime -1
invalid tune rt-runtime Unlimited
invalid tune rt-runtime @empty
valid tune max-cstate 0
valid tune max-cstate 9
invalid tune max-cstate 10
invalid tune max-cstate -1
valid tune swappiness 0
valid tune swappiness 200
invalid tune swappiness 201
invalid tune swappiness -1
invalid tune stat-interval 0
valid tune stat-interval 1
valid tune stat-interval 3600
invalid tune stat-interval 3601
invalid tune stat-interval &#32;1
invalid tune bogus 1
valid shmem name looking-glass
valid shmem name lg.0_A
valid shmem name 0lg
valid shmem name a123456789a123456789a123456789a123456789a123456789a123456789a123456789a123456789a123456789a12345678
invalid shmem name a123456789a123456789a123456789a123456789a123456789a123456789a123456789a123456789a123456789a1234567890
invalid shmem name .hidden
invalid shmem name -lg
invalid shmem name ../etc/passwd
invalid shmem name lg/x
invalid shmem name lg&#32;
invalid shmem name @empty
valid shmem device /dev/kvmfr0
valid shmem device /dev/kvmfr12
valid shmem device /dev/kvmfr999
invalid shmem device /dev/kvmfr1000
invalid shmem device /dev/kvmfr01
invalid shmem device /dev/kvmfr
invalid shmem device /dev/shm/lg
invalid shmem device kvmfr0
valid shmem owner alice
valid shmem owner _lg
valid shmem owner Alice.B-c_1
valid shmem owner machine$
valid shmem owner a1234567890123456789012345678901
invalid shmem owner a12345678901234567890123456789012
invalid shmem owner 1000
invalid shmem owner al$ce
invalid shmem owner -alice
invalid shmem owner @empty
valid shmem group kvm
invalid shmem group kvm,users
valid shmem mode 0660
valid shmem mode 660
valid shmem mode 0600
invalid shmem mode 4660
invalid shmem mode 1777
invalid shmem mode 0668
invalid shmem mode 66
invalid shmem mode 00660
invalid shmem mode rw
valid shmem enabled no
invalid shmem enabled off
valid tune epp performance
valid tune epp balance_power
valid tune epp default
invalid tune epp Performance
invalid tune epp balance-power
invalid tune epp performance&#32;
invalid tune epp @empty
TABLE
)

dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT HUP INT TERM
P='xmlns:vmprep="urn:vmprep:1"'
n=0
declare -a want files labels
while read -r verdict elem attr value; do
        [ -n "$verdict" ] || continue
        [ "$value" = @empty ] && value=
        a="$attr=\"$value\""
        case $elem in
        profile) body="<vmprep:profile $P $a/>" ;;
        device) body="<vmprep:profile $P><vmprep:vfio><vmprep:device address=\"01:00.0\" $a/></vmprep:vfio></vmprep:profile>"
                [ "$attr" = address ] && body="<vmprep:profile $P><vmprep:vfio><vmprep:device $a/></vmprep:vfio></vmprep:profile>" ;;
        sriov) body="<vmprep:profile $P><vmprep:sriov pf=\"0000:03:00.0\" $a/></vmprep:profile>"
               [ "$attr" = pf ] && body="<vmprep:profile $P><vmprep:sriov $a/></vmprep:profile>" ;;
        vf) body="<vmprep:profile $P><vmprep:sriov pf=\"0000:03:00.0\"><vmprep:vf index=\"0\" $a/></vmprep:sriov></vmprep:profile>"
            [ "$attr" = index ] && body="<vmprep:profile $P><vmprep:sriov pf=\"0000:03:00.0\"><vmprep:vf $a/></vmprep:sriov></vmprep:profile>" ;;
        shmem) body="<vmprep:profile $P><vmprep:shmem name=\"lg\" $a/></vmprep:profile>"
               case $attr in name|device) body="<vmprep:profile $P><vmprep:shmem $a/></vmprep:profile>" ;; esac ;;
        *) body="<vmprep:profile $P><vmprep:$elem $a/></vmprep:profile>" ;;
        esac
        n=$((n + 1))
        f=$dir/$n.xml
        printf '%s\n' "$body" >"$f"
        want[n]=$verdict files[n]=$f labels[n]="<$elem $attr='$value'>"
done <<<"$table"

# one xmllint and one parser run for the whole table
declare -A schema parser
while read -r file rest; do
        case $rest in
        validates) schema[$file]=valid ;;
        "fails to validate") schema[$file]=invalid ;;
        esac
done < <("$XMLLINT" --noout --relaxng "$RNG" "${files[@]:1}" 2>&1 | grep -E ' (validates|fails to validate)$')
while read -r verdict file; do
        parser[${file%%:*}]=$verdict
done < <("$check" "${files[@]:1}")

for i in $(seq 1 "$n"); do
        f=${files[i]} s=${schema[${files[i]}]:-?} p=${parser[${files[i]}]:-?}
        case ${want[i]} in
        valid) exp_s=valid exp_p=valid ;;
        invalid) exp_s=invalid exp_p=invalid ;;
        parser-only) exp_s=valid exp_p=invalid ;;
        esac
        if [ "$s" = "$exp_s" ] && [ "$p" = "$exp_p" ]; then
                t_ok "${want[i]}: ${labels[i]}"
        else
                t_fail "${want[i]}: ${labels[i]}" "schema says $s, parser says $p" "$(cat "$f")"
        fi
done
t_done
