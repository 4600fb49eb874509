//! The fallback when overlayfs is unusable: the step runs in a plain copy
//! of its filesystem, whose state was recorded before (type, mode, owner,
//! size, mtime, inode and birth time, link count, device, xattrs, link
//! target); afterwards the tree is
//! compared with that record.
//!
//! The result has the same shape as the overlay differ's: deletions are
//! whiteouts (only the topmost deleted path), a directory that was replaced
//! by a new one (another inode) is opaque with all its contents, unchanged
//! entries are skipped, parents of recorded entries are recorded.
//!
//! Reads only.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::layer::Entry;

use super::diff::{layer_xattrs, read_sorted, Changes};
use super::SnapshotError;

/// What one path looked like before the step.
#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: (i64, i64),
    ino: u64,
    /// Birth time: tells a re-made directory from the old one when the
    /// filesystem reuses its inode number.
    born: Option<std::time::SystemTime>,
    nlink: u64,
    rdev: u64,
    xattrs: BTreeMap<String, Vec<u8>>,
    link: Option<PathBuf>,
}

impl State {
    fn of(path: &Path, m: &fs::Metadata) -> Result<State, SnapshotError> {
        Ok(State {
            mode: m.mode(),
            uid: m.uid(),
            gid: m.gid(),
            size: if m.is_dir() { 0 } else { m.size() },
            mtime: if m.is_dir() {
                (0, 0)
            } else {
                (m.mtime(), m.mtime_nsec())
            },
            ino: m.ino(),
            born: m.created().ok(),
            nlink: if m.is_dir() { 0 } else { m.nlink() },
            rdev: m.rdev(),
            xattrs: layer_xattrs(path)?,
            link: if m.file_type().is_symlink() {
                Some(fs::read_link(path).map_err(SnapshotError::io(path, "read a link"))?)
            } else {
                None
            },
        })
    }
    fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }
}

/// The recorded state of a tree.
#[derive(Debug, Default)]
pub struct PreState {
    paths: HashMap<String, State>,
}

impl PreState {
    /// Records every path under `root`.
    pub fn record(root: &Path) -> Result<PreState, SnapshotError> {
        let mut s = PreState::default();
        s.walk(root, "")?;
        Ok(s)
    }

    fn walk(&mut self, root: &Path, rel: &str) -> Result<(), SnapshotError> {
        for (child, path, meta) in read_sorted(root, rel)? {
            let st = State::of(&path, &meta)?;
            self.paths.insert(child.clone(), st);
            if meta.is_dir() {
                self.walk(root, &child)?;
            }
        }
        Ok(())
    }

    /// The changes of `root` since it was recorded.
    pub fn diff(&self, root: &Path) -> Result<Vec<Entry>, SnapshotError> {
        let mut out = Changes::default();
        self.diff_dir(root, "", false, &mut out)?;
        // Deletions: recorded paths gone now, whose parent is still there
        // (a deleted directory's contents need no whiteouts of their own).
        let mut gone: Vec<&String> = self
            .paths
            .keys()
            .filter(|p| fs::symlink_metadata(root.join(p)).is_err())
            .collect();
        gone.sort();
        for p in gone {
            let parent_alive = match p.rsplit_once('/') {
                None => true,
                Some((parent, _)) => {
                    self.paths.contains_key(parent)
                        && fs::symlink_metadata(root.join(parent)).is_ok_and(|m| {
                            m.is_dir()
                                && self
                                    .paths
                                    .get(parent)
                                    .is_some_and(|s| s.ino == m.ino() && s.born == m.created().ok())
                        })
                }
            };
            if parent_alive {
                out.whiteout(p.clone());
            }
        }
        out.finish(root)
    }

    fn diff_dir(
        &self,
        root: &Path,
        rel: &str,
        fresh: bool,
        out: &mut Changes,
    ) -> Result<(), SnapshotError> {
        for (child, path, meta) in read_sorted(root, rel)? {
            if meta.file_type().is_socket_like() {
                continue;
            }
            let before = if fresh { None } else { self.paths.get(&child) };
            let now = State::of(&path, &meta)?;
            match before {
                None => {
                    out.record(&child, &path, &meta)?;
                    if meta.is_dir() {
                        self.diff_dir(root, &child, true, out)?;
                    }
                }
                Some(b) if meta.is_dir() && b.is_dir() => {
                    if b.ino != now.ino || b.born != now.born {
                        // Deleted and made again: opaque, as overlayfs makes it.
                        out.record(&child, &path, &meta)?;
                        out.opaque(child.clone());
                        self.diff_dir(root, &child, true, out)?;
                    } else {
                        if (b.mode, b.uid, b.gid, &b.xattrs)
                            != (now.mode, now.uid, now.gid, &now.xattrs)
                        {
                            out.record(&child, &path, &meta)?;
                        }
                        self.diff_dir(root, &child, false, out)?;
                    }
                }
                Some(b) => {
                    if *b != now {
                        out.record(&child, &path, &meta)?;
                    }
                    if meta.is_dir() {
                        self.diff_dir(root, &child, true, out)?;
                    }
                }
            }
        }
        Ok(())
    }
}

trait SocketLike {
    fn is_socket_like(&self) -> bool;
}

impl SocketLike for fs::FileType {
    fn is_socket_like(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        self.is_socket()
    }
}
