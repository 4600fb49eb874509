//! Grouping typed instructions into build stages: ARGs before the first FROM
//! are global ("meta") arguments; every FROM opens a stage, optionally named
//! with `AS name`. Anything else before the first FROM is an error, and so is
//! a stage name used twice.

use super::ast::Dockerfile;
use super::error::ErrorKind;
use super::error::{Error, Location};
use super::instructions::{convert, ArgDecl, Command, From, Instruction};
use super::parser::{locate, NodeError};

/// One build stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Position among the stages (what `COPY --from=0` refers to).
    pub index: usize,
    /// The FROM line, unexpanded.
    pub from: From,
    /// Where the FROM line is.
    pub from_line: usize,
    /// The instructions after FROM, unexpanded.
    pub commands: Vec<Command>,
}

impl Stage {
    /// The stage's name (`AS name`, lowercased), if any.
    pub fn name(&self) -> Option<&str> {
        self.from.stage_name.as_deref()
    }
}

/// The typed Dockerfile: global ARGs and stages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stages {
    /// ARG instructions before the first FROM, with their lines.
    pub meta_args: Vec<(Vec<ArgDecl>, Command)>,
    pub stages: Vec<Stage>,
}

/// Turns a node error into a located error for `df`.
pub(crate) fn locate_error(df: &Dockerfile, start: usize, end: usize, e: NodeError) -> Error {
    let (line, col) = locate(&df.lines, start, end, &e.text);
    Error {
        at: Location {
            file: df.file.clone(),
            line,
            col,
        },
        kind: e.kind,
        text: e.text,
        hint: e.hint,
    }
}

/// Converts every node and groups the result into stages.
pub fn build_stages(df: &Dockerfile) -> Result<Stages, Error> {
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for node in &df.nodes {
        let instruction =
            convert(node).map_err(|e| locate_error(df, node.start_line, node.end_line, e))?;
        let command = Command {
            instruction,
            start_line: node.start_line,
            end_line: node.end_line,
            original: node.original.clone(),
        };
        match (&command.instruction, stages.last_mut()) {
            (Instruction::From(from), _) => {
                if let Some(name) = &from.stage_name {
                    if stages.iter().any(|s| s.name() == Some(name)) {
                        return Err(locate_error(
                            df,
                            node.start_line,
                            node.end_line,
                            NodeError::new(
                                ErrorKind::DuplicateStageName { name: name.clone() },
                                node.args.last().cloned().unwrap_or_default(),
                                "give every stage its own name",
                            ),
                        ));
                    }
                }
                stages.push(Stage {
                    index: stages.len(),
                    from: from.clone(),
                    from_line: node.start_line,
                    commands: Vec::new(),
                });
            }
            (Instruction::Arg(decls), None) => meta_args.push((decls.clone(), command)),
            (_, None) => {
                return Err(locate_error(
                    df,
                    node.start_line,
                    node.end_line,
                    NodeError::new(
                        ErrorKind::InstructionBeforeFrom {
                            instruction: node.keyword.as_str().into(),
                        },
                        node.keyword_text.clone(),
                        "start the Dockerfile with FROM (only ARG may come before it)",
                    ),
                ))
            }
            (_, Some(stage)) => stage.commands.push(command),
        }
    }
    if stages.is_empty() {
        let line = df.nodes.last().map_or(1, |n| n.end_line);
        return Err(Error {
            at: Location {
                file: df.file.clone(),
                line,
                col: 1,
            },
            kind: Box::new(ErrorKind::NoFrom),
            text: String::new(),
            hint: "add a FROM instruction (FROM scratch for an empty base)".into(),
        });
    }
    Ok(Stages { meta_args, stages })
}
