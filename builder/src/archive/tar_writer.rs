//! Deterministic tar output for archives: entries in the order given, mtime
//! 0, uid/gid 0, no user or group names, mode 0644 for files and 0755 for
//! directories. File contents are streamed and must match the size in the
//! header, or writing fails.

use std::io::{self, Read, Write};

use super::ArchiveError;
use crate::store::StoreError;

const BLOCK: u64 = 512;

pub(crate) struct TarWriter<W: Write> {
    out: W,
}

impl<W: Write> TarWriter<W> {
    pub(crate) fn new(out: W) -> Self {
        TarWriter { out }
    }

    fn header(path: &str, size: u64, dir: bool) -> Result<tar::Header, ArchiveError> {
        let mut h = tar::Header::new_gnu();
        h.set_path(path)
            .map_err(|e| ArchiveError::Write { source: e })?;
        h.set_size(size);
        h.set_mode(if dir { 0o755 } else { 0o644 });
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(if dir {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        h.set_cksum();
        Ok(h)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), ArchiveError> {
        self.out
            .write_all(bytes)
            .map_err(|e| ArchiveError::Write { source: e })
    }

    pub(crate) fn dir(&mut self, path: &str) -> Result<(), ArchiveError> {
        let h = Self::header(path, 0, true)?;
        self.write(h.as_bytes())
    }

    pub(crate) fn file(&mut self, path: &str, bytes: &[u8]) -> Result<(), ArchiveError> {
        self.stream(path, bytes.len() as u64, &mut &bytes[..])
    }

    /// A file of exactly `size` bytes read from `src`. A read error (a
    /// corrupt blob) is returned as such, not as a write error.
    pub(crate) fn stream(
        &mut self,
        path: &str,
        size: u64,
        src: &mut dyn Read,
    ) -> Result<(), ArchiveError> {
        let h = Self::header(path, size, false)?;
        self.write(h.as_bytes())?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut done = 0u64;
        loop {
            let n = match src.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(e, path)),
            };
            if n == 0 {
                break;
            }
            done += n as u64;
            if done > size {
                break;
            }
            self.write(&buf[..n])?;
        }
        if done != size {
            return Err(ArchiveError::Invalid {
                input: path.to_owned(),
                reason: format!(
                    "expected {size} bytes, read {done}: the blob changed while it was written"
                ),
            });
        }
        let pad = (BLOCK - size % BLOCK) % BLOCK;
        self.write(&vec![0u8; pad as usize])
    }

    /// The end-of-archive marker; returns the writer.
    pub(crate) fn finish(mut self) -> Result<W, ArchiveError> {
        self.write(&[0u8; 1024])?;
        self.out
            .flush()
            .map_err(|e| ArchiveError::Write { source: e })?;
        Ok(self.out)
    }
}

fn read_error(e: io::Error, path: &str) -> ArchiveError {
    if e.get_ref().is_some_and(|i| i.is::<StoreError>()) {
        let kind = e.kind();
        if let Some(inner) = e.into_inner() {
            return match inner.downcast::<StoreError>() {
                Ok(se) => ArchiveError::Store(*se),
                Err(other) => ArchiveError::io("reading", path, io::Error::new(kind, other)),
            };
        }
        return ArchiveError::io("reading", path, io::Error::from(kind));
    }
    ArchiveError::io("reading", path, e)
}
