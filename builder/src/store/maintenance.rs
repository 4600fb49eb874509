//! `prune` (remove cache records, unreachable blobs, untagged images, temp
//! leftovers, the layer snapshots of RUN steps no image uses and the
//! `RUN --mount=type=cache` dirs, as `docker builder prune` does) and `fsck` (check everything, change nothing).
//!
//! Both take the gc lock exclusively, so they wait for builds and loads to
//! finish. prune must never remove a blob reachable from a tag; fsck must
//! never modify the store.

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use tracing::{debug, warn};

use super::{blob_writer, parse_json, pick_platform, Store, StoreError};
use crate::digest::{Digest, HashingReader};
use crate::image::{media, Descriptor, ImageConfig, Index, Manifest};

/// What `prune` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub cache_records_removed: usize,
    pub untagged_images_removed: usize,
    pub blobs_removed: usize,
    /// Bytes of removed blobs.
    pub bytes_freed: u64,
    pub tmp_files_removed: usize,
    /// Unpacked layer snapshots (of RUN steps) no remaining image uses.
    pub snapshots_removed: usize,
    /// `RUN --mount=type=cache` dirs (their bytes count in `bytes_freed`).
    pub cache_mounts_removed: usize,
}

/// What `fsck` checked and found.
#[derive(Debug, Clone, Default)]
pub struct FsckReport {
    pub blobs_checked: usize,
    pub bytes_checked: u64,
    pub images_checked: usize,
    pub cache_records_checked: usize,
    /// Blobs no image refers to (not a problem: `prune` removes them).
    pub unreferenced_blobs: usize,
    pub problems: Vec<FsckProblem>,
}

impl FsckReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One thing `fsck` found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsckProblem {
    /// A blob whose bytes do not hash to its name.
    CorruptBlob {
        digest: Digest,
        path: PathBuf,
        actual: Digest,
    },
    /// A file under blobs/sha256 that is not named by a digest, or not a file.
    StrayFile { path: PathBuf },
    /// A blob an image needs is absent.
    MissingBlob {
        image: String,
        role: &'static str,
        digest: Digest,
    },
    /// A manifest, index or config that does not parse.
    BadDocument {
        image: String,
        digest: Digest,
        error: String,
    },
    /// index.json or oci-layout is unreadable.
    BadLayoutFile { path: PathBuf, error: String },
    /// A cache record whose layer is missing.
    DanglingCacheRecord { path: PathBuf, digest: Digest },
    /// A cache record that does not parse, or a stray file in cache/.
    BadCacheRecord { path: PathBuf, error: String },
    /// A temp file left by an interrupted write.
    TmpLeftover { path: PathBuf },
}

impl fmt::Display for FsckProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsckProblem::CorruptBlob { digest, path, actual } => write!(
                f,
                "blob {digest} ({}) is corrupt: its content hashes to {actual}; load or build the images using it again, or remove them and run \"hoist prune\"",
                path.display()
            ),
            FsckProblem::StrayFile { path } => write!(
                f,
                "{} is not a blob (its name is not a sha256 digest): \"hoist prune\" removes it",
                path.display()
            ),
            FsckProblem::MissingBlob { image, role, digest } => write!(
                f,
                "image {image}: {role} blob {digest} is missing; load or build the image again, or remove it"
            ),
            FsckProblem::BadDocument { image, digest, error } => write!(
                f,
                "image {image}: {digest} is not a valid document ({error}); load or build the image again, or remove it"
            ),
            FsckProblem::BadLayoutFile { path, error } => {
                write!(f, "{}: {error}", path.display())
            }
            FsckProblem::DanglingCacheRecord { path, digest } => write!(
                f,
                "build-cache record {} names layer {digest}, which is missing: \"hoist prune\" removes it",
                path.display()
            ),
            FsckProblem::BadCacheRecord { path, error } => write!(
                f,
                "build-cache record {} is unusable ({error}): \"hoist prune\" removes it",
                path.display()
            ),
            FsckProblem::TmpLeftover { path } => write!(
                f,
                "{} is left over from an interrupted write: \"hoist prune\" removes it",
                path.display()
            ),
        }
    }
}

/// The bytes of the regular files under `path` (not following symlinks).
fn tree_size(path: &Path) -> u64 {
    walkdir::WalkDir::new(path)
        .into_iter()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// What walking the index found: reachable digests and problems.
#[derive(Default)]
struct Walk {
    reachable: BTreeSet<Digest>,
    /// The image configs among them.
    configs: BTreeSet<Digest>,
    problems: Vec<FsckProblem>,
    images: usize,
}

impl Store {
    /// Remove every cache record, untagged image, blob not reachable from a
    /// tag, and temp file. Waits for running builds and loads.
    pub fn prune(&self) -> Result<PruneReport, StoreError> {
        let _gc = self.gc_lock_exclusive()?;
        let _index = self.lock_index()?;
        let mut report = PruneReport::default();

        for path in list_dir(&self.cache_dir())? {
            remove_any(&path)?;
            report.cache_records_removed += 1;
        }

        let mut index = self.read_index()?;
        let before = index.manifests.len();
        index.manifests.retain(|d| d.ref_name().is_some());
        report.untagged_images_removed = before - index.manifests.len();
        if report.untagged_images_removed > 0 {
            self.write_index(&index)?;
        }

        let walk = self.walk(&index);
        for p in &walk.problems {
            warn!("prune: {p}");
        }
        for path in list_dir(&self.blobs_dir())? {
            let keep = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| format!("sha256:{n}").parse::<Digest>().ok())
                .is_some_and(|d| walk.reachable.contains(&d));
            if keep {
                continue;
            }
            let size = fs::symlink_metadata(&path).map(|m| m.len()).unwrap_or(0);
            remove_any(&path)?;
            debug!(path = %path.display(), "pruned blob");
            report.blobs_removed += 1;
            report.bytes_freed += size;
        }
        for path in list_dir(&self.tmp_dir())? {
            remove_any(&path)?;
            report.tmp_files_removed += 1;
        }
        // The build context stat caches (hashes of context files) are
        // cache too.
        let stat_caches = self.root().join("context-cache");
        if stat_caches.exists() {
            for path in list_dir(&stat_caches)? {
                remove_any(&path)?;
                report.cache_records_removed += 1;
            }
        }
        // Cache mounts: no build runs (the gc lock is ours), so none is in
        // use.
        let cache_mounts = crate::run::cache_mounts::cache_mounts_dir(self);
        if cache_mounts.exists() {
            for path in list_dir(&cache_mounts)? {
                report.bytes_freed += tree_size(&path);
                remove_any(&path)?;
                report.cache_mounts_removed += 1;
            }
        }
        // Layer snapshots: kept for the layers of the remaining images
        // (the cache records, which could name others, are all gone).
        let mut keep = BTreeSet::new();
        let mut all_read = true;
        for c in &walk.configs {
            match self.read_json::<ImageConfig>(c) {
                Ok(cfg) => keep.extend(cfg.rootfs.diff_ids.iter().map(|d| d.hex().to_owned())),
                Err(e) => {
                    warn!("prune: config {c}: {e}; keeping every layer snapshot");
                    all_read = false;
                }
            }
        }
        if all_read {
            report.snapshots_removed =
                crate::snapshot::prune_snapshots(self, &keep).map_err(|e| match e {
                    crate::snapshot::SnapshotError::Io { path, source, .. } => {
                        StoreError::io("pruning snapshots", path, source)
                    }
                    crate::snapshot::SnapshotError::Store(s) => s,
                    other => StoreError::io(
                        "pruning snapshots",
                        self.root().join("snapshots"),
                        io::Error::other(other.to_string()),
                    ),
                })?;
        }
        blob_writer::sync_dir(&self.blobs_dir())?;
        Ok(report)
    }

    /// Check every blob's digest, every image's blobs, every cache record
    /// and the temp directory. Reports; changes nothing.
    pub fn fsck(&self) -> Result<FsckReport, StoreError> {
        let _gc = self.gc_lock_exclusive()?;
        let mut report = FsckReport::default();

        let layout = self.root().join("oci-layout");
        if let Err(e) = fs::read(&layout).map_err(|e| e.to_string()).and_then(|b| {
            parse_json::<serde_json::Value>(&b, &layout.display().to_string())
                .map_err(|e| e.to_string())
        }) {
            report.problems.push(FsckProblem::BadLayoutFile {
                path: layout,
                error: e,
            });
        }

        let mut corrupt = BTreeSet::new();
        for path in list_dir(&self.blobs_dir())? {
            let digest = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| format!("sha256:{n}").parse::<Digest>().ok());
            let is_file = fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file());
            let Some(digest) = digest.filter(|_| is_file) else {
                report.problems.push(FsckProblem::StrayFile { path });
                continue;
            };
            let (actual, size) = hash_file(&path)?;
            report.blobs_checked += 1;
            report.bytes_checked += size;
            if actual != digest {
                corrupt.insert(digest.clone());
                report.problems.push(FsckProblem::CorruptBlob {
                    digest,
                    path,
                    actual,
                });
            }
        }

        match self.read_index() {
            Ok(index) => {
                let walk = self.walk(&index);
                report.images_checked = walk.images;
                report.unreferenced_blobs = report
                    .blobs_checked
                    .saturating_sub(walk.reachable.iter().filter(|d| self.has_blob(d)).count());
                report.problems.extend(walk.problems.into_iter().filter(|p| {
                    !matches!(p, FsckProblem::BadDocument { digest, .. } if corrupt.contains(digest))
                }));
            }
            Err(e) => report.problems.push(FsckProblem::BadLayoutFile {
                path: self.index_path(),
                error: e.to_string(),
            }),
        }

        for path in list_dir(&self.cache_dir())? {
            report.cache_records_checked += 1;
            let parsed = fs::read(&path).map_err(|e| e.to_string()).and_then(|b| {
                parse_json::<super::CacheRecord>(&b, &path.display().to_string())
                    .map_err(|e| e.to_string())
            });
            match parsed {
                Ok(rec) => {
                    if let Some(layer) = rec.layer {
                        if !self.has_blob(&layer.digest) {
                            report.problems.push(FsckProblem::DanglingCacheRecord {
                                path,
                                digest: layer.digest,
                            });
                        }
                    }
                }
                Err(error) => report
                    .problems
                    .push(FsckProblem::BadCacheRecord { path, error }),
            }
        }

        for path in list_dir(&self.tmp_dir())? {
            report.problems.push(FsckProblem::TmpLeftover { path });
        }
        Ok(report)
    }

    /// Walk every index entry: what is reachable, and what is missing or
    /// unreadable. Of an index, only the linux/amd64 manifest must be
    /// present; other platforms count if they are.
    fn walk(&self, index: &Index) -> Walk {
        let mut walk = Walk::default();
        for entry in &index.manifests {
            let image = entry
                .ref_name()
                .map(str::to_owned)
                .unwrap_or_else(|| entry.digest.to_string());
            walk.images += 1;
            self.walk_desc(&image, entry, true, 0, &mut walk);
        }
        walk
    }

    fn walk_desc(
        &self,
        image: &str,
        desc: &Descriptor,
        required: bool,
        depth: usize,
        walk: &mut Walk,
    ) {
        if !self.has_blob(&desc.digest) {
            if required {
                walk.problems.push(FsckProblem::MissingBlob {
                    image: image.to_owned(),
                    role: if media::is_index(&desc.media_type) {
                        "index"
                    } else {
                        "manifest"
                    },
                    digest: desc.digest.clone(),
                });
            }
            return;
        }
        walk.reachable.insert(desc.digest.clone());
        let bad = |walk: &mut Walk, e: StoreError| {
            walk.problems.push(FsckProblem::BadDocument {
                image: image.to_owned(),
                digest: desc.digest.clone(),
                error: e.to_string(),
            })
        };
        if media::is_index(&desc.media_type) {
            if depth > 8 {
                return;
            }
            let idx: Index = match self.read_json(&desc.digest) {
                Ok(i) => i,
                Err(e) => return bad(walk, e),
            };
            let wanted = pick_platform(&idx.manifests).map(|d| d.digest.clone());
            if required && wanted.is_none() {
                walk.problems.push(FsckProblem::BadDocument {
                    image: image.to_owned(),
                    digest: desc.digest.clone(),
                    error: "the index has no linux/amd64 manifest".into(),
                });
            }
            for child in &idx.manifests {
                let req = required && Some(&child.digest) == wanted.as_ref();
                self.walk_desc(image, child, req, depth + 1, walk);
            }
        } else if media::is_manifest(&desc.media_type) {
            let m: Manifest = match self.read_json(&desc.digest) {
                Ok(m) => m,
                Err(e) => return bad(walk, e),
            };
            walk.configs.insert(m.config.digest.clone());
            let parts =
                std::iter::once(("config", &m.config)).chain(m.layers.iter().map(|l| ("layer", l)));
            for (role, d) in parts {
                walk.reachable.insert(d.digest.clone());
                if required && !self.has_blob(&d.digest) {
                    walk.problems.push(FsckProblem::MissingBlob {
                        image: image.to_owned(),
                        role,
                        digest: d.digest.clone(),
                    });
                }
            }
        }
    }
}

/// The entries of `dir` (empty if it does not exist), sorted.
fn list_dir(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io("listing", dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| StoreError::io("listing", dir, e))?;
        out.push(entry.path());
    }
    out.sort();
    Ok(out)
}

fn remove_any(path: &Path) -> Result<(), StoreError> {
    let res = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    match res {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StoreError::io("removing", path, e)),
        _ => Ok(()),
    }
}

fn hash_file(path: &Path) -> Result<(Digest, u64), StoreError> {
    let file = fs::File::open(path).map_err(|e| StoreError::io("opening blob", path, e))?;
    let mut r = HashingReader::new(io::BufReader::with_capacity(256 * 1024, file));
    io::copy(&mut r, &mut io::sink()).map_err(|e| StoreError::io("reading blob", path, e))?;
    let (_, d, n) = r.finish();
    Ok((d, n))
}
