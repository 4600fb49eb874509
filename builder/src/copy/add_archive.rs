//! ADD of a local tar archive: detecting one by content (plain, gzip,
//! bzip2, xz or zstd, never by name) and turning its members into layer
//! entries under the destination directory.
//!
//! Member bytes are streamed into flat files in the scratch directory (the
//! entries point at them), so nothing is ever written along a member's
//! path. A member whose name climbs out with `..` is refused; a leading
//! `/` stays under the destination; a member written through a symlink of
//! the same archive is refused. Whiteout-looking names are plain files.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::context::root_path;
use crate::layer::{Content, Entry, EntryKind};

use super::owner::Owner;

/// Why an archive cannot be added.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("ADD {archive}: reading the archive failed: {source}: check that the file is a complete tar archive, or add it with --unpack=false")]
    Read {
        archive: String,
        #[source]
        source: io::Error,
    },
    #[error("ADD {archive}: member {member:?} points outside the destination (\"..\"): refusing to extract it")]
    Escape { archive: String, member: String },
    #[error("ADD {archive}: member {member:?} would be written through the symlink {link:?} of the same archive: refusing to extract it")]
    ThroughSymlink {
        archive: String,
        member: String,
        link: String,
    },
    #[error("ADD {archive}: hard link {member:?} -> {target:?} does not name an earlier member of the archive")]
    BadHardlink {
        archive: String,
        member: String,
        target: String,
    },
    #[error("ADD {archive}: member name {member:?} is not UTF-8")]
    NotUtf8 { archive: String, member: String },
    #[error("ADD {archive}: cannot write to the scratch directory {path}: {source}")]
    Scratch {
        archive: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A compression format recognised by its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

/// Which compression `head` (the first bytes of a file) starts with.
pub fn detect_compression(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(b"BZh") {
        Compression::Bzip2
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Compression::Xz
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Opens `path`, decompressing it when its content says it is compressed.
pub fn open_decompressed(path: &Path) -> io::Result<Box<dyn Read>> {
    let mut f = BufReader::new(File::open(path)?);
    let head: Vec<u8> = {
        use std::io::BufRead;
        f.fill_buf()?.iter().take(8).copied().collect()
    };
    Ok(match detect_compression(&head) {
        Compression::None => Box::new(f),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(f)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(f)),
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(f)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(f)?),
    })
}

/// Whether a 512-byte block is a valid tar header (its checksum matches,
/// and it is not the all-zero end-of-archive block).
fn is_tar_header(b: &[u8; 512]) -> bool {
    if b.iter().all(|x| *x == 0) {
        return false;
    }
    let Some(field) = b.get(148..156) else {
        return false;
    };
    let digits: String = field
        .iter()
        .map(|c| *c as char)
        .filter(|c| !matches!(c, ' ' | '\0'))
        .collect();
    let Ok(want) = u32::from_str_radix(&digits, 8) else {
        return false;
    };
    let mut unsigned = 0u32;
    let mut signed = 0i32;
    for (i, &x) in b.iter().enumerate() {
        let x = if (148..156).contains(&i) { b' ' } else { x };
        unsigned += u32::from(x);
        signed += i32::from(x as i8);
    }
    want == unsigned || i64::from(want) == i64::from(signed)
}

/// Whether the file at `path` is a tar archive, possibly compressed
/// (decided by content, as BuildKit does). A file that cannot be
/// decompressed is not an archive.
pub fn is_archive(path: &Path) -> io::Result<bool> {
    let mut r = open_decompressed(path)?;
    let mut block = [0u8; 512];
    let mut got = 0;
    while got < block.len() {
        match r.read(block.get_mut(got..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Ok(false),
        }
    }
    Ok(got == block.len() && is_tar_header(&block))
}

/// The entries of archive `path` extracted under `dest_dir` (a resolved
/// path relative to the image root). `resolve_parent` maps a member's
/// parent directory (relative to the image root) through the destination
/// rootfs's symlinks. Member bytes go to files under `scratch`.
pub fn entries(
    path: &Path,
    label: &str,
    dest_dir: &str,
    owner: Option<Owner>,
    scratch: &Path,
    resolve_parent: &dyn Fn(&str) -> String,
) -> Result<Vec<Entry>, ArchiveError> {
    let read_err = |source: io::Error| ArchiveError::Read {
        archive: label.to_owned(),
        source,
    };
    let scratch_err = |p: &Path| {
        let p = p.to_path_buf();
        move |source: io::Error| ArchiveError::Scratch {
            archive: label.to_owned(),
            path: p,
            source,
        }
    };
    let store = tempfile::Builder::new()
        .prefix("add-archive-")
        .tempdir_in(scratch)
        .map_err(scratch_err(scratch))?
        .keep();
    let mut archive = tar::Archive::new(open_decompressed(path).map_err(read_err)?);
    let mut out: Vec<Entry> = Vec::new();
    // Member path (relative to the image root) → index of its entry.
    let mut emitted: HashMap<String, usize> = HashMap::new();
    // Member names (inside the archive) that are symlinks.
    let mut links: HashMap<String, ()> = HashMap::new();
    // Member name → its path in the image, for hard links.
    let mut placed: HashMap<String, String> = HashMap::new();
    let mut n = 0u64;
    for member in archive.entries().map_err(read_err)? {
        let mut member = member.map_err(read_err)?;
        let raw = member.path_bytes().into_owned();
        let name = String::from_utf8(raw).map_err(|e| ArchiveError::NotUtf8 {
            archive: label.to_owned(),
            member: String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })?;
        let rel = member_rel(&name).ok_or_else(|| ArchiveError::Escape {
            archive: label.to_owned(),
            member: name.clone(),
        })?;
        if rel.is_empty() {
            continue;
        }
        // Refuse writing through a symlink member of this archive.
        let mut prefix = String::new();
        let comps: Vec<&str> = rel.split('/').collect();
        for c in comps.iter().take(comps.len().saturating_sub(1)) {
            prefix = root_path::join_rel(&prefix, c);
            if links.contains_key(&prefix) {
                return Err(ArchiveError::ThroughSymlink {
                    archive: label.to_owned(),
                    member: name.clone(),
                    link: prefix,
                });
            }
        }
        let (parent, base) = root_path::split_parent(&rel);
        let parent_img = resolve_parent(&root_path::join_rel(dest_dir, parent));
        let img_path = root_path::join_rel(&parent_img, base);
        let h = member.header().clone();
        let mode = h.mode().unwrap_or(0) & 0o7777;
        let (uid, gid) = match owner {
            Some(o) => (o.uid, o.gid),
            None => (
                u32::try_from(h.uid().unwrap_or(0)).unwrap_or(0),
                u32::try_from(h.gid().unwrap_or(0)).unwrap_or(0),
            ),
        };
        let mtime = i64::try_from(h.mtime().unwrap_or(0)).unwrap_or(0);
        let mut xattrs = BTreeMap::new();
        if let Ok(Some(exts)) = member.pax_extensions() {
            for ext in exts.flatten() {
                if let Ok(k) = ext.key() {
                    if let Some(x) = k.strip_prefix("SCHILY.xattr.") {
                        if !crate::context::content_hash::host_only_xattr(x) {
                            xattrs.insert(x.to_owned(), ext.value_bytes().to_vec());
                        }
                    }
                }
            }
        }
        let kind = match h.entry_type() {
            tar::EntryType::Directory => EntryKind::Dir,
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                n += 1;
                let f = store.join(format!("{n:08}"));
                let mut w = File::create(&f).map_err(scratch_err(&f))?;
                io::copy(&mut member, &mut w).map_err(read_err)?;
                EntryKind::File(Content::Path(f))
            }
            tar::EntryType::Symlink => {
                let t = member
                    .link_name_bytes()
                    .map(|b| b.into_owned())
                    .unwrap_or_default();
                let t = String::from_utf8(t).map_err(|e| ArchiveError::NotUtf8 {
                    archive: label.to_owned(),
                    member: String::from_utf8_lossy(e.as_bytes()).into_owned(),
                })?;
                links.insert(rel.clone(), ());
                EntryKind::Symlink(t)
            }
            tar::EntryType::Link => {
                let t = member
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                let bad = || ArchiveError::BadHardlink {
                    archive: label.to_owned(),
                    member: name.clone(),
                    target: t.clone(),
                };
                let trel = member_rel(&t).ok_or_else(bad)?;
                let target = placed.get(&trel).cloned().ok_or_else(bad)?;
                let first = emitted
                    .get(&target)
                    .and_then(|&i| out.get(i))
                    .filter(|e| matches!(e.kind, EntryKind::File(_) | EntryKind::Hardlink(_)))
                    .ok_or_else(bad)?;
                let (mode, uid, gid, mtime, xattrs) = (
                    first.mode,
                    first.uid,
                    first.gid,
                    first.mtime,
                    first.xattrs.clone(),
                );
                let target = match &first.kind {
                    EntryKind::Hardlink(t) => t.clone(),
                    _ => target,
                };
                push(
                    &mut out,
                    &mut emitted,
                    Entry {
                        path: img_path.clone(),
                        kind: EntryKind::Hardlink(target),
                        mode,
                        uid,
                        gid,
                        mtime,
                        xattrs,
                    },
                );
                placed.insert(rel, img_path);
                continue;
            }
            tar::EntryType::Char | tar::EntryType::Block => {
                let major = h.device_major().ok().flatten().unwrap_or(0);
                let minor = h.device_minor().ok().flatten().unwrap_or(0);
                if h.entry_type() == tar::EntryType::Char {
                    EntryKind::CharDevice { major, minor }
                } else {
                    EntryKind::BlockDevice { major, minor }
                }
            }
            tar::EntryType::Fifo => EntryKind::Fifo,
            other => {
                tracing::debug!(archive = %label, member = %name, kind = ?other, "ADD: skipping tar member of unsupported type");
                continue;
            }
        };
        let mode = if matches!(kind, EntryKind::Symlink(_)) {
            0o777
        } else {
            mode
        };
        push(
            &mut out,
            &mut emitted,
            Entry {
                path: img_path.clone(),
                kind,
                mode,
                uid,
                gid,
                mtime,
                xattrs,
            },
        );
        placed.insert(rel, img_path);
    }
    Ok(out)
}

fn push(out: &mut Vec<Entry>, emitted: &mut HashMap<String, usize>, e: Entry) {
    match emitted.get(&e.path) {
        Some(&i) => {
            if let Some(slot) = out.get_mut(i) {
                *slot = e;
            }
        }
        None => {
            emitted.insert(e.path.clone(), out.len());
            out.push(e);
        }
    }
}

/// A member name cleaned to a relative path; `None` when it climbs out
/// with `..`. `""` is the archive root.
fn member_rel(name: &str) -> Option<String> {
    let c = root_path::clean(name);
    if c == ".." || c.starts_with("../") {
        return None;
    }
    let c = c.trim_start_matches('/');
    Some(if c == "." {
        String::new()
    } else {
        c.to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_checksum() {
        let mut h = tar::Header::new_gnu();
        h.set_path("a").unwrap();
        h.set_size(0);
        h.set_cksum();
        let mut b = [0u8; 512];
        b.copy_from_slice(h.as_bytes());
        assert!(is_tar_header(&b));
        b[0] = b'b';
        assert!(!is_tar_header(&b));
        assert!(!is_tar_header(&[0u8; 512]));
        assert_eq!(detect_compression(b"BZh91AY"), Compression::Bzip2);
        assert_eq!(detect_compression(b"hello"), Compression::None);
    }
}
