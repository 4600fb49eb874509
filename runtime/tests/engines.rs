//! keel under real engines: containerd 1.6 (`ctr` and the CRI plugin),
//! podman 4.3 and docker 20.10, each from Debian's packages, each run with
//! keel as its OCI runtime and, side by side, with runc, so that a failure
//! can be told apart from a harness bug.
//!
//! Every engine test (one per engine: `containerd`, `podman`, `docker`)
//! starts its engine once, with all of its state in a private temp dir,
//! runs its scenarios for each runtime in KEEL_TEST_RUNTIMES (default
//! "keel,runc"), stops the engine by PID and removes what it left: its
//! processes (found by the private dir in their command line), mounts under
//! the dir, the cgroups under the parents the test chose, containerd's shim
//! sockets in /run/containerd/s, and the few host paths an engine writes
//! outside its dir when they were not there before.
//!
//! The engines see each runtime through a wrapper script that appends the
//! runtime's argv to a file and then execs it; a failing scenario prints
//! the runtime calls the engine made during it. A scenario also fails when
//! the engine never called the runtime under test.
//!
//! Nothing is installed here (hack/deps.sh does that). When an engine
//! cannot run (not root, a package missing), its test prints `SKIP …` with
//! the reason on stderr, past the test harness's capture; with
//! KEEL_ENGINES_REQUIRED=1 a skip fails instead. The tests hold a lock, so
//! the engines run one at a time.
//!
//! Artifacts: KEEL_BIN (default: the keel built with this test), RUNC_BIN
//! (default /usr/sbin/runc), the busybox template from hack/mkrootfs.sh
//! (KEEL_ROOTFS), turned into an image by hack/engines/mkimage.sh. With
//! KEEL_ENGINES_LOGS=DIR, the runtime call logs and the daemons' logs are
//! copied to DIR/<engine>/ before the private dir is removed.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read as _, Seek as _, Write as _};
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::os::unix::process::ExitStatusExt as _;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The engines run one at a time: two cores, and timing-sensitive cases.
static SERIAL: Mutex<()> = Mutex::new(());

/// Longest any single engine command may take.
const CMD_TIMEOUT: Duration = Duration::from_secs(90);
/// Longest a state change (running, paused, stopped) may take to show.
const WAIT: Duration = Duration::from_secs(30);

const IMAGE: &str = "keel-busybox:latest";
const IMAGE_FULL: &str = "docker.io/library/keel-busybox:latest";
const PAUSE_IMAGE_FULL: &str = "docker.io/library/keel-pause:latest";

// ---------------------------------------------------------------------------
// Reporting

/// Write to the real stderr, past libtest's output capture, so that skips
/// and progress show even when the test passes.
fn say(msg: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "{msg}");
}

fn skip(test: &str, why: &str) {
    let required = std::env::var("KEEL_ENGINES_REQUIRED").is_ok_and(|v| !v.is_empty() && v != "0");
    if required {
        panic!("engines::{test} cannot run ({why}) and KEEL_ENGINES_REQUIRED is set");
    }
    say(&format!("SKIP engines::{test}: {why}"));
}

/// The scenarios of one engine test: each runs, is reported at once, and
/// the test fails at the end if any failed.
struct Suite {
    engine: &'static str,
    t0: Instant,
    passed: Vec<String>,
    failed: Vec<String>,
}

impl Suite {
    fn new(engine: &'static str) -> Suite {
        Suite {
            engine,
            t0: Instant::now(),
            passed: Vec::new(),
            failed: Vec::new(),
        }
    }

    /// Run scenario `name` with runtime `rt`. It fails if `f` fails or
    /// panics, or if the engine never called `rt` (create or exec) meanwhile.
    fn case(&mut self, rt: &Rt, name: &str, f: impl FnOnce() -> Result<()>) {
        let label = format!("{}/{}/{}", self.engine, rt.name, name);
        let mark = rt.mark();
        let t = Instant::now();
        let res = match std::panic::catch_unwind(AssertUnwindSafe(f)) {
            Ok(r) => r,
            Err(p) => Err(anyhow::anyhow!(
                "panicked: {}",
                p.downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| p.downcast_ref::<&str>().copied())
                    .unwrap_or("?")
            )),
        };
        let calls = rt.calls_since(mark);
        let res = res.and_then(|()| {
            ensure!(
                calls.iter().any(|c| {
                    c.split_whitespace()
                        .any(|w| w == "create" || w == "exec" || w == "run")
                }),
                "the engine never called {} (no create/exec in its call log {})",
                rt.name,
                rt.calls.display()
            );
            Ok(())
        });
        let ms = t.elapsed().as_millis();
        match res {
            Ok(()) => {
                say(&format!("engine case {label} ... ok ({ms} ms)"));
                self.passed.push(label);
            }
            Err(e) => {
                let mut msg = format!("engine case {label} ... FAILED ({ms} ms)\n  error: {e:#}");
                msg.push_str(&format!(
                    "\n  runtime calls made by the engine ({}):",
                    rt.name
                ));
                if calls.is_empty() {
                    msg.push_str("\n    (none)");
                }
                for c in calls.iter().take(60) {
                    msg.push_str(&format!("\n    {} {c}", rt.bin.display()));
                }
                say(&msg);
                self.failed.push(format!("{label}: {e:#}"));
            }
        }
    }

    fn finish(self) {
        say(&format!(
            "engines::{}: {} cases ok, {} cases failed, in {:.1} s",
            self.engine,
            self.passed.len(),
            self.failed.len(),
            self.t0.elapsed().as_secs_f64()
        ));
        if !self.failed.is_empty() {
            panic!(
                "{} engine case(s) failed:\n  {}",
                self.failed.len(),
                self.failed.join("\n  ")
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Commands

/// A finished command.
#[derive(Debug)]
struct Out {
    cmd: String,
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn expect(&self, code: i32) -> Result<&Out> {
        ensure!(
            self.code == code,
            "`{}` exited {} (want {code})\n  stdout: {}\n  stderr: {}",
            self.cmd,
            self.code,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        );
        Ok(self)
    }

    fn ok(&self) -> Result<&Out> {
        self.expect(0)
    }
}

/// `cmd` as a shell would take it back.
fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        s.push(' ');
        if a.is_empty()
            || a.contains(|c: char| !(c.is_ascii_alphanumeric() || "-_./:=,@+%".contains(c)))
        {
            s.push_str(&shq(&a));
        } else {
            s.push_str(&a);
        }
    }
    s
}

fn read_back(mut f: &fs::File) -> String {
    let mut s = Vec::new();
    let _ = f.rewind();
    let _ = f.read_to_end(&mut s);
    String::from_utf8_lossy(&s).into_owned()
}

/// A command running in the background; its output goes to anonymous
/// files (not pipes, which a daemonizing child could hold open). Killed by
/// PID and reaped on drop if it is still running.
struct Bg {
    child: Option<Child>,
    cmd: String,
    stdout: fs::File,
    stderr: fs::File,
}

impl Bg {
    fn spawn(cmd: &mut Command) -> Result<Bg> {
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

    /// Wait for it to exit (killing it after `timeout`).
    fn wait(&mut self, timeout: Duration) -> Result<Out> {
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

    /// Stop it (SIGTERM, then SIGKILL) and return what it printed.
    fn stop(&mut self) -> Out {
        if let Some(c) = self.child.as_ref() {
            let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM);
        }
        match self.wait(Duration::from_secs(5)) {
            Ok(o) => o,
            Err(e) => Out {
                cmd: self.cmd.clone(),
                code: -1,
                stdout: read_back(&self.stdout),
                stderr: format!("{e:#}"),
            },
        }
    }

    fn output_so_far(&self) -> String {
        read_back(&self.stdout)
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
fn run(cmd: &mut Command) -> Result<Out> {
    Bg::spawn(cmd)?.wait(CMD_TIMEOUT)
}

/// Poll `f` until it returns `Some`, for at most `timeout`.
fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Result<T> {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if t0.elapsed() > timeout {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `s` quoted for sh.
fn shq(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn find_program(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return Path::new(name).is_file().then(|| PathBuf::from(name));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn sha256_hex(data: &str) -> Result<String> {
    let mut c = Command::new("sha256sum");
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = c.spawn().context("spawn sha256sum")?;
    child
        .stdin
        .take()
        .context("sha256sum stdin")?
        .write_all(data.as_bytes())?;
    let out = child.wait_with_output()?;
    let s = String::from_utf8_lossy(&out.stdout);
    Ok(s.split_whitespace().next().unwrap_or_default().to_string())
}

// ---------------------------------------------------------------------------
// Prerequisites, runtimes, image

struct Setup {
    ws: PathBuf,
    keel: PathBuf,
    runc: PathBuf,
    runtimes: Vec<&'static str>,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace dir")
        .to_path_buf()
}

/// Everything an engine test needs, or `None` after printing why it skips.
fn prerequisites(test: &str, programs: &[&str]) -> Option<Setup> {
    if !nix::unistd::geteuid().is_root() {
        skip(test, "needs root");
        return None;
    }
    for p in programs {
        if find_program(p).is_none() {
            skip(test, &format!("`{p}` not found: run hack/deps.sh"));
            return None;
        }
    }
    let runtimes: Vec<&'static str> = std::env::var("KEEL_TEST_RUNTIMES")
        .unwrap_or_else(|_| "keel,runc".into())
        .split(',')
        .filter_map(|r| match r.trim() {
            "keel" => Some("keel"),
            "runc" => Some("runc"),
            _ => None,
        })
        .collect();
    if runtimes.is_empty() {
        skip(test, "KEEL_TEST_RUNTIMES selects neither keel nor runc");
        return None;
    }
    let keel = std::env::var_os("KEEL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_keel")));
    let runc = std::env::var_os("RUNC_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/sbin/runc".into());
    if runtimes.contains(&"keel") && !keel.is_file() {
        skip(test, &format!("keel binary {} not found", keel.display()));
        return None;
    }
    if runtimes.contains(&"runc") && !runc.is_file() {
        skip(
            test,
            &format!("runc binary {} not found: run hack/deps.sh", runc.display()),
        );
        return None;
    }
    Some(Setup {
        ws: workspace(),
        keel,
        runc,
        runtimes,
    })
}

/// A runtime as an engine sees it: a wrapper script that logs each call's
/// argv (one line) to `calls` and then execs the real binary.
struct Rt {
    name: &'static str,
    bin: PathBuf,
    wrapper: PathBuf,
    calls: PathBuf,
}

impl Rt {
    fn new(dir: &Path, name: &'static str, bin: &Path) -> Result<Rt> {
        let bindir = dir.join("bin");
        fs::create_dir_all(&bindir)?;
        let wrapper = bindir.join(name);
        let calls = dir.join(format!("calls-{name}.log"));
        fs::write(&calls, "")?;
        fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\n# argv logger for the engine tests\nprintf '%s\\n' \"$*\" >>{}\nexec {} \"$@\"\n",
                shq(&calls.to_string_lossy()),
                shq(&bin.to_string_lossy())
            ),
        )?;
        fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755))?;
        Ok(Rt {
            name,
            bin: bin.to_path_buf(),
            wrapper,
            calls,
        })
    }

    fn all(setup: &Setup, dir: &Path) -> Result<Vec<Rt>> {
        setup
            .runtimes
            .iter()
            .map(|&n| {
                Rt::new(
                    dir,
                    n,
                    if n == "keel" {
                        &setup.keel
                    } else {
                        &setup.runc
                    },
                )
            })
            .collect()
    }

    fn mark(&self) -> usize {
        fs::read(&self.calls).map(|b| b.len()).unwrap_or(0)
    }

    fn calls_since(&self, mark: usize) -> Vec<String> {
        let b = fs::read(&self.calls).unwrap_or_default();
        String::from_utf8_lossy(b.get(mark..).unwrap_or_default())
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// `RUNTIME [--root ROOT] ARGS…`, run directly (not logged).
    fn cmd(&self, root: Option<&Path>, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        if let Some(r) = root {
            c.arg("--root").arg(r);
        }
        c.args(args);
        c
    }

    /// The runtime's `state` status of `id`.
    fn status(&self, root: Option<&Path>, id: &str) -> Result<String> {
        let out = run(&mut self.cmd(root, &["state", id]))?;
        out.ok()?;
        let v: serde_json::Value = serde_json::from_str(&out.stdout)
            .with_context(|| format!("`{}` printed no JSON: {}", out.cmd, out.stdout))?;
        Ok(v["status"].as_str().unwrap_or_default().to_string())
    }
}

/// Build the busybox image (and, with `pause`, a second image whose command
/// sleeps, for the CRI's sandboxes) with hack/engines/mkimage.sh.
fn build_images(setup: &Setup, dir: &Path, pause: bool) -> Result<(PathBuf, PathBuf)> {
    let script = setup.ws.join("hack/engines/mkimage.sh");
    let img = dir.join("busybox.tar");
    run(Command::new(&script).arg(&img).arg(IMAGE))?.ok()?;
    let pause_img = dir.join("pause.tar");
    if pause {
        run(Command::new(&script)
            .arg(&pause_img)
            .arg("keel-pause:latest")
            .args(["sleep", "2147483647"]))?
        .ok()?;
    }
    Ok((img, pause_img))
}

// ---------------------------------------------------------------------------
// Processes, cleanup

/// A long-running engine process, stopped by PID (SIGTERM, then SIGKILL).
struct Daemon {
    name: &'static str,
    child: Option<Child>,
    log: PathBuf,
}

impl Daemon {
    fn spawn(name: &'static str, cmd: &mut Command, log: PathBuf) -> Result<Daemon> {
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

    fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    fn log_tail(&self) -> String {
        let s = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n    ")
    }

    /// Wait until `sock` exists and `probe` (the engine's `version`)
    /// succeeds, for at most `timeout`; fail at once if the daemon exits.
    fn wait_serving(&mut self, sock: &Path, probe: &mut Command, timeout: Duration) -> Result<()> {
        let t0 = Instant::now();
        loop {
            if !self.alive() {
                bail!("{} exited at start:\n    {}", self.name, self.log_tail());
            }
            if sock.exists() && run(probe)?.code == 0 {
                return Ok(());
            }
            if t0.elapsed() > timeout {
                bail!(
                    "{} not serving after {} s:\n    {}",
                    self.name,
                    timeout.as_secs(),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop(&mut self) {
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
        say(&format!(
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

/// A host path an engine may create outside its private dir: removed at
/// cleanup if it was not there when the test started (a directory only if
/// empty, unless `whole`).
struct HostPath {
    path: PathBuf,
    existed: bool,
    whole: bool,
}

/// The test's private dir plus everything else it must remove. Cleans up on
/// drop, also after a failure or a panic.
struct Scratch {
    dir: PathBuf,
    cgroup_parents: Vec<String>,
    host_paths: Vec<HostPath>,
    /// containerd shim sockets to remove: (containerd address, namespace);
    /// the socket of shim ID is /run/containerd/s/sha256(ADDRESS/NS/ID).
    shim_addrs: Vec<(String, String)>,
    /// Each runtime's binary, call log, and a state root outside the dir
    /// to sweep for the ids it created (podman passes no --root).
    runtimes: Vec<(PathBuf, PathBuf, Option<PathBuf>)>,
    cleaned: bool,
    test: String,
}

impl Scratch {
    fn new(test: &str) -> Result<Scratch> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("keel-engines-{test}-"))
            .tempdir()?
            .keep();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o711))?;
        Ok(Scratch {
            dir,
            cgroup_parents: Vec::new(),
            host_paths: Vec::new(),
            shim_addrs: Vec::new(),
            runtimes: Vec::new(),
            cleaned: false,
            test: test.to_string(),
        })
    }

    /// Remember whether `path` exists now (call before starting the
    /// engine; parents before children).
    fn host_path(&mut self, path: &str, whole: bool) {
        let p = PathBuf::from(path);
        let existed = p.symlink_metadata().is_ok();
        self.host_paths.push(HostPath {
            path: p,
            existed,
            whole,
        });
    }

    /// A cgroup parent the engine's containers go under, removed at the
    /// end. One that exists already (another user's) is left alone.
    fn cgroup_parent(&mut self, parent: &str) {
        if cgroup_dirs_under(parent).is_empty() {
            self.cgroup_parents.push(parent.to_string());
        }
    }

    fn runtime(&mut self, rt: &Rt, sweep_root: Option<&str>) {
        self.runtimes.push((
            rt.bin.clone(),
            rt.calls.clone(),
            sweep_root.map(PathBuf::from),
        ));
    }

    fn created_ids(&self) -> BTreeSet<String> {
        let mut ids = BTreeSet::new();
        for (_, calls, _) in &self.runtimes {
            for line in fs::read_to_string(calls).unwrap_or_default().lines() {
                if line.split_whitespace().any(|w| w == "create") {
                    if let Some(id) = line.split_whitespace().last() {
                        ids.insert(id.to_string());
                    }
                }
            }
        }
        ids
    }

    /// Remove everything (once; again on drop is a no-op).
    fn cleanup(&mut self) {
        if std::mem::replace(&mut self.cleaned, true) {
            return;
        }
        let dir = self.dir.clone();
        let needle = dir.to_string_lossy().into_owned();
        // Processes the engine left (shims, conmon, anything whose command
        // line names the dir), by PID; then whatever is in our cgroups.
        for pid in pids_mentioning(&needle) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        for parent in &self.cgroup_parents {
            kill_cgroup_tree(parent);
        }
        std::thread::sleep(Duration::from_millis(100));
        unmount_under(&dir);
        for parent in &self.cgroup_parents {
            remove_cgroup_tree(parent);
        }
        let ids = self.created_ids();
        for (bin, _, root) in &self.runtimes {
            let Some(root) = root else { continue };
            for id in &ids {
                if root.join(id).exists() {
                    say(&format!(
                        "cleanup: {} left state for {id} in {}: delete --force",
                        bin.display(),
                        root.display()
                    ));
                    let _ = Command::new(bin)
                        .arg("--root")
                        .arg(root)
                        .args(["delete", "--force", id])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status();
                }
            }
        }
        for (addr, ns) in &self.shim_addrs {
            for id in &ids {
                if let Ok(h) = sha256_hex(&format!("{addr}/{ns}/{id}")) {
                    let sock = Path::new("/run/containerd/s").join(h);
                    if sock
                        .symlink_metadata()
                        .is_ok_and(|m| m.file_type().is_socket())
                    {
                        let _ = fs::remove_file(sock);
                    }
                }
            }
        }
        // The CNI result cache (/var/lib/cni/results/NET-ID-IFNAME).
        if let Ok(rd) = fs::read_dir("/var/lib/cni/results") {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if ids.iter().any(|id| name.contains(id.as_str())) {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        for hp in self.host_paths.iter().rev() {
            if hp.existed {
                continue;
            }
            let Ok(md) = hp.path.symlink_metadata() else {
                continue;
            };
            if md.is_dir() {
                if hp.whole {
                    let _ = fs::remove_dir_all(&hp.path);
                } else {
                    let _ = fs::remove_dir(&hp.path);
                }
            } else {
                let _ = fs::remove_file(&hp.path);
            }
        }
        if let Some(logs) = std::env::var_os("KEEL_ENGINES_LOGS") {
            let to = Path::new(&logs).join(&self.test);
            let _ = fs::create_dir_all(&to);
            for d in [dir.clone(), dir.join(&self.test)] {
                for e in fs::read_dir(&d).into_iter().flatten().flatten() {
                    let n = e.file_name();
                    if n.to_string_lossy().ends_with(".log") {
                        let _ = fs::copy(e.path(), to.join(n));
                    }
                }
            }
            say(&format!("engine logs kept in {}", to.display()));
        }
        if let Err(e) = fs::remove_dir_all(&dir) {
            say(&format!("cleanup: remove {}: {e}", dir.display()));
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// PIDs (not ours) whose command line contains `needle`.
fn pids_mentioning(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(cmdline) = fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) {
            out.push(pid);
        }
    }
    out
}

/// Unmount everything mounted at or below `dir`, deepest first.
fn unmount_under(dir: &Path) {
    let prefix = dir.to_string_lossy().into_owned();
    for _ in 0..3 {
        let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut points: Vec<String> = info
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4))
            .map(|m| m.replace("\\040", " "))
            .filter(|m| m == &prefix || m.starts_with(&format!("{prefix}/")))
            .collect();
        if points.is_empty() {
            return;
        }
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            let _ = nix::mount::umount2(p.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// The v1 hierarchies and the unified one, as directories (comounted
/// controllers' symlinks skipped).
fn cgroup_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Ok(rd) = fs::read_dir("/sys/fs/cgroup") {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                roots.push(e.path());
            }
        }
    }
    if roots.is_empty() {
        roots.push("/sys/fs/cgroup".into());
    }
    roots
}

fn cgroup_dirs_under(parent: &str) -> Vec<PathBuf> {
    let rel = parent.trim_start_matches('/');
    let mut dirs = Vec::new();
    for root in cgroup_roots() {
        let top = root.join(rel);
        if !top.is_dir() {
            continue;
        }
        let mut stack = vec![top];
        while let Some(d) = stack.pop() {
            if let Ok(rd) = fs::read_dir(&d) {
                for e in rd.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        stack.push(e.path());
                    }
                }
            }
            dirs.push(d);
        }
    }
    dirs
}

fn kill_cgroup_tree(parent: &str) {
    for d in cgroup_dirs_under(parent) {
        let _ = fs::write(d.join("freezer.state"), "THAWED");
        let _ = fs::write(d.join("cgroup.freeze"), "0");
        for pid in fs::read_to_string(d.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse::<i32>().ok())
        {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

fn remove_cgroup_tree(parent: &str) {
    for _ in 0..20 {
        let mut dirs = cgroup_dirs_under(parent);
        if dirs.is_empty() {
            return;
        }
        dirs.sort_by_key(|d| std::cmp::Reverse(d.as_os_str().len()));
        for d in dirs {
            let _ = fs::remove_dir(&d);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    say(&format!(
        "cleanup: cgroups under {parent} could not all be removed"
    ));
}

fn read_trim(p: impl AsRef<Path>) -> Result<String> {
    Ok(fs::read_to_string(p.as_ref())
        .with_context(|| format!("read {}", p.as_ref().display()))?
        .trim()
        .to_string())
}

/// The path of a v1 controller's hierarchy on this host.
fn v1_controller(ctrl: &str) -> PathBuf {
    Path::new("/sys/fs/cgroup").join(ctrl)
}

fn lock() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// One engine test: the lock, the prerequisites (or a skip), the private
/// dir and the suite. `body` gets them and the test's start time, starts
/// the engine and runs its cases; then everything is cleaned up, whether
/// it failed or not, and the suite reports.
fn engine_test(
    test: &'static str,
    programs: &[&str],
    body: impl FnOnce(&Setup, &mut Scratch, &mut Suite, Instant) -> Result<()>,
) {
    let _serial = lock();
    let Some(setup) = prerequisites(test, programs) else {
        return;
    };
    let t0 = Instant::now();
    let mut scratch = Scratch::new(test).expect("scratch dir");
    let mut suite = Suite::new(test);
    let res = body(&setup, &mut scratch, &mut suite, t0);
    scratch.cleanup();
    say(&format!(
        "engines::{test} done in {:.1} s",
        t0.elapsed().as_secs_f64()
    ));
    if let Err(e) = res {
        panic!("{test} harness: {e:#}");
    }
    suite.finish();
}

// ---------------------------------------------------------------------------
// containerd 1.6: ctr and the CRI plugin

/// A private containerd. It runs in a network namespace of its own, so the
/// CNI bridge of the CRI's pods lives there and not on the host.
struct Containerd {
    dir: PathBuf,
    sock: PathBuf,
    /// The namespace of the `ctr` scenarios (unique: containers' cgroups
    /// go under /NS/ID).
    ns: String,
    fifo: PathBuf,
    daemon: Daemon,
    /// `ctr events` for the whole run.
    events: Option<Bg>,
}

/// The CRI's cgroup parent for pods.
fn cri_cgroup_parent() -> String {
    format!("/keel-engines-cri-{}", std::process::id())
}

impl Containerd {
    fn start(scratch: &mut Scratch, rts: &[Rt], cni: bool) -> Result<Containerd> {
        let dir = scratch.dir.join("containerd");
        fs::create_dir_all(&dir)?;
        let sock = dir.join("containerd.sock");
        let ns = format!("keel-engines-{}", std::process::id());
        let d = dir.display();
        let mut conf = format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  address = "{d}/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  restrict_oom_score_adj = true
  sandbox_image = "{PAUSE_IMAGE_FULL}"
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{d}/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "{default_rt}"
"#,
            sock = sock.display(),
            default_rt = rts.first().map_or("runc", |r| r.name),
        );
        for rt in rts {
            conf.push_str(&format!(
                r#"  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{name}]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{name}.options]
      BinaryName = "{bin}"
      Root = "{d}/cri-root-{name}"
"#,
                name = rt.name,
                bin = rt.wrapper.display(),
            ));
        }
        fs::write(dir.join("config.toml"), conf)?;
        fs::create_dir_all(dir.join("cni"))?;
        if cni {
            // A bridge without a gateway address: pods get an address on a
            // bridge that exists only in containerd's own network namespace.
            fs::write(
                dir.join("cni/10-keel.conflist"),
                format!(
                    r#"{{"cniVersion":"0.4.0","name":"keel-engines-{pid}","plugins":[{{"type":"bridge","bridge":"keelcni0","isGateway":false,"ipMasq":false,"ipam":{{"type":"host-local","ranges":[[{{"subnet":"10.223.7.0/24"}}]],"dataDir":"{d}/cni-ipam"}}}}]}}"#,
                    pid = std::process::id()
                ),
            )?;
        }
        scratch
            .shim_addrs
            .push((sock.display().to_string(), ns.clone()));
        scratch
            .shim_addrs
            .push((sock.display().to_string(), "k8s.io".into()));
        let mut cmd = Command::new("unshare");
        cmd.arg("--net")
            .arg("--")
            .arg("containerd")
            .arg("--config")
            .arg(dir.join("config.toml"));
        let daemon = Daemon::spawn("containerd", &mut cmd, dir.join("containerd.log"))?;
        let mut c = Containerd {
            fifo: dir.join("fifo"),
            dir,
            sock,
            ns,
            daemon,
            events: None,
        };
        let mut version = c.ctr(&["version"]);
        c.daemon
            .wait_serving(&c.sock, &mut version, Duration::from_secs(30))?;
        c.events = Some(Bg::spawn(&mut c.ctr(&["events"]))?);
        Ok(c)
    }

    /// `ctr -a SOCK -n NS ARGS…`
    fn ctr(&self, args: &[&str]) -> Command {
        self.ctr_ns(&self.ns, args)
    }

    fn ctr_ns(&self, ns: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ctr");
        c.arg("-a").arg(&self.sock).arg("-n").arg(ns).args(args);
        c
    }

    fn import(&self, ns: &str, tar: &Path) -> Result<()> {
        let tar = tar.to_string_lossy();
        run(&mut self.ctr_ns(ns, &["images", "import", &tar]))?.ok()?;
        Ok(())
    }

    /// The runtime's --root for the ctr scenarios (the shim appends /NS).
    fn runc_root(&self, rt: &Rt) -> PathBuf {
        self.dir.join(format!("runc-root-{}", rt.name))
    }

    fn state_root(&self, rt: &Rt) -> PathBuf {
        self.runc_root(rt).join(&self.ns)
    }

    /// `ctr run` with `rt`: `ctr run FLAGS… --runc-binary W --runc-root R
    /// --fifo-dir F IMAGE ID CMD…`
    fn run_cmd(&self, rt: &Rt, flags: &[&str], id: &str, cmd: &[&str]) -> Command {
        let mut c = self.ctr(&["run"]);
        c.args(flags)
            .arg("--runc-binary")
            .arg(&rt.wrapper)
            .arg("--runc-root")
            .arg(self.runc_root(rt))
            .arg("--fifo-dir")
            .arg(&self.fifo)
            .arg(IMAGE_FULL)
            .arg(id)
            .args(cmd);
        c
    }

    /// A guard that removes ctr container `id` (and its task) on drop.
    fn guard(&self, id: &str) -> CtrGuard<'_> {
        CtrGuard {
            c: self,
            id: id.to_string(),
        }
    }

    /// `ctr run -d FLAGS… IMAGE ID CMD…` with `rt`, once the task is
    /// RUNNING: the guard that removes the container, and its init pid.
    fn run_detached(
        &self,
        rt: &Rt,
        id: &str,
        flags: &[&str],
        cmd: &[&str],
    ) -> Result<(CtrGuard<'_>, i32)> {
        let g = self.guard(id);
        let flags: Vec<&str> = std::iter::once("-d").chain(flags.iter().copied()).collect();
        run(&mut self.run_cmd(rt, &flags, id, cmd))?.ok()?;
        let init = self.wait_status(id, "RUNNING")?;
        Ok((g, init))
    }

    /// The (pid, status) of task `id` from `ctr task ls`.
    fn task(&self, id: &str) -> Result<Option<(i32, String)>> {
        let out = run(&mut self.ctr(&["task", "ls"]))?;
        out.ok()?;
        for line in out.stdout.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() >= 3 && f[0] == id {
                return Ok(Some((f[1].parse().unwrap_or(0), f[2].to_string())));
            }
        }
        Ok(None)
    }

    fn wait_status(&self, id: &str, want: &str) -> Result<i32> {
        wait_for(&format!("task {id} to be {want}"), WAIT, || {
            match self.task(id) {
                Ok(Some((pid, st))) if st == want => Some(pid),
                _ => None,
            }
        })
    }

    /// The v1 cgroup dir of ctr container `id` in hierarchy `ctrl`.
    fn cgroup(&self, ctrl: &str, id: &str) -> PathBuf {
        v1_controller(ctrl).join(&self.ns).join(id)
    }

    /// Everything `ctr events` printed so far.
    fn events_so_far(&self) -> String {
        self.events
            .as_ref()
            .map(Bg::output_so_far)
            .unwrap_or_default()
    }

    fn stop(&mut self) {
        if let Some(mut e) = self.events.take() {
            e.stop();
        }
        self.daemon.stop();
    }
}

/// Removes a ctr container (and its task) whatever state it is in.
struct CtrGuard<'a> {
    c: &'a Containerd,
    id: String,
}

impl Drop for CtrGuard<'_> {
    fn drop(&mut self) {
        let id = self.id.as_str();
        let _ = run(&mut self.c.ctr(&["task", "kill", "-s", "KILL", id]));
        let _ = run(&mut self.c.ctr(&["task", "delete", "--force", id]));
        let _ = run(&mut self.c.ctr(&["container", "delete", id]));
    }
}

fn ctr_echo(c: &Containerd, rt: &Rt) -> Result<()> {
    let id = format!("{}-echo", rt.name);
    let _g = c.guard(&id);
    let out = run(&mut c.run_cmd(rt, &["--rm"], &id, &["echo", "hello from ctr"]))?;
    out.ok()?;
    ensure!(
        out.stdout.trim() == "hello from ctr",
        "stdout {:?}",
        out.stdout
    );
    ensure!(
        !c.state_root(rt).join(&id).exists(),
        "{} still has state for {id} after `ctr run --rm`",
        rt.name
    );
    Ok(())
}

/// `out` is from `sh -c "echo in-exec; cat /proc/1/cmdline; echo; exit
/// CODE"` exec'd into a container whose pid 1 is `sleep`: it exited `code`
/// and printed both.
fn exec_printed(out: &Out, code: i32) -> Result<()> {
    out.expect(code)?;
    ensure!(
        out.stdout.contains("in-exec") && out.stdout.contains("sleep"),
        "exec printed {:?} (want in-exec and pid 1's command, sleep)",
        out.stdout
    );
    Ok(())
}

/// `cmd` run under script(1), which gives it a terminal; its exit code is
/// the command's.
fn under_script(cmd: &Command) -> Result<Out> {
    let line: Vec<String> = std::iter::once(cmd.get_program().to_string_lossy().into_owned())
        .chain(cmd.get_args().map(|a| a.to_string_lossy().into_owned()))
        .map(|a| shq(&a))
        .collect();
    run(Command::new("script").args(["-qec", &line.join(" "), "/dev/null"]))
}

fn ctr_tty(c: &Containerd, rt: &Rt) -> Result<()> {
    let id = format!("{}-tty", rt.name);
    let _g = c.guard(&id);
    // The runtime gets --console-socket at create and hands the pty over.
    let out = under_script(&c.run_cmd(
        rt,
        &["--rm", "--tty"],
        &id,
        &["sh", "-c", "tty; echo tty-ok; exit 5"],
    ))?;
    out.expect(5)?;
    ensure!(
        out.stdout.contains("/dev/pts/") && out.stdout.contains("tty-ok"),
        "`ctr run --tty` printed {:?} (want a /dev/pts/N and tty-ok)",
        out.stdout
    );
    Ok(())
}

fn ctr_exit_code(c: &Containerd, rt: &Rt) -> Result<()> {
    let id = format!("{}-exit", rt.name);
    let _g = c.guard(&id);
    run(&mut c.run_cmd(rt, &["--rm"], &id, &["sh", "-c", "exit 7"]))?.expect(7)?;
    Ok(())
}

fn ctr_exec(c: &Containerd, rt: &Rt) -> Result<()> {
    let id = format!("{}-exec", rt.name);
    let (_g, _) = c.run_detached(rt, &id, &[], &["sleep", "1000"])?;
    let fifo = c.fifo.to_string_lossy().into_owned();
    let out = run(&mut c.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        "--fifo-dir",
        &fifo,
        &id,
        "sh",
        "-c",
        "echo in-exec; cat /proc/1/cmdline; echo; exit 3",
    ]))?;
    exec_printed(&out, 3)?;
    // With --tty: ctr needs a terminal of its own, so run it under script(1).
    let ctr_cmd = c.ctr(&[
        "task",
        "exec",
        "--tty",
        "--exec-id",
        "e2",
        "--fifo-dir",
        &fifo,
        &id,
        "sh",
        "-c",
        "tty; echo tty-ok; exit 4",
    ]);
    let out = under_script(&ctr_cmd)?;
    out.expect(4)?;
    ensure!(
        out.stdout.contains("/dev/pts/") && out.stdout.contains("tty-ok"),
        "tty exec printed {:?} (want a /dev/pts/N and tty-ok)",
        out.stdout
    );
    // With another user.
    let out = run(&mut c.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "e3",
        "--user",
        "1000",
        "--fifo-dir",
        &fifo,
        &id,
        "id",
        "-u",
    ]))?;
    out.ok()?;
    ensure!(
        out.stdout.trim() == "1000",
        "`ctr task exec --user 1000 … id -u` printed {:?}",
        out.stdout
    );
    Ok(())
}

fn ctr_pause_resume(c: &Containerd, rt: &Rt) -> Result<()> {
    let id = format!("{}-pause", rt.name);
    let (_g, _) = c.run_detached(rt, &id, &[], &["sleep", "1000"])?;
    let freezer = c.cgroup("freezer", &id).join("freezer.state");
    let root = c.state_root(rt);
    // Each verb, then what ctr, the freezer and the runtime's `state` say.
    for (verb, task, frozen, state) in [
        ("pause", "PAUSED", "FROZEN", "paused"),
        ("resume", "RUNNING", "THAWED", "running"),
    ] {
        run(&mut c.ctr(&["task", verb, &id]))?.ok()?;
        c.wait_status(&id, task)?;
        ensure!(
            read_trim(&freezer)? == frozen,
            "{} is {} after {verb}",
            freezer.display(),
            read_trim(&freezer)?
        );
        let st = rt.status(Some(&root), &id)?;
        ensure!(st == state, "`{} state` says {st:?} after {verb}", rt.name);
    }
    Ok(())
}

fn ctr_ps(c: &Containerd, rt: &Rt) -> Result<()> {
    let id = format!("{}-ps", rt.name);
    let (_g, init) = c.run_detached(
        rt,
        &id,
        &[],
        &["sh", "-c", "sleep 1000 & sleep 1000 & wait"],
    )?;
    let procs = c.cgroup("pids", &id).join("cgroup.procs");
    let want: BTreeSet<i32> = wait_for("3 processes in the container's cgroup", WAIT, || {
        let s: BTreeSet<i32> = fs::read_to_string(&procs)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        (s.len() == 3).then_some(s)
    })?;
    let out = run(&mut c.ctr(&["task", "ps", &id]))?;
    out.ok()?;
    let got: BTreeSet<i32> = out
        .stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    ensure!(
        got == want,
        "`ctr task ps` lists {got:?}; the cgroup holds {want:?}\n  {}",
        out.stdout
    );
    ensure!(
        got.contains(&init),
        "`ctr task ps` misses the init pid {init}"
    );
    Ok(())
}

/// `ctr run` in the foreground, killed with `ctr task kill KILL_ARGS…`
/// once it printed `ready`; returns its exit code.
fn ctr_killed(c: &Containerd, rt: &Rt, id: &str, script: &str, kill_args: &[&str]) -> Result<i32> {
    let _g = c.guard(id);
    let mut fg = Bg::spawn(&mut c.run_cmd(rt, &["--rm"], id, &["sh", "-c", script]))?;
    wait_for(&format!("{id} to print ready"), WAIT, || {
        fg.output_so_far().contains("ready").then_some(())
    })
    .or_else(|e| {
        let out = fg.stop();
        bail!(
            "{e}: `{}` printed {:?} {:?}",
            out.cmd,
            out.stdout,
            out.stderr
        )
    })?;
    let mut args = vec!["task", "kill"];
    args.extend_from_slice(kill_args);
    args.push(id);
    run(&mut c.ctr(&args))?.ok()?;
    let out = fg.wait(WAIT)?;
    Ok(out.code)
}

fn ctr_kill_term(c: &Containerd, rt: &Rt) -> Result<()> {
    let id = format!("{}-kill-term", rt.name);
    // As PID 1 the shell gets SIGTERM only through its trap.
    let code = ctr_killed(
        c,
        rt,
        &id,
        "trap 'exit 42' TERM; echo ready; while :; do sleep 0.1; done",
        &[],
    )?;
    ensure!(
        code == 42,
        "`ctr run` exited {code}; the TERM trap exits 42"
    );
    Ok(())
}

fn ctr_kill_kill(c: &Containerd, rt: &Rt) -> Result<()> {
    let id = format!("{}-kill-kill", rt.name);
    let code = ctr_killed(c, rt, &id, "echo ready; exec sleep 1000", &["-s", "KILL"])?;
    ensure!(
        code == 137,
        "`ctr run` exited {code} after SIGKILL (want 137)"
    );
    Ok(())
}

fn ctr_kill_all(c: &Containerd, rt: &Rt) -> Result<()> {
    let id = format!("{}-kill-all", rt.name);
    // SIGTERM to PID 1 (no handler) is dropped; only `--all` reaches the
    // two sleeps, and then the shell's `wait` returns and it exits 9.
    let code = ctr_killed(
        c,
        rt,
        &id,
        "sleep 1000 & sleep 1000 & echo ready; wait; exit 9",
        &["--all"],
    )?;
    ensure!(
        code == 9,
        "`ctr run` exited {code}: `ctr task kill --all` (TERM) should end both children, then the shell exits 9"
    );
    Ok(())
}

fn ctr_oom(c: &Containerd, rt: &Rt) -> Result<()> {
    let id = format!("{}-oom", rt.name);
    let root = c.state_root(rt);
    {
        let (_g, _) = c.run_detached(
            rt,
            &id,
            &["--memory-limit", "33554432"],
            &["sh", "-c", "sleep 2; tail /dev/zero"],
        )?;
        let limit = c.cgroup("memory", &id).join("memory.limit_in_bytes");
        ensure!(
            read_trim(&limit)? == "33554432",
            "{} is {}",
            limit.display(),
            read_trim(&limit)?
        );
        // The runtime's own view: `events` (oom) and, once dead, `state`.
        let mut events =
            Bg::spawn(&mut rt.cmd(Some(&root), &["events", "--interval", "60s", &id]))?;
        c.wait_status(&id, "STOPPED")?;
        let st = rt.status(Some(&root), &id)?;
        ensure!(
            st == "stopped",
            "`{} state` says {st:?} after the OOM kill",
            rt.name
        );
        let seen_oom = wait_for("an oom event", Duration::from_secs(5), || {
            events
                .output_so_far()
                .contains(r#""type":"oom""#)
                .then_some(())
        });
        let ev = events.stop();
        seen_oom.map_err(|e| {
            anyhow::anyhow!(
                "`{}` printed no oom event ({e}):\n  stdout: {}\n  stderr: {}",
                ev.cmd,
                ev.stdout.trim_end(),
                ev.stderr.trim_end()
            )
        })?;
        let del = run(&mut c.ctr(&["task", "delete", &id]))?;
        del.ok()?;
        ensure!(
            del.stderr.contains("exit code 137") || del.stdout.contains("exit code 137"),
            "`ctr task delete` reports no exit code 137: {} {}",
            del.stdout,
            del.stderr
        );
    }
    // containerd's own report: /tasks/oom, then /tasks/exit with 137.
    let needle_oom = format!(r#"/tasks/oom {{"container_id":"{id}"}}"#);
    wait_for(
        "containerd's /tasks/oom event",
        Duration::from_secs(5),
        || c.events_so_far().contains(&needle_oom).then_some(()),
    )?;
    let ev = c.events_so_far();
    ensure!(
        ev.lines().any(|l| l.contains("/tasks/exit")
            && l.contains(&format!(r#""container_id":"{id}""#))
            && l.contains(r#""exit_status":137"#)),
        "no /tasks/exit with exit_status 137 for {id} in `ctr events`"
    );
    Ok(())
}

/// A CRI client (k8s-cri, tonic) over containerd's socket, driven from a
/// current-thread tokio runtime.
struct Cri {
    rt: tokio::runtime::Runtime,
    svc: k8s_cri::v1::runtime_service_client::RuntimeServiceClient<tonic::transport::Channel>,
}

impl Cri {
    fn connect(sock: &Path) -> Result<Cri> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let path = sock.to_path_buf();
        let channel = rt.block_on(async move {
            tonic::transport::Endpoint::try_from("http://[::]:50051")?
                .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
                    let path = path.clone();
                    async move {
                        Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                            tokio::net::UnixStream::connect(path).await?,
                        ))
                    }
                }))
                .await
        })?;
        Ok(Cri {
            rt,
            svc: k8s_cri::v1::runtime_service_client::RuntimeServiceClient::new(channel),
        })
    }

    /// Run one call: `cri.call(|mut s| async move { s.version(req).await })`.
    fn call<T, F, Fut>(&self, what: &str, f: F) -> Result<T>
    where
        F: FnOnce(
            k8s_cri::v1::runtime_service_client::RuntimeServiceClient<tonic::transport::Channel>,
        ) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    {
        let fut = f(self.svc.clone());
        let res = self
            .rt
            .block_on(async { tokio::time::timeout(CMD_TIMEOUT, fut).await });
        match res {
            Err(_) => bail!("CRI {what}: no answer in {CMD_TIMEOUT:?}"),
            Ok(Err(st)) => bail!("CRI {what}: {:?}: {}", st.code(), st.message()),
            Ok(Ok(r)) => Ok(r.into_inner()),
        }
    }
}

/// Stops and removes a pod sandbox (and so its containers) on drop.
struct PodGuard<'a> {
    cri: &'a Cri,
    id: String,
}

impl Drop for PodGuard<'_> {
    fn drop(&mut self) {
        use k8s_cri::v1::*;
        let id = self.id.clone();
        let _ = self.cri.call("StopPodSandbox", |mut s| async move {
            s.stop_pod_sandbox(StopPodSandboxRequest { pod_sandbox_id: id })
                .await
        });
        let id = self.id.clone();
        let _ = self.cri.call("RemovePodSandbox", |mut s| async move {
            s.remove_pod_sandbox(RemovePodSandboxRequest { pod_sandbox_id: id })
                .await
        });
    }
}

/// Through the CRI, with runtime handler `rt.name` (BinaryName = the
/// wrapper): a pod sandbox with its own network namespace, and in it a
/// container with CPU and memory limits and the runtime's default seccomp
/// profile; exec into it, stop it, remove it all.
fn cri_pod(c: &Containerd, cri: &Cri, rt: &Rt) -> Result<()> {
    use k8s_cri::v1::*;
    let name = format!("pod-{}", rt.name);
    let logdir = c.dir.join("pods").join(&name);
    fs::create_dir_all(&logdir)?;
    let pod_config = PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: name.clone(),
            uid: format!("{name}-uid"),
            namespace: "keel-engines".into(),
            attempt: 0,
        }),
        hostname: "keelpod".into(),
        log_directory: logdir.to_string_lossy().into_owned(),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: cri_cgroup_parent(),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(NamespaceOption {
                    network: NamespaceMode::Pod as i32,
                    pid: NamespaceMode::Container as i32,
                    ipc: NamespaceMode::Pod as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (cfg, handler) = (pod_config.clone(), rt.name.to_string());
    let pod = cri
        .call("RunPodSandbox", |mut s| async move {
            s.run_pod_sandbox(RunPodSandboxRequest {
                config: Some(cfg),
                runtime_handler: handler,
            })
            .await
        })?
        .pod_sandbox_id;
    let _pg = PodGuard {
        cri,
        id: pod.clone(),
    };
    let p = pod.clone();
    let status = cri
        .call("PodSandboxStatus", |mut s| async move {
            s.pod_sandbox_status(PodSandboxStatusRequest {
                pod_sandbox_id: p,
                verbose: false,
            })
            .await
        })?
        .status
        .context("PodSandboxStatus without a status")?;
    ensure!(
        status.state == PodSandboxState::SandboxReady as i32,
        "pod state {} (want SANDBOX_READY)",
        status.state
    );
    ensure!(
        status.runtime_handler == rt.name,
        "pod runs with handler {:?}",
        status.runtime_handler
    );
    let ip = status.network.map(|n| n.ip).unwrap_or_default();
    ensure!(!ip.is_empty(), "the pod got no IP address from CNI");

    let ctr_config = ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: "c1".into(),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: IMAGE_FULL.into(),
            ..Default::default()
        }),
        command: vec![
            "sh".into(),
            "-c".into(),
            "trap 'exit 0' TERM; echo hello from the CRI; while :; do sleep 0.2; done".into(),
        ],
        log_path: "c1.log".into(),
        linux: Some(LinuxContainerConfig {
            resources: Some(LinuxContainerResources {
                memory_limit_in_bytes: 64 << 20,
                cpu_period: 100_000,
                cpu_quota: 50_000,
                ..Default::default()
            }),
            security_context: Some(LinuxContainerSecurityContext {
                seccomp: Some(SecurityProfile {
                    profile_type: security_profile::ProfileType::RuntimeDefault as i32,
                    localhost_ref: String::new(),
                }),
                ..Default::default()
            }),
        }),
        ..Default::default()
    };
    let (p, cfg, scfg) = (pod.clone(), ctr_config, pod_config);
    let cid = cri
        .call("CreateContainer", |mut s| async move {
            s.create_container(CreateContainerRequest {
                pod_sandbox_id: p,
                config: Some(cfg),
                sandbox_config: Some(scfg),
            })
            .await
        })?
        .container_id;
    let id = cid.clone();
    cri.call("StartContainer", |mut s| async move {
        s.start_container(StartContainerRequest { container_id: id })
            .await
    })?;
    let container_status = |cri: &Cri| -> Result<ContainerStatus> {
        let id = cid.clone();
        cri.call("ContainerStatus", |mut s| async move {
            s.container_status(ContainerStatusRequest {
                container_id: id,
                verbose: false,
            })
            .await
        })?
        .status
        .context("ContainerStatus without a status")
    };
    let st = container_status(cri)?;
    ensure!(
        st.state == ContainerState::ContainerRunning as i32,
        "container state {} (want RUNNING)",
        st.state
    );
    let exec = |cmd: &[&str]| -> Result<ExecSyncResponse> {
        let (id, cmd) = (cid.clone(), cmd.iter().map(|s| s.to_string()).collect());
        cri.call("ExecSync", |mut s| async move {
            s.exec_sync(ExecSyncRequest {
                container_id: id,
                cmd,
                timeout: 30,
            })
            .await
        })
    };
    let r = exec(&[
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us; \
         hostname; grep Seccomp: /proc/self/status",
    ])?;
    let out = String::from_utf8_lossy(&r.stdout).into_owned();
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    ensure!(
        r.exit_code == 0
            && lines.len() == 4
            && lines[0] == "67108864"
            && lines[1] == "50000"
            && lines[2] == "keelpod"
            && lines[3].ends_with('2'),
        "ExecSync printed {:?} (exit {}, stderr {:?}); want the 64 MiB limit, quota 50000, \
         hostname keelpod and Seccomp: 2",
        out,
        r.exit_code,
        String::from_utf8_lossy(&r.stderr)
    );
    let r = exec(&["sh", "-c", "exit 3"])?;
    ensure!(r.exit_code == 3, "ExecSync `exit 3` gave {}", r.exit_code);

    // UpdateContainerResources: the shim calls `update --resources -`.
    let id = cid.clone();
    cri.call("UpdateContainerResources", |mut s| async move {
        s.update_container_resources(UpdateContainerResourcesRequest {
            container_id: id,
            linux: Some(LinuxContainerResources {
                memory_limit_in_bytes: 96 << 20,
                cpu_period: 100_000,
                cpu_quota: 25_000,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
    })?;
    let r = exec(&[
        "cat",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
    ])?;
    let out = String::from_utf8_lossy(&r.stdout).into_owned();
    let got: Vec<&str> = out.lines().map(str::trim).collect();
    ensure!(
        r.exit_code == 0 && got == ["100663296", "25000"],
        "after UpdateContainerResources the container sees {got:?} (want 100663296, 25000)"
    );

    let id = cid.clone();
    cri.call("StopContainer", |mut s| async move {
        s.stop_container(StopContainerRequest {
            container_id: id,
            timeout: 10,
        })
        .await
    })?;
    let st = container_status(cri)?;
    ensure!(
        st.state == ContainerState::ContainerExited as i32 && st.exit_code == 0,
        "after StopContainer: state {} exit code {} (want EXITED, 0 from the TERM trap)",
        st.state,
        st.exit_code
    );
    let log = fs::read_to_string(logdir.join("c1.log")).unwrap_or_default();
    ensure!(
        log.contains("hello from the CRI"),
        "the container's log holds {log:?}"
    );
    let id = cid.clone();
    cri.call("RemoveContainer", |mut s| async move {
        s.remove_container(RemoveContainerRequest { container_id: id })
            .await
    })?;
    drop(_pg);
    let root = c.dir.join(format!("cri-root-{}", rt.name)).join("k8s.io");
    for id in [&pod, &cid] {
        ensure!(
            !root.join(id).exists(),
            "{} still has state for {id} after RemovePodSandbox",
            rt.name
        );
    }
    Ok(())
}

#[test]
fn containerd() {
    let programs = ["containerd", "ctr", "unshare", "script"];
    engine_test("containerd", &programs, |setup, scratch, suite, t0| {
        let cni = Path::new("/usr/lib/cni/bridge").is_file()
            && Path::new("/usr/lib/cni/host-local").is_file();
        let rts = Rt::all(setup, &scratch.dir)?;
        for rt in &rts {
            scratch.runtime(rt, None);
        }
        scratch.host_path("/run/containerd", false);
        scratch.host_path("/run/containerd/s", false);
        scratch.host_path("/var/lib/cni", false);
        scratch.host_path("/var/lib/cni/results", false);
        scratch.cgroup_parent(&format!("/keel-engines-{}", std::process::id()));
        scratch.cgroup_parent(&cri_cgroup_parent());
        let (img, pause) = build_images(setup, &scratch.dir, true)?;
        let mut c = Containerd::start(scratch, &rts, cni)?;
        say(&format!(
            "engine containerd up in {:.1} s ({})",
            t0.elapsed().as_secs_f64(),
            scratch.dir.display()
        ));
        c.import(&c.ns, &img)?;
        for rt in &rts {
            suite.case(rt, "ctr run echo", || ctr_echo(&c, rt));
            suite.case(rt, "ctr run exit code", || ctr_exit_code(&c, rt));
            suite.case(rt, "ctr run --tty", || ctr_tty(&c, rt));
            suite.case(rt, "ctr task exec (and --tty)", || ctr_exec(&c, rt));
            suite.case(rt, "ctr task pause/resume", || ctr_pause_resume(&c, rt));
            suite.case(rt, "ctr task ps", || ctr_ps(&c, rt));
            suite.case(rt, "ctr task kill TERM", || ctr_kill_term(&c, rt));
            suite.case(rt, "ctr task kill KILL", || ctr_kill_kill(&c, rt));
            suite.case(rt, "ctr task kill --all", || ctr_kill_all(&c, rt));
            suite.case(rt, "ctr run --memory-limit OOM", || ctr_oom(&c, rt));
        }
        if cni {
            c.import("k8s.io", &img)?;
            c.import("k8s.io", &pause)?;
            let cri = Cri::connect(&c.sock)?;
            for rt in &rts {
                suite.case(rt, "CRI pod sandbox + container", || cri_pod(&c, &cri, rt));
            }
        } else {
            skip(
                "containerd (CRI)",
                "no CNI bridge/host-local plugins in /usr/lib/cni: run hack/deps.sh",
            );
        }
        c.stop();
        Ok(())
    });
}

// ---------------------------------------------------------------------------
// podman and docker: one CLI

/// The docker CLI, which podman's copies: what the podman and docker
/// scenarios share for a named container (`run -d --name`, `logs`, `exec`,
/// `pause`, `unpause`, `inspect`, `rm`). containerd's `ctr` is another
/// shape: its containers are positional ids, it waits for its tasks' own
/// states, and a detached task keeps no log to wait on (its "ready"
/// scenarios run `ctr run` in the foreground: see `ctr_killed`).
trait DockerCli: Sized {
    /// The CLI's name, for messages.
    const CLI: &'static str;
    /// `rm` flags that remove a running container at once: docker's
    /// `--force` kills, podman's stops it with a 10 s grace unless `--time 0`.
    const RM_FORCE: &'static [&'static str];

    /// `CLI ARGS…`, with the engine's private dirs.
    fn cli(&self, args: &[&str]) -> Command;

    /// `CLI run` with `rt`: `… FLAGS… IMAGE CMD…`.
    fn run_cmd(&self, rt: &Rt, flags: &[&str], cmd: &[&str]) -> Command;

    /// A guard that removes container `name` on drop.
    fn guard(&self, name: &str) -> CliGuard<'_, Self> {
        CliGuard {
            e: self,
            name: name.to_string(),
        }
    }

    /// `run -d --name NAME FLAGS… IMAGE CMD…` with `rt`: the guard that
    /// removes the container.
    fn run_detached(
        &self,
        rt: &Rt,
        name: &str,
        flags: &[&str],
        cmd: &[&str],
    ) -> Result<CliGuard<'_, Self>> {
        let g = self.guard(name);
        let flags: Vec<&str> = ["-d", "--name", name]
            .into_iter()
            .chain(flags.iter().copied())
            .collect();
        run(&mut self.run_cmd(rt, &flags, cmd))?.ok()?;
        Ok(g)
    }

    /// [`DockerCli::run_detached`] of `sh -c SCRIPT`, a script that prints
    /// `ready` once its traps are set; returns when the container's log
    /// shows it.
    fn run_ready(&self, rt: &Rt, name: &str, script: &str) -> Result<CliGuard<'_, Self>> {
        let g = self.run_detached(rt, name, &[], &["sh", "-c", script])?;
        self.wait_logs(name, "ready", "the container to print ready")?;
        Ok(g)
    }

    /// Poll `logs NAME` until its stdout holds `needle`.
    fn wait_logs(&self, name: &str, needle: &str, what: &str) -> Result<()> {
        wait_for(what, WAIT, || {
            run(&mut self.cli(&["logs", name]))
                .ok()
                .filter(|o| o.stdout.contains(needle))
        })?;
        Ok(())
    }

    fn inspect(&self, name: &str, format: &str) -> Result<String> {
        let out = run(&mut self.cli(&["inspect", "-f", format, name]))?;
        out.ok()?;
        Ok(out.stdout.trim().to_string())
    }
}

/// Removes a podman or docker container on drop.
struct CliGuard<'a, E: DockerCli> {
    e: &'a E,
    name: String,
}

impl<E: DockerCli> Drop for CliGuard<'_, E> {
    fn drop(&mut self) {
        let mut args = vec!["rm"];
        args.extend_from_slice(E::RM_FORCE);
        args.push(&self.name);
        let _ = run(&mut self.e.cli(&args));
    }
}

/// `exec` into running container `name`, whose pid 1 is `sleep`: the
/// command's output and exit code come back, and with `--tty` it has a
/// terminal.
fn exec_checks<E: DockerCli>(e: &E, name: &str) -> Result<()> {
    let out = run(&mut e.cli(&[
        "exec",
        name,
        "sh",
        "-c",
        "echo in-exec; cat /proc/1/cmdline; echo; exit 6",
    ]))?;
    exec_printed(&out, 6)?;
    let out = run(&mut e.cli(&["exec", "--tty", name, "tty"]))?;
    out.ok()?;
    ensure!(
        out.stdout.trim().starts_with("/dev/pts/"),
        "`{} exec --tty … tty` printed {:?}",
        E::CLI,
        out.stdout
    );
    Ok(())
}

/// `pause` then `unpause` running container `name`, each checked with
/// `inspect`.
fn pause_unpause<E: DockerCli>(e: &E, name: &str) -> Result<()> {
    for (verb, want) in [("pause", "paused"), ("unpause", "running")] {
        run(&mut e.cli(&[verb, name]))?.ok()?;
        let st = e.inspect(name, "{{.State.Status}}")?;
        ensure!(st == want, "after `{} {verb}`: {st}", E::CLI);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// podman 4.3

/// podman with all its storage, run and temp dirs, network config and
/// containers.conf in the private dir. podman is daemonless: nothing to
/// start, but conmon processes outlive each command.
struct Podman {
    dir: PathBuf,
    cgroup_parent: String,
}

impl Podman {
    fn new(scratch: &Scratch) -> Result<Podman> {
        let dir = scratch.dir.join("podman");
        fs::create_dir_all(dir.join("tmp"))?;
        // No CAP_SYS_RESOURCE here: podman's default nofile=1048576 would
        // fail in setrlimit.
        fs::write(
            dir.join("containers.conf"),
            "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n",
        )?;
        Ok(Podman {
            dir,
            cgroup_parent: format!("/keel-engines-podman-{}", std::process::id()),
        })
    }

    fn podman(&self, args: &[&str]) -> Command {
        let d = &self.dir;
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", d.join("containers.conf"))
            .env("TMPDIR", d.join("tmp"))
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("run"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .args([
                "--storage-driver",
                "overlay",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
            ])
            .arg("--network-config-dir")
            .arg(d.join("net"))
            .args(args);
        c
    }
}

impl DockerCli for Podman {
    const CLI: &'static str = "podman";
    const RM_FORCE: &'static [&'static str] = &["--force", "--time", "0"];

    fn cli(&self, args: &[&str]) -> Command {
        self.podman(args)
    }

    /// `podman run --runtime WRAPPER --cgroup-parent P FLAGS… IMAGE CMD…`
    fn run_cmd(&self, rt: &Rt, flags: &[&str], cmd: &[&str]) -> Command {
        let mut c = self.podman(&["run", "--runtime"]);
        c.arg(&rt.wrapper)
            .args(["--cgroup-parent", &self.cgroup_parent])
            .args(flags)
            .arg(IMAGE)
            .args(cmd);
        c
    }
}

fn host_netns() -> Result<String> {
    Ok(fs::read_link("/proc/self/ns/net")?
        .to_string_lossy()
        .into_owned())
}

/// The runtime's default root: podman passes no --root.
fn default_root(rt: &Rt) -> &'static str {
    if rt.name == "keel" {
        "/run/keel"
    } else {
        "/run/runc"
    }
}

fn podman_network_none(p: &Podman, rt: &Rt) -> Result<()> {
    let out = run(&mut p.run_cmd(
        rt,
        &["--rm", "--network", "none"],
        &[
            "sh",
            "-c",
            "echo hello from podman; readlink /proc/self/ns/net; ls /sys/class/net",
        ],
    ))?;
    out.ok()?;
    let lines: Vec<&str> = out.stdout.lines().collect();
    ensure!(
        lines.first() == Some(&"hello from podman"),
        "stdout {:?}",
        out.stdout
    );
    let host = host_netns()?;
    ensure!(
        lines
            .get(1)
            .is_some_and(|ns| ns.starts_with("net:[") && *ns != host),
        "with --network none the container's netns is {:?}; the host's is {host}",
        lines.get(1)
    );
    ensure!(
        lines[2..] == ["lo"],
        "with --network none the container has interfaces {:?}",
        &lines[2..]
    );
    run(&mut p.run_cmd(rt, &["--rm", "--network", "none"], &["sh", "-c", "exit 7"]))?.expect(7)?;
    Ok(())
}

fn podman_network_host(p: &Podman, rt: &Rt) -> Result<()> {
    let out = run(&mut p.run_cmd(
        rt,
        &["--rm", "--network", "host"],
        &["readlink", "/proc/self/ns/net"],
    ))?;
    out.ok()?;
    let host = host_netns()?;
    ensure!(
        out.stdout.trim() == host,
        "with --network host the container's netns is {:?}; the host's is {host}",
        out.stdout.trim()
    );
    Ok(())
}

fn podman_exec(p: &Podman, rt: &Rt) -> Result<()> {
    let name = format!("{}-exec", rt.name);
    let _g = p.run_detached(rt, &name, &["--network", "none"], &["sleep", "1000"])?;
    exec_checks(p, &name)?;
    pause_unpause(p, &name)?;
    run(&mut p.podman(&["stop", "--time", "1", &name]))?.ok()?;
    Ok(())
}

fn podman_limits(p: &Podman, rt: &Rt) -> Result<()> {
    let out = run(&mut p.run_cmd(
        rt,
        &[
            "--rm",
            "--network",
            "none",
            "--memory",
            "64m",
            "--cpus",
            "0.5",
        ],
        &[
            "cat",
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
            "/sys/fs/cgroup/cpu/cpu.cfs_period_us",
        ],
    ))?;
    out.ok()?;
    let got: Vec<&str> = out.stdout.lines().map(str::trim).collect();
    ensure!(
        got == ["67108864", "50000", "100000"],
        "inside the container: memory.limit_in_bytes, cpu.cfs_quota_us, cpu.cfs_period_us = {got:?} \
         (want 67108864, 50000, 100000)"
    );
    Ok(())
}

#[test]
fn podman() {
    engine_test(
        "podman",
        &["podman", "conmon"],
        |setup, scratch, suite, t0| {
            let rts = Rt::all(setup, &scratch.dir)?;
            scratch.host_path("/run/containers", false);
            scratch.host_path("/run/containers/networks", true);
            scratch.host_path("/var/lib/containers", false);
            scratch.host_path("/var/lib/containers/cache", true);
            for rt in &rts {
                let root = default_root(rt);
                scratch.host_path(root, false);
                scratch.host_path(&format!("{root}/seccomp-cache"), true);
                scratch.runtime(rt, Some(root));
            }
            let p = Podman::new(scratch)?;
            scratch.cgroup_parent(&p.cgroup_parent);
            // podman exec's conmon goes to /libpod_parent/conmon.
            scratch.cgroup_parent("/libpod_parent");
            let (img, _) = build_images(setup, &scratch.dir, false)?;
            let img = img.to_string_lossy().into_owned();
            run(&mut p.podman(&["load", "-i", &img]))?.ok()?;
            say(&format!(
                "engine podman ready in {:.1} s ({})",
                t0.elapsed().as_secs_f64(),
                scratch.dir.display()
            ));
            for rt in &rts {
                suite.case(rt, "run --rm --network none", || {
                    podman_network_none(&p, rt)
                });
                suite.case(rt, "run --rm --network host", || {
                    podman_network_host(&p, rt)
                });
                suite.case(rt, "exec (and --tty), pause/unpause", || {
                    podman_exec(&p, rt)
                });
                suite.case(rt, "--memory and --cpus in the cgroup", || {
                    podman_limits(&p, rt)
                });
            }
            let _ = run(&mut p.podman(&["rm", "--all", "--force", "--time", "0"]));
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------
// docker 20.10

/// A private dockerd (data-root, exec-root, pidfile, socket in the dir; no
/// iptables, no bridge) with each runtime added by path. Its containerd is
/// its own child, under exec-root.
struct Docker {
    sock: PathBuf,
    daemon: Daemon,
}

/// The name dockerd knows a runtime by ("runc" is taken by its own).
fn docker_runtime(rt: &Rt) -> String {
    format!("{}-logged", rt.name)
}

impl Docker {
    fn start(scratch: &mut Scratch, rts: &[Rt]) -> Result<Docker> {
        let dir = scratch.dir.join("docker");
        fs::create_dir_all(&dir)?;
        let sock = dir.join("docker.sock");
        let mut cmd = Command::new("/usr/sbin/dockerd");
        cmd.arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--ip-masq=false",
            ])
            .arg("--cgroup-parent")
            .arg(format!("/keel-engines-docker-{}", std::process::id()));
        for rt in rts {
            cmd.arg("--add-runtime").arg(format!(
                "{}={}",
                docker_runtime(rt),
                rt.wrapper.display()
            ));
        }
        scratch.shim_addrs.push((
            dir.join("exec/containerd/containerd.sock")
                .display()
                .to_string(),
            "moby".into(),
        ));
        let daemon = Daemon::spawn("dockerd", &mut cmd, dir.join("dockerd.log"))?;
        let mut d = Docker { sock, daemon };
        let mut version = d.docker(&["version"]);
        d.daemon
            .wait_serving(&d.sock, &mut version, Duration::from_secs(60))?;
        Ok(d)
    }

    /// `/usr/bin/docker -H unix://SOCK ARGS…` (not /usr/local/bin/docker,
    /// a different client).
    fn docker(&self, args: &[&str]) -> Command {
        let mut c = Command::new("/usr/bin/docker");
        c.env("DOCKER_CONFIG", self.sock.with_file_name("client"))
            .arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .args(args);
        c
    }
}

impl DockerCli for Docker {
    const CLI: &'static str = "docker";
    const RM_FORCE: &'static [&'static str] = &["--force"];

    fn cli(&self, args: &[&str]) -> Command {
        self.docker(args)
    }

    /// `docker run --runtime NAME --network none FLAGS… IMAGE CMD…`
    fn run_cmd(&self, rt: &Rt, flags: &[&str], cmd: &[&str]) -> Command {
        let mut c = self.docker(&["run", "--runtime", &docker_runtime(rt), "--network", "none"]);
        c.args(flags).arg(IMAGE).args(cmd);
        c
    }
}

fn docker_run(d: &Docker, rt: &Rt) -> Result<()> {
    let out = run(&mut d.run_cmd(rt, &["--rm"], &["echo", "hello from docker"]))?;
    out.ok()?;
    ensure!(
        out.stdout.trim() == "hello from docker",
        "stdout {:?}",
        out.stdout
    );
    run(&mut d.run_cmd(rt, &["--rm"], &["sh", "-c", "exit 7"]))?.expect(7)?;
    Ok(())
}

fn docker_exec(d: &Docker, rt: &Rt) -> Result<()> {
    let name = format!("{}-exec", rt.name);
    let _g = d.run_detached(rt, &name, &[], &["sleep", "1000"])?;
    exec_checks(d, &name)
}

fn docker_stop(d: &Docker, rt: &Rt) -> Result<()> {
    // A container that handles SIGTERM stops with its own exit code...
    let name = format!("{}-stop", rt.name);
    let _g = d.run_ready(
        rt,
        &name,
        "trap 'exit 42' TERM; echo ready; while :; do sleep 0.1; done",
    )?;
    run(&mut d.docker(&["stop", "--time", "20", &name]))?.ok()?;
    let st = d.inspect(&name, "{{.State.Status}} {{.State.ExitCode}}")?;
    ensure!(
        st == "exited 42",
        "after `docker stop`: {st} (want exited 42)"
    );
    // ...and one that ignores it (PID 1 without a handler) gets SIGKILL.
    let name2 = format!("{}-stop-kill", rt.name);
    let _g2 = d.run_detached(rt, &name2, &[], &["sleep", "1000"])?;
    run(&mut d.docker(&["stop", "--time", "1", &name2]))?.ok()?;
    let st = d.inspect(&name2, "{{.State.Status}} {{.State.ExitCode}}")?;
    ensure!(
        st == "exited 137",
        "after `docker stop --time 1`: {st} (want exited 137)"
    );
    Ok(())
}

fn docker_kill(d: &Docker, rt: &Rt) -> Result<()> {
    let name = format!("{}-kill", rt.name);
    let _g = d.run_ready(
        rt,
        &name,
        "trap 'echo got USR1' USR1; echo ready; while :; do sleep 0.1; done",
    )?;
    // A signal of choice reaches the process...
    run(&mut d.docker(&["kill", "--signal", "USR1", &name]))?.ok()?;
    d.wait_logs(&name, "got USR1", "the container to report USR1")?;
    ensure!(
        d.inspect(&name, "{{.State.Status}}")? == "running",
        "the container died of a trapped USR1"
    );
    // ...and the default, SIGKILL, ends it.
    run(&mut d.docker(&["kill", &name]))?.ok()?;
    let out = run(&mut d.docker(&["wait", &name]))?;
    out.ok()?;
    ensure!(
        out.stdout.trim() == "137",
        "`docker wait` after `docker kill` printed {:?} (want 137)",
        out.stdout.trim()
    );
    Ok(())
}

fn docker_update_pause_top(d: &Docker, rt: &Rt) -> Result<()> {
    let name = format!("{}-update", rt.name);
    let _g = d.run_detached(
        rt,
        &name,
        &["--memory", "64m"],
        &["sh", "-c", "sleep 1000 & exec sleep 1001"],
    )?;
    let limits = || -> Result<Vec<String>> {
        let out = run(&mut d.docker(&[
            "exec",
            &name,
            "cat",
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
        ]))?;
        out.ok()?;
        Ok(out.stdout.lines().map(|l| l.trim().to_string()).collect())
    };
    let got = limits()?;
    ensure!(got == ["67108864", "-1"], "before `docker update`: {got:?}");
    // `docker update` goes to the runtime as `update --resources -`.
    run(&mut d.docker(&[
        "update",
        "--memory",
        "96m",
        "--memory-swap",
        "192m",
        "--cpus",
        "0.25",
        &name,
    ]))?
    .ok()?;
    let got = limits()?;
    ensure!(
        got == ["100663296", "25000"],
        "after `docker update --memory 96m --cpus 0.25` the container sees {got:?}"
    );
    // `docker top` lists the runtime's `ps`: both sleeps.
    let out = run(&mut d.docker(&["top", &name]))?;
    out.ok()?;
    ensure!(
        out.stdout.contains("sleep 1000") && out.stdout.contains("sleep 1001"),
        "`docker top` printed {:?}",
        out.stdout
    );
    pause_unpause(d, &name)?;
    let got = limits()?;
    ensure!(got.len() == 2, "exec after unpause: {got:?}");
    Ok(())
}

#[test]
fn docker() {
    let programs = ["/usr/sbin/dockerd", "/usr/bin/docker", "containerd"];
    engine_test("docker", &programs, |setup, scratch, suite, t0| {
        let rts = Rt::all(setup, &scratch.dir)?;
        for rt in &rts {
            scratch.runtime(rt, None);
        }
        scratch.host_path("/etc/docker", false);
        scratch.host_path("/etc/docker/key.json", false);
        scratch.host_path("/run/docker", false);
        scratch.host_path("/run/docker/plugins", true);
        scratch.host_path("/run/containerd", false);
        scratch.host_path("/run/containerd/s", false);
        scratch.cgroup_parent(&format!("/keel-engines-docker-{}", std::process::id()));
        let (img, _) = build_images(setup, &scratch.dir, false)?;
        let mut d = Docker::start(scratch, &rts)?;
        say(&format!(
            "engine docker up in {:.1} s ({})",
            t0.elapsed().as_secs_f64(),
            scratch.dir.display()
        ));
        let img = img.to_string_lossy().into_owned();
        run(&mut d.docker(&["load", "-i", &img]))?.ok()?;
        for rt in &rts {
            suite.case(rt, "run --rm --network none", || docker_run(&d, rt));
            suite.case(rt, "exec (and --tty)", || docker_exec(&d, rt));
            suite.case(rt, "stop", || docker_stop(&d, rt));
            suite.case(rt, "kill", || docker_kill(&d, rt));
            suite.case(rt, "update, top, pause/unpause", || {
                docker_update_pause_top(&d, rt)
            });
        }
        d.daemon.stop();
        Ok(())
    });
}
