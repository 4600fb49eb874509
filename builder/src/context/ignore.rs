//! `.dockerignore` files and the ordered include/exclude pattern lists they
//! hold (also used by `COPY --exclude`), with moby patternmatcher semantics:
//! a pattern excludes a path when it matches the path or one of its parents;
//! the last matching pattern wins; `!` re-includes.
//!
//! Patterns are compiled once. A walk carries each directory's per-pattern
//! results down to its children ([`MatchState`]), so a path costs one
//! match per pattern instead of one per pattern and parent. This module
//! never reads a directory; it only judges paths.

use super::glob::{Glob, GlobError};
use super::root_path;

/// A bad line in an ignore file or an `--exclude` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IgnoreError {
    #[error("{source_name}:{line}: illegal exclusion pattern \"!\": write the path to re-include after the `!`")]
    BareBang { source_name: String, line: usize },
    #[error("{source_name}:{line}: {err}")]
    Pattern {
        source_name: String,
        line: usize,
        err: GlobError,
    },
}

/// One compiled pattern.
#[derive(Debug, Clone)]
pub struct IgnorePattern {
    glob: Glob,
    /// `!pattern`: re-includes what it matches.
    pub exclusion: bool,
}

impl IgnorePattern {
    /// The cleaned pattern text (without `!`).
    pub fn as_str(&self) -> &str {
        self.glob.as_str()
    }
}

/// Per-pattern "matches this path or one of its parents", for one path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchState {
    hits: Vec<bool>,
}

/// What the patterns say about one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// The path is excluded.
    pub excluded: bool,
    /// The index of the last pattern that matched the path or a parent.
    pub last: Option<usize>,
}

/// An ordered list of patterns.
#[derive(Debug, Clone, Default)]
pub struct IgnoreMatcher {
    patterns: Vec<IgnorePattern>,
    has_exclusions: bool,
}

/// Reads `.dockerignore` text into pattern lines (BuildKit's `ReadAll`): a
/// UTF-8 BOM stripped, `#` lines skipped, lines trimmed, empty lines
/// skipped, each pattern cleaned and a leading `/` removed, `!` kept.
/// Returns `(line number, pattern)` pairs.
pub fn read_ignore_file(text: &str) -> Vec<(usize, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if raw.starts_with('#') {
            continue;
        }
        let mut p = raw.trim();
        if p.is_empty() {
            continue;
        }
        let invert = p.starts_with('!');
        if invert {
            p = p[1..].trim();
        }
        let mut pattern = String::new();
        if !p.is_empty() {
            let c = root_path::clean(p);
            pattern = match c.strip_prefix('/') {
                Some(rest) if !rest.is_empty() => rest.to_owned(),
                _ => c,
            };
        }
        if invert {
            pattern.insert(0, '!');
        }
        out.push((i + 1, pattern));
    }
    out
}

impl IgnoreMatcher {
    /// Parses an ignore file's text; `source_name` names it in errors.
    pub fn from_ignore_file(text: &str, source_name: &str) -> Result<IgnoreMatcher, IgnoreError> {
        IgnoreMatcher::new(read_ignore_file(text), source_name)
    }

    /// Compiles patterns given as `(line, pattern)` (moby's `New`): each is
    /// trimmed and cleaned; `!` marks an exclusion; a bare `!` is an error.
    pub fn new<I, S>(patterns: I, source_name: &str) -> Result<IgnoreMatcher, IgnoreError>
    where
        I: IntoIterator<Item = (usize, S)>,
        S: AsRef<str>,
    {
        let mut m = IgnoreMatcher::default();
        for (line, p) in patterns {
            let p = p.as_ref().trim();
            if p.is_empty() {
                continue;
            }
            let mut p = root_path::clean(p);
            let exclusion = p.starts_with('!');
            if exclusion {
                if p.len() == 1 {
                    return Err(IgnoreError::BareBang {
                        source_name: source_name.to_owned(),
                        line,
                    });
                }
                p.remove(0);
                m.has_exclusions = true;
            }
            let glob = Glob::dockerignore(&p).map_err(|err| IgnoreError::Pattern {
                source_name: source_name.to_owned(),
                line,
                err,
            })?;
            m.patterns.push(IgnorePattern { glob, exclusion });
        }
        Ok(m)
    }

    /// Compiles `COPY --exclude` values (dockerignore syntax).
    pub fn from_patterns(patterns: &[String], what: &str) -> Result<IgnoreMatcher, IgnoreError> {
        IgnoreMatcher::new(patterns.iter().enumerate().map(|(i, p)| (i + 1, p)), what)
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    pub fn patterns(&self) -> &[IgnorePattern] {
        &self.patterns
    }

    /// Whether any pattern starts with `!`.
    pub fn has_exclusions(&self) -> bool {
        self.has_exclusions
    }

    /// The state of the root (nothing matched yet).
    pub fn root_state(&self) -> MatchState {
        MatchState {
            hits: vec![false; self.patterns.len()],
        }
    }

    /// The state of `rel` (a child of the path whose state is `parent`).
    pub fn child_state(&self, parent: &MatchState, rel: &str) -> MatchState {
        let hits = self
            .patterns
            .iter()
            .enumerate()
            .map(|(i, p)| parent.hits.get(i).copied().unwrap_or(false) || p.glob.matches(rel))
            .collect();
        MatchState { hits }
    }

    /// The state of `rel`, computed from the root down through its parents.
    pub fn state_of(&self, rel: &str) -> MatchState {
        let mut state = self.root_state();
        if rel.is_empty() || self.patterns.is_empty() {
            return state;
        }
        let mut end = 0;
        loop {
            let next = rel[end..].find('/').map(|i| end + i);
            let prefix = match next {
                Some(i) => &rel[..i],
                None => rel,
            };
            state = self.child_state(&state, prefix);
            match next {
                Some(i) => end = i + 1,
                None => break,
            }
        }
        state
    }

    /// The verdict for a path with this state: the last matching pattern
    /// decides.
    pub fn verdict(&self, state: &MatchState) -> Verdict {
        let last = state.hits.iter().rposition(|h| *h);
        let excluded = last
            .and_then(|i| self.patterns.get(i))
            .is_some_and(|p| !p.exclusion);
        Verdict { excluded, last }
    }

    /// Whether `rel` is excluded (moby's `MatchesOrParentMatches`).
    pub fn is_excluded(&self, rel: &str) -> bool {
        if self.patterns.is_empty() || rel.is_empty() {
            return false;
        }
        self.verdict(&self.state_of(rel)).excluded
    }

    /// For an excluded directory `rel` with verdict `v`: whether a later
    /// `!` pattern could re-include something below it. When false the walk
    /// can skip the directory entirely.
    pub fn may_reinclude_below(&self, rel: &str, v: Verdict) -> bool {
        if !self.has_exclusions {
            return false;
        }
        let from = v.last.map_or(0, |i| i + 1);
        self.patterns
            .iter()
            .skip(from)
            .any(|p| p.exclusion && p.glob.could_match_below(rel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(lines: &[&str]) -> IgnoreMatcher {
        IgnoreMatcher::new(lines.iter().enumerate().map(|(i, l)| (i + 1, *l)), "test").unwrap()
    }

    #[test]
    fn read_file_rules() {
        let text = "\u{feff}# comment\n  foo/bar/  \n\n/abs\n!  ./keep//x\n #notcomment\n!\n/\n";
        let got: Vec<String> = read_ignore_file(text).into_iter().map(|(_, p)| p).collect();
        assert_eq!(got, ["foo/bar", "abs", "!keep/x", "#notcomment", "!", "/"]);
        assert!(matches!(
            IgnoreMatcher::from_ignore_file("a\n!\n", ".dockerignore"),
            Err(IgnoreError::BareBang { line: 2, .. })
        ));
        let e = IgnoreMatcher::from_ignore_file("ok\nbad[\n", ".dockerignore").unwrap_err();
        assert!(e.to_string().contains(".dockerignore:2"), "{e}");
    }

    #[test]
    fn parent_and_last_match() {
        let x = m(&["docs", "!docs/keep.md", "*.log", "!important.log", "temp?"]);
        assert!(x.is_excluded("docs"));
        assert!(x.is_excluded("docs/a/b.md"));
        assert!(!x.is_excluded("docs/keep.md"));
        assert!(x.is_excluded("a.log"));
        assert!(!x.is_excluded("important.log"));
        assert!(!x.is_excluded("sub/a.log"));
        assert!(x.is_excluded("temp1"));
        assert!(x.is_excluded("temp1/x"));
        assert!(!x.is_excluded("temp12"));
        let v = x.verdict(&x.state_of("docs"));
        assert!(x.may_reinclude_below("docs", v));
        let y = m(&["node_modules", "!src"]);
        let v = y.verdict(&y.state_of("node_modules"));
        assert!(v.excluded);
        assert!(!y.may_reinclude_below("node_modules", v));
    }
}
