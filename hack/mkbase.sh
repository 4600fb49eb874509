#!/bin/sh
# Make the busybox base image that hoist's examples and tests build FROM,
# with no registry: hack/engines/mkimage.sh writes a docker-archive/OCI tar
# from Debian's busybox-static, and `hoist load` puts it in the store as
# busybox:latest.
#
# usage: hack/mkbase.sh [HOIST_ROOT]     (default: $HOIST_ROOT or /var/lib/hoist)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
ws=$(dirname "$here")
root=${1:-${HOIST_ROOT:-/var/lib/hoist}}
hoist=${HOIST:-$ws/target/release/hoist}
mkdir -p "$here/out"
tar="$here/out/busybox-base.tar"
"$here/engines/mkimage.sh" "$tar" busybox:latest sh >/dev/null
"$hoist" --root "$root" load -i "$tar"
