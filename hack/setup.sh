#!/bin/sh
# The README's first command: install what is needed, build everything, and
# run the main job on a fresh Debian 12 machine, as root.
#
# Main job: load a busybox base image made from Debian's busybox-static into
# hoist's store; build hack/examples/words (multi-stage, with RUN steps run
# in containers through keel-shim and keel) and `hoist run` it; build
# hack/examples/hello (a static page served by busybox httpd), unpack it to
# a bundle, run it with keel, fetch the page, and stop it.
#
# usage: hack/setup.sh
set -eu

here=$(cd "$(dirname "$0")" && pwd)
ws=$(dirname "$here")
cd "$ws"

"$here/deps.sh"
# The workspace, plus the statically linked keel-shim we ship, side by
# side with keel and hoist in target/dist/bin (hack/build.sh).
dist=$("$here/build.sh")

keel="$dist/keel"
hoist="$dist/hoist"
out="$here/out"
export HOIST_ROOT="$out/hoist"
state="$out/state"
bundle="$out/hello-bundle"
id="hello-$$"
mkdir -p "$out"

echo "== hoist load: the busybox base image"
HOIST=$hoist "$here/mkbase.sh" "$HOIST_ROOT"

echo "== hoist build -t words hack/examples/words (RUN steps in keel containers)"
"$hoist" build -t words "$here/examples/words"
echo "== hoist run --rm words words-count"
"$hoist" run --rm words words-count

echo "== hoist build -t hello hack/examples/hello"
"$hoist" build -t hello "$here/examples/hello"

echo "== hoist unpack hello $bundle"
rm -rf "$bundle"
"$hoist" unpack hello "$bundle" >/dev/null
# Share the host's network so the page can be fetched from here (a new
# network namespace has only a loopback that is down).
python3 - "$bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "network"]
json.dump(c, open(p, "w"), indent=2)
PY

echo "== keel run -d hello (busybox httpd on 127.0.0.1:8080)"
cleanup() {
	"$keel" --root "$state" kill "$id" KILL 2>/dev/null || true
	"$keel" --root "$state" delete --force "$id" 2>/dev/null || true
}
trap cleanup EXIT
"$keel" --root "$state" run -d --bundle "$bundle" "$id" </dev/null >/dev/null 2>&1
"$keel" --root "$state" state "$id"
page=""
for _ in 1 2 3 4 5 6 7 8 9 10; do
	if page=$(busybox wget -q -O - http://127.0.0.1:8080/ 2>/dev/null); then
		break
	fi
	sleep 0.3
done
echo "== GET http://127.0.0.1:8080/"
echo "$page"
# httpd is pid 1 in its pid namespace and has no TERM handler, so the
# kernel ignores TERM; stop it the way docker stop does after its timeout.
"$keel" --root "$state" kill "$id" KILL
for _ in 1 2 3 4 5 6 7 8 9 10; do
	[ "$("$keel" --root "$state" state "$id" 2>/dev/null | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p')" = stopped ] && break
	sleep 0.2
done
"$keel" --root "$state" delete "$id"
trap - EXIT
case $page in
*"hello from keel"*) echo "== main job done: built with hoist, run with keel" ;;
*) echo "main job failed: the page was not served" >&2; exit 1 ;;
esac
