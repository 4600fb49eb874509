//! Writing images out: `save` and `-o type=docker` (a tar that is both a
//! docker-archive and an OCI layout), `-o type=oci` (an OCI archive tar)
//! and `-o type=oci-layout` (a layout directory, added to if it exists).
//!
//! Output is deterministic: the same images give the same bytes. Blobs are
//! streamed from the store, verified; a corrupt blob fails the export. Must
//! never write a blob it has not read back whole and verified.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;

use super::tar_writer::TarWriter;
use super::ArchiveError;
use crate::digest::Digest;
use crate::image::{media, Descriptor, Index, Platform};
use crate::store::{Reference, Store, StoreError, StoredImage};

/// containerd's annotation for the full image name.
pub const CONTAINERD_IMAGE_NAME: &str = "io.containerd.image.name";

/// One image to write and the names to give it.
struct ExportImage {
    image: StoredImage,
    names: Vec<Reference>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    /// OCI layout plus manifest.json and repositories.
    Docker,
    Oci,
}

fn blob_member(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

fn parse_names(names: &[String]) -> Result<Vec<Reference>, ArchiveError> {
    let mut out: Vec<Reference> = Vec::new();
    for n in names {
        let r = Reference::parse(n)?;
        if r.digest.is_some() {
            return Err(StoreError::InvalidReference {
                reference: n.clone(),
                reason: "a name to export under cannot carry a digest".into(),
            }
            .into());
        }
        if !out.iter().any(|o| o.familiar() == r.familiar()) {
            out.push(r);
        }
    }
    Ok(out)
}

fn one(store: &Store, reference: &str, tag_names: &[String]) -> Result<ExportImage, ArchiveError> {
    let image = store.image(reference)?;
    let names = if tag_names.is_empty() {
        image.name.iter().cloned().collect()
    } else {
        tag_names.to_vec()
    };
    Ok(ExportImage {
        names: parse_names(&names)?,
        image,
    })
}

/// `hoist save`: the images `references` name, in one tar that is both a
/// docker-archive (`manifest.json`, `repositories`) and an OCI layout.
/// An image named by its id is saved without a name.
pub fn save(store: &Store, references: &[String], out: impl Write) -> Result<(), ArchiveError> {
    let _gc = store.gc_lock_shared()?;
    let mut items: Vec<ExportImage> = Vec::new();
    for r in references {
        let item = one(store, r, &[])?;
        match items
            .iter_mut()
            .find(|i| i.image.manifest_desc.digest == item.image.manifest_desc.digest)
        {
            Some(existing) => {
                for n in item.names {
                    if !existing.names.iter().any(|o| o.familiar() == n.familiar()) {
                        existing.names.push(n);
                    }
                }
            }
            None => items.push(item),
        }
    }
    write_archive(store, &items, out, Format::Docker)
}

/// `-o type=docker`: the same format as [`save`], for one image under
/// `tag_names` (its stored name if none are given).
pub fn export_docker_archive(
    store: &Store,
    reference: &str,
    tag_names: &[String],
    out: impl Write,
) -> Result<(), ArchiveError> {
    let _gc = store.gc_lock_shared()?;
    let item = one(store, reference, tag_names)?;
    write_archive(store, &[item], out, Format::Docker)
}

/// `-o type=oci,dest=FILE.tar`: an OCI archive (no manifest.json).
pub fn export_oci_archive(
    store: &Store,
    reference: &str,
    tag_names: &[String],
    out: impl Write,
) -> Result<(), ArchiveError> {
    let _gc = store.gc_lock_shared()?;
    let item = one(store, reference, tag_names)?;
    write_archive(store, &[item], out, Format::Oci)
}

fn platform_of(image: &StoredImage) -> Platform {
    Platform {
        architecture: image.config.architecture.clone(),
        os: image.config.os.clone(),
        variant: image.config.variant.clone(),
        ..Platform::default()
    }
}

/// The index.json entries for `item`: one per name (annotated as
/// BuildKit's exporter does), or one without a name.
fn index_entries(item: &ExportImage) -> Vec<Descriptor> {
    let mut base = Descriptor::new(
        &item.image.manifest_desc.media_type,
        item.image.manifest_desc.digest.clone(),
        item.image.manifest_desc.size,
    );
    base.platform = Some(platform_of(&item.image));
    if item.names.is_empty() {
        return vec![base];
    }
    item.names
        .iter()
        .map(|r| {
            let mut d = base.clone();
            d.annotations = Some(BTreeMap::from([
                (CONTAINERD_IMAGE_NAME.to_owned(), r.fully_qualified()),
                (media::REF_NAME.to_owned(), r.tag_or_latest().to_owned()),
            ]));
            d
        })
        .collect()
}

/// Every blob of `items` with its size, in digest order.
fn blobs_of(items: &[ExportImage]) -> BTreeMap<Digest, u64> {
    let mut blobs = BTreeMap::new();
    for item in items {
        let m = &item.image.manifest;
        blobs.insert(
            item.image.manifest_desc.digest.clone(),
            item.image.manifest_desc.size,
        );
        blobs.insert(m.config.digest.clone(), m.config.size);
        for l in &m.layers {
            blobs.insert(l.digest.clone(), l.size);
        }
    }
    blobs
}

fn layout_file() -> Vec<u8> {
    format!(
        "{{\"imageLayoutVersion\":\"{}\"}}",
        media::OCI_LAYOUT_VERSION
    )
    .into_bytes()
}

fn to_json<T: Serialize>(v: &T, what: &str) -> Result<Vec<u8>, ArchiveError> {
    serde_json::to_vec(v).map_err(|e| ArchiveError::Invalid {
        input: what.to_owned(),
        reason: format!("serializing: {e}"),
    })
}

fn write_archive(
    store: &Store,
    items: &[ExportImage],
    out: impl Write,
    format: Format,
) -> Result<(), ArchiveError> {
    let index = Index {
        manifests: items.iter().flat_map(index_entries).collect(),
        ..Index::default()
    };
    let mut tar = TarWriter::new(out);
    tar.file("oci-layout", &layout_file())?;
    tar.file("index.json", &to_json(&index, "index.json")?)?;
    if format == Format::Docker {
        let manifest: Vec<DockerManifestEntry> = items
            .iter()
            .map(|i| DockerManifestEntry {
                config: blob_member(&i.image.id),
                repo_tags: (!i.names.is_empty())
                    .then(|| i.names.iter().map(Reference::familiar).collect()),
                layers: i
                    .image
                    .manifest
                    .layers
                    .iter()
                    .map(|l| blob_member(&l.digest))
                    .collect(),
            })
            .collect();
        tar.file("manifest.json", &to_json(&manifest, "manifest.json")?)?;
        let mut repos: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for i in items {
            let Some(top) = i.image.manifest.layers.last() else {
                continue;
            };
            for n in &i.names {
                repos
                    .entry(n.familiar_name())
                    .or_default()
                    .insert(n.tag_or_latest().to_owned(), top.digest.hex().to_owned());
            }
        }
        if !repos.is_empty() {
            tar.file("repositories", &to_json(&repos, "repositories")?)?;
        }
    }
    tar.dir("blobs/")?;
    tar.dir("blobs/sha256/")?;
    for (digest, size) in blobs_of(items) {
        let mut r = store.open_blob(&digest)?;
        check_size(&r, size)?;
        tar.stream(&blob_member(&digest), size, &mut r)?;
    }
    tar.finish()?;
    Ok(())
}

fn check_size(r: &crate::store::VerifiedReader, size: u64) -> Result<(), ArchiveError> {
    if r.len() == size {
        return Ok(());
    }
    Err(ArchiveError::Invalid {
        input: r.path().display().to_string(),
        reason: format!(
            "blob {} is {} bytes but its descriptor says {size}: the blob is corrupt; load or build the image again",
            r.digest(),
            r.len()
        ),
    })
}

/// `-o type=oci-layout,dest=DIR`: write the image into the OCI layout at
/// `dest_dir` (created if missing). An existing layout keeps its other
/// images; an entry with the same ref name is replaced.
pub fn export_oci_layout(
    store: &Store,
    reference: &str,
    tag_names: &[String],
    dest_dir: &Path,
) -> Result<(), ArchiveError> {
    let _gc = store.gc_lock_shared()?;
    let item = one(store, reference, tag_names)?;
    let blobs_dir = dest_dir.join("blobs").join("sha256");
    fs::create_dir_all(&blobs_dir)
        .map_err(|e| ArchiveError::io("creating directory", &blobs_dir, e))?;

    let layout = dest_dir.join("oci-layout");
    match fs::read(&layout) {
        Ok(bytes) => {
            let v: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| ArchiveError::Destination {
                    dest: layout.clone(),
                    reason: format!("not an OCI layout file: {e}"),
                })?;
            if v.get("imageLayoutVersion").and_then(|v| v.as_str())
                != Some(media::OCI_LAYOUT_VERSION)
            {
                return Err(ArchiveError::Destination {
                    dest: layout,
                    reason: format!(
                        "unsupported imageLayoutVersion (hoist writes {:?})",
                        media::OCI_LAYOUT_VERSION
                    ),
                });
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            write_atomic(dest_dir, &layout, &layout_file())?
        }
        Err(e) => return Err(ArchiveError::io("reading", layout, e)),
    }

    for (digest, size) in blobs_of(std::slice::from_ref(&item)) {
        let dest = blobs_dir.join(digest.hex());
        if fs::metadata(&dest).is_ok_and(|m| m.is_file() && m.len() == size) {
            continue;
        }
        let mut r = store.open_blob(&digest)?;
        check_size(&r, size)?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&blobs_dir)
            .map_err(|e| ArchiveError::io("creating a temp file in", &blobs_dir, e))?;
        let tmp_path = tmp.path().to_owned();
        io::copy(&mut r, tmp.as_file_mut())
            .map_err(|e| ArchiveError::Store(crate::store::io_to_store(e, &tmp_path, true)))?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| ArchiveError::io("writing", tmp.path(), e))?;
        tmp.persist(&dest)
            .map_err(|e| ArchiveError::io("renaming a temp file to", &dest, e.error))?;
        set_mode_644(&dest)?;
    }

    let index_path = dest_dir.join("index.json");
    let mut index: Index = match fs::read(&index_path) {
        Ok(bytes) => {
            let mut de = serde_json::Deserializer::from_slice(&bytes);
            serde_path_to_error::deserialize(&mut de).map_err(|e| ArchiveError::Json {
                input: dest_dir.display().to_string(),
                member: "index.json".into(),
                field: e.path().to_string(),
                source: e.into_inner(),
            })?
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Index::default(),
        Err(e) => return Err(ArchiveError::io("reading", index_path, e)),
    };
    // An entry is replaced by one of the same full name (or, without one,
    // the same ref name); unnamed entries of the same manifest merge.
    let full_name = |d: &Descriptor| {
        d.annotations
            .as_ref()
            .and_then(|a| a.get(CONTAINERD_IMAGE_NAME))
            .cloned()
    };
    for entry in index_entries(&item) {
        index
            .manifests
            .retain(|e| match (full_name(&entry), entry.ref_name()) {
                (Some(full), _) => full_name(e).as_ref() != Some(&full),
                (None, Some(name)) => e.ref_name() != Some(name),
                (None, None) => !(e.ref_name().is_none() && e.digest == entry.digest),
            });
        index.manifests.push(entry);
    }
    write_atomic(dest_dir, &index_path, &to_json(&index, "index.json")?)
}

fn set_mode_644(path: &Path) -> Result<(), ArchiveError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o644))
        .map_err(|e| ArchiveError::io("setting the mode of", path, e))
}

fn write_atomic(dir: &Path, dest: &Path, bytes: &[u8]) -> Result<(), ArchiveError> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|e| ArchiveError::io("creating a temp file in", dir, e))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| ArchiveError::io("writing", tmp.path().to_owned(), e))?;
    tmp.persist(dest)
        .map_err(|e| ArchiveError::io("renaming a temp file to", dest, e.error))?;
    set_mode_644(dest)
}
