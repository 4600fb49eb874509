#!/bin/sh
# One lifecycle of a container, for hack/bench-lifecycle.sh to time.
#
# usage: lifecycle-once.sh MODE RUNTIME ROOT BUNDLE
#   MODE full: create, start, wait until stopped, delete
#   MODE run:  run in the foreground
# Runs inside the caller's mount namespace; the id is unique per call.
set -eu
mode=$1 rt=$2 root=$3 bundle=$4
id="b$$"
case "$mode" in
full)
	"$rt" --root "$root" create --bundle "$bundle" "$id"
	"$rt" --root "$root" start "$id"
	while ! "$rt" --root "$root" state "$id" | grep -q '"stopped"'; do :; done
	"$rt" --root "$root" delete "$id"
	;;
run)
	"$rt" --root "$root" run --bundle "$bundle" "$id"
	;;
*)
	echo "unknown mode $mode" >&2
	exit 2
	;;
esac
