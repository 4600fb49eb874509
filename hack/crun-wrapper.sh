#!/bin/sh
# Run crun 1.8.1 on this hybrid-cgroup machine: crun refuses hybrid mode
# ("cgroups in hybrid mode not supported, drop all controllers from
# cgroupv2"), so each call runs in a private mount namespace in which the
# cgroup2 mount is unmounted. Nothing changes outside the call.
#
# usage: hack/crun-wrapper.sh CRUN-ARGS...   (CRUN overrides the binary)
exec unshare -m --propagation slave sh -c \
	'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$0" "$@"' \
	"${CRUN:-crun}" "$@"
