//! Running one bundle through `keel-shim run`: its stdout and stderr (the
//! container's, which it hands down) come back through one pipe, line by
//! line, to the caller's callback; the last lines are kept for the error
//! report. While it runs, a recorded SIGINT/SIGTERM (or the build's
//! cancellation) is forwarded to the shim, which stops, kills and deletes
//! the container before it exits.
//!
//! Never kills anything but the shim it started, by its pid.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{interrupt, RunError, Runtime};

/// How many output lines a failure report shows.
pub const TAIL_LINES: usize = 10;

/// What the shim reported.
#[derive(Debug, Default)]
pub(crate) struct ShimOutcome {
    /// The shim's own exit code.
    pub shim_exit: Option<i32>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub oom_killed: bool,
    pub error: Option<String>,
    /// The signal that interrupted the build while the step ran.
    pub interrupted: Option<i32>,
    pub tail: Vec<String>,
}

pub(crate) fn run_shim(
    rt: &Runtime,
    bundle: &Path,
    id: &str,
    result: &Path,
    on_output: &(dyn Fn(&str) + Sync),
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<ShimOutcome, RunError> {
    let io_err = |what: &'static str| {
        move |source: std::io::Error| RunError::Io {
            path: rt.shim.clone(),
            what,
            source,
        }
    };
    std::fs::create_dir_all(&rt.root).map_err(|source| RunError::Io {
        path: rt.root.clone(),
        what: "create the runtime's state dir",
        source,
    })?;
    let (reader, writer) = std::io::pipe().map_err(io_err("create an output pipe"))?;
    let mut cmd = Command::new(&rt.shim);
    cmd.arg("run")
        .arg("--runtime")
        .arg(&rt.runtime)
        .arg("--runtime-root")
        .arg(&rt.root)
        .arg("--bundle")
        .arg(bundle)
        .arg("--result")
        .arg(result)
        .arg("--grace")
        .arg("2")
        .arg(id)
        .stdin(Stdio::null())
        .stdout(Stdio::from(
            writer
                .try_clone()
                .map_err(io_err("duplicate the output pipe"))?,
        ))
        .stderr(Stdio::from(writer));
    let mut child = cmd.spawn().map_err(io_err("start keel-shim"))?;
    // Our copies of the pipe's write end must go, or the reader never ends.
    drop(cmd);
    let pid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));

    std::thread::scope(|s| {
        let out = s.spawn(move || {
            let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES);
            for line in BufReader::new(reader).split(b'\n') {
                let Ok(line) = line else { break };
                let text = String::from_utf8_lossy(&line);
                let text = text.trim_end_matches('\r');
                on_output(text);
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(text.to_owned());
            }
            Vec::from(tail)
        });
        let (tx, rx) = mpsc::channel();
        s.spawn(move || {
            let _ = tx.send(child.wait());
        });
        let mut interrupted = None;
        let status = loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(st) => break st.map_err(io_err("wait for keel-shim"))?,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(RunError::Shim {
                        reason: "lost track of keel-shim".into(),
                        tail: Vec::new(),
                    })
                }
            }
            if interrupted.is_none() {
                let sig = interrupt::received().or_else(|| cancelled().then_some(libc::SIGTERM));
                if let Some(sig) = sig {
                    interrupted = Some(sig);
                    let s = Signal::try_from(sig).unwrap_or(Signal::SIGTERM);
                    if let Err(e) = kill(pid, s) {
                        tracing::warn!(error = %e, "could not signal keel-shim");
                    }
                }
            }
        };
        let tail = out.join().unwrap_or_default();
        let mut o = ShimOutcome {
            shim_exit: status.code(),
            interrupted: interrupted.or_else(interrupt::received),
            tail,
            ..ShimOutcome::default()
        };
        match std::fs::read(result) {
            Ok(b) => {
                let v: serde_json::Value = serde_json::from_slice(&b).unwrap_or_default();
                let int = |k: &str| {
                    v.get(k)
                        .and_then(|x| x.as_i64())
                        .and_then(|x| i32::try_from(x).ok())
                };
                o.exit_code = int("exit_code");
                o.signal = int("signal");
                o.oom_killed = v
                    .get("oom_killed")
                    .and_then(|x| x.as_bool())
                    .unwrap_or(false);
                o.error = v.get("error").and_then(|x| x.as_str()).map(str::to_owned);
            }
            Err(e) => {
                o.error = Some(format!(
                    "keel-shim wrote no result ({e}); it exited with {status}"
                ));
            }
        }
        Ok(o)
    })
}
