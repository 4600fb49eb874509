//! Atomic writes into the store: a temp file under `<root>/tmp`, written,
//! fsynced, renamed into place, and the directory fsynced. A failed or
//! abandoned write leaves no temp file behind.
//!
//! Must never leave a partially written file under a final name.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tempfile::TempPath;

use super::StoreError;
use crate::digest::{Digest, Hasher};

const BUFFER: usize = 256 * 1024;

/// A blob being written: `io::Write` into a temp file, hashed on the way.
/// [`BlobWriter::commit`] moves it under `blobs/sha256/`; dropping it
/// without a commit removes the temp file.
pub struct BlobWriter {
    inner: Option<Inner>,
    blobs_dir: PathBuf,
    temp_display: PathBuf,
}

struct Inner {
    file: BufWriter<File>,
    temp: TempPath,
    hasher: Hasher,
}

impl BlobWriter {
    pub(crate) fn new(tmp_dir: &Path, blobs_dir: &Path) -> Result<BlobWriter, StoreError> {
        let (file, temp) = temp_file(tmp_dir, "blob-")?;
        Ok(BlobWriter {
            temp_display: temp.to_path_buf(),
            inner: Some(Inner {
                file: BufWriter::with_capacity(BUFFER, file),
                temp,
                hasher: Hasher::new(),
            }),
            blobs_dir: blobs_dir.to_owned(),
        })
    }

    /// The temp file being written.
    pub fn temp_path(&self) -> &Path {
        &self.temp_display
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.inner.as_ref().map_or(0, |i| i.hasher.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn failed(&self) -> io::Error {
        io::Error::other(format!(
            "blob writer for {} already failed",
            self.temp_display.display()
        ))
    }

    /// Flush and fsync the temp file, check it against `expected` (a
    /// mismatch removes it), and rename it to `blobs/sha256/<hex>`. An
    /// existing blob of that digest is replaced by the verified new bytes, so
    /// loading an image again repairs a corrupt blob.
    pub fn commit(mut self, expected: Option<&Digest>) -> Result<(Digest, u64), StoreError> {
        let Some(inner) = self.inner.take() else {
            return Err(StoreError::write(self.temp_display.clone(), self.failed()));
        };
        let Inner { file, temp, hasher } = inner;
        let file = file
            .into_inner()
            .map_err(|e| StoreError::write(temp.to_path_buf(), e.into_error()))?;
        finish_file(&file, &temp)?;
        drop(file);
        let size = hasher.len();
        let digest = hasher.finish();
        if let Some(want) = expected {
            if *want != digest {
                return Err(StoreError::DigestMismatch {
                    expected: want.clone(),
                    actual: digest,
                    size,
                });
            }
        }
        let dest = self.blobs_dir.join(digest.hex());
        persist(temp, &dest)?;
        sync_dir(&self.blobs_dir)?;
        Ok((digest, size))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(inner) = self.inner.as_mut() else {
            return Err(self.failed());
        };
        match inner.file.write(buf) {
            Ok(n) => {
                inner.hasher.update(&buf[..n]);
                Ok(n)
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        let Some(inner) = self.inner.as_mut() else {
            return Err(self.failed());
        };
        match inner.file.flush() {
            Ok(()) => Ok(()),
            Err(e) => Err(self.fail(e)),
        }
    }
}

impl BlobWriter {
    /// A write error: remove the temp file now and describe the error.
    fn fail(&mut self, e: io::Error) -> io::Error {
        if e.kind() == io::ErrorKind::Interrupted {
            return e;
        }
        if let Some(inner) = self.inner.take() {
            // Dropping a BufWriter flushes: throw the buffer away instead.
            let (file, _) = inner.file.into_parts();
            drop(file);
            drop(inner.temp);
        }
        StoreError::write(self.temp_display.clone(), e).into_io()
    }
}

/// A new temp file in `tmp_dir`, mode 0644 (blobs are world-readable like
/// containerd's), removed when the returned path is dropped.
pub(crate) fn temp_file(tmp_dir: &Path, prefix: &str) -> Result<(File, TempPath), StoreError> {
    let named = tempfile::Builder::new()
        .prefix(prefix)
        .permissions(fs::Permissions::from_mode(0o644))
        .tempfile_in(tmp_dir)
        .map_err(|e| StoreError::write(tmp_dir.join(format!("{prefix}*")), e))?;
    Ok(named.into_parts())
}

fn finish_file(file: &File, temp: &TempPath) -> Result<(), StoreError> {
    file.sync_all()
        .map_err(|e| StoreError::write(temp.to_path_buf(), e))
}

fn persist(temp: TempPath, dest: &Path) -> Result<(), StoreError> {
    temp.persist(dest).map_err(|e| {
        // Dropping `e.path` removes the temp file.
        StoreError::io("renaming a temp file to", dest, e.error)
    })
}

/// fsync a directory so a rename in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("syncing directory", dir, e))
}

/// Write `bytes` to `dest` atomically through a temp file in `tmp_dir`.
pub(crate) fn write_file_atomic(
    tmp_dir: &Path,
    dest: &Path,
    bytes: &[u8],
) -> Result<(), StoreError> {
    let (mut file, temp) = temp_file(tmp_dir, "file-")?;
    if let Err(e) = file.write_all(bytes) {
        return Err(StoreError::write(temp.to_path_buf(), e));
    }
    finish_file(&file, &temp)?;
    drop(file);
    persist(temp, dest)?;
    if let Some(parent) = dest.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}
