#!/bin/sh
# Make the busybox rootfs template used by keel's tests and examples.
#
# usage: hack/mkrootfs.sh [DIR]      (default: <workspace>/hack/out/rootfs)
#
# The template holds Debian's busybox-static as /bin/busybox, a symlink for
# every applet (`busybox --list-full`), /etc/passwd and /etc/group with root,
# nobody (65534) and keel (1000), and the empty dirs proc sys dev tmp etc.
# It is idempotent: when DIR.stamp matches the busybox binary, nothing
# is redone. It prints the template's path.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/out/rootfs"}
busybox=${BUSYBOX:-/bin/busybox}

if [ ! -x "$busybox" ]; then
	echo "mkrootfs: $busybox not found: apt-get install busybox-static" >&2
	exit 1
fi
if ! file_out=$(LC_ALL=C "$busybox" --list-full 2>/dev/null); then
	echo "mkrootfs: $busybox --list-full failed" >&2
	exit 1
fi

stamp="$out.stamp"
want=$(cksum <"$busybox" | cut -d' ' -f1)-v1
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	echo "$out"
	exit 0
fi

tmp="$out.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT

chmod 0755 "$tmp"
for d in bin sbin usr usr/bin usr/sbin etc proc sys dev tmp root home home/keel var run; do
	mkdir -p "$tmp/$d"
	chmod 0755 "$tmp/$d"
done
chmod 1777 "$tmp/tmp"
chmod 0700 "$tmp/root"
chown 1000:1000 "$tmp/home/keel"

cp "$busybox" "$tmp/bin/busybox"
chmod 0755 "$tmp/bin/busybox"

echo "$file_out" | while IFS= read -r applet; do
	[ -n "$applet" ] || continue
	[ "$applet" = "bin/busybox" ] && continue
	dir=$(dirname "$applet")
	mkdir -p "$tmp/$dir"
	[ -e "$tmp/$applet" ] || [ -L "$tmp/$applet" ] || ln -s /bin/busybox "$tmp/$applet"
done

cat >"$tmp/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
keel:x:1000:1000:keel:/home/keel:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$tmp/etc/group" <<'GROUP'
root:x:0:
tty:x:5:
keel:x:1000:
nogroup:x:65534:
GROUP
chmod 0644 "$tmp/etc/passwd" "$tmp/etc/group"

rm -rf "$out"
mkdir -p "$(dirname "$out")"
mv "$tmp" "$out"
trap - EXIT
echo "$want" >"$stamp"
echo "$out"
