#!/bin/sh
# The vmprep command links libvirt, which links a libxml2 of its own.  Since
# libxml2 2.14 (soname libxml2.so.16) carries no ELF symbol versions, a
# command built against a newer libxml2-dev than the one libvirt was built
# with (trixie-backports' libxml2 2.15 beside trixie's libvirt, say) loads
# both, and the loader may bind libvirt's own libxml2 calls to the copy that
# was loaded first: structures of one ABI handed to code of another.  vmprep
# only passes strings to libvirt, but libvirt parses XML itself, so the build
# refuses such a binary rather than ship it.
#   tools/check-one-libxml2.sh BINARY        (reads `ldd BINARY`)
#   LDD_OUTPUT=FILE tools/check-one-libxml2.sh BINARY   (a recorded ldd, for tests)
set -eu
bin=$1
if [ -n "${LDD_OUTPUT:-}" ]; then
        out=$(cat "$LDD_OUTPUT")
else
        out=$(ldd "$bin") || { echo "check-one-libxml2: cannot run ldd on $bin" >&2; exit 1; }
fi
sonames=$(printf '%s\n' "$out" | sed -n 's/^[[:space:]]*\(libxml2\.so\.[0-9]*\) .*/\1/p' | sort -u)
n=$(printf '%s\n' "$sonames" | grep -c . || true)
if [ "$n" -gt 1 ]; then
        both=$(printf '%s\n' "$sonames" | paste -sd, - | sed 's/,/ and /g')
        echo "$bin would load two libxml2 libraries ($both): libvirt was built" \
                "against one, this build against the other. Build vmprep with the libxml2-dev of libvirt's" \
                "release (for instance not trixie-backports' libxml2-dev beside trixie's libvirt)." >&2
        exit 1
fi
exit 0
