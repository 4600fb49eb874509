//! The Dockerfile front end, a pipeline modelled on BuildKit's:
//!
//! 1. [`parse`]: text → syntax tree ([`ast::Dockerfile`]): parser directives,
//!    line continuations, comments, heredocs, JSON vs shell forms, flags;
//! 2. [`build_stages`]: syntax tree → typed [`Instruction`]s grouped into
//!    [`Stage`]s, every flag and argument count checked;
//! 3. [`resolve`]: stages → [`Resolved`] stages for a target, with ARG/ENV
//!    scoping applied and words expanded, plus the unused build args.
//!
//! Every error carries `file:line:col`, the offending text and a hint
//! ([`Error`]). No input makes the front end panic.
//!
//! This module never touches the filesystem or the network: base image
//! environments come in through [`BaseImages`].

pub mod ast;
pub mod error;
pub mod go_duration;
pub mod instructions;
pub mod mount;
pub mod platform;
pub mod scope;
pub mod shell_lexer;
pub mod stages;

mod arguments;
mod directives;
mod flags;
mod heredoc;
mod json_array;
mod parser;

pub use ast::{Directives, Dockerfile, Heredoc, Keyword, Node, Warning};
pub use error::{Error, ErrorKind, Location};
pub use flags::FlagKind;
pub use instructions::{accepted_flags, Command, CommandLine, Instruction};
pub use parser::{parse, parse_bytes};
pub use platform::Platform;
pub use scope::{resolve, BaseImages, BuildOptions, NoBaseImages, Resolved, ResolvedStage, Step};
pub use stages::{build_stages, Stage, Stages};

/// Parses, types and resolves a Dockerfile in one call, with base images
/// looked up through `images`.
pub fn load(
    source: &[u8],
    file: &str,
    opts: &BuildOptions,
    images: &mut dyn BaseImages,
) -> Result<Resolved, Error> {
    let df = parse_bytes(source, file)?;
    let stages = build_stages(&df)?;
    resolve(&df, &stages, opts, images)
}
