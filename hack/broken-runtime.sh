#!/bin/sh
# A deliberately broken runtime for the conformance suite's self-test: keel,
# except that it drops --console-socket and strips root.readonly from the
# bundle's config.json before create/run. The suite must fail it (see
# hack/conformance.sh and conformance/tests/broken_runtime.rs).
#
# usage: hack/broken-runtime.sh KEEL-ARGS...   (KEEL_BIN overrides keel)
here=$(cd "$(dirname "$0")" && pwd)
keel=${KEEL_BIN:-$here/../target/release/keel}

bundle=.
verb=
count=$#
while [ "$count" -gt 0 ]; do
	a=$1
	shift
	count=$((count - 1))
	case "$a" in
	--console-socket)
		# Drop the flag and its value: no pty is ever handed over.
		if [ "$count" -gt 0 ]; then
			shift
			count=$((count - 1))
		fi
		continue
		;;
	--console-socket=*)
		continue
		;;
	--bundle | -b)
		if [ "$count" -gt 0 ]; then
			bundle=$1
			set -- "$@" "$a" "$1"
			shift
			count=$((count - 1))
		fi
		continue
		;;
	--bundle=*)
		bundle=${a#--bundle=}
		;;
	create | run)
		[ -z "$verb" ] && verb=$a
		;;
	esac
	set -- "$@" "$a"
done

if [ -n "$verb" ] && [ -f "$bundle/config.json" ]; then
	# Ignore root.readonly: the only "readonly" key of a config.
	sed -i 's/"readonly": *true/"readonly": false/' "$bundle/config.json"
fi
exec "$keel" "$@"
