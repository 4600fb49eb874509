#!/bin/bash
# hoist vs buildah 1.28 vs docker 20.10's legacy builder, side by side in
# one run, with hyperfine. Prints a markdown table of means (± stddev) and
# the ratios hoist/buildah and hoist/docker. Nothing is gated on time.
#
# usage: hack/bench-hoist.sh [--quick] [--runs N] [--only LIST] [--out FILE] [--keep]
#
#   --quick      smaller inputs (64 MiB in 4 files, 5000 small files) and 3 runs
#   --runs N     hyperfine runs per command (default 5; cold 1 GiB builds use
#                min(N, 3))
#   --only LIST  builders to run, comma-separated: hoist,buildah,docker
#                (default all three; a builder that cannot run is skipped with
#                the reason printed)
#   --out FILE   also write the table to FILE
#   --keep       keep the work dir (printed) instead of removing it
#
# Environment: HOIST (the binary; default target/release/hoist, built with
# `cargo build --release -p hoist` when missing), TMPDIR (where the work dir
# goes: it needs ~3 GiB free, ~0.3 GiB with --quick).
#
# The cases, each for every builder, all FROM the busybox image of
# hack/engines/mkimage.sh (loaded into each builder's private store):
#   big      COPY of 1 GiB (16 x 64 MiB random files): cold (--no-cache)
#            build, then a no-change rebuild
#   many     COPY of 50k small files in 100 dirs: cold build, no-change rebuild
#   small    FROM busybox, COPY of a few files, CMD: no-change rebuild
#            (hoist's target: under 50 ms)
#   hashing  hoist's cold --no-cache build of `big` with uncompressed layers
#            vs `find | xargs sha256sum` over the same files
#
# hoist compresses layers with gzip by default; buildah and docker keep
# them uncompressed in their stores, so the big cold case also shows hoist
# with --compression uncompressed.
#
# Everything (stores, a private dockerd, contexts) lives in one work dir;
# dockerd is stopped by PID and the dir unmounted and removed on exit,
# also on Ctrl-C.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
ws=$(dirname "$here")

quick=0
runs=5
only="hoist,buildah,docker"
out=""
keep=0
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 runs=3 ;;
	--runs) runs=$2; shift ;;
	--only) only=$2; shift ;;
	--out) out=$2; shift ;;
	--keep) keep=1 ;;
	-h | --help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench-hoist: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
case $runs in '' | *[!0-9]* | 0) echo "bench-hoist: --runs wants a positive number" >&2; exit 2 ;; esac
cold_runs=$((runs < 3 ? runs : 3))

if [ "$(id -u)" != 0 ]; then
	echo "bench-hoist: needs root (buildah and dockerd stores)" >&2
	exit 1
fi
for p in hyperfine python3 sha256sum; do
	command -v "$p" >/dev/null || { echo "bench-hoist: $p not found: run hack/deps.sh" >&2; exit 1; }
done

want() { case ",$only," in *",$1,"*) return 0 ;; esac; return 1; }
note() { printf '%s\n' "bench-hoist: $*" >&2; }

hoist=${HOIST:-$ws/target/release/hoist}
if want hoist && [ ! -x "$hoist" ] && [ -z "${HOIST:-}" ]; then
	note "building $hoist"
	(cd "$ws" && cargo build --release -p hoist --bin hoist) >&2
fi
if want hoist && ! "$hoist" --help 2>/dev/null | grep -q '^ *build'; then
	echo "bench-hoist: $hoist has no build command" >&2
	exit 1
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/hoist-bench.XXXXXX")
chmod 0711 "$W"
dockerd_pid=""
# Host paths dockerd creates outside its dirs: removed at exit when they
# were not there before (children before parents).
host_paths="/etc/docker/key.json /run/docker/plugins /run/docker /run/containerd/s /run/containerd"
new_paths=""
for p in $host_paths; do
	[ -e "$p" ] || new_paths="$new_paths $p"
done

# Stop what this script started, by PID; unmount and remove the work dir.
cleanup() {
	set +e
	if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
		kill -TERM "$dockerd_pid"
		for _ in $(seq 200); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$dockerd_pid" 2>/dev/null && kill -KILL "$dockerd_pid"
	fi
	# dockerd's containerd and shims name the work dir in their command line.
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		[ "$pid" = $$ ] && continue
		tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF "$W" && kill -KILL "$pid" 2>/dev/null
	done
	if want buildah; then
		buildah_cmd rm --all >/dev/null 2>&1
		buildah_cmd umount --all >/dev/null 2>&1
	fi
	for _ in 1 2 3; do
		mounts=$(awk -v w="$W" '$5 == w || index($5, w "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r)
		[ -z "$mounts" ] && break
		for m in $mounts; do umount -l "$m" 2>/dev/null; done
	done
	for p in $new_paths; do
		if [ -d "$p" ]; then rmdir "$p" 2>/dev/null; else rm -f "$p"; fi
	done
	if [ "$keep" = 1 ]; then
		note "kept $W"
	else
		rm -rf "$W"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

buildah_cmd() {
	buildah --root "$W/buildah/root" --runroot "$W/buildah/run" --storage-driver overlay "$@"
}
docker_cmd() {
	DOCKER_CONFIG="$W/docker/client" /usr/bin/docker -H "unix://$W/docker/docker.sock" "$@"
}

# --- builders ---------------------------------------------------------------

"$here/engines/mkimage.sh" "$W/busybox.tar" busybox:latest sh >/dev/null

if want hoist; then
	"$hoist" --root "$W/hoist" load -i "$W/busybox.tar" >/dev/null
fi
if want buildah; then
	if ! command -v buildah >/dev/null; then
		note "SKIP buildah: not installed (hack/deps.sh)"
		only=$(echo ",$only," | sed 's/,buildah,/,/; s/^,//; s/,$//')
	else
		mkdir -p "$W/buildah"
		buildah_cmd pull -q "docker-archive:$W/busybox.tar" >/dev/null
	fi
fi
if want docker; then
	if [ ! -x /usr/sbin/dockerd ] || [ ! -x /usr/bin/docker ]; then
		note "SKIP docker: /usr/sbin/dockerd or /usr/bin/docker missing (hack/deps.sh)"
		only=$(echo ",$only," | sed 's/,docker,/,/; s/^,//; s/,$//')
	else
		mkdir -p "$W/docker"
		/usr/sbin/dockerd --data-root "$W/docker/data" --exec-root "$W/docker/exec" \
			--pidfile "$W/docker/docker.pid" -H "unix://$W/docker/docker.sock" \
			--iptables=false --ip6tables=false --bridge=none --ip-masq=false \
			>"$W/docker/dockerd.log" 2>&1 &
		dockerd_pid=$!
		up=0
		for _ in $(seq 600); do
			if ! kill -0 "$dockerd_pid" 2>/dev/null; then break; fi
			if docker_cmd version >/dev/null 2>&1; then up=1; break; fi
			sleep 0.1
		done
		if [ "$up" = 1 ]; then
			docker_cmd load -q -i "$W/busybox.tar" >/dev/null
		else
			note "SKIP docker: dockerd did not start: $(tail -3 "$W/docker/dockerd.log" | tr '\n' ' ')"
			only=$(echo ",$only," | sed 's/,docker,/,/; s/^,//; s/,$//')
		fi
	fi
fi
[ -n "$only" ] || { echo "bench-hoist: no builder can run" >&2; exit 1; }

# The build command of builder $1 for context $2 (tag $3), extra flags after.
build_cmd() {
	b=$1 ctx=$2 tag=$3
	shift 3
	case $b in
	hoist) echo "$hoist --root $W/hoist build -q -t $tag $* $ctx" ;;
	buildah) echo "buildah --root $W/buildah/root --runroot $W/buildah/run --storage-driver overlay bud -q --layers --pull=never --isolation chroot -t $tag $* $ctx" ;;
	docker) echo "env DOCKER_BUILDKIT=0 DOCKER_CONFIG=$W/docker/client /usr/bin/docker -H unix://$W/docker/docker.sock build -q -t $tag $* $ctx" ;;
	esac
}

# --- inputs -----------------------------------------------------------------

if [ "$quick" = 1 ]; then
	big_n=4 big_mib=16 many_n=5000
else
	big_n=16 big_mib=64 many_n=50000
fi
big_label="$((big_n * big_mib)) MiB ($big_n x $big_mib MiB)"
many_label="$many_n small files"

mkctx() { mkdir -p "$1"; printf 'FROM busybox:latest\nCOPY %s\nCMD ["sh"]\n' "$2" >"$1/Dockerfile"; }

note "writing the inputs in $W"
mkctx "$W/big" "data/ /data/"
mkdir -p "$W/big/data"
for i in $(seq "$big_n"); do
	head -c "$((big_mib * 1024 * 1024))" /dev/urandom >"$W/big/data/blob-$i"
done
mkctx "$W/many" "data/ /data/"
python3 - "$W/many/data" "$many_n" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(5)
for i in range(n):
    d = os.path.join(root, "d%03d" % (i % 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%06d.txt" % i), "wb") as f:
        f.write(rng.randbytes(rng.randint(16, 2048)))
PY
mkctx "$W/small" "app/ /app/"
mkdir -p "$W/small/app"
printf 'hello\n' >"$W/small/app/hello.txt"
printf '#!/bin/sh\necho hi\n' >"$W/small/app/run.sh"
chmod 0755 "$W/small/app/run.sh"
printf '{"k": 1}\n' >"$W/small/app/config.json"
sync

# --- measurements -----------------------------------------------------------

results="$W/results.tsv" # case, builder, mean s, stddev s
: >"$results"

# measure CASE BUILDER RUNS WARMUP CMD [PREPARE]
measure() {
	c=$1 b=$2 n=$3 w=$4 cmd=$5 prep=${6:-}
	j="$W/hf-$(echo "$c-$b" | tr -c 'a-zA-Z0-9\n' '_').json"
	note "$c / $b: $cmd"
	set -- --runs "$n" --warmup "$w" --export-json "$j" --style basic
	[ -n "$prep" ] && set -- "$@" --prepare "$prep"
	if hyperfine "$@" "$cmd" >"$j.log" 2>&1; then
		python3 - "$j" "$c" "$b" >>"$results" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print("%s\t%s\t%.6f\t%.6f" % (sys.argv[2], sys.argv[3], r["mean"], r.get("stddev") or 0.0))
PY
	else
		note "FAILED ($c / $b), its output:"
		sed 's/^/    /' "$j.log" >&2
		printf '%s\t%s\tFAILED\t\n' "$c" "$b" >>"$results"
	fi
}

for b in hoist buildah docker; do
	want "$b" || continue
	measure "$big_label COPY: cold (--no-cache)" "$b" "$cold_runs" 0 "$(build_cmd "$b" "$W/big" bench-big --no-cache)"
	measure "$big_label COPY: no-change rebuild" "$b" "$runs" 1 "$(build_cmd "$b" "$W/big" bench-big)"
	measure "$many_label COPY: cold (--no-cache)" "$b" "$cold_runs" 0 "$(build_cmd "$b" "$W/many" bench-many --no-cache)"
	measure "$many_label COPY: no-change rebuild" "$b" "$runs" 1 "$(build_cmd "$b" "$W/many" bench-many)"
	measure "small context: no-change rebuild" "$b" "$runs" 2 "$(build_cmd "$b" "$W/small" bench-small)"
done
if want hoist; then
	measure "$big_label COPY: cold, hoist --compression uncompressed" hoist "$cold_runs" 0 \
		"$(build_cmd hoist "$W/big" bench-big-raw --no-cache --compression uncompressed)"
	measure "hashing $big_label" sha256sum "$cold_runs" 1 \
		"sh -c 'cd $W/big/data && find . -type f -print0 | xargs -0 sha256sum >/dev/null'"
fi

# --- the table --------------------------------------------------------------

table=$(python3 - "$results" "$quick" <<'PY'
import sys
rows, quick = sys.argv[1], sys.argv[2] == "1"
cases, data = [], {}
for line in open(rows):
    c, b, mean, sd = (line.rstrip("\n").split("\t") + [""])[:4]
    if c not in cases:
        cases.append(c)
    data[(c, b)] = None if mean == "FAILED" else (float(mean), float(sd or 0))
def fmt(v):
    if v is None:
        return "failed"
    m, s = v
    return "%.0f ± %.0f ms" % (m * 1000, s * 1000) if m < 10 else "%.2f ± %.2f s" % (m, s)
def ratio(a, b):
    if not a or not b:
        return "–"
    r = a[0] / b[0]
    return "%.2f" % r if r >= 0.1 else "%.3f" % r
print("| case | hoist | buildah | docker (legacy) | hoist/buildah | hoist/docker |")
print("|---|---|---|---|---|---|")
for c in cases:
    if c.startswith("hashing"):
        continue
    h = data.get((c, "hoist"))
    bu = data.get((c, "buildah"))
    d = data.get((c, "docker"))
    cell = lambda k, v: fmt(v) if (c, k) in data else "–"
    if "uncompressed" in c:
        # buildah and docker keep layers uncompressed: compare with their cold build.
        base = c.split(", hoist")[0].replace("cold", "cold (--no-cache)")
        bu, d = data.get((base, "buildah")), data.get((base, "docker"))
        print("| %s | %s | %s | %s | %s | %s |" % (c, fmt(h), fmt(bu) if bu else "–", fmt(d) if d else "–", ratio(h, bu), ratio(h, d)))
        continue
    note = ""
    if c.startswith("small") and h:
        note = " (target < 50 ms: %s)" % ("met" if h[0] < 0.05 else "not met")
    print("| %s | %s%s | %s | %s | %s | %s |" % (c, cell("hoist", h), note, cell("buildah", bu), cell("docker", d), ratio(h, bu), ratio(h, d)))
hashing = [c for c in cases if c.startswith("hashing")]
raw = [c for c in cases if "uncompressed" in c]
if hashing and raw:
    c = hashing[0]
    h, s = data.get((raw[0], "hoist")), data.get((c, "sha256sum"))
    size = c[len("hashing "):].split(" MiB")[0]
    print()
    print("| hashing | time | throughput |")
    print("|---|---|---|")
    for name, v in (("hoist build --no-cache --compression uncompressed", h), ("find \\| xargs sha256sum", s)):
        tp = "%.0f MiB/s" % (float(size) / v[0]) if v else "–"
        print("| %s | %s | %s |" % (name, fmt(v), tp))
    print("| ratio hoist/sha256sum | %s | |" % ratio(h, s))
PY
)

{
	echo
	echo "## hoist vs buildah vs docker ($(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r)$([ "$quick" = 1 ] && echo ', --quick'))"
	echo
	echo "hoist: $("$hoist" --version 2>/dev/null || echo "$hoist"); $(buildah --version 2>/dev/null | cut -d' ' -f1-3); $(/usr/bin/docker --version 2>/dev/null | cut -d, -f1) (DOCKER_BUILDKIT=0). Means of hyperfine runs ($runs; cold 1 GiB-type builds $cold_runs)."
	echo
	echo "$table"
} | tee ${out:+"$out"}
