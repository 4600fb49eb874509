//! A persistent stat cache: absolute path → (dev, ino, size, mtime, ctime)
//! → digest of the file's bytes, so an unchanged context is not re-read on
//! a rebuild.
//!
//! Correctness never depends on it: any change of the stat tuple re-reads
//! the file; entries whose ctime is too close to the moment the cache was
//! filled are never saved (a write in the same clock tick could otherwise
//! go unseen, git's "racy clean" problem); a file that does not parse or
//! whose checksum fails is ignored (and rewritten). The file is replaced
//! atomically (temp file + rename) and never holds file contents.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use tracing::{debug, warn};

const MAGIC: &[u8] = b"hoist-stat-cache-v1\n";
const RECORD_FIXED: usize = 8 * 5 + 32 + 4;
/// Entries at most this close (ns) to the start of the scan are not saved.
const RACY_SLACK_NS: i64 = 20_000_000;
/// Upper bound on saved entries, so the file cannot grow without bound.
const MAX_ENTRIES: usize = 2_000_000;

/// The stat fields that must all be unchanged for a cached digest to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatKey {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
}

impl StatKey {
    pub fn of(m: &std::fs::Metadata) -> StatKey {
        use std::os::unix::fs::MetadataExt;
        StatKey {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: m
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.mtime_nsec()),
            ctime_ns: m
                .ctime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.ctime_nsec()),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Record {
    key: StatKey,
    digest: [u8; 32],
    /// Looked up or stored during this process's use.
    seen: bool,
}

/// Hit and miss counts of content lookups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Files whose digest came from the cache.
    pub hits: u64,
    /// Files that had to be read.
    pub misses: u64,
}

/// The in-memory cache, loaded from and saved to one file.
#[derive(Debug)]
pub struct StatCache {
    file: PathBuf,
    records: HashMap<Vec<u8>, Record>,
    dirty: bool,
    /// When the scan that fills the cache started (ns since the epoch).
    scan_start_ns: i64,
    pub stats: CacheStats,
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl StatCache {
    /// Loads `file`; a missing, unreadable or corrupt file gives an empty
    /// cache that will be rewritten.
    pub fn load(file: &Path) -> StatCache {
        let mut c = StatCache {
            file: file.to_path_buf(),
            records: HashMap::new(),
            dirty: false,
            scan_start_ns: now_ns(),
            stats: CacheStats::default(),
        };
        match std::fs::read(file) {
            Ok(bytes) => match parse(&bytes) {
                Some(records) => {
                    debug!(file = %file.display(), entries = records.len(), "stat cache loaded");
                    c.records = records;
                }
                None => {
                    warn!(file = %file.display(), "stat cache is corrupt; ignoring it and rewriting it");
                    c.dirty = true;
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                warn!(file = %file.display(), error = %e, "cannot read the stat cache; ignoring it");
                c.dirty = true;
            }
        }
        c
    }

    /// The cached digest of `path` if its stat tuple is unchanged.
    pub fn get(&mut self, path: &Path, key: StatKey) -> Option<[u8; 32]> {
        let r = self.records.get_mut(path.as_os_str().as_bytes())?;
        if r.key != key {
            return None;
        }
        r.seen = true;
        Some(r.digest)
    }

    /// Records the digest just computed for `path`.
    pub fn put(&mut self, path: &Path, key: StatKey, digest: [u8; 32]) {
        self.records.insert(
            path.as_os_str().as_bytes().to_vec(),
            Record {
                key,
                digest,
                seen: true,
            },
        );
        self.dirty = true;
    }

    /// Forgets entries under `root` that this run did not see (deleted
    /// files), keeping entries of other roots.
    pub fn prune_unseen_under(&mut self, root: &Path) {
        let mut prefix = root.as_os_str().as_bytes().to_vec();
        prefix.push(b'/');
        let before = self.records.len();
        self.records
            .retain(|k, r| r.seen || !k.starts_with(&prefix));
        if self.records.len() != before {
            self.dirty = true;
        }
    }

    /// Writes the cache atomically if it changed.
    pub fn save(&mut self) -> std::io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let limit = self.scan_start_ns.saturating_sub(RACY_SLACK_NS);
        let mut body =
            Vec::with_capacity(MAGIC.len() + 8 + self.records.len() * (RECORD_FIXED + 64));
        body.extend_from_slice(MAGIC);
        let keep: Vec<(&Vec<u8>, &Record)> = self
            .records
            .iter()
            .filter(|(_, r)| r.key.ctime_ns < limit && r.key.mtime_ns < limit)
            .take(MAX_ENTRIES)
            .collect();
        body.extend_from_slice(&(keep.len() as u64).to_le_bytes());
        for (path, r) in keep {
            body.extend_from_slice(&r.key.dev.to_le_bytes());
            body.extend_from_slice(&r.key.ino.to_le_bytes());
            body.extend_from_slice(&r.key.size.to_le_bytes());
            body.extend_from_slice(&r.key.mtime_ns.to_le_bytes());
            body.extend_from_slice(&r.key.ctime_ns.to_le_bytes());
            body.extend_from_slice(&r.digest);
            body.extend_from_slice(&(path.len() as u32).to_le_bytes());
            body.extend_from_slice(path);
        }
        let sum = Sha256::digest(&body);
        body.extend_from_slice(sum.as_slice());
        let dir = match self.file.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
        tmp.write_all(&body)?;
        tmp.as_file().sync_all()?;
        tmp.persist(&self.file).map_err(|e| e.error)?;
        self.dirty = false;
        debug!(file = %self.file.display(), "stat cache saved");
        Ok(())
    }
}

fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if b.len() < n {
        return None;
    }
    let (h, t) = b.split_at(n);
    *b = t;
    Some(h)
}

fn u64_of(b: &mut &[u8]) -> Option<u64> {
    take(b, 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
}

fn parse(bytes: &[u8]) -> Option<HashMap<Vec<u8>, Record>> {
    if bytes.len() < MAGIC.len() + 8 + 32 {
        return None;
    }
    let (body, sum) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(body).as_slice() != sum {
        return None;
    }
    let mut b = body.strip_prefix(MAGIC)?;
    let n = u64_of(&mut b)?;
    let mut out = HashMap::with_capacity(usize::try_from(n).ok()?.min(MAX_ENTRIES));
    for _ in 0..n {
        let dev = u64_of(&mut b)?;
        let ino = u64_of(&mut b)?;
        let size = u64_of(&mut b)?;
        let mtime_ns = u64_of(&mut b)? as i64;
        let ctime_ns = u64_of(&mut b)? as i64;
        let digest: [u8; 32] = take(&mut b, 32)?.try_into().ok()?;
        let len = take(&mut b, 4)
            .and_then(|s| s.try_into().ok())
            .map(u32::from_le_bytes)?;
        let path = take(&mut b, len as usize)?.to_vec();
        out.insert(
            path,
            Record {
                key: StatKey {
                    dev,
                    ino,
                    size,
                    mtime_ns,
                    ctime_ns,
                },
                digest,
                seen: false,
            },
        );
    }
    if !b.is_empty() {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_corrupt_and_racy() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("c/stat-cache");
        let key = StatKey {
            dev: 1,
            ino: 2,
            size: 3,
            mtime_ns: 4,
            ctime_ns: 5,
        };
        let mut c = StatCache::load(&f);
        c.put(Path::new("/x/a"), key, [7; 32]);
        // Too recent to be trusted later: never saved.
        let racy = StatKey {
            ctime_ns: now_ns(),
            ..key
        };
        c.put(Path::new("/x/b"), racy, [8; 32]);
        c.save().unwrap();
        let mut c = StatCache::load(&f);
        assert_eq!(c.get(Path::new("/x/a"), key), Some([7; 32]));
        assert_eq!(c.get(Path::new("/x/a"), StatKey { size: 9, ..key }), None);
        assert_eq!(c.get(Path::new("/x/b"), racy), None);
        // Corruption: flip a byte; the cache is ignored and rewritten.
        let mut bytes = std::fs::read(&f).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        std::fs::write(&f, &bytes).unwrap();
        let mut c = StatCache::load(&f);
        assert_eq!(c.get(Path::new("/x/a"), key), None);
        c.save().unwrap();
        assert!(parse(&std::fs::read(&f).unwrap()).is_some());
    }
}
