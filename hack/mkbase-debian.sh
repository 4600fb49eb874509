#!/bin/sh
# Make a realistic distro base for hoist's examples and benchmarks, with no
# registry: `debootstrap --variant=minbase bookworm` from Debian's archive,
# turned into a one-layer image by hack/engines/mkimage.sh (the same tar
# layout as the busybox base) and `hoist load`ed as debian:bookworm.
#
# usage: hack/mkbase-debian.sh [HOIST_ROOT]   (default: $HOIST_ROOT or /var/lib/hoist)
#
#   MIRROR   the Debian mirror (default http://deb.debian.org/debian)
#   HOIST    the hoist binary (default target/release/hoist)
#   REFRESH=1  debootstrap again instead of reusing the cached image tar
#
# Like docker's debian:bookworm (debuerreotype), the image carries apt and
# dpkg settings for containers: no package caches or downloaded .debs kept
# after apt runs, gzipped indexes, no translations, suggests not kept by
# autoremove, dpkg without fsync, and a policy-rc.d that starts no service.
#
# debootstrap takes a few minutes; its result is cached as
# hack/out/debian-bookworm.vN.tar (N: the version of what this script puts
# in the image; bump it when that changes), so reruns only load it. Needs
# root (debootstrap chroots) and installs debootstrap with apt if missing.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
ws=$(dirname "$here")
root=${1:-${HOIST_ROOT:-/var/lib/hoist}}
hoist=${HOIST:-$ws/target/release/hoist}
mirror=${MIRROR:-http://deb.debian.org/debian}
suite=bookworm
version=2
out="$here/out/debian-$suite.v$version.tar"

if [ ! -s "$out" ] || [ "${REFRESH:-0}" = 1 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "mkbase-debian: debootstrap needs root" >&2
		exit 1
	fi
	if ! command -v debootstrap >/dev/null 2>&1; then
		echo "mkbase-debian: installing debootstrap" >&2
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
	fi
	mkdir -p "$here/out"
	work=$(mktemp -d "$here/out/debian-$suite.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	rootfs="$work/rootfs"
	echo "mkbase-debian: debootstrap --variant=minbase $suite from $mirror (a few minutes)" >&2
	if ! debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1; then
		tail -n 30 "$work/debootstrap.log" >&2
		echo "mkbase-debian: debootstrap failed (log above)" >&2
		exit 1
	fi
	# What docker's debian images leave out: device nodes (the runtime
	# makes /dev), the host's resolv.conf and hostname (bind-mounted at
	# run time), apt's downloaded lists and packages, logs and caches.
	find "$rootfs/dev" "$rootfs/proc" "$rootfs/sys" "$rootfs/run" "$rootfs/tmp" \
		-mindepth 1 -maxdepth 1 -exec rm -rf {} +
	rm -rf "$rootfs/var/lib/apt/lists"/* "$rootfs/var/cache/apt"/*.bin \
		"$rootfs/var/cache/apt/archives"/*.deb "$rootfs/var/log"/*.log \
		"$rootfs/var/cache/ldconfig/aux-cache" "$rootfs/etc/hostname"
	: >"$rootfs/etc/resolv.conf"
	mkdir -p "$rootfs/var/lib/apt/lists/partial"
	# The container settings of docker's debian images (see the top).
	clean='"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"'
	cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<EOF
DPkg::Post-Invoke { $clean; };
APT::Update::Post-Invoke { $clean; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
	echo 'Acquire::GzipIndexes "true";' >"$rootfs/etc/apt/apt.conf.d/docker-gzip-indexes"
	echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
	echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$rootfs/etc/apt/apt.conf.d/docker-autoremove-suggests"
	echo 'force-unsafe-io' >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
	printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
	chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
	KEEL_ROOTFS=$rootfs "$here/engines/mkimage.sh" "$work/image.tar" "debian:$suite" bash >/dev/null
	mv "$work/image.tar" "$out"
	echo "mkbase-debian: cached $out ($(du -h "$out" | cut -f1))" >&2
fi
"$hoist" --root "$root" load -i "$out"
