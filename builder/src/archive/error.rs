//! The archive error type: every variant names the input (or output), the
//! tar member or file, and the field where it applies.

use std::io;
use std::path::PathBuf;

use crate::digest::Digest;
use crate::store::StoreError;

/// An error from `save`, `load` or an export.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing the archive: {source}")]
    Write {
        #[source]
        source: io::Error,
    },
    #[error("{input}: reading the tar{}: {source}: the file is truncated or not a tar archive", after.as_ref().map(|m| format!(" after member {m:?}")).unwrap_or_default())]
    Tar {
        input: String,
        after: Option<String>,
        #[source]
        source: io::Error,
    },
    #[error("{input}: member {member:?}: {reason}")]
    Member {
        input: String,
        member: String,
        reason: String,
    },
    #[error(
        "{input}: member {member:?} is missing (needed by {needed_by}): the archive is incomplete"
    )]
    MissingMember {
        input: String,
        member: String,
        needed_by: String,
    },
    #[error("{input}: member {member:?}: content hashes to {actual}, not {expected}: the archive is corrupt")]
    DigestMismatch {
        input: String,
        member: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("{input}: member {member:?}: invalid JSON at `{field}`: {source}")]
    Json {
        input: String,
        member: String,
        field: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{input}: layer {index} ({member:?}) has diff_id {actual} but the image config lists {expected}: the archive is corrupt")]
    DiffId {
        input: String,
        member: String,
        index: usize,
        expected: Digest,
        actual: Digest,
    },
    #[error("{input}: not an image archive: it has no manifest.json (docker-archive) and no index.json (OCI layout); make it with \"docker save\", \"podman save\" or \"skopeo copy\"")]
    NotAnArchive { input: String },
    #[error("{input}: {reason}")]
    Invalid { input: String, reason: String },
    #[error("{dest}: {reason}")]
    Destination { dest: PathBuf, reason: String },
}

impl ArchiveError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        ArchiveError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
