//! Content hashes of files, symlinks, devices and directories for cache
//! keys: type, permission bits, uid, gid, size, bytes, symlink target,
//! device numbers and xattrs, and for a directory its children by name.
//! **Never the mtime**: touching a file keeps its hash.
//!
//! The digests are an internal cache-key format (versioned by a tag); they
//! are not layer digests. Nothing here writes to the filesystem.

use std::collections::BTreeMap;
use std::fs::Metadata;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::digest::{Digest, Hasher};

const TAG: &[u8] = b"hoist-content-v1\0";

/// Extended attributes that describe the host rather than the file
/// (SELinux labels differ between machines) and never enter a hash or a
/// layer.
pub fn host_only_xattr(name: &str) -> bool {
    name == "security.selinux"
}

/// The extended attributes of `path` (not following a symlink), sorted,
/// without host-only ones. Names that are not UTF-8 are skipped.
pub fn read_xattrs(path: &Path) -> io::Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let names = match xattr::list(path) {
        Ok(n) => n,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(out),
        Err(e) => return Err(e),
    };
    for name in names {
        let Some(n) = name.to_str() else { continue };
        if host_only_xattr(n) {
            continue;
        }
        match xattr::get(path, &name) {
            Ok(Some(v)) => {
                out.insert(n.to_owned(), v);
            }
            Ok(None) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENODATA) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// The sha256 of a file's bytes.
pub fn file_bytes_digest(path: &Path) -> io::Result<[u8; 32]> {
    use sha2::{Digest as _, Sha256};
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(buf.get(..n).unwrap_or_default());
    }
    Ok(h.finalize().into())
}

/// What a node's hash covers besides its children.
pub struct NodeHeader<'a> {
    pub meta: &'a Metadata,
    /// Use 0/0 instead of the file's owner (the build context is sent with
    /// its owners reset, as BuildKit's file sync does).
    pub reset_owner: bool,
    pub xattrs: &'a BTreeMap<String, Vec<u8>>,
    pub link_target: Option<&'a [u8]>,
}

fn kind_byte(m: &Metadata) -> u8 {
    let t = m.file_type();
    if t.is_dir() {
        b'd'
    } else if t.is_symlink() {
        b'l'
    } else if t.is_char_device() {
        b'c'
    } else if t.is_block_device() {
        b'b'
    } else if t.is_fifo() {
        b'p'
    } else if t.is_socket() {
        b's'
    } else {
        b'f'
    }
}

fn header(h: &mut Hasher, n: &NodeHeader<'_>) {
    let m = n.meta;
    h.update(TAG);
    h.update(&[kind_byte(m)]);
    h.update(&(m.mode() & 0o7777).to_le_bytes());
    let (uid, gid) = if n.reset_owner {
        (0, 0)
    } else {
        (m.uid(), m.gid())
    };
    h.update(&uid.to_le_bytes());
    h.update(&gid.to_le_bytes());
    let size = if m.file_type().is_file() { m.size() } else { 0 };
    h.update(&size.to_le_bytes());
    let t = m.file_type();
    let (major, minor) = if t.is_char_device() || t.is_block_device() {
        (
            nix::sys::stat::major(m.rdev()),
            nix::sys::stat::minor(m.rdev()),
        )
    } else {
        (0, 0)
    };
    h.update(&major.to_le_bytes());
    h.update(&minor.to_le_bytes());
    let target = n.link_target.unwrap_or_default();
    h.update(&(target.len() as u64).to_le_bytes());
    h.update(target);
    h.update(&(n.xattrs.len() as u64).to_le_bytes());
    for (k, v) in n.xattrs {
        h.update(&(k.len() as u64).to_le_bytes());
        h.update(k.as_bytes());
        h.update(&(v.len() as u64).to_le_bytes());
        h.update(v);
    }
}

/// The hash of a non-directory: its header plus (for a regular file) the
/// digest of its bytes.
pub fn leaf_digest(n: &NodeHeader<'_>, bytes: Option<&[u8; 32]>) -> Digest {
    let mut h = Hasher::new();
    header(&mut h, n);
    if let Some(b) = bytes {
        h.update(b"bytes");
        h.update(b);
    }
    h.finish()
}

/// The hash of a directory: its header plus each child's name and hash,
/// in name order.
pub fn dir_digest<'a>(
    n: &NodeHeader<'_>,
    children: impl IntoIterator<Item = (&'a [u8], &'a Digest)>,
) -> Digest {
    let mut h = Hasher::new();
    header(&mut h, n);
    for (name, d) in children {
        h.update(&(name.len() as u64).to_le_bytes());
        h.update(name);
        h.update(d.hex().as_bytes());
    }
    h.finish()
}

/// A symlink's target bytes.
pub fn link_target(path: &Path) -> io::Result<Vec<u8>> {
    Ok(std::fs::read_link(path)?.as_os_str().as_bytes().to_vec())
}
