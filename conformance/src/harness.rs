//! The harness the runtime's integration tests use: which runtimes to test
//! (`KEEL_TEST_RUNTIMES`), where the artifacts are (`KEEL_BIN`, `KEEL_CHECK`,
//! `KEEL_ROOTFS`), a per-runtime context with its own `--root`, container
//! guards, namespace helper processes and the console socket.
//!
//! `KEEL_TEST_VERBOSE=1` prints every keel-check run's command and output.
//!
//! A missing artifact is a failure that names the script to run, never a
//! silent pass. Everything started here is stopped by PID in `Drop`.

use std::fmt::Debug;
use std::fs;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::bundle::Bundle;
use crate::driver::{CmdOutput, CreateOptions, Runtime, State};
use crate::error::{io_err, Error, Result};
use crate::spec::Spec;
use crate::tap::TapReport;
use crate::{host, sys};

/// The runtimes the tests know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeKind {
    Runc,
    Keel,
}

impl RuntimeKind {
    pub fn name(self) -> &'static str {
        match self {
            RuntimeKind::Runc => "runc",
            RuntimeKind::Keel => "keel",
        }
    }
}

impl std::fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The workspace root (the parent of this crate's directory).
pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("conformance/ has a parent")
        .to_path_buf()
}

/// The runtimes selected by `KEEL_TEST_RUNTIMES` ("keel,runc" by default).
pub fn selected_runtimes() -> Result<Vec<RuntimeKind>> {
    let v = std::env::var("KEEL_TEST_RUNTIMES").unwrap_or_else(|_| "keel,runc".to_string());
    let mut out = Vec::new();
    for name in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let k = match name {
            "runc" => RuntimeKind::Runc,
            "keel" => RuntimeKind::Keel,
            other => {
                return Err(Error::MissingArtifact(format!(
                    "KEEL_TEST_RUNTIMES: unknown runtime {other:?} (use keel, runc or keel,runc)"
                )))
            }
        };
        if !out.contains(&k) {
            out.push(k);
        }
    }
    if out.is_empty() {
        return Err(Error::MissingArtifact(
            "KEEL_TEST_RUNTIMES is empty (use keel, runc or keel,runc)".into(),
        ));
    }
    Ok(out)
}

/// The binary of a runtime: `/usr/sbin/runc` (or `RUNC_BIN`), and `KEEL_BIN`
/// or `<workspace>/target/release/keel`.
pub fn runtime_binary(kind: RuntimeKind) -> Result<PathBuf> {
    let (path, hint) = match kind {
        RuntimeKind::Runc => (
            std::env::var_os("RUNC_BIN")
                .map(PathBuf::from)
                .unwrap_or_else(|| "/usr/sbin/runc".into()),
            "install runc (apt-get install runc) or set RUNC_BIN",
        ),
        RuntimeKind::Keel => (
            std::env::var_os("KEEL_BIN")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace_dir().join("target/release/keel")),
            "build it with `cargo build --release -p keel-runtime`, set KEEL_BIN, \
             or test runc alone with KEEL_TEST_RUNTIMES=runc",
        ),
    };
    if !path.is_file() {
        return Err(Error::MissingArtifact(format!(
            "{kind} binary {} not found: {hint}",
            path.display()
        )));
    }
    Ok(path)
}

/// The checker and the rootfs template the bundles are made from.
#[derive(Debug, Clone)]
pub struct Artifacts {
    pub checker: PathBuf,
    pub rootfs: PathBuf,
}

/// Find the artifacts (`KEEL_CHECK`, `KEEL_ROOTFS`, or their defaults).
pub fn artifacts() -> Result<Artifacts> {
    let ws = workspace_dir();
    let checker = std::env::var_os("KEEL_CHECK")
        .map(PathBuf::from)
        .unwrap_or_else(|| ws.join("target/x86_64-unknown-linux-gnu/release/keel-check"));
    if !checker.is_file() {
        return Err(Error::MissingArtifact(format!(
            "keel-check not found at {}: run hack/build-checker.sh (or set KEEL_CHECK)",
            checker.display()
        )));
    }
    let rootfs = std::env::var_os("KEEL_ROOTFS")
        .map(PathBuf::from)
        .unwrap_or_else(|| ws.join("hack/out/rootfs"));
    if !rootfs.join("bin/busybox").is_file() {
        return Err(Error::MissingArtifact(format!(
            "test rootfs not found at {}: run hack/mkrootfs.sh (or set KEEL_ROOTFS)",
            rootfs.display()
        )));
    }
    Ok(Artifacts { checker, rootfs })
}

fn test_label() -> String {
    let t = std::thread::current();
    let name = t
        .name()
        .unwrap_or("test")
        .rsplit("::")
        .next()
        .unwrap_or("test");
    let clean: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(24)
        .collect();
    clean.trim_matches('-').to_string()
}

/// Run `f` once per selected runtime, each with a fresh [`Ctx`]. Failures
/// (errors and panics) of every runtime are collected, then reported
/// together in one panic, so a runc failure never hides keel's.
pub fn each_runtime<E: Debug>(f: impl Fn(&Ctx) -> Result<(), E>) {
    host::become_subreaper();
    let kinds = selected_runtimes().unwrap_or_else(|e| panic!("{e}"));
    let label = test_label();
    let mut failures = Vec::new();
    for kind in kinds {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let ctx = Ctx::new(kind, &label).map_err(|e| e.to_string())?;
            f(&ctx).map_err(|e| format!("{e:?}"))
        }));
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("[{kind}] {e}")),
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panic".into());
                failures.push(format!("[{kind}] panicked: {msg}"));
            }
        }
    }
    host::reap_orphans();
    if !failures.is_empty() {
        panic!("{}", failures.join("\n\n"));
    }
}

/// One runtime under test, with its own `--root` and scratch directory.
pub struct Ctx {
    pub kind: RuntimeKind,
    pub rt: Runtime,
    pub art: Artifacts,
    label: String,
    seq: AtomicUsize,
    scratch: tempfile::TempDir,
    root: tempfile::TempDir,
}

impl Ctx {
    pub fn new(kind: RuntimeKind, label: &str) -> Result<Ctx> {
        host::become_subreaper();
        let art = artifacts()?;
        let bin = runtime_binary(kind)?;
        let root = tempfile::Builder::new()
            .prefix(&format!("keel-root-{kind}-"))
            .tempdir()
            .map_err(io_err("create a runtime root"))?;
        let scratch = tempfile::Builder::new()
            .prefix("keel-scratch-")
            .tempdir()
            .map_err(io_err("create a scratch dir"))?;
        Ok(Ctx {
            kind,
            rt: Runtime::new(kind.name(), bin, root.path())?,
            art,
            label: label.to_string(),
            seq: AtomicUsize::new(0),
            scratch,
            root,
        })
    }

    pub fn is_keel(&self) -> bool {
        self.kind == RuntimeKind::Keel
    }

    pub fn is_runc(&self) -> bool {
        self.kind == RuntimeKind::Runc
    }

    /// A container id unique on this host: `LABEL-RUNTIME-PID-N`.
    pub fn id(&self) -> String {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        format!("{}-{}-{}-{n}", self.label, self.kind, std::process::id())
    }

    /// A directory for the test's own files, removed with the context.
    pub fn scratch(&self) -> &Path {
        self.scratch.path()
    }

    pub fn bundle(&self, spec: &Spec) -> Result<Bundle> {
        Bundle::create(&self.art.rootfs, &self.art.checker, spec)
    }

    /// A guard for container `id`: deleted with `--force` on drop.
    pub fn container(&self, id: &str) -> Container<'_> {
        Container {
            rt: &self.rt,
            id: id.to_string(),
            create_out: None,
            pid: None,
        }
    }

    /// `spec` with keel-check as its process: `/keel-check CHECKS…`.
    pub fn checker_spec(checks: &[&str]) -> Spec {
        let mut args = vec!["/keel-check"];
        args.extend_from_slice(checks);
        Spec::new(&args)
    }

    /// Run `spec` in the foreground (`run`) and parse keel-check's output.
    pub fn run_checker(&self, spec: &Spec) -> Result<(CmdOutput, TapReport)> {
        let bundle = self.bundle(spec)?;
        let id = self.id();
        let mut c = self.container(&id);
        let out = c.run(CreateOptions::bundle(bundle.path()))?;
        let tap = TapReport::parse(&out.stdout);
        if std::env::var_os("KEEL_TEST_VERBOSE").is_some() {
            eprintln!(
                "[{}] {} -> exit {}\n{}{}",
                self.kind, out.cmd, out.code, out.stdout, out.stderr
            );
        }
        Ok((out, tap))
    }

    /// Run `spec` in the foreground; every check must pass and the exit code
    /// must be 0.
    pub fn expect_pass(&self, spec: &Spec) -> Result<TapReport> {
        let (out, tap) = self.run_checker(spec)?;
        tap.passed().map_err(|e| {
            Error::Check(format!(
                "{} (exit {}; stderr: {})",
                e,
                out.code,
                out.stderr.trim()
            ))
        })?;
        if out.code != 0 {
            return Err(Error::Check(format!(
                "`{}` exited {} although every check passed; stderr: {}",
                out.cmd, out.code, out.stderr
            )));
        }
        Ok(tap)
    }

    /// Like [`Ctx::expect_pass`] but through create, start, wait and delete.
    pub fn expect_pass_create_start(&self, spec: &Spec) -> Result<TapReport> {
        let bundle = self.bundle(spec)?;
        let id = self.id();
        let mut c = self.container(&id);
        c.create(CreateOptions::bundle(bundle.path()))?.ok()?;
        c.start()?.ok()?;
        let code = c.wait_exit(Duration::from_secs(30))?;
        let (stdout, stderr) = c.output();
        let tap = TapReport::parse(&stdout);
        tap.passed()
            .map_err(|e| Error::Check(format!("{e} (stderr: {})", stderr.trim())))?;
        if let Some(code) = code.filter(|&c| c != 0) {
            return Err(Error::Check(format!("keel-check exited {code}")));
        }
        self.rt.delete(&id)?.ok()?;
        c.forget();
        Ok(tap)
    }

    /// After a failed create: no state under `--root` mentions `id`, no
    /// mount mentions the bundle, no process mentions the id or the bundle.
    pub fn nothing_left(&self, id: &str, bundle: &Path) -> Result<()> {
        let mut probs = Vec::new();
        let mut leftover = Vec::new();
        find_named(self.rt.root(), id, 3, &mut leftover);
        if !leftover.is_empty() {
            probs.push(format!("state left under --root: {leftover:?}"));
        }
        let b = bundle.to_string_lossy();
        let mounts = host::mounts_mentioning(&b);
        if !mounts.is_empty() {
            probs.push(format!("mounts left: {mounts:?}"));
        }
        let procs = host::processes_mentioning(&[id, &b]);
        if !procs.is_empty() {
            probs.push(format!("processes left: {procs:?}"));
        }
        if probs.is_empty() {
            Ok(())
        } else {
            Err(Error::Check(probs.join("; ")))
        }
    }
}

fn find_named(dir: &Path, needle: &str, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        if e.file_name().to_string_lossy().contains(needle) {
            out.push(e.path());
        }
        if depth > 1 && e.file_type().is_ok_and(|t| t.is_dir()) {
            find_named(&e.path(), needle, depth - 1, out);
        }
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        // Force-delete whatever the runtime still knows about, by id.
        if let Ok(list) = self.rt.list_json() {
            for c in list {
                if let Some(id) = c.get("id").and_then(|v| v.as_str()) {
                    let _ = self.rt.delete_force(id);
                }
            }
        }
        host::unmount_under(self.root.path());
        host::reap_orphans();
    }
}

/// A container that is force-deleted, and its process killed by PID if it
/// survived, when the guard drops.
pub struct Container<'a> {
    rt: &'a Runtime,
    pub id: String,
    create_out: Option<CmdOutput>,
    pid: Option<(i32, u64)>,
}

impl Container<'_> {
    fn remember_pid(&mut self) {
        if let Ok(st) = self.rt.state_json(&self.id) {
            let pid = st.pid as i32;
            if let Some((_, _, start)) = host::proc_stat(pid).filter(|_| pid > 0) {
                self.pid = Some((pid, start));
            }
        }
    }

    /// `create`; on success the container's PID is remembered.
    pub fn create(&mut self, opts: CreateOptions) -> Result<CmdOutput> {
        let out = self.rt.create(&self.id, opts)?;
        if out.success() {
            self.remember_pid();
        }
        self.create_out = Some(out.clone());
        Ok(out)
    }

    /// `run` (foreground unless `opts.detach`).
    pub fn run(&mut self, opts: CreateOptions) -> Result<CmdOutput> {
        let detach = opts.detach;
        let out = self.rt.run(&self.id, opts)?;
        if detach && out.success() {
            self.remember_pid();
        }
        self.create_out = Some(out.clone());
        Ok(out)
    }

    pub fn start(&self) -> Result<CmdOutput> {
        self.rt.start(&self.id)
    }

    pub fn state(&self) -> Result<State> {
        self.rt.state_json(&self.id)
    }

    pub fn pid(&self) -> Option<i32> {
        self.pid.map(|(p, _)| p)
    }

    /// What the container wrote to the stdout and stderr it got at create.
    pub fn output(&self) -> (String, String) {
        self.create_out
            .as_ref()
            .map(CmdOutput::reread)
            .unwrap_or_default()
    }

    /// Wait for the container's process to exit. Returns its exit code when
    /// this process could reap it (it is our child as a subreaper), or None
    /// when another process reaped it.
    pub fn wait_exit(&self, timeout: Duration) -> Result<Option<i32>> {
        let (pid, start) = self
            .pid
            .ok_or_else(|| Error::Check(format!("container {} has no known pid", self.id)))?;
        let t0 = Instant::now();
        loop {
            match sys::try_wait(pid).map_err(io_err(format!("waitpid {pid}")))? {
                sys::WaitOutcome::Exited(code) => return Ok(Some(code)),
                sys::WaitOutcome::NotChild => match host::proc_stat(pid) {
                    Some((st, _, s)) if s == start && st != 'Z' && st != 'X' => {}
                    _ => return Ok(None),
                },
                sys::WaitOutcome::Running => {}
            }
            if t0.elapsed() > timeout {
                return Err(Error::Check(format!(
                    "container {} (pid {pid}) still running after {timeout:?}",
                    self.id
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The container was deleted by the test: nothing to clean on drop.
    pub fn forget(&mut self) {
        self.id.clear();
        self.pid = None;
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        if !self.id.is_empty() {
            if self.pid.is_none() {
                // E.g. a foreground `run` that timed out: learn the pid so a
                // process the runtime fails to kill is still stopped below.
                self.remember_pid();
            }
            let _ = self.rt.delete_force(&self.id);
        }
        if let Some((pid, start)) = self.pid {
            if host::same_process(pid, start) {
                if !matches!(host::proc_stat(pid), Some(('Z', _, _))) {
                    let _ = sys::kill(pid, libc::SIGKILL);
                }
                for _ in 0..200 {
                    match sys::try_wait(pid) {
                        Ok(sys::WaitOutcome::Running) => {
                            std::thread::sleep(Duration::from_millis(5))
                        }
                        _ => break,
                    }
                }
            }
        }
        host::reap_orphans();
    }
}

/// The /proc/PID/ns name of a spec namespace type.
pub fn proc_ns_name(kind: &str) -> &str {
    match kind {
        "network" => "net",
        "mount" => "mnt",
        k => k,
    }
}

/// The inode of this process's namespace of spec type `kind`.
pub fn host_ns_inode(kind: &str) -> Result<u64> {
    host::ns_inode_of(&format!("/proc/self/ns/{}", proc_ns_name(kind)))
}

/// A `sleep` in a new namespace of one type (made with util-linux `unshare`),
/// for tests that join a namespace by path. Killed by PID on drop.
pub struct NsHelper {
    child: Child,
    path: String,
}

impl NsHelper {
    /// Start the helper for spec namespace type `kind` and wait until its
    /// namespace exists.
    pub fn spawn(kind: &str) -> Result<NsHelper> {
        let (flags, forks): (&[&str], bool) = match kind {
            "network" => (&["--net"], false),
            "ipc" => (&["--ipc"], false),
            "uts" => (&["--uts"], false),
            "mount" => (&["--mount", "--propagation", "private"], false),
            "cgroup" => (&["--cgroup"], false),
            "user" => (&["--user", "--map-root-user"], false),
            "pid" => (&["--pid", "--fork", "--kill-child"], true),
            "time" => (&["--time", "--fork", "--kill-child"], true),
            other => return Err(Error::Check(format!("no helper for namespace {other:?}"))),
        };
        Self::spawn_with(kind, flags, forks)
    }

    /// Start a helper with explicit `unshare` flags that make a namespace of
    /// spec type `kind`; `forks` when the namespace is for children (pid,
    /// time) and unshare must fork. With a `--map…` flag, it also waits for
    /// the user namespace's maps to be written.
    pub fn spawn_with(kind: &str, flags: &[&str], forks: bool) -> Result<NsHelper> {
        let mut cmd = Command::new("unshare");
        cmd.args(flags)
            .args(["sleep", "1000"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = host::spawn_tracked(&mut cmd).map_err(io_err("spawn unshare"))?;
        let pid = child.id();
        let name = proc_ns_name(kind);
        let path = if forks {
            format!("/proc/{pid}/ns/{name}_for_children")
        } else {
            format!("/proc/{pid}/ns/{name}")
        };
        let helper = NsHelper { child, path };
        let host_inode = host_ns_inode(kind)?;
        let t0 = Instant::now();
        loop {
            let ready = host::ns_inode_of(&helper.path).is_ok_and(|i| i != host_inode)
                && (!forks
                    || fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                        .is_ok_and(|c| !c.trim().is_empty()))
                // unshare writes a user namespace's maps after creating it:
                // joining before that would find no mapping.
                && (!flags.iter().any(|f| f.starts_with("--map"))
                    || ["uid_map", "gid_map"].iter().all(|m| {
                        fs::read_to_string(format!("/proc/{pid}/{m}"))
                            .is_ok_and(|t| !t.trim().is_empty())
                    }));
            if ready {
                return Ok(helper);
            }
            if t0.elapsed() > Duration::from_secs(10) {
                return Err(Error::Check(format!(
                    "unshare {flags:?} did not make a {kind} namespace"
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The namespace file to put in the spec's `path`.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn inode(&self) -> Result<u64> {
        host::ns_inode_of(&self.path)
    }
}

impl Drop for NsHelper {
    fn drop(&mut self) {
        let pid = self.child.id();
        let _ = self.child.kill();
        let _ = self.child.wait();
        host::untrack(pid);
        std::thread::sleep(Duration::from_millis(5));
        host::reap_orphans();
    }
}

/// A unix socket the runtime sends the pty master to (`--console-socket`).
pub struct ConsoleSocket {
    path: PathBuf,
    handle: Option<JoinHandle<std::io::Result<OwnedFd>>>,
}

impl ConsoleSocket {
    /// Listen at `DIR/console.sock`, accepting one connection in a thread.
    pub fn listen(dir: &Path) -> Result<ConsoleSocket> {
        let path = dir.join("console.sock");
        let listener =
            UnixListener::bind(&path).map_err(io_err(format!("bind {}", path.display())))?;
        listener
            .set_nonblocking(true)
            .map_err(io_err("set the console socket non-blocking"))?;
        let handle = std::thread::spawn(move || {
            let t0 = Instant::now();
            loop {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false)?;
                        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
                        return sys::recv_fd(&stream);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        if t0.elapsed() > Duration::from_secs(30) {
                            return Err(std::io::Error::new(
                                std::io::ErrorKind::TimedOut,
                                "no connection on the console socket",
                            ));
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => return Err(e),
                }
            }
        });
        Ok(ConsoleSocket {
            path,
            handle: Some(handle),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pty master the runtime sent (waits for the accepting thread).
    pub fn master(mut self) -> Result<OwnedFd> {
        let h = self.handle.take().expect("master() is called once");
        h.join()
            .map_err(|_| Error::Check("console socket thread panicked".into()))?
            .map_err(io_err("receive the pty master"))
    }
}

/// Read a pty master until every slave is closed (EIO), with a timeout.
pub fn read_pty(master: OwnedFd, timeout: Duration) -> Result<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut f = fs::File::from(master);
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break, // EIO: the last slave closed
            }
        }
        let _ = tx.send(String::from_utf8_lossy(&all).into_owned());
    });
    rx.recv_timeout(timeout)
        .map_err(|_| Error::Check(format!("pty output did not end within {timeout:?}")))
}
