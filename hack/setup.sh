#!/bin/sh
# The README's first command: install what is needed, build everything, and
# run the main job on a fresh Debian 12 machine, as root.
#
# Main job (until hoist can build and run images): make a busybox bundle
# under hack/out/demo and run it with keel.
#
# usage: hack/setup.sh
set -eu

here=$(cd "$(dirname "$0")" && pwd)
ws=$(dirname "$here")
cd "$ws"

"$here/deps.sh"
cargo build --release --workspace

bundle="$here/out/demo"
"$here/mkbundle.sh" "$bundle" sh -c 'echo "hello from keel: $(hostname), pid $$, $(cat /proc/self/status | grep -c NoNewPrivs) nnp line"; ls /' >/dev/null
echo "== keel run demo ($bundle)"
"$ws/target/release/keel" --root "$here/out/state" run --bundle "$bundle" "demo-$$"
