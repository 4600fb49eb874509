#!/bin/sh
# Write an OCI bundle made from the busybox test rootfs.
#
# usage: hack/mkbundle.sh DIR [--tty] [ARG...]
#
# DIR/rootfs is a copy of the template from hack/mkrootfs.sh (made first if
# needed) and DIR/config.json is `runc spec`'s default with the process
# replaced by ARG... (default: sh -c 'echo hello from keel'). Without --tty
# the process gets no terminal, so `keel run` works from scripts and CI;
# with --tty it gets one (use it from an interactive shell).
# An existing DIR/rootfs is replaced.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
if [ $# -lt 1 ]; then
	echo "usage: hack/mkbundle.sh DIR [--tty] [ARG...]" >&2
	exit 2
fi
dir=$1
shift
terminal=false
if [ "${1:-}" = "--tty" ]; then
	terminal=true
	shift
fi
if [ $# -eq 0 ]; then
	set -- sh -c 'echo hello from keel'
fi

template=$("$here/mkrootfs.sh")
mkdir -p "$dir"
rm -rf "$dir/rootfs"
cp -a "$template" "$dir/rootfs"
chmod 0755 "$dir" "$dir/rootfs"

# JSON-quote each argument.
args=""
for a in "$@"; do
	q=$(printf '%s' "$a" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/	/\\t/g')
	args="$args${args:+, }\"$q\""
done

cat >"$dir/config.json" <<JSON
{
	"ociVersion": "1.0.2-dev",
	"process": {
		"terminal": $terminal,
		"user": { "uid": 0, "gid": 0 },
		"args": [ $args ],
		"env": [
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"TERM=xterm"
		],
		"cwd": "/",
		"capabilities": {
			"bounding": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
			"effective": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
			"permitted": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
			"ambient": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ]
		},
		"rlimits": [ { "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 } ],
		"noNewPrivileges": true
	},
	"root": { "path": "rootfs", "readonly": true },
	"hostname": "keel",
	"mounts": [
		{ "destination": "/proc", "type": "proc", "source": "proc" },
		{ "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
		  "options": [ "nosuid", "strictatime", "mode=755", "size=65536k" ] },
		{ "destination": "/dev/pts", "type": "devpts", "source": "devpts",
		  "options": [ "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5" ] },
		{ "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
		  "options": [ "nosuid", "noexec", "nodev", "mode=1777", "size=65536k" ] },
		{ "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
		  "options": [ "nosuid", "noexec", "nodev" ] },
		{ "destination": "/sys", "type": "sysfs", "source": "sysfs",
		  "options": [ "nosuid", "noexec", "nodev", "ro" ] },
		{ "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
		  "options": [ "nosuid", "noexec", "nodev", "relatime", "ro" ] }
	],
	"linux": {
		"resources": { "devices": [ { "allow": false, "access": "rwm" } ] },
		"namespaces": [
			{ "type": "pid" }, { "type": "network" }, { "type": "ipc" },
			{ "type": "uts" }, { "type": "mount" }
		],
		"maskedPaths": [
			"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
			"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
			"/proc/sched_debug", "/sys/firmware", "/proc/scsi"
		],
		"readonlyPaths": [
			"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
		]
	}
}
JSON
echo "$dir"
