//! Wildcard patterns compiled once and matched without backtracking: Go's
//! `filepath.Match` for one path component (COPY/ADD sources) and moby's
//! patternmatcher dialect for whole `/`-separated paths (`.dockerignore`,
//! `COPY --exclude`), where `**` spans directories.
//!
//! Matching simulates a small NFA over a bitset of states, so a pattern like
//! `*a*a*a*a*b` costs O(pattern × path), never exponential time. `*`, `?`
//! and `[...]` never match `/`. Nothing here touches the filesystem.

use std::fmt;

/// Why a pattern does not compile (mirrors Go's `filepath.ErrBadPattern`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobError {
    #[error("pattern {pattern:?}: unclosed character class `[`: close it with `]` or escape the `[` as `\\[`")]
    UnclosedClass { pattern: String },
    #[error("pattern {pattern:?}: empty character class `[]`: escape a literal bracket as `\\[` or `\\]`")]
    EmptyClass { pattern: String },
    #[error("pattern {pattern:?}: a character class holds a bare `-` or a range without an upper bound: escape it as `\\-`")]
    BadRange { pattern: String },
    #[error("pattern {pattern:?}: a trailing `\\` escapes nothing: remove it or write `\\\\`")]
    TrailingEscape { pattern: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// One literal character.
    Char(char),
    /// `*`: any run of characters other than `/`.
    Star,
    /// `?`: one character other than `/`.
    Any,
    /// `[...]` / `[^...]`: one character (never `/`) in (or not in) the ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// `**` followed by more pattern: `(.*/)?`, any number of whole directories.
    DirsOrNothing,
    /// `**` at the end: `.*`, anything including `/`.
    Rest,
}

/// How a compiled pattern is matched: a fast path when the pattern allows one.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fast {
    /// No wildcard: plain string equality.
    Exact(String),
    /// moby's "prefix" case: literal text then a final `**`.
    Prefix(String),
    /// moby's "suffix" case: a leading `**` then literal text.
    Suffix(String),
    /// General case: run the NFA.
    Nfa,
}

/// Which dialect to compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// Go `filepath.Match`: `**` is just two stars.
    FilepathMatch,
    /// moby patternmatcher: `**` spans directories.
    DockerIgnore,
}

/// A compiled wildcard pattern.
#[derive(Clone, PartialEq, Eq)]
pub struct Glob {
    source: String,
    tokens: Vec<Token>,
    fast: Fast,
    /// Components of the pattern when it has no `**` (a path must have the
    /// same number to match); `None` when `**` is present.
    components: Option<usize>,
    /// Literal text every match starts with (before the first wildcard).
    lit_prefix: String,
    /// Literal text every match ends with (after the last wildcard).
    lit_suffix: String,
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Glob({:?})", self.source)
    }
}

/// Whether `s` holds an unescaped `*`, `?` or `[` (Go's `containsWildcards`).
pub fn has_wildcards(s: &str) -> bool {
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// Removes `\` escapes from a wildcard-free pattern component, giving the
/// literal name it stands for.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
                continue;
            }
        }
        out.push(c);
    }
    out
}

impl Glob {
    /// Compiles a Go `filepath.Match` pattern (used per path component by
    /// COPY/ADD sources): `*`, `?`, `[a-z]`, `[^x]`, `\` escapes.
    pub fn filepath_match(pattern: &str) -> Result<Glob, GlobError> {
        Glob::compile(pattern, Dialect::FilepathMatch)
    }

    /// Compiles a `.dockerignore`-style pattern (already cleaned) matched
    /// against whole `/`-separated relative paths.
    pub fn dockerignore(pattern: &str) -> Result<Glob, GlobError> {
        Glob::compile(pattern, Dialect::DockerIgnore)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    fn compile(pattern: &str, dialect: Dialect) -> Result<Glob, GlobError> {
        let bad = || pattern.to_owned();
        let mut tokens = Vec::new();
        let chars: Vec<char> = pattern.chars().collect();
        let mut i = 0;
        // moby: "exact" until a wildcard, "prefix"/"suffix" special cases.
        let mut literal_only = true;
        let mut leading_double_star = false;
        let mut trailing_double_star = false;
        while let Some(&c) = chars.get(i) {
            i += 1;
            match c {
                '*' if dialect == Dialect::DockerIgnore && chars.get(i) == Some(&'*') => {
                    i += 1;
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                    }
                    let at_start = tokens.is_empty() && i <= 3;
                    if i >= chars.len() {
                        tokens.push(Token::Rest);
                        trailing_double_star = true;
                    } else {
                        tokens.push(Token::DirsOrNothing);
                    }
                    if at_start {
                        leading_double_star = true;
                    }
                }
                '*' => {
                    literal_only = false;
                    // Consecutive stars are one star (filepath.Match).
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                }
                '?' => {
                    literal_only = false;
                    tokens.push(Token::Any);
                }
                '\\' => match chars.get(i) {
                    Some(&n) => {
                        i += 1;
                        literal_only = false;
                        tokens.push(Token::Char(n));
                    }
                    None => return Err(GlobError::TrailingEscape { pattern: bad() }),
                },
                '[' => {
                    literal_only = false;
                    let (tok, next) = parse_class(&chars, i).map_err(|e| e.with(bad()))?;
                    tokens.push(tok);
                    i = next;
                }
                c => tokens.push(Token::Char(c)),
            }
        }
        let has_double_star = tokens
            .iter()
            .any(|t| matches!(t, Token::DirsOrNothing | Token::Rest));
        let literal_text = |ts: &[Token]| -> Option<String> {
            ts.iter()
                .map(|t| match t {
                    Token::Char(c) => Some(*c),
                    _ => None,
                })
                .collect()
        };
        let fast = if !has_double_star && literal_only {
            Fast::Exact(pattern.to_owned())
        } else if literal_only && trailing_double_star && !leading_double_star {
            // `lit**`: moby checks HasPrefix(path, lit).
            match tokens.split_last() {
                Some((Token::Rest, head)) => match literal_text(head) {
                    Some(p) => Fast::Prefix(p),
                    None => Fast::Nfa,
                },
                _ => Fast::Nfa,
            }
        } else if leading_double_star && literal_only {
            // `**` then literal text (or nothing): moby's suffix match on the
            // pattern text after the two stars, slash included.
            let rest: String = pattern.chars().skip(2).collect();
            if tokens.len() == 1 && tokens.first() == Some(&Token::Rest) {
                Fast::Suffix(String::new())
            } else if literal_text(tokens.get(1..).unwrap_or(&[])).is_some()
                && tokens.first() == Some(&Token::DirsOrNothing)
            {
                Fast::Suffix(rest)
            } else {
                Fast::Nfa
            }
        } else {
            Fast::Nfa
        };
        let components = if has_double_star {
            None
        } else {
            Some(1 + tokens.iter().filter(|t| **t == Token::Char('/')).count())
        };
        let lit_prefix: String = tokens
            .iter()
            .map_while(|t| match t {
                Token::Char(c) => Some(*c),
                _ => None,
            })
            .collect();
        let mut lit_suffix: Vec<char> = tokens
            .iter()
            .rev()
            .map_while(|t| match t {
                Token::Char(c) => Some(*c),
                _ => None,
            })
            .collect();
        lit_suffix.reverse();
        Ok(Glob {
            source: pattern.to_owned(),
            tokens,
            fast,
            components,
            lit_prefix,
            lit_suffix: lit_suffix.into_iter().collect(),
        })
    }

    /// Whether `text` matches the whole pattern.
    pub fn matches(&self, text: &str) -> bool {
        match &self.fast {
            Fast::Exact(s) => text == s,
            Fast::Prefix(p) => text.starts_with(p.as_str()),
            Fast::Suffix(s) => {
                text.ends_with(s.as_str()) || s.strip_prefix('/').is_some_and(|bare| text == bare)
            }
            Fast::Nfa => {
                // Cheap rejections before running the automaton.
                if (!self.lit_prefix.is_empty() && !text.starts_with(self.lit_prefix.as_str()))
                    || (!self.lit_suffix.is_empty() && !text.ends_with(self.lit_suffix.as_str()))
                {
                    return false;
                }
                if let Some(n) = self.components {
                    if n != 1 + text.bytes().filter(|b| *b == b'/').count() {
                        return false;
                    }
                }
                self.run(text, false)
            }
        }
    }

    /// Whether some path *below* `dir` (i.e. `dir/…`) could match. Used to
    /// decide whether an excluded directory may hold re-included files.
    /// Errs on the side of `true`.
    pub fn could_match_below(&self, dir: &str) -> bool {
        match &self.fast {
            Fast::Exact(s) => s
                .strip_prefix(dir)
                .and_then(|r| r.strip_prefix('/'))
                .is_some_and(|r| !r.is_empty()),
            Fast::Prefix(p) => {
                let d = format!("{dir}/");
                d.starts_with(p.as_str()) || p.starts_with(d.as_str())
            }
            Fast::Suffix(_) => true,
            Fast::Nfa => {
                let d = format!("{dir}/");
                let n = d.len().min(self.lit_prefix.len());
                if d.as_bytes().get(..n) != self.lit_prefix.as_bytes().get(..n) {
                    return false;
                }
                let mut t = String::with_capacity(dir.len() + 1);
                t.push_str(dir);
                t.push('/');
                self.run(&t, true)
            }
        }
    }

    /// NFA simulation. With `prefix`, accept when the text is exhausted in
    /// any live state (some continuation might match).
    fn run(&self, text: &str, prefix: bool) -> bool {
        let n = self.tokens.len();
        // States 0..=n are "before token k"; n+1+k is "inside `**/`" of token k.
        let mut cur = States::new(2 * n + 2);
        let mut next = States::new(2 * n + 2);
        cur.set(0);
        self.close(&mut cur);
        for c in text.chars() {
            next.clear();
            for k in cur.iter() {
                if k < n {
                    match self.tokens.get(k) {
                        Some(Token::Char(p)) if *p == c => next.set(k + 1),
                        Some(Token::Star) if c != '/' => next.set(k),
                        Some(Token::Any) if c != '/' => next.set(k + 1),
                        Some(Token::Class { negated, ranges }) if c != '/' => {
                            let inside = ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi);
                            if inside != *negated {
                                next.set(k + 1);
                            }
                        }
                        Some(Token::Rest) => next.set(k),
                        _ => {}
                    }
                } else if k > n {
                    // Inside `(.*/)?` of token k-n-1: any char stays; `/` may end it.
                    next.set(k);
                    if c == '/' {
                        next.set(k - n);
                    }
                }
            }
            if next.is_empty() {
                return false;
            }
            self.close(&mut next);
            std::mem::swap(&mut cur, &mut next);
        }
        if prefix {
            return !cur.is_empty();
        }
        cur.get(n)
    }

    /// Epsilon closure: stars and `**` may match nothing. Edges only go
    /// forward, so one ascending pass suffices.
    fn close(&self, s: &mut States) {
        let n = self.tokens.len();
        for k in 0..n {
            if !s.get(k) {
                continue;
            }
            match self.tokens.get(k) {
                Some(Token::Star) | Some(Token::Rest) => s.set(k + 1),
                Some(Token::DirsOrNothing) => {
                    s.set(k + 1);
                    s.set(n + 1 + k);
                }
                _ => {}
            }
        }
    }
}

#[derive(Debug)]
struct ClassError(fn(String) -> GlobError);

impl ClassError {
    fn with(self, pattern: String) -> GlobError {
        (self.0)(pattern)
    }
}

/// Parses a class body starting after `[`; returns the token and the index
/// after the closing `]`.
fn parse_class(chars: &[char], mut i: usize) -> Result<(Token, usize), ClassError> {
    let unclosed = ClassError(|pattern| GlobError::UnclosedClass { pattern });
    let mut negated = false;
    if chars.get(i) == Some(&'^') {
        negated = true;
        i += 1;
    }
    let mut ranges = Vec::new();
    let read = |i: &mut usize| -> Result<char, ClassError> {
        match chars.get(*i) {
            Some('\\') => {
                *i += 1;
                let c = chars
                    .get(*i)
                    .copied()
                    .ok_or(ClassError(|pattern| GlobError::UnclosedClass { pattern }))?;
                *i += 1;
                Ok(c)
            }
            // Go: an unescaped `-` cannot be a range bound.
            Some('-') => Err(ClassError(|pattern| GlobError::BadRange { pattern })),
            Some(&c) => {
                *i += 1;
                Ok(c)
            }
            None => Err(ClassError(|pattern| GlobError::UnclosedClass { pattern })),
        }
    };
    loop {
        match chars.get(i) {
            None => return Err(unclosed),
            Some(']') if !ranges.is_empty() => {
                return Ok((Token::Class { negated, ranges }, i + 1))
            }
            Some(']') => return Err(ClassError(|pattern| GlobError::EmptyClass { pattern })),
            _ => {}
        }
        let lo = read(&mut i)?;
        let mut hi = lo;
        if chars.get(i) == Some(&'-') {
            i += 1;
            match chars.get(i) {
                None => return Err(unclosed),
                Some(']') => return Err(ClassError(|pattern| GlobError::BadRange { pattern })),
                _ => hi = read(&mut i)?,
            }
        }
        ranges.push((lo, hi));
    }
}

/// A bitset of NFA states (on the stack for up to 256 states).
struct States {
    small: [u64; 4],
    large: Vec<u64>,
    words: usize,
}

impl States {
    fn new(n: usize) -> States {
        let words = n.div_ceil(64);
        States {
            small: [0; 4],
            large: if words > 4 {
                vec![0; words]
            } else {
                Vec::new()
            },
            words,
        }
    }
    fn slice(&self) -> &[u64] {
        if self.words > 4 {
            &self.large
        } else {
            self.small.get(..self.words).unwrap_or_default()
        }
    }
    fn slice_mut(&mut self) -> &mut [u64] {
        if self.words > 4 {
            &mut self.large
        } else {
            self.small.get_mut(..self.words).unwrap_or_default()
        }
    }
    fn set(&mut self, k: usize) {
        if let Some(w) = self.slice_mut().get_mut(k / 64) {
            *w |= 1 << (k % 64);
        }
    }
    fn get(&self, k: usize) -> bool {
        self.slice()
            .get(k / 64)
            .is_some_and(|w| w & (1 << (k % 64)) != 0)
    }
    fn clear(&mut self) {
        self.slice_mut().iter_mut().for_each(|w| *w = 0);
    }
    fn is_empty(&self) -> bool {
        self.slice().iter().all(|w| *w == 0)
    }
    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.slice().iter().enumerate().flat_map(|(wi, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(wi * 64 + b)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fm(p: &str, s: &str) -> bool {
        Glob::filepath_match(p).unwrap().matches(s)
    }
    fn di(p: &str, s: &str) -> bool {
        Glob::dockerignore(p).unwrap().matches(s)
    }

    #[test]
    fn go_filepath_match_table() {
        // Cases from Go's path/filepath match tests (documented behaviour).
        let cases: &[(&str, &str, bool)] = &[
            ("abc", "abc", true),
            ("*", "abc", true),
            ("*c", "abc", true),
            ("a*", "a", true),
            ("a*", "abc", true),
            ("a*", "ab/c", false),
            ("a*/b", "abc/b", true),
            ("a*/b", "a/c/b", false),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false),
            ("a*b?c*x", "abxbbxdbxebxczzx", true),
            ("a*b?c*x", "abxbbxdbxebxczzy", false),
            ("ab[c]", "abc", true),
            ("ab[b-d]", "abc", true),
            ("ab[e-g]", "abc", false),
            ("ab[^c]", "abc", false),
            ("ab[^b-d]", "abc", false),
            ("ab[^e-g]", "abc", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "ab", false),
            ("a?b", "a☺b", true),
            ("a[^a]b", "a☺b", true),
            ("a???b", "a☺b", false),
            ("a[^a][^a][^a]b", "a☺b", false),
            ("[a-ζ]*", "α", true),
            ("*[a-ζ]", "A", false),
            ("a?b", "a/b", false),
            ("a*b", "a/b", false),
            ("[\\]a]", "]", true),
            ("[\\-]", "-", true),
            ("[x\\-]", "x", true),
            ("[x\\-]", "-", true),
            ("[x\\-]", "z", false),
            ("[\\-x]", "x", true),
            ("*x", "xxx", true),
            ("**", "abc", true),
        ];
        for (p, s, want) in cases {
            assert_eq!(fm(p, s), *want, "filepath.Match({p:?}, {s:?})");
        }
        for bad in ["[]a]", "[-]", "[x-]", "[", "[^", "[^bc", "a[", "\\", "[a-"] {
            assert!(
                Glob::filepath_match(bad).is_err(),
                "{bad:?} must be a bad pattern"
            );
        }
    }

    #[test]
    fn dockerignore_double_star() {
        assert!(di("**", "a/b/c"));
        assert!(di("**/foo", "foo"));
        assert!(di("**/foo", "a/b/foo"));
        assert!(!di("**/foo", "a/bfoo/x"));
        assert!(di("a/**/b", "a/b"));
        assert!(di("a/**/b", "a/x/y/b"));
        assert!(!di("a/**/b", "a/xb"));
        assert!(di("a/**", "a/x/y"));
        assert!(!di("a/**", "a"));
        assert!(di("**/*.go", "x/y/z.go"));
        assert!(di("**/*.go", "z.go"));
        assert!(!di("**/*.go", "z.gox"));
        assert!(di("*/b", "a/b"));
        assert!(!di("*/b", "a/c/b"));
        assert!(di("a/*.go", "a/x.go"));
        assert!(!di("a/*.go", "a/b/x.go"));
        assert!(di("dir/**/*.txt", "dir/a/b/c.txt"));
        assert!(di("dir/**/*.txt", "dir/c.txt"));
        // moby's suffix quirk: `**foo` is a plain suffix test.
        assert!(di("**foo", "barfoo"));
        assert!(di("abc**", "abcdef/x"));
    }

    #[test]
    fn below_checks() {
        let g = Glob::dockerignore("a/b/keep").unwrap();
        assert!(g.could_match_below("a"));
        assert!(g.could_match_below("a/b"));
        assert!(!g.could_match_below("a/b/keep"));
        assert!(!g.could_match_below("c"));
        let g = Glob::dockerignore("*/keep*").unwrap();
        assert!(g.could_match_below("x"));
        assert!(!g.could_match_below("x/y"));
        let g = Glob::dockerignore("**/keep").unwrap();
        assert!(g.could_match_below("x/y/z"));
    }

    #[test]
    fn no_blowup() {
        let p = "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
        let s = "a".repeat(5000);
        assert!(!fm(p, &s));
        assert!(!di(&format!("**/{p}"), &format!("x/{s}")));
    }
}
