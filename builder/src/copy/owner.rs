//! `--chown=user[:group]`: numeric ids pass through; names are looked up in
//! the destination rootfs's `/etc/passwd` and `/etc/group` (BuildKit's
//! rules: a numeric user alone gives gid = uid, a user name alone gives
//! that user's primary group, and `root` is always 0, even without a
//! passwd file, as on scratch or with `--link`).
//!
//! The files are read through symlinks resolved inside the rootfs, never
//! the host's `/etc`.

use std::io::Read;
use std::path::Path;

use crate::context::root_path;

/// Files larger than this are not read as passwd/group databases.
const MAX_DB: u64 = 64 << 20;

/// Why `--chown` cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OwnerError {
    #[error("--chown={flag}: unable to find user {name}: no matching entries in passwd file: add the user to /etc/passwd in an earlier step or use a numeric uid")]
    UnknownUser { flag: String, name: String },
    #[error("--chown={flag}: unable to find group {name}: no matching entries in group file: add the group to /etc/group in an earlier step or use a numeric gid")]
    UnknownGroup { flag: String, name: String },
    #[error("--chown={flag}: empty user or group name: write user, user:group, uid or uid:gid")]
    Empty { flag: String },
}

/// A resolved owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

/// Reads a database file (`etc/passwd`, `etc/group`) of `rootfs`; `None`
/// when it is missing or unreadable.
fn read_db(rootfs: &Path, rel: &str) -> Option<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let real = root_path::resolve(rootfs, rel, true).ok()?;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(root_path::join(rootfs, &real))
        .ok()?;
    let mut s = String::new();
    f.take(MAX_DB).read_to_string(&mut s).ok()?;
    Some(s)
}

/// Looks `name` up in colon-separated records; returns fields 2 and 3
/// (uid/gid for passwd, gid for group).
fn lookup(db: &str, name: &str) -> Option<(u32, Option<u32>)> {
    db.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&name))
        .and_then(|f| {
            let a = f.get(2)?.trim().parse().ok()?;
            let b = f.get(3).and_then(|s| s.trim().parse().ok());
            Some((a, b))
        })
}

/// A numeric id, or `root` (BuildKit's `parseUID`: 0 without a lookup).
fn numeric_id(s: &str) -> Option<u32> {
    if s == "root" {
        return Some(0);
    }
    s.parse().ok()
}

/// Resolves a `--chown` value against `rootfs`.
pub fn resolve(flag: &str, rootfs: &Path) -> Result<Owner, OwnerError> {
    let (user, group) = match flag.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (flag, None),
    };
    if user.is_empty() || group == Some("") {
        return Err(OwnerError::Empty {
            flag: flag.to_owned(),
        });
    }
    let (uid, mut gid) = match numeric_id(user) {
        Some(uid) => (uid, uid),
        None => {
            let unknown = || OwnerError::UnknownUser {
                flag: flag.to_owned(),
                name: user.to_owned(),
            };
            let db = read_db(rootfs, "etc/passwd").ok_or_else(unknown)?;
            match lookup(&db, user) {
                Some((uid, Some(gid))) => (uid, gid),
                _ => return Err(unknown()),
            }
        }
    };
    if let Some(g) = group {
        gid = match numeric_id(g) {
            Some(gid) => gid,
            None => {
                let unknown = || OwnerError::UnknownGroup {
                    flag: flag.to_owned(),
                    name: g.to_owned(),
                };
                let db = read_db(rootfs, "etc/group").ok_or_else(unknown)?;
                lookup(&db, g).map(|(gid, _)| gid).ok_or_else(unknown)?
            }
        };
    }
    Ok(Owner { uid, gid })
}
