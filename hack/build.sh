#!/bin/sh
# Build what we ship: the workspace in release mode, plus statically linked
# keel and keel-shim, and put the three binaries side by side in
# $CARGO_TARGET_DIR/dist/bin (default target/dist/bin):
#
#   keel       the runtime, linked with glibc and libseccomp statically (as
#              runc's release binaries are): nothing to resolve at each of
#              its many short runs, and about 0.5 MB less RSS
#   hoist      the builder (target/release/hoist); it finds keel-shim and
#              keel next to itself
#   keel-shim  linked with glibc statically: one shim runs per container,
#              and without the shared libc and ld.so mapped it needs about
#              0.8 MB less memory (docs/shim.md)
#
# cargo can only set crt-static for a whole build, and proc-macros can't
# be built with it, so the static binaries get their own `--target` build
# (under target/x86_64-unknown-linux-gnu/, where RUSTFLAGS reach only the
# target's crates; hack/build-checker.sh builds keel-check the same way).
# The plain `cargo build` binaries (dynamic) are what `cargo test` uses;
# hack/test.sh runs the shim tests and the conformance suite against the
# static ones too.
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
# One cargo call per binary: in one call cargo would unify the features
# of their shared dependencies and the shim would carry keel's.
static() {
	RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
		cargo build --release --target "$triple" "$@"
}
static -p keel-shim --bin keel-shim
# libseccomp-sys links libseccomp.a (libseccomp-dev) when asked to.
(
	export LIBSECCOMP_LINK_TYPE=static
	LIBSECCOMP_LIB_PATH=$(pkg-config --variable=libdir libseccomp)
	export LIBSECCOMP_LIB_PATH
	static -p keel-runtime --bin keel
)

for b in keel keel-shim; do
	# A dynamically linked ELF names its loader (PT_INTERP); a static one not.
	if readelf -l "$target/$triple/release/$b" | grep -q 'program interpreter'; then
		echo "build: $target/$triple/release/$b is not statically linked (it names a program interpreter)" >&2
		exit 1
	fi
done
dist="$target/dist/bin"
mkdir -p "$dist"
install -m 0755 "$target/$triple/release/keel" "$target/release/hoist" \
	"$target/$triple/release/keel-shim" "$dist/"
echo "$dist"
