//! `keel features`: the runtime-spec features document (features.md),
//! listing only what this build really implements.

use serde_json::{json, Value};

/// Every mount option word keel understands.
pub const MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "rbind",
    "ratime",
    "rdev",
    "rdiratime",
    "rexec",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnosuid",
    "rnosymfollow",
    "rro",
    "rrw",
    "rsuid",
    "rsymfollow",
    "relatime",
    "remount",
    "ro",
    "rprivate",
    "rshared",
    "rslave",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "unbindable",
];

/// The features document.
pub fn features() -> Value {
    let mut caps: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    caps.sort();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.1.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": MOUNT_OPTIONS,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": false},
            "seccomp": crate::seccomp::features(),
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {
            "org.keel.version": env!("CARGO_PKG_VERSION"),
            "io.github.seccomp.libseccomp.version": crate::seccomp::libseccomp_version()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_options_are_all_understood() {
        for o in MOUNT_OPTIONS {
            assert!(
                crate::rootfs::options::flag_word(o).is_some()
                    || crate::rootfs::options::propagation_word(o).is_some()
                    || crate::rootfs::options::recursive_word(o).is_some(),
                "{o} is advertised but not parsed"
            );
        }
        let f = features();
        assert_eq!(f["linux"]["namespaces"].as_array().unwrap().len(), 8);
        assert!(f["linux"]["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "CAP_SYS_ADMIN"));
    }
}
