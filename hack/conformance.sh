#!/bin/sh
# Build what the conformance suite needs, run it against keel and runc side
# by side, and check that the suite still catches a broken runtime.
#
# Exits non-zero only when keel regresses: it fails a test that runc passes,
# outside the known gaps listed in conformance/known-gaps.txt (issue 3's
# not-yet-implemented features). An allowlisted test that starts passing is
# reported ("NOW PASSING"): delete its line.
#
# usage: hack/conformance.sh [keel-conformance flags...]
#   e.g. hack/conformance.sh --filter hooks --format tap
# Environment: KEEL_CONFORMANCE_OUT (results dir, default target/conformance),
#   KEEL_CONFORMANCE_SKIP_BROKEN=1 (skip the broken-runtime self-test).
# Needs root, runc, busybox-static, util-linux unshare.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
ws=$(dirname "$here")
cd "$ws"

"$here/mkrootfs.sh" >/dev/null
"$here/build-checker.sh" >/dev/null
cargo build --release -p keel-runtime -p keel-conformance --bins >&2

out=${KEEL_CONFORMANCE_OUT:-$ws/target/conformance}
mkdir -p "$out"
suite=$ws/target/release/keel-conformance
allow=$ws/conformance/known-gaps.txt

status=0
"$suite" --runtime keel --runtime runc --allowlist "$allow" \
	--format compare --json "$out/results.json" "$@" >"$out/results.txt" || status=$?
cat "$out/results.txt"
if [ "$status" -ne 0 ]; then
	echo "conformance: keel fails tests that runc passes (see above)" >&2
fi

if [ "${KEEL_CONFORMANCE_SKIP_BROKEN:-0}" != 1 ]; then
	# Self-test: a keel that drops --console-socket and ignores root.readonly
	# must be caught (exit 1, with those tests among the regressions).
	bstatus=0
	"$suite" --runtime broken="$here/broken-runtime.sh" --runtime runc \
		--allowlist "$allow" --filter process/terminal --filter root/readonly \
		--format table >"$out/broken.txt" 2>&1 || bstatus=$?
	if [ "$bstatus" -eq 1 ] &&
		grep -q 'REGRESSION: broken fails' "$out/broken.txt" &&
		grep -q 'process/terminal-stdio-is-pty' "$out/broken.txt" &&
		grep -q 'root/readonly-true' "$out/broken.txt"; then
		echo "conformance: the suite catches hack/broken-runtime.sh (as it must)" >&2
	else
		cat "$out/broken.txt" >&2
		echo "conformance: the suite did NOT catch hack/broken-runtime.sh (exit $bstatus)" >&2
		[ "$status" -ne 0 ] || status=3
	fi
fi
exit "$status"
