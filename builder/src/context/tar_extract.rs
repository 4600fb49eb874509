//! Extracts a build-context tar (`hoist build -` with a tar on stdin) into
//! an empty scratch directory, keeping modes, owners, xattrs, mtimes, links
//! and device nodes.
//!
//! It must never write outside the scratch directory: member names are
//! cleaned, a name that climbs out with `..` is refused (as moby's untar
//! does), a leading `/` stays inside, nothing is written through a symlink
//! that an earlier member created, and hard links may only point inside.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::sys::stat::{Mode, SFlag};
use nix::sys::time::TimeVal;

use super::root_path::{self, join};

/// Why a context tar cannot be extracted.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error(
        "context tar: reading the archive failed: {0}: is it a (possibly truncated) tar file?"
    )]
    Read(#[source] io::Error),
    #[error("context tar: member {name:?} is not UTF-8; rename it")]
    NotUtf8 { name: String },
    #[error(
        "context tar: member {name:?} points outside the context (\"..\"): refusing to extract it"
    )]
    Escape { name: String },
    #[error("context tar: member {name:?} would be written through the symlink {link:?}: refusing to extract it")]
    ThroughSymlink { name: String, link: String },
    #[error("context tar: hard link {name:?} -> {target:?} points outside the archive or at a missing member")]
    BadHardlink { name: String, target: String },
    #[error("context tar: cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn werr(path: &Path) -> impl FnOnce(io::Error) -> ExtractError + '_ {
    move |source| ExtractError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// Cleans a member name into a path relative to the root; `..` escapes are
/// refused. `""` is the root itself.
pub fn member_rel(name: &str) -> Result<String, ExtractError> {
    let c = root_path::clean(name);
    if c == ".." || c.starts_with("../") {
        return Err(ExtractError::Escape {
            name: name.to_owned(),
        });
    }
    let c = c.trim_start_matches('/');
    Ok(if c == "." {
        String::new()
    } else {
        c.to_owned()
    })
}

/// Makes sure every parent of `rel` is a real directory (created 0755 when
/// missing), never a symlink.
fn ensure_parents(root: &Path, rel: &str, name: &str) -> Result<(), ExtractError> {
    let (parent, _) = root_path::split_parent(rel);
    if parent.is_empty() {
        return Ok(());
    }
    let mut cur = String::new();
    for c in parent.split('/') {
        cur = root_path::join_rel(&cur, c);
        let p = join(root, &cur);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => {
                return Err(ExtractError::ThroughSymlink {
                    name: name.to_owned(),
                    link: cur,
                })
            }
            Ok(_) => {
                fs::remove_file(&p).map_err(werr(&p))?;
                fs::create_dir(&p).map_err(werr(&p))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&p).map_err(werr(&p))?;
                fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).map_err(werr(&p))?;
            }
            Err(e) => return Err(werr(&p)(e)),
        }
    }
    Ok(())
}

/// Removes whatever non-directory is at `p` so a member can take its place.
fn clear_slot(p: &Path) -> Result<(), ExtractError> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p).map_err(werr(p)),
        Ok(_) => fs::remove_file(p).map_err(werr(p)),
        Err(_) => Ok(()),
    }
}

fn set_mtime(p: &Path, mtime: u64) -> Result<(), ExtractError> {
    let secs = i64::try_from(mtime).unwrap_or(i64::MAX);
    let tv = TimeVal::new(secs, 0);
    nix::sys::stat::lutimes(p, &tv, &tv).map_err(|e| werr(p)(e.into()))
}

/// Extracts `tar` into `root` (an existing, empty directory).
pub fn extract(tar: impl Read, root: &Path) -> Result<(), ExtractError> {
    let mut archive = tar::Archive::new(tar);
    let mut dir_times: Vec<(PathBuf, u64)> = Vec::new();
    for entry in archive.entries().map_err(ExtractError::Read)? {
        let mut entry = entry.map_err(ExtractError::Read)?;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8(raw).map_err(|e| ExtractError::NotUtf8 {
            name: String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })?;
        let rel = member_rel(&name)?;
        let h = entry.header().clone();
        let kind = h.entry_type();
        let mode = h.mode().unwrap_or(0) & 0o7777;
        let uid = h.uid().unwrap_or(0);
        let gid = h.gid().unwrap_or(0);
        let mtime = h.mtime().unwrap_or(0);
        let mut xattrs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        if let Ok(Some(exts)) = entry.pax_extensions() {
            for ext in exts.flatten() {
                if let Ok(k) = ext.key() {
                    if let Some(x) = k.strip_prefix("SCHILY.xattr.") {
                        xattrs.insert(x.to_owned(), ext.value_bytes().to_vec());
                    }
                }
            }
        }
        if rel.is_empty() {
            // The root's own entry (`./`): keep the scratch directory as is.
            continue;
        }
        ensure_parents(root, &rel, &name)?;
        let p = join(root, &rel);
        let is_dir = kind.is_dir();
        match kind {
            tar::EntryType::Directory => match fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => {}
                _ => {
                    clear_slot(&p)?;
                    fs::create_dir(&p).map_err(werr(&p))?;
                }
            },
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                clear_slot(&p)?;
                let mut f = fs::File::create(&p).map_err(werr(&p))?;
                io::copy(&mut entry, &mut f).map_err(ExtractError::Read)?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|b| b.into_owned())
                    .unwrap_or_default();
                clear_slot(&p)?;
                std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&target), &p)
                    .map_err(werr(&p))?;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                let bad = || ExtractError::BadHardlink {
                    name: name.clone(),
                    target: target.clone(),
                };
                let trel = member_rel(&target).map_err(|_| bad())?;
                if trel.is_empty()
                    || root_path::resolve(root, &trel, false).map_err(|_| bad())? != trel
                {
                    return Err(bad());
                }
                let tp = join(root, &trel);
                if fs::symlink_metadata(&tp)
                    .map(|m| m.is_dir())
                    .unwrap_or(true)
                {
                    return Err(bad());
                }
                clear_slot(&p)?;
                fs::hard_link(&tp, &p).map_err(werr(&p))?;
                continue;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let major = h.device_major().ok().flatten().unwrap_or(0);
                let minor = h.device_minor().ok().flatten().unwrap_or(0);
                let sflag = match kind {
                    tar::EntryType::Char => SFlag::S_IFCHR,
                    tar::EntryType::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                clear_slot(&p)?;
                let dev = nix::sys::stat::makedev(u64::from(major), u64::from(minor));
                nix::sys::stat::mknod(&p, sflag, Mode::from_bits_truncate(0o600), dev)
                    .map_err(|e| werr(&p)(e.into()))?;
            }
            other => {
                tracing::debug!(member = %name, kind = ?other, "context tar: skipping member of unsupported type");
                continue;
            }
        }
        std::os::unix::fs::lchown(
            &p,
            Some(u32::try_from(uid).unwrap_or(0)),
            Some(u32::try_from(gid).unwrap_or(0)),
        )
        .map_err(werr(&p))?;
        if !kind.is_symlink() {
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).map_err(werr(&p))?;
        }
        for (k, v) in &xattrs {
            if let Err(e) = xattr::set(&p, k, v) {
                tracing::warn!(member = %name, xattr = %k, error = %e, "context tar: cannot set xattr");
            }
        }
        if is_dir {
            dir_times.push((p, mtime));
        } else {
            set_mtime(&p, mtime)?;
        }
    }
    // Directory times last: creating children changed them.
    for (p, t) in dir_times.iter().rev() {
        set_mtime(p, *t)?;
    }
    Ok(())
}
