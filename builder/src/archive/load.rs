//! `hoist load`: images from a docker-archive (docker save, podman save,
//! skopeo), an OCI archive or an OCI layout directory, into the store.
//!
//! A tar is read once, in order, and every file member is streamed into the
//! store as a blob as it goes (a docker-archive may put manifest.json after
//! the layers): members named `blobs/sha256/<hex>` are verified against
//! their name, others (`<id>/layer.tar`, `<hex>.json`) are named by what
//! they hash to. Then the images are resolved and checked (descriptor
//! sizes, layer diff_ids against the config) and only then tagged, all at
//! once. Layers of a docker-archive are kept as they are: an uncompressed
//! layer stays uncompressed (`application/vnd.oci.image.layer.v1.tar`), a
//! gzip or zstd one keeps its compression.
//!
//! Must never tag an image unless every blob it needs is in the store and
//! verified; an error leaves at most unreferenced blobs, which prune
//! removes.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;
use tracing::{debug, warn};

use super::export::CONTAINERD_IMAGE_NAME;
use super::ArchiveError;
use crate::digest::{Digest, HashingWriter};
use crate::image::{media, Descriptor, ImageConfig, Index, Manifest};
use crate::store::{pick_platform, Reference, Store, StoreError};

/// The files kept in memory rather than stored as blobs.
const META_FILES: [&str; 4] = ["manifest.json", "index.json", "oci-layout", "repositories"];
const META_LIMIT: u64 = 64 << 20;

/// An image `load` put in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    /// The names it was tagged with (familiar form); empty if untagged.
    pub names: Vec<String>,
    /// The image id (config digest).
    pub id: Digest,
    /// The manifest in the store.
    pub manifest: Descriptor,
}

/// Load every image in `input` (a tar file, possibly gzip/zstd/bzip2/xz
/// compressed, or a directory) into `store` and tag it.
pub fn load(store: &Store, input: &Path) -> Result<Vec<LoadedImage>, ArchiveError> {
    let _gc = store.gc_lock_shared()?;
    let md = fs::metadata(input).map_err(|e| ArchiveError::io("reading", input, e))?;
    let mut src: Box<dyn Source> = if md.is_dir() {
        Box::new(DirSource::new(input))
    } else {
        Box::new(TarSource::spool(store, input)?)
    };
    let pending = if src.meta("index.json")?.is_some() {
        oci_images(store, &mut *src)?
    } else if src.meta("manifest.json")?.is_some() {
        docker_images(store, &mut *src)?
    } else {
        return Err(ArchiveError::NotAnArchive {
            input: src.input().to_owned(),
        });
    };
    if pending.is_empty() {
        return Err(ArchiveError::Invalid {
            input: src.input().to_owned(),
            reason: "the archive holds no images".into(),
        });
    }
    for p in &pending {
        for d in &p.blobs {
            if !store.has_blob(d) {
                return Err(StoreError::MissingBlob {
                    digest: d.clone(),
                    path: store.blob_path(d),
                }
                .into());
            }
        }
    }
    let mut loaded = Vec::new();
    for p in pending {
        if p.names.is_empty() {
            store.add_untagged(&p.manifest)?;
            warn!(
                "{}: image {} has no name; it is loaded untagged: name it with \"hoist tag {} NAME:TAG\"",
                src.input(),
                p.id,
                p.id.short()
            );
        }
        for n in &p.names {
            store.tag(n, &p.manifest)?;
        }
        debug!(id = %p.id, names = ?p.names, "loaded");
        loaded.push(LoadedImage {
            names: p.names,
            id: p.id,
            manifest: p.manifest,
        });
    }
    Ok(loaded)
}

/// An image ready to tag.
struct Pending {
    names: Vec<String>,
    id: Digest,
    manifest: Descriptor,
    blobs: Vec<Digest>,
}

fn add_pending(list: &mut Vec<Pending>, p: Pending) {
    match list
        .iter_mut()
        .find(|x| x.manifest.digest == p.manifest.digest)
    {
        Some(existing) => {
            for n in p.names {
                if !existing.names.contains(&n) {
                    existing.names.push(n);
                }
            }
        }
        None => list.push(p),
    }
}

/// Where members come from: a spooled tar or a directory.
trait Source {
    fn input(&self) -> &str;
    fn meta(&mut self, name: &str) -> Result<Option<Vec<u8>>, ArchiveError>;
    /// The member at `member` as a blob in the store, checked against
    /// `expected` if given.
    fn import(
        &mut self,
        store: &Store,
        member: &str,
        expected: Option<&Digest>,
        needed_by: &str,
    ) -> Result<(Digest, u64), ArchiveError>;
}

/// `a/./b//c` → `a/b/c`; `..` pops; None if it climbs out of the root.
fn clean(p: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

fn blob_member(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

/// The digest a member's path names: `blobs/sha256/<hex>`.
fn digest_from_member(member: &str) -> Option<Digest> {
    let name = clean(member)?;
    let hex = name.strip_prefix("blobs/sha256/")?;
    format!("sha256:{hex}").parse().ok()
}

/// docker's per-layer legacy files (`<id>/json`, `<id>/VERSION`): ignored.
fn is_legacy_metadata(name: &str) -> bool {
    matches!(
        name.split('/').collect::<Vec<_>>().as_slice(),
        [_, "json" | "VERSION"]
    )
}

/// Map a commit error, naming the member on a digest mismatch.
fn commit_error(input: &str, member: &str, e: StoreError) -> ArchiveError {
    match e {
        StoreError::DigestMismatch {
            expected, actual, ..
        } => ArchiveError::DigestMismatch {
            input: input.to_owned(),
            member: member.to_owned(),
            expected,
            actual,
        },
        other => ArchiveError::Store(other),
    }
}

/// Stream `r` into a new blob: (digest, size).
fn stream_blob(
    store: &Store,
    input: &str,
    member: &str,
    mut r: impl Read,
    want_size: Option<u64>,
    expected: Option<&Digest>,
) -> Result<(Digest, u64), ArchiveError> {
    let mut w = store.blob_writer()?;
    let temp = w.temp_path().to_owned();
    let n = match io::copy(&mut r, &mut w) {
        Ok(n) => n,
        Err(e) if e.get_ref().is_some_and(|i| i.is::<StoreError>()) => {
            return Err(crate::store::io_to_store(e, &temp, true).into())
        }
        Err(e) => {
            return Err(ArchiveError::Member {
                input: input.to_owned(),
                member: member.to_owned(),
                reason: format!("reading: {e}"),
            })
        }
    };
    if let Some(size) = want_size {
        if n != size {
            return Err(ArchiveError::Member {
                input: input.to_owned(),
                member: member.to_owned(),
                reason: format!("truncated: {n} of {size} bytes: the archive is incomplete"),
            });
        }
    }
    w.commit(expected)
        .map_err(|e| commit_error(input, member, e))
}

/// What a tar member became.
enum Spooled {
    Blob(Digest, u64),
    Link(String),
}

struct TarSource {
    input: String,
    members: HashMap<String, Spooled>,
    meta: HashMap<String, Vec<u8>>,
}

/// Wrap `r` in the decompressor its first bytes call for.
fn decompress<R: BufRead + 'static>(mut r: R) -> io::Result<Box<dyn Read>> {
    let head = r.fill_buf()?.to_vec();
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::bufread::MultiGzDecoder::new(r))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::with_buffer(r)?)
    } else if head.starts_with(b"BZh") {
        Box::new(bzip2::bufread::MultiBzDecoder::new(r))
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(r))
    } else {
        Box::new(r)
    })
}

impl TarSource {
    fn spool(store: &Store, path: &Path) -> Result<TarSource, ArchiveError> {
        let input = path.display().to_string();
        let file = File::open(path).map_err(|e| ArchiveError::io("opening", path, e))?;
        let reader = decompress(BufReader::with_capacity(256 * 1024, file))
            .map_err(|e| ArchiveError::io("reading", path, e))?;
        let mut src = TarSource {
            input: input.clone(),
            members: HashMap::new(),
            meta: HashMap::new(),
        };
        let mut archive = tar::Archive::new(reader);
        let tar_err = |after: &Option<String>, source: io::Error| ArchiveError::Tar {
            input: input.clone(),
            after: after.clone(),
            source,
        };
        let mut last: Option<String> = None;
        let entries = archive.entries().map_err(|e| tar_err(&last, e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| tar_err(&last, e))?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Some(name) = clean(&raw) else {
                debug!(member = %raw, "skipping a member outside the archive root");
                last = Some(raw);
                continue;
            };
            let kind = entry.header().entry_type();
            if kind.is_file() {
                let size = entry.size();
                if META_FILES.contains(&name.as_str()) {
                    if size > META_LIMIT {
                        return Err(ArchiveError::Member {
                            input,
                            member: raw,
                            reason: format!("{size} bytes is too large for this file"),
                        });
                    }
                    let mut buf = Vec::new();
                    entry
                        .read_to_end(&mut buf)
                        .map_err(|e| tar_err(&Some(raw.clone()), e))?;
                    if buf.len() as u64 != size {
                        return Err(ArchiveError::Member {
                            input,
                            member: raw,
                            reason: format!(
                                "truncated: {} of {size} bytes: the archive is incomplete",
                                buf.len()
                            ),
                        });
                    }
                    src.meta.insert(name, buf);
                } else if !is_legacy_metadata(&name) {
                    let expected = digest_from_member(&name);
                    let (d, n) = stream_blob(
                        store,
                        &input,
                        &raw,
                        &mut entry,
                        Some(size),
                        expected.as_ref(),
                    )?;
                    src.members.insert(name, Spooled::Blob(d, n));
                }
            } else if kind.is_symlink() || kind.is_hard_link() {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                let resolved = if kind.is_hard_link() || target.starts_with('/') {
                    clean(&target)
                } else {
                    let parent = name.rsplit_once('/').map_or("", |(p, _)| p);
                    clean(&format!("{parent}/{target}"))
                };
                if let Some(t) = resolved {
                    src.members.insert(name, Spooled::Link(t));
                }
            }
            last = Some(raw);
        }
        if src.members.is_empty() && src.meta.is_empty() {
            return Err(ArchiveError::NotAnArchive { input });
        }
        Ok(src)
    }
}

fn missing(input: &str, member: &str, needed_by: &str) -> ArchiveError {
    ArchiveError::MissingMember {
        input: input.to_owned(),
        member: member.to_owned(),
        needed_by: needed_by.to_owned(),
    }
}

/// A member not in the archive is fine if the store already has its blob
/// (checked against its digest here).
fn from_store(store: &Store, expected: Option<&Digest>) -> Option<(Digest, u64)> {
    let d = expected?;
    let mut r = store.open_blob(d).ok()?;
    match io::copy(&mut r, &mut io::sink()) {
        Ok(n) => Some((d.clone(), n)),
        Err(e) => {
            warn!("not using the store's copy of {d}: {e}");
            None
        }
    }
}

impl Source for TarSource {
    fn input(&self) -> &str {
        &self.input
    }

    fn meta(&mut self, name: &str) -> Result<Option<Vec<u8>>, ArchiveError> {
        Ok(self.meta.get(name).cloned())
    }

    fn import(
        &mut self,
        store: &Store,
        member: &str,
        expected: Option<&Digest>,
        needed_by: &str,
    ) -> Result<(Digest, u64), ArchiveError> {
        let mut name = clean(member).unwrap_or_else(|| member.to_owned());
        for _ in 0..16 {
            match self.members.get(&name) {
                Some(Spooled::Blob(d, n)) => {
                    if let Some(want) = expected {
                        if want != d {
                            return Err(ArchiveError::DigestMismatch {
                                input: self.input.clone(),
                                member: member.to_owned(),
                                expected: want.clone(),
                                actual: d.clone(),
                            });
                        }
                    }
                    return Ok((d.clone(), *n));
                }
                Some(Spooled::Link(t)) => name = t.clone(),
                None => break,
            }
        }
        from_store(store, expected).ok_or_else(|| missing(&self.input, member, needed_by))
    }
}

/// An OCI layout directory (or an unpacked docker-archive): members are
/// imported when first needed.
struct DirSource {
    root: PathBuf,
    input: String,
    imported: HashMap<String, (Digest, u64)>,
}

impl DirSource {
    fn new(root: &Path) -> DirSource {
        DirSource {
            root: root.to_owned(),
            input: root.display().to_string(),
            imported: HashMap::new(),
        }
    }
}

impl Source for DirSource {
    fn input(&self) -> &str {
        &self.input
    }

    fn meta(&mut self, name: &str) -> Result<Option<Vec<u8>>, ArchiveError> {
        let path = self.root.join(name);
        match fs::metadata(&path) {
            Ok(m) if m.len() > META_LIMIT => Err(ArchiveError::Member {
                input: self.input.clone(),
                member: name.to_owned(),
                reason: format!("{} bytes is too large for this file", m.len()),
            }),
            Ok(_) => fs::read(&path)
                .map(Some)
                .map_err(|e| ArchiveError::io("reading", path, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ArchiveError::io("reading", path, e)),
        }
    }

    fn import(
        &mut self,
        store: &Store,
        member: &str,
        expected: Option<&Digest>,
        needed_by: &str,
    ) -> Result<(Digest, u64), ArchiveError> {
        let Some(name) = clean(member).filter(|n| !n.is_empty()) else {
            return Err(ArchiveError::Member {
                input: self.input.clone(),
                member: member.to_owned(),
                reason: "the path leaves the directory".into(),
            });
        };
        if let Some(done) = self.imported.get(&name) {
            return Ok(done.clone());
        }
        let path = self.root.join(&name);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return from_store(store, expected)
                    .ok_or_else(|| missing(&self.input, member, needed_by))
            }
            Err(e) => return Err(ArchiveError::io("opening", path, e)),
        };
        let size = file
            .metadata()
            .map_err(|e| ArchiveError::io("reading", &path, e))?
            .len();
        let got = stream_blob(store, &self.input, &name, file, Some(size), expected)?;
        self.imported.insert(name, got.clone());
        Ok(got)
    }
}

fn parse_member<T: DeserializeOwned>(
    input: &str,
    member: &str,
    bytes: &[u8],
) -> Result<T, ArchiveError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| ArchiveError::Json {
        input: input.to_owned(),
        member: member.to_owned(),
        field: e.path().to_string(),
        source: e.into_inner(),
    })
}

/// A JSON blob just imported, parsed with errors naming the member.
fn read_member_json<T: DeserializeOwned>(
    store: &Store,
    input: &str,
    member: &str,
    d: &Digest,
) -> Result<T, ArchiveError> {
    let bytes = store.read_blob(d)?;
    parse_member(input, member, &bytes)
}

/// Import `desc`'s blob and check its size.
fn import_desc(
    store: &Store,
    src: &mut dyn Source,
    desc: &Descriptor,
    needed_by: &str,
) -> Result<(), ArchiveError> {
    let member = blob_member(&desc.digest);
    let (_, size) = src.import(store, &member, Some(&desc.digest), needed_by)?;
    if size != desc.size {
        return Err(ArchiveError::Member {
            input: src.input().to_owned(),
            member,
            reason: format!(
                "is {size} bytes but {needed_by} says {}: the archive is corrupt",
                desc.size
            ),
        });
    }
    Ok(())
}

fn warn_platform(input: &str, id: &Digest, config: &ImageConfig) {
    if config.os != "linux" || config.architecture != "amd64" {
        warn!(
            "{input}: image {id} is {}/{}; hoist builds and runs linux/amd64",
            config.os, config.architecture
        );
    }
}

/// Import a manifest, its config and layers; check layers against
/// diff_ids. Returns the image id and the blobs.
fn import_image(
    store: &Store,
    src: &mut dyn Source,
    desc: &Descriptor,
    needed_by: &str,
) -> Result<(Digest, Vec<Digest>), ArchiveError> {
    let input = src.input().to_owned();
    let member = blob_member(&desc.digest);
    let manifest: Manifest = read_member_json(store, &input, &member, &desc.digest)?;
    let by = format!("manifest {member}");
    import_desc(store, src, &manifest.config, &by)?;
    let config_member = blob_member(&manifest.config.digest);
    let config: ImageConfig =
        read_member_json(store, &input, &config_member, &manifest.config.digest)?;
    warn_platform(&input, &manifest.config.digest, &config);
    if manifest.layers.len() != config.rootfs.diff_ids.len() {
        return Err(ArchiveError::Invalid {
            input,
            reason: format!(
                "{member} (from {needed_by}) has {} layers but its config {config_member} lists {} diff_ids",
                manifest.layers.len(),
                config.rootfs.diff_ids.len()
            ),
        });
    }
    let mut blobs = vec![desc.digest.clone(), manifest.config.digest.clone()];
    for (i, layer) in manifest.layers.iter().enumerate() {
        import_desc(store, src, layer, &by)?;
        let uncompressed =
            layer.media_type == media::OCI_LAYER_TAR || layer.media_type == media::DOCKER_LAYER_TAR;
        if uncompressed && layer.digest != config.rootfs.diff_ids[i] {
            return Err(ArchiveError::DiffId {
                input,
                member: blob_member(&layer.digest),
                index: i,
                expected: config.rootfs.diff_ids[i].clone(),
                actual: layer.digest.clone(),
            });
        }
        blobs.push(layer.digest.clone());
    }
    Ok((manifest.config.digest, blobs))
}

/// Names from an OCI index entry's annotations (familiar form).
fn annotation_names(input: &str, desc: &Descriptor) -> Vec<String> {
    let ann = desc.annotations.as_ref();
    if let Some(full) = ann.and_then(|a| a.get(CONTAINERD_IMAGE_NAME)) {
        match Reference::parse(full) {
            Ok(r) if r.digest.is_none() => return vec![r.familiar()],
            _ => warn!("{input}: ignoring the invalid image name {full:?}"),
        }
    }
    let Some(rn) = desc.ref_name() else {
        return Vec::new();
    };
    if rn.contains([':', '/']) {
        if let Ok(r) = Reference::parse(rn) {
            if r.digest.is_none() {
                return vec![r.familiar()];
            }
        }
    }
    warn!(
        "{input}: ref name {rn:?} of {} is only a tag, not an image name: the image is loaded untagged",
        desc.digest
    );
    Vec::new()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    layers: Vec<String>,
}

fn repo_tag_names(input: &str, tags: &Option<Vec<String>>) -> Vec<String> {
    let mut out = Vec::new();
    for t in tags.iter().flatten() {
        match Reference::parse(t) {
            Ok(r) if r.digest.is_none() => {
                let n = r.familiar();
                if !out.contains(&n) {
                    out.push(n);
                }
            }
            _ => warn!("{input}: ignoring the invalid RepoTag {t:?}"),
        }
    }
    out
}

fn oci_images(store: &Store, src: &mut dyn Source) -> Result<Vec<Pending>, ArchiveError> {
    let input = src.input().to_owned();
    if let Some(b) = src.meta("oci-layout")? {
        let v: serde_json::Value = parse_member(&input, "oci-layout", &b)?;
        let version = v.get("imageLayoutVersion").and_then(|v| v.as_str());
        if version != Some(media::OCI_LAYOUT_VERSION) {
            warn!("{input}: oci-layout has imageLayoutVersion {version:?}, reading it as 1.0.0");
        }
    }
    let index_bytes = src.meta("index.json")?.unwrap_or_default();
    let index: Index = parse_member(&input, "index.json", &index_bytes)?;
    let mut repo_tags: HashMap<Digest, Vec<String>> = HashMap::new();
    if let Some(b) = src.meta("manifest.json")? {
        let entries: Vec<DockerEntry> = parse_member(&input, "manifest.json", &b)?;
        for e in &entries {
            if let Some(d) = digest_from_member(&e.config) {
                repo_tags
                    .entry(d)
                    .or_default()
                    .extend(repo_tag_names(&input, &e.repo_tags));
            }
        }
    }
    let mut pending = Vec::new();
    for (i, top) in index.manifests.iter().enumerate() {
        let needed_by = format!("index.json manifests[{i}]");
        if !media::is_manifest(&top.media_type) && !media::is_index(&top.media_type) {
            warn!(
                "{input}: {needed_by} has media type {:?}, not an image: skipped",
                top.media_type
            );
            continue;
        }
        let mut desc = top.clone();
        let mut by = needed_by.clone();
        for _ in 0..8 {
            import_desc(store, src, &desc, &by)?;
            if !media::is_index(&desc.media_type) {
                break;
            }
            let member = blob_member(&desc.digest);
            let idx: Index = read_member_json(store, &input, &member, &desc.digest)?;
            desc = pick_platform(&idx.manifests)
                .cloned()
                .ok_or_else(|| ArchiveError::Invalid {
                    input: input.clone(),
                    reason: format!(
                        "index {member} (from {needed_by}) has no linux/amd64 image manifest"
                    ),
                })?;
            by = format!("index {member}");
        }
        if !media::is_manifest(&desc.media_type) {
            return Err(ArchiveError::Invalid {
                input,
                reason: format!("{needed_by}: indexes nested too deep"),
            });
        }
        let (id, blobs) = import_image(store, src, &desc, &by)?;
        let mut names = annotation_names(&input, top);
        for n in repo_tags.get(&id).into_iter().flatten() {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        add_pending(
            &mut pending,
            Pending {
                names,
                id,
                manifest: Descriptor::new(&desc.media_type, desc.digest.clone(), desc.size),
                blobs,
            },
        );
    }
    Ok(pending)
}

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Zstd,
    Other(&'static str),
}

fn sniff(store: &Store, d: &Digest) -> Result<Compression, ArchiveError> {
    let path = store.blob_path(d);
    let mut head = [0u8; 6];
    let mut f = File::open(&path).map_err(|e| ArchiveError::io("opening", &path, e))?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ArchiveError::io("reading", &path, e)),
        }
    }
    let head = &head[..n];
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else if head.starts_with(b"BZh") {
        Compression::Other("bzip2")
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Compression::Other("xz")
    } else {
        Compression::None
    })
}

/// The digest of a compressed layer's uncompressed bytes.
fn diff_id_of(
    store: &Store,
    input: &str,
    member: &str,
    d: &Digest,
    c: Compression,
) -> Result<Digest, ArchiveError> {
    let blob = BufReader::with_capacity(256 * 1024, store.open_blob(d)?);
    let mut reader: Box<dyn Read> = match c {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(blob)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(blob)
                .map_err(|e| ArchiveError::io("reading", store.blob_path(d), e))?,
        ),
        _ => return Ok(d.clone()),
    };
    let mut w = HashingWriter::new(io::sink());
    if let Err(e) = io::copy(&mut reader, &mut w) {
        if e.get_ref().is_some_and(|i| i.is::<StoreError>()) {
            return Err(crate::store::io_to_store(e, &store.blob_path(d), false).into());
        }
        return Err(ArchiveError::Member {
            input: input.to_owned(),
            member: member.to_owned(),
            reason: format!("decompressing the layer: {e}"),
        });
    }
    Ok(w.finish().1)
}

fn docker_images(store: &Store, src: &mut dyn Source) -> Result<Vec<Pending>, ArchiveError> {
    let input = src.input().to_owned();
    let bytes = src.meta("manifest.json")?.unwrap_or_default();
    let entries: Vec<DockerEntry> = parse_member(&input, "manifest.json", &bytes)?;
    let mut pending = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let needed_by = format!("manifest.json [{i}]");
        let (config_digest, config_size) = src.import(
            store,
            &e.config,
            digest_from_member(&e.config).as_ref(),
            &needed_by,
        )?;
        let config: ImageConfig = read_member_json(store, &input, &e.config, &config_digest)?;
        warn_platform(&input, &config_digest, &config);
        let diff_ids = &config.rootfs.diff_ids;
        if e.layers.len() != diff_ids.len() {
            return Err(ArchiveError::Invalid {
                input,
                reason: format!(
                    "{needed_by} lists {} layers but its config {:?} lists {} diff_ids",
                    e.layers.len(),
                    e.config,
                    diff_ids.len()
                ),
            });
        }
        let mut layers = Vec::new();
        let mut blobs = vec![config_digest.clone()];
        for (j, path) in e.layers.iter().enumerate() {
            let (d, size) =
                src.import(store, path, digest_from_member(path).as_ref(), &needed_by)?;
            let c = sniff(store, &d)?;
            let media_type = match c {
                Compression::None => media::OCI_LAYER_TAR,
                Compression::Gzip => media::OCI_LAYER_GZIP,
                Compression::Zstd => media::OCI_LAYER_ZSTD,
                Compression::Other(name) => {
                    return Err(ArchiveError::Member {
                        input,
                        member: path.clone(),
                        reason: format!("{name}-compressed layers are not supported: recompress the image with gzip or zstd (skopeo copy --dest-compress-format)"),
                    })
                }
            };
            let diff = diff_id_of(store, &input, path, &d, c)?;
            if diff != diff_ids[j] {
                return Err(ArchiveError::DiffId {
                    input,
                    member: path.clone(),
                    index: j,
                    expected: diff_ids[j].clone(),
                    actual: diff,
                });
            }
            layers.push(Descriptor::new(media_type, d.clone(), size));
            blobs.push(d);
        }
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.to_owned()),
            config: Descriptor::new(media::OCI_CONFIG, config_digest.clone(), config_size),
            layers,
            annotations: None,
            extra: Default::default(),
        };
        let mdesc = store.put_json(media::OCI_MANIFEST, &manifest)?;
        blobs.push(mdesc.digest.clone());
        add_pending(
            &mut pending,
            Pending {
                names: repo_tag_names(&input, &e.repo_tags),
                id: config_digest,
                manifest: mdesc,
                blobs,
            },
        );
    }
    Ok(pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_paths() {
        assert_eq!(clean("./a//b/./c").as_deref(), Some("a/b/c"));
        assert_eq!(clean("a/../b").as_deref(), Some("b"));
        assert_eq!(clean("../x"), None);
        let d = Digest::of(b"x");
        assert_eq!(
            digest_from_member(&format!("./blobs/sha256/{}", d.hex())),
            Some(d)
        );
        assert_eq!(digest_from_member("blobs/sha256/zz"), None);
        assert!(is_legacy_metadata("abc/json"));
        assert!(is_legacy_metadata("abc/VERSION"));
        assert!(!is_legacy_metadata("abc/layer.tar"));
        assert!(!is_legacy_metadata("json"));
    }
}
