//! Helpers shared by keel's integration tests. The heavy lifting (bundles,
//! the runtime driver, guards, keel-check) lives in `keel_conformance`.
//!
//! Every scenario runs against each runtime selected by KEEL_TEST_RUNTIMES
//! (default "keel,runc"). Artifacts: KEEL_BIN (default target/release/keel),
//! KEEL_CHECK (hack/build-checker.sh), KEEL_ROOTFS (hack/mkrootfs.sh).
#![allow(dead_code, unused_imports)]

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use keel_conformance::checker::parse::{self, MountEntry};
pub use keel_conformance::driver::{CmdOutput, CreateOptions};
pub use keel_conformance::harness::{each_runtime, host_ns_inode, Ctx, NsHelper};
use keel_conformance::host;
pub use keel_conformance::tap::TapReport;
pub use keel_conformance::Spec;

pub const WAIT: Duration = Duration::from_secs(20);

/// A container that sleeps until it is killed.
pub fn sleeper() -> Spec {
    Spec::new(&["sleep", "1000"])
}

/// `out` failed with exit code 1.
pub fn failed_with_1(out: &CmdOutput) -> Result<()> {
    ensure!(
        out.code == 1,
        "`{}` exited {} (want 1); stderr: {}",
        out.cmd,
        out.code,
        out.stderr
    );
    Ok(())
}

/// keel's error contract: exit code 1 and exactly one line on stderr that
/// names each of `needles` (the file, field, id or value at fault).
pub fn keel_error(out: &CmdOutput, needles: &[&str]) -> Result<()> {
    failed_with_1(out)?;
    let msg = out.stderr.trim_end();
    ensure!(!msg.is_empty(), "`{}` failed without a message", out.cmd);
    ensure!(
        !msg.contains('\n'),
        "`{}` printed more than one line: {msg:?}",
        out.cmd
    );
    for n in needles {
        ensure!(msg.contains(n), "error {msg:?} does not name {n:?}");
    }
    Ok(())
}

/// Create `spec` and expect a clean refusal: exit 1, nothing left behind,
/// and for keel a one-line error naming `needles`.
pub fn expect_create_refused(ctx: &Ctx, spec: &Spec, needles: &[&str]) -> Result<()> {
    let bundle = ctx.bundle(spec)?;
    let id = ctx.id();
    let mut c = ctx.container(&id);
    let out = c.create(CreateOptions::bundle(bundle.path()))?;
    if ctx.is_keel() {
        keel_error(&out, needles)?;
    } else {
        failed_with_1(&out)?;
    }
    ctx.nothing_left(&id, bundle.path())?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Helpers for scenarios the driver does not cover: a runtime command running
// in the background (to signal it, or race it), host mounts, files appearing
// in a rootfs, mountinfo and log formats.

/// A runtime command running in the background, e.g. a foreground `run`
/// that the test signals. stdout and stderr go to files under the scratch
/// dir. Killed (SIGKILL, by PID) and reaped on drop if still running.
pub struct Background {
    child: Option<Child>,
    pub cmd: String,
    pub stdout_path: PathBuf,
    pub stderr_path: PathBuf,
}

impl Background {
    /// Start `RUNTIME --root ROOT ARGS…` with `stdin`.
    pub fn spawn(ctx: &Ctx, args: &[&str], stdin: Stdio) -> Result<Background> {
        Self::spawn_in(ctx, None, args, stdin)
    }

    /// Like [`Background::spawn`], in working directory `cwd`.
    pub fn spawn_in(
        ctx: &Ctx,
        cwd: Option<&Path>,
        args: &[&str],
        stdin: Stdio,
    ) -> Result<Background> {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let stdout_path = ctx.scratch().join(format!("bg-{n}.out"));
        let stderr_path = ctx.scratch().join(format!("bg-{n}.err"));
        let mut cmd = Command::new(ctx.rt.bin());
        cmd.arg("--root")
            .arg(ctx.rt.root())
            .args(args)
            .stdin(stdin)
            .stdout(fs::File::create(&stdout_path)?)
            .stderr(fs::File::create(&stderr_path)?);
        if let Some(dir) = cwd {
            cmd.current_dir(dir);
        }
        let text = format!(
            "{} --root {} {}",
            ctx.rt.bin().display(),
            ctx.rt.root().display(),
            args.join(" ")
        );
        let child = host::spawn_tracked(&mut cmd).with_context(|| format!("spawn {text}"))?;
        Ok(Background {
            child: Some(child),
            cmd: text,
            stdout_path,
            stderr_path,
        })
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    /// Whether the command is still running.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Send `sig` to the runtime process itself.
    pub fn signal(&self, sig: nix::sys::signal::Signal) -> Result<()> {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig)
            .with_context(|| format!("kill -{sig} {}", self.pid()))
    }

    /// Wait for the command to exit; its exit code, or 128+N for signal N.
    pub fn wait(&mut self, timeout: Duration) -> Result<i32> {
        use std::os::unix::process::ExitStatusExt;
        let t0 = Instant::now();
        let child = self.child.as_mut().context("already waited for")?;
        let status = loop {
            if let Some(st) = child.try_wait()? {
                break st;
            }
            if t0.elapsed() > timeout {
                let (out, err) = self.output();
                bail!(
                    "`{}` still running after {timeout:?}; stdout: {out:?}; stderr: {err:?}",
                    self.cmd
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let pid = child.id();
        self.child = None;
        host::untrack(pid);
        Ok(status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
    }

    pub fn output(&self) -> (String, String) {
        let read = |p: &Path| {
            fs::read(p)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        (read(&self.stdout_path), read(&self.stderr_path))
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pid = c.id();
            let _ = c.kill();
            let _ = c.wait();
            host::untrack(pid);
        }
    }
}

/// Wait until `path` exists. Fails early, with the command's output, if
/// `bg` exits first.
pub fn wait_for_path(
    path: &Path,
    timeout: Duration,
    mut bg: Option<&mut Background>,
) -> Result<()> {
    let t0 = Instant::now();
    loop {
        if path.exists() {
            return Ok(());
        }
        if let Some(b) = bg.as_deref_mut() {
            if !b.running() {
                let (out, err) = b.output();
                bail!(
                    "`{}` exited before {} appeared; stdout: {out:?}; stderr: {err:?}",
                    b.cmd,
                    path.display()
                );
            }
        }
        if t0.elapsed() > timeout {
            bail!("{} did not appear within {timeout:?}", path.display());
        }
        host::reap_orphans();
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Poll `cond` until it holds; an error naming `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) -> Result<()> {
    let t0 = Instant::now();
    while !cond() {
        if t0.elapsed() > timeout {
            bail!("{what}: not true after {timeout:?}");
        }
        host::reap_orphans();
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// A tmpfs the test mounts on the host; lazily unmounted on drop.
pub struct HostTmpfs(PathBuf);

impl HostTmpfs {
    pub fn mount(at: &Path) -> Result<HostTmpfs> {
        fs::create_dir_all(at)?;
        nix::mount::mount(
            Some("tmpfs"),
            at,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some("size=64k"),
        )
        .with_context(|| format!("mount a tmpfs at {}", at.display()))?;
        Ok(HostTmpfs(at.to_path_buf()))
    }
}

impl Drop for HostTmpfs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Parse a mountinfo text (e.g. what `cat /proc/self/mountinfo` printed
/// inside a container).
pub fn mountinfo(text: &str) -> Result<Vec<MountEntry>> {
    parse::parse_mountinfo(text).map_err(anyhow::Error::msg)
}

/// The topmost mount at `path` in `mounts`.
pub fn mount_at<'a>(mounts: &'a [MountEntry], path: &str) -> Result<&'a MountEntry> {
    parse::top_mount_at(mounts, path).with_context(|| format!("nothing mounted at {path}"))
}

/// Whether `s` is an RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|d| d.len() == r.len() && d.iter().all(u8::is_ascii_digit))
    };
    if !(digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && matches!(b.get(10), Some(b'T') | Some(b't'))
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19))
    {
        return false;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match b.get(i) {
        Some(b'Z') | Some(b'z') => i + 1 == b.len(),
        Some(b'+') | Some(b'-') => {
            b.len() == i + 6 && digits(i + 1..i + 3) && b[i + 3] == b':' && digits(i + 4..i + 6)
        }
        _ => false,
    }
}

/// The inode of `/proc/PID/ns/KIND` (KIND as in /proc: "pid", "net", …).
pub fn ns_of(pid: i32, kind: &str) -> Option<u64> {
    host::ns_inode_of(&format!("/proc/{pid}/ns/{kind}")).ok()
}

/// Host PIDs whose pid namespace is `ns` and whose command line is `cmdline`
/// (arguments joined by spaces). Zombies are left out.
pub fn pids_in_pid_ns(ns: u64, cmdline: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if ns_of(pid, "pid") != Some(ns) {
            continue;
        }
        if matches!(host::proc_stat(pid), Some(('Z', _, _)) | None) {
            continue;
        }
        let cl = fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        if cl.trim_end() == cmdline {
            out.push(pid);
        }
    }
    out
}

/// A directory opened read-only (e.g. to leak into a runtime as an fd).
pub fn open_dir(path: &Path) -> Result<OwnedFd> {
    Ok(fs::File::open(path)
        .with_context(|| format!("open {}", path.display()))?
        .into())
}

/// `(st_dev, st_ino)` of `path` on the host.
pub fn dev_ino(path: &Path) -> Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(path).with_context(|| format!("stat {}", path.display()))?;
    Ok((m.dev(), m.ino()))
}

/// `(st_dev, st_ino)` as busybox `stat -c '%d %i' PATH` prints them inside.
pub fn parse_dev_ino(line: &str) -> Option<(u64, u64)> {
    let mut it = line.split_whitespace();
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// Set the field `key` of the existing JSON object at `pointer` (which,
/// unlike [`Spec::set`], may go through arrays: "/hooks/prestart/0").
pub fn set_field(spec: &mut Spec, pointer: &str, key: &str, v: serde_json::Value) -> Result<()> {
    let obj = spec
        .value_mut()
        .pointer_mut(pointer)
        .and_then(serde_json::Value::as_object_mut)
        .with_context(|| format!("no object at {pointer}"))?;
    obj.insert(key.to_string(), v);
    Ok(())
}

/// Processes (other than this one) holding an open fd on a path under one
/// of `dirs`: e.g. a container init still holding its exec fifo under
/// `--root` after a runtime lost track of it.
pub fn fd_holders(dirs: &[&Path]) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let holds = fs::read_dir(e.path().join("fd"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|fd| fs::read_link(fd.path()).ok())
            .any(|t| dirs.iter().any(|d| t.starts_with(d)));
        if holds {
            out.push(pid);
        }
    }
    out
}

/// On drop, SIGKILLs (by PID) every process still holding an fd under one
/// of its dirs: the cleanup of last resort for races that can orphan a
/// container's init.
pub struct KillHolders(pub Vec<PathBuf>);

impl Drop for KillHolders {
    fn drop(&mut self) {
        let dirs: Vec<&Path> = self.0.iter().map(PathBuf::as_path).collect();
        for pid in fd_holders(&dirs) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        host::reap_orphans();
    }
}

/// The cgroup directories of `pid` on the host, one per line of
/// /proc/PID/cgroup: `(controllers, dir)`.
pub fn cgroup_dirs(pid: i32) -> Result<Vec<(String, PathBuf)>> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")?;
    let mut mounts = Vec::new(); // (fstype, super options, root, mount point)
    for l in mountinfo.lines() {
        let (pre, post) = l.split_once(" - ").context("mountinfo line")?;
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        if post[0] == "cgroup" || post[0] == "cgroup2" {
            mounts.push((post[0], post[2].to_string(), pre[3], pre[4]));
        }
    }
    let mut out = Vec::new();
    for line in fs::read_to_string(format!("/proc/{pid}/cgroup"))?.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next(), parts.next(), parts.next());
        let (ctrls, path) = (ctrls.context("ctrls")?, path.context("path")?);
        let m = mounts.iter().find(|(fs, opts, _, _)| {
            if ctrls.is_empty() {
                *fs == "cgroup2"
            } else {
                *fs == "cgroup" && ctrls.split(',').all(|c| opts.split(',').any(|o| o == c))
            }
        });
        let (_, _, root, mp) = m.with_context(|| format!("no mount for {line}"))?;
        let rel = path
            .strip_prefix(root)
            .unwrap_or(path)
            .trim_start_matches('/');
        out.push((ctrls.to_string(), Path::new(mp).join(rel)));
    }
    Ok(out)
}
