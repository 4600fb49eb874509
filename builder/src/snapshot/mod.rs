//! Snapshots: the filesystems RUN steps execute in.
//!
//! - [`unpack`]: each image layer unpacked once per diff_id into
//!   `<store>/snapshots/<diff_id hex>/`, in overlayfs's lower-dir format
//!   (a deletion is a char device 0/0, an opaque directory carries
//!   `trusted.overlay.opaque=y`), shared between builds;
//! - [`overlay`]: a step's root as an overlay mount (lower = the layer
//!   dirs, upper/work in the build's scratch dir), and the one-time probe
//!   that decides whether overlayfs is usable at all;
//! - [`lower`]: looking a path up through the lower dirs as overlayfs would;
//! - [`diff`]: an upper dir → layer [`Entry`]s (whiteouts, opaque dirs,
//!   hard links, xattrs, parents only when needed);
//! - [`copy_diff`]: the fallback when overlayfs is unusable: a recorded
//!   pre-state of a copied tree, and the diff against it.
//!
//! Must never write outside `<store>/snapshots` and the scratch dirs it is
//! given, and never leave a mount behind: mounts are guards that unmount on
//! drop.

use std::io;
use std::path::PathBuf;

use crate::digest::Digest;
use crate::layer::LayerError;
use crate::store::StoreError;

pub mod copy_diff;
pub mod diff;
pub mod lower;
pub mod overlay;
pub mod unpack;

pub use diff::diff_upper;
pub use lower::Lowers;
pub use overlay::{overlay_usable, OverlayMount, SnapshotMode};
pub use unpack::{ensure_snapshot, prune_snapshots, snapshots_dir};

/// What went wrong preparing, mounting or diffing a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{path}: {what}: {source}")]
    Io {
        path: PathBuf,
        what: &'static str,
        source: io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("unpacking layer {digest} into a snapshot: {source}")]
    Layer { digest: Digest, source: LayerError },
    #[error(
        "layer {digest}: its uncompressed content hashes to {actual}, not the diff_id {expected} \
         the image config names; the image is corrupt: load or build it again"
    )]
    DiffIdMismatch {
        digest: Digest,
        expected: Digest,
        actual: Digest,
    },
    #[error("mounting an overlay at {target} ({options}): {source}; set HOIST_SNAPSHOTTER=copy to build without overlayfs")]
    Mount {
        target: PathBuf,
        options: String,
        source: nix::Error,
    },
    #[error("{path}: {reason}")]
    Unsupported { path: PathBuf, reason: String },
}

impl SnapshotError {
    pub(crate) fn io(
        path: impl Into<PathBuf>,
        what: &'static str,
    ) -> impl FnOnce(io::Error) -> SnapshotError {
        let path = path.into();
        move |source| SnapshotError::Io { path, what, source }
    }
}
