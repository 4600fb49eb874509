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

/// The home directory of `uid` in /etc/passwd as the process sees it
/// (inside the container), or "/" when there is none: runc's HOME default.
pub fn home_dir(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| home_in_passwd(&text, uid))
        .unwrap_or_else(|| "/".to_string())
}

/// The home field of the first passwd line with `uid`.
fn home_in_passwd(text: &str, uid: u32) -> Option<String> {
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 6 && f[2].parse() == Ok(uid)).then(|| f[5].to_string())
    })
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
    fn home_from_passwd_like_runc() {
        let pw = "root:x:0:0:root:/root:/bin/sh\nkeel:x:1000:1000::/home/keel:/bin/sh\nbad line\n";
        assert_eq!(home_in_passwd(pw, 0).as_deref(), Some("/root"));
        assert_eq!(home_in_passwd(pw, 1000).as_deref(), Some("/home/keel"));
        assert_eq!(home_in_passwd(pw, 5), None);
    }

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
