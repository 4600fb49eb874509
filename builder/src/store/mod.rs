//! The content store: an OCI image layout on disk (default root
//! `/var/lib/hoist`), plus build-cache records, temp files and locks.
//!
//! ```text
//! <root>/oci-layout            {"imageLayoutVersion":"1.0.0"}
//! <root>/index.json            one manifest descriptor per tag (ref name annotation = "name:tag")
//! <root>/blobs/sha256/<hex>    content, named by digest
//! <root>/cache/<hex>.json      build-cache records
//! <root>/tmp/                  temp files of atomic writes
//! <root>/locks/                flock files (index, gc)
//! ```
//!
//! Every write goes through a temp file that is fsynced and renamed; every
//! read of a blob is checked against its digest. The store must never make
//! a half-written file visible under a final name, never tag an image whose
//! blobs are not all present, and never panic on what it finds on disk.

mod blob_writer;
mod cache;
mod error;
mod lock;
pub use lock::open_lock_file;
mod maintenance;
mod reference;
mod refs;
mod verified_reader;

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use blob_writer::BlobWriter;
pub use cache::CacheRecord;
pub use error::StoreError;
pub use lock::StoreLock;
pub use maintenance::{FsckProblem, FsckReport, PruneReport};
pub use reference::{normalize_name, Reference};
pub use verified_reader::VerifiedReader;

use crate::digest::Digest;
use crate::image::{media, Descriptor, ImageConfig, Index, Manifest, Platform};

/// The default store root.
pub const DEFAULT_ROOT: &str = "/var/lib/hoist";

/// An open store. Cheap to open; holds no file descriptors, so several
/// handles (threads, processes) can share a root: they coordinate through
/// the lock files.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// An image in the store, resolved to its linux/amd64 manifest.
#[derive(Debug, Clone)]
pub struct StoredImage {
    /// The ref name it was found under (None when looked up by id).
    pub name: Option<String>,
    pub manifest_desc: Descriptor,
    pub manifest: Manifest,
    pub config: ImageConfig,
    /// The image id: the config's digest.
    pub id: Digest,
}

#[derive(serde::Deserialize)]
struct OciLayout {
    #[serde(rename = "imageLayoutVersion")]
    image_layout_version: String,
}

impl Store {
    /// Open the store at `root`, creating the layout if it is missing.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let store = Store {
            root: root.to_owned(),
        };
        for dir in [
            store.root.clone(),
            store.blobs_dir(),
            store.cache_dir(),
            store.tmp_dir(),
            store.locks_dir(),
        ] {
            fs::create_dir_all(&dir)
                .map_err(|e| StoreError::write(&dir, e))
                .map_err(|e| match e {
                    StoreError::Io { source, path, .. } => StoreError::Io {
                        action: "creating store directory",
                        path,
                        source,
                    },
                    other => other,
                })?;
        }
        let layout = store.root.join("oci-layout");
        match fs::read(&layout) {
            Ok(bytes) => {
                let parsed: OciLayout = parse_json(&bytes, &layout.display().to_string())?;
                if parsed.image_layout_version != media::OCI_LAYOUT_VERSION {
                    return Err(StoreError::BadLayout {
                        path: layout,
                        reason: format!(
                            "unsupported imageLayoutVersion {:?} (hoist writes {:?})",
                            parsed.image_layout_version,
                            media::OCI_LAYOUT_VERSION
                        ),
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let body = format!(
                    "{{\"imageLayoutVersion\":\"{}\"}}",
                    media::OCI_LAYOUT_VERSION
                );
                blob_writer::write_file_atomic(&store.tmp_dir(), &layout, body.as_bytes())?;
            }
            Err(e) => return Err(StoreError::io("reading", layout, e)),
        }
        if !store.index_path().exists() {
            let _lock = store.lock_index()?;
            if !store.index_path().exists() {
                store.write_index(&Index::default())?;
            }
        }
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }
    fn cache_dir(&self) -> PathBuf {
        self.root.join("cache")
    }
    /// Where temp files of atomic writes live.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
    fn locks_dir(&self) -> PathBuf {
        self.root.join("locks")
    }
    fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    fn lock_index(&self) -> Result<StoreLock, StoreError> {
        lock::acquire(&self.locks_dir().join("index"), true)
    }

    /// The gc lock, shared: builds, loads and saves hold it for their whole
    /// run so that prune cannot remove blobs they wrote but have not tagged.
    pub fn gc_lock_shared(&self) -> Result<StoreLock, StoreError> {
        lock::acquire(&self.locks_dir().join("gc"), false)
    }

    fn gc_lock_exclusive(&self) -> Result<StoreLock, StoreError> {
        lock::acquire(&self.locks_dir().join("gc"), true)
    }

    // ---- blobs ----

    /// A writer for a new blob (see [`BlobWriter::commit`]).
    pub fn blob_writer(&self) -> Result<BlobWriter, StoreError> {
        BlobWriter::new(&self.tmp_dir(), &self.blobs_dir())
    }

    /// Store `bytes` as a blob.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let mut w = self.blob_writer()?;
        let path = w.temp_path().to_owned();
        if let Err(e) = io::Write::write_all(&mut w, bytes) {
            return Err(io_to_store(e, &path, true));
        }
        Ok(w.commit(None)?.0)
    }

    /// Store `v` as compact JSON; the descriptor carries `media_type`.
    pub fn put_json<T: Serialize>(
        &self,
        media_type: &str,
        v: &T,
    ) -> Result<Descriptor, StoreError> {
        let bytes = serde_json::to_vec(v).map_err(|e| StoreError::Json {
            what: format!("serializing a {media_type} document"),
            field: String::new(),
            source: e,
        })?;
        let digest = self.put_bytes(&bytes)?;
        Ok(Descriptor::new(media_type, digest, bytes.len() as u64))
    }

    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.blobs_dir().join(d.hex())
    }

    /// Open a blob for reading; reading it to the end checks its digest.
    pub fn open_blob(&self, d: &Digest) -> Result<VerifiedReader, StoreError> {
        VerifiedReader::open(self.blob_path(d), d)
    }

    /// A whole blob, verified.
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>, StoreError> {
        let mut r = self.open_blob(d)?;
        let mut buf = Vec::with_capacity(usize::try_from(r.len()).unwrap_or(0));
        if let Err(e) = r.read_to_end(&mut buf) {
            return Err(io_to_store(e, r.path(), false));
        }
        Ok(buf)
    }

    /// A JSON blob, verified and parsed; errors name the blob and the field.
    pub fn read_json<T: DeserializeOwned>(&self, d: &Digest) -> Result<T, StoreError> {
        let bytes = self.read_blob(d)?;
        parse_json(
            &bytes,
            &format!("blob {d} ({})", self.blob_path(d).display()),
        )
    }

    // ---- images ----

    /// Write `config` and an OCI manifest over `layers` (which must already
    /// be in the store). Nothing is tagged.
    pub fn write_image(
        &self,
        config: &ImageConfig,
        layers: &[Descriptor],
        annotations: Option<BTreeMap<String, String>>,
    ) -> Result<StoredImage, StoreError> {
        for l in layers {
            if !self.has_blob(&l.digest) {
                return Err(StoreError::MissingBlob {
                    digest: l.digest.clone(),
                    path: self.blob_path(&l.digest),
                });
            }
        }
        let config_bytes = config.to_bytes();
        let id = self.put_bytes(&config_bytes)?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.to_owned()),
            config: Descriptor::new(media::OCI_CONFIG, id.clone(), config_bytes.len() as u64),
            layers: layers.to_vec(),
            annotations,
            extra: Default::default(),
        };
        let manifest_desc = self.put_json(media::OCI_MANIFEST, &manifest)?;
        Ok(StoredImage {
            name: None,
            manifest_desc,
            manifest,
            config: config.clone(),
            id,
        })
    }

    /// Resolve `desc` (a manifest, or an index holding a linux/amd64
    /// manifest) to the image. `reference` is only for messages.
    pub fn image_from_descriptor(
        &self,
        reference: &str,
        name: Option<String>,
        desc: &Descriptor,
    ) -> Result<StoredImage, StoreError> {
        let manifest_desc = self.platform_manifest(reference, desc)?;
        let manifest: Manifest = self.read_json(&manifest_desc.digest)?;
        let config: ImageConfig = self.read_json(&manifest.config.digest)?;
        Ok(StoredImage {
            name,
            id: manifest.config.digest.clone(),
            manifest_desc,
            manifest,
            config,
        })
    }

    /// The linux/amd64 manifest descriptor under `desc` (itself if it is a
    /// manifest).
    pub fn platform_manifest(
        &self,
        reference: &str,
        desc: &Descriptor,
    ) -> Result<Descriptor, StoreError> {
        let mut desc = desc.clone();
        for _ in 0..8 {
            if media::is_manifest(&desc.media_type) {
                return Ok(desc);
            }
            if !media::is_index(&desc.media_type) {
                return Err(StoreError::UnsupportedImage {
                    reference: reference.to_owned(),
                    reason: format!(
                        "{} has media type {:?}, not an image manifest or index",
                        desc.digest, desc.media_type
                    ),
                });
            }
            let index: Index = self.read_json(&desc.digest)?;
            desc = pick_platform(&index.manifests).cloned().ok_or_else(|| {
                StoreError::UnsupportedImage {
                    reference: reference.to_owned(),
                    reason: format!(
                        "index {} has no linux/amd64 manifest (hoist runs linux/amd64 only)",
                        desc.digest
                    ),
                }
            })?;
        }
        Err(StoreError::UnsupportedImage {
            reference: reference.to_owned(),
            reason: "indexes nested more than 8 deep".into(),
        })
    }
}

/// The linux/amd64 entry of an index (an entry without a platform counts if
/// it is the only image manifest).
pub fn pick_platform(manifests: &[Descriptor]) -> Option<&Descriptor> {
    let want = Platform::linux_amd64();
    let usable =
        |d: &&Descriptor| media::is_manifest(&d.media_type) || media::is_index(&d.media_type);
    manifests
        .iter()
        .filter(usable)
        .find(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == want.os && p.architecture == want.architecture)
        })
        .or_else(|| {
            let unplatformed: Vec<&Descriptor> = manifests
                .iter()
                .filter(usable)
                .filter(|d| d.platform.is_none())
                .collect();
            match unplatformed.as_slice() {
                [one] => Some(*one),
                _ => None,
            }
        })
}

/// Parse JSON with the path of a bad field in the error.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        StoreError::Json {
            what: what.to_owned(),
            field,
            source: e.into_inner(),
        }
    })?;
    de.end().map_err(|e| StoreError::Json {
        what: what.to_owned(),
        field: ".".into(),
        source: e,
    })?;
    Ok(value)
}

/// An io::Error that may carry a StoreError (from our Read/Write impls)
/// back to a StoreError; any other error is a read or write of `path`.
pub fn io_to_store(e: io::Error, path: &Path, writing: bool) -> StoreError {
    let kind = e.kind();
    if e.get_ref().is_some_and(|inner| inner.is::<StoreError>()) {
        if let Some(inner) = e.into_inner() {
            return match inner.downcast::<StoreError>() {
                Ok(se) => *se,
                Err(other) => StoreError::io("reading", path, io::Error::new(kind, other)),
            };
        }
        return StoreError::io("reading", path, io::Error::from(kind));
    }
    if writing {
        StoreError::write(path, e)
    } else {
        StoreError::io("reading", path, e)
    }
}
