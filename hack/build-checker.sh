#!/bin/sh
# Build keel-check, the in-container conformance checker, as a static binary
# (it runs inside a busybox rootfs without a libc) and print its path.
#
# usage: hack/build-checker.sh
# Honors CARGO_TARGET_DIR; the default is the workspace's target/.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
ws=$(dirname "$here")
target=x86_64-unknown-linux-gnu
cd "$ws"

RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
	cargo build --release -p keel-conformance --bin keel-check --target "$target" >&2

out="${CARGO_TARGET_DIR:-$ws/target}/$target/release/keel-check"
case "$out" in
/*) ;;
*) out="$ws/$out" ;;
esac
if ! [ -x "$out" ]; then
	echo "build-checker: $out was not built" >&2
	exit 1
fi
echo "$out"
