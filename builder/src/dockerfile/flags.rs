//! Builder flags: splitting the leading `--name=value` words off an
//! instruction's line, and checking them against the flags each instruction
//! accepts.
//!
//! Extraction follows BuildKit: flags are the leading words that start with
//! `--`; quotes and `\` work inside them; a bare `--` ends the flags. The
//! escape character here is always `\`, whatever `# escape=` says.
//! An unknown flag is an error with a "did you mean" hint, never ignored.

use std::collections::BTreeMap;

use super::error::{closest, ErrorKind};
use super::parser::NodeError;

/// Whitespace as BuildKit's byte-wise flag scanner sees it.
pub(crate) fn is_go_ascii_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// Splits leading flags off `line`. Returns the rest (starting at the first
/// non-flag word) and the flags with quotes and escapes removed.
pub(crate) fn extract_builder_flags(line: &str) -> (&str, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut flags = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut i = 0;
    loop {
        let at_end = i >= chars.len();
        let (byte_pos, ch) = chars.get(i).copied().unwrap_or((line.len(), '\0'));
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if is_go_ascii_space(ch) {
                i += 1;
                continue;
            }
            let next = chars.get(i + 1).map(|&(_, c)| c);
            if ch != '-' || next != Some('-') {
                return (&line[byte_pos..], flags);
            }
            phase = Phase::Word;
        }
        if at_end {
            if word != "--" && (blank_ok || !word.is_empty()) {
                flags.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if is_go_ascii_space(ch) {
                phase = Phase::Spaces;
                if word == "--" {
                    return (&line[byte_pos..], flags);
                }
                if blank_ok || !word.is_empty() {
                    flags.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                i += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                i += 1;
                continue;
            }
        } else if ch == quote {
            phase = Phase::Word;
            i += 1;
            continue;
        }
        // In a word or inside quotes: `\` takes the next character
        // literally; a trailing `\` is dropped (and closes an open quote).
        if ch == '\\' {
            i += 1;
            match chars.get(i) {
                Some(&(_, next)) => word.push(next),
                None => {
                    phase = Phase::Word;
                    continue;
                }
            }
        } else {
            word.push(ch);
        }
        i += 1;
    }
    ("", flags)
}

/// How a flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagKind {
    /// `--link`, `--link=true`, `--link=false`.
    Bool,
    /// `--from=x`, once.
    String,
    /// `--mount=x`, repeatable.
    Strings,
}

/// Flags after checking: values by flag name.
#[derive(Debug, Default)]
pub(crate) struct ParsedFlags {
    strings: BTreeMap<&'static str, Vec<String>>,
}

impl ParsedFlags {
    /// The value of a string flag.
    pub fn string(&self, name: &str) -> Option<String> {
        self.strings.get(name).and_then(|v| v.last().cloned())
    }
    /// All values of a repeatable flag.
    pub fn strings(&self, name: &str) -> Vec<String> {
        self.strings.get(name).cloned().unwrap_or_default()
    }
    /// A boolean flag: `None` when absent.
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.string(name).map(|v| v == "true")
    }
}

/// Checks raw flags against `defs`; an error names the raw flag at fault.
pub(crate) fn parse_flags(
    instruction: &str,
    raw: &[String],
    defs: &[(&'static str, FlagKind)],
) -> Result<ParsedFlags, NodeError> {
    let mut parsed = ParsedFlags::default();
    for arg in raw {
        let Some(body) = arg.strip_prefix("--") else {
            return Err(NodeError::new(
                ErrorKind::BadFlagSyntax {
                    instruction: instruction.into(),
                    flag: arg.clone(),
                },
                arg.clone(),
                "flags are written `--name=value` before the arguments",
            ));
        };
        if body.is_empty() {
            break;
        }
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let Some(&(def_name, kind)) = defs.iter().find(|(n, _)| *n == name) else {
            let names: Vec<&str> = defs.iter().map(|(n, _)| *n).collect();
            let hint = match closest(name, &names) {
                Some(s) => format!("did you mean `--{s}`?"),
                None if names.is_empty() => format!("{instruction} takes no flags"),
                None => format!(
                    "{instruction} accepts {}",
                    names
                        .iter()
                        .map(|n| format!("--{n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            return Err(NodeError::new(
                ErrorKind::UnknownFlag {
                    instruction: instruction.into(),
                    flag: name.into(),
                },
                arg.clone(),
                hint,
            ));
        };
        let slot = parsed.strings.entry(def_name).or_default();
        if !slot.is_empty() && kind != FlagKind::Strings {
            return Err(NodeError::new(
                ErrorKind::DuplicateFlag {
                    instruction: instruction.into(),
                    flag: name.into(),
                },
                arg.clone(),
                "give the flag once",
            ));
        }
        let missing = || {
            NodeError::new(
                ErrorKind::MissingFlagValue {
                    instruction: instruction.into(),
                    flag: name.into(),
                },
                arg.clone(),
                format!("write it as `--{name}=VALUE`"),
            )
        };
        match kind {
            FlagKind::Bool => match value {
                None => slot.push("true".into()),
                Some("") => return Err(missing()),
                Some(v) if v.eq_ignore_ascii_case("true") => slot.push("true".into()),
                Some(v) if v.eq_ignore_ascii_case("false") => slot.push("false".into()),
                Some(v) => {
                    return Err(NodeError::new(
                        ErrorKind::InvalidBoolFlag {
                            instruction: instruction.into(),
                            flag: name.into(),
                            value: v.into(),
                        },
                        arg.clone(),
                        format!("write `--{name}` or `--{name}=false`"),
                    ))
                }
            },
            FlagKind::String | FlagKind::Strings => match value {
                None => return Err(missing()),
                Some(v) => slot.push(v.into()),
            },
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(s: &str) -> (String, Vec<String>) {
        let (r, f) = extract_builder_flags(s);
        (r.trim().to_string(), f)
    }

    #[test]
    fn extraction_matches_buildkit() {
        assert_eq!(
            ex("--from stage a b"),
            ("stage a b".into(), vec!["--from".into()])
        );
        assert_eq!(
            ex("--link --from=\"st age\" '--x=a b' a b"),
            (
                "'--x=a b' a b".into(),
                vec!["--link".into(), "--from=st age".into()]
            )
        );
        assert_eq!(ex("-- --a b"), ("--a b".into(), vec![]));
        assert_eq!(
            ex("--a\\ b=c\\\\d --e -- f"),
            ("f".into(), vec!["--a b=c\\d".into(), "--e".into()])
        );
        assert_eq!(ex("--x=1"), ("".into(), vec!["--x=1".into()]));
        assert_eq!(ex("--"), ("".into(), vec![]));
        assert_eq!(ex("-x a"), ("-x a".into(), vec![]));
        assert_eq!(ex("--x=\"\""), ("".into(), vec!["--x=".into()]));
    }

    #[test]
    fn typed_flags() {
        let defs = [
            ("from", FlagKind::String),
            ("link", FlagKind::Bool),
            ("exclude", FlagKind::Strings),
        ];
        let raw: Vec<String> = ["--from=a", "--link", "--exclude=x", "--exclude=y"]
            .map(String::from)
            .to_vec();
        let p = parse_flags("COPY", &raw, &defs).unwrap();
        assert_eq!(p.string("from").as_deref(), Some("a"));
        assert_eq!(p.bool("link"), Some(true));
        assert_eq!(p.strings("exclude"), ["x", "y"]);

        let err = |flags: &[&str]| {
            let raw: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
            parse_flags("COPY", &raw, &defs).unwrap_err()
        };
        assert!(matches!(
            *err(&["--form=a"]).kind,
            ErrorKind::UnknownFlag { .. }
        ));
        assert_eq!(err(&["--form=a"]).hint, "did you mean `--from`?");
        assert!(matches!(
            *err(&["--from=a", "--from=b"]).kind,
            ErrorKind::DuplicateFlag { .. }
        ));
        assert!(matches!(
            *err(&["--from"]).kind,
            ErrorKind::MissingFlagValue { .. }
        ));
        assert!(matches!(
            *err(&["--link=yes"]).kind,
            ErrorKind::InvalidBoolFlag { .. }
        ));
        assert!(matches!(
            *err(&["--link="]).kind,
            ErrorKind::MissingFlagValue { .. }
        ));
    }
}
