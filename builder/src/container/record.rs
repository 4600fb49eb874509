//! Containers on disk: one directory per container under
//! `<store>/containers/<name>/`, its `container.json` record, the lock its
//! `hoist run` holds while it lives, and removal (`--rm`, prune).
//!
//! ```text
//! <store>/containers/.lock            flock: shared while a container is created, exclusive to prune
//! <store>/containers/NAME/lock        flock: held by the `hoist run` of NAME until it ends
//! <store>/containers/NAME/container.json   id, name, image, status, exit code
//! <store>/containers/NAME/bundle/     config.json + rootfs/ (the runtime bundle)
//! <store>/containers/NAME/{hosts,resolv.conf,hostname}   bind-mounted into /etc
//! <store>/containers/NAME/result.json the shim's result
//! ```
//!
//! Must never remove a directory whose container is running (its lock is
//! held) or that has anything mounted under it.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::ContainerError;
use crate::store::Store;

/// What `container.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// 64 hex digits; the runtime's container id.
    pub id: String,
    pub name: String,
    /// The image as the user named it, and its id.
    pub image: String,
    pub image_id: String,
    /// RFC 3339.
    pub created: String,
    pub runtime: PathBuf,
    pub status: ContainerStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    #[serde(default)]
    pub oom_killed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerStatus {
    Created,
    Running,
    Exited,
}

/// A container directory found by [`list`].
#[derive(Debug, Clone)]
pub struct ContainerEntry {
    pub dir: PathBuf,
    /// None when `container.json` is missing or unreadable.
    pub record: Option<ContainerRecord>,
    /// True when a `hoist run` holds the container's lock.
    pub running: bool,
}

/// `<store>/containers`.
pub fn containers_dir(store: &Store) -> PathBuf {
    store.root().join("containers")
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ContainerError + '_ {
    move |source| ContainerError::Io {
        path: path.to_owned(),
        source,
    }
}

fn open_lock(path: &Path) -> Result<File, ContainerError> {
    crate::store::open_lock_file(path).map_err(io_err(path))
}

fn lock(path: &Path, arg: FlockArg) -> Result<Option<Flock<File>>, ContainerError> {
    match Flock::lock(open_lock(path)?, arg) {
        Ok(l) => Ok(Some(l)),
        Err((_, Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(ContainerError::Io {
            path: path.to_owned(),
            source: e.into(),
        }),
    }
}

/// A container directory this process owns: its lock is held until drop.
pub(crate) struct OwnedDir {
    pub dir: PathBuf,
    _lock: Flock<File>,
}

/// Creates `<store>/containers/NAME/` and takes its lock. A name in use
/// (running or not) is an error, as in docker.
pub(crate) fn create_dir(store: &Store, name: &str) -> Result<OwnedDir, ContainerError> {
    let base = containers_dir(store);
    fs::create_dir_all(&base).map_err(io_err(&base))?;
    let guard = base.join(".lock");
    let _shared = lock(&guard, FlockArg::LockShared)?;
    let dir = base.join(name);
    match fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(ContainerError::NameInUse {
                name: name.to_owned(),
                dir,
            })
        }
        Err(e) => return Err(io_err(&dir)(e)),
    }
    let lock_path = dir.join("lock");
    let held = lock(&lock_path, FlockArg::LockExclusiveNonblock)?.ok_or_else(|| {
        ContainerError::NameInUse {
            name: name.to_owned(),
            dir: dir.clone(),
        }
    })?;
    Ok(OwnedDir { dir, _lock: held })
}

/// Writes `container.json` atomically.
pub(crate) fn write_record(dir: &Path, rec: &ContainerRecord) -> Result<(), ContainerError> {
    let path = dir.join("container.json");
    let tmp = dir.join(".container.json.tmp");
    let bytes = serde_json::to_vec_pretty(rec).map_err(|e| ContainerError::Io {
        path: path.clone(),
        source: e.into(),
    })?;
    fs::write(&tmp, bytes).map_err(io_err(&tmp))?;
    fs::rename(&tmp, &path).map_err(io_err(&path))
}

/// Reads `DIR/container.json`.
pub fn read_record(dir: &Path) -> Result<ContainerRecord, ContainerError> {
    let path = dir.join("container.json");
    let bytes = fs::read(&path).map_err(io_err(&path))?;
    serde_json::from_slice(&bytes).map_err(|e| ContainerError::BadRecord {
        path,
        reason: e.to_string(),
    })
}

/// Every container directory of the store, sorted by name.
pub fn list(store: &Store) -> Result<Vec<ContainerEntry>, ContainerError> {
    let base = containers_dir(store);
    let rd = match fs::read_dir(&base) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(&base)(e)),
    };
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.map_err(io_err(&base))?;
        let dir = ent.path();
        if ent.file_name().to_string_lossy().starts_with('.') || !dir.is_dir() {
            continue;
        }
        let running = lock(&dir.join("lock"), FlockArg::LockSharedNonblock)?.is_none();
        out.push(ContainerEntry {
            record: read_record(&dir).ok(),
            running,
            dir,
        });
    }
    out.sort_by(|a, b| a.dir.cmp(&b.dir));
    Ok(out)
}

/// Removes the container directories whose container is not running (what
/// `docker container prune` does). Returns the removed names.
pub fn prune(store: &Store) -> Result<Vec<String>, ContainerError> {
    let base = containers_dir(store);
    if !base.exists() {
        return Ok(Vec::new());
    }
    let _excl = lock(&base.join(".lock"), FlockArg::LockExclusive)?;
    let mut removed = Vec::new();
    for e in list(store)? {
        if e.running {
            continue;
        }
        // Hold the container's lock while removing, so no `hoist run`
        // can take the name meanwhile (creation also needs the guard).
        let Some(_held) = lock(&e.dir.join("lock"), FlockArg::LockExclusiveNonblock)? else {
            continue;
        };
        remove_dir(&e.dir)?;
        removed.push(
            e.dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
    }
    Ok(removed)
}

/// Removes one stopped container by name. A running one is an error.
pub fn remove(store: &Store, name: &str) -> Result<(), ContainerError> {
    let base = containers_dir(store);
    let dir = base.join(name);
    if super::options::check_name(name).is_err() || !dir.is_dir() {
        return Err(ContainerError::NoSuchContainer {
            name: name.to_owned(),
            dir: base,
        });
    }
    let _excl = lock(&base.join(".lock"), FlockArg::LockExclusive)?;
    let Some(_held) = lock(&dir.join("lock"), FlockArg::LockExclusiveNonblock)? else {
        return Err(ContainerError::Running {
            name: name.to_owned(),
        });
    };
    remove_dir(&dir)
}

/// Removes `dir` after checking that nothing is mounted under it (a mount
/// left by a crashed runtime would otherwise be emptied too).
pub(crate) fn remove_dir(dir: &Path) -> Result<(), ContainerError> {
    let mut text = String::new();
    let mi = Path::new("/proc/self/mountinfo");
    File::open(mi)
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(io_err(mi))?;
    let real = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    if let Some(m) = mounts_under(&text, &real).into_iter().next() {
        return Err(ContainerError::StillMounted {
            dir: dir.to_owned(),
            mount: m,
        });
    }
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(dir)(e)),
    }
}

/// Mount points in a mountinfo text at or under `dir`.
pub(crate) fn mounts_under(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_octal(p)))
        .filter(|p| p.starts_with(dir))
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if let Some(v) = b
                .get(i + 1..i + 4)
                .and_then(|o| std::str::from_utf8(o).ok())
                .and_then(|o| u8::from_str_radix(o, 8).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_paths() {
        let mi = "36 35 98:0 / /mnt/a\\040b rw - ext3 /dev/x rw\n\
                  37 35 98:0 / /store/containers/c1/bundle/rootfs rw - overlay o rw\n\
                  38 35 98:0 / /store/containers/c10 rw - tmpfs t rw\n";
        assert_eq!(
            mounts_under(mi, Path::new("/store/containers/c1")),
            [PathBuf::from("/store/containers/c1/bundle/rootfs")]
        );
        assert_eq!(
            mounts_under(mi, Path::new("/mnt/a b")),
            [PathBuf::from("/mnt/a b")]
        );
        assert!(mounts_under(mi, Path::new("/other")).is_empty());
    }

    #[test]
    fn names_locks_and_prune() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let a = create_dir(&store, "a").unwrap();
        assert!(matches!(
            create_dir(&store, "a"),
            Err(ContainerError::NameInUse { .. })
        ));
        let b = create_dir(&store, "b").unwrap();
        let l = list(&store).unwrap();
        assert_eq!(l.len(), 2);
        assert!(l.iter().all(|e| e.running && e.record.is_none()));
        assert!(matches!(
            remove(&store, "a"),
            Err(ContainerError::Running { .. })
        ));
        drop(b);
        assert_eq!(prune(&store).unwrap(), ["b"]);
        assert!(a.dir.exists());
        drop(a);
        remove(&store, "a").unwrap();
        assert!(list(&store).unwrap().is_empty());
        assert!(matches!(
            remove(&store, "a"),
            Err(ContainerError::NoSuchContainer { .. })
        ));
    }
}
