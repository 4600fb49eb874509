//! Mount points the runtime creates in the step's root (an empty `/proc`,
//! an empty `/etc/resolv.conf` and the `/etc` around it, …) must not end up
//! in the layer. Before the step, the missing ones (and their missing
//! parents) are noted; after it, those still empty are removed, deepest
//! first — as BuildKit's mount stub cleaner does.
//!
//! Removes only empty files and empty directories it noted, through the
//! root with no symlink followed.

use std::fs;
use std::io;
use std::path::Path;

/// Paths (relative to the root) that did not exist before the step.
#[derive(Debug, Default)]
pub struct MountStubs {
    missing: Vec<String>,
}

impl MountStubs {
    /// Notes which of `destinations` (absolute container paths) and their
    /// parents are missing under `root`.
    pub fn record(root: &Path, destinations: &[&str]) -> MountStubs {
        let mut missing = Vec::new();
        for d in destinations {
            let mut rel = String::new();
            let mut gone = false;
            for comp in d.split('/').filter(|c| !c.is_empty() && *c != ".") {
                if comp == ".." {
                    break;
                }
                if !rel.is_empty() {
                    rel.push('/');
                }
                rel.push_str(comp);
                if !gone {
                    match fs::symlink_metadata(root.join(&rel)) {
                        Ok(m) if m.is_dir() => continue,
                        // A symlink or file on the way: the runtime resolves
                        // it in the root; nothing we would create.
                        Ok(_) => break,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => gone = true,
                        Err(_) => break,
                    }
                }
                if !missing.contains(&rel) {
                    missing.push(rel.clone());
                }
            }
        }
        MountStubs { missing }
    }

    /// Removes the noted paths that are now an empty file or an empty
    /// directory, deepest first.
    pub fn clean(&self, root: &Path) {
        let mut v = self.missing.clone();
        v.sort_by_key(|p| std::cmp::Reverse(p.matches('/').count()));
        for rel in v {
            let p = root.join(&rel);
            if !no_symlink_on_the_way(root, &rel) {
                continue;
            }
            let res = match fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => fs::remove_dir(&p), // fails unless empty
                Ok(m) if m.is_file() && m.len() == 0 => fs::remove_file(&p),
                _ => Ok(()),
            };
            if let Err(e) = res {
                if !matches!(
                    e.raw_os_error(),
                    Some(libc::ENOTEMPTY | libc::EEXIST | libc::ENOENT)
                ) {
                    tracing::debug!(path = %p.display(), error = %e, "mount stub left in place");
                }
            }
        }
    }
}

fn no_symlink_on_the_way(root: &Path, rel: &str) -> bool {
    let mut p = root.to_path_buf();
    let comps: Vec<&str> = rel.split('/').collect();
    let n = comps.len();
    for (i, c) in comps.into_iter().enumerate() {
        p.push(c);
        if i + 1 < n && !fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stubs_are_removed_only_when_empty() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::create_dir(r.join("proc")).unwrap();
        let s = MountStubs::record(r, &["/proc", "/etc/resolv.conf", "/etc/hosts", "/dev"]);
        assert_eq!(s.missing, ["etc", "etc/resolv.conf", "etc/hosts", "dev"]);
        // The runtime made them; the step wrote into /dev/x (not a stub).
        fs::create_dir_all(r.join("etc")).unwrap();
        fs::write(r.join("etc/resolv.conf"), "").unwrap();
        fs::write(r.join("etc/hosts"), "").unwrap();
        fs::create_dir_all(r.join("dev")).unwrap();
        fs::write(r.join("dev/x"), "kept").unwrap();
        s.clean(r);
        assert!(!r.join("etc").exists());
        assert!(r.join("dev/x").exists());
        assert!(r.join("proc").exists());
    }
}
