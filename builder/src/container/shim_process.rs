//! Running a bundle under `keel-shim`: finding the shim and the runtime
//! (next to the hoist binary, else on PATH), spawning
//! `keel-shim run --runtime R --bundle B [--tty] --result F ID` with our
//! stdio, and waiting for it while passing on the signals sent to us.
//!
//! Signals: SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 are
//! blocked while the shim runs and read from a signalfd. One sent to us
//! (`kill`, si_code ≤ 0) is forwarded to the shim, which forwards it to the
//! container; one the terminal sent to the whole foreground group (Ctrl-C,
//! si_code SI_KERNEL) already reached the shim and is dropped. So hoist
//! outlives the container and can remove it (`--rm`).
//!
//! Must never leave the caller's signal mask changed, nor let a blocked
//! terminal signal kill hoist after the shim is gone.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;
use serde::Deserialize;

use super::ContainerError;

/// Finds a helper binary: a path with a `/` as given; a bare name next to
/// the running executable, else on PATH.
pub fn find_binary(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_executable(&p).then_some(p);
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        let p = dir.join(name);
        if is_executable(&p) {
            return Some(p);
        }
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// How to start the shim.
#[derive(Debug, Clone)]
pub struct ShimCommand<'a> {
    pub shim: &'a Path,
    pub runtime: &'a Path,
    pub bundle: &'a Path,
    pub id: &'a str,
    pub tty: bool,
    /// Keep our stdin (`-i`); otherwise the container reads /dev/null.
    pub stdin: bool,
    pub result: &'a Path,
}

/// What the shim's `--result` file says.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ShimResult {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    #[serde(default)]
    pub oom_killed: bool,
    #[serde(default)]
    pub timed_out: bool,
    pub error: Option<String>,
}

/// The shim's exit code (128+N when it was killed by signal N) and its
/// result file when it wrote one.
#[derive(Debug, Clone)]
pub struct ShimExit {
    pub code: i32,
    pub result: Option<ShimResult>,
}

const FORWARDED: &[Signal] = &[
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// Restores the signal mask (after draining what is pending) on drop.
struct MaskGuard {
    old: SigSet,
    set: SigSet,
    fd: SignalFd,
}

impl Drop for MaskGuard {
    fn drop(&mut self) {
        // Pending blocked signals would be delivered on unblock, with their
        // default action (terminate): read them away first, through a
        // non-blocking signalfd on the same set.
        if let Ok(fd) =
            SignalFd::with_flags(&self.set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        {
            while let Ok(Some(_)) = fd.read_signal() {}
        }
        let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&self.old), None);
    }
}

/// Spawns the shim and waits for it, forwarding signals (module doc).
pub fn run_shim(c: &ShimCommand<'_>) -> Result<ShimExit, ContainerError> {
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(*s);
    }
    set.add(Signal::SIGCHLD);
    let mut old = SigSet::empty();
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old))
        .map_err(|e| ContainerError::Signals { source: e.into() })?;
    let fd = match SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
            return Err(ContainerError::Signals { source: e.into() });
        }
    };
    let guard = MaskGuard { old, set, fd };

    let mut cmd = Command::new(c.shim);
    cmd.arg("run")
        .arg("--runtime")
        .arg(c.runtime)
        .arg("--bundle")
        .arg(c.bundle)
        .arg("--result")
        .arg(c.result);
    if c.tty {
        cmd.arg("--tty");
    }
    cmd.arg(c.id);
    if !c.stdin {
        cmd.stdin(Stdio::null());
    }
    tracing::debug!(?cmd, "starting the shim");
    let mut child = cmd.spawn().map_err(|source| ContainerError::Spawn {
        path: c.shim.to_owned(),
        source,
    })?;
    let pid = Pid::from_raw(child.id() as i32);
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) => {}
            Err(source) => {
                return Err(ContainerError::Spawn {
                    path: c.shim.to_owned(),
                    source,
                })
            }
        }
        // Blocks until the next signal; SIGCHLD is in the set, so the
        // shim's exit wakes us too.
        let info = match guard.fd.read_signal() {
            Ok(Some(info)) => info,
            Ok(None) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(ContainerError::Signals { source: e.into() }),
        };
        let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
            continue;
        };
        if sig == Signal::SIGCHLD || info.ssi_code == libc::SI_KERNEL {
            continue;
        }
        tracing::debug!(?sig, "forwarding a signal to the shim");
        let _ = kill(pid, sig);
    };
    drop(guard);
    let result = std::fs::read(c.result)
        .ok()
        .and_then(|b| serde_json::from_slice::<ShimResult>(&b).ok());
    Ok(ShimExit {
        code: exit_code(status),
        result,
    })
}

fn exit_code(st: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    st.code()
        .or_else(|| st.signal().map(|s| 128 + s))
        .unwrap_or(125)
}
