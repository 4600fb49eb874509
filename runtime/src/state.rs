//! Container state under `--root`: one directory per container holding
//! `state.json` (written atomically), the `exec.fifo` that holds the init
//! process until `start`, and an flock that serialises commands on one id.
//!
//! The status is derived, never trusted from disk: a container whose init
//! process is gone is `stopped`, one whose fifo still exists is `created`.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

/// Errors from the state directory.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot create state directory {path}: {source}; check --root")]
    Root {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("container with id {id} already exists")]
    Exists { id: String },
    #[error("container \"{id}\" does not exist")]
    NotFound { id: String },
    #[error("invalid container id {id:?}: use letters, digits, '_', '+', '-' and '.'")]
    InvalidId { id: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: corrupt state: {source}; remove it with `keel delete --force`")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// The OCI statuses, plus runc's `paused`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// What keel records about a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredState {
    pub id: String,
    /// Host pid of the init process; 0 while creating.
    pub pid: i32,
    /// Start time of `pid` in clock ticks since boot, to detect pid reuse.
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    /// `creating` until `create` finishes, then `created`.
    pub phase: Status,
    /// The configuration as it was at create time.
    pub config: Spec,
    /// The container's cgroup directories, one per hierarchy.
    #[serde(default)]
    pub cgroup_paths: Vec<PathBuf>,
}

/// runc's `state` document, field for field.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StateDoc {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: Status,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    pub owner: String,
}

/// The root directory holding every container's state.
#[derive(Debug, Clone)]
pub struct StateRoot {
    root: PathBuf,
}

/// An exclusive hold on one container's directory.
#[derive(Debug)]
pub struct ContainerDir {
    pub id: String,
    pub path: PathBuf,
    _lock: Flock<File>,
}

/// runc's rule for ids: `^[\w+-\.]+$`, and never `.` or `..`.
pub fn validate_id(id: &str) -> Result<(), StateError> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(StateError::InvalidId { id: id.into() })
    }
}

impl StateRoot {
    pub fn new(root: &Path) -> Self {
        StateRoot {
            root: root.to_path_buf(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    fn ensure(&self) -> Result<(), StateError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
            .map_err(|source| StateError::Root {
                path: self.root.clone(),
                source,
            })
    }

    /// Creates the directory for a new container; fails if the id exists.
    pub fn create(&self, id: &str) -> Result<ContainerDir, StateError> {
        validate_id(id)?;
        self.ensure()?;
        let path = self.root.join(id);
        match std::fs::DirBuilder::new().mode(0o711).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(StateError::Exists { id: id.into() })
            }
            Err(source) => {
                return Err(StateError::Root {
                    path: path.clone(),
                    source,
                })
            }
        }
        lock_dir(id, path)
    }

    /// Locks an existing container's directory.
    pub fn open(&self, id: &str) -> Result<ContainerDir, StateError> {
        validate_id(id)?;
        let path = self.root.join(id);
        let dir = lock_dir(id, path)?;
        if !dir.state_path().exists() {
            // Deleted while we waited for the lock, or a create that died early.
            return Err(StateError::NotFound { id: id.into() });
        }
        Ok(dir)
    }

    /// Reads a container's state without taking its lock (state writes are atomic).
    pub fn peek(&self, id: &str) -> Result<StoredState, StateError> {
        validate_id(id)?;
        read_state(id, &self.root.join(id).join("state.json"))
    }

    /// Ids of every container under the root, sorted.
    pub fn ids(&self) -> Result<Vec<String>, StateError> {
        let rd = match std::fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(StateError::Io {
                    path: self.root.clone(),
                    source,
                })
            }
        };
        let mut ids: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("state.json").exists())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

fn lock_dir(id: &str, path: PathBuf) -> Result<ContainerDir, StateError> {
    let f = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StateError::NotFound { id: id.into() })
        }
        Err(source) => return Err(StateError::Io { path, source }),
    };
    let lock = Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| StateError::Io {
        path: path.clone(),
        source: e.into(),
    })?;
    Ok(ContainerDir {
        id: id.into(),
        path,
        _lock: lock,
    })
}

fn read_state(id: &str, path: &Path) -> Result<StoredState, StateError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StateError::NotFound { id: id.into() })
        }
        Err(source) => {
            return Err(StateError::Io {
                path: path.into(),
                source,
            })
        }
    };
    serde_json::from_slice(&bytes).map_err(|source| StateError::Corrupt {
        path: path.into(),
        source,
    })
}

impl ContainerDir {
    pub fn state_path(&self) -> PathBuf {
        self.path.join("state.json")
    }

    pub fn fifo_path(&self) -> PathBuf {
        self.path.join("exec.fifo")
    }

    pub fn load(&self) -> Result<StoredState, StateError> {
        read_state(&self.id, &self.state_path())
    }

    /// Writes state.json atomically: temp file, fsync, rename.
    pub fn save(&self, state: &StoredState) -> Result<(), StateError> {
        let tmp = self.path.join(".state.json.tmp");
        let io = |source| StateError::Io {
            path: tmp.clone(),
            source,
        };
        let bytes = serde_json::to_vec(state).map_err(|source| StateError::Corrupt {
            path: tmp.clone(),
            source,
        })?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        f.sync_data().map_err(io)?;
        std::fs::rename(&tmp, self.state_path()).map_err(io)
    }

    /// Removes the directory and everything in it.
    pub fn remove(self) -> Result<(), StateError> {
        std::fs::remove_dir_all(&self.path).map_err(|source| StateError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

/// What /proc says about a pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub state: char,
    pub start_time: u64,
}

/// Parses `/proc/<pid>/stat`; the command name may contain spaces and parens.
pub fn parse_proc_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: field 3 (state) is fields[0]; field 22 (starttime) is fields[19].
    Some(ProcStat {
        state: fields.first()?.chars().next()?,
        start_time: fields.get(19)?.parse().ok()?,
    })
}

pub fn proc_stat(pid: i32) -> Option<ProcStat> {
    if pid <= 0 {
        return None;
    }
    parse_proc_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

impl StoredState {
    /// True if the recorded init process still exists and is not a zombie.
    pub fn init_alive(&self) -> bool {
        match proc_stat(self.pid) {
            Some(s) => s.start_time == self.pid_start && s.state != 'Z' && s.state != 'X',
            None => false,
        }
    }

    /// The derived status; `fifo_exists` says whether `start` has happened.
    pub fn status(&self, fifo_exists: bool) -> Status {
        if self.phase == Status::Creating {
            return Status::Creating;
        }
        if !self.init_alive() {
            return Status::Stopped;
        }
        if fifo_exists {
            Status::Created
        } else {
            Status::Running
        }
    }

    /// runc's `state` document for this container.
    pub fn doc(&self, status: Status) -> StateDoc {
        StateDoc {
            oci_version: self.config.version().clone(),
            id: self.id.clone(),
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status,
            bundle: self.bundle.clone(),
            rootfs: self.rootfs.clone(),
            created: self.created.clone(),
            annotations: self.config.annotations().clone().unwrap_or_default(),
            owner: self.owner.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_runc() {
        assert!(validate_id("abc-1.2_x+y").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "../x"] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn proc_stat_handles_odd_names() {
        let line =
            "123 (a) b) (c) S 1 123 123 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 100";
        let s = parse_proc_stat(line).unwrap();
        assert_eq!(s.state, 'S');
        assert_eq!(s.start_time, 98765);
        assert!(parse_proc_stat("garbage").is_none());
    }

    #[test]
    fn duplicate_and_missing_ids() {
        let dir = tempfile::tempdir().unwrap();
        let root = StateRoot::new(&dir.path().join("r"));
        let d = root.create("c1").unwrap();
        assert!(matches!(root.create("c1"), Err(StateError::Exists { .. })));
        drop(d);
        assert!(matches!(root.open("c1"), Err(StateError::NotFound { .. })));
        assert!(matches!(
            root.open("nope"),
            Err(StateError::NotFound { .. })
        ));
    }

    #[test]
    fn unwritable_root_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"").unwrap();
        let root = StateRoot::new(&file.join("sub"));
        let err = root.create("x").unwrap_err().to_string();
        assert!(err.contains("--root") && err.contains("/f/sub"), "{err}");
    }
}
