# shellcheck shell=bash
# What the hook suites (tests/hooks/*.sh) share: one fake root at a time,
# a hook run as libvirt runs it, whole-tree snapshots.  Sourced after
# tests/lib.sh and before the tree builders (tree.sh, pci_tree.sh,
# cpus_tree.sh, tune_tree.sh).  hook runs $HOOK, which the suite sets.

# ROOT: the current fake root (VMPREP_ROOT); OUT, ERR: a hook's stdout and
# stderr; TMP_FILES: what is removed at exit besides the root (a suite adds
# its own scratch files)
ROOT=
OUT=$(mktemp) ERR=$(mktemp)
TMP_FILES=("$OUT" "$ERR")
cleanup() { [ -n "$ROOT" ] && rm -rf "$ROOT"; }
trap 'cleanup; rm -rf "${TMP_FILES[@]}"' EXIT

# new_root NAME: a fresh, empty fake root /tmp/vmprep-NAME-XXXXXX in ROOT
# and VMPREP_ROOT (the last one removed), with run/ and the fake kernel's
# .fake/writes.log
new_root() {
        cleanup
        ROOT=$(mktemp -d "/tmp/vmprep-$1-XXXXXX")
        export VMPREP_ROOT=$ROOT
        mkdir -p "$ROOT/run" "$ROOT/.fake"
        : > "$ROOT/.fake/writes.log"
}
# rd PATH: a file of the fake root
rd() { cat "$ROOT/$1"; }

# hook XMLFILE NAME OP SUB: runs $HOOK as libvirt does (argv, the domain
# XML on stdin); stdout to $OUT, stderr to $ERR; returns its status
hook() { "$HOOK" "$2" "$3" "$4" - < "$1" > "$OUT" 2> "$ERR"; }
# stop_phases XMLFILE NAME: what libvirt runs after a VM stops (or after a
# failed start)
stop_phases() { hook "$1" "$2" stopped end; hook "$1" "$2" release end; }
# release_again XMLFILE NAME: the next release (or a reconcile) after one
# that was cut short
release_again() { hook "$1" "$2" release end; }

# snapshot [KIND:DIR[,DIR...]]...: the fake root as a test compares it
# before and after (by default what SNAPSHOT, set by the suite, says).
# DIRs are relative to the root (one that does not exist is left out).
#   text     every file's path, and its content as the kernel shows it (a
#            missing last newline is no difference)
#   bytes    every file's md5sum
#   entries  every entry's type, path and link target
#   modes    the same with each entry's mode
#   dirs     every directory
#   links    every symlink and its target
SNAPSHOT=("bytes:sys")
snapshot() {
        [ $# -gt 0 ] || set -- "${SNAPSHOT[@]}"
        (cd "$ROOT" || exit 1
         for spec in "$@"; do
                IFS=, read -ra dirs <<< "${spec#*:}"
                have=()
                for d in "${dirs[@]}"; do if [ -e "$d" ] || [ -L "$d" ]; then have+=("$d"); fi; done
                [ ${#have[@]} -gt 0 ] || continue
                case ${spec%%:*} in
                text)    files=$(find "${have[@]}" -type f | sort)
                         echo "$files"
                         xargs -d '\n' -r awk 'FNR == 1 { print "== " FILENAME } { print }' <<< "$files" ;;
                bytes)   find "${have[@]}" -type f -print0 | sort -z | xargs -0 -r md5sum ;;
                entries) find "${have[@]}" -printf '%y %p %l\n' | sort ;;
                modes)   find "${have[@]}" -printf '%y %m %p %l\n' | sort ;;
                dirs)    find "${have[@]}" -type d | sort ;;
                links)   find "${have[@]}" -type l -printf '%p -> %l\n' | sort ;;
                *)       echo "snapshot: no kind ${spec%%:*}" >&2; exit 2 ;;
                esac
         done)
}
