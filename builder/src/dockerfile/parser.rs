//! Text to syntax tree: physical lines to logical instructions.
//!
//! The rules, as in BuildKit:
//! - a UTF-8 byte order mark on the first line is dropped;
//! - parser directives are read at the top (see `directives`);
//! - a line whose first non-blank character is `#` is a comment;
//! - the escape character as the last non-blank character continues the
//!   instruction on the next line (an escaped escape does not); comment lines
//!   and blank lines inside a continuation are dropped (blank ones with a
//!   warning); continuation lines keep their leading whitespace;
//! - RUN, COPY and ADD (also as ONBUILD triggers) read heredoc bodies after
//!   the logical line, in the order the delimiters appear; JSON forms don't;
//! - an unknown instruction is an error (BuildKit's parser defers that to a
//!   later stage; we report it here, with a suggestion).
//!
//! Never panics on any input.

use super::arguments::split_arguments;
use super::ast::{Dockerfile, Keyword, Node, Warning};
use super::directives::DirectiveScanner;
use super::error::{closest, Error, ErrorKind, Location};
use super::flags::extract_builder_flags;
use super::heredoc::heredocs_from_line;

/// Parses Dockerfile bytes. `file` names the file in error messages.
pub fn parse_bytes(source: &[u8], file: &str) -> Result<Dockerfile, Error> {
    match std::str::from_utf8(source) {
        Ok(text) => parse(text, file),
        Err(e) => {
            let valid = &source[..e.valid_up_to()];
            let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
            let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
            let col = String::from_utf8_lossy(&valid[line_start..])
                .chars()
                .count()
                + 1;
            Err(Error {
                at: Location {
                    file: file.into(),
                    line,
                    col,
                },
                kind: Box::new(ErrorKind::InvalidUtf8),
                text: String::new(),
                hint: "save the Dockerfile as UTF-8".into(),
            })
        }
    }
}

/// Parses a Dockerfile. `file` names the file in error messages.
pub fn parse(source: &str, file: &str) -> Result<Dockerfile, Error> {
    let physical: Vec<&str> = source.split_inclusive('\n').collect();
    let mut p = Parser {
        file,
        physical,
        lines: Vec::new(),
        scanner: DirectiveScanner::new(),
    };
    p.lines = p
        .physical
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let l = trim_newline(l);
            let l = if i == 0 { strip_bom(l) } else { l };
            l.to_owned()
        })
        .collect();
    let (nodes, warnings) = p.run()?;
    Ok(Dockerfile {
        file: file.into(),
        directives: p.scanner.directives,
        nodes,
        warnings,
        lines: p.lines,
    })
}

struct Parser<'a> {
    file: &'a str,
    physical: Vec<&'a str>,
    lines: Vec<String>,
    scanner: DirectiveScanner,
}

fn strip_bom(s: &str) -> &str {
    s.strip_prefix('\u{feff}').unwrap_or(s)
}

fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

fn is_comment(raw: &str) -> bool {
    trim_newline(raw).trim_start().starts_with('#')
}

/// Removes the continuation escape. Returns the line and whether it ends
/// the instruction.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let t = line.trim_end_matches([' ', '\t']);
    if let Some(before) = t.strip_suffix(escape) {
        if before.is_empty() {
            return ("", false);
        }
        if !before.ends_with(escape) {
            return (before, false);
        }
    }
    (line, true)
}

/// Finds `needle` in lines `start..=end` (1-based); returns line and column.
pub(crate) fn locate(lines: &[String], start: usize, end: usize, needle: &str) -> (usize, usize) {
    let end = end.max(start).min(lines.len());
    if !needle.is_empty() {
        for n in start..=end {
            let Some(text) = n.checked_sub(1).and_then(|i| lines.get(i)) else {
                continue;
            };
            if let Some(byte) = text.find(needle) {
                return (n, text[..byte].chars().count() + 1);
            }
        }
    }
    let col = start
        .checked_sub(1)
        .and_then(|i| lines.get(i))
        .map_or(1, |t| {
            t.chars().take_while(|c| c.is_whitespace()).count() + 1
        });
    (start.max(1), col)
}

/// A failure while building one node: kind, offending text, hint.
#[derive(Debug)]
pub(crate) struct NodeError {
    pub kind: Box<ErrorKind>,
    pub text: String,
    pub hint: String,
}

impl NodeError {
    pub fn new(kind: ErrorKind, text: impl Into<String>, hint: impl Into<String>) -> Self {
        NodeError {
            kind: Box::new(kind),
            text: text.into(),
            hint: hint.into(),
        }
    }
}

impl Parser<'_> {
    fn error(&self, start: usize, end: usize, e: NodeError) -> Error {
        let (line, col) = locate(&self.lines, start, end, &e.text);
        Error {
            at: Location {
                file: self.file.into(),
                line,
                col,
            },
            kind: e.kind,
            text: e.text,
            hint: e.hint,
        }
    }

    /// Applies newline trimming, optional left trimming, directive scanning
    /// and comment removal to one physical line.
    fn process_line(&mut self, idx: usize, strip_left: bool) -> Result<String, Error> {
        let mut token = self.lines[idx].as_str();
        if strip_left {
            token = token.trim_start();
        }
        let token = token.to_owned();
        if let Err(kind) = self.scanner.scan(&token) {
            let hint = match &kind {
                ErrorKind::InvalidEscapeDirective { .. } => {
                    "the escape character is `\\` or a backtick (`# escape=`)"
                }
                _ => "keep one of them",
            };
            return Err(self.error(idx + 1, idx + 1, NodeError::new(kind, token.clone(), hint)));
        }
        Ok(if token.starts_with('#') {
            String::new()
        } else {
            token
        })
    }

    fn run(&mut self) -> Result<(Vec<Node>, Vec<Warning>), Error> {
        let mut nodes = Vec::new();
        let mut warnings = Vec::new();
        let mut comments: Vec<String> = Vec::new();
        let mut idx = 0;
        while idx < self.physical.len() {
            let first = idx;
            idx += 1;
            if is_comment(&self.lines[first]) {
                let text = self.lines[first].trim_start()[1..].trim().to_owned();
                comments.push(text);
            } else if self.lines[first].trim().is_empty() {
                comments.clear();
            }
            let processed = self.process_line(first, true)?;
            let start_line = idx;
            let escape = self.scanner.directives.escape;
            let (head, mut end_of_line) = trim_continuation(&processed, escape);
            if end_of_line && head.is_empty() {
                continue;
            }
            let mut line = head.to_owned();
            let mut empty_continuation = false;
            while !end_of_line && idx < self.physical.len() {
                let cur = idx;
                idx += 1;
                let processed = self.process_line(cur, false)?;
                if is_comment(&self.lines[cur]) {
                    continue;
                }
                if processed.trim_start().is_empty() {
                    empty_continuation = true;
                    continue;
                }
                let (part, eol) = trim_continuation(&processed, escape);
                line.push_str(part);
                end_of_line = eol;
            }
            if empty_continuation {
                warnings.push(Warning {
                    line: start_line,
                    message: "empty continuation line; BuildKit will make this an error in a \
                              future release"
                        .into(),
                });
                tracing::debug!(line = start_line, "empty continuation line");
            }

            let mut node = match new_node_from_line(&line, escape) {
                Ok(n) => n,
                Err(e) => return Err(self.error(start_line, idx, e)),
            };
            node.comments = std::mem::take(&mut comments);

            // Heredoc bodies follow the logical line.
            let (keyword, json) = match &node.onbuild {
                Some(sub) => (sub.keyword, sub.json),
                None => (node.keyword, node.json),
            };
            let mut bodies = Vec::new();
            if keyword.takes_heredocs() && !json {
                let docs = heredocs_from_line(&line).map_err(|source| {
                    self.error(
                        start_line,
                        idx,
                        NodeError::new(
                            ErrorKind::Expansion {
                                word: line.clone(),
                                source,
                            },
                            "<<",
                            "check the quoting of the heredoc delimiter",
                        ),
                    )
                })?;
                for mut doc in docs {
                    let mut terminated = false;
                    while idx < self.physical.len() {
                        let raw = self.physical[idx];
                        idx += 1;
                        let mut candidate = trim_newline(raw);
                        if doc.chomp {
                            candidate = candidate.trim_start_matches('\t');
                        }
                        if candidate == doc.name {
                            terminated = true;
                            break;
                        }
                        doc.content.push_str(raw);
                    }
                    if !terminated {
                        let name = doc.name.clone();
                        return Err(self.error(
                            start_line,
                            start_line,
                            NodeError::new(
                                ErrorKind::UnterminatedHeredoc { name: name.clone() },
                                format!("<<{}", if doc.chomp { "-" } else { "" }),
                                format!("end the heredoc with a line holding only `{name}`"),
                            ),
                        ));
                    }
                    bodies.push(doc);
                }
            }
            match node.onbuild.as_deref_mut() {
                Some(sub) => sub.heredocs = bodies,
                None => node.heredocs = bodies,
            }

            node.start_line = start_line;
            node.end_line = idx;
            if let Some(sub) = node.onbuild.as_deref_mut() {
                sub.start_line = start_line;
                sub.end_line = idx;
            }
            nodes.push(node);
        }
        if nodes.is_empty() {
            return Err(Error {
                at: Location {
                    file: self.file.into(),
                    line: idx.max(1),
                    col: 1,
                },
                kind: Box::new(ErrorKind::NoInstructions),
                text: String::new(),
                hint: "a Dockerfile needs at least a FROM instruction".into(),
            });
        }
        Ok((nodes, warnings))
    }
}

/// Builds one node from a logical line.
fn new_node_from_line(line: &str, escape: char) -> Result<Node, NodeError> {
    let trimmed = line.trim();
    let split = |c: char| matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ');
    let (word, after) = match trimmed.find(split) {
        Some(i) => (&trimmed[..i], trimmed[i..].trim_start_matches(split)),
        None => (trimmed, ""),
    };
    let Some(keyword) = Keyword::parse(word) else {
        let names: Vec<&str> = Keyword::ALL.iter().map(|k| k.as_str()).collect();
        let hint = match closest(word, &names) {
            Some(s) => format!("did you mean `{s}`?"),
            None => {
                "instructions are FROM, RUN, COPY, ADD, ENV, ARG, … (see the Dockerfile reference)"
                    .into()
            }
        };
        return Err(NodeError::new(
            ErrorKind::UnknownInstruction { name: word.into() },
            word,
            hint,
        ));
    };
    let (rest, flags) = extract_builder_flags(after);
    let rest = rest.trim();
    let mut node = Node {
        keyword,
        keyword_text: word.into(),
        flags,
        args: Vec::new(),
        json: false,
        original: line.into(),
        start_line: 0,
        end_line: 0,
        heredocs: Vec::new(),
        onbuild: None,
        comments: Vec::new(),
    };
    if keyword == Keyword::Onbuild {
        if !rest.is_empty() {
            node.onbuild = Some(Box::new(new_node_from_line(rest, escape)?));
        }
        return Ok(node);
    }
    let args = split_arguments(keyword, rest, escape).map_err(|kind| {
        let hint = match &kind {
            ErrorKind::JsonNotStrings { .. } => "quote every element: [\"a\", \"b\"]",
            ErrorKind::MissingValue { .. } => "write it as KEY=VALUE",
            ErrorKind::MissingEquals { .. } => {
                "write every pair as KEY=VALUE (quote values with spaces)"
            }
            _ => "",
        };
        let text = match &kind {
            ErrorKind::MissingEquals { word, .. } => word.clone(),
            _ => rest.to_owned(),
        };
        NodeError::new(kind, text, hint)
    })?;
    node.args = args.args;
    node.json = args.json;
    Ok(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Dockerfile {
        parse(s, "Dockerfile").unwrap()
    }

    #[test]
    fn continuation_comments_and_blank_lines() {
        let d = p("FROM a\nRUN a \\\n\n  # c\n  b\n");
        assert_eq!(d.nodes[1].original, "RUN a   b");
        assert_eq!(d.nodes[1].args, ["a   b"]);
        assert_eq!((d.nodes[1].start_line, d.nodes[1].end_line), (2, 5));
        assert_eq!(d.warnings.len(), 1);
    }

    #[test]
    fn escaped_escape_is_not_a_continuation() {
        let d = p("FROM a\nRUN echo \\\\\nRUN b\n");
        assert_eq!(d.nodes.len(), 3);
    }

    #[test]
    fn backtick_escape_directive() {
        let d = p("# escape=`\nFROM a\nRUN a `\n  b\nCOPY c:\\x d\n");
        assert_eq!(d.directives.escape, '`');
        assert_eq!(d.nodes[1].args, ["a   b"]);
        assert_eq!(d.nodes[2].args, ["c:\\x", "d"]);
    }

    #[test]
    fn heredocs_in_order() {
        let d = p("FROM a\nRUN cat <<A <<-B\nx\nA\n\ty\n\tB\nRUN c\n");
        let run = &d.nodes[1];
        assert_eq!(run.heredocs.len(), 2);
        assert_eq!(run.heredocs[0].content, "x\n");
        assert_eq!(run.heredocs[1].content, "\ty\n");
        assert_eq!(run.heredocs[1].effective_content(), "y\n");
        assert_eq!(run.end_line, 6);
        assert_eq!(d.nodes[2].start_line, 7);
    }

    #[test]
    fn onbuild_trigger_takes_heredocs() {
        let d = p("FROM a\nONBUILD COPY <<EOF /x\nhi\nEOF\n");
        let sub = d.nodes[1].onbuild.as_ref().unwrap();
        assert_eq!(sub.keyword, Keyword::Copy);
        assert_eq!(sub.heredocs[0].content, "hi\n");
    }

    #[test]
    fn errors_have_locations() {
        let e = parse("FROM a\n  RUNN x\n", "df").unwrap_err();
        assert_eq!(e.at.to_string(), "df:2:3");
        assert_eq!(e.hint, "did you mean `RUN`?");
        let e = parse("FROM a\nRUN <<EOF\nx\n", "df").unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::UnterminatedHeredoc { .. }));
        let e = parse("\n# hi\n", "df").unwrap_err();
        assert_eq!(*e.kind, ErrorKind::NoInstructions);
        let e = parse_bytes(b"FROM a\nRUN \xff\n", "df").unwrap_err();
        assert_eq!(
            (*e.kind, e.at.line, e.at.col),
            (ErrorKind::InvalidUtf8, 2, 5)
        );
    }
}
