#!/bin/sh
# The README's second command, and CI's (.ci/run): install what the tests
# need, build, lint, and run every test. Run as root on Debian 12.
#
# usage: hack/test.sh
set -eu

here=$(cd "$(dirname "$0")" && pwd)
ws=$(dirname "$here")
cd "$ws"

step() { printf '\n== %s\n' "$*"; }

step "dependencies"
"$here/deps.sh"

step "format and lint"
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings

step "build (the workspace, and the static keel and keel-shim we ship: hack/build.sh)"
dist=$("$here/build.sh")
"$here/mkrootfs.sh" >/dev/null
"$here/build-checker.sh" >/dev/null

step "unit and integration tests (keel and runc side by side)"
cargo test --release --workspace

step "the shipped keel-shim (static, $dist/keel-shim) passes the shim tests too"
KEEL_SHIM_BIN="$dist/keel-shim" cargo test --release -p keel-shim --test run

step "OCI conformance suite: the shipped keel ($dist/keel, static) vs runc side by side"
KEEL_BIN="$dist/keel" "$here/conformance.sh"

step "hoist parser goldens still match BuildKit's parser"
python3 "$here/parser-diff.py" check

echo
echo "all tests passed"
