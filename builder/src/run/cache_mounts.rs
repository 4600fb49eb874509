//! The directories behind `RUN --mount=type=cache`: persistent across
//! builds, under `<store>/cache-mounts/<sha256 of the cache's identity>/`,
//! one numbered instance dir (`0`, `1`, …) per concurrent private user,
//! each with a lock file `<n>.lock`:
//!
//! - `sharing=shared` (the default) uses instance 0 under a shared flock;
//! - `sharing=locked` uses instance 0 under an exclusive flock, held for
//!   the whole step: it waits for every other user of instance 0, locked
//!   or shared (a little stricter than BuildKit, where shared users ignore
//!   locked ones, never weaker);
//! - `sharing=private` takes the first instance nobody uses (a try-lock,
//!   exclusive), creating a new one when all are busy, as BuildKit gives
//!   each concurrent private user a cache of its own.
//!
//! A new instance is made in a temp dir (mode/uid/gid set, seeded from
//! `from`/`source` when given) and renamed into place, so concurrent builds
//! never see a half-made one. `hoist prune` removes them all (it holds the
//! store's gc lock exclusively, so no build is using them).
//!
//! Never touches anything outside its own cache dir.

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::dockerfile::mount::Sharing;
use crate::store::Store;

use super::mounts::{copy_tree, MountError};

/// Where the cache mounts of a store live.
pub fn cache_mounts_dir(store: &Store) -> PathBuf {
    store.root().join("cache-mounts")
}

/// What a new instance starts as.
#[derive(Debug, Clone, Default)]
pub struct Seed {
    /// A directory to copy in (`from=`'s `source`).
    pub from: Option<PathBuf>,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// An instance in use: its directory and the lock that reserves it.
#[derive(Debug)]
pub struct CacheInstance {
    pub dir: PathBuf,
    _lock: Flock<File>,
}

fn lock_err(path: &Path) -> impl FnOnce(Errno) -> MountError + '_ {
    move |e| MountError::Io {
        path: path.to_owned(),
        what: "lock a cache mount",
        source: e.into(),
    }
}

fn open_lock(path: &Path) -> Result<File, MountError> {
    crate::store::open_lock_file(path).map_err(|source| MountError::Io {
        path: path.to_owned(),
        what: "open a cache mount's lock file",
        source,
    })
}

/// Reserves an instance of the cache dir `dir` (`<store>/cache-mounts/<hex>`)
/// for one step, creating it from `seed` when missing.
pub fn acquire(dir: &Path, sharing: Sharing, seed: &Seed) -> Result<CacheInstance, MountError> {
    fs::create_dir_all(dir).map_err(|source| MountError::Io {
        path: dir.to_owned(),
        what: "create the cache mount dir",
        source,
    })?;
    let lock = match sharing {
        Sharing::Shared | Sharing::Locked => {
            let p = dir.join("0.lock");
            let arg = if sharing == Sharing::Locked {
                FlockArg::LockExclusive
            } else {
                FlockArg::LockShared
            };
            let l = Flock::lock(open_lock(&p)?, arg).map_err(|(_, e)| lock_err(&p)(e))?;
            (0usize, l)
        }
        Sharing::Private => {
            let mut n = 0usize;
            loop {
                let p = dir.join(format!("{n}.lock"));
                match Flock::lock(open_lock(&p)?, FlockArg::LockExclusiveNonblock) {
                    Ok(l) => break (n, l),
                    Err((_, Errno::EWOULDBLOCK)) => n += 1,
                    Err((_, e)) => return Err(lock_err(&p)(e)),
                }
            }
        }
    };
    let inst = dir.join(lock.0.to_string());
    if fs::symlink_metadata(&inst).is_err() {
        create_instance(dir, &inst, seed)?;
    }
    Ok(CacheInstance {
        dir: inst,
        _lock: lock.1,
    })
}

fn create_instance(dir: &Path, inst: &Path, seed: &Seed) -> Result<(), MountError> {
    let tmp = dir.join(format!(
        ".new-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    let io = |path: &Path, what: &'static str| {
        let path = path.to_owned();
        move |source| MountError::Io { path, what, source }
    };
    let made = (|| {
        match &seed.from {
            Some(src) if fs::metadata(src).is_ok_and(|m| m.is_dir()) => {
                copy_tree(src, &tmp, false)?;
            }
            Some(src) => {
                // A file: the cache holds that one file.
                fs::create_dir(&tmp).map_err(io(&tmp, "create a cache mount"))?;
                fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755))
                    .map_err(io(&tmp, "set a cache mount's mode"))?;
                let name = src.file_name().unwrap_or(std::ffi::OsStr::new("file"));
                copy_tree(src, &tmp.join(name), false)?;
            }
            None => {
                fs::create_dir(&tmp).map_err(io(&tmp, "create a cache mount"))?;
                fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755))
                    .map_err(io(&tmp, "set a cache mount's mode"))?;
            }
        }
        if let Some(mode) = seed.mode {
            fs::set_permissions(&tmp, fs::Permissions::from_mode(mode))
                .map_err(io(&tmp, "set a cache mount's mode"))?;
        }
        if seed.uid.is_some() || seed.gid.is_some() {
            std::os::unix::fs::lchown(&tmp, seed.uid.or(Some(0)), seed.gid.or(Some(0)))
                .map_err(io(&tmp, "set a cache mount's owner"))?;
        }
        Ok(())
    })();
    if let Err(e) = made {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    match fs::rename(&tmp, inst) {
        Ok(()) => Ok(()),
        // Another build made it first: use theirs.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EEXIST | libc::ENOTEMPTY)) => {
            let _ = fs::remove_dir_all(&tmp);
            Ok(())
        }
        Err(source) => {
            let _ = fs::remove_dir_all(&tmp);
            Err(MountError::Io {
                path: inst.to_owned(),
                what: "put a new cache mount in place",
                source,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn private_users_get_their_own_instance_and_shared_ones_share() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("c");
        let seed = Seed {
            mode: Some(0o700),
            uid: Some(1000),
            ..Seed::default()
        };
        let a = acquire(&dir, Sharing::Private, &seed).unwrap();
        let b = acquire(&dir, Sharing::Private, &seed).unwrap();
        assert_ne!(a.dir, b.dir);
        assert_eq!(b.dir, dir.join("1"));
        let m = fs::metadata(&a.dir).unwrap();
        assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o700, 1000, 0));
        drop((a, b));
        // Instance 0 is free again.
        let c = acquire(&dir, Sharing::Private, &seed).unwrap();
        assert_eq!(c.dir, dir.join("0"));
        drop(c);
        let s1 = acquire(&dir, Sharing::Shared, &seed).unwrap();
        let s2 = acquire(&dir, Sharing::Shared, &seed).unwrap();
        assert_eq!(s1.dir, s2.dir);
        // A private user skips the instance shared users hold.
        let p = acquire(&dir, Sharing::Private, &seed).unwrap();
        assert_eq!(p.dir, dir.join("1"));
    }

    #[test]
    fn seeded_from_a_directory_once() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("sub/f"), "seed").unwrap();
        let dir = d.path().join("c");
        let seed = Seed {
            from: Some(src.clone()),
            ..Seed::default()
        };
        let i = acquire(&dir, Sharing::Locked, &seed).unwrap();
        assert_eq!(fs::read_to_string(i.dir.join("sub/f")).unwrap(), "seed");
        fs::write(i.dir.join("sub/f"), "changed").unwrap();
        drop(i);
        let i = acquire(&dir, Sharing::Locked, &seed).unwrap();
        assert_eq!(fs::read_to_string(i.dir.join("sub/f")).unwrap(), "changed");
    }
}
