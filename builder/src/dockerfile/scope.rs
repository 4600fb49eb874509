//! Variable scoping and expansion across a build: global ARGs, build args,
//! ENV and ARG inside stages, predefined arguments, and which stages a
//! target needs.
//!
//! The rules (BuildKit's):
//! - ARGs before the first FROM are global: usable in FROM lines; a stage
//!   sees one only after redeclaring `ARG NAME` (it then gets the global
//!   value unless the build arg overrides it).
//! - `--build-arg` overrides the default of a declared ARG; an ARG with
//!   neither a default nor a build arg is unset.
//! - ENV overrides ARG of the same name.
//! - One instruction sees the values from before it throughout
//!   (`ENV a=1 b=$a` gives b the old a).
//! - `TARGETPLATFORM`, `TARGETOS`, `TARGETARCH`, `TARGETVARIANT` and the
//!   `BUILD*` twins are global; the proxy args (`HTTP_PROXY`, …) reach RUN
//!   without being declared and stay out of the scope used for expansion.
//! - Build args no needed stage declares are reported as unused.
//!
//! Stages are resolved on demand from the target, so base images of stages
//! the target doesn't need are never looked up.

use std::collections::{BTreeMap, BTreeSet};

use super::ast::Dockerfile;
use super::error::{Error, ErrorKind, Location};
use super::instructions::{
    validate_checksum, validate_chmod, Command, Expander, Instruction, Source,
};
use super::parser::NodeError;
use super::platform::Platform;
use super::shell_lexer::{Lexer, VarLookup};
use super::stages::{locate_error, Stages};

/// The proxy arguments usable without an ARG line.
pub const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Whether `name` is a predefined argument (never reported unused).
pub fn is_predefined_arg(name: &str) -> bool {
    PROXY_ARGS.contains(&name)
        || is_platform_arg(name)
        || name == "SOURCE_DATE_EPOCH"
        || name.starts_with("BUILDKIT_")
}

fn is_platform_arg(name: &str) -> bool {
    ["TARGET", "BUILD"].iter().any(|p| {
        name.strip_prefix(p)
            .is_some_and(|s| matches!(s, "PLATFORM" | "OS" | "ARCH" | "VARIANT"))
    })
}

/// What the caller of a build decides.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// `--build-arg` values in command-line order; `None` for a bare
    /// `--build-arg K` whose value was not found in the environment.
    pub build_args: Vec<(String, Option<String>)>,
    /// `--target`: the stage to build (default: the last one).
    pub target: Option<String>,
    pub target_platform: Platform,
    pub build_platform: Platform,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            build_args: Vec::new(),
            target: None,
            target_platform: Platform::linux_amd64(),
            build_platform: Platform::linux_amd64(),
        }
    }
}

impl BuildOptions {
    /// Reads `--build-arg` values: `K=V`, or `K` alone, which takes its value
    /// from `env` (the process environment for the CLI) as docker does.
    pub fn parse_build_args<'a>(
        args: impl IntoIterator<Item = &'a str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Vec<(String, Option<String>)> {
        args.into_iter()
            .map(|a| match a.split_once('=') {
                Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                None => (a.to_owned(), env(a)),
            })
            .collect()
    }
}

/// Looks up the environment of base images.
pub trait BaseImages {
    /// The `Env` of `image`'s config, as `(name, value)` pairs.
    fn env(
        &mut self,
        image: &str,
        platform: Option<&Platform>,
    ) -> Result<Vec<(String, String)>, String>;

    /// The `OnBuild` triggers of `image`'s config, run once right after FROM.
    fn onbuild(
        &mut self,
        _image: &str,
        _platform: Option<&Platform>,
    ) -> Result<Vec<String>, String> {
        Ok(Vec::new())
    }
}

/// Base images with an empty environment (no store; for tests and `--check`).
pub struct NoBaseImages;

impl BaseImages for NoBaseImages {
    fn env(&mut self, _: &str, _: Option<&Platform>) -> Result<Vec<(String, String)>, String> {
        Ok(Vec::new())
    }
}

/// What a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseRef {
    Scratch,
    /// An earlier stage, by index.
    Stage(usize),
    /// An image reference (expanded).
    Image(String),
}

/// One expanded instruction with the scope it runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub command: Command,
    /// ENV in effect when the step runs (before its own changes).
    pub env: Vec<(String, String)>,
    /// ARGs in scope with a value, not shadowed by ENV.
    pub args: Vec<(String, String)>,
}

/// A stage with every word expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedStage {
    pub index: usize,
    pub name: Option<String>,
    pub base: BaseRef,
    pub platform: Option<Platform>,
    pub steps: Vec<Step>,
    /// ENV at the end of the stage.
    pub env: Vec<(String, String)>,
    /// Stages this one reads from: its base and `--from` references.
    pub deps: Vec<usize>,
    /// How many leading steps are the base image's ONBUILD triggers.
    pub triggers: usize,
}

/// The outcome of resolving a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The stages the target needs, by index order.
    pub stages: Vec<ResolvedStage>,
    /// Index of the target stage.
    pub target: usize,
    /// Global arguments (predefined and declared before FROM) with values.
    pub global_args: Vec<(String, String)>,
    /// Proxy build args, for RUN's environment only.
    pub proxy_env: Vec<(String, String)>,
    /// Build args that no needed stage declares.
    pub unused_build_args: Vec<String>,
}

impl Resolved {
    /// A resolved stage by index.
    pub fn stage(&self, index: usize) -> Option<&ResolvedStage> {
        self.stages.iter().find(|s| s.index == index)
    }
}

/// An ordered name → value map where setting a name replaces its value.
#[derive(Debug, Clone, Default)]
struct Vars(Vec<(String, String)>);

impl Vars {
    fn set(&mut self, k: &str, v: String) {
        match self.0.iter_mut().find(|(n, _)| n == k) {
            Some(slot) => slot.1 = v,
            None => self.0.push((k.to_owned(), v)),
        }
    }
    fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
}

impl VarLookup for Vars {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name)
    }
}

/// ENV first, then ARGs.
struct StageVars<'a> {
    env: &'a Vars,
    args: &'a BTreeMap<String, Option<String>>,
}

impl VarLookup for StageVars<'_> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.env
            .get(name)
            .or_else(|| self.args.get(name).and_then(|v| v.as_deref()))
    }
}

struct Resolver<'a> {
    df: &'a Dockerfile,
    stages: &'a Stages,
    lexer: Lexer,
    build_args: BTreeMap<String, Option<String>>,
    global: Vars,
    meta_declared: BTreeSet<String>,
    used: BTreeSet<String>,
}

/// Resolves the stages `opts.target` needs, expanding every word.
pub fn resolve(
    df: &Dockerfile,
    stages: &Stages,
    opts: &BuildOptions,
    images: &mut dyn BaseImages,
) -> Result<Resolved, Error> {
    let mut r = Resolver {
        df,
        stages,
        lexer: Lexer::new(df.directives.escape),
        build_args: opts.build_args.iter().cloned().collect(),
        global: Vars::default(),
        meta_declared: BTreeSet::new(),
        used: BTreeSet::new(),
    };
    for (k, v) in opts
        .target_platform
        .args("TARGET")
        .into_iter()
        .chain(opts.build_platform.args("BUILD"))
    {
        r.global.set(&k, v);
    }
    r.global_args()?;

    let target = match &opts.target {
        None => stages.stages.len().saturating_sub(1),
        Some(t) => {
            let lower = t.to_ascii_lowercase();
            stages
                .stages
                .iter()
                .position(|s| s.name() == Some(lower.as_str()))
                .ok_or_else(|| {
                    let names: Vec<&str> = stages.stages.iter().filter_map(|s| s.name()).collect();
                    Error {
                        at: Location {
                            file: df.file.clone(),
                            line: 1,
                            col: 1,
                        },
                        kind: Box::new(ErrorKind::UnknownTarget { target: t.clone() }),
                        text: t.clone(),
                        hint: if names.is_empty() {
                            "no stage has a name; name one with FROM IMAGE AS NAME".into()
                        } else {
                            format!("the named stages are: {}", names.join(", "))
                        },
                    }
                })?
        }
    };

    // Resolve on demand: a stage whose base is an unresolved stage waits for
    // it (bases are always earlier stages, so this ends).
    let n = stages.stages.len();
    let mut done: Vec<Option<ResolvedStage>> = vec![None; n];
    let mut work = vec![target];
    while let Some(i) = work.pop() {
        if done[i].is_some() {
            continue;
        }
        let (base, platform) = r.stage_base(i)?;
        if let BaseRef::Stage(j) = base {
            if done[j].is_none() {
                work.push(i);
                work.push(j);
                continue;
            }
        }
        let base_error = |image: &String, reason: String| {
            r.error_at(
                stages.stages[i].from_line,
                stages.stages[i].from_line,
                NodeError::new(
                    ErrorKind::BaseImage {
                        image: image.clone(),
                        reason,
                    },
                    stages.stages[i].from.image.clone(),
                    "load it first with `hoist load -i IMAGE.tar`",
                ),
            )
        };
        let base_env = match &base {
            BaseRef::Scratch => Vec::new(),
            BaseRef::Stage(j) => done[*j].as_ref().map(|s| s.env.clone()).unwrap_or_default(),
            BaseRef::Image(image) => images
                .env(image, platform.as_ref())
                .map_err(|reason| base_error(image, reason))?,
        };
        let triggers = match &base {
            BaseRef::Scratch => Vec::new(),
            BaseRef::Stage(j) => done[*j]
                .as_ref()
                .map(|s| {
                    s.steps
                        .iter()
                        .filter_map(|st| match &st.command.instruction {
                            Instruction::Onbuild(o) => Some(o.expression.clone()),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            BaseRef::Image(image) => images
                .onbuild(image, platform.as_ref())
                .map_err(|reason| base_error(image, reason))?,
        };
        let trigger_commands = r.trigger_commands(i, &triggers)?;
        let stage = r.stage_body(i, base, platform, base_env, trigger_commands)?;
        work.extend(stage.deps.iter().copied().filter(|&d| done[d].is_none()));
        done[i] = Some(stage);
    }
    let resolved: Vec<ResolvedStage> = done.into_iter().flatten().collect();
    r.check_cycles(&resolved)?;

    let provided: BTreeSet<&String> = r.build_args.keys().collect();
    let unused_build_args: Vec<String> = provided
        .into_iter()
        .filter(|k| !r.used.contains(*k) && !is_predefined_arg(k))
        .cloned()
        .collect();
    if !unused_build_args.is_empty() {
        tracing::warn!(args = ?unused_build_args, "build args were not consumed");
    }
    let proxy_env = PROXY_ARGS
        .iter()
        .filter_map(|&p| {
            r.build_args
                .get(p)
                .and_then(|v| v.clone())
                .map(|v| (p.to_owned(), v))
        })
        .collect();
    Ok(Resolved {
        stages: resolved,
        target,
        global_args: r.global.0,
        proxy_env,
        unused_build_args,
    })
}

impl Resolver<'_> {
    fn error_at(&self, start: usize, end: usize, e: NodeError) -> Error {
        locate_error(self.df, start, end, e)
    }

    fn build_arg(&self, name: &str) -> Option<String> {
        self.build_args.get(name).cloned().flatten()
    }

    /// Global ARGs, in order; each line sees the values from before it.
    fn global_args(&mut self) -> Result<(), Error> {
        for (_, command) in &self.stages.meta_args {
            let ex = Expander {
                lexer: self.lexer,
                vars: &self.global,
            };
            let expanded = command
                .instruction
                .expand(&ex)
                .map_err(|e| self.error_at(command.start_line, command.end_line, e))?;
            let Instruction::Arg(decls) = expanded else {
                continue;
            };
            for d in decls {
                self.meta_declared.insert(d.name.clone());
                self.used.insert(d.name.clone());
                if let Some(v) = self.build_arg(&d.name).or(d.default) {
                    self.global.set(&d.name, v);
                }
            }
        }
        Ok(())
    }

    /// Expands stage `i`'s FROM line with the global scope.
    fn stage_base(&self, i: usize) -> Result<(BaseRef, Option<Platform>), Error> {
        let stage = &self.stages.stages[i];
        let line = stage.from_line;
        let ex = Expander {
            lexer: self.lexer,
            vars: &self.global,
        };
        let image = ex
            .word(&stage.from.image)
            .map_err(|e| self.error_at(line, line, e))?;
        let platform = match &stage.from.platform {
            None => None,
            Some(p) => {
                let v = ex.word(p).map_err(|e| self.error_at(line, line, e))?;
                Some(Platform::parse(&v).map_err(|reason| {
                    self.error_at(
                        line,
                        line,
                        NodeError::new(
                            ErrorKind::InvalidPlatform {
                                value: v.clone(),
                                reason,
                            },
                            "--platform",
                            "write --platform=linux/amd64",
                        ),
                    )
                })?)
            }
        };
        if image.is_empty() {
            return Err(self.error_at(
                line,
                line,
                NodeError::new(
                    ErrorKind::WrongArgumentCount {
                        instruction: "FROM".into(),
                        expected: "a non-empty image name",
                    },
                    stage.from.image.clone(),
                    "declare the ARG used in FROM before the first FROM, with a default",
                ),
            ));
        }
        let lower = image.to_ascii_lowercase();
        let base = if lower == "scratch" {
            BaseRef::Scratch
        } else if let Some(j) = self.stages.stages[..i]
            .iter()
            .position(|s| s.name() == Some(lower.as_str()))
        {
            BaseRef::Stage(j)
        } else {
            BaseRef::Image(image)
        };
        Ok((base, platform))
    }

    /// Resolves a `--from` (or mount `from=`) reference to a stage index.
    fn stage_ref(&self, reference: &str) -> Result<Option<usize>, ErrorKind> {
        let lower = reference.to_ascii_lowercase();
        if let Some(j) = self
            .stages
            .stages
            .iter()
            .position(|s| s.name() == Some(lower.as_str()))
        {
            return Ok(Some(j));
        }
        if !reference.is_empty() && reference.chars().all(|c| c.is_ascii_digit()) {
            return match reference.parse::<usize>() {
                Ok(j) if j < self.stages.stages.len() => Ok(Some(j)),
                _ => Err(ErrorKind::StageIndexOutOfRange {
                    reference: reference.into(),
                }),
            };
        }
        Ok(None)
    }

    /// Parses a base image's ONBUILD triggers into commands placed at the
    /// stage's FROM line.
    fn trigger_commands(&self, i: usize, triggers: &[String]) -> Result<Vec<Command>, Error> {
        let line = self.stages.stages[i].from_line;
        let mut out = Vec::new();
        for t in triggers {
            let text = format!("FROM scratch\n{t}\n");
            let parsed = super::parser::parse(&text, "ONBUILD trigger")
                .and_then(|df| super::stages::build_stages(&df))
                .and_then(|st| {
                    let bad = st.stages.len() != 1
                        || st.stages.iter().flat_map(|s| &s.commands).any(|c| {
                            matches!(
                                c.instruction,
                                Instruction::Onbuild(_) | Instruction::Maintainer(_)
                            )
                        });
                    if bad {
                        Err(Error {
                            at: Location {
                                file: "ONBUILD trigger".into(),
                                line: 2,
                                col: 1,
                            },
                            kind: Box::new(ErrorKind::InvalidOnbuildTrigger { trigger: t.clone() }),
                            text: t.clone(),
                            hint: String::new(),
                        })
                    } else {
                        Ok(st)
                    }
                });
            let stages = parsed.map_err(|e| {
                self.error_at(
                    line,
                    line,
                    NodeError::new(
                        ErrorKind::InvalidOnbuildTrigger { trigger: t.clone() },
                        t.clone(),
                        format!("the base image's ONBUILD trigger does not parse: {e}"),
                    ),
                )
            })?;
            for mut c in stages.stages.into_iter().flat_map(|s| s.commands) {
                c.start_line = line;
                c.end_line = line;
                out.push(c);
            }
        }
        Ok(out)
    }

    fn stage_body(
        &mut self,
        i: usize,
        base: BaseRef,
        platform: Option<Platform>,
        base_env: Vec<(String, String)>,
        triggers: Vec<Command>,
    ) -> Result<ResolvedStage, Error> {
        let stage = &self.stages.stages[i];
        let trigger_count = triggers.len();
        let mut env = Vars::default();
        for (k, v) in base_env {
            env.set(&k, v);
        }
        let mut args: BTreeMap<String, Option<String>> = BTreeMap::new();
        let mut steps = Vec::with_capacity(stage.commands.len());
        let mut deps: Vec<usize> = Vec::new();
        if let BaseRef::Stage(j) = base {
            deps.push(j);
        }
        for command in triggers.iter().chain(&stage.commands) {
            let (start, end) = (command.start_line, command.end_line);
            let vars = StageVars {
                env: &env,
                args: &args,
            };
            let ex = Expander {
                lexer: self.lexer,
                vars: &vars,
            };
            let instruction = command
                .instruction
                .expand(&ex)
                .map_err(|e| self.error_at(start, end, e))?;
            self.validate(&instruction)
                .map_err(|e| self.error_at(start, end, e))?;
            let step_args: Vec<(String, String)> = args
                .iter()
                .filter(|(k, _)| env.get(k).is_none())
                .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
                .collect();
            let step_env = env.0.clone();

            // Stage references.
            let mut refs: Vec<String> = Vec::new();
            match &instruction {
                Instruction::Copy(c) => refs.extend(c.from.clone()),
                Instruction::Run(r) => refs.extend(r.mounts.iter().filter_map(|m| m.from.clone())),
                _ => {}
            }
            for reference in refs {
                let found = self.stage_ref(&reference).map_err(|kind| {
                    self.error_at(
                        start,
                        end,
                        NodeError::new(kind, reference.clone(), "stage indexes count from 0"),
                    )
                })?;
                if let Some(j) = found {
                    if !deps.contains(&j) {
                        deps.push(j);
                    }
                }
            }

            // Effects on the scope.
            match &instruction {
                Instruction::Env(kvs) => {
                    for kv in kvs {
                        env.set(&kv.key, kv.value.clone());
                    }
                }
                Instruction::Arg(decls) => {
                    for d in decls {
                        self.used.insert(d.name.clone());
                        let inherited = (self.meta_declared.contains(&d.name)
                            || is_platform_arg(&d.name))
                        .then(|| self.global.get(&d.name).map(str::to_owned))
                        .flatten();
                        let value = self.build_arg(&d.name).or(d.default.clone()).or(inherited);
                        args.insert(d.name.clone(), value);
                    }
                }
                _ => {}
            }
            steps.push(Step {
                command: Command {
                    instruction,
                    ..command.clone()
                },
                env: step_env,
                args: step_args,
            });
        }
        Ok(ResolvedStage {
            index: i,
            name: stage.from.stage_name.clone(),
            base,
            platform,
            steps,
            env: env.0,
            deps,
            triggers: trigger_count,
        })
    }

    /// Checks values that can only be checked once expanded.
    fn validate(&self, instruction: &Instruction) -> Result<(), NodeError> {
        let flag = |flag: &str, v: &str, r: String, name: &str| {
            NodeError::new(
                ErrorKind::InvalidFlagValue {
                    instruction: name.into(),
                    flag: flag.into(),
                    value: v.into(),
                    reason: r,
                },
                format!("--{flag}"),
                "",
            )
        };
        match instruction {
            Instruction::Copy(c) => {
                if let Some(m) = &c.chmod {
                    validate_chmod(m).map_err(|r| flag("chmod", m, r, "COPY"))?;
                }
            }
            Instruction::Add(a) => {
                if let Some(m) = &a.chmod {
                    validate_chmod(m).map_err(|r| flag("chmod", m, r, "ADD"))?;
                }
                if let Some(c) = &a.checksum {
                    validate_checksum(c).map_err(|r| flag("checksum", c, r, "ADD"))?;
                }
                if a.checksum.is_some()
                    && a.sources.iter().any(|s| match s {
                        Source::Path(p) => !p.starts_with("http://") && !p.starts_with("https://"),
                        Source::Heredoc(_) => true,
                    })
                {
                    return Err(flag(
                        "checksum",
                        a.checksum.as_deref().unwrap_or_default(),
                        "--checksum only applies to http(s) sources".into(),
                        "ADD",
                    ));
                }
            }
            Instruction::Expose(ports) => {
                for p in ports {
                    validate_port(p).map_err(|reason| {
                        NodeError::new(
                            ErrorKind::InvalidPort {
                                value: p.clone(),
                                reason,
                            },
                            p.clone(),
                            "write EXPOSE 80, 80/udp or 8000-8010/tcp",
                        )
                    })?;
                }
            }
            Instruction::Stopsignal(s) if !is_signal(s) => {
                return Err(NodeError::new(
                    ErrorKind::InvalidSignal { value: s.clone() },
                    s.clone(),
                    "write a signal name like SIGTERM or a number like 15",
                ));
            }
            _ => {}
        }
        Ok(())
    }

    /// Rejects cycles among the needed stages (`COPY --from` loops).
    fn check_cycles(&self, resolved: &[ResolvedStage]) -> Result<(), Error> {
        let deps_of = |i: usize| -> &[usize] {
            resolved
                .iter()
                .find(|s| s.index == i)
                .map_or(&[], |s| s.deps.as_slice())
        };
        // 0 unvisited, 1 on the stack, 2 finished. Iterative DFS.
        let mut color = vec![0u8; self.stages.stages.len()];
        for start in resolved.iter().map(|s| s.index) {
            if color[start] != 0 {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            color[start] = 1;
            while let Some((node, next)) = stack.pop() {
                let deps = deps_of(node);
                if let Some(&d) = deps.get(next) {
                    stack.push((node, next + 1));
                    match color[d] {
                        0 => {
                            color[d] = 1;
                            stack.push((d, 0));
                        }
                        1 => {
                            let stage = &self.stages.stages[node];
                            let name = |k: usize| {
                                self.stages.stages[k]
                                    .name()
                                    .map_or_else(|| k.to_string(), str::to_owned)
                            };
                            return Err(self.error_at(
                                stage.from_line,
                                stage.from_line,
                                NodeError::new(
                                    ErrorKind::StageCycle {
                                        stage: name(d),
                                        via: format!("stage `{}`", name(node)),
                                    },
                                    String::new(),
                                    "a stage can't copy from a stage that depends on it",
                                ),
                            ));
                        }
                        _ => {}
                    }
                } else {
                    color[node] = 2;
                }
            }
        }
        Ok(())
    }
}

/// `PORT`, `PORT/PROTO` or `START-END[/PROTO]`.
fn validate_port(p: &str) -> Result<(), String> {
    let (ports, proto) = match p.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (p, None),
    };
    if let Some(proto) = proto {
        if !["tcp", "udp", "sctp"].contains(&proto.to_ascii_lowercase().as_str()) {
            return Err(format!("unknown protocol `{proto}` (tcp, udp or sctp)"));
        }
    }
    let num = |s: &str| {
        s.parse::<u16>()
            .map_err(|_| format!("`{s}` is not a port number"))
    };
    match ports.split_once('-') {
        Some((a, b)) => {
            if num(a)? > num(b)? {
                return Err("the range's start is after its end".into());
            }
        }
        None => {
            num(ports)?;
        }
    }
    Ok(())
}

/// A Linux signal name (with or without `SIG`), `RTMIN+n`, or a number.
fn is_signal(s: &str) -> bool {
    if let Ok(n) = s.parse::<u32>() {
        return (1..=64).contains(&n);
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    const NAMES: [&str; 33] = [
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
        "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM",
        "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU",
    ];
    if NAMES.contains(&name) || name == "XFSZ" || name == "UNUSED" {
        return true;
    }
    for base in ["RTMIN", "RTMAX"] {
        if let Some(rest) = name.strip_prefix(base) {
            if rest.is_empty() {
                return true;
            }
            let offset = rest.strip_prefix('+').or_else(|| rest.strip_prefix('-'));
            return offset
                .and_then(|o| o.parse::<u32>().ok())
                .is_some_and(|o| o <= 30);
        }
    }
    false
}
