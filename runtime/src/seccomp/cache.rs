//! A directory of generated BPF programs, so that containers created with
//! the same profile skip libseccomp's program generation (crun does the
//! same). One file per profile:
//!
//! ```text
//! "keel-seccomp-bpf 1\n"
//! u32 LE length, key       (the profile's JSON, libseccomp version, format)
//! u32 LE length, skipped   (unknown syscall names, '\n'-separated)
//! the program              (struct sock_filter records, native order)
//! ```
//!
//! The file name is only a hash of the key; a hit requires the stored key to
//! equal the wanted one byte for byte, so a hash collision is a miss, never
//! another profile's filter. The directory is trusted like the rest of
//! keel's state: it must be writable by root only. Every failure here is a
//! miss or a skipped write, logged at debug level.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxSeccomp;

use super::filter::decode;

const MAGIC: &[u8] = b"keel-seccomp-bpf 1\n";

/// Bump when the way a profile becomes rules changes, to invalidate caches.
const RULES_VERSION: &str = "rules 1";

/// Everything the generated program depends on (`None` if the profile
/// cannot be serialised, which means: do not cache).
pub(super) fn key(s: &LinuxSeccomp) -> Option<Vec<u8>> {
    let mut k = serde_json::to_vec(s).ok()?;
    k.push(0);
    k.extend_from_slice(super::libseccomp_version().as_bytes());
    k.push(0);
    k.extend_from_slice(RULES_VERSION.as_bytes());
    k.push(0);
    k.extend_from_slice(std::env::consts::ARCH.as_bytes());
    Some(k)
}

fn path(dir: &Path, key: &[u8]) -> PathBuf {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    dir.join(format!("{:016x}.bpf", h.finish()))
}

/// The cached program and skipped names for `key`, if present and intact.
pub(super) fn read(dir: &Path, key: &[u8]) -> Option<(Vec<libc::sock_filter>, Vec<String>)> {
    let p = path(dir, key);
    let bytes = std::fs::read(&p).ok()?;
    let parsed = parse(&bytes, key);
    if parsed.is_none() {
        tracing::debug!("seccomp cache: {} is stale or damaged", p.display());
    }
    parsed
}

fn parse(bytes: &[u8], key: &[u8]) -> Option<(Vec<libc::sock_filter>, Vec<String>)> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let (stored_key, rest) = field(rest)?;
    if stored_key != key {
        return None;
    }
    let (skipped, program) = field(rest)?;
    let skipped = std::str::from_utf8(skipped).ok()?;
    let skipped = skipped
        .split('\n')
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect();
    Some((decode(program).ok()?, skipped))
}

/// A u32-length-prefixed field, and what follows it.
fn field(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let len: [u8; 4] = b.get(..4)?.try_into().ok()?;
    let len = usize::try_from(u32::from_le_bytes(len)).ok()?;
    let end = len.checked_add(4)?;
    Some((b.get(4..end)?, b.get(end..)?))
}

fn put_field(out: &mut Vec<u8>, f: &[u8]) -> Option<()> {
    out.extend_from_slice(&u32::try_from(f.len()).ok()?.to_le_bytes());
    out.extend_from_slice(f);
    Some(())
}

/// Stores a program (atomically: a temporary file renamed into place).
pub(super) fn write(dir: &Path, key: &[u8], program: &[libc::sock_filter], skipped: &[String]) {
    let mut out = MAGIC.to_vec();
    if put_field(&mut out, key)
        .and_then(|_| put_field(&mut out, skipped.join("\n").as_bytes()))
        .is_none()
    {
        return;
    }
    for i in program {
        out.extend_from_slice(&i.code.to_ne_bytes());
        out.push(i.jt);
        out.push(i.jf);
        out.extend_from_slice(&i.k.to_ne_bytes());
    }
    let target = path(dir, key);
    let tmp = dir.join(format!(".{}.tmp", std::process::id()));
    let written = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .and_then(|_| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&out)
        })
        .and_then(|_| std::fs::rename(&tmp, &target));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        tracing::debug!("seccomp cache: cannot write {}: {e}", target.display());
    }
}
