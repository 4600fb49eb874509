//! The store's error type. Every variant names the file, blob or reference
//! it is about and, where the user can do something, says what.

use std::io;
use std::path::PathBuf;

use crate::digest::Digest;

/// An error from the content store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing {path}: the disk is full ({source}): free space on the filesystem that holds the store (remove unused images and run \"hoist prune\", or point --root at a larger disk) and try again")]
    DiskFull {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing {path}: input/output error ({source}): the disk holding the store is failing or full; check it (dmesg, df) and run \"hoist fsck\"")]
    WriteFailed {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("blob {digest} ({path}) is corrupt: its content hashes to {actual} ({size} bytes): load or build the image again, or remove the image and run \"hoist prune\"")]
    Corrupt {
        digest: Digest,
        path: PathBuf,
        actual: Digest,
        size: u64,
    },
    #[error("blob {digest} is missing from the store ({path}): load or build the image again, or remove the image and run \"hoist prune\"")]
    MissingBlob { digest: Digest, path: PathBuf },
    #[error("content written to the store hashes to {actual} ({size} bytes) but {expected} was expected: the source is corrupt or truncated")]
    DigestMismatch {
        expected: Digest,
        actual: Digest,
        size: u64,
    },
    #[error("{what}: invalid JSON at `{field}`: {source}")]
    Json {
        what: String,
        field: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: {reason}")]
    BadLayout { path: PathBuf, reason: String },
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },
    #[error("image {reference:?} not found in the store at {root}: load it first with \"hoist load -i FILE.tar\" (from docker save, podman save or skopeo copy)")]
    ImageNotFound { reference: String, root: PathBuf },
    #[error("image id prefix {reference:?} matches {count} images in the store at {root}: give more characters of the id")]
    AmbiguousId {
        reference: String,
        count: usize,
        root: PathBuf,
    },
    #[error("image {reference:?}: {reason}")]
    UnsupportedImage { reference: String, reason: String },
    #[error("no image named {name:?} in the store at {root}")]
    RefNotFound { name: String, root: PathBuf },
    #[error("locking {path}: {source}")]
    Lock {
        path: PathBuf,
        #[source]
        source: nix::errno::Errno,
    },
}

impl StoreError {
    /// The error for a failed write to `path`: a full disk and an I/O error
    /// get their own messages.
    pub(crate) fn write(path: impl Into<PathBuf>, source: io::Error) -> StoreError {
        let path = path.into();
        match source.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => StoreError::DiskFull { path, source },
            Some(libc::EIO) => StoreError::WriteFailed { path, source },
            _ if source.kind() == io::ErrorKind::StorageFull => {
                StoreError::DiskFull { path, source }
            }
            _ => StoreError::Io {
                action: "writing",
                path,
                source,
            },
        }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        StoreError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// Whether this is a full-disk error.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, StoreError::DiskFull { .. })
    }

    /// This error as an `io::Error` (for `Read`/`Write` impls), keeping the
    /// message; a full disk maps to `ErrorKind::StorageFull`.
    pub(crate) fn into_io(self) -> io::Error {
        let kind = match &self {
            StoreError::DiskFull { .. } => io::ErrorKind::StorageFull,
            StoreError::Corrupt { .. } | StoreError::DigestMismatch { .. } => {
                io::ErrorKind::InvalidData
            }
            StoreError::MissingBlob { .. } => io::ErrorKind::NotFound,
            StoreError::Io { source, .. } | StoreError::WriteFailed { source, .. } => source.kind(),
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, self)
    }
}
