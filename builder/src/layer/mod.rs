//! Layers: changeset entries, deterministic tar writing, compression, and
//! applying a layer to a directory.

pub mod entry;

pub use entry::{Content, Entry, EntryKind};
