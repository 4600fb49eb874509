//! keel-check: verifies, from inside a container, that the kernel state of the
//! process matches the OCI spec it was started with.
//!
//! It reads the spec from `/keel-spec.json` (the tests copy config.json
//! there), inspects /proc and the filesystem, and prints TAP:
//! `ok N - name`, `not ok N - name # detail`, `ok N - name # SKIP reason`.
//! It must never trust the runtime's own reports, only the kernel's.
//!
//! Usage: `keel-check [--spec FILE] all|CHECK… [EXPECTATION…]` where CHECK is
//! a spec check name or a prefix of one (`process` selects every
//! `process.*`), and EXPECTATION is one of `fds=0,1,2`, `ns.TYPE=INODE`,
//! `ns.TYPE!=INODE`, `pid=N`, `cwd-inside`, `mounted=PATH`, `exists=PATH`,
//! `absent=PATH`; `skip=CHECK` drops checks selected so far or later.
//!
//! More expectations, for the conformance suite:
//! - `content=PATH=VALUE` (the file's trimmed text), `contains=PATH=TEXT`,
//!   `lacks=PATH=TEXT`;
//! - `status=FIELD=VALUE` (a /proc/self/status field);
//! - `syscall=NAME:ARGS:WANT` (probe a syscall; ARGS comma-separated
//!   integers; WANT `ok` or an errno name or number);
//! - `open=PATH:r|w|rw:WANT`, `write=PATH:WANT`, `mknod=PATH:c|b:MAJ:MIN:WANT`;
//! - `mountopt=PATH=OPT,!OPT…` (per-mount, superblock or propagation options
//!   of the topmost mount at PATH);
//! - `netdevs=lo,…` (the interfaces in /proc/net/dev);
//! - `cgroup-root`, `cgroup-path=PATH` (/proc/self/cgroup);
//! - `cgfile=CTRL/FILE=VALUE` (a file of the process's own v1 cgroup);
//! - `forks-fail-before=N` (a fork fails before N children exist);
//! - `machine=NAME` (uname), `clock=monotonic|boottime>=SECS`;
//! - `tty=0,1,2` (which descriptors are terminals), `notty=0,1,2`.

pub mod parse;
pub mod spec;

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use crate::sys;
use parse::MountEntry;
use spec::Spec;

/// The default place of the spec inside the container.
pub const SPEC_PATH: &str = "/keel-spec.json";

/// The result of one TAP test point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

impl Outcome {
    fn from_problems(p: Vec<String>) -> Self {
        if p.is_empty() {
            Outcome::Pass
        } else {
            Outcome::Fail(p.join("; "))
        }
    }
}

impl From<Result<(), String>> for Outcome {
    fn from(r: Result<(), String>) -> Self {
        match r {
            Ok(()) => Outcome::Pass,
            Err(e) => Outcome::Fail(e),
        }
    }
}

/// A TAP writer that counts failures.
pub struct Tap<W: Write> {
    out: W,
    n: usize,
    failed: usize,
}

impl<W: Write> Tap<W> {
    pub fn new(mut out: W) -> Self {
        let _ = writeln!(out, "TAP version 13");
        Tap {
            out,
            n: 0,
            failed: 0,
        }
    }

    pub fn record(&mut self, name: &str, outcome: Outcome) {
        self.n += 1;
        let one_line = |s: &str| s.replace('\n', " ");
        let _ = match outcome {
            Outcome::Pass => writeln!(self.out, "ok {} - {name}", self.n),
            Outcome::Skip(why) => {
                writeln!(self.out, "ok {} - {name} # SKIP {}", self.n, one_line(&why))
            }
            Outcome::Fail(why) => {
                self.failed += 1;
                writeln!(self.out, "not ok {} - {name} # {}", self.n, one_line(&why))
            }
        };
    }

    /// Write the plan and return the exit code: 0 iff nothing failed.
    pub fn finish(mut self) -> i32 {
        let _ = writeln!(self.out, "1..{}", self.n);
        let _ = self.out.flush();
        i32::from(self.failed > 0 || self.n == 0)
    }
}

/// What the checks can see: the spec and lazily read kernel state.
pub struct Ctx {
    pub spec: Spec,
    mounts: Result<Vec<MountEntry>, String>,
    status: Result<String, String>,
}

impl Ctx {
    pub fn new(spec: Spec) -> Self {
        let mounts = fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| format!("read /proc/self/mountinfo: {e}"))
            .and_then(|t| parse::parse_mountinfo(&t));
        let status = fs::read_to_string("/proc/self/status")
            .map_err(|e| format!("read /proc/self/status: {e}"));
        Ctx {
            spec,
            mounts,
            status,
        }
    }

    fn mounts(&self) -> Result<&[MountEntry], String> {
        self.mounts.as_deref().map_err(Clone::clone)
    }

    fn status(&self) -> Result<&str, String> {
        self.status.as_deref().map_err(Clone::clone)
    }

    fn process(&self) -> Option<&spec::Process> {
        self.spec.process.as_ref()
    }

    fn linux(&self) -> Option<&spec::Linux> {
        self.spec.linux.as_ref()
    }

    fn euid(&self) -> Result<u32, String> {
        let uid = parse::status_field(self.status()?, "Uid").ok_or("no Uid in status")?;
        uid.split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad Uid line {uid:?}"))
    }
}

type CheckFn = fn(&Ctx, &mut dyn FnMut(&str, Outcome));

/// Every spec-driven check, in the order `all` runs them.
pub const CHECKS: &[(&str, CheckFn)] = &[
    ("process.args", check_args),
    ("process.env", check_env),
    ("process.cwd", check_cwd),
    ("process.user", check_user),
    ("process.umask", check_umask),
    ("process.rlimits", check_rlimits),
    ("process.capabilities", check_caps),
    ("process.noNewPrivileges", check_nnp),
    ("process.oomScoreAdj", check_oom),
    ("hostname", check_hostname),
    ("domainname", check_domainname),
    ("sysctl", check_sysctl),
    ("mounts", check_mounts),
    ("root.readonly", check_root_readonly),
    ("maskedPaths", check_masked),
    ("readonlyPaths", check_readonly_paths),
    ("devices.default", check_default_devices),
    ("devices.links", check_dev_links),
    ("devices", check_devices),
    ("idmaps", check_idmaps),
    ("timeOffsets", check_time_offsets),
    ("personality", check_personality),
    ("rootfsPropagation", check_propagation),
    ("terminal", check_terminal),
    ("consoleSize", check_console_size),
];

const USAGE: &str =
    "usage: keel-check [--spec FILE] all|CHECK... [skip=CHECK] [fds=0,1,2] [ns.TYPE=INODE] \
[ns.TYPE!=INODE] [pid=N] [cwd-inside] [mounted=PATH] [exists=PATH] [absent=PATH]";

/// An expectation given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    Fds(BTreeSet<i32>),
    Ns {
        kind: String,
        inode: u64,
        same: bool,
    },
    Pid(u32),
    CwdInside,
    Mounted(String),
    Exists(String),
    Absent(String),
    Content {
        path: String,
        want: String,
    },
    Contains {
        path: String,
        want: String,
    },
    Lacks {
        path: String,
        want: String,
    },
    Status {
        field: String,
        want: String,
    },
    Syscall {
        name: String,
        args: Vec<u64>,
        want: Want,
    },
    Open {
        path: String,
        mode: String,
        want: Want,
    },
    Write {
        path: String,
        want: Want,
    },
    Mknod {
        path: String,
        kind: char,
        major: u32,
        minor: u32,
        want: Want,
    },
    MountOpt {
        path: String,
        opts: Vec<String>,
    },
    NetDevs(BTreeSet<String>),
    CgroupRoot,
    CgroupPath(String),
    CgFile {
        ctrl: String,
        file: String,
        want: String,
    },
    ForksFailBefore(usize),
    Machine(String),
    Clock {
        clock: String,
        min_secs: i64,
    },
    Tty {
        fds: Vec<i32>,
        tty: bool,
    },
}

/// The expected outcome of a probe: success, or a given errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    Ok,
    Errno(i32),
}

impl Want {
    pub fn parse(s: &str) -> Result<Want, String> {
        if s == "ok" {
            return Ok(Want::Ok);
        }
        if let Ok(n) = s.parse::<i32>() {
            return Ok(Want::Errno(n));
        }
        parse::errno_by_name(s)
            .map(Want::Errno)
            .ok_or_else(|| format!("unknown errno {s:?}"))
    }

    fn judge(self, what: &str, got: Result<i64, i32>) -> Outcome {
        match (self, got) {
            (Want::Ok, Ok(_)) => Outcome::Pass,
            (Want::Errno(w), Err(e)) if w == e => Outcome::Pass,
            (w, g) => Outcome::Fail(format!(
                "{what}: got {} (want {})",
                match g {
                    Ok(v) => format!("ok ({v})"),
                    Err(e) => parse::errno_name(e),
                },
                match w {
                    Want::Ok => "ok".to_string(),
                    Want::Errno(e) => parse::errno_name(e),
                }
            )),
        }
    }
}

/// A parsed command line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Args {
    pub spec_path: Option<String>,
    pub checks: Vec<&'static str>,
    pub expects: Vec<Expect>,
}

/// Parse the command line (without argv[0]).
pub fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut out = Args::default();
    let mut it = args.iter();
    let mut skips: Vec<String> = Vec::new();
    let add = |out: &mut Args, name: &'static str| {
        if !out.checks.contains(&name) {
            out.checks.push(name);
        }
    };
    while let Some(a) = it.next() {
        if a == "--spec" {
            out.spec_path = Some(it.next().ok_or("--spec needs a file")?.clone());
        } else if a == "all" {
            for (name, _) in CHECKS {
                add(&mut out, name);
            }
        } else if let Some(v) = a.strip_prefix("skip=") {
            skips.push(v.to_string());
        } else if a == "cwd-inside" {
            out.expects.push(Expect::CwdInside);
        } else if let Some(v) = a.strip_prefix("fds=") {
            out.expects.push(Expect::Fds(parse::parse_fd_list(v)?));
        } else if let Some(v) = a.strip_prefix("pid=") {
            out.expects.push(Expect::Pid(
                v.parse().map_err(|_| format!("bad pid in {a:?}"))?,
            ));
        } else if let Some(v) = a.strip_prefix("mounted=") {
            out.expects.push(Expect::Mounted(v.to_string()));
        } else if let Some(v) = a.strip_prefix("exists=") {
            out.expects.push(Expect::Exists(v.to_string()));
        } else if let Some(v) = a.strip_prefix("absent=") {
            out.expects.push(Expect::Absent(v.to_string()));
        } else if let Some(e) = parse_more_expect(a)? {
            out.expects.push(e);
        } else if let Some(rest) = a.strip_prefix("ns.") {
            let (kind, inode, same) = if let Some((k, v)) = rest.split_once("!=") {
                (k, v, false)
            } else if let Some((k, v)) = rest.split_once('=') {
                (k, v, true)
            } else {
                return Err(format!("bad namespace expectation {a:?}"));
            };
            let kind = match kind {
                "mount" => "mnt",
                "network" => "net",
                k => k,
            };
            let inode = inode.parse().map_err(|_| format!("bad inode in {a:?}"))?;
            out.expects.push(Expect::Ns {
                kind: kind.to_string(),
                inode,
                same,
            });
        } else {
            let before = out.checks.len();
            for (name, _) in CHECKS {
                if *name == a || name.starts_with(&format!("{a}.")) {
                    add(&mut out, name);
                }
            }
            if out.checks.len() == before && !CHECKS.iter().any(|(n, _)| n == a) {
                return Err(format!("unknown check {a:?}"));
            }
        }
    }
    out.checks.retain(|c| {
        !skips
            .iter()
            .any(|s| c == s || c.starts_with(&format!("{s}.")))
    });
    if out.checks.is_empty() && out.expects.is_empty() {
        return Err("nothing to check".to_string());
    }
    Ok(out)
}

fn split2<'a>(a: &'a str, v: &'a str, sep: char) -> Result<(&'a str, &'a str), String> {
    v.split_once(sep)
        .ok_or_else(|| format!("{a:?}: expected {sep:?} in {v:?}"))
}

fn parse_ids(a: &str, v: &str) -> Result<Vec<i32>, String> {
    v.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| format!("bad number in {a:?}")))
        .collect()
}

/// The expectations added for the conformance suite (see the module docs).
fn parse_more_expect(a: &str) -> Result<Option<Expect>, String> {
    let Some((key, v)) = a.split_once('=') else {
        return Ok(match a {
            "cgroup-root" => Some(Expect::CgroupRoot),
            _ => None,
        });
    };
    let e = match key {
        "content" => {
            let (path, want) = split2(a, v, '=')?;
            Expect::Content {
                path: path.into(),
                want: want.into(),
            }
        }
        "contains" => {
            let (path, want) = split2(a, v, '=')?;
            Expect::Contains {
                path: path.into(),
                want: want.into(),
            }
        }
        "lacks" => {
            let (path, want) = split2(a, v, '=')?;
            Expect::Lacks {
                path: path.into(),
                want: want.into(),
            }
        }
        "status" => {
            let (field, want) = split2(a, v, '=')?;
            Expect::Status {
                field: field.into(),
                want: want.into(),
            }
        }
        "syscall" => {
            let parts: Vec<&str> = v.split(':').collect();
            let [name, args, want] = parts[..] else {
                return Err(format!("{a:?}: want syscall=NAME:ARGS:WANT"));
            };
            let args = args
                .split(',')
                .filter(|s| !s.is_empty())
                .map(parse::parse_u64)
                .collect::<Option<Vec<u64>>>()
                .ok_or_else(|| format!("bad argument in {a:?}"))?;
            if !parse::PATH_SYSCALLS.contains(&name)
                && !crate::sys::INT_SYSCALLS.iter().any(|(n, _)| *n == name)
            {
                return Err(format!("{a:?}: syscall {name:?} cannot be probed"));
            }
            Expect::Syscall {
                name: name.into(),
                args,
                want: Want::parse(want)?,
            }
        }
        "open" => {
            let parts: Vec<&str> = v.rsplitn(3, ':').collect();
            let [want, mode, path] = parts[..] else {
                return Err(format!("{a:?}: want open=PATH:MODE:WANT"));
            };
            if !matches!(mode, "r" | "w" | "rw") {
                return Err(format!("{a:?}: mode must be r, w or rw"));
            }
            Expect::Open {
                path: path.into(),
                mode: mode.into(),
                want: Want::parse(want)?,
            }
        }
        "write" => {
            let (path, want) = v
                .rsplit_once(':')
                .ok_or_else(|| format!("{a:?}: want write=PATH:WANT"))?;
            Expect::Write {
                path: path.into(),
                want: Want::parse(want)?,
            }
        }
        "mknod" => {
            let parts: Vec<&str> = v.split(':').collect();
            let [path, kind, major, minor, want] = parts[..] else {
                return Err(format!("{a:?}: want mknod=PATH:c|b:MAJ:MIN:WANT"));
            };
            let kind = match kind {
                "c" => 'c',
                "b" => 'b',
                _ => return Err(format!("{a:?}: type must be c or b")),
            };
            Expect::Mknod {
                path: path.into(),
                kind,
                major: major.parse().map_err(|_| format!("bad major in {a:?}"))?,
                minor: minor.parse().map_err(|_| format!("bad minor in {a:?}"))?,
                want: Want::parse(want)?,
            }
        }
        "mountopt" => {
            let (path, opts) = split2(a, v, '=')?;
            Expect::MountOpt {
                path: path.into(),
                opts: opts.split(',').map(str::to_string).collect(),
            }
        }
        "netdevs" => Expect::NetDevs(v.split(',').map(str::to_string).collect()),
        "cgroup-path" => Expect::CgroupPath(v.into()),
        "cgfile" => {
            let (cf, want) = split2(a, v, '=')?;
            let (ctrl, file) = split2(a, cf, '/')?;
            Expect::CgFile {
                ctrl: ctrl.into(),
                file: file.into(),
                want: want.into(),
            }
        }
        "forks-fail-before" => {
            Expect::ForksFailBefore(v.parse().map_err(|_| format!("bad number in {a:?}"))?)
        }
        "machine" => Expect::Machine(v.into()),
        "clock" => {
            let (clock, secs) = v
                .split_once(">=")
                .ok_or_else(|| format!("{a:?}: want clock=NAME>=SECS"))?;
            if !matches!(clock, "monotonic" | "boottime") {
                return Err(format!("{a:?}: clock must be monotonic or boottime"));
            }
            Expect::Clock {
                clock: clock.into(),
                min_secs: secs.parse().map_err(|_| format!("bad seconds in {a:?}"))?,
            }
        }
        "tty" => Expect::Tty {
            fds: parse_ids(a, v)?,
            tty: true,
        },
        "notty" => Expect::Tty {
            fds: parse_ids(a, v)?,
            tty: false,
        },
        _ => return Ok(None),
    };
    Ok(Some(e))
}

/// Run keel-check with `args` (without argv[0]), writing TAP to `out`.
/// Returns the exit code: 0 iff every check passed, 2 for a usage error.
pub fn main_with(args: &[String], out: impl Write) -> i32 {
    let parsed = match parse_args(args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("keel-check: {e}\n{USAGE}");
            return 2;
        }
    };
    let mut tap = Tap::new(out);
    if !parsed.checks.is_empty() {
        let path = parsed.spec_path.as_deref().unwrap_or(SPEC_PATH);
        let spec = fs::read_to_string(path)
            .map_err(|e| format!("read {path}: {e}"))
            .and_then(|t| {
                serde_json::from_str::<Spec>(&t).map_err(|e| format!("parse {path}: {e}"))
            });
        match spec {
            Err(e) => tap.record("spec", Outcome::Fail(e)),
            Ok(spec) => {
                let ctx = Ctx::new(spec);
                for name in &parsed.checks {
                    let f = CHECKS
                        .iter()
                        .find(|(n, _)| n == name)
                        .expect("known check")
                        .1;
                    f(&ctx, &mut |n, o| tap.record(n, o));
                }
            }
        }
    }
    for e in &parsed.expects {
        let (name, outcome) = check_expect(e);
        tap.record(&name, outcome);
    }
    tap.finish()
}

fn skip(why: &str) -> Outcome {
    Outcome::Skip(why.to_string())
}

fn read_nul_list(path: &str) -> Result<Vec<String>, String> {
    let raw = fs::read(path).map_err(|e| format!("read {path}: {e}"))?;
    Ok(raw
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect())
}

fn check_args(ctx: &Ctx, rec: &mut dyn FnMut(&str, Outcome)) {
    let Some(p) = ctx.process() else {
        return rec("process.args", skip("no process in spec"));
    };
    let o = read_nul_list("/proc/self/cmdline").and_then(|have| {
        if have == p.args {
            Ok(())
        } else {
            Err(format!("argv {have:?} (want {:?})", p.args))
        }
    });
    rec("process.args", o.into());
}

fn check_env(ctx: &Ctx, rec: &mut dyn FnMut(&str, Outcome)) {
    let Some(p) = ctx.process() else {
        return rec("process.env", skip("no process in spec"));
    };
    let o = match read_nul_list("/proc/self/environ") {
        Ok(have) => Outcome::from_problems(parse::env_problems(&p.env, &have)),
        Err(e) => Outcome::Fail(e),
    };
    rec("process.env", o);
}

fn check_cwd(ctx: &Ctx, rec: &mut dyn FnMut(&str, Outcome)) {
    let Some(p) = ctx.process() else {
        return rec("process.cwd", skip("no process in spec"));
    };
    let o = match sys::getcwd_raw() {
        Err(e) => Outcome::Fail(format!("getcwd: {e}")),
        Ok(raw) => {
            let have = String::from_utf8_lossy(&raw).into_owned();
            if have == parse::normalize_path(&p.cwd) {
                Outcome::Pass
            } else {
                Outcome::Fail(format!("cwd {have:?} (want {:?})", p.cwd))
            }
        }
    };
    rec("process.cwd", o);
}

fn ids_line(status: &str, key: &str) -> Result<Vec<u32>, String> {
    let v = parse::status_field(status, key).ok_or_else(|| format!("no {key} in status"))?;
    v.split_whitespace()
        .map(|s| s.parse().map_err(|_| format!("bad {key} line {v:?}")))
        .collect()
}

fn check_user(ctx: &Ctx, rec: &mut dyn FnMut(&str, Outcome)) {
    let Some(p) = ctx.process() else {
        return rec("process.user", skip("no process in spec"));
    };
    let o = ctx.status().and_then(|st| {
        let mut probs = Vec::new();
        let uids = ids_line(st, "Uid")?;
        let gids = ids_line(st, "Gid")?;
        if uids.iter().any(|&u| u != p.user.uid) {
            probs.push(format!("uids {uids:?} (want all {})", p.user.uid));
        }
        if gids.iter().any(|&g| g != p.user.gid) {
            probs.push(format!("gids {gids:?} (want all {})", p.user.gid));
        }
        let groups: BTreeSet<u32> = ids_line(st, "Groups")?.into_iter().collect();
        let want: BTreeSet<u32> = p.user.additional_gids.iter().copied().collect();
        if groups != want {
            probs.push(format!("groups {groups:?} (want {want:?})"));
        }
        if probs.is_empty() {
            Ok(())
        } else {
            Err(probs.join("; "))
        }
    });
    rec("process.user", o.into());
}

fn check_umask(ctx: &Ctx, rec: &mut dyn FnMut(&str, Outcome)) {
    let Some(want) = ctx.process().and_then(|p| p.user.umask) else {
        return rec("process.umask", skip("umask not set in spec"));
    };
    let o = ctx.status().and_then(|st| {
        let v = parse::status_field(st, "Umask").ok_or("no Umask in status")?;
        let have = u32::from_str_radix(v, 8).map_err(|_| format!("bad Umask {v:?}"))?;
        if have == want {
            Ok(())
        } else {
            Err(format!("umask {have:04o} (want {want:04o})"))
        }
    });
    rec("process.umask", o.into());
}

fn check_rlimits(ctx: &Ctx, rec: &mut dyn FnMut(&str, Outcome)) {
    let limits = ctx.process().map(|p| &p.rlimits[..]).unwrap_or(&[]);
    if limits.is_empty() {
        return rec("process.rlimits", skip("no rlimits in spec"));
    }
    for l in limits {
        let name = format!("process.rlimits {}", l.kind);
        let o = match parse::rlimit_resource(&l.kind) {
            None => Outcome::Fail(format!("unknown rlimit type {:?}", l.kind)),
            Some(res) => match sys::getrlimit(res) {
                Err(e) => Outcome::Fail(format!("getrlimit: {e}")),
                Ok((soft, hard)) if soft == l.soft && hard == l.hard => Outcome::Pass,
                Ok((soft, hard)) => Outcome::Fail(format!(
                    "soft {soft} hard {hard} (want soft {} hard {})",
                    l.soft, l.hard
                )),
            },
        };
        rec(&name, o);
    }
}

fn check_caps(ctx: &Ctx, rec: &mut dyn FnMut(&str, Outcome)) {
    let Some(caps) = ctx.process().and_then(|p| p.capabilities.as_ref()) else {
        return rec("process.capabilities", skip("no capabilities in spec"));
    };
    let o = ctx.status().and_then(|st| {
        let have = parse::status_caps(st)?;
        let nnp = ctx.process().is_some_and(|p| p.no_new_privileges);
        let want = parse::expected_caps_nnp(caps, ctx.euid()?, nnp);
        let probs: Vec<String> = [
            ("CapInh", want.inh, have.inh),
            ("CapPrm", want.prm, have.prm),
            ("CapEff", want.eff, have.eff),
            ("CapBnd", want.bnd, have.bnd),
            ("CapAmb", want.amb, have.amb),
        ]
        .iter()
        .filter_map(|(n, w, h)| parse::mask_diff(*w, *h).map(|d| format!("{n}: {d}")))
        .collect();
        if probs.is_empty() {
            Ok(())
        } else {
            Err(probs.join("; "))
        }
    });
    rec("process.capabilities", o.into());
}

fn check_nnp(ctx: &Ctx, rec: &mut dyn FnMut(&str, Outcome)) {
    let want = ctx.process().map(|p| p.no_new_privileges).unwrap_or(false);
    let o = ctx.status().and_then(|st| {
        let v = parse::status_field(st, "NoNewPrivs").ok_or("no NoNewPrivs in status")?;
        if (v == "1") == want {
            Ok(())
        } else {
            Err(format!("NoNewPrivs {v} (want {})", u8::from(want)))
        }
    });
    rec("process.noNewPrivileges", o.into());
}

fn check_oom(ctx: &Ctx, rec: &mut dyn FnMut(&str, Outcome)) {
    let Some(want) = ctx.process().and_then(|p| p.oom_score_adj) else {
        return rec("process.oomScoreAdj", skip("oomScoreAdj not set in spec"));
    };
    let o = fs::read_to_string("/proc/self/oom_score_adj")
        .map_err(|e| format!("read oom_score_adj: {e}"))
        .and_then(|v| {
            let have: i32 = v
                .trim()
                .parse()
                .map_err(|_| format!("bad oom_score_adj {v:?}"))?;
            if have == want {
                Ok(())
            } else {
                Err(format!("oom_score_adj {have} (want {want})"))
            }
        });
    rec("process.oomScoreAdj", o.into());
}

fn check_uts(name: &str, want: Option<&String>, domain: bool, rec: &mut dyn FnMut(&str, Outcome)) {
    let Some(want) = want else {
        return rec(name, skip("not set in spec"));
    };
    let o = match sys::uname_names() {
        Err(e) => Outcome::Fail(format!("uname: {e}")),
        Ok((host, dom)) => {
            let have = if domain { dom } else { host };
            if &have == want {
                Outcome::Pass
            } else {
                Outcome::Fail(format!("{have:?} (want {want:?})"))
            }
        }
    };
    rec(name, o);
}

fn check_hostname(ctx: &Ctx, rec: &mut dyn FnMut(&str, Outcome)) {
    check_uts("hostname", ctx.spec.hostname.as_ref(), false, rec);
}

fn check_domainname(ctx: &Ctx, rec: &mut dyn FnMut(&str, Outcome)) {
    check_uts("domainname", ctx.spec.domainname.as_ref(), true, rec);
}

fn check_sysctl(ctx: &Ctx, rec: &mut dyn FnMut(&str, Outcome)) {
    let Some(sysctl) = ctx.linux().map(|l| &l.sysctl).filter(|s| !s.is_empty()) else {
        return rec("sysctl", skip("no sysctl in spec"));
    };
    for (k, v) in sysctl {
        let path = format!("/proc/sys/{}", k.replace('.', "/"));
        let o = match fs::read_to_string(&path) {
            Err(e) => Outcome::Fail(format!("read {path}: {e}")),
            Ok(have) if parse::sysctl_matches(&have, v) => Outcome::Pass,
            Ok(have) => Outcome::Fail(format!("{:?} (want {v:?})", have.trim())),
        };
        rec(&format!("sysctl {k}"), o);
    }
}

fn check_mounts(ctx: &Ctx, rec: &mut dyn FnMut(&str, Outcome)) {
    if ctx.spec.mounts.is_empty() {
        return rec("mounts", skip("no mounts in spec"));
    }
    let all = match ctx.mounts() {
        Ok(m) => m,
        Err(e) => return rec("mounts", Outcome::Fail(e)),
    };
    for m in &ctx.spec.mounts {
        let name = format!("mounts {}", m.destination);
        let dest = parse::normalize_path(&m.destination);
        let Some(top) = parse::top_mount_at(all, &dest) else {
            rec(&name, Outcome::Fail(format!("nothing mounted at {dest}")));
            continue;
        };
        let prefix = format!("{dest}/");
        let subs: Vec<&MountEntry> = all
            .iter()
            .filter(|e| e.parent == top.id && e.mount_point.starts_with(&prefix))
            .collect();
        rec(
            &name,
            Outcome::from_problems(parse::mount_problems(m, top, &subs)),
        );
    }
}

fn probe_write(path: &Path) -> io::Result<()> {
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map(drop)
}

fn check_root_readonly(ctx: &Ctx, rec: &mut dyn FnMut(&str, Outcome)) {
    let want = ctx.spec.root.as_ref().map(|r| r.readonly).unwrap_or(false);
    let o = ctx.mounts().and_then(|all| {
        let root = parse::top_mount_at(all, "/").ok_or("no mount at / in mountinfo")?;
        if root.is_ro() != want {
            return Err(format!(
                "/ is mounted {} (want {})",
                if root.is_ro() { "ro" } else { "rw" },
                if want { "ro" } else { "rw" }
            ));
        }
        if want && ctx.euid()? == 0 {
            let probe = Path::new("/.keel-check-probe");
            match probe_write(probe) {
                Ok(()) => {
                    let _ = fs::remove_file(probe);
                    return Err("created /.keel-check-probe on a read-only root".into());
                }
                Err(e) if e.raw_os_error() == Some(libc::EROFS) => {}
                Err(e) => return Err(format!("writing / failed with {e} (want EROFS)")),
            }
        }
        Ok(())
    });
    rec("root.readonly", o.into());
}

fn check_masked(ctx: &Ctx, rec: &mut dyn FnMut(&str, Outcome)) {
    let paths = ctx.linux().map(|l| &l.masked_paths[..]).unwrap_or(&[]);
    if paths.is_empty() {
        return rec("maskedPaths", skip("no maskedPaths in spec"));
    }
    for p in paths {
        let name = format!("maskedPaths {p}");
        let meta = match fs::symlink_metadata(p) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                rec(&name, skip("path does not exist"));
                continue;
            }
            Err(e) => {
                rec(&name, Outcome::Fail(format!("stat: {e}")));
                continue;
            }
            Ok(m) => m,
        };
        let o = if meta.file_type().is_char_device() {
            let (maj, min) = (parse::dev_major(meta.rdev()), parse::dev_minor(meta.rdev()));
            let mut buf = [0u8; 16];
            let read = fs::File::open(p).and_then(|mut f| f.read(&mut buf));
            if (maj, min) != (1, 3) {
                Outcome::Fail(format!("char device {maj}:{min} (want 1:3)"))
            } else if !matches!(read, Ok(0) | Err(_)) {
                Outcome::Fail("reading gave data".into())
            } else {
                Outcome::Pass
            }
        } else if meta.is_dir() {
            let entries = fs::read_dir(p).map(|d| d.count()).unwrap_or(0);
            let mount = ctx
                .mounts()
                .ok()
                .and_then(|all| parse::top_mount_at(all, p).cloned());
            match mount {
                Some(m) if m.fstype == "tmpfs" && m.is_ro() && entries == 0 => Outcome::Pass,
                Some(m) => Outcome::Fail(format!(
                    "{} mount {} with {entries} entries (want an empty ro tmpfs)",
                    m.fstype,
                    if m.is_ro() { "ro" } else { "rw" }
                )),
                None => Outcome::Fail(format!("directory not masked ({entries} entries)")),
            }
        } else {
            let mut buf = [0u8; 16];
            match fs::File::open(p).and_then(|mut f| f.read(&mut buf)) {
                Ok(0) | Err(_) => Outcome::Pass,
                Ok(_) => Outcome::Fail("readable, not masked".into()),
            }
        };
        rec(&name, o);
    }
}

fn check_readonly_paths(ctx: &Ctx, rec: &mut dyn FnMut(&str, Outcome)) {
    let paths = ctx.linux().map(|l| &l.readonly_paths[..]).unwrap_or(&[]);
    if paths.is_empty() {
        return rec("readonlyPaths", skip("no readonlyPaths in spec"));
    }
    for p in paths {
        let name = format!("readonlyPaths {p}");
        let meta = match fs::symlink_metadata(p) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                rec(&name, skip("path does not exist"));
                continue;
            }
            Err(e) => {
                rec(&name, Outcome::Fail(format!("stat: {e}")));
                continue;
            }
            Ok(m) => m,
        };
        let mount_ro = ctx
            .mounts()
            .ok()
            .and_then(|all| parse::top_mount_at(all, p).map(|m| m.is_ro()));
        let o = if meta.is_dir() {
            // Directories (procfs ones above all) refuse a new file before the
            // mount's ro flag is even consulted: demand an ro mount there and
            // try to open a writable file inside for writing.
            if mount_ro != Some(true) {
                Outcome::Fail(format!("no read-only mount at {p}"))
            } else {
                match find_writable_file(Path::new(p), 3, &mut 300) {
                    None => Outcome::Pass,
                    Some(f) => write_outcome(
                        &f.display().to_string(),
                        fs::OpenOptions::new().write(true).open(&f).map(drop),
                        true,
                    ),
                }
            }
        } else {
            write_outcome(
                p,
                fs::OpenOptions::new().write(true).open(p).map(drop),
                mount_ro == Some(true),
            )
        };
        rec(&name, o);
    }
}

/// Judge an attempt to open `what` for writing on a path that must be read-only.
fn write_outcome(what: &str, res: io::Result<()>, mount_ro: bool) -> Outcome {
    match res {
        Ok(()) => Outcome::Fail(format!("opened {what} for writing")),
        Err(e) if e.raw_os_error() == Some(libc::EROFS) => Outcome::Pass,
        // Without the rights to write, fall back to the mount flags.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM)) => {
            if mount_ro {
                Outcome::Pass
            } else {
                Outcome::Fail(format!(
                    "writing {what} failed with {e}, and no ro mount there"
                ))
            }
        }
        Err(e) => Outcome::Fail(format!("writing {what} failed with {e} (want EROFS)")),
    }
}

/// A regular file with a write bit somewhere under `dir` (breadth limited).
fn find_writable_file(dir: &Path, depth: usize, budget: &mut usize) -> Option<std::path::PathBuf> {
    let mut subdirs = Vec::new();
    for e in fs::read_dir(dir).ok()?.flatten() {
        if *budget == 0 {
            return None;
        }
        *budget -= 1;
        let Ok(m) = fs::symlink_metadata(e.path()) else {
            continue;
        };
        if m.is_file() && m.permissions().mode() & 0o222 != 0 {
            return Some(e.path());
        }
        if m.is_dir() {
            subdirs.push(e.path());
        }
    }
    if depth > 1 {
        for d in subdirs {
            if let Some(f) = find_writable_file(&d, depth - 1, budget) {
                return Some(f);
            }
        }
    }
    None
}

fn device_problems(
    path: &str,
    kind: char,
    major: u64,
    minor: u64,
    mode: Option<u32>,
) -> Vec<String> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => return vec![format!("stat {path}: {e}")],
    };
    let ft = meta.file_type();
    let mut p = Vec::new();
    let type_ok = match kind {
        'c' | 'u' => ft.is_char_device(),
        'b' => ft.is_block_device(),
        'p' => ft.is_fifo(),
        _ => false,
    };
    if !type_ok {
        p.push(format!("{path} is not of type {kind} ({ft:?})"));
    }
    if kind != 'p' {
        let (maj, min) = (parse::dev_major(meta.rdev()), parse::dev_minor(meta.rdev()));
        if (maj, min) != (major, minor) {
            p.push(format!("{path} is {maj}:{min} (want {major}:{minor})"));
        }
    }
    if let Some(mode) = mode {
        let have = meta.permissions().mode() & 0o7777;
        if have != mode & 0o7777 {
            p.push(format!(
                "{path} mode {have:04o} (want {:04o})",
                mode & 0o7777
            ));
        }
    }
    p
}

fn check_default_devices(_ctx: &Ctx, rec: &mut dyn FnMut(&str, Outcome)) {
    for (path, maj, min) in [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ] {
        let probs = device_problems(path, 'c', maj, min, Some(0o666));
        rec(
            &format!("devices.default {path}"),
            Outcome::from_problems(probs),
        );
    }
}

fn check_dev_links(ctx: &Ctx, rec: &mut dyn FnMut(&str, Outcome)) {
    let dev_mounted = ctx
        .spec
        .mounts
        .iter()
        .any(|m| parse::normalize_path(&m.destination) == "/dev");
    if !dev_mounted {
        return rec("devices.links", skip("no /dev mount in spec"));
    }
    for (link, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
        ("/dev/ptmx", "pts/ptmx"),
    ] {
        let o = match fs::read_link(link) {
            Ok(t) if t == Path::new(target) => Outcome::Pass,
            Ok(t) => Outcome::Fail(format!("points to {} (want {target})", t.display())),
            Err(e) => Outcome::Fail(format!("readlink: {e}")),
        };
        rec(&format!("devices.links {link}"), o);
    }
}

fn check_devices(ctx: &Ctx, rec: &mut dyn FnMut(&str, Outcome)) {
    let devs = ctx.linux().map(|l| &l.devices[..]).unwrap_or(&[]);
    if devs.is_empty() {
        return rec("devices", skip("no linux.devices in spec"));
    }
    for d in devs {
        let kind = d.kind.chars().next().unwrap_or('?');
        let mut probs = device_problems(&d.path, kind, d.major as u64, d.minor as u64, d.file_mode);
        if let Ok(meta) = fs::symlink_metadata(&d.path) {
            if let Some(uid) = d.uid.filter(|&u| u != meta.uid()) {
                probs.push(format!("owner uid {} (want {uid})", meta.uid()));
            }
            if let Some(gid) = d.gid.filter(|&g| g != meta.gid()) {
                probs.push(format!("owner gid {} (want {gid})", meta.gid()));
            }
        }
        rec(
            &format!("devices {}", d.path),
            Outcome::from_problems(probs),
        );
    }
}

fn check_idmaps(ctx: &Ctx, rec: &mut dyn FnMut(&str, Outcome)) {
    let new_userns = ctx.spec.namespace("user").is_some_and(|n| n.path.is_none());
    let Some(linux) = ctx.linux().filter(|_| new_userns) else {
        return rec("idmaps", skip("no new user namespace in spec"));
    };
    for (file, want) in [
        ("/proc/self/uid_map", &linux.uid_mappings),
        ("/proc/self/gid_map", &linux.gid_mappings),
    ] {
        let o = fs::read_to_string(file)
            .map_err(|e| format!("read {file}: {e}"))
            .and_then(|t| parse::parse_id_map(&t))
            .and_then(|have| {
                let mut want = want.clone();
                want.sort();
                if have == want {
                    Ok(())
                } else {
                    Err(format!("{have:?} (want {want:?})"))
                }
            });
        rec(&format!("idmaps {file}"), o.into());
    }
}

fn check_time_offsets(ctx: &Ctx, rec: &mut dyn FnMut(&str, Outcome)) {
    let Some(want) = ctx
        .linux()
        .map(|l| &l.time_offsets)
        .filter(|t| !t.is_empty())
    else {
        return rec("timeOffsets", skip("no timeOffsets in spec"));
    };
    let o = fs::read_to_string("/proc/self/timens_offsets")
        .map_err(|e| format!("read /proc/self/timens_offsets: {e}"))
        .and_then(|t| parse::parse_timens_offsets(&t))
        .map(|have| {
            let mut probs = Vec::new();
            for clock in ["monotonic", "boottime"] {
                let w = want.get(clock).copied().unwrap_or_default();
                let h = have.get(clock).copied().unwrap_or_default();
                if w != h {
                    probs.push(format!(
                        "{clock} {}s {}ns (want {}s {}ns)",
                        h.secs, h.nanosecs, w.secs, w.nanosecs
                    ));
                }
            }
            Outcome::from_problems(probs)
        });
    rec("timeOffsets", o.unwrap_or_else(Outcome::Fail));
}

fn check_personality(ctx: &Ctx, rec: &mut dyn FnMut(&str, Outcome)) {
    let Some(p) = ctx.linux().and_then(|l| l.personality.as_ref()) else {
        return rec("personality", skip("no personality in spec"));
    };
    let o = match parse::personality_domain(&p.domain) {
        None => Outcome::Fail(format!("unknown personality domain {:?}", p.domain)),
        Some(want) => match fs::read_to_string("/proc/self/personality") {
            Err(e) => Outcome::Fail(format!("read /proc/self/personality: {e}")),
            Ok(v) => match u64::from_str_radix(v.trim(), 16) {
                Ok(have) if have & 0xff == want => Outcome::Pass,
                Ok(have) => Outcome::Fail(format!("personality {have:#x} (want domain {want:#x})")),
                Err(_) => Outcome::Fail(format!("bad personality {v:?}")),
            },
        },
    };
    rec("personality", o);
}

fn check_propagation(ctx: &Ctx, rec: &mut dyn FnMut(&str, Outcome)) {
    let Some(want) = ctx.linux().and_then(|l| l.rootfs_propagation.as_ref()) else {
        return rec("rootfsPropagation", skip("no rootfsPropagation in spec"));
    };
    let o = ctx.mounts().and_then(|all| {
        let root = parse::top_mount_at(all, "/").ok_or("no mount at /")?;
        parse::propagation_problem(want, &root.optional).map_or(Ok(()), Err)
    });
    rec("rootfsPropagation", o.into());
}

fn check_terminal(ctx: &Ctx, rec: &mut dyn FnMut(&str, Outcome)) {
    if !ctx.process().is_some_and(|p| p.terminal) {
        return rec("terminal", skip("terminal is false"));
    }
    let mut probs: Vec<String> = (0..3)
        .filter(|&fd| !sys::isatty(fd))
        .map(|fd| format!("fd {fd} is not a tty"))
        .collect();
    match fs::metadata("/dev/console") {
        Ok(m) if m.file_type().is_char_device() => {}
        Ok(_) => probs.push("/dev/console is not a char device".into()),
        Err(e) => probs.push(format!("/dev/console: {e}")),
    }
    rec("terminal", Outcome::from_problems(probs));
}

fn check_console_size(ctx: &Ctx, rec: &mut dyn FnMut(&str, Outcome)) {
    let Some(size) = ctx
        .process()
        .filter(|p| p.terminal)
        .and_then(|p| p.console_size.as_ref())
    else {
        return rec("consoleSize", skip("no terminal with consoleSize in spec"));
    };
    let o = match sys::winsize(0) {
        Err(e) => Outcome::Fail(format!("TIOCGWINSZ: {e}")),
        Ok((rows, cols)) if u32::from(rows) == size.height && u32::from(cols) == size.width => {
            Outcome::Pass
        }
        Ok((rows, cols)) => Outcome::Fail(format!(
            "{rows} rows x {cols} cols (want {} x {})",
            size.height, size.width
        )),
    };
    rec("consoleSize", o);
}

fn check_expect(e: &Expect) -> (String, Outcome) {
    match e {
        Expect::Fds(want) => {
            let o = match sys::open_fds() {
                Err(e) => Outcome::Fail(format!("list /proc/self/fd: {e}")),
                Ok(have) => {
                    let have: BTreeSet<i32> = have.into_iter().collect();
                    if &have == want {
                        Outcome::Pass
                    } else {
                        let extra: Vec<String> = have
                            .difference(want)
                            .map(|fd| {
                                let t = fs::read_link(format!("/proc/self/fd/{fd}"))
                                    .map(|p| p.display().to_string())
                                    .unwrap_or_else(|e| e.to_string());
                                format!("{fd}->{t}")
                            })
                            .collect();
                        let missing: Vec<&i32> = want.difference(&have).collect();
                        Outcome::Fail(format!("extra fds {extra:?}, missing fds {missing:?}"))
                    }
                }
            };
            ("fds".to_string(), o)
        }
        Expect::Ns { kind, inode, same } => {
            let name = format!("ns.{kind}{}{inode}", if *same { "=" } else { "!=" });
            let link = format!("/proc/self/ns/{kind}");
            let o = match fs::read_link(&link) {
                Err(e) => Outcome::Fail(format!("readlink {link}: {e}")),
                Ok(t) => match parse::ns_inode(&t.to_string_lossy()) {
                    None => Outcome::Fail(format!("bad link {}", t.display())),
                    Some(have) if (have == *inode) == *same => Outcome::Pass,
                    Some(have) => Outcome::Fail(format!("inode {have}")),
                },
            };
            (name, o)
        }
        Expect::Pid(want) => {
            let have = std::process::id();
            let o = if have == *want {
                Outcome::Pass
            } else {
                Outcome::Fail(format!("pid {have}"))
            };
            (format!("pid={want}"), o)
        }
        Expect::CwdInside => {
            let o = match sys::getcwd_raw() {
                Err(e) => Outcome::Fail(format!("getcwd: {e}")),
                Ok(raw) if parse::cwd_is_inside(&raw) => Outcome::Pass,
                Ok(raw) => Outcome::Fail(format!("cwd {:?}", String::from_utf8_lossy(&raw))),
            };
            ("cwd-inside".to_string(), o)
        }
        Expect::Mounted(p) => {
            let o = fs::read_to_string("/proc/self/mountinfo")
                .map_err(|e| e.to_string())
                .and_then(|t| parse::parse_mountinfo(&t))
                .and_then(|all| {
                    parse::top_mount_at(&all, p)
                        .map(drop)
                        .ok_or_else(|| format!("nothing mounted at {p}"))
                });
            (format!("mounted={p}"), o.into())
        }
        Expect::Exists(p) => {
            let o = match fs::symlink_metadata(p) {
                Ok(_) => Outcome::Pass,
                Err(e) => Outcome::Fail(e.to_string()),
            };
            (format!("exists={p}"), o)
        }
        Expect::Absent(p) => {
            let o = match fs::symlink_metadata(p) {
                Ok(_) => Outcome::Fail("exists".into()),
                Err(_) => Outcome::Pass,
            };
            (format!("absent={p}"), o)
        }
        other => more_expect(other),
    }
}

fn read_trimmed(path: &str) -> Result<String, String> {
    fs::read_to_string(path)
        .map(|t| t.trim().to_string())
        .map_err(|e| format!("read {path}: {e}"))
}

fn io_result(r: io::Result<()>) -> Result<i64, i32> {
    r.map(|()| 0).map_err(|e| e.raw_os_error().unwrap_or(0))
}

fn probe_syscall(name: &str, args: &[u64]) -> Result<Result<i64, i32>, String> {
    let dir = Path::new("/tmp/.keel-check-probe");
    let r = match name {
        "uname" => sys::sys_uname(),
        "getcwd" => sys::sys_getcwd(),
        "mkdir" | "mkdirat" => {
            let r = if name == "mkdir" {
                sys::sys_mkdir(dir, 0o700)
            } else {
                sys::sys_mkdirat(dir, 0o700)
            }
            .map_err(|e| e.to_string())?;
            let _ = fs::remove_dir(dir);
            r
        }
        "chmod" => sys::sys_chmod(Path::new("/tmp"), 0o1777).map_err(|e| e.to_string())?,
        _ => sys::int_syscall(name, args).ok_or_else(|| format!("cannot probe {name}"))?,
    };
    Ok(r)
}

fn cgroup_lines() -> Result<Vec<(String, String)>, String> {
    let text = fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("read /proc/self/cgroup: {e}"))?;
    Ok(parse::parse_proc_cgroup(&text))
}

/// The file `file` of this process's own cgroup in v1 hierarchy `ctrl`: the
/// process's path under /sys/fs/cgroup/CTRL when the whole hierarchy is
/// mounted, else the mount's root (a runtime that mounts only the
/// container's own cgroup there).
fn own_cgroup_file(ctrl: &str, file: &str) -> Result<String, String> {
    let lines = cgroup_lines()?;
    let path = lines
        .iter()
        .find(|(ctrls, _)| ctrls.split(',').any(|c| c == ctrl))
        .map(|(_, p)| p.clone())
        .ok_or_else(|| format!("no {ctrl} line in /proc/self/cgroup"))?;
    let nested = format!("/sys/fs/cgroup/{ctrl}{}/{file}", path.trim_end_matches('/'));
    if Path::new(&nested).exists() {
        return Ok(nested);
    }
    let flat = format!("/sys/fs/cgroup/{ctrl}/{file}");
    if Path::new(&flat).exists() {
        return Ok(flat);
    }
    Err(format!("neither {nested} nor {flat} exists"))
}

fn more_expect(e: &Expect) -> (String, Outcome) {
    match e {
        Expect::Content { path, want } => {
            let o = read_trimmed(path).and_then(|have| {
                if &have == want {
                    Ok(())
                } else {
                    Err(format!("{have:?} (want {want:?})"))
                }
            });
            (format!("content={path}"), o.into())
        }
        Expect::Contains { path, want } => {
            let o = read_trimmed(path).and_then(|have| {
                if have.contains(want.as_str()) {
                    Ok(())
                } else {
                    Err(format!("{have:?} lacks {want:?}"))
                }
            });
            (format!("contains={path}"), o.into())
        }
        Expect::Lacks { path, want } => {
            let o = fs::read(path)
                .map_err(|e| format!("read {path}: {e}"))
                .and_then(|raw| {
                    let have = String::from_utf8_lossy(&raw).replace('\0', "\n");
                    if have.contains(want.as_str()) {
                        Err(format!("{path} contains {want:?}"))
                    } else {
                        Ok(())
                    }
                });
            (format!("lacks={path}"), o.into())
        }
        Expect::Status { field, want } => {
            let o = read_trimmed("/proc/self/status").and_then(|st| {
                match parse::status_field(&st, field) {
                    Some(v) if v == want => Ok(()),
                    Some(v) => Err(format!("{field} {v:?} (want {want:?})")),
                    None => Err(format!("no {field} in /proc/self/status")),
                }
            });
            (format!("status={field}"), o.into())
        }
        Expect::Syscall { name, args, want } => {
            let what = format!(
                "{name}({})",
                args.iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let o = match probe_syscall(name, args) {
                Err(e) => Outcome::Fail(e),
                Ok(r) => want.judge(&what, r),
            };
            (format!("syscall={what}"), o)
        }
        Expect::Open { path, mode, want } => {
            let r = fs::OpenOptions::new()
                .read(mode.contains('r'))
                .write(mode.contains('w'))
                .open(path)
                .map(drop);
            (
                format!("open={path}:{mode}"),
                want.judge(&format!("open {path} {mode}"), io_result(r)),
            )
        }
        Expect::Write { path, want } => {
            let r = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map(drop);
            (
                format!("write={path}"),
                want.judge(&format!("open {path} for writing"), io_result(r)),
            )
        }
        Expect::Mknod {
            path,
            kind,
            major,
            minor,
            want,
        } => {
            let k = if *kind == 'b' {
                libc::S_IFBLK
            } else {
                libc::S_IFCHR
            };
            let r = sys::mknod(Path::new(path), k, 0o600, *major, *minor);
            if r.is_ok() {
                let _ = fs::remove_file(path);
            }
            (
                format!("mknod={path}"),
                want.judge(
                    &format!("mknod {path} {kind} {major}:{minor}"),
                    io_result(r),
                ),
            )
        }
        Expect::MountOpt { path, opts } => {
            let o = fs::read_to_string("/proc/self/mountinfo")
                .map_err(|e| e.to_string())
                .and_then(|t| parse::parse_mountinfo(&t))
                .and_then(|all| {
                    let m = parse::top_mount_at(&all, path)
                        .ok_or_else(|| format!("nothing mounted at {path}"))?;
                    let probs = parse::mount_opt_problems(m, opts);
                    if probs.is_empty() {
                        Ok(())
                    } else {
                        Err(probs.join("; "))
                    }
                });
            (format!("mountopt={path}={}", opts.join(",")), o.into())
        }
        Expect::NetDevs(want) => {
            let o = fs::read_to_string("/proc/net/dev")
                .map_err(|e| format!("read /proc/net/dev: {e}"))
                .and_then(|t| {
                    let have = parse::parse_net_dev(&t);
                    if &have == want {
                        Ok(())
                    } else {
                        Err(format!("interfaces {have:?} (want {want:?})"))
                    }
                });
            ("netdevs".to_string(), o.into())
        }
        Expect::CgroupRoot => {
            let o = cgroup_lines().and_then(|lines| {
                let bad: Vec<String> = lines
                    .iter()
                    .filter(|(_, p)| p != "/")
                    .map(|(c, p)| format!("{c}:{p}"))
                    .collect();
                if bad.is_empty() {
                    Ok(())
                } else {
                    Err(format!("not at the namespace root: {bad:?}"))
                }
            });
            ("cgroup-root".to_string(), o.into())
        }
        Expect::CgroupPath(want) => {
            let o = cgroup_lines().and_then(|lines| {
                let ctrls = [
                    "memory", "pids", "cpu", "devices", "freezer", "blkio", "cpuset",
                ];
                let mut probs = Vec::new();
                for c in ctrls {
                    match lines.iter().find(|(cs, _)| cs.split(',').any(|x| x == c)) {
                        Some((_, p)) if p == want => {}
                        Some((_, p)) => probs.push(format!("{c} at {p}")),
                        None => probs.push(format!("no {c} line")),
                    }
                }
                if probs.is_empty() {
                    Ok(())
                } else {
                    Err(format!("{} (want {want})", probs.join(", ")))
                }
            });
            (format!("cgroup-path={want}"), o.into())
        }
        Expect::CgFile { ctrl, file, want } => {
            let o = own_cgroup_file(ctrl, file).and_then(|p| {
                let have = read_trimmed(&p)?;
                if parse::cgroup_value_matches(&have, want) {
                    Ok(())
                } else {
                    Err(format!("{p}: {have:?} (want {want:?})"))
                }
            });
            (format!("cgfile={ctrl}/{file}"), o.into())
        }
        Expect::ForksFailBefore(n) => {
            let (made, err) = sys::fork_sleepers(*n);
            let o = match err {
                Some(e) if made < *n => {
                    if e == libc::EAGAIN {
                        Outcome::Pass
                    } else {
                        Outcome::Fail(format!(
                            "fork {} failed with {} (want EAGAIN)",
                            made + 1,
                            parse::errno_name(e)
                        ))
                    }
                }
                _ => Outcome::Fail(format!("forked {made} children (want fewer than {n})")),
            };
            (format!("forks-fail-before={n}"), o)
        }
        Expect::Machine(want) => {
            let o = match sys::uname_machine() {
                Ok(m) if &m == want => Outcome::Pass,
                Ok(m) => Outcome::Fail(format!("machine {m:?} (want {want:?})")),
                Err(e) => Outcome::Fail(format!("uname: {e}")),
            };
            (format!("machine={want}"), o)
        }
        Expect::Clock { clock, min_secs } => {
            let id = if clock == "boottime" {
                libc::CLOCK_BOOTTIME
            } else {
                libc::CLOCK_MONOTONIC
            };
            let o = match sys::clock_secs(id) {
                Ok(s) if s >= *min_secs => Outcome::Pass,
                Ok(s) => Outcome::Fail(format!("{clock} clock at {s}s (want >= {min_secs}s)")),
                Err(e) => Outcome::Fail(format!("clock_gettime: {e}")),
            };
            (format!("clock={clock}>={min_secs}"), o)
        }
        Expect::Tty { fds, tty } => {
            let bad: Vec<String> = fds
                .iter()
                .filter(|&&fd| sys::isatty(fd) != *tty)
                .map(|fd| fd.to_string())
                .collect();
            let name = if *tty { "tty" } else { "notty" };
            let o = if bad.is_empty() {
                Outcome::Pass
            } else {
                Outcome::Fail(format!(
                    "fds {} {} terminals",
                    bad.join(","),
                    if *tty { "are not" } else { "are" }
                ))
            };
            (
                format!(
                    "{name}={}",
                    fds.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
                ),
                o,
            )
        }
        _ => ("expectation".to_string(), Outcome::Fail("unhandled".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_selectors_and_expectations() {
        let a = parse_args(&args(&[
            "process",
            "fds=0,1,2",
            "ns.network!=5",
            "cwd-inside",
        ]))
        .unwrap();
        assert!(a.checks.iter().all(|c| c.starts_with("process.")));
        assert_eq!(a.checks.len(), 9);
        assert_eq!(a.expects.len(), 3);
        assert_eq!(
            a.expects[1],
            Expect::Ns {
                kind: "net".into(),
                inode: 5,
                same: false
            }
        );
        let all = parse_args(&args(&["all", "mounts"])).unwrap();
        assert_eq!(all.checks.len(), CHECKS.len());
        let skipped = parse_args(&args(&["all", "skip=process"])).unwrap();
        assert_eq!(skipped.checks.len(), CHECKS.len() - 9);
        let dev = parse_args(&args(&["devices"])).unwrap();
        assert_eq!(dev.checks.len(), 3);
        assert!(parse_args(&args(&["bogus"])).is_err());
        assert!(parse_args(&args(&[])).is_err());
        assert!(parse_args(&args(&["ns.net=x"])).is_err());
        assert!(parse_args(&args(&["fds=a"])).is_err());
    }

    #[test]
    fn tap_counts_failures() {
        let mut buf = Vec::new();
        let mut t = Tap::new(&mut buf);
        t.record("a", Outcome::Pass);
        t.record("b", Outcome::Skip("why".into()));
        assert_eq!(t.finish(), 0);
        let mut buf2 = Vec::new();
        let mut t = Tap::new(&mut buf2);
        t.record("a", Outcome::Pass);
        t.record("b", Outcome::Fail("bad\nthing".into()));
        assert_eq!(t.finish(), 1);
        let s = String::from_utf8(buf2).unwrap();
        assert!(s.contains("not ok 2 - b # bad thing\n"), "{s}");
        assert!(s.ends_with("1..2\n"));
        let s = String::from_utf8(buf).unwrap();
        assert!(s.contains("ok 2 - b # SKIP why"));
    }

    #[test]
    fn expectations_fail_when_wrong() {
        // This test process has its own cwd and pid; a wrong pid and a missing
        // path must fail, real ones must pass.
        assert!(matches!(check_expect(&Expect::Pid(0)).1, Outcome::Fail(_)));
        assert_eq!(
            check_expect(&Expect::Pid(std::process::id())).1,
            Outcome::Pass
        );
        assert!(matches!(
            check_expect(&Expect::Exists("/nonexistent-keel".into())).1,
            Outcome::Fail(_)
        ));
        assert_eq!(
            check_expect(&Expect::Absent("/nonexistent-keel".into())).1,
            Outcome::Pass
        );
        assert!(matches!(
            check_expect(&Expect::Absent("/".into())).1,
            Outcome::Fail(_)
        ));
        assert!(matches!(
            check_expect(&Expect::Fds(BTreeSet::new())).1,
            Outcome::Fail(_)
        ));
        assert!(matches!(
            check_expect(&Expect::Mounted("/nonexistent-keel".into())).1,
            Outcome::Fail(_)
        ));
        assert_eq!(check_expect(&Expect::Mounted("/".into())).1, Outcome::Pass);
        assert_eq!(check_expect(&Expect::CwdInside).1, Outcome::Pass);
    }

    #[test]
    fn write_attempts_are_judged() {
        let e = |code| Err(io::Error::from_raw_os_error(code));
        assert_eq!(write_outcome("x", e(libc::EROFS), false), Outcome::Pass);
        assert!(matches!(write_outcome("x", Ok(()), true), Outcome::Fail(_)));
        assert!(matches!(
            write_outcome("x", e(libc::ENOENT), true),
            Outcome::Fail(_)
        ));
        assert_eq!(write_outcome("x", e(libc::EACCES), true), Outcome::Pass);
        assert!(matches!(
            write_outcome("x", e(libc::EACCES), false),
            Outcome::Fail(_)
        ));
    }

    #[test]
    fn device_checks_can_fail() {
        assert!(device_problems("/dev/null", 'c', 1, 3, Some(0o666)).is_empty());
        assert_eq!(device_problems("/dev/null", 'c', 1, 5, None).len(), 1);
        assert_eq!(
            device_problems("/dev/null", 'b', 1, 3, Some(0o600)).len(),
            2
        );
        assert_eq!(device_problems("/dev/keel-none", 'c', 1, 3, None).len(), 1);
        assert!(find_writable_file(Path::new("/nonexistent-keel"), 2, &mut 10).is_none());
    }

    #[test]
    fn spec_checks_fail_on_mismatch() {
        // A spec that this test process cannot match: wrong args, wrong uid,
        // an umask and an rlimit it does not have.
        let spec: Spec = serde_json::from_str(
            r#"{"process":{"args":["nope"],"cwd":"/nonexistent","env":["KEEL_NOPE=1"],
                "user":{"uid":4242,"gid":4242,"umask":511},
                "rlimits":[{"type":"RLIMIT_NOFILE","soft":3,"hard":3}],
                "oomScoreAdj":999,"noNewPrivileges":true},
                "hostname":"keel-no-such-host",
                "linux":{"sysctl":{"kernel.keel_nope":"1"},"maskedPaths":["/"],
                         "personality":{"domain":"BSD"}}}"#,
        )
        .unwrap();
        let ctx = Ctx::new(spec);
        for (name, f) in CHECKS {
            let mut outcomes = Vec::new();
            f(&ctx, &mut |n, o| outcomes.push((n.to_string(), o)));
            let failed = outcomes.iter().any(|(_, o)| matches!(o, Outcome::Fail(_)));
            let must_fail = [
                "process.args",
                "process.env",
                "process.cwd",
                "process.user",
                "process.umask",
                "process.rlimits",
                "process.oomScoreAdj",
                "hostname",
                "sysctl",
                "maskedPaths",
                "personality",
            ];
            if must_fail.contains(name) {
                assert!(failed, "{name} did not fail: {outcomes:?}");
            }
        }
    }
}
