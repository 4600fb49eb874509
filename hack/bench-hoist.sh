#!/bin/bash
# hoist vs buildah 1.28 vs docker 20.10's builders (the legacy builder,
# DOCKER_BUILDKIT=0, and BuildKit, DOCKER_BUILDKIT=1), side by side in one
# run, with hyperfine. Prints a markdown table of means (± stddev), the
# ratios of hoist to each, and hoist's targets (met or not). Nothing is
# gated on time.
#
# usage: hack/bench-hoist.sh [--quick] [--runs N] [--cases LIST] [--only LIST]
#                            [--out FILE] [--keep]
#
#   --quick      smaller COPY inputs (64 MiB in 4 files, 5000 small files)
#                and 3 runs
#   --runs N     hyperfine runs per command (default 5; cold builds use
#                min(N, 3))
#   --cases LIST case groups, comma-separated: copy,run,apt (default all)
#   --only LIST  builders to run, comma-separated: hoist,buildah,docker,buildkit
#                (default all four; a builder that cannot run is skipped with
#                the reason printed and written under the table)
#   --out FILE   also write the table to FILE
#   --keep       keep the work dir (printed) instead of removing it
#
# Environment: HOIST (the binary; default target/release/hoist, built with
# `cargo build --release -p hoist -p keel-runtime -p keel-shim` when
# missing: RUN steps need keel-shim and keel next to it), TMPDIR (where the
# work dir goes: it needs ~3.5 GiB free, ~0.8 GiB with --quick).
#
# The cases, each for every builder. "cold" is a --no-cache build with the
# base image already loaded (for run and apt after one unmeasured warm-up
# build: hoist unpacks a base on its first use, buildah and docker when
# loading it); "cached" is a no-change rebuild.
#   copy (FROM the busybox image of hack/engines/mkimage.sh):
#     big      COPY of 1 GiB (16 x 64 MiB random files): cold, cached
#     many     COPY of 50k small files in 100 dirs: cold, cached
#     small    FROM busybox, COPY of a few files, CMD: cached
#              (hoist's target: under 50 ms)
#     hashing  hoist's cold build of `big` with uncompressed layers vs
#              `find | xargs sha256sum` over the same files
#   run: the 4-line FROM busybox / RUN / COPY / CMD Dockerfile: cold and
#        cached (targets: cold at most half of BuildKit's, cached under 50 ms)
#   apt: FROM debian:bookworm (debootstrap --variant=minbase, made by
#        hack/mkbase-debian.sh and cached as hack/out/debian-bookworm.v2.tar),
#        RUN apt-get update && apt-get install -y --no-install-recommends
#        curl, against the host network (docker's builders get --network
#        host, hoist and buildah chroot use it by default): cold, cached.
#        Cold times are mostly the Debian mirror and dpkg: the case also
#        times the RUN command alone in a bare runc container on a fresh
#        overlay of the unpacked base (the floor no builder can beat), and
#        prints each builder's time above it.
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
only="hoist,buildah,docker,buildkit"
cases="copy,run,apt"
out=""
keep=0
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 runs=3 ;;
	--runs) runs=$2; shift ;;
	--only) only=$2; shift ;;
	--cases) cases=$2; shift ;;
	--out) out=$2; shift ;;
	--keep) keep=1 ;;
	-h | --help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench-hoist: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
case $runs in '' | *[!0-9]* | 0) echo "bench-hoist: --runs wants a positive number" >&2; exit 2 ;; esac
cold_runs=$((runs < 3 ? runs : 3))
for c in $(echo "$cases" | tr ',' ' '); do
	case $c in copy | run | apt) ;; *) echo "bench-hoist: unknown case $c (copy, run, apt)" >&2; exit 2 ;; esac
done
for b in $(echo "$only" | tr ',' ' '); do
	case $b in hoist | buildah | docker | buildkit) ;; *) echo "bench-hoist: unknown builder $b" >&2; exit 2 ;; esac
done

if [ "$(id -u)" != 0 ]; then
	echo "bench-hoist: needs root (buildah and dockerd stores)" >&2
	exit 1
fi
for p in hyperfine python3 sha256sum; do
	command -v "$p" >/dev/null || { echo "bench-hoist: $p not found: run hack/deps.sh" >&2; exit 1; }
done

want() { case ",$only," in *",$1,"*) return 0 ;; esac; return 1; }
want_case() { case ",$cases," in *",$1,"*) return 0 ;; esac; return 1; }
note() { printf '%s\n' "bench-hoist: $*" >&2; }
# skip BUILDER REASON: drop a builder; the reason goes under the table.
skipped=""
skip() {
	note "SKIP $1: $2"
	skipped="$skipped- $1 did not run: $2
"
	only=$(echo ",$only," | sed "s/,$1,/,/; s/^,//; s/,\$//")
}

hoist=${HOIST:-$ws/target/release/hoist}
if want hoist && [ -z "${HOIST:-}" ] && { [ ! -x "$hoist" ] || [ ! -x "$ws/target/release/keel-shim" ] || [ ! -x "$ws/target/release/keel" ]; }; then
	note "building hoist, keel-shim and keel (release)"
	(cd "$ws" && cargo build --release -p hoist -p keel-runtime -p keel-shim) >&2
fi
if want hoist && ! "$hoist" --help 2>/dev/null | grep -q '^ *build'; then
	echo "bench-hoist: $hoist has no build command" >&2
	exit 1
fi

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
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
	# What still names the work dir in its command line (an interrupted
	# hoist build and its keel-shim, buildah, dockerd's containerd and
	# shims): TERM first (hoist and keel-shim then delete their container),
	# KILL what is left.
	left=""
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		[ "$pid" = $$ ] && continue
		{ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF "$W" && left="$left $pid"
	done
	if [ -n "$left" ]; then
		kill -TERM $left 2>/dev/null
		for _ in $(seq 30); do
			alive=""
			for pid in $left; do kill -0 "$pid" 2>/dev/null && alive="$alive $pid"; done
			[ -z "$alive" ] && break
			sleep 0.1
		done
		for pid in $left; do kill -KILL "$pid" 2>/dev/null; done
	fi
	# A RUN container keel still lists (its shim was killed).
	keel_bin=$(dirname "$hoist")/keel
	if [ -x "$keel_bin" ] && [ -d "$W/hoist/runtime/keel" ]; then
		for id in $("$keel_bin" --root "$W/hoist/runtime/keel" list -q 2>/dev/null); do
			"$keel_bin" --root "$W/hoist/runtime/keel" delete --force "$id" >/dev/null 2>&1
		done
	fi
	# The apt floor's runc container (runc run was stopped before it deleted it).
	if [ -d "$W/floor/state" ]; then
		for id in $(runc --root "$W/floor/state" list -q 2>/dev/null); do
			runc --root "$W/floor/state" delete --force "$id" >/dev/null 2>&1
		done
	fi
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
debian_tar="$here/out/debian-bookworm.v2.tar"
if want_case apt && [ ! -s "$debian_tar" ]; then
	# debootstrap (a few minutes, once): hack/mkbase-debian.sh caches it.
	note "making $debian_tar with hack/mkbase-debian.sh"
	HOIST=$hoist "$here/mkbase-debian.sh" "$W/hoist" >&2 || {
		echo "bench-hoist: no debian base: hack/mkbase-debian.sh failed" >&2
		exit 1
	}
fi
# load TARBALL into every builder's store
images="$W/busybox.tar"
want_case apt && images="$images $debian_tar"

if want hoist; then
	for t in $images; do "$hoist" --root "$W/hoist" load -i "$t" >/dev/null; done
fi
if want buildah; then
	if ! command -v buildah >/dev/null; then
		skip buildah "not installed (hack/deps.sh)"
	else
		mkdir -p "$W/buildah"
		for t in $images; do buildah_cmd pull -q "docker-archive:$t" >/dev/null; done
	fi
fi
if want docker || want buildkit; then
	if [ ! -x /usr/sbin/dockerd ] || [ ! -x /usr/bin/docker ]; then
		want docker && skip docker "/usr/sbin/dockerd or /usr/bin/docker missing (hack/deps.sh)"
		want buildkit && skip buildkit "/usr/sbin/dockerd or /usr/bin/docker missing (hack/deps.sh)"
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
			for t in $images; do docker_cmd load -q -i "$t" >/dev/null; done
		else
			why="dockerd did not start: $(tail -3 "$W/docker/dockerd.log" | tr '\n' ' ')"
			want docker && skip docker "$why"
			want buildkit && skip buildkit "$why"
		fi
	fi
fi
# BuildKit (built into dockerd 20.10) must build offline from the locally
# loaded base: a RUN on busybox with no registry. If it insists on pulling,
# say why.
if want buildkit; then
	mkdir -p "$W/probe"
	printf 'FROM busybox:latest\nRUN true\n' >"$W/probe/Dockerfile"
	if ! DOCKER_BUILDKIT=1 DOCKER_CONFIG="$W/docker/client" /usr/bin/docker -H "unix://$W/docker/docker.sock" \
		build -q --network host -t bench-probe "$W/probe" >"$W/probe/log" 2>&1; then
		skip buildkit "a FROM busybox:latest + RUN probe failed: $(grep -v '^ *$' "$W/probe/log" | tail -3 | tr '\n' ' ' | cut -c1-400)"
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
	buildkit) echo "env DOCKER_BUILDKIT=1 DOCKER_CONFIG=$W/docker/client /usr/bin/docker -H unix://$W/docker/docker.sock build -q -t $tag $* $ctx" ;;
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
if want_case copy; then
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
fi
# run: the 4-line FROM/RUN/COPY/CMD Dockerfile of the issue's anchors.
mkdir -p "$W/run"
cat >"$W/run/Dockerfile" <<'EOF'
FROM busybox:latest
RUN mkdir -p /app && echo built >/app/stamp
COPY app.sh /app/
CMD ["/app/app.sh"]
EOF
printf '#!/bin/sh\necho hello from app\n' >"$W/run/app.sh"
chmod 0755 "$W/run/app.sh"
# apt: a Debian build that installs a package from the mirror.
mkdir -p "$W/apt"
cat >"$W/apt/Dockerfile" <<'EOF'
FROM debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*
COPY fetch.sh /usr/local/bin/
CMD ["fetch.sh"]
EOF
printf '#!/bin/sh\nexec curl -fsS "$@"\n' >"$W/apt/fetch.sh"
chmod 0755 "$W/apt/fetch.sh"
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
	# In the background and waited for, so a TERM to this script runs the
	# cleanup at once (it stops hyperfine and the build).
	hyperfine "$@" "$cmd" >"$j.log" 2>&1 &
	hf_pid=$!
	if wait "$hf_pid"; then
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

# Docker's builders have no bridge here (dockerd --bridge=none), so their
# RUN steps use the host network, as hoist's and buildah chroot's do.
net_flag() { case $1 in docker | buildkit) echo "--network host" ;; esac; }

if want_case copy; then
	for b in hoist buildah docker buildkit; do
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
fi
# run_builds LABEL CONTEXT TAG: a RUN case, cold and cached, for every
# builder. Cold has one unmeasured --no-cache warm-up first (hoist unpacks
# a base on its first use; buildah and docker did that when loading it).
run_builds() {
	for b in hoist buildah docker buildkit; do
		want "$b" || continue
		measure "$1: cold (--no-cache)" "$b" "$cold_runs" 1 "$(build_cmd "$b" "$2" "$3" --no-cache $(net_flag "$b"))"
		measure "$1: no-change rebuild" "$b" "$runs" 1 "$(build_cmd "$b" "$2" "$3" $(net_flag "$b"))"
	done
}
if want_case run; then
	run_builds "FROM/RUN/COPY/CMD on busybox" "$W/run" bench-run
fi
if want_case apt; then
	run_builds "debian apt-get install curl" "$W/apt" bench-apt
	# The floor: the same RUN command alone, in a bare runc container on a
	# fresh overlay over the unpacked base (host network, the host's
	# resolv.conf): no builder, no snapshot, no diff, no layer. No builder
	# can run the step faster than this.
	if want hoist && command -v runc >/dev/null; then
		f=$W/floor
		mkdir -p "$f"
		"$hoist" --root "$W/hoist" unpack debian:bookworm "$f/base" >/dev/null
		python3 - "$f/base/config.json" "$f/merged" "$(sed -n 's/^RUN //p' "$W/apt/Dockerfile")" <<'PY'
import json, sys
p, root, cmd = sys.argv[1:4]
c = json.load(open(p))
c["root"] = {"path": root, "readonly": False}
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/sh", "-c", cmd]
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "network"]
c["mounts"].append({"destination": "/etc/resolv.conf", "type": "bind",
                    "source": "/etc/resolv.conf", "options": ["rbind", "ro"]})
json.dump(c, open(p, "w"))
PY
		prep="sh -c 'umount $f/merged 2>/dev/null; rm -rf $f/upper $f/work; mkdir -p $f/upper $f/work $f/merged && mount -t overlay overlay -o lowerdir=$f/base/rootfs,upperdir=$f/upper,workdir=$f/work $f/merged'"
		measure "debian apt-get install curl: cold (--no-cache)" floor "$cold_runs" 1 \
			"runc --root $f/state run --bundle $f/base bench-floor-$$" "$prep"
	fi
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
    return "%.0f ± %.0f ms" % (m * 1000, s * 1000) if m < 1 else "%.2f ± %.2f s" % (m, s)
def ratio(a, b):
    if not a or not b:
        return "–"
    r = a[0] / b[0]
    return "%.2f" % r if r >= 0.1 else "%.3f" % r
others = ("buildah", "docker", "buildkit")
print("| case | hoist | buildah | docker (legacy) | BuildKit | hoist/buildah | hoist/docker | hoist/BuildKit |")
print("|---|---|---|---|---|---|---|---|")
for c in cases:
    if c.startswith("hashing"):
        continue
    h = data.get((c, "hoist"))
    if "uncompressed" in c:
        # buildah and docker keep layers uncompressed: compare with their cold build.
        base = c.split(", hoist")[0].replace("cold", "cold (--no-cache)")
        vs = [data.get((base, b)) for b in others]
        print("| %s | %s | %s | %s |" % (c, fmt(h), " | ".join(fmt(v) if v else "–" for v in vs), " | ".join(ratio(h, v) for v in vs)))
        continue
    vs = [data.get((c, b)) for b in others]
    cells = [fmt(v) if (c, b) in data else "–" for b, v in zip(others, vs)]
    hc = fmt(h) if (c, "hoist") in data else "–"
    print("| %s | %s | %s | %s |" % (c, hc, " | ".join(cells), " | ".join(ratio(h, v) for v in vs)))
# hoist's targets: cached (no-change) rebuilds under 50 ms; RUN builds cold
# at most half of BuildKit's time.
targets = []
for c in cases:
    h = data.get((c, "hoist"))
    if h is None:
        continue
    if c.startswith(("small", "FROM/RUN", "debian")) and "no-change" in c:
        targets.append((c, "< 50 ms", fmt(h), "–", h[0] < 0.05))
    if c.startswith(("FROM/RUN", "debian")) and "cold" in c:
        bk = data.get((c, "buildkit"))
        if bk:
            targets.append((c, "≤ ½ BuildKit", fmt(h), "%s (½: %.0f ms)" % (fmt(bk), bk[0] * 500), h[0] <= bk[0] / 2))
        else:
            targets.append((c, "≤ ½ BuildKit", fmt(h), "BuildKit did not run", None))
if targets:
    print()
    print("| hoist target | case | hoist | BuildKit | met |")
    print("|---|---|---|---|---|")
    for c, t, hv, bv, ok in targets:
        print("| %s | %s | %s | %s | %s |" % (t, c, hv, bv, "–" if ok is None else ("met" if ok else "**not met**")))
floors = [c for c in cases if (c, "floor") in data]
if floors:
    print()
    print("| cold build | time | above the floor | vs ½ BuildKit |")
    print("|---|---|---|---|")
    for c in floors:
        fl, bk = data.get((c, "floor")), data.get((c, "buildkit"))
        print("| %s: the RUN alone in a bare runc container (the floor) | %s | – | %s |" % (
            c, fmt(fl), ("%.2f" % (fl[0] / (bk[0] / 2))) if fl and bk else "–"))
        for b, name in (("hoist", "hoist"), ("buildah", "buildah"), ("docker", "docker (legacy)"), ("buildkit", "BuildKit")):
            v = data.get((c, b))
            if v and fl:
                print("| %s: %s | %s | +%.0f ms | %.2f |" % (c, name, fmt(v), (v[0] - fl[0]) * 1000,
                      v[0] / (bk[0] / 2) if bk else float("nan")))
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
	echo "## hoist vs buildah vs docker's builders ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -r), load average $load_start at start, $(cut -d' ' -f1-3 /proc/loadavg) at end$([ "$quick" = 1 ] && echo ', --quick'))"
	echo
	echo "hoist: $("$hoist" --version 2>/dev/null || echo "$hoist"); $(buildah --version 2>/dev/null | cut -d' ' -f1-3) (--isolation chroot); $(/usr/bin/docker --version 2>/dev/null | cut -d, -f1) (legacy: DOCKER_BUILDKIT=0; BuildKit: DOCKER_BUILDKIT=1). Cases: $cases. Means of hyperfine runs ($runs; cold builds $cold_runs)."
	echo
	echo "$table"
	if [ -n "$skipped" ]; then
		echo
		printf '%s' "$skipped"
	fi
} | tee ${out:+"$out"}
