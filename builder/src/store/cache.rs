//! Build-cache records: `<root>/cache/<hex of key>.json`, one per cache key,
//! naming the layer a step produced. A record whose layer blob is missing
//! or the wrong size is a miss, never an error: the step just runs again.
//! (The layer's digest is checked when it is read, not on every lookup.)
//!
//! Must never return a record whose layer is not in the store.

use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use super::{blob_writer, parse_json, Store, StoreError};
use crate::digest::Digest;
use crate::image::Descriptor;

/// What a cached build step produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheRecord {
    /// The compressed layer blob (None: the step made no layer).
    pub layer: Option<Descriptor>,
    /// The uncompressed layer's digest.
    pub diff_id: Option<Digest>,
    /// When the step first ran (RFC 3339), for history entries.
    pub created: Option<String>,
}

impl Store {
    pub(super) fn cache_path(&self, key: &Digest) -> PathBuf {
        self.cache_dir().join(format!("{}.json", key.hex()))
    }

    /// The record for `key`, if there is a usable one.
    pub fn cache_get(&self, key: &Digest) -> Result<Option<CacheRecord>, StoreError> {
        let path = self.cache_path(key);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io("reading cache record", path, e)),
        };
        let rec: CacheRecord = match parse_json(&bytes, &path.display().to_string()) {
            Ok(r) => r,
            Err(e) => {
                warn!("ignoring a broken build-cache record: {e}");
                return Ok(None);
            }
        };
        if let Some(layer) = &rec.layer {
            let blob = self.blob_path(&layer.digest);
            match std::fs::metadata(&blob) {
                Ok(m) if m.is_file() && m.len() == layer.size => {}
                Ok(m) => {
                    debug!(key = %key, blob = %blob.display(), size = m.len(), want = layer.size, "cache record's layer has the wrong size: miss");
                    return Ok(None);
                }
                Err(_) => {
                    debug!(key = %key, blob = %blob.display(), "cache record's layer is missing: miss");
                    return Ok(None);
                }
            }
        }
        Ok(Some(rec))
    }

    /// Store the record for `key` (atomically replacing an old one).
    pub fn cache_put(&self, key: &Digest, rec: &CacheRecord) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(rec).map_err(|e| StoreError::Json {
            what: "serializing a cache record".into(),
            field: String::new(),
            source: e,
        })?;
        blob_writer::write_file_atomic(&self.tmp_dir(), &self.cache_path(key), &bytes)
    }
}
