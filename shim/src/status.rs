//! How a container ended, the exit code the shim reports for it, and the
//! JSON result file written for callers such as hoist.
//!
//! Pure logic: no kernel calls except the result file's write.

use std::io::Write;
use std::path::Path;

/// Exit code of the shim when the container ran past `--timeout` and was
/// killed (as coreutils `timeout`).
pub const EXIT_TIMEOUT: i32 = 124;
/// Exit code of the shim when it, or the runtime, failed before the
/// container's status was known (as `docker run` and `podman run`).
pub const EXIT_SHIM_ERROR: i32 = 125;

/// How the container's init process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Termination {
    /// It exited with this status.
    Exited(i32),
    /// A signal killed it.
    Signaled(i32),
}

impl Termination {
    /// The shell's convention: the status, or 128+N for signal N.
    pub fn code(self) -> i32 {
        match self {
            Termination::Exited(c) => c,
            Termination::Signaled(s) => 128 + s,
        }
    }

    /// The signal that killed it, if one did.
    pub fn signal(self) -> Option<i32> {
        match self {
            Termination::Exited(_) => None,
            Termination::Signaled(s) => Some(s),
        }
    }
}

/// Why the shim stopped the container, when it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// `--timeout` expired: the container was killed.
    Timeout,
    /// The caller sent this signal (SIGINT or SIGTERM); it was forwarded,
    /// and the container did not exit within the grace period, so it was
    /// killed.
    AfterGrace(i32),
}

/// Everything the shim learned about one container run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub id: String,
    /// The host pid of the container's init process.
    pub pid: i32,
    pub termination: Termination,
    /// A process of the container's memory cgroup was OOM-killed.
    pub oom_killed: bool,
    /// Set when the shim had to kill the container.
    pub stopped: Option<Stopped>,
}

impl Outcome {
    /// The shim's own exit code: the container's (128+N for signal N),
    /// except 124 after a `--timeout` and 128+S when the caller's signal S
    /// had to be followed by a kill.
    pub fn exit_code(&self) -> i32 {
        match self.stopped {
            Some(Stopped::Timeout) => EXIT_TIMEOUT,
            Some(Stopped::AfterGrace(sig)) => 128 + sig,
            None => self.termination.code(),
        }
    }
}

/// The JSON result document.
#[derive(Debug, serde::Serialize)]
pub struct ResultDoc<'a> {
    pub id: &'a str,
    /// The init pid; null if the container was never created.
    pub pid: Option<i32>,
    /// The container's status (128+N for signal N); null if unknown.
    pub exit_code: Option<i32>,
    /// The signal that killed init, if any.
    pub signal: Option<i32>,
    pub oom_killed: bool,
    pub timed_out: bool,
    /// The shim's own exit code.
    pub shim_exit_code: i32,
    /// Set when the shim failed; the message it printed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl<'a> ResultDoc<'a> {
    pub fn from_outcome(o: &'a Outcome) -> ResultDoc<'a> {
        ResultDoc {
            id: &o.id,
            pid: Some(o.pid),
            exit_code: Some(o.termination.code()),
            signal: o.termination.signal(),
            oom_killed: o.oom_killed,
            timed_out: o.stopped == Some(Stopped::Timeout),
            shim_exit_code: o.exit_code(),
            error: None,
        }
    }

    pub fn from_error(id: &'a str, shim_exit_code: i32, error: String) -> ResultDoc<'a> {
        ResultDoc {
            id,
            pid: None,
            exit_code: None,
            signal: None,
            oom_killed: false,
            timed_out: false,
            shim_exit_code,
            error: Some(error),
        }
    }

    /// Writes the document to `path` atomically (a temp file renamed over it).
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut text = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        text.push(b'\n');
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(t: Termination, stopped: Option<Stopped>) -> Outcome {
        Outcome {
            id: "c".into(),
            pid: 42,
            termination: t,
            oom_killed: false,
            stopped,
        }
    }

    #[test]
    fn exit_codes() {
        assert_eq!(outcome(Termination::Exited(0), None).exit_code(), 0);
        assert_eq!(outcome(Termination::Exited(3), None).exit_code(), 3);
        assert_eq!(outcome(Termination::Signaled(9), None).exit_code(), 137);
        assert_eq!(outcome(Termination::Signaled(15), None).exit_code(), 143);
        // The container trapped the forwarded signal and exited by itself.
        assert_eq!(outcome(Termination::Exited(7), None).exit_code(), 7);
        assert_eq!(
            outcome(Termination::Signaled(9), Some(Stopped::Timeout)).exit_code(),
            EXIT_TIMEOUT
        );
        assert_eq!(
            outcome(Termination::Signaled(9), Some(Stopped::AfterGrace(2))).exit_code(),
            130
        );
    }

    #[test]
    fn result_json() {
        let mut o = outcome(Termination::Signaled(9), Some(Stopped::Timeout));
        o.oom_killed = true;
        let v = serde_json::to_value(ResultDoc::from_outcome(&o)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"id": "c", "pid": 42, "exit_code": 137, "signal": 9,
                "oom_killed": true, "timed_out": true, "shim_exit_code": 124})
        );
        let v = serde_json::to_value(ResultDoc::from_error("c", 125, "boom".into())).unwrap();
        assert_eq!(v["error"], "boom");
        assert_eq!(v["exit_code"], serde_json::Value::Null);
    }

    #[test]
    fn result_file_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        std::fs::write(&p, "old garbage that is longer than the new text").unwrap();
        let o = outcome(Termination::Exited(3), None);
        ResultDoc::from_outcome(&o).write(&p).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(v["exit_code"], 3);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
