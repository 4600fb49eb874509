//! Refs: the image names in `<root>/index.json`. Each tagged image is a
//! manifest descriptor whose `org.opencontainers.image.ref.name` annotation
//! is the full familiar name (`app:latest`, `localhost/base:v1`); an
//! untagged image (a build without `-t`, a load without names) is a
//! descriptor without annotations, kept until `prune`.
//!
//! Every change is a read-modify-write of index.json under the exclusive
//! index lock, written atomically. Must never tag a manifest that is not in
//! the store.

use std::collections::{BTreeMap, BTreeSet};
use std::io;

use tracing::debug;

use super::reference::{normalize_name, Reference};
use super::{blob_writer, parse_json, Store, StoreError, StoredImage};
use crate::digest::Digest;
use crate::image::{media, Descriptor, Index, Manifest};

impl Store {
    /// The store's index.json (empty if the file is missing).
    pub fn read_index(&self) -> Result<Index, StoreError> {
        let path = self.index_path();
        match std::fs::read(&path) {
            Ok(bytes) => parse_json(&bytes, &path.display().to_string()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Index::default()),
            Err(e) => Err(StoreError::io("reading", path, e)),
        }
    }

    pub(super) fn write_index(&self, index: &Index) -> Result<(), StoreError> {
        let mut index = index.clone();
        sort_entries(&mut index.manifests);
        let bytes = serde_json::to_vec(&index).map_err(|e| StoreError::Json {
            what: "serializing index.json".into(),
            field: String::new(),
            source: e,
        })?;
        blob_writer::write_file_atomic(&self.tmp_dir(), &self.index_path(), &bytes)
    }

    /// Read, change and write index.json under the index lock.
    fn modify_index<R>(
        &self,
        f: impl FnOnce(&mut Index) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let _lock = self.lock_index()?;
        let mut index = self.read_index()?;
        let out = f(&mut index)?;
        self.write_index(&index)?;
        Ok(out)
    }

    /// Point `name` (normalised: `app` → `app:latest`) at `manifest`,
    /// replacing an existing ref of that name. The manifest blob must be in
    /// the store.
    pub fn tag(&self, name: &str, manifest: &Descriptor) -> Result<(), StoreError> {
        let name = normalize_name(name)?;
        self.check_present(manifest)?;
        let mut desc = manifest.clone();
        desc.annotations = Some(BTreeMap::from([(media::REF_NAME.to_owned(), name.clone())]));
        self.modify_index(|index| {
            index.manifests.retain(|e| match e.ref_name() {
                Some(n) => n != name,
                None => e.digest != desc.digest,
            });
            index.manifests.push(desc);
            Ok(())
        })?;
        debug!(%name, digest = %manifest.digest, "tagged");
        Ok(())
    }

    /// Record an untagged image (kept until prune, found by id). A no-op if
    /// the manifest is already in the index under any name.
    pub fn add_untagged(&self, manifest: &Descriptor) -> Result<(), StoreError> {
        self.check_present(manifest)?;
        let mut desc = manifest.clone();
        desc.annotations = None;
        self.modify_index(|index| {
            if !index.manifests.iter().any(|e| e.digest == desc.digest) {
                index.manifests.push(desc);
            }
            Ok(())
        })
    }

    fn check_present(&self, desc: &Descriptor) -> Result<(), StoreError> {
        if self.has_blob(&desc.digest) {
            Ok(())
        } else {
            Err(StoreError::MissingBlob {
                digest: desc.digest.clone(),
                path: self.blob_path(&desc.digest),
            })
        }
    }

    /// Remove the ref `name` (tried in its usual spellings, like a lookup)
    /// and return what it pointed to.
    pub fn untag(&self, name: &str) -> Result<Descriptor, StoreError> {
        let r = Reference::parse(name)?;
        let candidates = r.candidates();
        self.modify_index(|index| {
            for c in &candidates {
                if let Some(pos) = index
                    .manifests
                    .iter()
                    .position(|e| e.ref_name() == Some(c.as_str()))
                {
                    let mut removed = index.manifests.remove(pos);
                    removed.annotations = None;
                    return Ok(removed);
                }
            }
            Err(StoreError::RefNotFound {
                name: name.to_owned(),
                root: self.root().to_owned(),
            })
        })
    }

    /// Every tagged name with its descriptor, sorted by name.
    pub fn refs(&self) -> Result<Vec<(String, Descriptor)>, StoreError> {
        let mut out: Vec<(String, Descriptor)> = self
            .read_index()?
            .manifests
            .into_iter()
            .filter_map(|d| d.ref_name().map(|n| (n.to_owned(), d.clone())))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Every index entry, tagged or not.
    pub fn entries(&self) -> Result<Vec<(Option<String>, Descriptor)>, StoreError> {
        Ok(self
            .read_index()?
            .manifests
            .into_iter()
            .map(|d| (d.ref_name().map(str::to_owned), d))
            .collect())
    }

    /// The index entry `reference` names, if any (see [`Store::image`] for
    /// the accepted forms).
    pub fn resolve(&self, reference: &str) -> Result<Option<Descriptor>, StoreError> {
        Ok(self.lookup(reference)?.map(|(_, d)| {
            let mut d = d;
            d.annotations = None;
            d
        }))
    }

    /// The image `reference` names: `name`, `name:tag`, `name@sha256:…`,
    /// `sha256:<image id or manifest digest>`, or a unique image-id prefix
    /// of at least 4 hex digits. An index resolves to its linux/amd64
    /// manifest.
    pub fn image(&self, reference: &str) -> Result<StoredImage, StoreError> {
        match self.lookup(reference)? {
            Some((name, desc)) => self.image_from_descriptor(reference, name, &desc),
            None => Err(StoreError::ImageNotFound {
                reference: reference.to_owned(),
                root: self.root().to_owned(),
            }),
        }
    }

    /// The config digest (image id) and platform manifest digest of an
    /// index entry, or None if it cannot be read.
    fn entry_ids(&self, desc: &Descriptor) -> Option<(Digest, Digest)> {
        let read = || -> Result<(Digest, Digest), StoreError> {
            let pm = self.platform_manifest("", desc)?;
            let m: Manifest = self.read_json(&pm.digest)?;
            Ok((m.config.digest, pm.digest))
        };
        match read() {
            Ok(ids) => Some(ids),
            Err(e) => {
                debug!(digest = %desc.digest, error = %e, "skipping unreadable index entry");
                None
            }
        }
    }

    fn lookup(&self, reference: &str) -> Result<Option<(Option<String>, Descriptor)>, StoreError> {
        let entries = self.read_index()?.manifests;
        if let Ok(d) = reference.parse::<Digest>() {
            if let Some(e) = entries.iter().find(|e| e.digest == d) {
                return Ok(Some((None, e.clone())));
            }
            for e in &entries {
                if let Some((id, pm)) = self.entry_ids(e) {
                    if id == d || pm == d {
                        return Ok(Some((None, e.clone())));
                    }
                }
            }
            return Ok(None);
        }
        match Reference::parse(reference) {
            Ok(r) => {
                let candidates = r.candidates();
                for c in &candidates {
                    let Some(e) = entries.iter().find(|e| e.ref_name() == Some(c.as_str())) else {
                        continue;
                    };
                    match &r.digest {
                        None => return Ok(Some((Some(c.clone()), e.clone()))),
                        Some(d) => {
                            let matches =
                                e.digest == *d || self.entry_ids(e).is_some_and(|(_, pm)| pm == *d);
                            if matches {
                                return Ok(Some((Some(c.clone()), e.clone())));
                            }
                        }
                    }
                }
            }
            Err(err) if !is_id_prefix(reference) => return Err(err),
            Err(_) => {}
        }
        if !is_id_prefix(reference) {
            return Ok(None);
        }
        let prefix = reference.strip_prefix("sha256:").unwrap_or(reference);
        let mut found: Vec<(Digest, Descriptor)> = Vec::new();
        for e in &entries {
            if let Some((id, _)) = self.entry_ids(e) {
                if id.hex().starts_with(prefix) && !found.iter().any(|(f, _)| *f == id) {
                    found.push((id, e.clone()));
                }
            }
        }
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop().map(|(_, e)| (None, e))),
            count => Err(StoreError::AmbiguousId {
                reference: reference.to_owned(),
                count,
                root: self.root().to_owned(),
            }),
        }
    }
}

/// 4 to 64 lowercase hex digits, optionally after `sha256:`.
fn is_id_prefix(s: &str) -> bool {
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    (4..=64).contains(&hex.len()) && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Named entries by name, then untagged ones by digest; duplicates dropped.
fn sort_entries(entries: &mut Vec<Descriptor>) {
    entries.sort_by(|a, b| {
        let key = |d: &Descriptor| {
            (
                d.ref_name().is_none(),
                d.ref_name().map(str::to_owned),
                d.digest.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    let mut seen = BTreeSet::new();
    entries.retain(|d| seen.insert((d.ref_name().map(str::to_owned), d.digest.clone())));
}
