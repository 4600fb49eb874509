//! ADD from a git repository (`https://…/repo.git#ref:subdir`,
//! `git@host:repo.git`, `git://…`, `ssh://…`): a shallow clone with the
//! `git` binary into the scratch directory, the resolved commit (checked
//! against `--checksum`, a commit prefix), `.git` dropped unless
//! `--keep-git-dir`.
//!
//! It never prompts for credentials (`GIT_TERMINAL_PROMPT=0`) and never
//! runs inside the context.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::context::root_path;
use crate::digest::Digest;

/// Why a git source fails.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("ADD from git requires git to be installed: install git, or ADD an archive URL of the repository instead")]
    Missing,
    #[error("ADD {url}: git {step} failed: {stderr}: check the URL, the ref and your access to the repository")]
    Command {
        url: String,
        step: String,
        stderr: String,
    },
    #[error("ADD {url}: cannot prepare the checkout in {path}: {source}")]
    Scratch {
        url: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("ADD {url}: checksum mismatch: --checksum wants a commit starting with {expected} but {reference} is {actual}")]
    Mismatch {
        url: String,
        reference: String,
        expected: String,
        actual: String,
    },
    #[error("ADD {url}: subdirectory {subdir:?} is not a directory of the repository")]
    NoSubdir { url: String, subdir: String },
}

/// A parsed git source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRef {
    /// The remote, without the fragment.
    pub remote: String,
    /// Branch, tag or commit from `#ref`.
    pub reference: Option<String>,
    /// Subdirectory from `#ref:subdir`.
    pub subdir: String,
}

/// A checked-out repository.
#[derive(Debug, Clone)]
pub struct Checkout {
    /// The directory to copy (the subdirectory when one was asked for).
    pub dir: PathBuf,
    pub commit: String,
    /// Commit time, seconds since the epoch (used as the files' mtime).
    pub commit_time: i64,
}

/// Recognises a git source: `git@…`, `git://…`, `ssh://…`, or an http(s)
/// or file URL whose path ends in `.git`.
pub fn parse(s: &str) -> Option<GitRef> {
    let (remote, fragment) = match s.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (s, None),
    };
    let lower = remote.to_ascii_lowercase();
    let is_git = lower.starts_with("git@")
        || lower.starts_with("git://")
        || lower.starts_with("ssh://")
        || ((lower.starts_with("http://")
            || lower.starts_with("https://")
            || lower.starts_with("file://"))
            && lower
                .split('?')
                .next()
                .unwrap_or_default()
                .trim_end_matches('/')
                .ends_with(".git"));
    if !is_git {
        return None;
    }
    let (reference, subdir) = match fragment {
        Some(f) => match f.split_once(':') {
            Some((r, d)) => (r, d),
            None => (f, ""),
        },
        None => ("", ""),
    };
    Some(GitRef {
        remote: remote.to_owned(),
        reference: (!reference.is_empty()).then(|| reference.to_owned()),
        subdir: root_path::clean_rel(subdir),
    })
}

fn git(url: &str, step: &str, args: &[&str], dir: Option<&Path>) -> Result<String, GitError> {
    let mut c = Command::new("git");
    if let Some(d) = dir {
        c.arg("-C").arg(d);
    }
    let out = c
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                GitError::Missing
            } else {
                GitError::Command {
                    url: url.to_owned(),
                    step: step.to_owned(),
                    stderr: e.to_string(),
                }
            }
        })?;
    if !out.status.success() {
        return Err(GitError::Command {
            url: url.to_owned(),
            step: step.to_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Whether the `git` binary runs.
pub fn available() -> bool {
    Command::new("git")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Clones `r` into `scratch` (reusing an earlier clone of the same source
/// there) and checks `checksum` (a commit prefix).
pub fn fetch(
    r: &GitRef,
    scratch: &Path,
    keep_git_dir: bool,
    checksum: Option<&str>,
) -> Result<Checkout, GitError> {
    if !available() {
        return Err(GitError::Missing);
    }
    let url = r.remote.as_str();
    let key = Digest::of(
        format!(
            "{}#{}:{}",
            r.remote,
            r.reference.as_deref().unwrap_or(""),
            keep_git_dir
        )
        .as_bytes(),
    );
    let dir = scratch.join(format!("git-{}", key.short()));
    let marker = scratch.join(format!("git-{}.commit", key.short()));
    let (commit, commit_time) = match std::fs::read_to_string(&marker)
        .ok()
        .and_then(|s| {
            let (c, t) = s.trim().split_once(' ')?;
            Some((c.to_owned(), t.parse().ok()?))
        })
        .filter(|_| dir.is_dir())
    {
        Some(c) => c,
        None => {
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|source| GitError::Scratch {
                    url: url.to_owned(),
                    path: dir.clone(),
                    source,
                })?;
            }
            let dir_s = dir.to_string_lossy().into_owned();
            let shallow = match &r.reference {
                None => git(
                    url,
                    "clone",
                    &["clone", "--quiet", "--depth", "1", url, &dir_s],
                    None,
                ),
                Some(b) => git(
                    url,
                    "clone",
                    &[
                        "clone", "--quiet", "--depth", "1", "--branch", b, url, &dir_s,
                    ],
                    None,
                ),
            };
            if let Err(e) = shallow {
                // A commit id cannot be a --branch: clone fully and check it out.
                let Some(reference) = &r.reference else {
                    return Err(e);
                };
                if dir.exists() {
                    let _ = std::fs::remove_dir_all(&dir);
                }
                git(
                    url,
                    "clone",
                    &["clone", "--quiet", "--no-checkout", url, &dir_s],
                    None,
                )?;
                git(
                    url,
                    "checkout",
                    &["checkout", "--quiet", "--detach", reference],
                    Some(&dir),
                )?;
            }
            let commit = git(url, "rev-parse", &["rev-parse", "HEAD"], Some(&dir))?;
            let time: i64 = git(
                url,
                "log",
                &["log", "-1", "--format=%ct", "HEAD"],
                Some(&dir),
            )?
            .parse()
            .unwrap_or(0);
            if !keep_git_dir {
                let g = dir.join(".git");
                std::fs::remove_dir_all(&g).map_err(|source| GitError::Scratch {
                    url: url.to_owned(),
                    path: g.clone(),
                    source,
                })?;
            }
            std::fs::write(&marker, format!("{commit} {time}")).map_err(|source| {
                GitError::Scratch {
                    url: url.to_owned(),
                    path: marker.clone(),
                    source,
                }
            })?;
            (commit, time)
        }
    };
    if let Some(want) = checksum {
        if want.is_empty() || !commit.starts_with(want) {
            return Err(GitError::Mismatch {
                url: url.to_owned(),
                reference: r.reference.clone().unwrap_or_else(|| "HEAD".to_owned()),
                expected: want.to_owned(),
                actual: commit,
            });
        }
    }
    let sub = if r.subdir.is_empty() {
        dir.clone()
    } else {
        let real = root_path::resolve(&dir, &r.subdir, true).unwrap_or_default();
        let p = root_path::join(&dir, &real);
        if real.is_empty() || !p.is_dir() {
            return Err(GitError::NoSubdir {
                url: url.to_owned(),
                subdir: r.subdir.clone(),
            });
        }
        p
    };
    Ok(Checkout {
        dir: sub,
        commit,
        commit_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_git_sources() {
        let r = parse("git@github.com:moby/buildkit.git#v0.14.1:docs").unwrap();
        assert_eq!(r.remote, "git@github.com:moby/buildkit.git");
        assert_eq!(r.reference.as_deref(), Some("v0.14.1"));
        assert_eq!(r.subdir, "docs");
        assert!(parse("https://github.com/moby/buildkit.git").is_some());
        assert!(parse("https://example.com/file.tar.gz").is_none());
        assert!(parse("file:///tmp/x/repo.git#main").is_some());
        assert!(parse("src/app.git").is_none());
    }
}
