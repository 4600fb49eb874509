#!/bin/sh
# Build a one-layer busybox image from the test rootfs template, with no
# registry, as one tar that `ctr images import`, `podman load` and
# `docker load` (20.10) all accept: an OCI image layout (oci-layout,
# index.json, blobs/sha256/…) that also carries a docker-archive
# manifest.json pointing at the same blobs.
#
# usage: hack/engines/mkimage.sh OUT.tar [NAME [ARG...]]
#
#   NAME  repository:tag (default keel-busybox:latest). ctr sees it as
#         docker.io/library/NAME (index annotation io.containerd.image.name),
#         docker as NAME, podman as localhost/NAME.
#   ARG…  the image's Cmd (default: sh).
#
# The rootfs comes from hack/mkrootfs.sh (KEEL_ROOTFS overrides it with any
# directory, e.g. a debootstrap in hack/mkbase-debian.sh). The
# output is reproducible: the layer is tarred with sorted names, mtime 0
# and numeric owners, and gzipped without a name or timestamp, so the same
# template always gives the same digests.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
if [ $# -lt 1 ]; then
	echo "usage: hack/engines/mkimage.sh OUT.tar [NAME [ARG...]]" >&2
	exit 2
fi
out=$1
shift
name=${1:-keel-busybox:latest}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || set -- sh
case $name in
*:*) ;;
*) name="$name:latest" ;;
esac
repo=${name%:*}
tag=${name##*:}

rootfs=${KEEL_ROOTFS:-$("$here/../mkrootfs.sh")}
if [ -n "${KEEL_ROOTFS:-}" ]; then
	# Any rootfs given by the caller (hack/mkbase-debian.sh: a debootstrap).
	if [ ! -d "$rootfs" ]; then
		echo "mkimage: KEEL_ROOTFS=$rootfs is not a directory" >&2
		exit 1
	fi
elif [ ! -x "$rootfs/bin/busybox" ]; then
	echo "mkimage: no busybox in $rootfs: run hack/mkrootfs.sh" >&2
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/keel-mkimage.XXXXXX")
trap 'rm -rf "$work"' EXIT
blobs="$work/img/blobs/sha256"
mkdir -p "$blobs"

sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { wc -c <"$1" | tr -d ' '; }
# JSON string literal of $1 (the arguments here are plain words: escape
# backslashes and double quotes, which is all they can need).
jstr() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }

# The layer: every entry of the rootfs, names relative and sorted, no "./"
# entry (its mode would land on the bundle dir).
(cd "$rootfs" && find . -mindepth 1 | sed 's,^\./,,' | LC_ALL=C sort) >"$work/list"
tar -C "$rootfs" --format=gnu --no-recursion --numeric-owner --mtime=@0 \
	-cf "$work/layer.tar" -T "$work/list"
diff_id=$(sha "$work/layer.tar")
gzip -n -9 <"$work/layer.tar" >"$work/layer.tar.gz"
layer=$(sha "$work/layer.tar.gz")
layer_size=$(size "$work/layer.tar.gz")
mv "$work/layer.tar.gz" "$blobs/$layer"

cmd=""
for a in "$@"; do
	cmd="$cmd${cmd:+,}$(jstr "$a")"
done
printf '{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":[%s],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"hack/engines/mkimage.sh"}]}' \
	"$cmd" "$diff_id" >"$work/config.json"
config=$(sha "$work/config.json")
config_size=$(size "$work/config.json")
mv "$work/config.json" "$blobs/$config"

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
	"$config" "$config_size" "$layer" "$layer_size" >"$work/manifest"
manifest=$(sha "$work/manifest")
manifest_size=$(size "$work/manifest")
mv "$work/manifest" "$blobs/$manifest"

case $repo in
*/*) full="$repo:$tag" ;;
*) full="docker.io/library/$repo:$tag" ;;
esac
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":%s,"org.opencontainers.image.ref.name":%s}}]}' \
	"$manifest" "$manifest_size" "$(jstr "$full")" "$(jstr "$tag")" >"$work/img/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$work/img/oci-layout"
printf '[{"Config":"blobs/sha256/%s","RepoTags":[%s],"Layers":["blobs/sha256/%s"]}]' \
	"$config" "$(jstr "$name")" "$layer" >"$work/img/manifest.json"

(cd "$work/img" && find . -mindepth 1 | sed 's,^\./,,' | LC_ALL=C sort) >"$work/list"
tar -C "$work/img" --format=gnu --no-recursion --numeric-owner --owner=0 --group=0 \
	--mtime=@0 --mode='u+rw,go+r,go-w' -cf "$work/out.tar" -T "$work/list"
mkdir -p "$(dirname "$out")"
mv "$work/out.tar" "$out"
echo "$out"
