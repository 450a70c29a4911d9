#!/bin/sh
# Validate the shipped profiles and the profile fixtures against
# profiles/profile.rng with xmllint.
#
#   profiles/*.xml                          must validate
#   tests/fixtures/profiles/valid/*.xml     must validate
#   tests/fixtures/profiles/invalid/*.xml   must be well-formed XML and must
#                                           NOT validate (one broken rule each)
#
# Prints one "ok"/"not ok" line per file, then "N passed, N failed".
# Exits 0 only when nothing failed.  Usage: tests/profiles-schema.sh [-v]
# (-v shows xmllint's messages for every file).

set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
rng="$root/profiles/profile.rng"
fixtures="$here/fixtures/profiles"
verbose=0
[ "${1:-}" = "-v" ] && verbose=1

XMLLINT=${XMLLINT:-xmllint}
if ! command -v "$XMLLINT" >/dev/null 2>&1; then
	echo "not ok - $XMLLINT not found (install libxml2-utils)"
	echo "0 passed, 1 failed"
	exit 1
fi

passed=0
failed=0
tmp=$(mktemp) || exit 1
trap 'rm -f "$tmp" "$tmp.xml"' EXIT HUP INT TERM

pass() { passed=$((passed + 1)); echo "ok - $1"; }
fail() {
	failed=$((failed + 1)); echo "not ok - $1"
	sed 's/^/#   /' "$tmp"
}
show() { [ "$verbose" = 1 ] && sed 's/^/#   /' "$tmp"; return 0; }

# The schema itself must compile: validate a trivially valid document.
printf '<profile xmlns="urn:vmprep:1"/>\n' > "$tmp.xml"
if "$XMLLINT" --noout --relaxng "$rng" "$tmp.xml" >"$tmp" 2>&1; then
	pass "schema compiles: profiles/profile.rng"
else
	fail "schema compiles: profiles/profile.rng"
fi
rm -f "$tmp.xml"

expect_valid() { # label file
	if "$XMLLINT" --noout --relaxng "$rng" "$2" >"$tmp" 2>&1; then
		pass "valid: $1"; show
	else
		fail "valid: $1"
	fi
}

expect_invalid() { # label file
	if ! "$XMLLINT" --noout "$2" >"$tmp" 2>&1; then
		fail "invalid: $1 (not well-formed XML, so it tests nothing)"
	elif "$XMLLINT" --noout --relaxng "$rng" "$2" >"$tmp" 2>&1; then
		echo "$2 validates but should not" >"$tmp"
		fail "invalid: $1"
	else
		pass "invalid: $1"; show
	fi
}

count=0
for f in "$root"/profiles/*.xml; do
	[ -e "$f" ] || continue
	count=$((count + 1))
	expect_valid "profiles/${f##*/}" "$f"
done
[ "$count" -gt 0 ] || { : >"$tmp"; fail "no shipped profiles in profiles/"; }

# The profiles embedded in the domain fixtures' <metadata>, taken out with XPath.
for f in "$here"/fixtures/domains/*.xml; do
	[ -e "$f" ] || continue
	if "$XMLLINT" --xpath "/domain/metadata/*[namespace-uri()='urn:vmprep:1']" "$f" >"$tmp.xml" 2>"$tmp"; then
		expect_valid "the profile in fixtures/domains/${f##*/}" "$tmp.xml"
	fi
	rm -f "$tmp.xml"
done

count=0
for f in "$fixtures"/valid/*.xml; do
	[ -e "$f" ] || continue
	count=$((count + 1))
	expect_valid "fixtures/valid/${f##*/}" "$f"
done
[ "$count" -gt 0 ] || { : >"$tmp"; fail "no fixtures in $fixtures/valid"; }

count=0
for f in "$fixtures"/invalid/*.xml; do
	[ -e "$f" ] || continue
	count=$((count + 1))
	expect_invalid "fixtures/invalid/${f##*/}" "$f"
done
[ "$count" -gt 0 ] || { : >"$tmp"; fail "no fixtures in $fixtures/invalid"; }

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
