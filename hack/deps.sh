#!/bin/sh
# Install what keel's build, tests and benchmarks need on Debian 12, as root.
# Idempotent and quick when everything is already there.
#
# usage: hack/deps.sh
set -eu

pkgs="libseccomp-dev pkg-config busybox-static runc crun hyperfine time python3 containerd podman buildah docker.io skopeo umoci containernetworking-plugins conmon netavark uidmap protobuf-compiler docker-registry git zstd xz-utils bzip2 attr"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "deps: installing$missing" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

# BuildKit's own Dockerfile parser, for hoist's differential parser test.
if ! python3 -c 'import dockerfile' 2>/dev/null; then
	echo "deps: installing the dockerfile package from PyPI" >&2
	python3 -m pip install -q dockerfile==3.4.0
fi

if ! command -v cargo >/dev/null 2>&1; then
	echo "deps: cargo not found: install the Rust toolchain (rustup) first" >&2
	exit 1
fi
