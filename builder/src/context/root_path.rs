//! Paths inside a root directory: Go's `path.Clean`, and resolving a path
//! through the symlinks found under a root as if the root were `/`
//! (containerd's `fs.RootPath`): absolute link targets restart at the root
//! and `..` stops at it, so a resolved path never leaves the root.
//!
//! Relative paths here are `/`-separated, without a leading `/`; `""` is the
//! root itself. This module never follows a symlink with the host's view of
//! the filesystem.

use std::collections::VecDeque;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Symlinks followed in one resolution before giving up (as Linux's 40, but
/// counting every hop of a path).
const MAX_LINK_HOPS: usize = 255;

/// Go's `path.Clean` for `/`-separated paths: no `.`, no `x/..`, no double
/// or trailing slashes; `..` at the start of a rooted path is dropped; the
/// empty path becomes `.`.
pub fn clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if matches!(out.last(), Some(last) if *last != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// A path made relative to a root: cleaned as if rooted at `/` (so `..`
/// never climbs above the root) and without the leading `/`. The root
/// itself is `""`.
pub fn clean_rel(p: &str) -> String {
    let c = clean(&format!("/{p}"));
    c.trim_start_matches('/').to_owned()
}

/// Joins a relative path (as produced by [`clean_rel`]) onto a root.
pub fn join(root: &Path, rel: &str) -> PathBuf {
    if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    }
}

/// The parent of a relative path (`""` for a top-level name) and its last
/// component.
pub fn split_parent(rel: &str) -> (&str, &str) {
    match rel.rfind('/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => ("", rel),
    }
}

/// `a` + `/` + `b`, where either may be the root `""`.
pub fn join_rel(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{a}/{b}"),
    }
}

/// Resolves `rel` under `root`, following every symlink met on the way as
/// if `root` were `/` (the last component too when `follow_final`). Missing
/// components are kept lexically. Returns the resolved relative path; it
/// always names something inside the root.
pub fn resolve(root: &Path, rel: &str, follow_final: bool) -> io::Result<String> {
    let mut todo: VecDeque<String> = clean_rel(rel)
        .split('/')
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    let mut out: Vec<String> = Vec::new();
    let mut hops = 0usize;
    let mut missing = false;
    while let Some(c) = todo.pop_front() {
        match c.as_str() {
            "" | "." => continue,
            ".." => {
                out.pop();
                continue;
            }
            _ => {}
        }
        out.push(c);
        if missing || (todo.is_empty() && !follow_final) {
            continue;
        }
        let here = root.join(out.join("/"));
        match std::fs::symlink_metadata(&here) {
            Ok(m) if m.file_type().is_symlink() => {
                hops += 1;
                if hops > MAX_LINK_HOPS {
                    return Err(io::Error::other(format!(
                        "too many levels of symbolic links resolving {rel:?}"
                    )));
                }
                let target = std::fs::read_link(&here)?;
                let target = target.as_os_str().as_bytes();
                out.pop();
                if target.starts_with(b"/") {
                    out.clear();
                }
                let target = String::from_utf8_lossy(target);
                for part in target.split('/').rev() {
                    if !part.is_empty() {
                        todo.push_front(part.to_owned());
                    }
                }
            }
            Ok(_) => {}
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(libc::ENOTDIR) =>
            {
                missing = true;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_clean_table() {
        for (i, o) in [
            ("", "."),
            ("abc", "abc"),
            ("abc/def", "abc/def"),
            ("a/b/c", "a/b/c"),
            (".", "."),
            ("..", ".."),
            ("../..", "../.."),
            ("../../abc", "../../abc"),
            ("/abc", "/abc"),
            ("/", "/"),
            ("abc/", "abc"),
            ("abc/def/", "abc/def"),
            ("//abc", "/abc"),
            ("///abc", "/abc"),
            ("abc//def//ghi", "abc/def/ghi"),
            ("abc/./def", "abc/def"),
            ("/./abc/def", "/abc/def"),
            ("abc/.", "abc"),
            ("abc/def/ghi/../jkl", "abc/def/jkl"),
            ("abc/def/../ghi/../jkl", "abc/jkl"),
            ("abc/def/..", "abc"),
            ("abc/def/../..", "."),
            ("/abc/def/../..", "/"),
            ("abc/def/../../..", ".."),
            ("/abc/def/../../..", "/"),
            ("abc/def/../../../ghi/jkl/../../../mno", "../../mno"),
            ("abc/./../def", "def"),
            ("abc//./../def", "def"),
            ("abc/../../././../def", "../../def"),
        ] {
            assert_eq!(clean(i), o, "clean({i:?})");
        }
        assert_eq!(clean_rel("../../etc/passwd"), "etc/passwd");
        assert_eq!(clean_rel("/"), "");
        assert_eq!(clean_rel("./a/"), "a");
    }

    #[test]
    fn resolve_stays_inside() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("opt/bin")).unwrap();
        std::fs::create_dir_all(r.join("usr/local")).unwrap();
        std::os::unix::fs::symlink("/opt/bin", r.join("usr/local/bin")).unwrap();
        std::os::unix::fs::symlink("../../../../../../etc", r.join("evil")).unwrap();
        std::os::unix::fs::symlink("loop", r.join("loop")).unwrap();
        assert_eq!(
            resolve(r, "/usr/local/bin/app", true).unwrap(),
            "opt/bin/app"
        );
        assert_eq!(resolve(r, "usr/local/bin", false).unwrap(), "usr/local/bin");
        assert_eq!(resolve(r, "evil/passwd", true).unwrap(), "etc/passwd");
        assert_eq!(resolve(r, "missing/../x", true).unwrap(), "x");
        assert!(resolve(r, "loop/x", true).is_err());
    }
}
