# shellcheck shell=bash
# tests/host/libvirt-env.sh - run a real libvirtd and tiny test VMs on a
# machine without systemd (CI containers, the development machines).
#
# Source it from bash (safe under `set -euo pipefail`; changes no shell
# options):
#
#     . tests/host/libvirt-env.sh
#     lv_up                                   # libvirtd answering on qemu:///system
#     lv_define_vm vmprep-t1                  # 256 MiB, 1 vCPU, boot sector only
#     lv_virsh start vmprep-t1
#     lv_wait_state vmprep-t1 running 10
#     lv_wait_booted vmprep-t1 20             # guest armed the ACPI button (~3 s)
#     lv_virsh shutdown vmprep-t1             # ACPI button -> the guest powers off
#     lv_wait_state vmprep-t1 "shut off" 10
#     lv_cleanup_vm vmprep-t1
#
# Must run as root.  Needs: libvirt-daemon-system libvirt-clients
# qemu-system-x86 tini, and a C compiler (cc) for the boot sector.
#
# Functions (all return 0 on success, non-zero on failure; messages go to
# stderr, prefixed "libvirt-env:"; stdout carries only what a function is
# said to print):
#
#   lv_virsh ARGS...            virsh -c "$LV_URI" ARGS...
#   lv_ping                     0 if libvirtd answers `virsh version`
#   lv_up                       make libvirtd usable (idempotent, see below)
#   lv_down                     stop libvirtd if lv_up started it
#   lv_hup                      SIGHUP libvirtd (rescans /etc/libvirt/hooks),
#                               wait until it answers again
#   lv_libvirtd_pid             print the pid of the running libvirtd
#   lv_bootsector [PATH]        build the test boot image (default $LV_BOOTSECTOR)
#   lv_domain_xml NAME [MEM_MIB] [HUGEPAGES] [METADATA] [EXTRA_XML]
#                               print a test domain's XML
#   lv_define FILE              virsh define FILE
#   lv_define_vm NAME [MEM_MIB] [EXTRA_XML_FILE] [METADATA] [HUGEPAGES]
#                               build the boot image if missing, then define
#                               (fails if NAME exists: lv_cleanup_vm first)
#   lv_wait_state NAME STATE TIMEOUT_S
#                               poll `virsh domstate` until it prints STATE
#   lv_serial_log NAME          print the path of NAME's serial console log
#   lv_wait_booted NAME TIMEOUT_S
#                               wait until the guest's boot sector is ready
#                               for `virsh shutdown`
#   lv_cleanup_vm NAME          destroy + undefine, errors ignored
#   lv_now_ms                   print the wall clock in ms (for timings)
#
# Settings (variables; defaults set when sourced, read when a function runs):
#   LV_URI          libvirt URI                  (qemu:///system)
#   LV_STATE_DIR    state of this library        (/run/vmprep-test)
#   LV_LOG          libvirtd's stdout/stderr     (/var/log/vmprep-test-libvirtd.log)
#   LV_BOOTSECTOR   boot image used by the VMs   (/var/lib/libvirt/images/vmprep-test-bootsector.img)
#   LV_MACHINE      QEMU machine type            (pc, i.e. i440fx)
#   LV_UP_TIMEOUT   seconds lv_up waits          (30)
#   LV_DOWN_TIMEOUT seconds lv_down waits        (30)

# Directory of this file, for mkbootsector.c.
LV_LIB_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)

: "${LV_URI:=qemu:///system}"
: "${LV_STATE_DIR:=/run/vmprep-test}"
: "${LV_LOG:=/var/log/vmprep-test-libvirtd.log}"
: "${LV_BOOTSECTOR:=/var/lib/libvirt/images/vmprep-test-bootsector.img}"
: "${LV_MACHINE:=pc}"
: "${LV_UP_TIMEOUT:=30}"
: "${LV_DOWN_TIMEOUT:=30}"

# Where libvirtd (as root) and virtlogd -d write their pids.
LV_LIBVIRTD_PIDFILE=/run/libvirtd.pid
LV_VIRTLOGD_PIDFILE=/run/virtlogd.pid

lv__msg() { printf 'libvirt-env: %s\n' "$*" >&2; }

lv_virsh() { virsh -c "$LV_URI" "$@"; }

lv_ping() { virsh -c "$LV_URI" version >/dev/null 2>&1; }

lv_now_ms() {
    # EPOCHREALTIME is "seconds.microseconds" (bash >= 5).
    local t=${EPOCHREALTIME/[.,]/}
    printf '%s\n' "$((t / 1000))"
}

# lv__sleep_poll: one polling step (100 ms).
lv__sleep_poll() { sleep 0.1; }

# lv__pid_is PID COMM: 0 if process PID exists and its comm is COMM.
lv__pid_is() {
    local pid=$1 comm=$2 actual
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    actual=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [[ $actual == "$comm" ]]
}

# lv__pidfile_pid PIDFILE COMM: print the pid in PIDFILE if that process is COMM.
lv__pidfile_pid() {
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 1
    pid=${pid//[!0-9]/}
    lv__pid_is "$pid" "$2" || return 1
    printf '%s\n' "$pid"
}

# lv__find_pid COMM: print the pid of one process named COMM (scans /proc,
# so it works without procps).
lv__find_pid() {
    local d comm
    for d in /proc/[0-9]*; do
        comm=$(cat "$d/comm" 2>/dev/null) || continue
        if [[ $comm == "$1" ]]; then
            printf '%s\n' "${d#/proc/}"
            return 0
        fi
    done
    return 1
}

lv_libvirtd_pid() {
    lv__pidfile_pid "$LV_LIBVIRTD_PIDFILE" libvirtd || lv__find_pid libvirtd
}

# lv__wait_ping TIMEOUT_S [PID]: wait until libvirtd answers; give up early if
# PID (the libvirtd or tini we started) is gone.
lv__wait_ping() {
    local timeout=$1 pid=${2:-} deadline
    deadline=$(($(lv_now_ms) + timeout * 1000))
    while (($(lv_now_ms) < deadline)); do
        lv_ping && return 0
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        lv__sleep_poll
    done
    lv_ping
}

lv__log_tail() {
    if [[ -s $LV_LOG ]]; then
        lv__msg "last lines of $LV_LOG:"
        tail -n 20 "$LV_LOG" >&2
    fi
}

# lv_lock: take /run/vmprep-libvirt.lock on fd 9 (one suite or benchmark at
# a time drives this machine's libvirtd and hugepage pool), waiting at most
# LV_LOCK_WAIT s (900).  On timeout, names the processes holding the file and
# returns 1, so a stuck holder fails the suite instead of hanging it.
# A suite run by one that holds the lock (tests/deb.sh runs tests/host/run.sh)
# shares it: it came with fd 9 and LV_LOCK_HELD, and taking it anew on
# another open file would wait for the parent forever.
lv_lock() {
    local lock=/run/vmprep-libvirt.lock d
    if [[ ${LV_LOCK_HELD:-} == "$lock" && $(readlink /proc/self/fd/9 2>/dev/null) == "$lock" ]]; then
        return 0
    fi
    exec 9>"$lock" || return 1
    flock -w "${LV_LOCK_WAIT:-900}" 9 && { export LV_LOCK_HELD=$lock; return 0; }
    lv__msg "lv_lock: $lock still held after ${LV_LOCK_WAIT:-900}s by:"
    for d in /proc/[0-9]*/fd/*; do
        [[ $(readlink "$d" 2>/dev/null) == "$lock" ]] || continue
        d=${d#/proc/}
        d=${d%%/*}
        [[ $d == "$$" ]] && continue
        lv__msg "  pid $d $(tr '\0' ' ' <"/proc/$d/cmdline" 2>/dev/null)"
    done
    return 1
}

# lv__bare CMD...: exec CMD with nothing open but stdin, stdout and stderr.
# It replaces the calling shell: call it in a subshell or with &.  The daemons
# outlive the test that starts them: an inherited descriptor would keep a
# test's flock on /run/vmprep-libvirt.lock held (the next suite then waits
# forever) or a CI runner's output pipe open (the run never ends).
lv__bare() {
    local fd
    for fd in /proc/self/fd/*; do
        fd=${fd##*/}
        if ((fd > 2)); then eval "exec $fd>&-"; fi
    done
    exec "$@"
}

# lv_up: make libvirtd answer on $LV_URI.  If it already does, nothing is
# done (and the state file is left alone).  Otherwise: /dev/kvm to
# root:kvm 0660 (QEMU runs as libvirt-qemu:kvm), hugetlbfs on /dev/hugepages
# (libvirt only looks for it when the daemon starts), virtlogd -d, then
# libvirtd under tini as subreaper (without one, PID 1 here reaps orphans
# only every ~1 s and every VM start/destroy gets seconds slower), and wait up
# to LV_UP_TIMEOUT s for `virsh version`.  Writes "$LV_STATE_DIR/libvirtd.started"
# containing "PID" of the libvirtd it started.
# Refuses to start libvirtd if a libvirt network is marked autostart:
# libvirtd would then create bridges and firewall rules on the host.
lv_up() {
    lv_ping && return 0

    if ((EUID != 0)); then
        lv__msg "lv_up: must run as root"
        return 1
    fi
    local cmd
    for cmd in virsh libvirtd virtlogd tini setsid; do
        if ! command -v "$cmd" >/dev/null 2>&1; then
            lv__msg "lv_up: '$cmd' not found (apt-get install --no-install-recommends libvirt-daemon-system libvirt-clients qemu-system-x86 tini)"
            return 1
        fi
    done

    local pid
    if pid=$(lv_libvirtd_pid); then
        # A libvirtd exists but does not answer (yet): give it the same time.
        lv__msg "lv_up: libvirtd (pid $pid) is running but not answering; waiting"
        if lv__wait_ping "$LV_UP_TIMEOUT" "$pid"; then
            return 0
        fi
        lv__msg "lv_up: libvirtd (pid $pid) did not answer within ${LV_UP_TIMEOUT}s"
        return 1
    fi

    local autostart
    for autostart in /etc/libvirt/qemu/networks/autostart/*.xml; do
        if [[ -e $autostart ]]; then
            lv__msg "lv_up: refusing to start libvirtd: network autostart is on ($autostart)"
            lv__msg "lv_up: it would change the host network; remove that link to turn it off"
            return 1
        fi
    done

    if [[ -e /dev/kvm ]]; then
        if ! { chgrp kvm /dev/kvm && chmod 0660 /dev/kvm; }; then
            lv__msg "lv_up: cannot give /dev/kvm to group kvm"
            return 1
        fi
    else
        lv__msg "lv_up: warning: no /dev/kvm; type='kvm' domains will not start"
    fi

    if ! awk '$2 == "/dev/hugepages" && $3 == "hugetlbfs" { found = 1 } END { exit !found }' /proc/mounts; then
        if ! { mkdir -p /dev/hugepages &&
            mount -t hugetlbfs hugetlbfs /dev/hugepages; }; then
            lv__msg "lv_up: cannot mount hugetlbfs on /dev/hugepages"
            return 1
        fi
    fi

    if ! lv__pidfile_pid "$LV_VIRTLOGD_PIDFILE" virtlogd >/dev/null &&
        ! lv__find_pid virtlogd >/dev/null; then
        (lv__bare virtlogd -d </dev/null >"$LV_LOG" 2>&1) || {
            lv__msg "lv_up: virtlogd -d failed"
            lv__log_tail
            return 1
        }
    fi

    mkdir -p "$LV_STATE_DIR" || return 1
    rm -f "$LV_STATE_DIR/libvirtd.started"

    # tini -s: subreaper, so QEMU's daemonized processes are reaped at once.
    # setsid: own session, so signals to the caller's process group
    # (Ctrl-C, a test runner's kill) do not reach libvirtd.
    local tini_pid
    lv__bare setsid tini -s -- libvirtd </dev/null >"$LV_LOG" 2>&1 &
    tini_pid=$!

    if ! lv__wait_ping "$LV_UP_TIMEOUT" "$tini_pid"; then
        if kill -0 "$tini_pid" 2>/dev/null; then
            lv__msg "lv_up: libvirtd did not answer within ${LV_UP_TIMEOUT}s"
        else
            lv__msg "lv_up: libvirtd exited during start"
        fi
        lv__log_tail
        return 1
    fi

    if ! pid=$(lv_libvirtd_pid); then
        lv__msg "lv_up: libvirtd answers but its pid was not found"
        return 1
    fi
    printf '%s\n' "$pid" >"$LV_STATE_DIR/libvirtd.started"
    return 0
}

# lv_down: stop libvirtd if lv_up started it (pid in the state file, still
# a libvirtd).  SIGTERM, then wait up to LV_DOWN_TIMEOUT s for it to exit
# (tini exits with it).  Running VMs keep running.  Returns 0 if libvirtd was
# not ours or is gone.
lv_down() {
    local state=$LV_STATE_DIR/libvirtd.started pid deadline
    [[ -f $state ]] || return 0
    pid=$(cat "$state" 2>/dev/null) || pid=""
    pid=${pid//[!0-9]/}
    if ! lv__pid_is "$pid" libvirtd; then
        rm -f "$state"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$(($(lv_now_ms) + LV_DOWN_TIMEOUT * 1000))
    while lv__pid_is "$pid" libvirtd; do
        if (($(lv_now_ms) >= deadline)); then
            lv__msg "lv_down: libvirtd (pid $pid) still running after ${LV_DOWN_TIMEOUT}s"
            return 1
        fi
        lv__sleep_poll
    done
    rm -f "$state"
    return 0
}

# lv_hup: SIGHUP libvirtd (it reloads its configuration and rescans
# /etc/libvirt/hooks) and wait until it answers again.  libvirtd does the
# reload in a thread while still answering, so this also waits a fixed 0.5 s
# before polling; there is no observable "reload done".
lv_hup() {
    local pid
    if ! pid=$(lv_libvirtd_pid); then
        lv__msg "lv_hup: libvirtd is not running"
        return 1
    fi
    kill -HUP "$pid" || return 1
    sleep 0.5
    if ! lv__wait_ping "$LV_UP_TIMEOUT" "$pid"; then
        lv__msg "lv_hup: libvirtd did not answer within ${LV_UP_TIMEOUT}s after SIGHUP"
        lv__log_tail
        return 1
    fi
}

# lv_bootsector [PATH]: write the test boot image (tests/host/mkbootsector.c,
# source in bootsector.asm) to PATH (default $LV_BOOTSECTOR): the 512-byte
# boot sector padded with zeros (sparse) to 1 MiB, because SeaBIOS does not
# boot a one-sector virtio disk; mode 0644 so that QEMU (libvirt-qemu:kvm)
# can read it.  The guest waits for the ACPI power
# button and then powers off, so `virsh shutdown` works.
lv_bootsector() {
    local path=${1:-$LV_BOOTSECTOR} dir tmp
    local src=$LV_LIB_DIR/mkbootsector.c
    dir=$(dirname -- "$path")
    mkdir -p "$dir" || return 1
    tmp=$(mktemp -d) || return 1
    if ! "${CC:-cc}" -O1 -o "$tmp/mkbootsector" "$src"; then
        lv__msg "lv_bootsector: cannot compile $src"
        rm -rf "$tmp"
        return 1
    fi
    # Build beside the target and rename, so a running VM never sees a
    # half-written image.
    if ! "$tmp/mkbootsector" "$path.tmp.$$" ||
        ! truncate -s 1M "$path.tmp.$$" ||
        ! chmod 0644 "$path.tmp.$$" ||
        ! mv -f "$path.tmp.$$" "$path"; then
        lv__msg "lv_bootsector: cannot write $path"
        rm -rf "$tmp" "$path.tmp.$$"
        return 1
    fi
    rm -rf "$tmp"
}

# lv_domain_xml NAME [MEM_MIB] [HUGEPAGES] [METADATA] [EXTRA_XML]
# Print the XML of a test domain on stdout:
#   - type 'kvm', machine $LV_MACHINE, MEM_MIB MiB (default 256), 1 vCPU, ACPI;
#   - HUGEPAGES "yes": <memoryBacking><hugepages/></memoryBacking> (default
#     page size; MEM_MIB/2 free 2 MiB pages needed at start);
#   - METADATA: XML put inside <metadata>…</metadata> as is, e.g.
#     '<vmprep:profile xmlns:vmprep="urn:vmprep:1" use="gaming"/>';
#   - EXTRA_XML: XML put as is before </domain> (more top-level elements, e.g.
#     <cputune>…</cputune>; libvirt does not care about their order);
#   - devices: the boot image $LV_BOOTSECTOR as a read-only raw virtio disk
#     (vda; SeaBIOS reaches the boot sector ~2.7 s after start this way, ~4.3 s
#     from a floppy), a serial pty console logged to lv_serial_log NAME, and
#     nothing else: no writable disk, no network interface, no <hostdev>, no
#     USB, no balloon, no graphics.
# NAME, METADATA and EXTRA_XML are not escaped: pass plain names.
lv_domain_xml() {
    local name=$1 mem=${2:-256} huge=${3:-no} metadata=${4:-} extra=${5:-}
    if [[ -z $name || ! $mem =~ ^[0-9]+$ ]]; then
        lv__msg "usage: lv_domain_xml NAME [MEM_MIB] [HUGEPAGES yes|no] [METADATA] [EXTRA_XML]"
        return 2
    fi
    case $huge in
        yes | no) ;;
        *)
            lv__msg "lv_domain_xml: HUGEPAGES must be yes or no, not '$huge'"
            return 2
            ;;
    esac
    printf '%s\n' \
        "<domain type='kvm'>" \
        "  <name>$name</name>" \
        "  <memory unit='MiB'>$mem</memory>" \
        "  <currentMemory unit='MiB'>$mem</currentMemory>" \
        "  <vcpu placement='static'>1</vcpu>"
    if [[ $huge == yes ]]; then
        printf '%s\n' "  <memoryBacking>" "    <hugepages/>" "  </memoryBacking>"
    fi
    if [[ -n $metadata ]]; then
        printf '%s\n' "  <metadata>" "$metadata" "  </metadata>"
    fi
    printf '%s\n' \
        "  <os>" \
        "    <type arch='x86_64' machine='$LV_MACHINE'>hvm</type>" \
        "    <boot dev='hd'/>" \
        "  </os>" \
        "  <features>" \
        "    <acpi/>" \
        "  </features>" \
        "  <clock offset='utc'/>" \
        "  <on_poweroff>destroy</on_poweroff>" \
        "  <on_reboot>restart</on_reboot>" \
        "  <on_crash>destroy</on_crash>" \
        "  <devices>" \
        "    <disk type='file' device='disk'>" \
        "      <driver name='qemu' type='raw'/>" \
        "      <source file='$LV_BOOTSECTOR'/>" \
        "      <target dev='vda' bus='virtio'/>" \
        "      <readonly/>" \
        "    </disk>" \
        "    <controller type='usb' model='none'/>" \
        "    <serial type='pty'>" \
        "      <log file='$(lv_serial_log "$name")' append='off'/>" \
        "      <target port='0'/>" \
        "    </serial>" \
        "    <console type='pty'>" \
        "      <target type='serial' port='0'/>" \
        "    </console>" \
        "    <memballoon model='none'/>" \
        "  </devices>"
    if [[ -n $extra ]]; then
        printf '%s\n' "$extra"
    fi
    printf '%s\n' "</domain>"
}

# lv_define FILE: virsh define FILE (virsh's output goes to stderr).
lv_define() {
    if [[ ! -r ${1:-} ]]; then
        lv__msg "lv_define: cannot read '${1:-}'"
        return 2
    fi
    lv_virsh define "$1" >&2
}

# lv_define_vm NAME [MEM_MIB] [EXTRA_XML_FILE] [METADATA] [HUGEPAGES]
# Build $LV_BOOTSECTOR if missing, then define the domain from lv_domain_xml.
# EXTRA_XML_FILE: empty or a file whose content goes before </domain>.
lv_define_vm() {
    local name=${1:-} mem=${2:-256} extra_file=${3:-} metadata=${4:-} huge=${5:-no}
    local extra="" xml rc
    if [[ -z $name ]]; then
        lv__msg "usage: lv_define_vm NAME [MEM_MIB] [EXTRA_XML_FILE] [METADATA] [HUGEPAGES yes|no]"
        return 2
    fi
    if [[ -n $extra_file ]]; then
        extra=$(cat -- "$extra_file") || return 2
    fi
    if [[ ! -s $LV_BOOTSECTOR ]]; then
        lv_bootsector "$LV_BOOTSECTOR" || return 1
    fi
    xml=$(mktemp) || return 1
    if ! lv_domain_xml "$name" "$mem" "$huge" "$metadata" "$extra" >"$xml"; then
        rm -f "$xml"
        return 2
    fi
    if lv_define "$xml"; then rc=0; else rc=$?; fi
    rm -f "$xml"
    return "$rc"
}

# lv_wait_state NAME STATE TIMEOUT_S: poll `virsh domstate NAME` every 0.1 s
# until it prints STATE ("running", "shut off", "paused", ...).  Returns 0
# when reached, 1 on timeout (the last state is reported on stderr).
lv_wait_state() {
    local name=$1 want=$2 timeout=$3 deadline state=""
    deadline=$(($(lv_now_ms) + timeout * 1000))
    while :; do
        state=$(lv_virsh domstate "$name" 2>/dev/null) || state=""
        state=${state%%$'\n'*}
        [[ $state == "$want" ]] && return 0
        (($(lv_now_ms) >= deadline)) && break
        lv__sleep_poll
    done
    lv__msg "lv_wait_state: $name is '${state:-?}', not '$want', after ${timeout}s"
    return 1
}

# lv_serial_log NAME: print the path of the log file of NAME's serial
# console (libvirt's virtlogd writes it; truncated at each start).
lv_serial_log() {
    printf '%s\n' "/var/log/libvirt/qemu/${1:-}-serial0.log"
}

# lv_wait_booted NAME TIMEOUT_S: wait until the guest (lv_domain_xml's boot
# sector) has armed the ACPI power button, i.e. its serial log shows
# "waiting for ACPI power button".  `virsh shutdown` before that point is lost
# (QEMU drops a button press the guest has not enabled); SeaBIOS needs
# ~2-3 s here (nested KVM) to get there.  Returns 0 when ready, 1 on timeout.
lv_wait_booted() {
    local name=$1 timeout=$2 log deadline
    log=$(lv_serial_log "$name")
    deadline=$(($(lv_now_ms) + timeout * 1000))
    while :; do
        grep -q 'waiting for ACPI power button' "$log" 2>/dev/null && return 0
        (($(lv_now_ms) >= deadline)) && break
        lv__sleep_poll
    done
    lv__msg "lv_wait_booted: $name's boot sector not ready after ${timeout}s ($log)"
    return 1
}

# lv_cleanup_vm NAME: destroy NAME if it runs, then undefine it; errors
# (no such domain, ...) are ignored.  Always returns 0.
lv_cleanup_vm() {
    local name=${1:-}
    [[ -n $name ]] || return 0
    lv_virsh destroy "$name" >/dev/null 2>&1 || true
    lv_virsh undefine "$name" >/dev/null 2>&1 || true
    rm -f "$(lv_serial_log "$name")"
    return 0
}
