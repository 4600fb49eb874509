//! `flock` locks on files in `<root>/locks/`: `index` (exclusive around
//! every read-modify-write of index.json) and `gc` (shared by builds, loads
//! and saves, exclusive for prune and fsck). A lock is released when its
//! [`StoreLock`] is dropped or the process dies.
//!
//! Must never hold the index lock while waiting for the gc lock (the order
//! is gc, then index).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use tracing::{debug, warn};

use super::StoreError;

/// A held lock on one of the store's lock files.
pub struct StoreLock {
    _lock: Flock<File>,
    path: PathBuf,
}

impl StoreLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl std::fmt::Debug for StoreLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreLock")
            .field("path", &self.path)
            .finish()
    }
}

/// Opens (creating it if needed) a file used only for `flock`.
pub fn open_lock_file(path: &Path) -> std::io::Result<std::fs::File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
}

/// Take `path` shared or exclusive, waiting (with a warning) if another
/// process holds it.
pub(crate) fn acquire(path: &Path, exclusive: bool) -> Result<StoreLock, StoreError> {
    let open = || open_lock_file(path).map_err(|e| StoreError::io("opening lock file", path, e));
    let (try_arg, wait_arg) = if exclusive {
        (FlockArg::LockExclusiveNonblock, FlockArg::LockExclusive)
    } else {
        (FlockArg::LockSharedNonblock, FlockArg::LockShared)
    };
    let file = match Flock::lock(open()?, try_arg) {
        Ok(lock) => {
            debug!(path = %path.display(), exclusive, "store lock taken");
            return Ok(StoreLock {
                _lock: lock,
                path: path.to_owned(),
            });
        }
        Err((file, Errno::EWOULDBLOCK)) => file,
        Err((_, e)) => {
            return Err(StoreError::Lock {
                path: path.to_owned(),
                source: e,
            })
        }
    };
    if path.file_name().is_some_and(|n| n == "gc") {
        warn!(
            "waiting for another hoist process using the store (lock {})",
            path.display()
        );
    } else {
        debug!(path = %path.display(), "waiting for store lock");
    }
    let mut file = file;
    loop {
        match Flock::lock(file, wait_arg) {
            Ok(lock) => {
                return Ok(StoreLock {
                    _lock: lock,
                    path: path.to_owned(),
                })
            }
            Err((f, Errno::EINTR)) => file = f,
            Err((_, e)) => {
                return Err(StoreError::Lock {
                    path: path.to_owned(),
                    source: e,
                })
            }
        }
    }
}
