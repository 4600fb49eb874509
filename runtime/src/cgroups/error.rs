//! The cgroups module's error type.
//!
//! Every message is one lowercase line that names the config field
//! (`linux.resources.memory.limit`) or the cgroup file at fault and, where
//! there is one, what to do about it. Nothing here formats multi-line text.

use std::io;
use std::path::PathBuf;

/// Errors from detecting, creating, configuring, reading or removing cgroups.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A resource value that no kernel would accept (checked before any write).
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },

    /// A valid resource this host cannot honour (a controller or file is
    /// missing, or the cgroup version lacks the feature).
    #[error("{field}: {reason}")]
    Unsupported { field: String, reason: String },

    /// `linux.cgroupsPath` cannot be used.
    #[error("linux.cgroupsPath {path:?}: {reason}")]
    Path { path: String, reason: String },

    /// `exec --cgroup` names a sub-cgroup that does not exist.
    #[error("sub-cgroup {} does not exist; create it first", dir.display())]
    SubCgroupMissing { dir: PathBuf },

    /// `--systemd-cgroup` was given but systemd does not manage this host's
    /// cgroups.
    #[error(
        "--systemd-cgroup needs systemd running as init (no /run/systemd/system here); run without --systemd-cgroup (cgroupsPath {path:?})"
    )]
    SystemdUnavailable { path: String },

    /// `--systemd-cgroup` on a systemd host: keel has no D-Bus driver yet.
    #[error(
        "--systemd-cgroup is not implemented by keel yet (unit {unit} in {slice}); run without --systemd-cgroup"
    )]
    SystemdUnsupported { slice: String, unit: String },

    /// No cgroup filesystem is mounted.
    #[error(
        "no cgroup filesystem in /proc/self/mountinfo: mount cgroup2 at /sys/fs/cgroup (or the v1 controllers under it)"
    )]
    NoCgroupFs,

    /// A kernel file did not have the expected format.
    #[error("cannot parse {}: {reason}", path.display())]
    Parse { path: PathBuf, reason: String },

    /// Reading a cgroup or proc file failed.
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },

    /// Writing a cgroup file failed; `field` is the config field the value
    /// came from, or empty for the runtime's own bookkeeping writes.
    #[error("{}cannot write {value:?} to {}: {source}{hint}", field_prefix(field), path.display())]
    Write {
        field: String,
        path: PathBuf,
        value: String,
        source: io::Error,
        hint: String,
    },

    /// Creating a cgroup directory failed.
    #[error("cannot create cgroup {}: {source}", path.display())]
    Create { path: PathBuf, source: io::Error },

    /// Removing a cgroup directory failed (after retrying on EBUSY).
    #[error("cannot remove cgroup {}: {source}; kill its processes first (keel kill --all)", path.display())]
    Remove { path: PathBuf, source: io::Error },

    /// Moving a process into the cgroup failed.
    #[error("cannot move process {pid} into cgroup {}: {source}", path.display())]
    AddPid {
        pid: i32,
        path: PathBuf,
        source: io::Error,
    },

    /// The freezer did not reach the wanted state in time.
    #[error("cgroup {} did not become {want} within {waited_ms} ms; retry the command", path.display())]
    FreezeTimeout {
        path: PathBuf,
        want: &'static str,
        waited_ms: u64,
    },

    /// An operation needs a controller that is not mounted or not enabled.
    #[error("{what} needs the {controller} cgroup controller, which {reason}")]
    NoController {
        what: &'static str,
        controller: &'static str,
        reason: String,
    },

    /// Loading or attaching the cgroup v2 device filter failed.
    #[error("linux.resources.devices: cannot {op} the eBPF device filter for {}: {source}{log}", path.display())]
    Bpf {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
        log: String,
    },

    /// Setting up an OOM notification failed.
    #[error("cannot watch {} for OOM kills: {source}", path.display())]
    Oom { path: PathBuf, source: io::Error },
}

fn field_prefix(field: &str) -> String {
    if field.is_empty() {
        String::new()
    } else {
        format!("{field}: ")
    }
}

impl Error {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn unsupported(field: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Unsupported {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn read(path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Read {
            path: path.into(),
            source,
        }
    }
}

/// The module's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_lowercase_line_naming_the_field() {
        let e = Error::invalid(
            "linux.resources.memory.limit",
            "-5 is negative; use -1 for no limit",
        );
        assert_eq!(
            e.to_string(),
            "linux.resources.memory.limit: -5 is negative; use -1 for no limit"
        );
        let e = Error::Write {
            field: "linux.resources.pids.limit".into(),
            path: "/sys/fs/cgroup/pids/x/pids.max".into(),
            value: "5".into(),
            source: io::Error::from_raw_os_error(libc::EINVAL),
            hint: String::new(),
        };
        let s = e.to_string();
        assert!(s.starts_with(
            "linux.resources.pids.limit: cannot write \"5\" to /sys/fs/cgroup/pids/x/pids.max"
        ));
        assert!(!s.contains('\n'));
        let e = Error::Write {
            field: String::new(),
            path: "/a/cgroup.procs".into(),
            value: "1".into(),
            source: io::Error::from_raw_os_error(libc::ESRCH),
            hint: String::new(),
        };
        assert!(e
            .to_string()
            .starts_with("cannot write \"1\" to /a/cgroup.procs"));
    }
}
