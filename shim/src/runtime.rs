//! A small typed client of a runc-compatible runtime's CLI: the argument
//! lists for `create`, `start` and `delete --force`, and running them.
//!
//! It never parses the runtime's output: stdout and stderr are inherited
//! (create's stdio becomes the container's when there is no terminal), so
//! the runtime's own error message reaches the caller as it wrote it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// A runtime command that could not run or failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot run `{command}`: {source}; check --runtime names an executable runc-compatible runtime")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}); the runtime's message is above")]
    Failed { command: String, status: ExitStatus },
}

/// The runtime binary and its global flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Runtime {
    /// The executable (a path, or a name looked up on PATH).
    pub binary: PathBuf,
    /// `--root DIR`, when not the runtime's default.
    pub root: Option<PathBuf>,
}

/// What the container's stdio is while `create` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateStdio {
    /// The runtime (and so the container) inherits our stdin, stdout, stderr.
    Inherit,
    /// The container gets a pty; the runtime gets no stdin.
    Console,
}

impl Runtime {
    pub fn new(binary: impl Into<PathBuf>, root: Option<PathBuf>) -> Runtime {
        Runtime {
            binary: binary.into(),
            root,
        }
    }

    /// The global flags that go before every command.
    fn globals(&self) -> Vec<OsString> {
        match &self.root {
            Some(r) => vec!["--root".into(), r.into()],
            None => Vec::new(),
        }
    }

    /// `[--root R] create --bundle B --pid-file P [--console-socket S] ID`.
    pub fn create_args(
        &self,
        id: &str,
        bundle: &Path,
        pid_file: &Path,
        console_socket: Option<&Path>,
    ) -> Vec<OsString> {
        let mut a = self.globals();
        a.extend([
            "create".into(),
            "--bundle".into(),
            bundle.into(),
            "--pid-file".into(),
            pid_file.into(),
        ]);
        if let Some(s) = console_socket {
            a.extend(["--console-socket".into(), s.into()]);
        }
        a.push(id.into());
        a
    }

    /// `[--root R] start ID`.
    pub fn start_args(&self, id: &str) -> Vec<OsString> {
        let mut a = self.globals();
        a.extend(["start".into(), id.into()]);
        a
    }

    /// `[--root R] delete --force ID`.
    pub fn delete_args(&self, id: &str) -> Vec<OsString> {
        let mut a = self.globals();
        a.extend(["delete".into(), "--force".into(), id.into()]);
        a
    }

    /// Runs `create`; returns when the container is created (its init
    /// waits for `start`).
    pub fn create(
        &self,
        id: &str,
        bundle: &Path,
        pid_file: &Path,
        console_socket: Option<&Path>,
        stdio: CreateStdio,
    ) -> Result<(), RuntimeError> {
        let stdin = match stdio {
            CreateStdio::Inherit => Stdio::inherit(),
            CreateStdio::Console => Stdio::null(),
        };
        self.exec(
            self.create_args(id, bundle, pid_file, console_socket),
            stdin,
        )
    }

    /// Runs `start`.
    pub fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.exec(self.start_args(id), Stdio::null())
    }

    /// Runs `delete --force` (kills what is left of the container and
    /// removes its state and cgroup; succeeds for an unknown id).
    pub fn delete_force(&self, id: &str) -> Result<(), RuntimeError> {
        self.exec(self.delete_args(id), Stdio::null())
    }

    fn exec(&self, args: Vec<OsString>, stdin: Stdio) -> Result<(), RuntimeError> {
        let command = self.display(&args);
        tracing::debug!(%command, "running the runtime");
        let mut cmd = Command::new(&self.binary);
        cmd.args(&args).stdin(stdin);
        crate::sys::exec_with_clean_signals(&mut cmd);
        let status = cmd.status().map_err(|source| RuntimeError::Spawn {
            command: command.clone(),
            source,
        })?;
        if status.success() {
            Ok(())
        } else {
            Err(RuntimeError::Failed { command, status })
        }
    }

    /// The command line as text, for messages.
    pub fn display(&self, args: &[OsString]) -> String {
        let mut s = self.binary.display().to_string();
        for a in args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }
}

/// The runtime used when none is given: `keel` next to our own executable
/// if it is there, else `keel` looked up on PATH.
pub fn default_runtime() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("keel")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("keel"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: Vec<OsString>) -> Vec<String> {
        v.into_iter()
            .map(|s| s.into_string().expect("utf-8"))
            .collect()
    }

    #[test]
    fn create_args_follow_runcs_order() {
        let rt = Runtime::new("/usr/sbin/runc", Some("/run/r".into()));
        let a = rt.create_args("c1", Path::new("/b"), Path::new("/w/pid"), None);
        assert_eq!(
            strs(a),
            [
                "--root",
                "/run/r",
                "create",
                "--bundle",
                "/b",
                "--pid-file",
                "/w/pid",
                "c1"
            ]
        );
        let a = rt.create_args(
            "c1",
            Path::new("/b"),
            Path::new("/w/pid"),
            Some(Path::new("/w/console.sock")),
        );
        assert_eq!(strs(a)[7..], ["--console-socket", "/w/console.sock", "c1"]);
    }

    #[test]
    fn no_root_flag_without_a_root() {
        let rt = Runtime::new("keel", None);
        assert_eq!(strs(rt.start_args("x")), ["start", "x"]);
        assert_eq!(strs(rt.delete_args("x")), ["delete", "--force", "x"]);
        let rt = Runtime::new("keel", Some("/r".into()));
        assert_eq!(
            strs(rt.delete_args("x")),
            ["--root", "/r", "delete", "--force", "x"]
        );
    }

    #[test]
    fn failures_name_the_command() {
        let rt = Runtime::new("/nonexistent/keel-runtime", None);
        let e = rt.start("c9").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("/nonexistent/keel-runtime start c9"), "{msg}");
        assert!(msg.contains("--runtime"), "{msg}");
        let rt = Runtime::new("false", None);
        let msg = rt.delete_force("c9").unwrap_err().to_string();
        assert!(msg.contains("false delete --force c9"), "{msg}");
    }
}
