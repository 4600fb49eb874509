//! The runtime spec (`config.json`) of a RUN step: docker build's process
//! defaults (capabilities, no `noNewPrivileges`, the caller's rlimits
//! inherited), the standard mounts
//! (proc, read-only sys and cgroup, a tmpfs dev with devpts, shm and
//! mqueue), `/etc/resolv.conf` and `/etc/hosts` bound read-only from the
//! host, a tmpfs `/tmp` only when the image has none, then the step's own
//! mounts; namespaces pid, ipc, uts, mount, and network unless host.
//!
//! Pure data: builds JSON, touches nothing.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::bundle::spec::DEFAULT_CAPS;
use crate::bundle::ExecUser;

/// One mount of the step, in OCI terms. RUN `--mount`s become these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunMount {
    /// Absolute path in the container.
    pub destination: String,
    /// `bind`, `tmpfs`, …
    pub kind: String,
    pub source: PathBuf,
    pub options: Vec<String>,
}

impl RunMount {
    /// A read-only bind mount of a host path.
    pub fn bind_ro(source: impl Into<PathBuf>, destination: impl Into<String>) -> RunMount {
        RunMount {
            destination: destination.into(),
            kind: "bind".into(),
            source: source.into(),
            options: vec!["rbind".into(), "ro".into(), "nosuid".into(), "nodev".into()],
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "destination": self.destination,
            "type": self.kind,
            "source": self.source,
            "options": self.options,
        })
    }
}

/// The network of a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecNetwork {
    /// The host's network namespace.
    Host,
    /// Join the namespace pinned at this path.
    Join(PathBuf),
}

/// What varies between RUN bundles.
#[derive(Debug)]
pub struct StepSpec<'a> {
    pub args: &'a [String],
    pub env: &'a [String],
    pub cwd: &'a str,
    pub user: &'a ExecUser,
    pub hostname: &'a str,
    /// The step's root (absolute).
    pub rootfs: &'a Path,
    pub network: &'a SpecNetwork,
    /// Mount a tmpfs at /tmp (the image has no /tmp).
    pub tmp_tmpfs: bool,
    /// Mounts after the standard ones (host files, heredoc scripts, RUN
    /// `--mount`s).
    pub mounts: &'a [RunMount],
}

/// The mount points of the standard mounts that sit directly in the
/// rootfs (the ones under /dev, /proc and /sys live on those mounts).
pub fn standard_mount_points(tmp_tmpfs: bool) -> Vec<&'static str> {
    let mut v = vec!["/proc", "/dev", "/sys"];
    if tmp_tmpfs {
        v.push("/tmp");
    }
    v
}

/// The config.json of a step.
pub fn step_spec(s: &StepSpec<'_>) -> Value {
    let caps: Vec<&str> = DEFAULT_CAPS.to_vec();
    let (effective, permitted) = if s.user.uid == 0 {
        (caps.clone(), caps.clone())
    } else {
        (Vec::new(), Vec::new())
    };
    let mut gids = vec![s.user.gid];
    for g in &s.user.additional_gids {
        if !gids.contains(g) {
            gids.push(*g);
        }
    }
    let mut mounts = vec![
        json!({ "destination": "/proc", "type": "proc", "source": "proc",
                "options": ["nosuid", "noexec", "nodev"] }),
        json!({ "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] }),
        json!({ "destination": "/dev/pts", "type": "devpts", "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] }),
        json!({ "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] }),
        json!({ "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
                "options": ["nosuid", "noexec", "nodev"] }),
        json!({ "destination": "/sys", "type": "sysfs", "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"] }),
        json!({ "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                "options": ["nosuid", "noexec", "nodev", "relatime", "ro"] }),
    ];
    if s.tmp_tmpfs {
        mounts.push(
            json!({ "destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                            "options": ["nosuid", "nodev", "mode=1777"] }),
        );
    }
    mounts.extend(s.mounts.iter().map(RunMount::to_json));
    let mut namespaces = vec![
        json!({ "type": "pid" }),
        json!({ "type": "ipc" }),
        json!({ "type": "uts" }),
        json!({ "type": "mount" }),
    ];
    if let SpecNetwork::Join(p) = s.network {
        namespaces.push(json!({ "type": "network", "path": p }));
    }
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": false,
            "user": { "uid": s.user.uid, "gid": s.user.gid, "additionalGids": gids },
            "args": s.args,
            "env": s.env,
            "cwd": s.cwd,
            "capabilities": {
                "bounding": caps,
                "effective": effective,
                "permitted": permitted,
            },
            "noNewPrivileges": false,
        },
        "root": { "path": s.rootfs, "readonly": false },
        "hostname": s.hostname,
        "mounts": mounts,
        "linux": {
            "resources": { "devices": [{ "allow": false, "access": "rwm" }] },
            "namespaces": namespaces,
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/sys/devices/virtual/powercap",
                "/proc/scsi",
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
            ],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_has_network_only_when_asked() {
        let user = ExecUser {
            uid: 1000,
            gid: 1000,
            additional_gids: vec![10],
            home: "/home/u".into(),
        };
        let args = vec!["/bin/sh".to_owned(), "-c".into(), "true".into()];
        let env = vec!["PATH=/bin".to_owned()];
        let mounts = [RunMount::bind_ro("/etc/hosts", "/etc/hosts")];
        let mut s = StepSpec {
            args: &args,
            env: &env,
            cwd: "/w",
            user: &user,
            hostname: "h",
            rootfs: Path::new("/r"),
            network: &SpecNetwork::Host,
            tmp_tmpfs: true,
            mounts: &mounts,
        };
        let v = step_spec(&s);
        let ns: Vec<&str> = v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(ns, ["pid", "ipc", "uts", "mount"]);
        assert_eq!(v["process"]["capabilities"]["effective"], json!([]));
        assert_eq!(v["process"]["user"]["additionalGids"], json!([1000, 10]));
        let dests: Vec<&str> = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert!(dests.contains(&"/tmp") && dests.ends_with(&["/etc/hosts"]));
        let net = SpecNetwork::Join("/x/netns".into());
        s.network = &net;
        s.tmp_tmpfs = false;
        let v = step_spec(&s);
        assert_eq!(v["linux"]["namespaces"][4]["path"], "/x/netns");
        assert!(!v["mounts"].to_string().contains("\"/tmp\""));
    }
}
