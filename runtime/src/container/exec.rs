//! `keel exec`: run another process in a running container.
//!
//! The process is the container's own process spec with runc's overrides
//! (`--cwd`, `-e`, `-u`, `--cap`, …), or a whole process spec from
//! `--process FILE`. Without `-d`, keel waits for it, forwards signals and
//! exits with its status, like `run`.

use std::path::PathBuf;

use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{Capability, Process};

use super::create::{write_pid_file, ConsoleTarget};
use super::run::{block, forwarded_signals, own_console, receive_master, supervise};
use super::{cgroup_of, hook_state, load, Error, Globals};
use crate::channel::{self, ChildMsg, ParentMsg};
use crate::process::exec::{intermediate, namespaces_of, ExecArgs};
use crate::seccomp::Filter;
use crate::state::Status;
use crate::sys::{self, ForkResult};

/// The flags of `keel exec`.
#[derive(Debug, Default)]
pub struct ExecOpts {
    pub id: String,
    pub process_file: Option<PathBuf>,
    pub args: Vec<String>,
    pub tty: bool,
    pub console: Option<ConsoleTarget>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub env: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub caps: Vec<String>,
    pub no_new_privs: bool,
    pub apparmor: Option<String>,
    pub process_label: Option<String>,
    pub preserve_fds: u32,
    pub ignore_paused: bool,
    pub cgroup: Vec<String>,
}

/// Runs the process; returns the exit code (0 when detached).
pub fn exec(g: &Globals, mut o: ExecOpts) -> Result<i32, Error> {
    let l = load(g, &o.id)?;
    match l.status {
        Status::Running | Status::Created => {}
        Status::Paused if o.ignore_paused => {}
        Status::Paused => {
            return Err(Error::InvalidStatus {
                op: "exec in",
                id: o.id.clone(),
                status: l.status,
                hint: "; resume it first or pass --ignore-paused",
            })
        }
        s => {
            return Err(Error::InvalidStatus {
                op: "exec in",
                id: o.id.clone(),
                status: s,
                hint: "",
            })
        }
    }
    let process = build_process(l.state.config.process().as_ref(), &o)?;
    let terminal = process.terminal().unwrap_or(false);
    let console_peer = own_console(terminal, &mut o.console, o.detach)?;
    let console = match o.console.take() {
        Some(c) if terminal => Some(c.into_fd()?),
        _ => None,
    };
    let linux = l.state.config.linux().as_ref();
    let seccomp = match linux.and_then(|l| l.seccomp().as_ref()) {
        Some(s) => Some(Filter::compile_cached(s, &g.root.join("seccomp-cache"))?),
        None => None,
    };
    let seccomp_listener = match seccomp.as_ref().filter(|f| f.uses_notify()) {
        Some(f) => Some(crate::seccomp::connect_listener(
            f.listener_path()
                .expect("validated: notify has a listener path"),
        )?),
        None => None,
    };
    let cgroup = cgroup_of(&l.state)?;
    let join = namespaces_of(l.state.pid).map_err(Error::io(format!(
        "open the namespaces of container {}",
        o.id
    )))?;
    let state = hook_state(&l.state, Status::Running);
    // Release the state lock before forking: the process may block in a
    // frozen cgroup (`--ignore-paused`) until `resume`, which needs the lock.
    // Everything below works on the namespace fds and cgroup paths taken
    // above; a container deleted meanwhile makes the join fail cleanly.
    drop(l);
    let (parent, child) = channel::pair()?;

    let mask = forwarded_signals();
    let _ = nix::sys::prctl::set_child_subreaper(true);
    if !o.detach {
        block(&mask)?;
    }
    let inter = match sys::fork().map_err(|e| Error::io("fork")(e.into()))? {
        ForkResult::Child => {
            drop(parent);
            intermediate(ExecArgs {
                process: &process,
                join,
                console,
                preserve_fds: o.preserve_fds,
                seccomp: seccomp.as_ref(),
                seccomp_listener,
                state,
                chan: child,
            })
        }
        ForkResult::Parent { child } => child,
    };
    drop(child);
    drop(console);
    drop(seccomp_listener);
    let mut pid = 0;
    let outcome = loop {
        match parent.recv::<ChildMsg>() {
            Ok(ChildMsg::InitPid { pid: p }) => {
                pid = p;
                let _ = waitpid(inter, None);
                if let Err(e) = join_cgroup(cgroup.as_ref(), pid, &o.cgroup) {
                    break Err(e);
                }
                if let Err(e) = parent.send(&ParentMsg::Proceed { pid }) {
                    break Err(e.into());
                }
            }
            Ok(ChildMsg::Executing) => {}
            Ok(ChildMsg::Error { msg }) => break Err(Error::Init(msg)),
            Ok(other) => break Err(Error::Init(format!("unexpected message {other:?}"))),
            // The channel is close-on-exec: EOF after Executing means execve succeeded.
            Err(crate::channel::ChannelError::Closed) if pid != 0 => break Ok(()),
            Err(crate::channel::ChannelError::Closed) => {
                break Err(Error::Init(
                    "the exec process exited before it started".into(),
                ))
            }
            Err(e) => break Err(e.into()),
        }
    };
    if let Err(e) = outcome {
        if pid != 0 {
            let _ = sys::kill_raw(pid, libc::SIGKILL);
            let _ = waitpid(Pid::from_raw(pid), None);
        }
        let _ = waitpid(inter, None);
        return Err(e);
    }
    if let Some(pf) = &o.pid_file {
        write_pid_file(pf, pid)?;
    }
    if o.detach {
        return Ok(0);
    }
    let master = console_peer.map(receive_master).transpose()?;
    supervise(pid, &mask, master.as_ref())
}

/// Puts the exec'd process in the container's cgroup, or in the
/// sub-cgroups that `--cgroup [controller[,controller]:]path` (repeatable)
/// names.
fn join_cgroup(
    cg: Option<&crate::cgroups::Manager>,
    pid: i32,
    args: &[String],
) -> Result<(), Error> {
    let Some(cg) = cg else {
        return match args.first() {
            Some(a) => Err(Error::Unsupported(format!(
                "--cgroup {a}: container has no cgroup; run without --cgroup"
            ))),
            None => Ok(()),
        };
    };
    if args.is_empty() {
        cg.add_pid(pid)?;
        return Ok(());
    }
    let subs = parse_sub_cgroups(args)?;
    cg.add_pid_to_subs(pid, &subs)
        .map_err(|e| Error::Unsupported(format!("--cgroup {}: {e}", args.join(" --cgroup "))))
}

/// runc's `--cgroup` syntax: one bare `path` for every controller, or any
/// number of `ctrl[,ctrl]:path`, each controller named once.
pub fn parse_sub_cgroups(args: &[String]) -> Result<Vec<(Vec<String>, PathBuf)>, Error> {
    let bad = |a: &str, why: &str| Error::Unsupported(format!("--cgroup {a}: {why}"));
    let mut out: Vec<(Vec<String>, PathBuf)> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for a in args {
        match a.split_once(':') {
            None if args.len() == 1 => out.push((Vec::new(), PathBuf::from(a))),
            None => {
                return Err(bad(
                    a,
                    "missing the controller: prefix (needed when --cgroup is given more than once)",
                ))
            }
            Some((_, p)) if p.contains(':') => {
                return Err(bad(a, "use [controller[,controller]:]path"))
            }
            Some((ctrls, p)) => {
                let mut names = Vec::new();
                for c in ctrls.split(',') {
                    if c.is_empty() {
                        return Err(bad(a, "empty controller name"));
                    }
                    if !seen.insert(c.to_string()) {
                        return Err(bad(a, &format!("controller {c} is given twice")));
                    }
                    names.push(c.to_string());
                }
                out.push((names, PathBuf::from(p)));
            }
        }
    }
    Ok(out)
}

/// The process to run: `--process FILE`, or the container's process with
/// runc's command-line overrides.
pub fn build_process(base: Option<&Process>, o: &ExecOpts) -> Result<Process, Error> {
    if let Some(path) = &o.process_file {
        let bytes =
            std::fs::read(path).map_err(Error::io(format!("--process {}", path.display())))?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        let p: Process = serde_path_to_error::deserialize(de).map_err(|e| {
            Error::Unsupported(format!(
                "{}: invalid process spec at line {} column {} (field {}): {}",
                path.display(),
                e.inner().line(),
                e.inner().column(),
                e.path(),
                e.inner()
            ))
        })?;
        if p.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(Error::Unsupported(format!(
                "{}: field args: must name a program to run",
                path.display()
            )));
        }
        return Ok(p);
    }
    if o.args.is_empty() {
        return Err(Error::Unsupported(
            "exec needs a command to run, or --process FILE".into(),
        ));
    }
    let mut p = base.cloned().unwrap_or_default();
    p.set_args(Some(o.args.clone()));
    p.set_terminal(Some(o.tty));
    p.set_console_size(None);
    let mut env = p.env().clone().unwrap_or_default();
    env.extend(o.env.iter().cloned());
    p.set_env(Some(env));
    if let Some(cwd) = &o.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(u) = &o.user {
        let (uid, gid) = match u.split_once(':') {
            Some((a, b)) => (a, Some(b)),
            None => (u.as_str(), None),
        };
        let bad = || Error::Unsupported(format!("--user {u:?}: use uid[:gid] with numbers"));
        // As runc: without `:gid` the process keeps the spec's gid.
        let mut user = p.user().clone();
        user.set_uid(uid.parse().map_err(|_| bad())?);
        if let Some(g) = gid {
            user.set_gid(g.parse().map_err(|_| bad())?);
        }
        p.set_user(user);
    }
    if !o.additional_gids.is_empty() {
        // As runc: added to the spec's additionalGids.
        let mut user = p.user().clone();
        let mut gids = user.additional_gids().clone().unwrap_or_default();
        gids.extend(&o.additional_gids);
        user.set_additional_gids(Some(gids));
        p.set_user(user);
    }
    if !o.caps.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &o.caps {
            let cap: Capability =
                serde_json::from_value(serde_json::Value::String(name.clone()))
                    .map_err(|_| Error::Unsupported(format!("--cap {name}: unknown capability")))?;
            let add = |set: &Option<oci_spec::runtime::Capabilities>| {
                let mut s = set.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            caps.set_bounding(add(caps.bounding()));
            caps.set_effective(add(caps.effective()));
            caps.set_permitted(add(caps.permitted()));
            // As runc: ambient only when the spec already has inheritable bits.
            if caps.inheritable().as_ref().is_some_and(|i| !i.is_empty()) {
                caps.set_ambient(add(caps.ambient()));
            }
        }
        p.set_capabilities(Some(caps));
    }
    if o.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(a) = &o.apparmor {
        p.set_apparmor_profile(Some(a.clone()));
    }
    if let Some(l) = &o.process_label {
        p.set_selinux_label(Some(l.clone()));
    }
    if let Some((f, msg)) = crate::lsm::unsupported(
        p.apparmor_profile().as_deref(),
        p.selinux_label().as_deref(),
        None,
    ) {
        return Err(Error::Unsupported(format!("{f}: {msg}")));
    }
    Ok(p)
}
