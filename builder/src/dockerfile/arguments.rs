//! How each instruction's arguments are split, before any expansion:
//!
//! | form | instructions | result |
//! |---|---|---|
//! | JSON or one shell string | RUN, CMD, ENTRYPOINT, SHELL | `["a","b"]` or `"a b"` |
//! | JSON or whitespace list | ADD, COPY, VOLUME | `["a","b"]` or `a b` split |
//! | whitespace list | FROM, EXPOSE | split on blanks |
//! | one string | MAINTAINER, USER, WORKDIR, STOPSIGNAL | the rest of the line |
//! | key=value pairs | ENV, LABEL | alternating keys and values, quotes kept |
//! | words | ARG | quote-aware words, quotes kept |
//! | type + JSON or shell | HEALTHCHECK | `NONE` or `CMD …` |
//!
//! Quotes are kept in ENV/LABEL/ARG words; expansion removes them later.

use super::ast::Keyword;
use super::error::ErrorKind;
use super::flags::is_go_ascii_space;
use super::json_array::{self, JsonArray};

/// Split arguments and whether they came from a JSON array.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Args {
    pub args: Vec<String>,
    pub json: bool,
}

impl Args {
    fn list(args: Vec<String>) -> Self {
        Args { args, json: false }
    }
}

/// Splits `rest` (flags removed, trimmed) as `keyword` does.
pub(crate) fn split_arguments(
    keyword: Keyword,
    rest: &str,
    escape: char,
) -> Result<Args, ErrorKind> {
    match keyword {
        Keyword::Add | Keyword::Copy | Keyword::Volume => maybe_json_to_list(keyword, rest),
        Keyword::Arg => Ok(Args::list(parse_words(rest, escape))),
        Keyword::Cmd | Keyword::Entrypoint | Keyword::Run | Keyword::Shell => {
            maybe_json(keyword, rest)
        }
        Keyword::Env | Keyword::Label => name_val(keyword, rest, escape).map(Args::list),
        Keyword::Expose | Keyword::From => Ok(Args::list(whitespace_list(rest))),
        Keyword::Healthcheck => health_config(rest),
        Keyword::Maintainer | Keyword::Stopsignal | Keyword::User | Keyword::Workdir => {
            Ok(Args::list(if rest.is_empty() {
                vec![]
            } else {
                vec![rest.to_owned()]
            }))
        }
        // ONBUILD is handled by the parser (it holds a nested instruction).
        Keyword::Onbuild => Ok(Args::default()),
    }
}

/// Whitespace in BuildKit's splitting pattern `[\t\v\f\r ]+`.
fn is_split_space(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// Splits on runs of blanks.
pub(crate) fn whitespace_list(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return vec![];
    }
    rest.split(is_split_space)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Quote-aware words; quotes and escapes are kept in the words.
pub(crate) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut i = 0;
    loop {
        let at_end = i >= chars.len();
        let ch = chars.get(i).copied().unwrap_or('\0');
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if ch.is_whitespace() {
                i += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if at_end {
            if blank_ok || !word.is_empty() {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                i += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                if i + 1 == chars.len() {
                    i += 1;
                    continue;
                }
                // An escape outside quotes keeps itself and the next char.
                word.push(ch);
                i += 1;
                word.push(chars[i]);
            } else {
                word.push(ch);
            }
            i += 1;
        } else {
            if ch == quote {
                phase = Phase::Word;
            }
            if ch == escape && quote != '\'' {
                if i + 1 == chars.len() {
                    phase = Phase::Word;
                    i += 1;
                    continue;
                }
                word.push(ch);
                i += 1;
                word.push(chars[i]);
            } else {
                word.push(ch);
            }
            i += 1;
        }
    }
    words
}

/// ENV and LABEL: `k=v k2=v2` or the legacy `k v`.
fn name_val(keyword: Keyword, rest: &str, escape: char) -> Result<Vec<String>, ErrorKind> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(vec![]);
    };
    if !first.contains('=') {
        // Legacy form: the key, then the rest of the line verbatim.
        let Some(split) = rest.find(is_split_space) else {
            return Err(ErrorKind::MissingValue {
                instruction: keyword.as_str().into(),
            });
        };
        let key = &rest[..split];
        let value = rest[split..].trim_start_matches(is_split_space);
        return Ok(vec![key.to_owned(), value.to_owned()]);
    }
    let mut out = Vec::with_capacity(words.len() * 2);
    for word in words {
        let Some((k, v)) = word.split_once('=') else {
            return Err(ErrorKind::MissingEquals {
                instruction: keyword.as_str().into(),
                word,
            });
        };
        out.push(k.to_owned());
        out.push(v.to_owned());
    }
    Ok(out)
}

fn json(keyword: Keyword, rest: &str) -> Result<Option<Vec<String>>, ErrorKind> {
    let trimmed = rest.trim_start();
    match json_array::decode(trimmed) {
        JsonArray::Strings(v) => Ok(Some(v)),
        JsonArray::NotStrings => Err(ErrorKind::JsonNotStrings {
            instruction: keyword.as_str().into(),
        }),
        JsonArray::Invalid => Ok(None),
    }
}

/// RUN, CMD, ENTRYPOINT, SHELL: a JSON array, else the whole string.
fn maybe_json(keyword: Keyword, rest: &str) -> Result<Args, ErrorKind> {
    if rest.is_empty() {
        return Ok(Args::default());
    }
    Ok(match json(keyword, rest)? {
        Some(args) => Args { args, json: true },
        None => Args::list(vec![rest.to_owned()]),
    })
}

/// ADD, COPY, VOLUME: a JSON array, else a whitespace-separated list.
fn maybe_json_to_list(keyword: Keyword, rest: &str) -> Result<Args, ErrorKind> {
    Ok(match json(keyword, rest)? {
        Some(args) => Args { args, json: true },
        None => Args::list(whitespace_list(rest)),
    })
}

/// HEALTHCHECK: the type word, then a JSON array or a shell string.
fn health_config(rest: &str) -> Result<Args, ErrorKind> {
    let sep = rest.find(is_go_ascii_space).unwrap_or(rest.len());
    if sep == 0 {
        return Ok(Args::default());
    }
    let typ = &rest[..sep];
    let cmd = rest[sep..].trim_start_matches(is_go_ascii_space);
    let inner = maybe_json(Keyword::Healthcheck, cmd)?;
    let mut args = vec![typ.to_owned()];
    args.extend(inner.args);
    Ok(Args {
        args,
        json: inner.json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        parse_words(s, '\\')
    }

    #[test]
    fn words_keep_quotes_and_escapes() {
        assert_eq!(words(r#"a="x y" b"#), [r#"a="x y""#, "b"]);
        assert_eq!(words(r#"a=x\ y"#), [r#"a=x\ y"#]);
        assert_eq!(words(r#""" ''"#), [r#""""#, "''"]);
        assert_eq!(words(r#"'a\'"#), [r#"'a\'"#]);
        assert_eq!(words("a\\"), ["a"]);
    }

    #[test]
    fn env_forms() {
        let env = |s: &str| name_val(Keyword::Env, s, '\\');
        assert_eq!(env("a=1 b=\"2 3\"").unwrap(), ["a", "1", "b", "\"2 3\""]);
        assert_eq!(env("x y z").unwrap(), ["x", "y z"]);
        assert_eq!(env("x   y").unwrap(), ["x", "y"]);
        assert!(matches!(
            env("x").unwrap_err(),
            ErrorKind::MissingValue { .. }
        ));
        assert!(matches!(
            env("a=1 b").unwrap_err(),
            ErrorKind::MissingEquals { .. }
        ));
        assert_eq!(env("").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn json_and_shell_forms() {
        let run = |s: &str| maybe_json(Keyword::Run, s).unwrap();
        assert_eq!(
            run(r#"["a", "b"]"#),
            Args {
                args: vec!["a".into(), "b".into()],
                json: true
            }
        );
        assert_eq!(run("['a']"), Args::list(vec!["['a']".into()]));
        assert!(maybe_json(Keyword::Run, r#"["a", 1]"#).is_err());
        assert_eq!(
            maybe_json_to_list(Keyword::Copy, "a  b\tc").unwrap(),
            Args::list(vec!["a".into(), "b".into(), "c".into()])
        );
    }

    #[test]
    fn healthcheck_form() {
        assert_eq!(
            health_config(r#"CMD ["curl", "x"]"#).unwrap(),
            Args {
                args: vec!["CMD".into(), "curl".into(), "x".into()],
                json: true
            }
        );
        assert_eq!(
            health_config("NONE").unwrap(),
            Args::list(vec!["NONE".into()])
        );
        assert_eq!(health_config("").unwrap(), Args::default());
    }
}
