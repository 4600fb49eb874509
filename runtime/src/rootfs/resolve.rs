//! Resolving paths inside the container's root without ever leaving it
//! (the CVE-2021-30465 class).
//!
//! Every lookup goes through `openat2(RESOLVE_IN_ROOT)`: symlinks, absolute
//! or relative, and `..` are resolved as if the rootfs were `/`. Missing
//! components are created one at a time relative to an already-resolved
//! parent fd, and a dangling symlink is followed inside the root. The caller
//! mounts onto `/proc/self/fd/N` of the returned `O_PATH` fd, so a symlink
//! swapped in after the lookup cannot redirect the mount.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

/// What to create when a path does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

const MAX_SYMLINKS: usize = 40;

/// Opens `path` (taken as relative to `root`) as an O_PATH fd, inside the root.
pub fn open_in_root(root: BorrowedFd<'_>, path: &Path) -> io::Result<OwnedFd> {
    let rel = relative(path);
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let target: &Path = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        &rel
    };
    openat2(root, target, how).map_err(io::Error::from)
}

/// Like [`open_in_root`], creating what is missing as `kind` (parents as dirs).
pub fn ensure_in_root(root: BorrowedFd<'_>, path: &Path, kind: Kind) -> io::Result<OwnedFd> {
    ensure(root, &clean(path), kind, 0)
}

fn ensure(root: BorrowedFd<'_>, path: &Path, kind: Kind, depth: usize) -> io::Result<OwnedFd> {
    match open_in_root(root, path) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        other => return other,
    }
    if depth > MAX_SYMLINKS {
        return Err(io::Error::from_raw_os_error(libc::ELOOP));
    }
    let name = match path.file_name() {
        Some(n) => n,
        None => return open_in_root(root, path),
    };
    let parent_path = path.parent().unwrap_or(Path::new("/"));
    let parent = ensure(root, parent_path, Kind::Dir, depth)?;
    let created = match kind {
        Kind::Dir => nix::sys::stat::mkdirat(parent.as_fd(), name, Mode::from_bits_truncate(0o755)),
        Kind::File => nix::fcntl::openat(
            parent.as_fd(),
            name,
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_WRONLY,
            Mode::from_bits_truncate(0o644),
        )
        .map(drop),
    };
    match created {
        Ok(()) => open_in_root(root, path),
        Err(nix::Error::EEXIST) => {
            // Something appeared: most likely a dangling symlink. Follow it inside the root.
            let target = nix::fcntl::readlinkat(parent.as_fd(), name)?;
            let target = Path::new(&target);
            let next = if target.is_absolute() {
                clean(target)
            } else {
                clean(&parent_path.join(target))
            };
            ensure(root, &next, kind, depth + 1)
        }
        Err(e) => Err(e.into()),
    }
}

/// Lexically cleans an absolute path: drops `.`, clamps `..` at `/`.
pub fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

fn relative(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| matches!(c, Component::Normal(_) | Component::ParentDir))
        .map(|c| c.as_os_str())
        .collect::<Vec<&OsStr>>()
        .iter()
        .collect()
}

/// The `/proc/self/fd/N` path through which a resolved fd can be mounted on.
pub fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn root() -> (tempfile::TempDir, OwnedFd) {
        let d = tempfile::tempdir().unwrap();
        let fd = std::fs::File::open(d.path()).unwrap();
        (d, fd.into())
    }

    #[test]
    fn cleans_paths() {
        assert_eq!(clean(Path::new("/a/../../b/./c")), PathBuf::from("/b/c"));
        assert_eq!(clean(Path::new("../..")), PathBuf::from("/"));
    }

    #[test]
    fn creates_missing_parents() {
        let (d, fd) = root();
        ensure_in_root(fd.as_fd(), Path::new("/a/b/c"), Kind::Dir).unwrap();
        assert!(d.path().join("a/b/c").is_dir());
        ensure_in_root(fd.as_fd(), Path::new("/a/f"), Kind::File).unwrap();
        assert!(d.path().join("a/f").is_file());
    }

    #[test]
    fn symlinks_stay_inside_the_root() {
        let (d, fd) = root();
        let outside = tempfile::tempdir().unwrap();
        let escape = outside.path().join("escaped");
        symlink(
            format!("/../../../..{}", escape.display()),
            d.path().join("evil"),
        )
        .unwrap();
        symlink("../../../../../..", d.path().join("up")).unwrap();
        ensure_in_root(fd.as_fd(), Path::new("/evil"), Kind::Dir).unwrap();
        assert!(!escape.exists(), "created outside the root");
        assert!(d.path().join(escape.strip_prefix("/").unwrap()).is_dir());
        ensure_in_root(fd.as_fd(), Path::new("/up/x"), Kind::Dir).unwrap();
        assert!(d.path().join("x").is_dir());
    }

    #[test]
    fn symlink_loops_fail() {
        let (d, fd) = root();
        symlink("/l2", d.path().join("l1")).unwrap();
        symlink("/l1", d.path().join("l2")).unwrap();
        assert!(ensure_in_root(fd.as_fd(), Path::new("/l1"), Kind::Dir).is_err());
    }
}
