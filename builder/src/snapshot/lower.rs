//! The lower dirs of an overlay, looked up as overlayfs merges them: the
//! topmost layer that has a path wins, a whiteout (char device 0/0) hides
//! the path, an opaque directory hides what lower layers hold under it, and
//! a non-directory hides everything below its path. The differ uses this
//! to tell a changed entry from a copied-up one.
//!
//! Reads only; never follows a symlink in the layers.

use std::fs;
use std::path::{Path, PathBuf};

use super::unpack::{is_whiteout, OPAQUE_XATTR};

/// Layer directories, top first.
#[derive(Debug, Clone, Default)]
pub struct Lowers {
    dirs: Vec<PathBuf>,
}

impl Lowers {
    /// `dirs` top first.
    pub fn new(dirs: Vec<PathBuf>) -> Lowers {
        Lowers { dirs }
    }

    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The host path and metadata of `rel` (a relative, `/`-separated path)
    /// in the merged lower view; `None` when it does not exist there.
    pub fn lookup(&self, rel: &str) -> Option<(PathBuf, fs::Metadata)> {
        let comps: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
        let last_index = comps.len().checked_sub(1)?;
        for layer in &self.dirs {
            let mut p = layer.clone();
            let mut hidden_below = false;
            for (i, c) in comps.iter().enumerate() {
                p.push(c);
                let Ok(m) = fs::symlink_metadata(&p) else {
                    break;
                };
                if is_whiteout(&m) {
                    return None;
                }
                if i == last_index {
                    return Some((p, m));
                }
                if !m.is_dir() {
                    return None;
                }
                if is_opaque(&p) {
                    hidden_below = true;
                }
            }
            if hidden_below {
                return None;
            }
        }
        None
    }
}

/// Does directory `p` carry `trusted.overlay.opaque=y`?
pub(crate) fn is_opaque(p: &Path) -> bool {
    matches!(
        crate::layer::sys::lgetxattr(p, OPAQUE_XATTR),
        Ok(Some(v)) if v == b"y"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::stat::{mknod, Mode, SFlag};

    #[test]
    fn lookup_follows_overlay_rules() {
        let d = tempfile::tempdir().unwrap();
        let (top, mid, bot) = (d.path().join("t"), d.path().join("m"), d.path().join("b"));
        for l in [&top, &mid, &bot] {
            fs::create_dir_all(l).unwrap();
        }
        fs::create_dir_all(bot.join("a/b")).unwrap();
        fs::write(bot.join("a/b/f"), "bottom").unwrap();
        fs::write(bot.join("a/gone"), "").unwrap();
        fs::create_dir_all(bot.join("o")).unwrap();
        fs::write(bot.join("o/old"), "").unwrap();
        // mid deletes a/gone, makes o opaque with o/new.
        fs::create_dir_all(mid.join("a")).unwrap();
        mknod(&mid.join("a/gone"), SFlag::S_IFCHR, Mode::empty(), 0).unwrap();
        fs::create_dir_all(mid.join("o")).unwrap();
        crate::layer::sys::lsetxattr(&mid.join("o"), OPAQUE_XATTR, b"y").unwrap();
        fs::write(mid.join("o/new"), "").unwrap();
        // top replaces directory a/b with a file.
        fs::create_dir_all(top.join("a")).unwrap();
        fs::write(top.join("a/x"), "top").unwrap();
        let l = Lowers::new(vec![top.clone(), mid, bot.clone()]);
        assert_eq!(l.lookup("a/b/f").unwrap().0, bot.join("a/b/f"));
        assert!(l.lookup("a/gone").is_none());
        assert!(l.lookup("o/old").is_none());
        assert!(l.lookup("o/new").is_some());
        assert_eq!(l.lookup("a/x").unwrap().0, top.join("a/x"));
        assert!(l.lookup("a/x/deeper").is_none());
        assert!(l.lookup("nope").is_none());
        assert!(l.lookup("").is_none());
    }
}
