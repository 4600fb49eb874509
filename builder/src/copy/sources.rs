//! Resolving COPY/ADD local source paths in a source tree: cleaning (`..`
//! never climbs above the root; a leading `/` is the root), Go
//! `filepath.Match` wildcards per component, `**` for `--parents`, the
//! `./` pivot of `--parents`, and dereferencing each selected top-level
//! symlink inside the root.
//!
//! Excluded (`.dockerignore`) files are invisible here: they never match
//! and never resolve.

use crate::context::glob::{has_wildcards, Glob, GlobError};
use crate::context::{root_path, Context, ContextError};

/// Why a source cannot be resolved.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("file not found in build context or excluded by .dockerignore: stat {source_path}: file does not exist")]
    NotFound { source_path: String },
    #[error("source {source_path:?}: {err}")]
    Pattern { source_path: String, err: GlobError },
    #[error(transparent)]
    Context(#[from] ContextError),
}

/// One selected source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalItem {
    /// The path as selected, relative to the root (symlinks not followed).
    pub logical: String,
    /// The real path with the selected node's symlinks dereferenced.
    pub real: String,
    /// The name used when copying into a directory (the selected name, not
    /// a symlink's target name).
    pub name: String,
    /// With `--parents`: the path kept below the destination.
    pub parents_rel: Option<String>,
    /// With `--parents`: the logical pivot directory.
    pub pivot: String,
    /// Selected by a wildcard (its name enters the cache key).
    pub from_wildcard: bool,
}

enum Seg {
    Glob(Glob),
    /// `**` (only with `--parents`): any number of directories.
    Dirs,
}

/// The `--parents` pivot: the part of `source` before a `/./`, cleaned.
fn pivot_of(source: &str) -> String {
    let mut s = source.trim_start_matches('/');
    while let Some(rest) = s.strip_prefix("./") {
        s = rest.trim_start_matches('/');
    }
    match s.find("/./") {
        Some(i) => root_path::clean_rel(&s[..i]),
        None => String::new(),
    }
}

fn item(
    logical: String,
    real: String,
    parents: bool,
    pivot: &str,
    from_wildcard: bool,
) -> LocalItem {
    let name = root_path::split_parent(&logical).1.to_owned();
    let parents_rel = parents.then(|| {
        if pivot.is_empty() {
            logical.clone()
        } else if logical == pivot {
            String::new()
        } else {
            logical
                .strip_prefix(pivot)
                .and_then(|r| r.strip_prefix('/'))
                .unwrap_or(&logical)
                .to_owned()
        }
    });
    LocalItem {
        logical,
        real,
        name,
        parents_rel,
        pivot: pivot.to_owned(),
        from_wildcard,
    }
}

fn is_real_dir(tree: &Context, rel: &str) -> bool {
    std::fs::symlink_metadata(tree.abs(rel))
        .map(|m| m.is_dir())
        .unwrap_or(false)
}

/// Resolves one source path (not a URL, not a heredoc) in `tree`.
/// A wildcard that matches nothing selects nothing (BuildKit allows an
/// empty wildcard), but the directory before the first wildcard must exist.
pub fn resolve(tree: &Context, source: &str, parents: bool) -> Result<Vec<LocalItem>, SourceError> {
    let not_found = |p: &str| SourceError::NotFound {
        source_path: if p.is_empty() {
            "/".to_owned()
        } else {
            p.to_owned()
        },
    };
    let pivot = if parents {
        pivot_of(source)
    } else {
        String::new()
    };
    let cleaned = root_path::clean_rel(source);
    let comps: Vec<&str> = cleaned.split('/').filter(|c| !c.is_empty()).collect();
    let Some(first_wild) = comps.iter().position(|c| has_wildcards(c)) else {
        let real = tree
            .resolve(&cleaned, true)?
            .ok_or_else(|| not_found(&cleaned))?;
        return Ok(vec![item(cleaned, real, parents, &pivot, false)]);
    };
    let base_logical = comps.get(..first_wild).unwrap_or_default().join("/");
    let base_real = tree
        .resolve(&base_logical, true)?
        .ok_or_else(|| not_found(&base_logical))?;
    let mut segs = Vec::new();
    for c in comps.get(first_wild..).unwrap_or_default() {
        if parents && *c == "**" {
            segs.push(Seg::Dirs);
        } else {
            segs.push(Seg::Glob(Glob::filepath_match(c).map_err(|err| {
                SourceError::Pattern {
                    source_path: source.to_owned(),
                    err,
                }
            })?));
        }
    }
    // (logical, real-without-final-deref) pairs.
    let mut cur: Vec<(String, String)> = vec![(base_logical, base_real)];
    let n = segs.len();
    for (k, seg) in segs.iter().enumerate() {
        let last = k + 1 == n;
        let mut next = Vec::new();
        for (lg, rl) in &cur {
            if !is_real_dir(tree, rl) {
                continue;
            }
            match seg {
                Seg::Glob(g) => {
                    for e in tree.list(rl)? {
                        let name = root_path::split_parent(&e.rel).1;
                        if g.matches(name) && (last || e.meta.is_dir()) {
                            next.push((root_path::join_rel(lg, name), e.rel.clone()));
                        }
                    }
                }
                Seg::Dirs => {
                    if !last {
                        next.push((lg.clone(), rl.clone()));
                    }
                    for e in tree.walk(rl)? {
                        if last || e.meta.is_dir() {
                            let suffix = e
                                .rel
                                .strip_prefix(rl.as_str())
                                .map(|s| s.trim_start_matches('/'))
                                .unwrap_or(&e.rel);
                            next.push((root_path::join_rel(lg, suffix), e.rel.clone()));
                        }
                    }
                }
            }
        }
        cur = next;
    }
    cur.sort();
    cur.dedup();
    let mut out = Vec::new();
    for (lg, rl) in cur {
        let real = tree.resolve(&rl, true)?.ok_or_else(|| not_found(&lg))?;
        out.push(item(lg, real, parents, &pivot, true));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pivots() {
        assert_eq!(pivot_of("./x/./y/*.txt"), "x");
        assert_eq!(pivot_of("/src/./x/a.txt"), "src");
        assert_eq!(pivot_of("./x/a.txt"), "");
        assert_eq!(pivot_of("x/a.txt"), "");
        let i = item("x/y/a.txt".into(), "x/y/a.txt".into(), true, "x", true);
        assert_eq!(i.parents_rel.as_deref(), Some("y/a.txt"));
        assert_eq!(i.name, "a.txt");
    }
}
