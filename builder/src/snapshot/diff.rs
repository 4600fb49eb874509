//! The differ: an overlay upper dir → layer [`Entry`]s, following
//! BuildKit's overlay differ:
//!
//! - a char device 0/0 is a deletion ([`EntryKind::Whiteout`]), kept only
//!   when the lower view has the path;
//! - a directory with `trusted.overlay.opaque=y` over a lower directory is
//!   [`EntryKind::Opaque`] plus the directory and everything in it;
//! - an entry identical to its lower version (mode, owner, device, xattrs;
//!   for non-directories also size and mtime, and content when the mtimes
//!   are truncated) is a mere copy-up and is skipped;
//! - the parents of every recorded entry are recorded too (containerd's
//!   change writer does this), with their metadata from the upper dir;
//! - hard links (same inode, nlink > 1) become one file then
//!   [`EntryKind::Hardlink`]s to it; xattrs are kept except
//!   `trusted.overlay.*`; devices keep their numbers; sockets are skipped.
//!
//! Reads only. File contents are referenced by path, so the upper dir must
//! live until the layer is written.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::layer::{Content, Entry, EntryKind};

use super::lower::{is_opaque, Lowers};
use super::unpack::is_whiteout;
use super::SnapshotError;

/// The changes recorded in `upper` over `lowers`, sorted by path.
pub fn diff_upper(upper: &Path, lowers: &Lowers) -> Result<Vec<Entry>, SnapshotError> {
    let mut d = Differ {
        root: upper,
        lowers,
        out: Changes::default(),
    };
    d.walk("", false)?;
    d.out.finish(upper)
}

struct Differ<'a> {
    root: &'a Path,
    lowers: &'a Lowers,
    out: Changes,
}

impl Differ<'_> {
    /// Walks directory `rel` of the upper dir. `fresh`: nothing under it
    /// exists in the lower view (a new or opaque directory).
    fn walk(&mut self, rel: &str, fresh: bool) -> Result<(), SnapshotError> {
        for (child, path, meta) in read_sorted(self.root, rel)? {
            if is_whiteout(&meta) {
                if !fresh && self.lowers.lookup(&child).is_some() {
                    self.out.whiteout(child);
                }
                continue;
            }
            if meta.file_type().is_socket() {
                continue;
            }
            let lower = if fresh {
                None
            } else {
                self.lowers.lookup(&child)
            };
            if meta.is_dir() {
                if crate::layer::sys::lgetxattr(&path, "trusted.overlay.redirect")
                    .ok()
                    .flatten()
                    .is_some()
                {
                    return Err(SnapshotError::Unsupported {
                        path,
                        reason: "overlayfs redirect_dir is in use (a renamed directory); \
                                 the differ cannot read it: set HOIST_SNAPSHOTTER=copy"
                            .into(),
                    });
                }
                let lower_is_dir = lower.as_ref().is_some_and(|(_, m)| m.is_dir());
                let opaque = lower_is_dir && is_opaque(&path);
                let changed = match &lower {
                    _ if opaque => true,
                    None => true,
                    Some((lp, lm)) => !same_dirent(lp, lm, &path, &meta)?,
                };
                if changed {
                    self.out.record(&child, &path, &meta)?;
                }
                if opaque {
                    self.out.opaque(child.clone());
                }
                self.walk(&child, fresh || opaque || !lower_is_dir)?;
            } else {
                if crate::layer::sys::lgetxattr(&path, "trusted.overlay.metacopy")
                    .ok()
                    .flatten()
                    .is_some()
                {
                    return Err(SnapshotError::Unsupported {
                        path,
                        reason: "overlayfs metacopy is in use; the differ cannot read it: \
                                 set HOIST_SNAPSHOTTER=copy"
                            .into(),
                    });
                }
                let changed = match &lower {
                    None => true,
                    Some((lp, lm)) => !same_dirent(lp, lm, &path, &meta)?,
                };
                if changed {
                    self.out.record(&child, &path, &meta)?;
                }
            }
        }
        Ok(())
    }
}

/// The entries of directory `rel` under `root`: (relative path, host path,
/// lstat), sorted by name.
pub(crate) fn read_sorted(
    root: &Path,
    rel: &str,
) -> Result<Vec<(String, PathBuf, fs::Metadata)>, SnapshotError> {
    let dir = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let mut names = Vec::new();
    for ent in fs::read_dir(&dir).map_err(SnapshotError::io(&dir, "list a directory"))? {
        let ent = ent.map_err(SnapshotError::io(&dir, "list a directory"))?;
        let name = ent
            .file_name()
            .into_string()
            .map_err(|n| SnapshotError::Unsupported {
                path: dir.join(n),
                reason: "the file name is not UTF-8, which layer entries cannot hold yet".into(),
            })?;
        names.push(name);
    }
    names.sort();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let child = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let path = dir.join(&name);
        let meta = fs::symlink_metadata(&path).map_err(SnapshotError::io(&path, "stat"))?;
        out.push((child, path, meta));
    }
    Ok(out)
}

/// The xattrs of `p` that belong in a layer (all but `trusted.overlay.*`).
pub(crate) fn layer_xattrs(p: &Path) -> Result<BTreeMap<String, Vec<u8>>, SnapshotError> {
    let mut out = BTreeMap::new();
    let names = match crate::layer::sys::llistxattr(p) {
        Ok(n) => n,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(out),
        Err(e) => return Err(SnapshotError::io(p, "list xattrs")(e)),
    };
    for name in names {
        if name.starts_with("trusted.overlay.") {
            continue;
        }
        if let Some(v) =
            crate::layer::sys::lgetxattr(p, &name).map_err(SnapshotError::io(p, "read an xattr"))?
        {
            out.insert(name, v);
        }
    }
    Ok(out)
}

/// BuildKit's `sameDirent`: is the upper entry only a copy-up of the lower
/// one? Type, mode, owner, device and xattrs must match; for
/// non-directories also size, link count and mtime, and when both mtimes have no
/// nanoseconds (unpacked from a tar) the content or link target.
pub(crate) fn same_dirent(
    lp: &Path,
    lm: &fs::Metadata,
    up: &Path,
    um: &fs::Metadata,
) -> Result<bool, SnapshotError> {
    if lm.mode() != um.mode()
        || lm.uid() != um.uid()
        || lm.gid() != um.gid()
        || lm.rdev() != um.rdev()
    {
        return Ok(false);
    }
    if layer_xattrs(lp)? != layer_xattrs(up)? {
        return Ok(false);
    }
    if lm.is_dir() {
        return Ok(true);
    }
    // A new hard link makes the file part of this layer's link group.
    if lm.size() != um.size() || lm.mtime() != um.mtime() || lm.nlink() != um.nlink() {
        return Ok(false);
    }
    if lm.mtime_nsec() != 0 || um.mtime_nsec() != 0 {
        return Ok(lm.mtime_nsec() == um.mtime_nsec());
    }
    if lm.file_type().is_symlink() {
        let a = fs::read_link(lp).map_err(SnapshotError::io(lp, "read a link"))?;
        let b = fs::read_link(up).map_err(SnapshotError::io(up, "read a link"))?;
        return Ok(a == b);
    }
    if !lm.is_file() || lm.size() == 0 {
        return Ok(true);
    }
    same_content(lp, up)
}

fn same_content(a: &Path, b: &Path) -> Result<bool, SnapshotError> {
    let mut fa = fs::File::open(a).map_err(SnapshotError::io(a, "open"))?;
    let mut fb = fs::File::open(b).map_err(SnapshotError::io(b, "open"))?;
    let mut ba = vec![0u8; 64 * 1024];
    let mut bb = vec![0u8; 64 * 1024];
    loop {
        let na = read_full(&mut fa, &mut ba).map_err(SnapshotError::io(a, "read"))?;
        let nb = read_full(&mut fb, &mut bb).map_err(SnapshotError::io(b, "read"))?;
        if ba.get(..na) != bb.get(..nb) {
            return Ok(false);
        }
        if na == 0 {
            return Ok(true);
        }
    }
}

fn read_full(f: &mut fs::File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// The recorded changes of one diff, with hard-link tracking.
#[derive(Default)]
pub(crate) struct Changes {
    entries: BTreeMap<String, Entry>,
    /// (dev, ino) of a recorded multi-link file → its first path.
    inodes: HashMap<(u64, u64), String>,
}

impl Changes {
    pub(crate) fn whiteout(&mut self, rel: String) {
        self.entries.insert(
            format!("{rel}\0wh"),
            Entry {
                path: rel,
                kind: EntryKind::Whiteout,
                mode: 0,
                uid: 0,
                gid: 0,
                mtime: 0,
                xattrs: BTreeMap::new(),
            },
        );
    }

    pub(crate) fn opaque(&mut self, rel: String) {
        self.entries.insert(
            format!("{rel}\0opq"),
            Entry {
                path: rel,
                kind: EntryKind::Opaque,
                mode: 0,
                uid: 0,
                gid: 0,
                mtime: 0,
                xattrs: BTreeMap::new(),
            },
        );
    }

    pub(crate) fn has(&self, rel: &str) -> bool {
        self.entries.contains_key(rel)
    }

    /// Records `path` (lstat `meta`) as the entry `rel`.
    pub(crate) fn record(
        &mut self,
        rel: &str,
        path: &Path,
        meta: &fs::Metadata,
    ) -> Result<(), SnapshotError> {
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_file() {
            let key = (meta.dev(), meta.ino());
            match self.inodes.get(&key) {
                Some(first) if meta.nlink() > 1 => EntryKind::Hardlink(first.clone()),
                _ => {
                    if meta.nlink() > 1 {
                        self.inodes.insert(key, rel.to_owned());
                    }
                    EntryKind::File(Content::Path(path.to_path_buf()))
                }
            }
        } else if ft.is_symlink() {
            let t = fs::read_link(path).map_err(SnapshotError::io(path, "read a link"))?;
            let t = t
                .into_os_string()
                .into_string()
                .map_err(|_| SnapshotError::Unsupported {
                    path: path.to_owned(),
                    reason: "the symlink target is not UTF-8".into(),
                })?;
            EntryKind::Symlink(t)
        } else if ft.is_char_device() || ft.is_block_device() {
            let rdev = meta.rdev();
            let (major, minor) = (
                u32::try_from(nix::sys::stat::major(rdev)).unwrap_or(u32::MAX),
                u32::try_from(nix::sys::stat::minor(rdev)).unwrap_or(u32::MAX),
            );
            if ft.is_char_device() {
                EntryKind::CharDevice { major, minor }
            } else {
                EntryKind::BlockDevice { major, minor }
            }
        } else if ft.is_fifo() {
            EntryKind::Fifo
        } else {
            return Ok(()); // sockets
        };
        let xattrs = if matches!(kind, EntryKind::Hardlink(_)) {
            BTreeMap::new()
        } else {
            layer_xattrs(path)?
        };
        self.entries.insert(
            rel.to_owned(),
            Entry {
                path: rel.to_owned(),
                kind,
                mode: meta.mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
                mtime: meta.mtime(),
                xattrs,
            },
        );
        Ok(())
    }

    /// Adds the missing parents of every entry (their metadata read under
    /// `root`) and returns the entries.
    pub(crate) fn finish(mut self, root: &Path) -> Result<Vec<Entry>, SnapshotError> {
        let mut parents = Vec::new();
        for e in self.entries.values() {
            let mut p = e.path.as_str();
            while let Some((parent, _)) = p.rsplit_once('/') {
                parents.push(parent.to_owned());
                p = parent;
            }
        }
        parents.sort();
        parents.dedup();
        for p in parents {
            if !self.has(&p) {
                let path = root.join(&p);
                let meta = fs::symlink_metadata(&path).map_err(SnapshotError::io(&path, "stat"))?;
                if meta.is_dir() {
                    self.record(&p, &path, &meta)?;
                }
            }
        }
        Ok(self.entries.into_values().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::stat::{mknod, Mode, SFlag};
    use std::os::unix::fs::PermissionsExt;

    fn kinds(entries: &[Entry]) -> Vec<(String, String)> {
        entries
            .iter()
            .map(|e| {
                let k = match &e.kind {
                    EntryKind::Dir => "dir".to_owned(),
                    EntryKind::File(_) => "file".to_owned(),
                    EntryKind::Hardlink(t) => format!("link:{t}"),
                    EntryKind::Symlink(t) => format!("sym:{t}"),
                    EntryKind::Whiteout => "wh".to_owned(),
                    EntryKind::Opaque => "opq".to_owned(),
                    other => format!("{other:?}"),
                };
                (e.path.clone(), k)
            })
            .collect()
    }

    #[test]
    fn upper_dir_becomes_entries_like_buildkit() {
        let d = tempfile::tempdir().unwrap();
        let (lower, upper) = (d.path().join("l"), d.path().join("u"));
        // Lower: /etc (0755), /etc/conf, /bin/ls, /d/old, /same (a file with
        // a whole-second mtime), /keep/x.
        for p in ["etc", "bin", "d", "keep"] {
            fs::create_dir_all(lower.join(p)).unwrap();
        }
        fs::write(lower.join("etc/conf"), "c").unwrap();
        fs::write(lower.join("bin/ls"), "ls").unwrap();
        fs::write(lower.join("d/old"), "").unwrap();
        fs::write(lower.join("same"), "same").unwrap();
        fs::write(lower.join("keep/x"), "x").unwrap();
        let t = filetime(&lower.join("same"));
        set_filetime(&lower.join("same"), t);
        // Upper: /etc copied up unchanged with a new file; /bin/ls deleted;
        // /d made opaque with /d/new; /same copied up unchanged; /keep
        // chmodded; /a with a hard link /b; a whiteout of a path the lower
        // never had; a socket-free fifo.
        fs::create_dir_all(upper.join("etc")).unwrap();
        fs::write(upper.join("etc/new"), "n").unwrap();
        fs::create_dir_all(upper.join("bin")).unwrap();
        mknod(&upper.join("bin/ls"), SFlag::S_IFCHR, Mode::empty(), 0).unwrap();
        mknod(&upper.join("bin/never"), SFlag::S_IFCHR, Mode::empty(), 0).unwrap();
        fs::create_dir_all(upper.join("d")).unwrap();
        crate::layer::sys::lsetxattr(&upper.join("d"), "trusted.overlay.opaque", b"y").unwrap();
        fs::write(upper.join("d/new"), "").unwrap();
        fs::copy(lower.join("same"), upper.join("same")).unwrap();
        set_filetime(&upper.join("same"), t);
        fs::create_dir_all(upper.join("keep")).unwrap();
        fs::set_permissions(upper.join("keep"), fs::Permissions::from_mode(0o700)).unwrap();
        fs::write(upper.join("a"), "a").unwrap();
        fs::hard_link(upper.join("a"), upper.join("b")).unwrap();
        let e = diff_upper(&upper, &Lowers::new(vec![lower])).unwrap();
        let got = kinds(&e);
        let want: Vec<(String, String)> = [
            ("a", "file"),
            ("b", "link:a"),
            ("bin", "dir"),
            ("bin/ls", "wh"),
            ("d", "dir"),
            ("d", "opq"),
            ("d/new", "file"),
            ("etc", "dir"),
            ("etc/new", "file"),
            ("keep", "dir"),
        ]
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
        assert_eq!(got, want);
        assert!(e
            .iter()
            .all(|e| !e.xattrs.contains_key("trusted.overlay.opaque")));
    }

    fn filetime(p: &Path) -> i64 {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(p).unwrap().mtime()
    }

    fn set_filetime(p: &Path, secs: i64) {
        let ts = nix::sys::time::TimeSpec::new(secs, 0);
        nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            p,
            &ts,
            &ts,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();
    }
}
