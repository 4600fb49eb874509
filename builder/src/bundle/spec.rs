//! The OCI runtime spec (`config.json`) of a bundle, modelled on what
//! `runc spec` writes, with docker's defaults where a container from an
//! image expects them (capabilities, environment, writable root).
//!
//! Pure data: builds JSON, touches nothing.

use serde_json::{json, Value};

use super::user::ExecUser;

/// Docker's default PATH, added when the image has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Docker's default capability set.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// What varies between bundles.
pub(crate) struct ProcessSpec<'a> {
    pub args: &'a [String],
    pub env: &'a [String],
    pub cwd: &'a str,
    pub user: &'a ExecUser,
    pub terminal: bool,
    pub hostname: &'a str,
}

/// The environment docker gives a container: PATH (unless the image sets
/// it), HOSTNAME, TERM for a terminal, then the image's variables (which
/// replace defaults of the same name), and HOME from passwd if unset.
pub(crate) fn container_env(
    image_env: &[String],
    hostname: &str,
    terminal: bool,
    home: &str,
) -> Vec<String> {
    let mut env = vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOSTNAME={hostname}"),
    ];
    if terminal {
        env.push("TERM=xterm".into());
    }
    let key = |e: &str| e.split_once('=').map(|(k, _)| k).unwrap_or(e).to_owned();
    for e in image_env {
        let k = key(e);
        match env.iter_mut().find(|d| key(d) == k) {
            Some(slot) => e.clone_into(slot),
            None => env.push(e.clone()),
        }
    }
    if !env.iter().any(|e| key(e) == "HOME") {
        env.push(format!("HOME={home}"));
    }
    env
}

pub(crate) fn runtime_spec(p: &ProcessSpec<'_>) -> Value {
    let caps: Vec<&str> = DEFAULT_CAPS.to_vec();
    // As docker does since 20.10.14: a non-root process starts without
    // effective/permitted capabilities (file capabilities still work).
    let (effective, permitted) = if p.user.uid == 0 {
        (caps.clone(), caps.clone())
    } else {
        (Vec::new(), Vec::new())
    };
    // Docker lists the primary group first among the additional ones, so
    // `id` shows it in `groups=`.
    let mut gids = vec![p.user.gid];
    for g in &p.user.additional_gids {
        if !gids.contains(g) {
            gids.push(*g);
        }
    }
    let user = json!({ "uid": p.user.uid, "gid": p.user.gid, "additionalGids": gids });
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": p.terminal,
            "user": user,
            "args": p.args,
            "env": p.env,
            "cwd": p.cwd,
            "capabilities": {
                "bounding": caps,
                "effective": effective,
                "permitted": permitted,
            },
            "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }],
            "noNewPrivileges": true,
        },
        "root": { "path": "rootfs", "readonly": false },
        "hostname": p.hostname,
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
              "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
            { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
              "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
            { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
              "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/sys", "type": "sysfs", "source": "sysfs",
              "options": ["nosuid", "noexec", "nodev", "ro"] },
            { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
              "options": ["nosuid", "noexec", "nodev", "relatime", "ro"] },
        ],
        "linux": {
            "resources": { "devices": [{ "allow": false, "access": "rwm" }] },
            "namespaces": [
                { "type": "pid" },
                { "type": "network" },
                { "type": "ipc" },
                { "type": "uts" },
                { "type": "mount" },
            ],
            "maskedPaths": [
                "/proc/acpi",
                "/proc/asound",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/sys/firmware",
                "/sys/devices/virtual/powercap",
                "/proc/scsi",
            ],
            "readonlyPaths": [
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger",
            ],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_follows_docker() {
        let env = container_env(
            &["FOO=1".into(), "PATH=/x".into(), "BARE".into()],
            "h",
            true,
            "/root",
        );
        assert_eq!(
            env,
            [
                "PATH=/x",
                "HOSTNAME=h",
                "TERM=xterm",
                "FOO=1",
                "BARE",
                "HOME=/root"
            ]
        );
        let env = container_env(&["HOME=/h".into()], "h", false, "/root");
        assert_eq!(
            env,
            [
                format!("PATH={DEFAULT_PATH}").as_str(),
                "HOSTNAME=h",
                "HOME=/h"
            ]
        );
    }
}
