#!/bin/sh
# Lifecycle benchmark: keel vs runc vs crun, side by side in one run.
#
# usage: hack/bench-lifecycle.sh [RUNS]      (default 30 runs per case)
#
# Cases, on a busybox bundle running /bin/true with terminal false:
#   full  create + start + wait-for-stopped + delete
#   run   run in the foreground
#   rss   peak RSS of the runtime process during `run`
# crun refuses this machine's hybrid cgroups, so every runtime runs in the
# same private mount namespace with /sys/fs/cgroup/unified unmounted
# (../shared/notes/machine-and-engines.md): all three see the same view and
# pay the same wrapper cost. Prints a markdown table with ratios to keel.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
ws=$(dirname "$here")
runs=${1:-30}
keel=${KEEL_BIN:-$ws/target/release/keel}
runc=${RUNC_BIN:-$(command -v runc)}
crun=${CRUN_BIN:-$(command -v crun || true)}

[ -x "$keel" ] || { echo "bench: $keel missing: cargo build --release" >&2; exit 1; }
work=$(mktemp -d /tmp/keel-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$here/mkbundle.sh" "$work/bundle" /bin/true >/dev/null

wrap() { # run "$@" in a private mount namespace without the cgroup2 mount
	unshare -m --propagation slave sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null || true; exec "$@"' wrap "$@"
}

echo "# lifecycle benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $runs runs per case, $(nproc) cores"
echo
echo "| case (median; ratio to keel) | keel | runc${crun:+ | crun} |"
echo "|---|---|---${crun:+|---}|"
for mode in full run; do
	cmds=""
	names=""
	set -- keel "$keel" runc "$runc" ${crun:+crun "$crun"}
	while [ $# -gt 0 ]; do
		name=$1 bin=$2
		shift 2
		mkdir -p "$work/root-$name"
		names="$names $name"
		cmds="$cmds|unshare -m --propagation slave sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec sh $here/bench/lifecycle-once.sh $mode $bin $work/root-$name $work/bundle'"
	done
	# shellcheck disable=SC2086
	IFS='|'
	set -- $cmds
	unset IFS
	shift
	hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/$mode.json" "$@" >/dev/null 2>&1 ||
		hyperfine --warmup 3 --runs "$runs" --export-json "$work/$mode.json" "$@" >/dev/null
	python3 - "$work/$mode.json" "$mode" $names <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))["results"]
mode, names = sys.argv[2], sys.argv[3:]
label = {"full": "create+start+wait+delete", "run": "run (foreground)"}[mode]
base = data[0]["median"]
cells = [f"{r['median']*1000:.1f} ms (x{r['median']/base:.2f})" for r in data]
print(f"| {label} | " + " | ".join(cells) + " |")
PY
done

# Peak RSS of the runtime itself during a foreground run (GNU time's %M, the
# largest of the runtime and what it waits for; /bin/true is tiny).
rss_row="| peak RSS (run) |"
base=""
set -- keel "$keel" runc "$runc" ${crun:+crun "$crun"}
while [ $# -gt 0 ]; do
	name=$1 bin=$2
	shift 2
	best=""
	for i in 1 2 3 4 5; do
		kb=$(wrap /usr/bin/time -f %M "$bin" --root "$work/root-$name" run --bundle "$work/bundle" "rss$i" 2>&1 >/dev/null | tail -1)
		[ -z "$best" ] || [ "$kb" -lt "$best" ] && best=$kb
	done
	[ -n "$base" ] || base=$best
	rss_row="$rss_row $(python3 -c "print(f'{$best/1024:.1f} MB (x{$best/$base:.2f})')") |"
done
echo "$rss_row"
echo
printf 'binary size: keel %s, runc %s%s\n' "$(du -h "$keel" | cut -f1)" "$(du -hL "$runc" | cut -f1)" "${crun:+, crun $(du -hL "$crun" | cut -f1)}"
