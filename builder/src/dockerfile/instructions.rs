//! Typed instructions, converted from syntax-tree nodes: every flag checked
//! against what BuildKit accepts for that instruction, argument counts
//! checked, forms (exec/shell, heredoc sources) resolved.
//!
//! Words are still unexpanded here; [`Instruction::expand`] applies word
//! expansion to the instructions the builder expands (ADD, COPY, ENV, ARG,
//! EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR and the expandable flags).
//! RUN, CMD, ENTRYPOINT, SHELL and HEALTHCHECK commands are left to the shell.

use std::time::Duration;

use super::ast::{Heredoc, Keyword, Node};
use super::error::ErrorKind;
use super::flags::{parse_flags, FlagKind, ParsedFlags};
use super::go_duration;
use super::heredoc::parse_heredoc;
use super::mount::Mount;
use super::parser::NodeError;
use super::shell_lexer::{Lexer, VarLookup};

/// A command as the shell or exec form gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    /// JSON form: run as is.
    Exec(Vec<String>),
    /// Shell form: run through the SHELL (default `/bin/sh -c`).
    Shell(String),
}

/// `KEY=VALUE` of ENV and LABEL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// One name of an ARG instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    pub default: Option<String>,
}

/// RUN --network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    Default,
    None,
    Host,
}

/// RUN --security.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityMode {
    Sandbox,
    Insecure,
}

/// FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    pub image: String,
    /// `AS name`, lowercased.
    pub stage_name: Option<String>,
    pub platform: Option<String>,
}

/// RUN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub command: CommandLine,
    pub heredocs: Vec<Heredoc>,
    pub mounts: Vec<Mount>,
    pub network: Option<NetworkMode>,
    pub security: Option<SecurityMode>,
}

/// A COPY/ADD source: a path (or URL) or an inline heredoc file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Path(String),
    Heredoc(Heredoc),
}

/// COPY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub sources: Vec<Source>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<String>,
}

/// ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Add {
    pub sources: Vec<Source>,
    pub dest: String,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub keep_git_dir: bool,
    pub checksum: Option<String>,
    pub exclude: Vec<String>,
    /// `--unpack`: `None` means the default (unpack local archives only).
    pub unpack: Option<bool>,
}

/// HEALTHCHECK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable any inherited check.
    None,
    Check {
        test: CommandLine,
        interval: Option<Duration>,
        timeout: Option<Duration>,
        start_period: Option<Duration>,
        start_interval: Option<Duration>,
        retries: Option<u32>,
    },
}

/// ONBUILD: a trigger kept as text for images built FROM this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Onbuild {
    /// The trigger, parsed (to catch mistakes now).
    pub trigger: Box<Instruction>,
    /// The trigger as it goes into the image config.
    pub expression: String,
}

/// A typed instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    From(From),
    Run(Run),
    Cmd(CommandLine),
    Entrypoint(CommandLine),
    Shell(Vec<String>),
    Env(Vec<KeyValue>),
    Label(Vec<KeyValue>),
    Maintainer(String),
    Expose(Vec<String>),
    Add(Add),
    Copy(Copy),
    Volume(Vec<String>),
    User(String),
    Workdir(String),
    Arg(Vec<ArgDecl>),
    Onbuild(Onbuild),
    Stopsignal(String),
    Healthcheck(Healthcheck),
}

/// An instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub instruction: Instruction,
    pub start_line: usize,
    pub end_line: usize,
    /// The logical line as written.
    pub original: String,
}

impl Instruction {
    /// The instruction's keyword.
    pub fn keyword(&self) -> Keyword {
        match self {
            Instruction::From(_) => Keyword::From,
            Instruction::Run(_) => Keyword::Run,
            Instruction::Cmd(_) => Keyword::Cmd,
            Instruction::Entrypoint(_) => Keyword::Entrypoint,
            Instruction::Shell(_) => Keyword::Shell,
            Instruction::Env(_) => Keyword::Env,
            Instruction::Label(_) => Keyword::Label,
            Instruction::Maintainer(_) => Keyword::Maintainer,
            Instruction::Expose(_) => Keyword::Expose,
            Instruction::Add(_) => Keyword::Add,
            Instruction::Copy(_) => Keyword::Copy,
            Instruction::Volume(_) => Keyword::Volume,
            Instruction::User(_) => Keyword::User,
            Instruction::Workdir(_) => Keyword::Workdir,
            Instruction::Arg(_) => Keyword::Arg,
            Instruction::Onbuild(_) => Keyword::Onbuild,
            Instruction::Stopsignal(_) => Keyword::Stopsignal,
            Instruction::Healthcheck(_) => Keyword::Healthcheck,
        }
    }
}

/// The flags each instruction accepts (BuildKit's stable set). Instructions
/// not listed take no flags.
pub fn accepted_flags(keyword: Keyword) -> &'static [(&'static str, FlagKind)] {
    const VALUE: FlagKind = FlagKind::String;
    const REPEATED: FlagKind = FlagKind::Strings;
    const SWITCH: FlagKind = FlagKind::Bool;
    match keyword {
        Keyword::From => &[("platform", VALUE)],
        Keyword::Run => &[("mount", REPEATED), ("network", VALUE), ("security", VALUE)],
        Keyword::Copy => &[
            ("from", VALUE),
            ("chown", VALUE),
            ("chmod", VALUE),
            ("link", SWITCH),
            ("parents", SWITCH),
            ("exclude", REPEATED),
        ],
        Keyword::Add => &[
            ("chown", VALUE),
            ("chmod", VALUE),
            ("link", SWITCH),
            ("keep-git-dir", SWITCH),
            ("checksum", VALUE),
            ("exclude", REPEATED),
            ("unpack", SWITCH),
        ],
        Keyword::Healthcheck => &[
            ("interval", VALUE),
            ("timeout", VALUE),
            ("start-period", VALUE),
            ("start-interval", VALUE),
            ("retries", VALUE),
        ],
        _ => &[],
    }
}

fn flags_for(node: &Node) -> Result<ParsedFlags, NodeError> {
    parse_flags(
        node.keyword.as_str(),
        &node.flags,
        accepted_flags(node.keyword),
    )
}

fn count_error(node: &Node, expected: &'static str, hint: &str) -> NodeError {
    NodeError::new(
        ErrorKind::WrongArgumentCount {
            instruction: node.keyword.as_str().into(),
            expected,
        },
        node.keyword_text.clone(),
        hint,
    )
}

fn invalid_flag(node: &Node, flag: &str, value: &str, reason: impl Into<String>) -> NodeError {
    NodeError::new(
        ErrorKind::InvalidFlagValue {
            instruction: node.keyword.as_str().into(),
            flag: flag.into(),
            value: value.into(),
            reason: reason.into(),
        },
        format!("--{flag}"),
        "",
    )
}

fn command_line(node: &Node) -> CommandLine {
    if node.json {
        CommandLine::Exec(node.args.clone())
    } else {
        CommandLine::Shell(node.args.join(" "))
    }
}

fn key_values(node: &Node) -> Result<Vec<KeyValue>, NodeError> {
    if node.args.is_empty() {
        return Err(count_error(
            node,
            "at least one argument",
            "write KEY=VALUE",
        ));
    }
    node.args
        .chunks(2)
        .map(|pair| match pair {
            [k, v] if !k.is_empty() => Ok(KeyValue {
                key: k.clone(),
                value: v.clone(),
            }),
            _ => Err(NodeError::new(
                ErrorKind::BlankName {
                    instruction: node.keyword.as_str().into(),
                },
                "=",
                "give every value a name: KEY=VALUE",
            )),
        })
        .collect()
}

/// Checks `--chmod`: octal (`755`, `0644`) or symbolic (`u=rwX,go=rX`).
pub fn validate_chmod(value: &str) -> Result<(), String> {
    if !value.is_empty() && value.chars().all(|c| c.is_digit(8)) {
        return match u32::from_str_radix(value, 8) {
            Ok(m) if m <= 0o7777 => Ok(()),
            _ => Err("octal modes go up to 7777".into()),
        };
    }
    let clause_ok = |c: &str| {
        let who_len = c.chars().take_while(|ch| "ugoa".contains(*ch)).count();
        let rest = &c[who_len..];
        !rest.is_empty()
            && rest.starts_with(['+', '-', '='])
            && rest.chars().all(|ch| "+-=rwxXst".contains(ch))
    };
    if !value.is_empty() && value.split(',').all(clause_ok) {
        Ok(())
    } else {
        Err("expected an octal mode like 755 or a symbolic one like u=rwX,go=rX".into())
    }
}

/// Checks `--checksum`: `sha256:`, `sha384:` or `sha512:` and the hex digest.
pub fn validate_checksum(value: &str) -> Result<(), String> {
    let (algo, hex) = value
        .split_once(':')
        .ok_or("expected ALGORITHM:HEX, like sha256:…")?;
    let len = match algo {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(format!("unsupported digest algorithm `{algo}`")),
    };
    if hex.len() == len
        && hex
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    {
        Ok(())
    } else {
        Err(format!("a {algo} digest is {len} lowercase hex digits"))
    }
}

fn sources_and_dest(node: &Node) -> Result<(Vec<Source>, String), NodeError> {
    let name = node.keyword.as_str();
    let Some((dest, srcs)) = node.args.split_last().filter(|(_, s)| !s.is_empty()) else {
        return Err(count_error(
            node,
            "at least two arguments: one or more sources and a destination",
            &format!("write {name} SOURCE… DEST"),
        ));
    };
    let is_heredoc = |w: &str| matches!(parse_heredoc(w), Ok(Some(_)));
    if is_heredoc(dest) {
        return Err(NodeError::new(
            ErrorKind::HeredocNotAllowed {
                instruction: name.into(),
                what: "the destination",
            },
            dest.clone(),
            "heredocs can only be sources",
        ));
    }
    let sources = srcs
        .iter()
        .map(|s| match parse_heredoc(s) {
            Ok(Some(h)) => {
                let body = node.heredocs.iter().find(|d| d.name == h.name);
                Source::Heredoc(body.cloned().unwrap_or(h))
            }
            _ => Source::Path(s.clone()),
        })
        .collect();
    Ok((sources, dest.clone()))
}

fn check_flag(
    node: &Node,
    flag: &str,
    value: &Option<String>,
    check: fn(&str) -> Result<(), String>,
) -> Result<(), NodeError> {
    if let Some(v) = value.as_deref().filter(|v| !v.contains('$')) {
        check(v).map_err(|r| invalid_flag(node, flag, v, r))?;
    }
    Ok(())
}

fn duration_flag(
    node: &Node,
    flags: &ParsedFlags,
    flag: &str,
) -> Result<Option<Duration>, NodeError> {
    let Some(v) = flags.string(flag).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let d = go_duration::parse(&v).map_err(|r| invalid_flag(node, flag, &v, r))?;
    if !d.is_zero() && d < Duration::from_millis(1) {
        return Err(invalid_flag(node, flag, &v, "the minimum is 1ms"));
    }
    Ok(Some(d))
}

/// Converts a syntax-tree node into a typed instruction.
pub(crate) fn convert(node: &Node) -> Result<Instruction, NodeError> {
    let flags = flags_for(node)?;
    let args = &node.args;
    let name = node.keyword.as_str();
    let one_arg = |hint: &str| -> Result<String, NodeError> {
        match args.as_slice() {
            [a] => Ok(a.clone()),
            _ => Err(count_error(node, "exactly one argument", hint)),
        }
    };
    Ok(match node.keyword {
        Keyword::From => {
            let stage_name = match args.as_slice() {
                [_] => None,
                [_, as_kw, stage] if as_kw.eq_ignore_ascii_case("as") => {
                    let lower = stage.to_ascii_lowercase();
                    let mut chars = lower.chars();
                    let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
                        && chars.all(|c| {
                            c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c)
                        });
                    if !valid {
                        return Err(NodeError::new(
                            ErrorKind::InvalidStageName {
                                name: stage.clone(),
                            },
                            stage.clone(),
                            "stage names start with a letter and hold only letters, digits, `-`, `_` and `.`",
                        ));
                    }
                    Some(lower)
                }
                _ => {
                    return Err(count_error(
                        node,
                        "either one argument, or three: IMAGE AS NAME",
                        "write FROM IMAGE or FROM IMAGE AS NAME",
                    ))
                }
            };
            Instruction::From(From {
                image: args[0].clone(),
                stage_name,
                platform: flags.string("platform"),
            })
        }
        Keyword::Run => {
            if args.is_empty() && node.heredocs.is_empty() {
                return Err(count_error(node, "a command", "write RUN COMMAND"));
            }
            let mut mounts = Vec::new();
            for spec in flags.strings("mount") {
                let m = Mount::parse(&spec, &|v| Ok(v.to_owned()), true).map_err(|reason| {
                    NodeError::new(
                        ErrorKind::InvalidMount {
                            spec: spec.clone(),
                            reason,
                        },
                        spec.clone(),
                        "write --mount=type=cache,target=/path (see the RUN --mount reference)",
                    )
                })?;
                mounts.push(m);
            }
            let network = match flags.string("network").as_deref() {
                None => None,
                Some("default") => Some(NetworkMode::Default),
                Some("none") => Some(NetworkMode::None),
                Some("host") => Some(NetworkMode::Host),
                Some(o) => return Err(invalid_flag(node, "network", o, "expected default, none or host")),
            };
            let security = match flags.string("security").as_deref() {
                None => None,
                Some("sandbox") => Some(SecurityMode::Sandbox),
                Some("insecure") => Some(SecurityMode::Insecure),
                Some(o) => return Err(invalid_flag(node, "security", o, "expected sandbox or insecure")),
            };
            Instruction::Run(Run {
                command: command_line(node),
                heredocs: node.heredocs.clone(),
                mounts,
                network,
                security,
            })
        }
        Keyword::Cmd => Instruction::Cmd(command_line(node)),
        Keyword::Entrypoint => Instruction::Entrypoint(command_line(node)),
        Keyword::Shell => {
            if !node.json {
                return Err(NodeError::new(
                    ErrorKind::ShellNotJson,
                    node.original.clone(),
                    "write SHELL [\"/bin/bash\", \"-c\"]",
                ));
            }
            if args.is_empty() {
                return Err(count_error(node, "at least one argument", "write SHELL [\"/bin/sh\", \"-c\"]"));
            }
            Instruction::Shell(args.clone())
        }
        Keyword::Env => Instruction::Env(key_values(node)?),
        Keyword::Label => Instruction::Label(key_values(node)?),
        Keyword::Maintainer => Instruction::Maintainer(one_arg("write MAINTAINER NAME (or use LABEL)")?),
        Keyword::Expose => {
            if args.is_empty() {
                return Err(count_error(node, "at least one argument", "write EXPOSE PORT[/PROTOCOL]"));
            }
            Instruction::Expose(args.clone())
        }
        Keyword::Copy => {
            let (sources, dest) = sources_and_dest(node)?;
            let chmod = flags.string("chmod");
            check_flag(node, "chmod", &chmod, validate_chmod)?;
            Instruction::Copy(Copy {
                sources,
                dest,
                from: flags.string("from"),
                chown: flags.string("chown"),
                chmod,
                link: flags.bool("link").unwrap_or(false),
                parents: flags.bool("parents").unwrap_or(false),
                exclude: flags.strings("exclude"),
            })
        }
        Keyword::Add => {
            let (sources, dest) = sources_and_dest(node)?;
            let chmod = flags.string("chmod");
            check_flag(node, "chmod", &chmod, validate_chmod)?;
            let checksum = flags.string("checksum");
            check_flag(node, "checksum", &checksum, validate_checksum)?;
            Instruction::Add(Add {
                sources,
                dest,
                chown: flags.string("chown"),
                chmod,
                link: flags.bool("link").unwrap_or(false),
                keep_git_dir: flags.bool("keep-git-dir").unwrap_or(false),
                checksum,
                exclude: flags.strings("exclude"),
                unpack: flags.bool("unpack"),
            })
        }
        Keyword::Volume => {
            if args.is_empty() {
                return Err(count_error(node, "at least one argument", "write VOLUME /path"));
            }
            if args.iter().any(|a| a.trim().is_empty()) {
                return Err(NodeError::new(ErrorKind::EmptyVolume, node.original.clone(), "remove the empty path"));
            }
            Instruction::Volume(args.clone())
        }
        Keyword::User => Instruction::User(one_arg("write USER NAME[:GROUP]")?),
        Keyword::Workdir => Instruction::Workdir(one_arg("write WORKDIR /path")?),
        Keyword::Stopsignal => Instruction::Stopsignal(one_arg("write STOPSIGNAL SIGTERM")?),
        Keyword::Arg => {
            if args.is_empty() {
                return Err(count_error(node, "at least one argument", "write ARG NAME[=DEFAULT]"));
            }
            let mut decls = Vec::new();
            for word in args {
                let (name, default) = match word.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_owned())),
                    None => (word.as_str(), None),
                };
                if name.is_empty() {
                    return Err(NodeError::new(
                        ErrorKind::BlankName {
                            instruction: "ARG".into(),
                        },
                        word.clone(),
                        "write ARG NAME=DEFAULT",
                    ));
                }
                decls.push(ArgDecl {
                    name: name.to_owned(),
                    default,
                });
            }
            Instruction::Arg(decls)
        }
        Keyword::Onbuild => {
            let Some(sub) = node.onbuild.as_deref() else {
                return Err(count_error(node, "an instruction to run later", "write ONBUILD INSTRUCTION …"));
            };
            if matches!(sub.keyword, Keyword::Onbuild | Keyword::From | Keyword::Maintainer) {
                return Err(NodeError::new(
                    ErrorKind::InvalidOnbuildTrigger {
                        trigger: sub.keyword.as_str().into(),
                    },
                    sub.keyword_text.clone(),
                    "ONBUILD ONBUILD, ONBUILD FROM and ONBUILD MAINTAINER are not allowed",
                ));
            }
            let trigger = convert(sub)?;
            let mut expression = strip_onbuild_prefix(&node.original).to_owned();
            for h in &sub.heredocs {
                expression.push('\n');
                expression.push_str(&h.content);
                expression.push_str(&h.name);
            }
            Instruction::Onbuild(Onbuild {
                trigger: Box::new(trigger),
                expression,
            })
        }
        Keyword::Healthcheck => {
            let Some((kind, rest)) = args.split_first() else {
                return Err(count_error(node, "at least one argument", "write HEALTHCHECK CMD … or HEALTHCHECK NONE"));
            };
            match kind.to_ascii_uppercase().as_str() {
                "NONE" => {
                    if !rest.is_empty() || !node.flags.is_empty() {
                        return Err(NodeError::new(
                            ErrorKind::HealthcheckNoneArgs,
                            node.original.clone(),
                            "write HEALTHCHECK NONE alone",
                        ));
                    }
                    Instruction::Healthcheck(Healthcheck::None)
                }
                "CMD" => {
                    if rest.is_empty() {
                        return Err(NodeError::new(
                            ErrorKind::MissingHealthcheckCommand,
                            kind.clone(),
                            "write HEALTHCHECK CMD curl -f http://localhost/",
                        ));
                    }
                    let test = if node.json {
                        CommandLine::Exec(rest.to_vec())
                    } else {
                        CommandLine::Shell(rest.join(" "))
                    };
                    let retries = match flags.string("retries").filter(|v| !v.is_empty()) {
                        None => None,
                        Some(v) => Some(v.parse::<u32>().ok().filter(|&r| r <= i32::MAX as u32).ok_or_else(
                            || invalid_flag(node, "retries", &v, "expected a whole number, 0 or more"),
                        )?),
                    };
                    Instruction::Healthcheck(Healthcheck::Check {
                        test,
                        interval: duration_flag(node, &flags, "interval")?,
                        timeout: duration_flag(node, &flags, "timeout")?,
                        start_period: duration_flag(node, &flags, "start-period")?,
                        start_interval: duration_flag(node, &flags, "start-interval")?,
                        retries,
                    })
                }
                _ => {
                    return Err(NodeError::new(
                        ErrorKind::UnknownHealthcheckType { kind: kind.clone() },
                        kind.clone(),
                        "the type is CMD or NONE",
                    ))
                }
            }
        }
    })
    .inspect(|_| tracing::trace!(instruction = name, "converted"))
}

/// The original line without its leading `ONBUILD` keyword.
fn strip_onbuild_prefix(original: &str) -> &str {
    let t = original.trim_start();
    match t.get(..7) {
        Some(k) if k.eq_ignore_ascii_case("onbuild") => t[7..].trim_start(),
        _ => t,
    }
}

/// Expands words with a lexer and a variable lookup; errors name the word.
pub(crate) struct Expander<'a> {
    pub lexer: Lexer,
    pub vars: &'a dyn VarLookup,
}

impl Expander<'_> {
    /// One word.
    pub(crate) fn word(&self, w: &str) -> Result<String, NodeError> {
        self.lexer
            .process_word(w, self.vars)
            .map_err(|source| expansion_error(w, source))
    }

    /// Shell-split words.
    pub(crate) fn words(&self, w: &str) -> Result<Vec<String>, NodeError> {
        self.lexer
            .process_words(w, self.vars)
            .map_err(|source| expansion_error(w, source))
    }

    fn opt(&self, w: &Option<String>) -> Result<Option<String>, NodeError> {
        w.as_deref().map(|v| self.word(v)).transpose()
    }

    fn sources(&self, sources: &[Source]) -> Result<Vec<Source>, NodeError> {
        sources
            .iter()
            .map(|s| match s {
                Source::Path(p) => Ok(Source::Path(self.word(p)?)),
                Source::Heredoc(h) if h.expand => {
                    let body = Lexer {
                        skip_process_quotes: true,
                        ..self.lexer
                    };
                    let content = body
                        .process_word(&h.content, self.vars)
                        .map_err(|source| expansion_error(&h.name, source))?;
                    Ok(Source::Heredoc(Heredoc {
                        content,
                        ..h.clone()
                    }))
                }
                Source::Heredoc(h) => Ok(Source::Heredoc(h.clone())),
            })
            .collect()
    }
}

fn expansion_error(word: &str, source: super::shell_lexer::ExpansionError) -> NodeError {
    NodeError::new(
        ErrorKind::Expansion {
            word: word.into(),
            source,
        },
        word,
        "check the ${…} syntax and quotes; write \\$ for a literal dollar",
    )
}

impl Instruction {
    /// The instruction with its words expanded, for the instructions the
    /// builder expands; others are returned unchanged. FROM is expanded by
    /// the resolver with the global scope, not here.
    pub(crate) fn expand(&self, ex: &Expander<'_>) -> Result<Instruction, NodeError> {
        let kvs = |kvs: &[KeyValue]| -> Result<Vec<KeyValue>, NodeError> {
            kvs.iter()
                .map(|kv| {
                    Ok(KeyValue {
                        key: ex.word(&kv.key)?,
                        value: ex.word(&kv.value)?,
                    })
                })
                .collect()
        };
        Ok(match self {
            Instruction::Env(v) => Instruction::Env(kvs(v)?),
            Instruction::Label(v) => Instruction::Label(kvs(v)?),
            Instruction::Arg(decls) => Instruction::Arg(
                decls
                    .iter()
                    .map(|d| {
                        Ok(ArgDecl {
                            name: ex.word(&d.name)?,
                            default: ex.opt(&d.default)?,
                        })
                    })
                    .collect::<Result<_, NodeError>>()?,
            ),
            Instruction::Expose(ports) => {
                let mut out = Vec::new();
                for p in ports {
                    out.extend(ex.words(p)?);
                }
                Instruction::Expose(out)
            }
            Instruction::Volume(v) => {
                Instruction::Volume(v.iter().map(|p| ex.word(p)).collect::<Result<_, _>>()?)
            }
            Instruction::User(u) => Instruction::User(ex.word(u)?),
            Instruction::Workdir(w) => Instruction::Workdir(ex.word(w)?),
            Instruction::Stopsignal(s) => Instruction::Stopsignal(ex.word(s)?),
            Instruction::Copy(c) => Instruction::Copy(Copy {
                sources: ex.sources(&c.sources)?,
                dest: ex.word(&c.dest)?,
                from: ex.opt(&c.from)?,
                chown: ex.opt(&c.chown)?,
                chmod: ex.opt(&c.chmod)?,
                link: c.link,
                parents: c.parents,
                exclude: c
                    .exclude
                    .iter()
                    .map(|e| ex.word(e))
                    .collect::<Result<_, _>>()?,
            }),
            Instruction::Add(a) => Instruction::Add(Add {
                sources: ex.sources(&a.sources)?,
                dest: ex.word(&a.dest)?,
                chown: ex.opt(&a.chown)?,
                chmod: ex.opt(&a.chmod)?,
                checksum: ex.opt(&a.checksum)?,
                exclude: a
                    .exclude
                    .iter()
                    .map(|e| ex.word(e))
                    .collect::<Result<_, _>>()?,
                ..a.clone()
            }),
            Instruction::Run(r) => {
                let mut mounts = Vec::new();
                for m in &r.mounts {
                    let expand =
                        |v: &str| ex.lexer.process_word(v, ex.vars).map_err(|e| e.to_string());
                    mounts.push(Mount::parse(&m.spec, &expand, false).map_err(|reason| {
                        NodeError::new(
                            ErrorKind::InvalidMount {
                                spec: m.spec.clone(),
                                reason,
                            },
                            m.spec.clone(),
                            "check the values substituted into --mount",
                        )
                    })?);
                }
                Instruction::Run(Run {
                    mounts,
                    ..r.clone()
                })
            }
            other => other.clone(),
        })
    }
}
