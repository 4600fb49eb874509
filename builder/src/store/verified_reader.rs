//! Reading a blob back with its digest checked: the reader hashes what it
//! returns and fails at end of file if the bytes are not the blob's.
//!
//! Must never report a clean end of file for content that does not match.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::StoreError;
use crate::digest::{Digest, Hasher};

/// A blob opened for reading. Reading to the end checks the digest: a
/// mismatch is an `io::Error` (kind `InvalidData`) whose message names the
/// digest and the file.
pub struct VerifiedReader {
    file: File,
    hasher: Hasher,
    digest: Digest,
    path: PathBuf,
    len: u64,
    verified: bool,
}

impl VerifiedReader {
    pub(crate) fn open(path: PathBuf, digest: &Digest) -> Result<VerifiedReader, StoreError> {
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::MissingBlob {
                    digest: digest.clone(),
                    path,
                })
            }
            Err(e) => return Err(StoreError::io("opening blob", path, e)),
        };
        let len = file
            .metadata()
            .map_err(|e| StoreError::io("reading metadata of blob", &path, e))?
            .len();
        Ok(VerifiedReader {
            file,
            hasher: Hasher::new(),
            digest: digest.clone(),
            path,
            len,
            verified: false,
        })
    }

    /// The blob's size on disk.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    fn check(&self) -> Result<(), StoreError> {
        let actual = self.hasher.clone().finish();
        if actual == self.digest {
            Ok(())
        } else {
            Err(StoreError::Corrupt {
                digest: self.digest.clone(),
                path: self.path.clone(),
                actual,
                size: self.hasher.len(),
            })
        }
    }
}

impl Read for VerifiedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.verified {
            return Ok(0);
        }
        let n = self
            .file
            .read(buf)
            .map_err(|e| StoreError::io("reading blob", &self.path, e).into_io())?;
        if n == 0 && !buf.is_empty() {
            self.check().map_err(StoreError::into_io)?;
            self.verified = true;
            return Ok(0);
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
