//! The container side of `keel exec`: join the namespaces of a running
//! container, fork into its pid namespace, apply the process spec, execve.
//!
//! Like `create`, the intermediate joins the user namespace first, then the
//! others; the second fork is what puts the process inside the container's
//! pid namespace. Neither function returns.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};

use nix::sched::setns;
use nix::sys::signal::{SigSet, SigmaskHow};
use oci_spec::runtime::{LinuxNamespaceType, Process};

use super::{field, prepare_exec, setup_console, InitError, SeccompSetup};
use crate::channel::{Channel, ChildMsg, ParentMsg};
use crate::namespaces::flag;
use crate::sys::{self, ForkResult};

/// What the exec'd process needs, prepared before the fork.
pub struct ExecArgs<'a> {
    pub process: &'a Process,
    /// Namespaces of the container to join, user first.
    pub join: Vec<(LinuxNamespaceType, OwnedFd)>,
    pub console: Option<OwnedFd>,
    pub preserve_fds: u32,
    pub seccomp: Option<&'a crate::seccomp::Filter>,
    pub seccomp_listener: Option<OwnedFd>,
    /// The container's state JSON (status `running`), for a seccomp listener.
    pub state: String,
    pub chan: Channel,
}

/// The intermediate of `keel exec`. Never returns.
pub fn intermediate(a: ExecArgs<'_>) -> ! {
    let r = join(&a).and_then(|()| sys::fork().map_err(|e| field("process", format!("fork: {e}"))));
    match r {
        Ok(ForkResult::Child) => child(a),
        Ok(ForkResult::Parent { child }) => {
            let _ = a.chan.send(&ChildMsg::InitPid {
                pid: child.as_raw(),
            });
            sys::exit_now(0)
        }
        Err(e) => {
            let _ = a.chan.send(&ChildMsg::Error { msg: e.to_string() });
            sys::exit_now(1)
        }
    }
}

fn join(a: &ExecArgs<'_>) -> Result<(), InitError> {
    for (typ, fd) in &a.join {
        setns(fd.as_fd(), flag(*typ))
            .map_err(|e| field(format!("namespace {typ}"), format!("setns: {e}")))?;
        if *typ == LinuxNamespaceType::User {
            super::become_userns_root()?;
        }
    }
    Ok(())
}

fn child(a: ExecArgs<'_>) -> ! {
    let err = match child_steps(&a) {
        Ok(prepared) => {
            let _ = a.chan.send(&ChildMsg::Executing);
            InitError::Aborted(prepared.exec())
        }
        Err(e) => e,
    };
    if a.chan
        .send(&ChildMsg::Error {
            msg: err.to_string(),
        })
        .is_err()
    {
        let _ = writeln!(std::io::stderr(), "keel exec: {err}");
    }
    sys::exit_now(127)
}

fn child_steps(a: &ExecArgs<'_>) -> Result<super::Prepared, InitError> {
    sys::default_signal_dispositions();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .map_err(|e| field("process", format!("sigprocmask: {e}")))?;
    let _ = nix::sys::prctl::set_dumpable(false);
    let pid = match a.chan.recv::<ParentMsg>()? {
        ParentMsg::Proceed { pid } => pid,
        ParentMsg::Abort { msg } => return Err(InitError::Aborted(msg)),
        other => return Err(InitError::Aborted(format!("unexpected message {other:?}"))),
    };
    nix::unistd::setsid().map_err(|e| field("process", format!("setsid: {e}")))?;
    if a.process.terminal().unwrap_or(false) {
        setup_console(a.console.as_ref(), a.process, false)?;
    }
    let seccomp = match a.seccomp {
        Some(filter) => Some(SeccompSetup {
            filter,
            listener: match &a.seccomp_listener {
                Some(fd) => Some(
                    fd.try_clone()
                        .map_err(|e| field("linux.seccomp.listenerPath", e))?,
                ),
                None => None,
            },
            pid,
            state: a.state.clone(),
        }),
        None => None,
    };
    prepare_exec(a.process, a.preserve_fds, seccomp)
}

/// The namespaces of `pid` that differ from ours, opened, user first.
pub fn namespaces_of(pid: i32) -> std::io::Result<Vec<(LinuxNamespaceType, OwnedFd)>> {
    use std::os::unix::fs::MetadataExt;
    let types = [
        (LinuxNamespaceType::User, "user"),
        (LinuxNamespaceType::Ipc, "ipc"),
        (LinuxNamespaceType::Uts, "uts"),
        (LinuxNamespaceType::Network, "net"),
        (LinuxNamespaceType::Pid, "pid"),
        (LinuxNamespaceType::Cgroup, "cgroup"),
        (LinuxNamespaceType::Time, "time"),
        (LinuxNamespaceType::Mount, "mnt"),
    ];
    let mut out = Vec::new();
    for (typ, name) in types {
        let theirs = format!("/proc/{pid}/ns/{name}");
        let (Ok(t), Ok(o)) = (
            std::fs::metadata(&theirs),
            std::fs::metadata(format!("/proc/self/ns/{name}")),
        ) else {
            continue;
        };
        if t.ino() != o.ino() || t.dev() != o.dev() {
            out.push((typ, std::fs::File::open(&theirs)?.into()));
        }
    }
    Ok(out)
}
