//! Running the engines' command-line tools: a finished command's output,
//! background commands killed by PID, polling with a deadline.
//!
//! Never runs anything through a shell (arguments go as argv), and never
//! waits without a deadline.

use std::fs;
use std::io::{Read as _, Seek as _, Write as _};
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Longest any single command may take (a cold build of a big image, a
/// `docker load` of it).
pub const CMD_TIMEOUT: Duration = Duration::from_secs(180);

/// A finished command.
#[derive(Debug)]
pub struct Out {
    pub cmd: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// The output, or an error naming the command and what it printed.
    pub fn ok(&self) -> Result<&Out> {
        ensure!(
            self.code == 0,
            "`{}` exited {}\n  stdout: {}\n  stderr: {}",
            self.cmd,
            self.code,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        );
        Ok(self)
    }
}

/// `s` quoted for sh.
pub fn shq(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `cmd` as a shell would take it back (environment variables set on it
/// first), for error messages and reports.
pub fn describe(cmd: &Command) -> String {
    let word = |a: &str| {
        if a.is_empty()
            || a.contains(|c: char| !(c.is_ascii_alphanumeric() || "-_./:=,@+%".contains(c)))
        {
            shq(a)
        } else {
            a.to_string()
        }
    };
    let mut parts = Vec::new();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            parts.push(format!(
                "{}={}",
                k.to_string_lossy(),
                word(&v.to_string_lossy())
            ));
        }
    }
    parts.push(word(&cmd.get_program().to_string_lossy()));
    for a in cmd.get_args() {
        parts.push(word(&a.to_string_lossy()));
    }
    parts.join(" ")
}

fn read_back(mut f: &fs::File) -> String {
    let mut s = Vec::new();
    let _ = f.rewind();
    let _ = f.read_to_end(&mut s);
    String::from_utf8_lossy(&s).into_owned()
}

/// A command running in the background. Its output goes to anonymous
/// files (not pipes, which a daemonizing grandchild could hold open); it is
/// killed by PID and reaped on drop if still running.
pub struct Bg {
    child: Option<Child>,
    cmd: String,
    stdout: fs::File,
    stderr: fs::File,
}

impl Bg {
    pub fn spawn(cmd: &mut Command) -> Result<Bg> {
        let text = describe(cmd);
        let stdout = tempfile::tempfile()?;
        let stderr = tempfile::tempfile()?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(stdout.try_clone()?)
            .stderr(stderr.try_clone()?)
            .spawn()
            .with_context(|| format!("spawn `{text}`"))?;
        Ok(Bg {
            child: Some(child),
            cmd: text,
            stdout,
            stderr,
        })
    }

    /// Wait for it to exit, killing it after `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> Result<Out> {
        let t0 = Instant::now();
        let child = self.child.as_mut().context("already waited for")?;
        let status = loop {
            if let Some(st) = child.try_wait()? {
                break st;
            }
            if t0.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                self.child = None;
                bail!(
                    "`{}` still running after {timeout:?} (killed)\n  stdout: {}\n  stderr: {}",
                    self.cmd,
                    read_back(&self.stdout).trim_end(),
                    read_back(&self.stderr).trim_end()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        self.child = None;
        Ok(Out {
            cmd: self.cmd.clone(),
            code: status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
            stdout: read_back(&self.stdout),
            stderr: read_back(&self.stderr),
        })
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Run `cmd` to completion (stdin /dev/null), killing it after `CMD_TIMEOUT`.
pub fn run(cmd: &mut Command) -> Result<Out> {
    Bg::spawn(cmd)?.wait(CMD_TIMEOUT)
}

/// Run `cmd` and insist that it succeeds.
pub fn run_ok(cmd: &mut Command) -> Result<Out> {
    let out = run(cmd)?;
    out.ok()?;
    Ok(out)
}

/// Run `cmd` with `input` on its stdin; insist that it succeeds.
pub fn run_with_input(cmd: &mut Command, input: &[u8]) -> Result<Out> {
    let text = describe(cmd);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawn `{text}`"))?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(input)
        .with_context(|| format!("write the input of `{text}`"))?;
    let o = child.wait_with_output()?;
    let out = Out {
        cmd: text,
        code: o
            .status
            .code()
            .unwrap_or_else(|| 128 + o.status.signal().unwrap_or(0)),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    out.ok()?;
    Ok(out)
}

/// The path of program `name` (a path is taken as is), looking in PATH and
/// then in the sbin dirs a non-login root shell may lack.
pub fn find_program(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return Path::new(name).is_file().then(|| PathBuf::from(name));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A long-running engine process (dockerd, containerd, docker-registry),
/// stopped by PID: SIGTERM, then SIGKILL after 20 s. Its output goes to a
/// log file whose tail is shown when it fails to start.
pub struct Daemon {
    name: &'static str,
    child: Option<Child>,
    log: PathBuf,
}

impl Daemon {
    pub fn spawn(name: &'static str, cmd: &mut Command, log: PathBuf) -> Result<Daemon> {
        let f = fs::File::create(&log)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(f.try_clone()?)
            .stderr(f)
            .spawn()
            .with_context(|| format!("spawn {name}: {}", describe(cmd)))?;
        Ok(Daemon {
            name,
            child: Some(child),
            log,
        })
    }

    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    pub fn log_tail(&self) -> String {
        let s = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n    ")
    }

    /// Poll `ready` until it holds; fails early when the daemon exits.
    pub fn wait_ready(&mut self, timeout: Duration, mut ready: impl FnMut() -> bool) -> Result<()> {
        let t0 = Instant::now();
        loop {
            if !self.alive() {
                bail!("{} exited at start:\n    {}", self.name, self.log_tail());
            }
            if ready() {
                return Ok(());
            }
            if t0.elapsed() > timeout {
                bail!(
                    "{} not serving after {timeout:?}:\n    {}",
                    self.name,
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn stop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let pid = Pid::from_raw(c.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = c.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        super::say(&format!(
            "{} (pid {pid}) ignored SIGTERM for 20 s: SIGKILL",
            self.name
        ));
        let _ = c.kill();
        let _ = c.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}
