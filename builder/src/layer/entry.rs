//! One entry of a layer changeset: what the layer writer puts in a tar, what
//! COPY/ADD planning produces, and what a filesystem diff yields. Paths are
//! relative to the image root, `/`-separated, never absolute, never `..`.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where a regular file's bytes come from. A host path is read when the
/// layer is written (its size is taken then).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A file on the host (context file, a stage's rootfs file, a download).
    Path(PathBuf),
    /// Bytes held in memory (heredocs, generated files).
    Bytes(Vec<u8>),
}

/// The kind of a layer entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File(Content),
    /// A symbolic link with its target, kept verbatim.
    Symlink(String),
    /// A hard link to an earlier entry of the same layer (its `path`).
    Hardlink(String),
    CharDevice {
        major: u32,
        minor: u32,
    },
    BlockDevice {
        major: u32,
        minor: u32,
    },
    Fifo,
    /// A deletion of `path`: written as `dir/.wh.name`.
    Whiteout,
    /// `path` is an opaque directory: written as `path/.wh..wh..opq`.
    Opaque,
}

/// One changeset entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative path in the image, e.g. `usr/bin/app` (no leading `/`).
    pub path: String,
    pub kind: EntryKind,
    /// Permission bits including setuid, setgid and sticky (`0o7777` mask).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Seconds since the epoch; clamped by the writer under SOURCE_DATE_EPOCH.
    pub mtime: i64,
    /// Extended attributes (e.g. `security.capability`), written as PAX
    /// `SCHILY.xattr.` records.
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

impl Entry {
    /// A directory entry with the given mode and owner.
    pub fn dir(path: impl Into<String>, mode: u32, uid: u32, gid: u32, mtime: i64) -> Entry {
        Entry {
            path: path.into(),
            kind: EntryKind::Dir,
            mode,
            uid,
            gid,
            mtime,
            xattrs: BTreeMap::new(),
        }
    }
}
