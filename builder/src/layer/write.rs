//! Writing a changeset as a layer: a deterministic PAX tar, compressed
//! (gzip by default), with the diff_id of the tar and the digest and size of
//! what was written.
//!
//! Equal entries give equal bytes: entries are sorted by path components,
//! owners are numeric with empty names, mtimes are clamped to
//! SOURCE_DATE_EPOCH, no atime/ctime is written, the gzip header has no
//! name and mtime 0, and gzip chunk boundaries depend only on the byte
//! count, never on the number of cores. Must never read a host file twice
//! or write a tar whose header disagrees with its content.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use crate::digest::{Digest, HashingWriter};
use crate::image::media;

use super::entry::{Content, Entry, EntryKind};
use super::pax::{self, typeflag, HeaderSpec};
use super::pgzip::GzWriter;
use super::LayerError;

/// How a layer is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// gzip through flate2's zlib-rs backend, level 0..=9, compressed on
    /// all cores in 1 MiB chunks as one gzip member ([`super::pgzip`]).
    Gzip { level: u32 },
    /// zstd, a level from zstd's range (3 is zstd's default).
    Zstd { level: i32 },
    /// A plain tar.
    None,
}

impl Default for Compression {
    fn default() -> Self {
        Compression::Gzip { level: 6 }
    }
}

impl Compression {
    /// The OCI media type of a layer compressed this way.
    pub fn media_type(&self) -> &'static str {
        match self {
            Compression::Gzip { .. } => media::OCI_LAYER_GZIP,
            Compression::Zstd { .. } => media::OCI_LAYER_ZSTD,
            Compression::None => media::OCI_LAYER_TAR,
        }
    }
}

/// Options of [`write_layer`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOptions {
    pub compression: Compression,
    /// When set, every mtime later than this is clamped to it.
    pub source_date_epoch: Option<i64>,
}

/// What [`write_layer`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// sha256 of the uncompressed tar (goes in the image config).
    pub diff_id: Digest,
    /// sha256 of the bytes written to `out` (goes in the manifest).
    pub digest: Digest,
    /// Number of bytes written to `out`.
    pub size: u64,
    pub media_type: &'static str,
}

/// Writes `entries` as a layer to `out` and returns its digests.
///
/// Entries are sorted so that a directory precedes its contents; when two
/// entries have the same path the later one wins. A hard link must name
/// another entry of the same changeset; if it sorts before its target the
/// two swap roles, so the tar always has the content first.
pub fn write_layer(
    entries: Vec<Entry>,
    opts: &WriteOptions,
    out: impl Write,
) -> Result<LayerInfo, LayerError> {
    let plan = plan(entries)?;
    let counted = HashingWriter::new(BufWriter::with_capacity(128 * 1024, out));
    let (counted, diff_id) = match opts.compression {
        Compression::Gzip { level } => {
            if level > 9 {
                return Err(LayerError::BadLevel {
                    what: "gzip",
                    level: i64::from(level),
                    range: "0..=9",
                });
            }
            let enc = GzWriter::new(counted, level).map_err(LayerError::Write)?;
            let mut tar = HashingWriter::new(enc);
            write_tar(&plan, opts, &mut tar)?;
            let (enc, diff_id, _) = tar.finish();
            (enc.finish().map_err(LayerError::Write)?, diff_id)
        }
        Compression::Zstd { level } => {
            let range = zstd::compression_level_range();
            if !range.contains(&level) {
                return Err(LayerError::BadLevel {
                    what: "zstd",
                    level: i64::from(level),
                    range: "-131072..=22",
                });
            }
            let enc =
                zstd::stream::write::Encoder::new(counted, level).map_err(LayerError::Write)?;
            let mut tar = HashingWriter::new(enc);
            write_tar(&plan, opts, &mut tar)?;
            let (enc, diff_id, _) = tar.finish();
            (enc.finish().map_err(LayerError::Write)?, diff_id)
        }
        Compression::None => {
            let mut tar = HashingWriter::new(counted);
            write_tar(&plan, opts, &mut tar)?;
            let (counted, diff_id, _) = tar.finish();
            (counted, diff_id)
        }
    };
    let (buffered, digest, size) = counted.finish();
    let mut out = buffered
        .into_inner()
        .map_err(|e| LayerError::Write(e.into_error()))?;
    out.flush().map_err(LayerError::Write)?;
    Ok(LayerInfo {
        diff_id,
        digest,
        size,
        media_type: opts.compression.media_type(),
    })
}

/// One entry ready to be written: its name in the tar and the entry.
struct Planned {
    /// Path components of the tar name (without the trailing `/`).
    key: Vec<String>,
    entry: Entry,
}

impl Planned {
    fn tar_name(&self) -> String {
        let joined = self.key.join("/");
        match self.entry.kind {
            EntryKind::Dir => format!("{joined}/"),
            _ => joined,
        }
    }
}

/// Validates, names, sorts and de-duplicates the entries, and orders hard
/// link groups so that content comes first.
fn plan(entries: Vec<Entry>) -> Result<Vec<Planned>, LayerError> {
    let mut planned = Vec::with_capacity(entries.len());
    for entry in entries {
        let comps = components(&entry.path)?;
        let key = match &entry.kind {
            EntryKind::Whiteout => {
                let mut key = comps;
                if let Some(last) = key.last_mut() {
                    *last = format!(".wh.{last}");
                }
                key
            }
            EntryKind::Opaque => {
                let mut key = comps;
                key.push(".wh..wh..opq".into());
                key
            }
            _ => {
                if comps.iter().any(|c| c.starts_with(".wh.")) {
                    return Err(bad(
                        &entry.path,
                        "names starting with \".wh.\" are reserved for whiteouts",
                    ));
                }
                comps
            }
        };
        planned.push(Planned { key, entry });
    }
    // Stable: equal keys keep their input order, so the last one wins below.
    planned.sort_by(|a, b| {
        a.key
            .iter()
            .map(String::as_bytes)
            .cmp(b.key.iter().map(String::as_bytes))
    });
    let mut dedup: Vec<Planned> = Vec::with_capacity(planned.len());
    for p in planned {
        match dedup.last_mut() {
            Some(last) if last.key == p.key => *last = p,
            _ => dedup.push(p),
        }
    }
    order_hardlinks(&mut dedup)?;
    Ok(dedup)
}

/// Makes every hard link point at the first (in tar order) member of its
/// link group, which carries the content.
fn order_hardlinks(plan: &mut [Planned]) -> Result<(), LayerError> {
    let index: HashMap<String, usize> = plan
        .iter()
        .enumerate()
        .map(|(i, p)| (p.key.join("/"), i))
        .collect();
    // For every entry, the index of the entry holding the inode.
    let mut inode_of: Vec<usize> = (0..plan.len()).collect();
    for (i, p) in plan.iter().enumerate() {
        let EntryKind::Hardlink(target) = &p.entry.kind else {
            continue;
        };
        let mut cur = target.clone();
        let mut hops = 0;
        let holder = loop {
            let key = components(&cur)
                .map_err(|_| {
                    bad(
                        &p.entry.path,
                        format!("hard link target {target:?} is not a valid path"),
                    )
                })?
                .join("/");
            let Some(&j) = index.get(&key) else {
                return Err(bad(
                    &p.entry.path,
                    format!("hard link target {target:?} is not an entry of this layer"),
                ));
            };
            match &plan.get(j).map(|t| &t.entry.kind) {
                Some(EntryKind::Hardlink(next)) => {
                    hops += 1;
                    if hops > plan.len() {
                        return Err(bad(&p.entry.path, "hard links form a cycle"));
                    }
                    cur = next.clone();
                }
                Some(EntryKind::Dir | EntryKind::Whiteout | EntryKind::Opaque) => {
                    return Err(bad(
                        &p.entry.path,
                        format!("hard link target {target:?} is a directory or a whiteout"),
                    ));
                }
                _ => break j,
            }
        };
        if holder == i {
            return Err(bad(&p.entry.path, "hard link to itself"));
        }
        if let Some(slot) = inode_of.get_mut(i) {
            *slot = holder;
        }
    }
    // Group members by holder; the leader is the smallest index.
    let mut groups: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, &h) in inode_of.iter().enumerate() {
        if h != i {
            groups.entry(h).or_default().push(i);
        }
    }
    for (holder, members) in groups {
        let leader = members.iter().copied().min().unwrap_or(holder).min(holder);
        if leader != holder {
            // The leader takes the content and the inode's metadata.
            let (lo, hi) = (leader.min(holder), leader.max(holder));
            let (left, right) = plan.split_at_mut(hi);
            if let (Some(a), Some(b)) = (left.get_mut(lo), right.first_mut()) {
                std::mem::swap(&mut a.entry.kind, &mut b.entry.kind);
                std::mem::swap(&mut a.entry.mode, &mut b.entry.mode);
                std::mem::swap(&mut a.entry.uid, &mut b.entry.uid);
                std::mem::swap(&mut a.entry.gid, &mut b.entry.gid);
                std::mem::swap(&mut a.entry.mtime, &mut b.entry.mtime);
                std::mem::swap(&mut a.entry.xattrs, &mut b.entry.xattrs);
            }
        }
        let leader_name = plan
            .get(leader)
            .map(|p| p.key.join("/"))
            .unwrap_or_default();
        for m in members.into_iter().chain(std::iter::once(holder)) {
            if m != leader {
                if let Some(p) = plan.get_mut(m) {
                    p.entry.kind = EntryKind::Hardlink(leader_name.clone());
                }
            }
        }
    }
    Ok(())
}

/// Splits a changeset path into components, refusing what cannot be a
/// relative path in an image.
fn components(path: &str) -> Result<Vec<String>, LayerError> {
    if path.contains('\0') {
        return Err(bad(path, "path contains a NUL byte"));
    }
    let mut out = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(bad(path, "path contains \"..\"")),
            c => out.push(c.to_owned()),
        }
    }
    if out.is_empty() {
        return Err(bad(path, "the image root itself cannot be a layer entry"));
    }
    Ok(out)
}

fn bad(path: &str, reason: impl Into<String>) -> LayerError {
    LayerError::BadEntry {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// Writes the planned entries and the end-of-archive marker.
fn write_tar(plan: &[Planned], opts: &WriteOptions, w: &mut impl Write) -> Result<(), LayerError> {
    let empty = Default::default();
    for p in plan {
        let e = &p.entry;
        let name = p.tar_name();
        let mtime = match opts.source_date_epoch {
            Some(sde) => e.mtime.min(sde),
            None => e.mtime,
        };
        let mut spec = HeaderSpec {
            name: &name,
            link: "",
            typeflag: typeflag::REGULAR,
            mode: e.mode,
            uid: u64::from(e.uid),
            gid: u64::from(e.gid),
            size: 0,
            mtime,
            devmajor: 0,
            devminor: 0,
            xattrs: &e.xattrs,
        };
        match &e.kind {
            EntryKind::Dir => {
                spec.typeflag = typeflag::DIR;
                write_header(w, &spec)?;
            }
            EntryKind::File(Content::Bytes(bytes)) => {
                spec.size = bytes.len() as u64;
                write_header(w, &spec)?;
                w.write_all(bytes).map_err(LayerError::Write)?;
                pax::pad(w, spec.size).map_err(LayerError::Write)?;
            }
            EntryKind::File(Content::Path(src)) => {
                let (file, size) = open_source(&e.path, src)?;
                spec.size = size;
                write_header(w, &spec)?;
                copy_exact(&e.path, src, file, size, w)?;
                pax::pad(w, size).map_err(LayerError::Write)?;
            }
            EntryKind::Symlink(target) => {
                spec.typeflag = typeflag::SYMLINK;
                spec.link = target;
                write_header(w, &spec)?;
            }
            EntryKind::Hardlink(target) => {
                spec.typeflag = typeflag::HARDLINK;
                spec.link = target;
                spec.xattrs = &empty;
                write_header(w, &spec)?;
            }
            EntryKind::CharDevice { major, minor } | EntryKind::BlockDevice { major, minor } => {
                spec.typeflag = if matches!(e.kind, EntryKind::CharDevice { .. }) {
                    typeflag::CHAR
                } else {
                    typeflag::BLOCK
                };
                spec.devmajor = *major;
                spec.devminor = *minor;
                write_header(w, &spec)?;
            }
            EntryKind::Fifo => {
                spec.typeflag = typeflag::FIFO;
                write_header(w, &spec)?;
            }
            EntryKind::Whiteout | EntryKind::Opaque => {
                spec.xattrs = &empty;
                write_header(w, &spec)?;
            }
        }
    }
    pax::write_trailer(w).map_err(LayerError::Write)
}

fn write_header(w: &mut impl Write, spec: &HeaderSpec<'_>) -> Result<(), LayerError> {
    pax::write_header(w, spec).map_err(LayerError::Write)
}

/// Opens a host file for an entry and takes its size now.
fn open_source(entry: &str, src: &Path) -> Result<(File, u64), LayerError> {
    let read_err = |source| LayerError::ReadSource {
        path: entry.to_owned(),
        source_path: src.to_owned(),
        source,
    };
    let file = File::open(src).map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    if !meta.is_file() {
        return Err(read_err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    Ok((file, meta.len()))
}

/// Copies exactly `size` bytes of `file` to `w`; a file that grew or shrank
/// meanwhile is an error.
fn copy_exact(
    entry: &str,
    src: &Path,
    file: File,
    size: u64,
    w: &mut impl Write,
) -> Result<(), LayerError> {
    let changed = || LayerError::FileChanged {
        path: entry.to_owned(),
        source_path: src.to_owned(),
        expected: size,
    };
    let mut limited = file.take(size);
    let mut buf = vec![0u8; 64 * 1024];
    let mut copied = 0u64;
    loop {
        let n = match limited.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(LayerError::ReadSource {
                    path: entry.to_owned(),
                    source_path: src.to_owned(),
                    source,
                })
            }
        };
        w.write_all(buf.get(..n).unwrap_or_default())
            .map_err(LayerError::Write)?;
        copied += n as u64;
    }
    if copied != size {
        return Err(changed());
    }
    let mut file = limited.into_inner();
    let mut one = [0u8; 1];
    loop {
        match file.read(&mut one) {
            Ok(0) => return Ok(()),
            Ok(_) => return Err(changed()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(LayerError::ReadSource {
                    path: entry.to_owned(),
                    source_path: src.to_owned(),
                    source,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn file(path: &str, data: &[u8]) -> Entry {
        Entry {
            path: path.into(),
            kind: EntryKind::File(Content::Bytes(data.to_vec())),
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 1000,
            xattrs: BTreeMap::new(),
        }
    }

    fn names(entries: Vec<Entry>) -> Vec<String> {
        plan(entries)
            .unwrap()
            .iter()
            .map(Planned::tar_name)
            .collect()
    }

    #[test]
    fn sort_puts_directories_before_their_contents() {
        let got = names(vec![
            file("a.b", b""),
            file("a/b", b""),
            Entry::dir("a", 0o755, 0, 0, 0),
            file("a-", b""),
            Entry::dir("a/c", 0o755, 0, 0, 0),
            file("a/c/d", b""),
        ]);
        assert_eq!(got, ["a/", "a/b", "a/c/", "a/c/d", "a-", "a.b"]);
    }

    #[test]
    fn later_duplicate_wins() {
        let p = plan(vec![file("x", b"1"), file("./x", b"2")]).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(
            p[0].entry.kind,
            EntryKind::File(Content::Bytes(b"2".to_vec()))
        );
    }

    #[test]
    fn hardlink_before_its_target_swaps_roles() {
        let mut l = file("a/link", b"");
        l.kind = EntryKind::Hardlink("b/file".into());
        let p = plan(vec![file("b/file", b"data"), l]).unwrap();
        assert_eq!(p[0].tar_name(), "a/link");
        assert_eq!(
            p[0].entry.kind,
            EntryKind::File(Content::Bytes(b"data".to_vec()))
        );
        assert_eq!(p[1].entry.kind, EntryKind::Hardlink("a/link".into()));
    }

    #[test]
    fn a_gzip_layer_of_many_chunks_is_the_same_on_any_machine() {
        // Over three gzip chunks, half of it incompressible.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let noise: Vec<u8> = (0..2_000_000)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        let text = b"usr/lib/x86_64-linux-gnu ".repeat(80_000);
        let entries = || vec![file("a/noise", &noise), file("a/text", &text)];
        let write = |compression| {
            let mut out = Vec::new();
            let opts = WriteOptions {
                compression,
                source_date_epoch: None,
            };
            let info = write_layer(entries(), &opts, &mut out).unwrap();
            (out, info)
        };
        let (tar, plain) = write(Compression::None);
        let (gz, info) = write(Compression::Gzip { level: 6 });
        assert_eq!(info.diff_id, plain.diff_id);
        assert_eq!(info.digest, Digest::of(&gz));
        assert_eq!(info.size, gz.len() as u64);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap();
        assert!(back == tar);
        // The same bytes as compressing the tar on one thread.
        let mut one = GzWriter::with_workers(Vec::new(), 6, 1).unwrap();
        one.write_all(&tar).unwrap();
        assert!(one.finish().unwrap() == gz);
    }

    #[test]
    fn invalid_paths_and_missing_link_targets_are_errors() {
        assert!(plan(vec![file("../x", b"")]).is_err());
        assert!(plan(vec![file("", b"")]).is_err());
        assert!(plan(vec![file("a/.wh.b", b"")]).is_err());
        let mut l = file("l", b"");
        l.kind = EntryKind::Hardlink("nope".into());
        assert!(plan(vec![l]).is_err());
    }
}
