#!/bin/sh
# Build what we ship: the workspace in release mode, plus a statically
# linked keel-shim, and put the three binaries side by side in
# $CARGO_TARGET_DIR/dist/bin (default target/dist/bin):
#
#   keel       the runtime (target/release/keel)
#   hoist      the builder (target/release/hoist); it finds keel-shim and
#              keel next to itself
#   keel-shim  linked with glibc statically (-C target-feature=+crt-static):
#              one shim runs per container, and without the shared libc and
#              ld.so mapped it needs about 1 MB less memory (docs/shim.md)
#
# cargo can only set crt-static for a whole build, and proc-macros can't
# be built with it, so the shim gets its own `--target` build (under
# target/x86_64-unknown-linux-gnu/, where RUSTFLAGS reach only the target's
# crates). The plain `cargo build` keel-shim (dynamic) is what `cargo test`
# uses; hack/test.sh runs the shim's tests against the static one too.
#
# usage: hack/build.sh    (prints the dist dir)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
ws=$(dirname "$here")
cd "$ws"
target=${CARGO_TARGET_DIR:-$ws/target}
case $target in /*) ;; *) target=$ws/$target ;; esac
triple=x86_64-unknown-linux-gnu

cargo build --release --workspace
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
	cargo build --release -p keel-shim --bin keel-shim --target "$triple"

shim="$target/$triple/release/keel-shim"
# A dynamically linked ELF names its loader (PT_INTERP); a static one not.
if readelf -l "$shim" | grep -q 'program interpreter'; then
	echo "build: $shim is not statically linked (it names a program interpreter)" >&2
	exit 1
fi
dist="$target/dist/bin"
mkdir -p "$dist"
install -m 0755 "$target/release/keel" "$target/release/hoist" "$shim" "$dist/"
echo "$dist"
