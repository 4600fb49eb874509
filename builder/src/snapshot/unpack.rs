//! Image layers unpacked once per diff_id into `<store>/snapshots/<hex>/`,
//! as overlayfs lower dirs: the layer is applied into an empty directory
//! with [`apply_layer`], then its whiteouts are written the way overlayfs
//! reads them (`.wh.NAME` → a char device 0/0 at NAME, `.wh..wh..opq` → the
//! xattr `trusted.overlay.opaque=y` on the directory).
//!
//! A snapshot is written into a temp dir next to its final name and renamed
//! into place, so concurrent builds never see half a snapshot and the first
//! rename wins. Must never write outside `<store>/snapshots`.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::sys::stat::{mknod, Mode, SFlag};

use crate::digest::{Digest, HashingReader};
use crate::image::Descriptor;
use crate::layer::{apply_layer, decompress, ApplyOptions};
use crate::store::Store;

use super::SnapshotError;

const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// The xattr overlayfs reads to hide lower layers under a directory.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// `<store>/snapshots`.
pub fn snapshots_dir(store: &Store) -> PathBuf {
    store.root().join("snapshots")
}

/// The snapshot directory of `layer` (whose uncompressed digest is
/// `diff_id`), unpacking it first if no build did yet.
pub fn ensure_snapshot(
    store: &Store,
    layer: &Descriptor,
    diff_id: &Digest,
) -> Result<PathBuf, SnapshotError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = snapshots_dir(store);
    let fin = dir.join(diff_id.hex());
    if fin.is_dir() {
        return Ok(fin);
    }
    fs::create_dir_all(&dir).map_err(SnapshotError::io(&dir, "create the snapshots dir"))?;
    let tmp = dir.join(format!(
        ".tmp-{}-{}-{}",
        diff_id.short(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    if let Err(e) = unpack_into(store, layer, diff_id, &tmp) {
        remove_tree(&tmp);
        return Err(e);
    }
    match fs::rename(&tmp, &fin) {
        Ok(()) => {
            tracing::debug!(diff_id = %diff_id, "unpacked a layer snapshot");
            Ok(fin)
        }
        // Another build renamed its copy first: use that one.
        Err(_) if fin.is_dir() => {
            remove_tree(&tmp);
            Ok(fin)
        }
        Err(e) => {
            remove_tree(&tmp);
            Err(SnapshotError::Io {
                path: fin,
                what: "rename the unpacked snapshot into place",
                source: e,
            })
        }
    }
}

fn remove_tree(p: &Path) {
    if let Err(e) = fs::remove_dir_all(p) {
        if e.kind() != io::ErrorKind::NotFound {
            tracing::warn!(path = %p.display(), error = %e, "could not remove a snapshot temp dir");
        }
    }
}

fn unpack_into(
    store: &Store,
    layer: &Descriptor,
    diff_id: &Digest,
    tmp: &Path,
) -> Result<(), SnapshotError> {
    let layer_err = |source| SnapshotError::Layer {
        digest: layer.digest.clone(),
        source,
    };
    fs::create_dir(tmp).map_err(SnapshotError::io(tmp, "create a snapshot temp dir"))?;
    fs::set_permissions(tmp, fs::Permissions::from_mode(0o755))
        .map_err(SnapshotError::io(tmp, "set the snapshot dir's mode"))?;
    let blob = store.open_blob(&layer.digest)?;
    let mut tar = HashingReader::new(decompress(blob).map_err(layer_err)?);
    let stats = apply_layer(&mut tar, tmp, &ApplyOptions::default()).map_err(layer_err)?;
    // The tar's end blocks and padding count in the diff_id.
    io::copy(&mut tar, &mut io::sink())
        .map_err(SnapshotError::io(tmp, "read the layer to its end"))?;
    let (_, actual, _) = tar.finish();
    if actual != *diff_id {
        return Err(SnapshotError::DiffIdMismatch {
            digest: layer.digest.clone(),
            expected: diff_id.clone(),
            actual,
        });
    }
    if stats.whiteouts > 0 {
        let tar = decompress(store.open_blob(&layer.digest)?).map_err(layer_err)?;
        mark_whiteouts(tar, tmp)?;
    }
    // A snapshot is reused by every later build: make it durable before
    // it gets its final name.
    let d = fs::File::open(tmp).map_err(SnapshotError::io(tmp, "open the snapshot"))?;
    nix::unistd::syncfs(&d).map_err(|e| SnapshotError::Io {
        path: tmp.to_owned(),
        what: "sync the snapshot",
        source: e.into(),
    })?;
    Ok(())
}

/// Writes the layer's whiteouts in overlayfs's format into `root` (where
/// the layer was just applied).
pub(crate) fn mark_whiteouts(tar: impl Read, root: &Path) -> Result<(), SnapshotError> {
    let mut archive = tar::Archive::new(tar);
    let entries = archive
        .entries()
        .map_err(SnapshotError::io(root, "read the layer tar"))?;
    for item in entries {
        let entry = item.map_err(SnapshotError::io(root, "read the layer tar"))?;
        let raw = entry.path_bytes();
        let comps: Vec<&[u8]> = raw
            .split(|b| *b == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
            .collect();
        if comps.iter().any(|c| *c == b"..") {
            continue; // apply_layer refused such a layer already
        }
        let Some((base, parent)) = comps.split_last() else {
            continue;
        };
        if *base == OPAQUE_MARKER {
            if let Some(dir) = real_dir(root, parent)? {
                crate::layer::sys::lsetxattr(&dir, OPAQUE_XATTR, b"y")
                    .map_err(SnapshotError::io(&dir, "mark the directory opaque"))?;
            }
        } else if base.starts_with(WHITEOUT_PREFIX) && !base.starts_with(b".wh..wh.") {
            let victim = &base[WHITEOUT_PREFIX.len()..];
            if victim.is_empty() || victim == b"." || victim == b".." {
                continue;
            }
            let Some(dir) = real_dir(root, parent)? else {
                continue;
            };
            let target = dir.join(OsStr::from_bytes(victim));
            // The same layer wrote something there: it wins over the whiteout.
            if fs::symlink_metadata(&target).is_ok() {
                continue;
            }
            mknod(&target, SFlag::S_IFCHR, Mode::empty(), 0).map_err(|e| SnapshotError::Io {
                path: target.clone(),
                what: "create the whiteout device",
                source: e.into(),
            })?;
        }
    }
    Ok(())
}

/// `root/comps` as a real directory (no symlink on the way), created 0755
/// where missing; `None` when a component is not a directory.
fn real_dir(root: &Path, comps: &[&[u8]]) -> Result<Option<PathBuf>, SnapshotError> {
    let mut p = root.to_path_buf();
    for c in comps {
        p.push(OsStr::from_bytes(c));
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&p).map_err(SnapshotError::io(&p, "create a whiteout's parent"))?;
                fs::set_permissions(&p, fs::Permissions::from_mode(0o755))
                    .map_err(SnapshotError::io(&p, "set a directory's mode"))?;
            }
            Err(e) => return Err(SnapshotError::io(&p, "inspect a whiteout's parent")(e)),
        }
    }
    Ok(Some(p))
}

/// Removes the snapshots whose diff_id is not in `keep` (hex digests), and
/// temp dirs left by interrupted unpacks. Call only under the store's
/// exclusive gc lock. Returns how many directories were removed.
pub fn prune_snapshots(store: &Store, keep: &BTreeSet<String>) -> Result<usize, SnapshotError> {
    let dir = snapshots_dir(store);
    let rd = match fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(SnapshotError::io(&dir, "list the snapshots")(e)),
    };
    let mut removed = 0;
    for ent in rd {
        let ent = ent.map_err(SnapshotError::io(&dir, "list the snapshots"))?;
        let name = ent.file_name();
        if name.to_str().is_some_and(|n| keep.contains(n)) {
            continue;
        }
        let path = ent.path();
        let is_dir = ent.file_type().is_ok_and(|t| t.is_dir());
        let res = if is_dir {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        res.map_err(SnapshotError::io(&path, "remove an unused snapshot"))?;
        removed += 1;
    }
    Ok(removed)
}

/// Is this file an overlay whiteout (a char device 0/0)?
pub(crate) fn is_whiteout(m: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    m.file_type().is_char_device() && m.rdev() == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, tar::EntryType)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind) in entries {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(*kind);
            h.set_mode(0o755);
            h.set_size(0);
            h.set_path(name).unwrap();
            h.set_cksum();
            b.append(&h, std::io::empty()).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn whiteouts_become_overlay_devices_and_xattrs() {
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().unwrap();
        let tar = tar_of(&[
            ("bin/", tar::EntryType::Directory),
            ("bin/.wh.ls", tar::EntryType::Regular),
            ("d/", tar::EntryType::Directory),
            ("d/.wh..wh..opq", tar::EntryType::Regular),
            ("d/new", tar::EntryType::Regular),
            ("x/.wh.gone", tar::EntryType::Regular),
            ("w/", tar::EntryType::Directory),
            ("w/.wh.kept", tar::EntryType::Regular),
            ("w/kept", tar::EntryType::Regular),
        ]);
        apply_layer(tar.as_slice(), d.path(), &ApplyOptions::default()).unwrap();
        mark_whiteouts(tar.as_slice(), d.path()).unwrap();
        let ls = fs::symlink_metadata(d.path().join("bin/ls")).unwrap();
        assert!(is_whiteout(&ls), "mode {:o} rdev {}", ls.mode(), ls.rdev());
        assert!(super::super::lower::is_opaque(&d.path().join("d")));
        assert!(d.path().join("d/new").is_file());
        assert!(is_whiteout(
            &fs::symlink_metadata(d.path().join("x/gone")).unwrap()
        ));
        // What the layer wrote wins over its own whiteout.
        assert!(fs::symlink_metadata(d.path().join("w/kept"))
            .unwrap()
            .is_file());
        assert!(!d.path().join("bin/.wh.ls").exists());
    }
}
