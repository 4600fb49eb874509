//! A small typed driver of the runc command line, for any runtime binary
//! that keeps runc's CLI (runc, crun, keel).
//!
//! Every call passes `--root`, runs with stdin from /dev/null and stdout and
//! stderr sent to files (a created container inherits them and would keep a
//! pipe open for its whole life), and is killed after a timeout.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::error::{io_err, Error, Result};
use crate::{host, sys};

/// The outcome of one runtime invocation.
#[derive(Debug, Clone)]
pub struct CmdOutput {
    /// The command line, for messages.
    pub cmd: String,
    /// The exit code, or 128+N when killed by signal N.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// Where stdout and stderr went; a created container writes there too.
    pub stdout_path: PathBuf,
    pub stderr_path: PathBuf,
}

impl CmdOutput {
    pub fn success(&self) -> bool {
        self.code == 0
    }

    /// `Ok(self)` if the command exited 0, else an error with its stderr.
    pub fn ok(self) -> Result<Self> {
        if self.success() {
            Ok(self)
        } else {
            Err(Error::Failed {
                cmd: self.cmd,
                code: self.code,
                stderr: self.stderr,
            })
        }
    }

    /// Re-read the output files (to see what a container wrote later).
    pub fn reread(&self) -> (String, String) {
        let read = |p: &Path| {
            fs::read(p)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        (read(&self.stdout_path), read(&self.stderr_path))
    }
}

/// Flags of `create` and `run`.
#[derive(Debug, Default)]
pub struct CreateOptions {
    pub bundle: PathBuf,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    /// Passed to the runtime as fds 3, 4, … with `--preserve-fds N`.
    pub preserve_fds: Vec<OwnedFd>,
    pub no_pivot: bool,
    /// `run -d`.
    pub detach: bool,
    /// Extra flags placed before the container id.
    pub extra: Vec<String>,
}

impl CreateOptions {
    pub fn bundle(path: impl Into<PathBuf>) -> Self {
        CreateOptions {
            bundle: path.into(),
            ..Default::default()
        }
    }
}

/// The `state` JSON, as runc prints it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    pub pid: i64,
    pub status: String,
    pub bundle: String,
    #[serde(default)]
    pub rootfs: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// A runtime binary with its own `--root`.
#[derive(Debug)]
pub struct Runtime {
    name: String,
    bin: PathBuf,
    root: PathBuf,
    logs: tempfile::TempDir,
    seq: AtomicUsize,
    /// Killed after this long (default 30 s).
    pub timeout: Duration,
    /// Global flags put after `--root ROOT`, e.g. `--log F --log-format json`.
    pub global_args: Vec<String>,
}

impl Runtime {
    /// Drive `bin` with `--root root`. `root` is not created or removed here.
    pub fn new(name: &str, bin: impl Into<PathBuf>, root: impl Into<PathBuf>) -> Result<Self> {
        let logs = tempfile::Builder::new()
            .prefix("keel-conf-logs-")
            .tempdir()
            .map_err(io_err("create a log dir"))?;
        Ok(Runtime {
            name: name.to_string(),
            bin: bin.into(),
            root: root.into(),
            logs,
            seq: AtomicUsize::new(0),
            timeout: Duration::from_secs(30),
            global_args: Vec::new(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn bin(&self) -> &Path {
        &self.bin
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Run `runtime --root ROOT ARGS…`.
    pub fn exec<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<CmdOutput> {
        let mut full = self.global();
        full.extend(args.iter().map(|a| a.as_ref().to_os_string()));
        self.exec_raw(&full, Vec::new())
    }

    fn global(&self) -> Vec<OsString> {
        let mut g: Vec<OsString> = vec!["--root".into(), self.root.clone().into()];
        g.extend(self.global_args.iter().map(OsString::from));
        g
    }

    /// Run the runtime with exactly `args` (no `--root` added), passing
    /// `fds` as descriptors 3, 4, ….
    pub fn exec_raw(&self, args: &[OsString], fds: Vec<OwnedFd>) -> Result<CmdOutput> {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let verb = args
            .iter()
            .filter_map(|a| a.to_str())
            .find(|a| !a.starts_with('-') && !a.starts_with('/'))
            .unwrap_or("cmd")
            .to_string();
        let stdout_path = self.logs.path().join(format!("{n:04}-{verb}.out"));
        let stderr_path = self.logs.path().join(format!("{n:04}-{verb}.err"));
        let cmd_text = format!(
            "{} {}",
            self.bin.display(),
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let out = fs::File::create(&stdout_path).map_err(io_err("create an output file"))?;
        let err = fs::File::create(&stderr_path).map_err(io_err("create an output file"))?;
        let mut cmd = Command::new(&self.bin);
        cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
        // Move each descriptor above the targets first, so the dup2 calls in
        // the child cannot clobber one another.
        let high: Vec<OwnedFd> = fds
            .iter()
            .map(|fd| sys::dup_at_least(fd.as_raw_fd(), 10 + fds.len() as i32))
            .collect::<std::io::Result<_>>()
            .map_err(io_err("duplicate a preserved fd"))?;
        if !high.is_empty() {
            sys::pass_fds(&mut cmd, high.iter().map(AsRawFd::as_raw_fd).collect());
        }
        let mut child = host::spawn_tracked(&mut cmd)
            .map_err(io_err(format!("spawn {}", self.bin.display())))?;
        drop(high);
        let pid = child.id();
        let start = Instant::now();
        let mut nap = Duration::from_micros(500);
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) => {}
                Err(e) => {
                    host::untrack(pid);
                    return Err(io_err(format!("wait for {cmd_text}"))(e));
                }
            }
            if start.elapsed() > self.timeout {
                let _ = child.kill();
                let _ = child.wait();
                host::untrack(pid);
                return Err(Error::Timeout {
                    cmd: cmd_text,
                    secs: self.timeout.as_secs(),
                });
            }
            std::thread::sleep(nap);
            nap = (nap * 2).min(Duration::from_millis(10));
        };
        host::untrack(pid);
        use std::os::unix::process::ExitStatusExt;
        let code = status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        let read = |p: &Path| {
            fs::read(p)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        Ok(CmdOutput {
            cmd: cmd_text,
            code,
            stdout: read(&stdout_path),
            stderr: read(&stderr_path),
            stdout_path,
            stderr_path,
        })
    }

    fn create_like(&self, verb: &str, id: &str, opts: CreateOptions) -> Result<CmdOutput> {
        let mut args = self.global();
        args.extend([verb.into(), "--bundle".into(), opts.bundle.clone().into()]);
        if let Some(s) = &opts.console_socket {
            args.push("--console-socket".into());
            args.push(s.clone().into());
        }
        if let Some(p) = &opts.pid_file {
            args.push("--pid-file".into());
            args.push(p.clone().into());
        }
        if !opts.preserve_fds.is_empty() {
            args.push("--preserve-fds".into());
            args.push(opts.preserve_fds.len().to_string().into());
        }
        if opts.no_pivot {
            args.push("--no-pivot".into());
        }
        if opts.detach {
            args.push("--detach".into());
        }
        args.extend(opts.extra.iter().map(OsString::from));
        args.push(id.into());
        self.exec_raw(&args, opts.preserve_fds)
    }

    /// `create --bundle B [flags] ID`.
    pub fn create(&self, id: &str, opts: CreateOptions) -> Result<CmdOutput> {
        self.create_like("create", id, opts)
    }

    /// `run --bundle B [flags] ID`; without `detach` it waits for the
    /// container and exits with its status.
    pub fn run(&self, id: &str, opts: CreateOptions) -> Result<CmdOutput> {
        self.create_like("run", id, opts)
    }

    pub fn start(&self, id: &str) -> Result<CmdOutput> {
        self.exec(&["start", id])
    }

    pub fn state(&self, id: &str) -> Result<CmdOutput> {
        self.exec(&["state", id])
    }

    /// `state ID`, parsed; an error if it fails.
    pub fn state_json(&self, id: &str) -> Result<State> {
        let out = self.state(id)?.ok()?;
        serde_json::from_str(&out.stdout).map_err(|source| Error::Json {
            cmd: out.cmd,
            text: out.stdout,
            source,
        })
    }

    pub fn kill(&self, id: &str, signal: &str) -> Result<CmdOutput> {
        self.exec(&["kill", id, signal])
    }

    pub fn kill_all(&self, id: &str, signal: &str) -> Result<CmdOutput> {
        self.exec(&["kill", "--all", id, signal])
    }

    pub fn delete(&self, id: &str) -> Result<CmdOutput> {
        self.exec(&["delete", id])
    }

    pub fn delete_force(&self, id: &str) -> Result<CmdOutput> {
        self.exec(&["delete", "--force", id])
    }

    /// `list -f json`, as raw JSON values (an empty list may print `null`).
    pub fn list_json(&self) -> Result<Vec<serde_json::Value>> {
        let out = self.exec(&["list", "--format", "json"])?.ok()?;
        let v: serde_json::Value =
            serde_json::from_str(&out.stdout).map_err(|source| Error::Json {
                cmd: out.cmd.clone(),
                text: out.stdout.clone(),
                source,
            })?;
        match v {
            serde_json::Value::Null => Ok(Vec::new()),
            serde_json::Value::Array(a) => Ok(a),
            other => Err(Error::Check(format!("{} printed {other}", out.cmd))),
        }
    }

    /// Wait until `state ID` reports `status` (or fails, if `status` is None).
    pub fn wait_status(&self, id: &str, status: &str, timeout: Duration) -> Result<State> {
        let start = Instant::now();
        loop {
            let st = self.state_json(id)?;
            if st.status == status {
                return Ok(st);
            }
            if start.elapsed() > timeout {
                return Err(Error::Check(format!(
                    "{} state {id}: still {} after {timeout:?} (want {status})",
                    self.name, st.status
                )));
            }
            host::reap_orphans();
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A fake runtime that prints its argv and what its fd 3 is, then exits 3.
    /// The shell tests fd 3 with builtins only: a pipeline would open pipe fds
    /// in the shell itself and make the answer racy.
    fn fake_runtime(dir: &Path) -> PathBuf {
        let p = dir.join("fake-runtime");
        fs::write(
            &p,
            "#!/bin/sh\necho \"$@\"\nif [ -e /proc/$$/fd/3 ]; then readlink /proc/$$/fd/3 >&2; else echo closed >&2; fi\nexit 3\n",
        )
        .unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn builds_runc_command_lines_and_passes_fds() {
        let dir = tempfile::tempdir().unwrap();
        let mut rt = Runtime::new("fake", fake_runtime(dir.path()), "/run/fake-root").unwrap();
        rt.global_args = vec!["--log-format".into(), "json".into()];
        let extra = fs::File::open("/dev/null").unwrap();
        let out = rt
            .create(
                "c1",
                CreateOptions {
                    pid_file: Some("/tmp/p.pid".into()),
                    preserve_fds: vec![extra.into()],
                    ..CreateOptions::bundle("/b")
                },
            )
            .unwrap();
        assert_eq!(out.code, 3);
        assert_eq!(
            out.stdout.trim(),
            "--root /run/fake-root --log-format json create --bundle /b --pid-file /tmp/p.pid --preserve-fds 1 c1"
        );
        assert_eq!(out.stderr.trim(), "/dev/null", "fd 3 not passed");
        assert!(out.clone().ok().is_err());
        let k = rt.kill("c1", "KILL").unwrap();
        assert!(k.stdout.contains("kill c1 KILL"));
        assert_eq!(k.stderr.trim(), "closed", "fd 3 leaked into a later call");
    }

    #[test]
    fn times_out() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("slow");
        fs::write(&p, "#!/bin/sh\nexec sleep 5\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        let mut rt = Runtime::new("slow", &p, "/r").unwrap();
        rt.timeout = Duration::from_millis(200);
        assert!(matches!(rt.start("x"), Err(Error::Timeout { .. })));
    }
}
