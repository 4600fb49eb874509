//! The syntax tree the parser produces: one [`Node`] per instruction, close
//! to what BuildKit's parser yields (so it can be compared with it), plus the
//! parser directives and warnings.
//!
//! Nothing here is expanded or interpreted: quotes inside ENV/LABEL/ARG words
//! are still there, flags are raw `--name=value` strings. The typed view is in
//! `instructions`.

use std::fmt;

/// The 18 Dockerfile instructions. Keywords are case-insensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Keyword {
    Add,
    Arg,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    Label,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    Stopsignal,
    User,
    Volume,
    Workdir,
}

impl Keyword {
    /// All keywords, in alphabetical order.
    pub const ALL: [Keyword; 18] = [
        Keyword::Add,
        Keyword::Arg,
        Keyword::Cmd,
        Keyword::Copy,
        Keyword::Entrypoint,
        Keyword::Env,
        Keyword::Expose,
        Keyword::From,
        Keyword::Healthcheck,
        Keyword::Label,
        Keyword::Maintainer,
        Keyword::Onbuild,
        Keyword::Run,
        Keyword::Shell,
        Keyword::Stopsignal,
        Keyword::User,
        Keyword::Volume,
        Keyword::Workdir,
    ];

    /// The keyword in upper case, as documentation writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Keyword::Add => "ADD",
            Keyword::Arg => "ARG",
            Keyword::Cmd => "CMD",
            Keyword::Copy => "COPY",
            Keyword::Entrypoint => "ENTRYPOINT",
            Keyword::Env => "ENV",
            Keyword::Expose => "EXPOSE",
            Keyword::From => "FROM",
            Keyword::Healthcheck => "HEALTHCHECK",
            Keyword::Label => "LABEL",
            Keyword::Maintainer => "MAINTAINER",
            Keyword::Onbuild => "ONBUILD",
            Keyword::Run => "RUN",
            Keyword::Shell => "SHELL",
            Keyword::Stopsignal => "STOPSIGNAL",
            Keyword::User => "USER",
            Keyword::Volume => "VOLUME",
            Keyword::Workdir => "WORKDIR",
        }
    }

    /// Looks a keyword up, ignoring ASCII case.
    pub fn parse(word: &str) -> Option<Keyword> {
        Keyword::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(word))
    }

    /// RUN, COPY and ADD take heredocs.
    pub fn takes_heredocs(self) -> bool {
        matches!(self, Keyword::Run | Keyword::Copy | Keyword::Add)
    }
}

impl fmt::Display for Keyword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A heredoc attached to an instruction (`<<EOF … EOF`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter, with quotes removed.
    pub name: String,
    /// The file descriptor written before `<<` (`3<<EOF`), 0 when none.
    pub file_descriptor: u32,
    /// False when the delimiter was quoted: the body is not expanded.
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from the body's lines.
    pub chomp: bool,
    /// The body exactly as written, line endings included.
    pub content: String,
}

impl Heredoc {
    /// The body as the instruction uses it: with leading tabs stripped from
    /// every line for `<<-`.
    pub fn effective_content(&self) -> String {
        if !self.chomp {
            return self.content.clone();
        }
        let mut out = String::with_capacity(self.content.len());
        for line in self.content.split_inclusive('\n') {
            out.push_str(line.trim_start_matches('\t'));
        }
        out
    }
}

/// One instruction as parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub keyword: Keyword,
    /// The keyword as written (`from`, `From`, …).
    pub keyword_text: String,
    /// Raw builder flags (`--from=build`), in order.
    pub flags: Vec<String>,
    /// The arguments, split per instruction as BuildKit does: ENV and LABEL
    /// alternate key and value, shell forms are one string, JSON forms one
    /// element per entry. Empty for ONBUILD (see `onbuild`).
    pub args: Vec<String>,
    /// The arguments were a JSON array (exec form).
    pub json: bool,
    /// The logical line: continuation lines joined, comments dropped, without
    /// heredoc bodies.
    pub original: String,
    /// First and last physical line (1-based), heredoc bodies included.
    pub start_line: usize,
    pub end_line: usize,
    /// Heredocs, in the order their delimiters appear.
    pub heredocs: Vec<Heredoc>,
    /// For ONBUILD: the trigger instruction.
    pub onbuild: Option<Box<Node>>,
    /// Comment lines directly above the instruction.
    pub comments: Vec<String>,
}

/// The parser directives found at the top of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// `# syntax=`: the frontend image a BuildKit user asked for. Recorded,
    /// not acted on.
    pub syntax: Option<String>,
    /// The escape character: `\` unless `# escape=` said `` ` ``.
    pub escape: char,
    /// `# check=`: build-check configuration, recorded as written.
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            syntax: None,
            escape: '\\',
            check: None,
        }
    }
}

/// Something suspicious that is still accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub line: usize,
    pub message: String,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The name errors use (usually the path given with `-f`).
    pub file: String,
    pub directives: Directives,
    pub nodes: Vec<Node>,
    pub warnings: Vec<Warning>,
    /// The physical lines, for pointing errors at columns.
    pub(crate) lines: Vec<String>,
}
