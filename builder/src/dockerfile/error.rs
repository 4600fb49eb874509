//! Errors of the Dockerfile front end: where (`file:line:col`), what (a typed
//! [`ErrorKind`] with its context), the offending text, and a hint that says
//! what to do.
//!
//! Every failure the front end can meet on user input is one of these; none of
//! them is ever a panic. Messages are lowercase and name the thing at fault.

use std::fmt;

use super::shell_lexer::ExpansionError;

/// A position in a Dockerfile. Lines and columns count from 1; the column
/// counts characters, not bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// A front-end error: location, kind, offending text and hint.
///
/// Displayed as
/// ```text
/// Dockerfile:3:6: unknown flag `--form` for COPY
///   at: --form=build
///   hint: did you mean `--from`?
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {kind}{}", render_tail(.text, .hint))]
pub struct Error {
    pub at: Location,
    /// What went wrong (boxed: errors stay small on the happy path).
    pub kind: Box<ErrorKind>,
    /// The offending text as written (may be empty when there is none).
    pub text: String,
    /// What the user can do about it.
    pub hint: String,
}

fn render_tail(text: &str, hint: &str) -> String {
    let mut out = String::new();
    if !text.is_empty() {
        let shown: String = text.chars().take(200).collect();
        out.push_str("\n  at: ");
        out.push_str(&shown.replace('\n', "\\n"));
    }
    if !hint.is_empty() {
        out.push_str("\n  hint: ");
        out.push_str(hint);
    }
    out
}

impl Error {
    /// The error's kind, for callers that branch on it.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }
}

/// What went wrong. Each variant carries the context needed to explain it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("the Dockerfile is not valid UTF-8")]
    InvalidUtf8,
    #[error("the Dockerfile has no instructions")]
    NoInstructions,
    #[error("invalid escape directive value `{value}`")]
    InvalidEscapeDirective { value: String },
    #[error("the `{name}` parser directive is given more than once")]
    DuplicateDirective { name: String },
    #[error("unterminated heredoc `{name}`")]
    UnterminatedHeredoc { name: String },
    #[error("unknown instruction `{name}`")]
    UnknownInstruction { name: String },
    #[error("the JSON (exec) form of {instruction} must be an array of strings only")]
    JsonNotStrings { instruction: String },
    #[error("{instruction} must have two arguments")]
    MissingValue { instruction: String },
    #[error("can't find `=` in `{word}` for {instruction}: it must be of the form name=value")]
    MissingEquals { instruction: String, word: String },
    #[error("flag `{flag}` must start with `--` for {instruction}")]
    BadFlagSyntax { instruction: String, flag: String },
    #[error("unknown flag `--{flag}` for {instruction}")]
    UnknownFlag { instruction: String, flag: String },
    #[error("flag `--{flag}` is given more than once for {instruction}")]
    DuplicateFlag { instruction: String, flag: String },
    #[error("flag `--{flag}` of {instruction} needs a value")]
    MissingFlagValue { instruction: String, flag: String },
    #[error("flag `--{flag}` of {instruction} expects true or false, not `{value}`")]
    InvalidBoolFlag {
        instruction: String,
        flag: String,
        value: String,
    },
    #[error("invalid value `{value}` for flag `--{flag}` of {instruction}: {reason}")]
    InvalidFlagValue {
        instruction: String,
        flag: String,
        value: String,
        reason: String,
    },
    #[error("{instruction} requires {expected}")]
    WrongArgumentCount {
        instruction: String,
        expected: &'static str,
    },
    #[error("{instruction} names can not be blank")]
    BlankName { instruction: String },
    #[error("invalid build stage name `{name}`")]
    InvalidStageName { name: String },
    #[error("duplicate build stage name `{name}`")]
    DuplicateStageName { name: String },
    #[error("`{trigger}` isn't allowed as an ONBUILD trigger")]
    InvalidOnbuildTrigger { trigger: String },
    #[error("a heredoc can't be used as {what} of {instruction}")]
    HeredocNotAllowed {
        instruction: String,
        what: &'static str,
    },
    #[error("unknown HEALTHCHECK type `{kind}`")]
    UnknownHealthcheckType { kind: String },
    #[error("HEALTHCHECK NONE takes no arguments and no flags")]
    HealthcheckNoneArgs,
    #[error("HEALTHCHECK CMD needs a command")]
    MissingHealthcheckCommand,
    #[error("SHELL requires the arguments to be in JSON form")]
    ShellNotJson,
    #[error("VOLUME paths can not be empty strings")]
    EmptyVolume,
    #[error("invalid RUN --mount `{spec}`: {reason}")]
    InvalidMount { spec: String, reason: String },
    #[error("invalid port `{value}` for EXPOSE: {reason}")]
    InvalidPort { value: String, reason: String },
    #[error("invalid platform `{value}`: {reason}")]
    InvalidPlatform { value: String, reason: String },
    #[error("the Dockerfile has no FROM instruction")]
    NoFrom,
    #[error("invalid stop signal `{value}`")]
    InvalidSignal { value: String },
    #[error("{instruction} comes before the first FROM")]
    InstructionBeforeFrom { instruction: String },
    #[error("failed to expand `{word}`: {source}")]
    Expansion {
        word: String,
        source: ExpansionError,
    },
    #[error("target stage `{target}` is not defined")]
    UnknownTarget { target: String },
    #[error("stage `{stage}` depends on itself through {via}")]
    StageCycle { stage: String, via: String },
    #[error("`--from={reference}` refers to a stage index out of range")]
    StageIndexOutOfRange { reference: String },
    #[error("base image `{image}` is not available: {reason}")]
    BaseImage { image: String, reason: String },
}

/// Picks the candidate closest to `name` (edit distance at most a third of
/// its length, minimum 2), for "did you mean" hints.
pub(crate) fn closest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    let budget = (lower.chars().count() / 3).max(2);
    candidates
        .iter()
        .map(|c| (edit_distance(&lower, &c.to_ascii_lowercase()), *c))
        .filter(|(d, _)| *d <= budget)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(64).collect();
    let b: Vec<char> = b.chars().take(64).collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_suggests_typos() {
        assert_eq!(closest("form", &["from", "chown"]), Some("from"));
        assert_eq!(closest("RUNN", &["RUN", "ENV"]), Some("RUN"));
        assert_eq!(closest("zzzzzz", &["from", "chown"]), None);
    }

    #[test]
    fn display_has_location_text_and_hint() {
        let e = Error {
            at: Location {
                file: "Dockerfile".into(),
                line: 3,
                col: 6,
            },
            kind: Box::new(ErrorKind::UnknownFlag {
                instruction: "COPY".into(),
                flag: "form".into(),
            }),
            text: "--form=build".into(),
            hint: "did you mean `--from`?".into(),
        };
        assert_eq!(
            e.to_string(),
            "Dockerfile:3:6: unknown flag `--form` for COPY\n  at: --form=build\n  hint: did you mean `--from`?"
        );
    }
}
