//! Resolving paths inside a root directory as if it were `/`: symlinks met
//! on the way are followed with absolute targets and `..` clamped at the
//! root (the "securejoin" / `RESOLVE_IN_ROOT` semantics).
//!
//! The kernel does it with `openat2(RESOLVE_IN_ROOT)` when it can; otherwise
//! (and whenever directories must be created) a userspace walk over
//! `O_PATH` descriptors does the same, one component at a time, never
//! opening anything with a path that could leave the root.
//!
//! Must never return a descriptor for anything outside the root.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::fcntl::{openat, openat2, readlinkat, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fchmodat, fstatat, mkdirat, FchmodatFlags, Mode, SFlag};

/// Symlinks followed in one resolution before giving up (as Linux does).
const MAX_SYMLINKS: usize = 40;

/// A directory used as the root of path resolution.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
    /// Whether `openat2` is (still believed to be) usable.
    openat2: AtomicBool,
}

/// What a resolution must end in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    /// A directory (`O_PATH`); missing ones are created when `create`.
    Dir { create: bool },
    /// A regular file opened for reading.
    ReadFile,
}

impl Root {
    /// Opens `path` (which must be a directory) as a resolution root.
    pub fn open(path: &Path) -> io::Result<Root> {
        Self::open_with(path, true)
    }

    /// Like [`Root::open`] but never using `openat2` (tests the fallback).
    #[cfg(test)]
    pub(crate) fn open_walk_only(path: &Path) -> io::Result<Root> {
        Self::open_with(path, false)
    }

    fn open_with(path: &Path, openat2: bool) -> io::Result<Root> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root {
            fd,
            path: path.to_owned(),
            openat2: AtomicBool::new(openat2),
        })
    }

    /// The host path this root was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The root directory's descriptor (`O_PATH`).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens directory `rel` (an `O_PATH` descriptor), following symlinks
    /// inside the root.
    pub fn open_dir(&self, rel: &Path) -> io::Result<OwnedFd> {
        self.resolve(rel.as_os_str().as_bytes(), Want::Dir { create: false })
    }

    /// Opens directory `rel`, creating what is missing with mode 0755
    /// (symlinks met on the way are followed inside the root, so a
    /// dangling one gets its target created inside the root).
    pub fn create_dir_all(&self, rel: &Path) -> io::Result<OwnedFd> {
        self.resolve(rel.as_os_str().as_bytes(), Want::Dir { create: true })
    }

    /// Opens regular file `rel` for reading, following symlinks inside the
    /// root (including a final one).
    pub fn open_file(&self, rel: &Path) -> io::Result<File> {
        let fd = self.resolve(rel.as_os_str().as_bytes(), Want::ReadFile)?;
        let file = File::from(fd);
        if !file.metadata()?.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        Ok(file)
    }

    fn resolve(&self, rel: &[u8], want: Want) -> io::Result<OwnedFd> {
        if self.openat2.load(Ordering::Relaxed) {
            match self.resolve_openat2(rel, want) {
                Ok(fd) => return Ok(fd),
                Err(Errno::ENOSYS | Errno::EPERM | Errno::E2BIG | Errno::EINVAL) => {
                    tracing::debug!(
                        "openat2(RESOLVE_IN_ROOT) unavailable; resolving paths in userspace"
                    );
                    self.openat2.store(false, Ordering::Relaxed);
                }
                Err(Errno::ENOENT) if want == (Want::Dir { create: true }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.walk(rel, want)
    }

    fn resolve_openat2(&self, rel: &[u8], want: Want) -> nix::Result<OwnedFd> {
        let flags = match want {
            Want::Dir { .. } => OFlag::O_PATH | OFlag::O_DIRECTORY,
            Want::ReadFile => OFlag::O_RDONLY | OFlag::O_NOCTTY | OFlag::O_NONBLOCK,
        } | OFlag::O_CLOEXEC;
        let how = OpenHow::new()
            .flags(flags)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        let path: &OsStr = if rel.is_empty() {
            OsStr::new(".")
        } else {
            OsStr::from_bytes(rel)
        };
        // The kernel answers EAGAIN when a rename raced with `..` resolution.
        let mut tries = 0;
        loop {
            match openat2(&self.fd, path, how) {
                Err(Errno::EAGAIN) if tries < 16 => tries += 1,
                r => return r,
            }
        }
    }

    /// The userspace resolution: a stack of directory descriptors from the
    /// root down; `..` pops (never past the root), a symlink's target is
    /// spliced into the remaining components (an absolute one restarts at
    /// the root).
    fn walk(&self, rel: &[u8], want: Want) -> io::Result<OwnedFd> {
        let mut todo: VecDeque<Vec<u8>> = split(rel).collect();
        let mut stack: Vec<OwnedFd> = vec![self.fd.try_clone()?];
        let mut links = 0;
        while let Some(comp) = todo.pop_front() {
            if comp == b".." {
                if stack.len() > 1 {
                    stack.pop();
                }
                continue;
            }
            let last = todo.is_empty();
            let cur = stack
                .last()
                .ok_or_else(|| io::Error::other("empty resolution stack"))?;
            let name = OsStr::from_bytes(&comp);
            let st = match fstatat(cur, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(Errno::ENOENT) if want == (Want::Dir { create: true }) => {
                    match mkdirat(cur, name, Mode::from_bits_truncate(0o755)) {
                        Ok(()) => {
                            // Not left to the umask (buildah#1534 made 0700 dirs).
                            fchmodat(
                                cur,
                                name,
                                Mode::from_bits_truncate(0o755),
                                FchmodatFlags::FollowSymlink,
                            )?;
                        }
                        Err(Errno::EEXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                    fstatat(cur, name, AtFlags::AT_SYMLINK_NOFOLLOW)?
                }
                Err(e) => return Err(e.into()),
            };
            let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
            if kind == SFlag::S_IFLNK {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(Errno::ELOOP.into());
                }
                let target = readlinkat(cur, name)?;
                let target = target.as_bytes();
                if target.starts_with(b"/") {
                    stack.truncate(1);
                }
                for c in split(target).collect::<Vec<_>>().into_iter().rev() {
                    todo.push_front(c);
                }
                continue;
            }
            if kind == SFlag::S_IFDIR {
                let fd = openat(
                    cur,
                    name,
                    OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )?;
                stack.push(fd);
                continue;
            }
            if last && want == Want::ReadFile {
                return Ok(openat(
                    cur,
                    name,
                    OFlag::O_RDONLY
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_NOCTTY
                        | OFlag::O_NONBLOCK
                        | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )?);
            }
            return Err(Errno::ENOTDIR.into());
        }
        if want == Want::ReadFile {
            return Err(Errno::EISDIR.into());
        }
        stack
            .pop()
            .ok_or_else(|| io::Error::other("empty resolution stack"))
    }
}

/// The non-empty, non-`.` components of a `/`-separated path.
fn split(p: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    p.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(<[u8]>::to_vec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A descriptor's real path, through /proc.
    fn real(fd: &OwnedFd) -> PathBuf {
        use std::os::fd::AsRawFd;
        std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap()
    }

    fn both(root: &Path) -> [Root; 2] {
        [
            Root::open(root).unwrap(),
            Root::open_walk_only(root).unwrap(),
        ]
    }

    #[test]
    fn symlinks_are_clamped_at_the_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("real/sub")).unwrap();
        std::fs::create_dir_all(t.path().join("outside")).unwrap();
        symlink("/", root.join("abs")).unwrap();
        symlink("../../../..", root.join("up")).unwrap();
        symlink("/real", root.join("toreal")).unwrap();
        symlink("real/sub/../..", root.join("dots")).unwrap();
        symlink(t.path().join("outside"), root.join("host")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        std::fs::write(root.join("real/file"), b"x").unwrap();
        for r in both(&root) {
            let canon = root.canonicalize().unwrap();
            assert_eq!(real(&r.open_dir(Path::new("abs")).unwrap()), canon);
            assert_eq!(real(&r.open_dir(Path::new("up/up/..")).unwrap()), canon);
            assert_eq!(real(&r.open_dir(Path::new("../..")).unwrap()), canon);
            assert_eq!(
                real(&r.open_dir(Path::new("toreal/sub")).unwrap()),
                canon.join("real/sub")
            );
            assert_eq!(
                real(&r.open_dir(Path::new("dots/real")).unwrap()),
                canon.join("real")
            );
            // An absolute host path is taken inside the root: it does not exist there.
            assert!(r.open_dir(Path::new("host")).is_err());
            assert!(r.open_dir(Path::new("loop")).is_err());
            assert!(r.open_dir(Path::new("real/file")).is_err());
            let mut s = String::new();
            use std::io::Read;
            r.open_file(Path::new("up/toreal/file"))
                .unwrap()
                .read_to_string(&mut s)
                .unwrap();
            assert_eq!(s, "x");
            assert!(r.open_file(Path::new("real")).is_err());
        }
    }

    #[test]
    fn create_dir_all_creates_symlink_targets_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        let outside = t.path().join("outside");
        symlink(&outside, root.join("host")).unwrap();
        symlink("/usr/lib", root.join("lib")).unwrap();
        for (i, r) in both(&root).into_iter().enumerate() {
            let fd = r.create_dir_all(Path::new(&format!("host/d{i}"))).unwrap();
            let canon = root.canonicalize().unwrap();
            assert!(real(&fd).starts_with(&canon));
            assert!(!outside.exists(), "created outside the root");
            r.create_dir_all(Path::new("lib/x")).unwrap();
            assert!(root
                .join("lib")
                .symlink_metadata()
                .unwrap()
                .file_type()
                .is_symlink());
            assert!(root.join("usr/lib/x").is_dir());
        }
        assert!(root
            .join(outside.strip_prefix("/").unwrap())
            .join("d0")
            .is_dir());
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::metadata(root.join(outside.strip_prefix("/").unwrap())).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o755);
    }
}
