//! Layers: changeset entries, deterministic tar writing, compression, and
//! applying a layer to a directory.
//!
//! - [`entry`]: one changeset entry (shared with COPY/ADD and the differ);
//! - [`write`]: entries → a deterministic PAX tar, compressed, with its
//!   diff_id and digest ([`write_layer`]);
//! - [`pgzip`]: gzip compressed on all cores as one standard gzip member
//!   (what [`write_layer`] uses for gzip layers);
//! - [`compression`]: detecting and undoing gzip/zstd/bzip2/xz
//!   ([`decompress`], [`sniff_archive`]);
//! - [`apply`]: a layer tar → a directory, never writing outside it
//!   ([`apply_layer`]);
//! - [`root`]: resolving paths inside a root directory as if it were `/`;
//! - [`sys`]: the extended-attribute syscalls nix lacks.
//!
//! Nothing here may follow a symlink out of a root it writes into.

use std::io;
use std::path::PathBuf;

pub mod apply;
pub mod compression;
pub mod entry;
mod pax;
pub mod pgzip;
pub mod root;
pub mod sys;
pub mod write;

pub use apply::{apply_layer, ApplyOptions, ApplyStats};
pub use compression::{decompress, is_tar_stream, sniff_archive, Format};
pub use entry::{Content, Entry, EntryKind};
pub use write::{write_layer, Compression, LayerInfo, WriteOptions};

/// What went wrong writing, reading or applying a layer.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// A changeset entry handed to the writer cannot be written.
    #[error("layer entry {path:?}: {reason}")]
    BadEntry { path: String, reason: String },
    /// A host file named by `Content::Path` could not be read.
    #[error("layer entry {path:?}: reading {source_path}: {source}")]
    ReadSource {
        path: String,
        source_path: PathBuf,
        source: io::Error,
    },
    /// A host file changed size between its header and its content.
    #[error(
        "layer entry {path:?}: {source_path} changed size while it was being read \
         (expected {expected} bytes); make sure nothing modifies it during the build"
    )]
    FileChanged {
        path: String,
        source_path: PathBuf,
        expected: u64,
    },
    /// A compression level out of range.
    #[error("{what} compression level {level} is out of range ({range})")]
    BadLevel {
        what: &'static str,
        level: i64,
        range: &'static str,
    },
    /// Writing the layer to its destination failed.
    #[error("writing the layer: {0}")]
    Write(#[source] io::Error),
    /// The compressed stream is corrupt or could not be read.
    #[error("reading the layer ({format}): {source}")]
    Decompress {
        format: &'static str,
        source: io::Error,
    },
    /// The tar stream is corrupt or truncated.
    #[error("reading the layer tar{}: {source}", after.as_ref().map(|p| format!(" after entry {p:?}")).unwrap_or_default())]
    Tar {
        after: Option<String>,
        source: io::Error,
    },
    /// A tar entry tries to reach outside the root or is otherwise refused.
    #[error("tar entry {entry:?}: {reason}; refusing to apply this layer")]
    Refused { entry: String, reason: String },
    /// Applying one tar entry failed.
    #[error("tar entry {entry:?}: {op}: {source}")]
    Apply {
        entry: String,
        op: String,
        source: io::Error,
    },
    /// The root directory to apply into is unusable.
    #[error("layer root {root}: {source}")]
    Root { root: PathBuf, source: io::Error },
}
