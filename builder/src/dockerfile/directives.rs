//! Parser directives: `# syntax=…`, `# escape=…` and `# check=…`.
//!
//! They count only at the very top of the file. Scanning stops at the first
//! line that is not a directive: a blank line, an instruction, a plain comment
//! or an unknown directive. Each directive may appear once; keys are
//! case-insensitive; there is no line continuation.

use super::ast::Directives;
use super::error::ErrorKind;

/// Directive scanning state while the parser walks the first lines.
pub(crate) struct DirectiveScanner {
    pub directives: Directives,
    done: bool,
    seen: Vec<&'static str>,
}

impl DirectiveScanner {
    pub fn new() -> Self {
        DirectiveScanner {
            directives: Directives::default(),
            done: false,
            seen: Vec::new(),
        }
    }

    /// Looks at one physical line (newline and leading whitespace already
    /// trimmed). Returns the directive's key when the line was one.
    pub fn scan(&mut self, line: &str) -> Result<Option<&'static str>, ErrorKind> {
        if self.done {
            return Ok(None);
        }
        let Some((key, value)) = split_directive(line) else {
            self.done = true;
            return Ok(None);
        };
        let key: &'static str = match key.to_ascii_lowercase().as_str() {
            "syntax" => "syntax",
            "escape" => "escape",
            "check" => "check",
            _ => {
                self.done = true;
                return Ok(None);
            }
        };
        if self.seen.contains(&key) {
            return Err(ErrorKind::DuplicateDirective { name: key.into() });
        }
        self.seen.push(key);
        match key {
            "escape" => {
                self.directives.escape = match value {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(ErrorKind::InvalidEscapeDirective {
                            value: value.into(),
                        })
                    }
                }
            }
            "syntax" => self.directives.syntax = Some(value.into()),
            _ => self.directives.check = Some(value.into()),
        }
        Ok(Some(key))
    }
}

/// Matches `#\s*key\s*=\s*value\s*` where key is `[A-Za-z][A-Za-z0-9]*` and
/// value is non-empty; returns key and trimmed value.
fn split_directive(line: &str) -> Option<(&str, &str)> {
    // `\s` in BuildKit's pattern is ASCII whitespace without \v.
    const WS: [char; 5] = [' ', '\t', '\n', '\x0c', '\r'];
    let rest = line.strip_prefix('#')?.trim_start_matches(WS);
    let key_len = rest
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map_or(rest.len(), |(i, _)| i);
    if key_len == 0 {
        return None;
    }
    let (key, after) = rest.split_at(key_len);
    let value = after
        .trim_start_matches(WS)
        .strip_prefix('=')?
        .trim_matches(WS);
    if value.is_empty() {
        return None;
    }
    Some((key, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_directives() {
        assert_eq!(split_directive("# escape=`"), Some(("escape", "`")));
        assert_eq!(split_directive("#escape = ` \t"), Some(("escape", "`")));
        assert_eq!(
            split_directive("# syntax=docker/dockerfile:1"),
            Some(("syntax", "docker/dockerfile:1"))
        );
        assert_eq!(split_directive("# a comment"), None);
        assert_eq!(split_directive("# key="), None);
        assert_eq!(split_directive("# 1a=b"), None);
    }

    #[test]
    fn stops_at_first_non_directive() {
        let mut s = DirectiveScanner::new();
        assert_eq!(s.scan("# syntax=x").unwrap(), Some("syntax"));
        assert_eq!(s.scan("# hello").unwrap(), None);
        assert_eq!(s.scan("# escape=`").unwrap(), None);
        assert_eq!(s.directives.escape, '\\');
    }

    #[test]
    fn duplicate_and_invalid() {
        let mut s = DirectiveScanner::new();
        s.scan("# escape=`").unwrap();
        assert!(s.scan("# ESCAPE=`").is_err());
        let mut s = DirectiveScanner::new();
        assert!(s.scan("# escape=x").is_err());
    }
}
