//! Helpers for keel-shim's integration tests: runtimes to test against,
//! busybox bundles, a runtime root per test, and a running shim that is
//! killed (by pid) and whose container is deleted on drop.
//!
//! The shim under test is `KEEL_SHIM_BIN` (hack/test.sh points it at the
//! shipped, statically linked build of hack/build.sh), else cargo's build.
//! Every scenario runs with each runtime of `KEEL_TEST_RUNTIMES` (default
//! "keel,runc"). keel is `KEEL_BIN`, else `keel` next to the keel-shim under
//! test, else `target/release/keel`; runc is `RUNC_BIN` or /usr/sbin/runc.
//! A missing binary fails the test with the command that builds it.
#![allow(dead_code)]

use std::fs;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};

pub const WAIT: Duration = Duration::from_secs(20);

/// The keel-shim binary under test.
pub fn shim_bin() -> PathBuf {
    match std::env::var_os("KEEL_SHIM_BIN") {
        Some(p) if !p.is_empty() => {
            let p = PathBuf::from(p);
            // cargo runs tests in the package's dir, not the caller's.
            assert!(
                p.is_absolute(),
                "KEEL_SHIM_BIN must be an absolute path, not {}",
                p.display()
            );
            p
        }
        _ => PathBuf::from(env!("CARGO_BIN_EXE_keel-shim")),
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("shim/ has a parent")
        .to_path_buf()
}

/// A runtime to test with.
#[derive(Clone, Debug)]
pub struct Rt {
    pub name: &'static str,
    pub bin: PathBuf,
}

fn keel_bin() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("KEEL_BIN") {
        return Ok(p.into());
    }
    let shim = shim_bin();
    let dir = shim.parent().expect("binary has a dir");
    let candidates = [
        dir.join("keel"),
        dir.join("../release/keel"),
        workspace().join("target/release/keel"),
    ];
    candidates.into_iter().find(|p| p.is_file()).context(
        "keel not found next to keel-shim or in target/release: build it with \
         `cargo build --release -p keel-runtime`, set KEEL_BIN, or test runc \
         alone with KEEL_TEST_RUNTIMES=runc",
    )
}

/// The runtimes selected by KEEL_TEST_RUNTIMES.
pub fn runtimes() -> Result<Vec<Rt>> {
    let sel = std::env::var("KEEL_TEST_RUNTIMES").unwrap_or_else(|_| "keel,runc".into());
    let mut out = Vec::new();
    for name in sel.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match name {
            "keel" => out.push(Rt {
                name: "keel",
                bin: keel_bin()?,
            }),
            "runc" => {
                let bin: PathBuf = std::env::var_os("RUNC_BIN")
                    .map(Into::into)
                    .unwrap_or_else(|| "/usr/sbin/runc".into());
                ensure!(
                    bin.is_file(),
                    "runc not found at {}: apt-get install runc or set RUNC_BIN",
                    bin.display()
                );
                out.push(Rt { name: "runc", bin });
            }
            other => {
                bail!("KEEL_TEST_RUNTIMES: unknown runtime {other:?} (use keel, runc or keel,runc)")
            }
        }
    }
    ensure!(!out.is_empty(), "KEEL_TEST_RUNTIMES selects no runtime");
    Ok(out)
}

/// Runs `f` once per runtime; reports every runtime's failure together.
pub fn each_runtime(f: impl Fn(&Ctx) -> Result<()>) {
    assert!(
        std::os::unix::fs::MetadataExt::uid(&fs::metadata("/proc/self").expect("/proc")) == 0,
        "keel-shim's integration tests run real containers: run them as root"
    );
    let mut failures = Vec::new();
    for rt in runtimes().unwrap_or_else(|e| panic!("{e:#}")) {
        let r = Ctx::new(rt.clone()).and_then(|ctx| f(&ctx));
        if let Err(e) = r {
            failures.push(format!("[{}] {e:#}", rt.name));
        }
    }
    if !failures.is_empty() {
        panic!("{}", failures.join("\n\n"));
    }
}

/// One runtime, with a private `--root` and scratch dir.
pub struct Ctx {
    pub rt: Rt,
    root: tempfile::TempDir,
    scratch: tempfile::TempDir,
    label: String,
}

impl Ctx {
    fn new(rt: Rt) -> Result<Ctx> {
        let label = std::thread::current()
            .name()
            .unwrap_or("t")
            .rsplit("::")
            .next()
            .unwrap_or("t")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(20)
            .collect();
        Ok(Ctx {
            root: tempfile::Builder::new()
                .prefix(&format!("keel-shim-root-{}-", rt.name))
                .tempdir()?,
            scratch: tempfile::Builder::new()
                .prefix("keel-shim-test-")
                .tempdir()?,
            rt,
            label,
        })
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn scratch(&self) -> &Path {
        self.scratch.path()
    }

    /// A container id unique on this host.
    pub fn id(&self, tag: &str) -> String {
        format!(
            "shim-{}-{tag}-{}-{}",
            self.label,
            self.rt.name,
            std::process::id()
        )
    }

    /// A busybox bundle running `args` (hack/mkbundle.sh), with `edit`
    /// applied to its config.json.
    pub fn bundle(
        &self,
        tag: &str,
        tty: bool,
        args: &[&str],
        edit: impl FnOnce(&mut Value),
    ) -> Result<PathBuf> {
        let dir = self.scratch().join(format!("bundle-{tag}"));
        let mut cmd = Command::new(workspace().join("hack/mkbundle.sh"));
        cmd.arg(&dir);
        if tty {
            cmd.arg("--tty");
        }
        let out = cmd.args(args).output().context("run hack/mkbundle.sh")?;
        ensure!(
            out.status.success(),
            "hack/mkbundle.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cfg = dir.join("config.json");
        let mut v: Value = serde_json::from_slice(&fs::read(&cfg)?)?;
        edit(&mut v);
        fs::write(&cfg, serde_json::to_vec_pretty(&v)?)?;
        Ok(dir)
    }

    /// `RUNTIME --root R ARGS…`'s output.
    pub fn runtime(&self, args: &[&str]) -> Result<std::process::Output> {
        Command::new(&self.rt.bin)
            .arg("--root")
            .arg(self.root())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("run {} {}", self.rt.bin.display(), args.join(" ")))
    }

    /// The container's state JSON, or None if the runtime does not know it.
    pub fn state(&self, id: &str) -> Result<Option<Value>> {
        let out = self.runtime(&["state", id])?;
        if !out.status.success() {
            return Ok(None);
        }
        Ok(Some(serde_json::from_slice(&out.stdout)?))
    }

    /// Waits until the container is `running`; returns its init pid.
    pub fn wait_running(&self, id: &str, shim: &mut Shim) -> Result<i32> {
        let t0 = Instant::now();
        loop {
            if let Some(s) = self.state(id)? {
                if s["status"] == "running" {
                    return Ok(s["pid"].as_i64().context("state has no pid")? as i32);
                }
            }
            if let Some(code) = shim.try_wait()? {
                bail!(
                    "keel-shim exited {code} before {id} was running; stderr: {}",
                    shim.stderr()
                );
            }
            ensure!(t0.elapsed() < WAIT, "{id} not running after {WAIT:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The runtime no longer lists `id`.
    pub fn assert_gone(&self, id: &str) -> Result<()> {
        let out = self.runtime(&["list", "-q"])?;
        let list = String::from_utf8_lossy(&out.stdout);
        ensure!(
            !list.lines().any(|l| l.trim() == id),
            "{id} is still listed by `{} list`: {list}",
            self.rt.name
        );
        ensure!(self.state(id)?.is_none(), "`state {id}` still succeeds");
        Ok(())
    }

    /// keel-shim's base command for container `id` of `bundle`.
    pub fn shim_cmd(&self, id: &str, bundle: &Path, extra: &[&str]) -> Command {
        let mut c = Command::new(shim_bin());
        c.arg("run")
            .arg("--runtime")
            .arg(&self.rt.bin)
            .arg("--runtime-root")
            .arg(self.root())
            .arg("--bundle")
            .arg(bundle)
            .args(extra)
            .arg(id);
        c
    }

    /// Starts keel-shim with stdout and stderr in files, stdin from `stdin`.
    pub fn spawn(&self, id: &str, bundle: &Path, extra: &[&str], stdin: Stdio) -> Result<Shim> {
        self.spawn_cmd(id, self.shim_cmd(id, bundle, extra), stdin)
    }

    /// Like [`Ctx::spawn`], with SIGINT ignored as a shell leaves it for a
    /// background job (`trap "" INT; exec keel-shim …`).
    pub fn spawn_ignoring_sigint(&self, id: &str, bundle: &Path, extra: &[&str]) -> Result<Shim> {
        let inner = self.shim_cmd(id, bundle, extra);
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "trap '' INT; exec \"$@\"", "sh"])
            .arg(inner.get_program())
            .args(inner.get_args());
        self.spawn_cmd(id, cmd, Stdio::null())
    }

    fn spawn_cmd(&self, id: &str, mut cmd: Command, stdin: Stdio) -> Result<Shim> {
        let out = self.scratch().join(format!("{id}.out"));
        let err = self.scratch().join(format!("{id}.err"));
        cmd.stdin(stdin)
            .stdout(fs::File::create(&out)?)
            .stderr(fs::File::create(&err)?);
        Ok(Shim {
            child: Some(cmd.spawn().context("spawn keel-shim")?),
            out,
            err,
            id: id.to_string(),
            rt: self.rt.bin.clone(),
            root: self.root().to_path_buf(),
        })
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        // Anything a failed test left behind in this root.
        if let Ok(out) = self.runtime(&["list", "-q"]) {
            for id in String::from_utf8_lossy(&out.stdout).lines() {
                let _ = self.runtime(&["delete", "--force", id.trim()]);
            }
        }
    }
}

/// A running keel-shim.
pub struct Shim {
    child: Option<Child>,
    out: PathBuf,
    err: PathBuf,
    id: String,
    rt: PathBuf,
    root: PathBuf,
}

impl Shim {
    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) -> Result<()> {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig)
            .with_context(|| format!("kill -{sig} {}", self.pid()))
    }

    /// The exit code (128+N for a signal) if it has exited.
    pub fn try_wait(&mut self) -> Result<Option<i32>> {
        use std::os::unix::process::ExitStatusExt;
        let Some(c) = self.child.as_mut() else {
            bail!("already waited for");
        };
        Ok(c.try_wait()?.map(|st| {
            self.child = None;
            st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0))
        }))
    }

    /// Waits for the exit code, failing after `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> Result<i32> {
        let t0 = Instant::now();
        loop {
            if let Some(c) = self.try_wait()? {
                return Ok(c);
            }
            ensure!(
                t0.elapsed() < timeout,
                "keel-shim still running after {timeout:?}; stdout: {:?}; stderr: {:?}",
                self.stdout(),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.out).unwrap_or_default()).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.err).unwrap_or_default()).into_owned()
    }

    /// Waits until stdout contains `needle`.
    pub fn wait_stdout(&mut self, needle: &str) -> Result<()> {
        let t0 = Instant::now();
        while !self.stdout().contains(needle) {
            if let Some(code) = self.try_wait()? {
                bail!("keel-shim exited {code} before printing {needle:?}; stdout: {:?}; stderr: {:?}", self.stdout(), self.stderr());
            }
            ensure!(
                t0.elapsed() < WAIT,
                "no {needle:?} on stdout after {WAIT:?}: {:?}",
                self.stdout()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}

impl Drop for Shim {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new(&self.rt)
            .arg("--root")
            .arg(&self.root)
            .args(["delete", "--force", &self.id])
            .stderr(Stdio::null())
            .status();
    }
}

/// Reads a `--result` file.
pub fn result(path: &Path) -> Result<Value> {
    let text = fs::read(path).with_context(|| format!("read {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("parse {}", path.display()))
}

/// The v1 memory cgroup directory of `pid` (this host is hybrid v1).
pub fn memory_cgroup(pid: i32) -> Result<PathBuf> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    let line = text
        .lines()
        .find(|l| {
            l.split(':')
                .nth(1)
                .is_some_and(|c| c.split(',').any(|c| c == "memory"))
        })
        .context("no memory cgroup line")?;
    let path = line.splitn(3, ':').nth(2).context("bad cgroup line")?;
    Ok(Path::new("/sys/fs/cgroup/memory").join(path.trim_start_matches('/')))
}

/// Whether `pid` exists as a live (non-zombie) process.
pub fn alive(pid: i32) -> bool {
    match proc_stat(pid) {
        Some((state, _)) => state != 'Z' && state != 'X',
        None => false,
    }
}

/// `(state, ppid)` of `pid` from /proc/PID/stat.
pub fn proc_stat(pid: i32) -> Option<(char, i32)> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let mut f = rest.split(' ');
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Every zombie whose parent is `parent`.
pub fn zombies_of(parent: i32) -> Vec<i32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&p| proc_stat(p).is_some_and(|(s, pp)| s == 'Z' && pp == parent))
        .collect()
}

/// Reads the pty master until the text (with `\r` removed) contains
/// `needle`; returns everything read so far.
pub fn read_pty_until(master: &OwnedFd, acc: &mut String, needle: &str) -> Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let t0 = Instant::now();
    let mut buf = [0u8; 4096];
    while !acc.replace('\r', "").contains(needle) {
        ensure!(
            t0.elapsed() < WAIT,
            "no {needle:?} on the pty after {WAIT:?}; got {acc:?}"
        );
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::from(100u16))? == 0 {
            continue;
        }
        let n = match nix::unistd::read(master, &mut buf) {
            Ok(n) => n,
            Err(nix::errno::Errno::EIO) => bail!("pty closed before {needle:?}; got {acc:?}"),
            Err(e) => return Err(e.into()),
        };
        acc.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    Ok(())
}

/// Sets the window size of the terminal `fd`.
pub fn set_winsize(fd: &OwnedFd, rows: u16, cols: u16) -> Result<()> {
    keel_shim::console::set_winsize(fd.as_fd(), keel_shim::WinSize { rows, cols })?;
    Ok(())
}

/// Drains what is readable from `f` into a string (for diagnostics).
pub fn read_all(mut f: impl Read) -> String {
    let mut s = String::new();
    let _ = f.read_to_string(&mut s);
    s
}

/// `json!` re-export for the tests' config edits.
pub fn memory_limit(v: &mut Value, bytes: u64) {
    v["linux"]["resources"]["memory"] = json!({ "limit": bytes });
}

/// Drops the pid namespace, so the container's processes are in ours.
pub fn no_pid_namespace(v: &mut Value) {
    if let Some(ns) = v["linux"]["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "pid");
    }
}
