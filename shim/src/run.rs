//! One container from `create` to `delete`: the shim's whole job.
//!
//! Order: block the handled signals and open a signalfd, become a child
//! subreaper, make a private work dir (pid file, console socket), `create`,
//! read the init pid, receive the pty master, start the OOM watch, `start`,
//! supervise until init is reaped, read the OOM counter, `delete --force`,
//! reap leftovers. `delete --force` runs on every path once `create` was
//! attempted, failures included.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, sigprocmask, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;

use crate::console::{ConsoleError, ConsoleSocket, RawTerminal};
use crate::oom::{self, OomWatch};
use crate::reap;
use crate::runtime::{CreateStdio, Runtime, RuntimeError};
use crate::status::{Outcome, EXIT_SHIM_ERROR};
use crate::stop::StopPolicy;
use crate::supervise::{self, route, SignalRoute, SuperviseError, Supervisor, TtyPump};

/// How to run one container.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub id: String,
    pub bundle: PathBuf,
    pub runtime: Runtime,
    /// Require a terminal (the mode always follows the bundle's
    /// `process.terminal`; this only checks that it is set).
    pub require_tty: bool,
    /// Kill the container this long after `start`.
    pub timeout: Option<Duration>,
    /// How long a container may take to exit after the caller's forwarded
    /// SIGINT/SIGTERM before it is killed.
    pub grace: Duration,
    /// Where the private work dir goes (default: the system's temp dir).
    pub work_parent: Option<PathBuf>,
}

impl RunConfig {
    pub fn new(id: impl Into<String>, bundle: impl Into<PathBuf>, runtime: Runtime) -> RunConfig {
        RunConfig {
            id: id.into(),
            bundle: bundle.into(),
            runtime,
            require_tty: false,
            timeout: None,
            grace: Duration::from_secs(10),
            work_parent: None,
        }
    }
}

/// A run that failed before the container's status was known.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("container {id}: cannot read {path}: {source}; pass --bundle with a directory holding config.json")]
    Config {
        id: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("container {id}: {path} is not valid JSON: {source}")]
    ConfigJson {
        id: String,
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("container {id}: --tty was given but {path} has process.terminal false; set it to true or drop --tty")]
    NoTerminal { id: String, path: PathBuf },
    #[error("container {id}: cannot {what}: {source}")]
    Setup {
        id: String,
        what: String,
        source: std::io::Error,
    },
    #[error("container {id}: {source}")]
    Runtime { id: String, source: RuntimeError },
    #[error("container {id}: cannot read the init pid from {path}: {detail}; the runtime did not write a valid --pid-file")]
    PidFile {
        id: String,
        path: PathBuf,
        detail: String,
    },
    #[error("container {id}: {source}")]
    Console { id: String, source: ConsoleError },
    #[error(transparent)]
    Supervise(#[from] SuperviseError),
    #[error("container {id}: interrupted by signal {signal} before it started; it was deleted")]
    Interrupted { id: String, signal: i32 },
}

impl Error {
    /// The exit code the shim should exit with for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Interrupted { signal, .. } => 128 + signal,
            _ => EXIT_SHIM_ERROR,
        }
    }
}

/// Runs the container and returns how it ended.
///
/// The process becomes a child subreaper and reaps every child it has;
/// run one container per process, with no other children.
pub fn run(cfg: &RunConfig) -> Result<Outcome, Error> {
    let id = cfg.id.as_str();
    let setup = |what: &str| {
        let what = what.to_string();
        move |source: std::io::Error| Error::Setup {
            id: id.to_string(),
            what,
            source,
        }
    };
    let tty = wants_terminal(cfg)?;

    // Blocked signals are queued even when our parent left them ignored
    // (a background job's SIGINT): the kernel never discards a blocked
    // signal, so the signalfd sees them all.
    let mask = supervise::handled_signals();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)
        .map_err(|e| setup("block signals")(e.into()))?;
    let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| setup("open a signalfd")(e.into()))?;
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| setup("become a child subreaper")(e.into()))?;

    let work = WorkDir::new(cfg.work_parent.as_deref()).map_err(setup("make a work dir"))?;
    let pid_file = work.path.join("init.pid");
    let console = if tty {
        let sock = ConsoleSocket::listen(&work.path.join("console.sock")).map_err(|source| {
            Error::Console {
                id: id.to_string(),
                source,
            }
        })?;
        Some(sock)
    } else {
        None
    };

    // From here on the runtime may hold state for the container: always
    // delete it.
    let result = create_start_supervise(cfg, tty, console, &pid_file, &signals);
    if let Err(e) = cfg.runtime.delete_force(id) {
        tracing::warn!(id, error = %e, "delete --force failed");
        eprintln!("keel-shim: {e}");
    }
    let init = result.as_ref().map(|o| o.pid).unwrap_or(0);
    let killed = reap::reap_leftovers(init, Duration::from_secs(1), |d| wait_signal(&signals, d));
    if killed > 0 {
        tracing::warn!(id, killed, "killed leftover processes");
    }
    drop(work);
    result
}

fn create_start_supervise(
    cfg: &RunConfig,
    tty: bool,
    console: Option<ConsoleSocket>,
    pid_file: &Path,
    signals: &SignalFd,
) -> Result<Outcome, Error> {
    let id = cfg.id.as_str();
    let rt_err = |source| Error::Runtime {
        id: id.to_string(),
        source,
    };
    let stdio = if tty {
        CreateStdio::Console
    } else {
        CreateStdio::Inherit
    };
    cfg.runtime
        .create(
            id,
            &cfg.bundle,
            pid_file,
            console.as_ref().map(|c| c.path()),
            stdio,
        )
        .map_err(rt_err)?;
    let pid = read_pid_file(id, pid_file)?;
    tracing::debug!(id, pid, "created");

    let master = match console {
        Some(c) => {
            Some(
                c.receive_master(Duration::from_secs(5))
                    .map_err(|source| Error::Console {
                        id: id.to_string(),
                        source,
                    })?,
            )
        }
        None => None,
    };

    let mut oom = match oom::memory_cgroup_of(pid).and_then(OomWatch::new) {
        Ok(w) => {
            tracing::debug!(id, cgroup = ?w.cgroup(), "watching for OOM kills");
            Some(w)
        }
        Err(e) => {
            tracing::warn!(id, error = %e, "no OOM reporting");
            None
        }
    };

    // The caller gave up while we were creating: do not start.
    if let Some(signal) = pending_stop(signals, tty) {
        kill_and_reap(pid);
        return Err(Error::Interrupted {
            id: id.to_string(),
            signal,
        });
    }
    if let Err(source) = cfg.runtime.start(id) {
        kill_and_reap(pid);
        return Err(rt_err(source));
    }
    let started = Instant::now();
    tracing::debug!(id, pid, "started");

    let stdin = std::io::stdin();
    let _raw = match &master {
        Some(_) => RawTerminal::enter(std::os::fd::AsFd::as_fd(&stdin)),
        None => None,
    };
    let pump = master
        .map(TtyPump::new)
        .transpose()
        .map_err(|e| Error::Setup {
            id: id.to_string(),
            what: "make the pty master non-blocking".into(),
            source: e.into(),
        })?;
    let sup = Supervisor {
        id,
        pid,
        signals,
        tty: pump,
        oom: oom.as_mut(),
        policy: StopPolicy::new(started, cfg.timeout, cfg.grace),
    };
    let ended = match sup.run() {
        Ok(e) => e,
        Err(e) => {
            kill_and_reap(pid);
            return Err(e.into());
        }
    };
    let oom_killed = match &mut oom {
        Some(w) => w.oom_killed() || ended.oom_seen,
        None => false,
    };
    Ok(Outcome {
        id: id.to_string(),
        pid,
        termination: ended.termination,
        oom_killed,
        stopped: ended.stopped,
    })
}

/// The bundle's `process.terminal`, checked against `--tty`.
fn wants_terminal(cfg: &RunConfig) -> Result<bool, Error> {
    let path = cfg.bundle.join("config.json");
    let text = std::fs::read(&path).map_err(|source| Error::Config {
        id: cfg.id.clone(),
        path: path.clone(),
        source,
    })?;
    let v: serde_json::Value =
        serde_json::from_slice(&text).map_err(|source| Error::ConfigJson {
            id: cfg.id.clone(),
            path: path.clone(),
            source,
        })?;
    let terminal = v
        .pointer("/process/terminal")
        .and_then(|t| t.as_bool())
        .unwrap_or(false);
    if cfg.require_tty && !terminal {
        return Err(Error::NoTerminal {
            id: cfg.id.clone(),
            path,
        });
    }
    Ok(terminal)
}

/// Parses a pid file's text (a decimal pid, maybe with a newline).
pub fn parse_pid(text: &str) -> Result<i32, String> {
    let t = text.trim();
    match t.parse::<i32>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("{t:?} is not a pid")),
    }
}

fn read_pid_file(id: &str, path: &Path) -> Result<i32, Error> {
    let err = |detail: String| Error::PidFile {
        id: id.to_string(),
        path: path.to_path_buf(),
        detail,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    parse_pid(&text).map_err(err)
}

/// A SIGINT/SIGTERM already queued on the signalfd (other signals read
/// here are dropped: nothing is running yet to forward them to; SIGCHLD
/// is covered by the loop's first sweep).
fn pending_stop(signals: &SignalFd, tty: bool) -> Option<i32> {
    let mut stop = None;
    while let Ok(Some(info)) = signals.read_signal() {
        if let SignalRoute::Stop(s) = route(info.ssi_signo as i32, tty) {
            stop.get_or_insert(s);
        }
    }
    stop
}

/// SIGKILLs a container init that we will not supervise, and reaps it.
fn kill_and_reap(pid: i32) {
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        let s = reap::sweep(pid);
        if s.init.is_some() || s.none_left {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sleeps until a signal is queued or `d` passes (signals stay queued).
fn wait_signal(signals: &SignalFd, d: Duration) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
    let _ = poll(
        &mut fds,
        PollTimeout::try_from(d).unwrap_or(PollTimeout::MAX),
    );
    // Drain, so the next wait sleeps until something new arrives.
    while let Ok(Some(_)) = signals.read_signal() {}
}

/// A private 0700 directory for the pid file and console socket, removed
/// on drop.
struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    fn new(parent: Option<&Path>) -> std::io::Result<WorkDir> {
        let parent = parent
            .map(Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir);
        use std::os::unix::fs::DirBuilderExt;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        for n in 0..100u32 {
            let path = parent.join(format!(
                "keel-shim-{}-{:x}",
                std::process::id(),
                nanos.wrapping_add(n)
            ));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(WorkDir { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_files() {
        assert_eq!(parse_pid("1234\n"), Ok(1234));
        assert_eq!(parse_pid("77"), Ok(77));
        assert!(parse_pid("").is_err());
        assert!(parse_pid("0").is_err());
        assert!(parse_pid("-5").is_err());
        assert!(parse_pid("12abc").is_err());
    }

    #[test]
    fn terminal_follows_the_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = RunConfig::new("c", dir.path(), Runtime::new("keel", None));
        let e = wants_terminal(&cfg).unwrap_err();
        assert!(e.to_string().contains("--bundle"), "{e}");
        std::fs::write(dir.path().join("config.json"), "{").unwrap();
        assert!(matches!(
            wants_terminal(&cfg),
            Err(Error::ConfigJson { .. })
        ));
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"process":{"terminal":true}}"#,
        )
        .unwrap();
        assert!(wants_terminal(&cfg).unwrap());
        std::fs::write(dir.path().join("config.json"), r#"{"process":{}}"#).unwrap();
        assert!(!wants_terminal(&cfg).unwrap());
        cfg.require_tty = true;
        let e = wants_terminal(&cfg).unwrap_err();
        assert!(e.to_string().contains("process.terminal false"), "{e}");
    }

    #[test]
    fn error_exit_codes() {
        let e = Error::Interrupted {
            id: "c".into(),
            signal: 2,
        };
        assert_eq!(e.exit_code(), 130);
        let e = Error::NoTerminal {
            id: "c".into(),
            path: "/b/config.json".into(),
        };
        assert_eq!(e.exit_code(), EXIT_SHIM_ERROR);
    }
}
