//! Finding the program to run: `process.args[0]` through the container's
//! `PATH` (from `process.env`, not keel's), the way `execvp` would.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The program was not found or cannot be run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LookupError {
    #[error("exec: {0:?}: executable file not found in $PATH")]
    NotInPath(String),
    #[error("exec: {0:?}: no such file or directory")]
    Missing(String),
    #[error("exec: {0:?}: permission denied (not an executable file)")]
    NotExecutable(String),
}

/// The value of PATH in an env list, or the default runc uses.
pub fn path_var(env: &[String]) -> &str {
    env.iter()
        .rev()
        .find_map(|kv| kv.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
}

fn executable(p: &Path) -> Option<bool> {
    let m = std::fs::metadata(p).ok()?;
    Some(m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Resolves `prog` against `path` (colon-separated) in the current root.
pub fn lookup(prog: &str, path: &str) -> Result<PathBuf, LookupError> {
    if prog.contains('/') {
        return match executable(Path::new(prog)) {
            Some(true) => Ok(PathBuf::from(prog)),
            Some(false) => Err(LookupError::NotExecutable(prog.into())),
            None => Err(LookupError::Missing(prog.into())),
        };
    }
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let cand = Path::new(dir).join(prog);
        if executable(&cand) == Some(true) {
            return Ok(cand);
        }
    }
    Err(LookupError::NotInPath(prog.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_through_path() {
        let d = tempfile::tempdir().unwrap();
        let bin = d.path().join("tool");
        std::fs::write(&bin, b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let plain = d.path().join("data");
        std::fs::write(&plain, b"x").unwrap();
        let path = format!("/nonexistent:{}", d.path().display());
        assert_eq!(lookup("tool", &path).unwrap(), bin);
        assert_eq!(
            lookup("nope", &path),
            Err(LookupError::NotInPath("nope".into()))
        );
        assert!(matches!(
            lookup(plain.to_str().unwrap(), &path),
            Err(LookupError::NotExecutable(_))
        ));
        assert!(matches!(
            lookup("/no/such", &path),
            Err(LookupError::Missing(_))
        ));
        assert_eq!(path_var(&["A=1".into(), "PATH=/x".into()]), "/x");
    }
}
