#!/bin/sh
# Lifecycle benchmark: keel vs runc vs crun, side by side in one run.
#
# usage: hack/bench-lifecycle.sh [RUNS]      (default 30 runs per case)
#
# Each case is a busybox bundle running /bin/true with terminal false:
#   base      runc spec's defaults without a network namespace
#   netns     base + a new network namespace (runc spec's default)
#   seccomp   base + Docker's default seccomp profile
#   limits    base + memory (256 MiB) and pids (128) limits
# Rows: create + start + wait-for-stopped + delete for every case, `run` in
# the foreground for base, and the runtime's peak RSS during `run`.
# crun refuses this machine's hybrid cgroups, so every runtime runs in the
# same private mount namespace with /sys/fs/cgroup/unified unmounted
# (../shared/notes/machine-and-engines.md): all see the same view and pay
# the same wrapper cost. Prints a markdown table with ratios to keel.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
ws=$(dirname "$here")
runs=${1:-30}
keel=${KEEL_BIN:-$ws/target/release/keel}
runc=${RUNC_BIN:-$(command -v runc)}
crun=${CRUN_BIN:-$(command -v crun || true)}

runtimes() { echo "keel $keel"; echo "runc $runc"; [ -z "$crun" ] || echo "crun $crun"; }
[ -x "$keel" ] || { echo "bench: $keel missing: cargo build --release" >&2; exit 1; }
work=$(mktemp -d /tmp/keel-bench.XXXXXX)
# On exit (also Ctrl-C): force-delete any container a runtime still lists
# (an interrupted lifecycle), then remove the work dir.
cleanup() {
	set +e
	for spec in $(runtimes | tr ' ' ':'); do
		name=${spec%%:*} bin=${spec#*:}
		[ -d "$work/root-$name" ] || continue
		for id in $("$bin" --root "$work/root-$name" list -q 2>/dev/null); do
			unshare -m --propagation slave sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$@"' wrap \
				"$bin" --root "$work/root-$name" delete --force "$id" >/dev/null 2>&1
		done
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Bundles: one rootfs, one config per case.
"$here/mkbundle.sh" "$work/base" /bin/true >/dev/null
for case in netns seccomp limits; do
	mkdir -p "$work/$case"
done
python3 - "$work" "$ws/runtime/tests/data/seccomp-docker-default.json" <<'PY'
import json, sys
work, profile = sys.argv[1], sys.argv[2]
base = json.load(open(f"{work}/base/config.json"))
# One rootfs for every case, by absolute path (runc refuses a symlinked root).
base["root"]["path"] = f"{work}/base/rootfs"
with_net = json.loads(json.dumps(base))
base["linux"]["namespaces"] = [n for n in base["linux"]["namespaces"] if n["type"] != "network"]
json.dump(base, open(f"{work}/base/config.json", "w"))
json.dump(with_net, open(f"{work}/netns/config.json", "w"))
sec = json.loads(json.dumps(base))
sec["linux"]["seccomp"] = json.load(open(profile))
json.dump(sec, open(f"{work}/seccomp/config.json", "w"))
lim = json.loads(json.dumps(base))
lim["linux"].setdefault("resources", {})
lim["linux"]["resources"]["memory"] = {"limit": 268435456}
lim["linux"]["resources"]["pids"] = {"limit": 128}
json.dump(lim, open(f"{work}/limits/config.json", "w"))
PY

names=$(runtimes | cut -d' ' -f1 | tr '\n' ' ')

echo "lifecycle benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $runs runs per case, $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '| case (median; ratio to keel) |'
for n in $names; do printf ' %s |' "$n"; done
printf '\n|---|'
for n in $names; do printf -- '---|'; done
echo

row() { # MODE CASE LABEL
	mode=$1 case=$2 label=$3
	set --
	for spec in $(runtimes | tr ' ' ':'); do
		name=${spec%%:*} bin=${spec#*:}
		mkdir -p "$work/root-$name"
		set -- "$@" "unshare -m --propagation slave sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec sh $here/bench/lifecycle-once.sh $mode $bin $work/root-$name $work/$case'"
	done
	hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/out.json" "$@" >/dev/null
	python3 - "$work/out.json" "$label" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))["results"]
base = data[0]["median"]
print(f"| {sys.argv[2]} | " + " | ".join(f"{r['median']*1000:.1f} ms (x{r['median']/base:.2f})" for r in data) + " |")
PY
}

row full base "create+start+wait+delete"
row run base "run (foreground)"
row full netns "lifecycle, new network namespace"
row full seccomp "lifecycle, Docker's default seccomp profile"
row full limits "lifecycle, memory and pids limits"

# Peak RSS of the runtime process during a foreground run: GNU time's %M is
# the largest of the runtime and what it waits for (/bin/true is tiny).
printf '| peak RSS (run) |'
base=""
for spec in $(runtimes | tr ' ' ':'); do
	name=${spec%%:*} bin=${spec#*:}
	best=""
	for i in 1 2 3 4 5; do
		kb=$(unshare -m --propagation slave sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$@"' wrap \
			/usr/bin/time -f %M "$bin" --root "$work/root-$name" run --bundle "$work/base" "rss$i" 2>&1 >/dev/null | tail -1)
		if [ -z "$best" ] || [ "$kb" -lt "$best" ]; then best=$kb; fi
	done
	[ -n "$base" ] || base=$best
	printf ' %s |' "$(python3 -c "print(f'{$best/1024:.1f} MB (x{$best/$base:.2f})')")"
done
echo
echo
printf 'binary size: keel %s, runc %s%s\n' "$(du -h "$keel" | cut -f1)" "$(du -hL "$runc" | cut -f1)" "${crun:+, crun $(du -hL "$crun" | cut -f1)}"
