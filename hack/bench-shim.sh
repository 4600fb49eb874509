#!/bin/sh
# Supervisor memory benchmark: what each supervisor costs while it watches
# one sleeping busybox container.
#
# usage: hack/bench-shim.sh            (as root; prints, never fails on numbers)
#
# Rows:
#   keel-shim + keel    the shipped build (hack/build.sh: target/dist/bin,
#                       glibc linked statically)
#   keel-shim + runc    the same binary with runc
#   3rd of 3 running    three keel-shims at once; the third one's figures
#   keel-shim dynamic   cargo's plain release build (shared glibc), for
#                       comparison: what the static link saves
#   conmon + runc       /usr/bin/conmon driven directly (create, then runc start)
#   containerd-shim-runc-v2   through a private containerd and `ctr run -d`
# Columns come from /proc/PID/smaps_rollup of the supervisor process: RSS,
# PSS (shared pages divided by their users), USS (private pages: what one
# more container really costs) and the thread count; ratios are RSS and PSS
# against keel-shim + keel. Files are synced first so freshly built
# binaries' page cache is clean (dirty page cache shows as Private_Dirty).
#
# Environment: CARGO_TARGET_DIR (default target/), SKIP_BUILD=1 to reuse
# the binaries, RUNC_BIN, CONMON_BIN, CONTAINERD_BIN, CTR_BIN.
# Everything runs under one temp dir, removed at the end; processes are
# stopped by pid.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
ws=$(dirname "$here")
target=${CARGO_TARGET_DIR:-$ws/target}
case $target in /*) ;; *) target=$ws/$target ;; esac
runc=${RUNC_BIN:-/usr/sbin/runc}
conmon=${CONMON_BIN:-$(command -v conmon || true)}
containerd=${CONTAINERD_BIN:-$(command -v containerd || true)}
ctr=${CTR_BIN:-$(command -v ctr || true)}

if [ "$(id -u)" != 0 ]; then
	echo "bench-shim: run as root (it runs containers)" >&2
	exit 1
fi
if [ "${SKIP_BUILD:-}" != 1 ]; then
	echo "building what we ship (hack/build.sh)..." >&2
	"$here/build.sh" >&2
fi
keel=$target/dist/bin/keel
shim=$target/dist/bin/keel-shim
shim_dynamic=$target/release/keel-shim
for b in "$keel" "$shim"; do
	[ -x "$b" ] || { echo "bench-shim: $b missing: run hack/build.sh" >&2; exit 1; }
done

work=$(mktemp -d /tmp/keel-bench-shim.XXXXXX)
pids=""
# On exit (also Ctrl-C): TERM the supervisors this script started (a
# keel-shim then deletes its container), force-delete what a runtime still
# lists under the work dir (conmon's, or after a SIGKILL), stop the private
# containerd's task, then SIGKILL leftovers by pid and remove the dir.
cleanup() {
	set +e
	for p in $pids; do kill -TERM "$p" 2>/dev/null; done
	sleep 0.5
	if [ -n "${C:-}" ] && [ -n "${cdp:-}" ] && kill -0 "$cdp" 2>/dev/null; then
		for t in $($C task ls -q 2>/dev/null); do
			$C task kill -s SIGKILL "$t" >/dev/null 2>&1
			sleep 0.2
			$C task rm -f "$t" >/dev/null 2>&1
			$C containers rm "$t" >/dev/null 2>&1
		done
	fi
	for r in "$work"/root-* "$work"/root3-* "$work"/conmon/root "$work"/ctd/runc/*; do
		[ -d "$r" ] || continue
		for rt in "$keel" "$runc"; do
			for id in $("$rt" --root "$r" list -q 2>/dev/null); do
				"$rt" --root "$r" delete --force "$id" >/dev/null 2>&1
			done
		done
	done
	for p in $pids; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$here/mkbundle.sh" "$work/bundle" sleep 1000 >/dev/null
sync

# stats LABEL PID: one table row from the supervisor's smaps_rollup.
rows=""
stats() {
	label=$1
	pid=$2
	sync
	sleep 1
	r=$(awk '/^Rss:/{r=$2} /^Pss:/{p=$2} /^Private_Clean:/{u+=$2} /^Private_Dirty:/{u+=$2} END{print r, p, u}' "/proc/$pid/smaps_rollup")
	t=$(awk '/^Threads:/{print $2}' "/proc/$pid/status")
	rows="$rows$label|$r $t
"
}

# wait_status RUNTIME ROOT ID STATUS
wait_status() {
	i=0
	while ! "$1" --root "$2" state "$3" 2>/dev/null | grep -q "\"status\": \"$4\""; do
		i=$((i + 1))
		[ $i -lt 500 ] || { echo "bench-shim: $3 never became $4" >&2; return 1; }
		sleep 0.02
	done
}
wait_running() { wait_status "$1" "$2" "$3" running; }

# shim_row LABEL SHIM RUNTIME
shim_row() {
	root=$work/root-$(basename "$3")-$$
	id=bench-shim-$$-$(basename "$3")
	mkdir -p "$root"
	"$2" run --runtime "$3" --runtime-root "$root" --bundle "$work/bundle" --grace 0.2 "$id" \
		</dev/null >"$work/$id.out" 2>&1 &
	sp=$!
	pids="$pids $sp"
	wait_running "$3" "$root" "$id"
	stats "$1" "$sp"
	kill -TERM "$sp"
	wait "$sp" || true
}

# shim_row3 LABEL SHIM RUNTIME: three at once, the third one measured
# (its text and libc pages are now shared: PSS and USS fall, RSS does not).
shim_row3() {
	root=$work/root3-$$
	mkdir -p "$root"
	for n in 1 2 3; do
		id=bench-shim3-$$-$n
		"$2" run --runtime "$3" --runtime-root "$root" --bundle "$work/bundle" --grace 0.2 "$id" \
			</dev/null >"$work/$id.out" 2>&1 &
		eval "sp$n=\$!"
		pids="$pids $!"
		wait_running "$3" "$root" "$id"
	done
	stats "$1" "$sp3"
	kill -TERM "$sp1" "$sp2" "$sp3"
	wait "$sp1" "$sp2" "$sp3" || true
}

shim_row "keel-shim + keel" "$shim" "$keel"
shim_row "keel-shim + runc" "$shim" "$runc"
shim_row3 "keel-shim + runc, 3rd of 3 running" "$shim" "$runc"
if [ -x "$shim_dynamic" ]; then
	shim_row "keel-shim (dynamic glibc) + runc" "$shim_dynamic" "$runc"
else
	echo "skip keel-shim dynamic: $shim_dynamic not built" >&2
fi

# conmon: it runs `runc create` and daemonizes; podman then runs `runc start`.
if [ -n "$conmon" ]; then
	c=$work/conmon
	mkdir -p "$c/exit" "$c/sock" "$c/root"
	id=bench-conmon-$$
	"$conmon" --api-version 1 -c "$id" -u "$id" -n "$id" -r "$runc" -b "$work/bundle" \
		-p "$c/init.pid" -P "$c/conmon.pid" -l "k8s-file:$c/ctr.log" \
		--exit-dir "$c/exit" --socket-dir-path "$c/sock" \
		--runtime-arg --root --runtime-arg "$c/root" </dev/null >"$c/out" 2>&1
	cp=$(cat "$c/conmon.pid")
	pids="$pids $cp"
	# conmon returns before the runtime's create is done (podman waits on
	# a sync pipe); wait for the state instead.
	wait_status "$runc" "$c/root" "$id" created
	"$runc" --root "$c/root" start "$id"
	wait_running "$runc" "$c/root" "$id"
	stats "conmon + runc" "$cp"
	"$runc" --root "$c/root" kill "$id" KILL || true
	i=0
	while [ -d "/proc/$cp" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	kill -9 "$cp" 2>/dev/null || true
	"$runc" --root "$c/root" delete --force "$id" || true
else
	echo "skip conmon: not installed (apt-get install conmon)" >&2
fi

# containerd-shim-runc-v2 through a private containerd.
if [ -n "$containerd" ] && [ -n "$ctr" ]; then
	d=$work/ctd
	mkdir -p "$d"
	cat >"$d/config.toml" <<EOF
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$d/containerd.sock"
[ttrpc]
  address = "$d/containerd.sock.ttrpc"
[debug]
  address = "$d/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/opt"
EOF
	"$containerd" --config "$d/config.toml" >"$d/log" 2>&1 &
	cdp=$!
	pids="$pids $cdp"
	i=0
	while [ ! -S "$d/containerd.sock" ]; do
		i=$((i + 1))
		[ $i -lt 250 ] || { echo "bench-shim: containerd did not start: $(tail -3 "$d/log")" >&2; exit 1; }
		sleep 0.02
	done
	C="$ctr -a $d/containerd.sock"
	"$here/engines/mkimage.sh" "$d/img.tar" >/dev/null
	$C images import "$d/img.tar" >/dev/null
	id=bench-ctd-$$
	$C run -d --runc-root "$d/runc" --fifo-dir "$d/fifo" \
		docker.io/library/keel-busybox:latest "$id" sleep 1000 >/dev/null
	ip=$($C task ls | awk -v id="$id" '$1 == id {print $2}')
	sp=$(awk '{print $4}' "/proc/$ip/stat")
	pids="$pids $sp"
	stats "containerd-shim-runc-v2 + runc" "$sp"
	$C task kill -s SIGKILL "$id" >/dev/null 2>&1 || true
	i=0
	while $C task ls | grep -q "^$id .*RUNNING" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	$C task rm "$id" >/dev/null 2>&1 || true
	$C containers rm "$id" >/dev/null 2>&1 || true
	kill "$cdp" 2>/dev/null || true
	wait "$cdp" 2>/dev/null || true
else
	echo "skip containerd-shim-runc-v2: containerd or ctr not installed" >&2
fi

echo "supervisor memory, one sleeping busybox container, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "keel-shim $(stat -c %s "$shim") bytes (static)$([ -x "$shim_dynamic" ] && echo ", dynamic $(stat -c %s "$shim_dynamic") bytes")"
echo
echo "| supervisor | RSS kB | PSS kB | USS kB | threads | RSS ratio | PSS ratio |"
echo "|---|---|---|---|---|---|---|"
printf '%s' "$rows" | awk -F'|' '
	NR == 1 { split($2, b, " ") }
	{ split($2, v, " ");
	  printf "| %s | %d | %d | %d | %d | %.2f | %.2f |\n", $1, v[1], v[2], v[3], v[4], v[1] / b[1], v[2] / b[2] }'
