//! What a case works with: its own runtime root, scratch directory and
//! container ids, facts about the host, and a container guard.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{CaseResult, Problem, Target};
use crate::bundle::Bundle;
use crate::driver::{CmdOutput, CreateOptions, Runtime, State};
use crate::error::io_err;
use crate::harness::{proc_ns_name, Artifacts};
use crate::spec::Spec;
use crate::tap::TapReport;
use crate::{host, sys};

/// How long a case waits for a container to reach a state or exit.
pub const WAIT: Duration = Duration::from_secs(10);

/// The namespace types of the spec.
pub const NS_TYPES: [&str; 8] = [
    "pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time",
];

/// Facts about the machine, read once per run.
#[derive(Debug, Clone, Default)]
pub struct HostFacts {
    /// This process's namespace inodes by spec type.
    pub ns: BTreeMap<String, u64>,
    /// Whether this process has CAP_SYS_RESOURCE in its bounding set.
    pub cap_sys_resource: bool,
    pub apparmor: bool,
    pub selinux: bool,
    /// This process's oom_score_adj, which a container inherits unless set.
    pub oom_score_adj: i32,
    /// A block device's major:minor (for blkio rules).
    pub block_dev: Option<(u32, u32)>,
    /// The v1 cgroup hierarchies mounted at /sys/fs/cgroup/NAME.
    pub cgroup_v1: Vec<String>,
    /// The controllers of the cgroup2 mount (hybrid: /sys/fs/cgroup/unified).
    pub cgroup2_controllers: Vec<String>,
    /// Whether /sys/fs/cgroup itself is cgroup2 (unified mode).
    pub cgroup2_unified: bool,
    /// Whether the kernel has time namespaces.
    pub time_ns: bool,
    /// The files of a fresh child cgroup, per v1 hierarchy (the root cgroup
    /// lacks some, such as pids.max).
    pub cgroup_child_files: BTreeMap<String, Vec<String>>,
}

impl HostFacts {
    pub fn probe() -> HostFacts {
        let mut ns = BTreeMap::new();
        for kind in NS_TYPES {
            if let Ok(i) = host::ns_inode_of(&format!("/proc/self/ns/{}", proc_ns_name(kind))) {
                ns.insert(kind.to_string(), i);
            }
        }
        let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
        let cap_bnd = crate::checker::parse::status_field(&status, "CapBnd")
            .and_then(|v| u64::from_str_radix(v, 16).ok())
            .unwrap_or(0);
        let block_dev = ["vda", "sda", "nvme0n1", "xvda", "zram0", "loop0"]
            .iter()
            .find_map(|d| {
                let t = fs::read_to_string(format!("/sys/block/{d}/dev")).ok()?;
                let (a, b) = t.trim().split_once(':')?;
                Some((a.parse().ok()?, b.parse().ok()?))
            });
        let cgroup_v1 = fs::read_dir("/sys/fs/cgroup")
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().join("cgroup.procs").exists())
                    .filter(|e| !e.path().join("cgroup.controllers").exists())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let cgroup2_unified = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let c2 = if cgroup2_unified {
            "/sys/fs/cgroup/cgroup.controllers"
        } else {
            "/sys/fs/cgroup/unified/cgroup.controllers"
        };
        HostFacts {
            ns,
            cap_sys_resource: cap_bnd & (1 << 24) != 0,
            apparmor: Path::new("/sys/kernel/security/apparmor").exists(),
            selinux: Path::new("/sys/fs/selinux/enforce").exists(),
            oom_score_adj: fs::read_to_string("/proc/self/oom_score_adj")
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0),
            block_dev,
            cgroup_v1,
            cgroup2_controllers: fs::read_to_string(c2)
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            cgroup2_unified,
            time_ns: Path::new("/proc/self/ns/time").exists(),
            cgroup_child_files: BTreeMap::new(),
        }
        .with_child_files()
    }

    fn with_child_files(mut self) -> HostFacts {
        for ctrl in &self.cgroup_v1 {
            let dir = format!(
                "/sys/fs/cgroup/{ctrl}/keel-conformance-probe-{}",
                std::process::id()
            );
            if fs::create_dir(&dir).is_err() {
                continue;
            }
            let files = fs::read_dir(&dir)
                .map(|d| {
                    d.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            let _ = fs::remove_dir(&dir);
            self.cgroup_child_files.insert(ctrl.clone(), files);
        }
        self
    }

    /// Whether a child cgroup of v1 hierarchy `ctrl` has `file`.
    pub fn cgroup_child_file(&self, ctrl: &str, file: &str) -> bool {
        self.cgroup_child_files
            .get(ctrl)
            .is_some_and(|f| f.iter().any(|x| x == file))
            || self.cgroup_file(ctrl, file)
    }

    /// Whether v1 hierarchy `ctrl` has `file` (at its root).
    pub fn cgroup_file(&self, ctrl: &str, file: &str) -> bool {
        self.cgroup_v1.iter().any(|c| c == ctrl)
            && Path::new(&format!("/sys/fs/cgroup/{ctrl}/{file}")).exists()
    }
}

/// One case's world: a runtime with its own `--root`, a scratch directory,
/// and unique container ids. Everything is cleaned up on drop.
pub struct Env<'a> {
    pub target: &'a Target,
    pub rt: Runtime,
    pub art: &'a Artifacts,
    pub host: &'a HostFacts,
    /// The runtime's `features` document, if it has one.
    pub features: Option<&'a Value>,
    label: String,
    seq: AtomicUsize,
    ids: Mutex<Vec<String>>,
    scratch: tempfile::TempDir,
    root: tempfile::TempDir,
}

/// The cgroup parent the suite puts containers under (`cgroupsPath`).
pub const CGROUP_PARENT: &str = "keel-conformance";

impl<'a> Env<'a> {
    pub fn new(
        target: &'a Target,
        art: &'a Artifacts,
        host: &'a HostFacts,
        features: Option<&'a Value>,
        label: &str,
    ) -> crate::error::Result<Env<'a>> {
        let root = tempfile::Builder::new()
            .prefix("kr-")
            .tempdir()
            .map_err(io_err("create a runtime root"))?;
        let scratch = tempfile::Builder::new()
            .prefix("kc-")
            .tempdir()
            .map_err(io_err("create a scratch dir"))?;
        let mut rt = Runtime::new(&target.name, &target.bin, root.path())?;
        rt.timeout = Duration::from_secs(20);
        Ok(Env {
            target,
            rt,
            art,
            host,
            features,
            label: label.to_string(),
            seq: AtomicUsize::new(0),
            ids: Mutex::new(Vec::new()),
            scratch,
            root,
        })
    }

    /// A container id unique on this host.
    pub fn id(&self) -> String {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let id = format!(
            "kc{}-{}-{}-{n}",
            std::process::id(),
            self.label,
            self.target.name
        );
        self.ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(id.clone());
        id
    }

    pub fn scratch(&self) -> &Path {
        self.scratch.path()
    }

    /// A host path under the scratch directory, as a string.
    pub fn scratch_path(&self, name: &str) -> String {
        self.scratch
            .path()
            .join(name)
            .to_string_lossy()
            .into_owned()
    }

    /// A bundle for `spec`; the runner gives each run a private template,
    /// whose files the bundles hard-link.
    pub fn bundle(&self, spec: &Spec) -> Result<Bundle, Problem> {
        Ok(Bundle::create_linked(
            &self.art.rootfs,
            &self.art.checker,
            spec,
        )?)
    }

    /// A guard for container `id`.
    pub fn ctr(&self, id: &str) -> Ctr<'_> {
        Ctr {
            env: self,
            id: id.to_string(),
            pid: None,
            out: None,
            deleted: false,
        }
    }

    /// The cgroupsPath the suite uses for container `id`.
    pub fn cgroups_path(id: &str) -> String {
        format!("/{CGROUP_PARENT}/{id}")
    }

    /// Run `spec` in the foreground (`run`) from a fresh bundle.
    pub fn run(&self, spec: &Spec) -> Result<(CmdOutput, TapReport), Problem> {
        let bundle = self.bundle(spec)?;
        self.run_bundle(&bundle)
    }

    /// Run the bundle in the foreground (`run`).
    pub fn run_bundle(&self, bundle: &Bundle) -> Result<(CmdOutput, TapReport), Problem> {
        let id = self.id();
        let mut c = self.ctr(&id);
        let out = c.run(CreateOptions::bundle(bundle.path()))?;
        let tap = TapReport::parse(&out.stdout);
        Ok((out, tap))
    }

    /// Run `spec` (keel-check as its process): every check must pass, the
    /// plan must be complete, the exit code 0, and each of `must` must be a
    /// test point that passed without being skipped.
    pub fn check(&self, spec: &Spec, must: &[&str]) -> CaseResult {
        let (out, tap) = self.run(spec)?;
        judge_tap(&out, &tap, must)
    }

    /// Create `spec`; the create must succeed.
    pub fn create(&self, spec: &Spec) -> Result<(Bundle, Ctr<'_>), Problem> {
        let bundle = self.bundle(spec)?;
        let id = self.id();
        let mut c = self.ctr(&id);
        let out = c.create(CreateOptions::bundle(bundle.path()))?;
        ensure!(
            out.success(),
            "create failed ({}): {}",
            out.code,
            one_line(&out.stderr)
        );
        Ok((bundle, c))
    }

    /// Create, start and wait for the exit of `spec`; returns the TAP output
    /// and the exit code when known.
    pub fn create_start_wait(&self, spec: &Spec) -> Result<(TapReport, Option<i32>), Problem> {
        let (_bundle, mut c) = self.create(spec)?;
        let st = c.start()?;
        ensure!(st.success(), "start failed: {}", one_line(&st.stderr));
        let code = c.wait_exit(WAIT)?;
        let (stdout, _) = c.output();
        c.delete_quietly();
        Ok((TapReport::parse(&stdout), code))
    }

    /// `create` of `spec` must fail and leave nothing behind.
    pub fn expect_create_fails(&self, spec: &Spec) -> CaseResult {
        let bundle = self.bundle(spec)?;
        self.expect_bundle_create_fails(&bundle)
    }

    pub fn expect_bundle_create_fails(&self, bundle: &Bundle) -> CaseResult {
        let id = self.id();
        let mut c = self.ctr(&id);
        let out = c.create(CreateOptions::bundle(bundle.path()))?;
        if out.success() {
            // Some runtimes only fail at start; that is still an accepted
            // container, which this case does not want.
            fail!("create succeeded (want an error)");
        }
        self.nothing_left(&id, bundle.path())
    }

    /// Run `spec` in the foreground; `run` must fail (create or start) and
    /// the user process must not have succeeded.
    pub fn expect_run_fails(&self, spec: &Spec) -> CaseResult {
        let (out, tap) = self.run(spec)?;
        ensure!(
            !out.success(),
            "run succeeded (want an error); output: {}",
            one_line(&tap.raw)
        );
        Ok(())
    }

    /// Nothing of container `id` is left: no state under `--root`, no
    /// mount mentioning the bundle, no process mentioning id or bundle.
    pub fn nothing_left(&self, id: &str, bundle: &Path) -> CaseResult {
        let mut probs = Vec::new();
        if let Ok(list) = self.rt.list_json() {
            if list
                .iter()
                .any(|c| c.get("id").and_then(Value::as_str) == Some(id))
            {
                probs.push("the runtime still lists it".to_string());
            }
        }
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
        ensure!(probs.is_empty(), "{}", probs.join("; "));
        Ok(())
    }

    /// The namespace inode of this (the runtime's) process, by spec type.
    pub fn host_ns(&self, kind: &str) -> Result<u64, Problem> {
        self.host
            .ns
            .get(kind)
            .copied()
            .ok_or_else(|| Problem::Skip(format!("the kernel has no {kind} namespace")))
    }

    /// The runtime's `features` document, or a failure.
    pub fn features(&self) -> Result<&Value, Problem> {
        self.features
            .ok_or_else(|| Problem::Fail("`features` printed no JSON document".into()))
    }
}

/// Judge keel-check output: all points pass, the plan is complete, the exit
/// code is 0, and each of `must` passed without being skipped.
pub fn judge_tap(out: &CmdOutput, tap: &TapReport, must: &[&str]) -> CaseResult {
    if let Err(e) = tap.passed() {
        let fails: Vec<String> = tap
            .failures()
            .iter()
            .map(|l| format!("{}: {}", l.name, l.directive))
            .collect();
        if fails.is_empty() {
            fail!(
                "{} (exit {}; stderr: {})",
                one_line(e.lines().next().unwrap_or("")),
                out.code,
                one_line(&out.stderr)
            );
        }
        fail!("{}", fails.join("; "));
    }
    ensure!(
        out.code == 0,
        "exit {} although every check passed; stderr: {}",
        out.code,
        one_line(&out.stderr)
    );
    for name in must {
        match tap.find(name) {
            Some(l) if l.ok && !l.skipped() => {}
            Some(l) => fail!("{name}: {}", l.directive),
            None => fail!("no test point {name:?} in the checker's output"),
        }
    }
    Ok(())
}

/// Collapse a message to one line of at most 300 characters.
pub fn one_line(s: &str) -> String {
    let t: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if t.chars().count() > 300 {
        format!("{}…", t.chars().take(300).collect::<String>())
    } else {
        t
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

impl Drop for Env<'_> {
    fn drop(&mut self) {
        if let Ok(list) = self.rt.list_json() {
            for c in list {
                if let Some(id) = c.get("id").and_then(Value::as_str) {
                    let _ = self.rt.delete_force(id);
                }
            }
        }
        host::unmount_under(self.root.path());
        host::unmount_under(self.scratch.path());
        let ids = std::mem::take(&mut *self.ids.lock().unwrap_or_else(|e| e.into_inner()));
        for id in ids {
            // Under the suite's parent, and where a runtime puts a container
            // without cgroupsPath (/ID): only empty cgroups go.
            for ctrl in &self.host.cgroup_v1 {
                let _ = fs::remove_dir(format!("/sys/fs/cgroup/{ctrl}/{CGROUP_PARENT}/{id}"));
                let _ = fs::remove_dir(format!("/sys/fs/cgroup/{ctrl}/{id}"));
            }
            // Pure v2, or the cgroup2 mount of a hybrid host.
            for base in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
                let _ = fs::remove_dir(format!("{base}/{CGROUP_PARENT}/{id}"));
                let _ = fs::remove_dir(format!("{base}/{id}"));
            }
        }
        host::reap_orphans();
    }
}

/// A container: force-deleted, and its process killed by PID if it
/// survived, when the guard drops. Its init is tracked so that no other
/// case's reaping steals its exit status.
pub struct Ctr<'e> {
    env: &'e Env<'e>,
    pub id: String,
    pid: Option<(i32, u64)>,
    out: Option<CmdOutput>,
    deleted: bool,
}

impl Ctr<'_> {
    fn rt(&self) -> &Runtime {
        &self.env.rt
    }

    fn pid_file(&self) -> PathBuf {
        self.env.scratch().join(format!("{}.pid", self.id))
    }

    fn learn_pid(&mut self, from_file: Option<&Path>) {
        if self.pid.is_some() {
            return;
        }
        let pid = from_file
            .and_then(|p| fs::read_to_string(p).ok())
            .and_then(|s| s.trim().parse::<i32>().ok())
            .or_else(|| self.rt().state_json(&self.id).ok().map(|s| s.pid as i32))
            .filter(|&p| p > 0);
        if let Some(pid) = pid {
            if let Some((_, _, start)) = host::proc_stat(pid) {
                host::track(pid);
                self.pid = Some((pid, start));
            }
        }
    }

    /// `create`; a `--pid-file` is added unless `opts` has one.
    pub fn create(&mut self, mut opts: CreateOptions) -> Result<CmdOutput, Problem> {
        let pf = opts.pid_file.get_or_insert_with(|| self.pid_file()).clone();
        let out = self.rt().create(&self.id, opts)?;
        if out.success() {
            self.learn_pid(Some(&pf));
        }
        self.out = Some(out.clone());
        Ok(out)
    }

    /// `run` (foreground unless `opts.detach`).
    pub fn run(&mut self, mut opts: CreateOptions) -> Result<CmdOutput, Problem> {
        let detach = opts.detach;
        let pf = opts.pid_file.get_or_insert_with(|| self.pid_file()).clone();
        let out = self.rt().run(&self.id, opts)?;
        if detach && out.success() {
            self.learn_pid(Some(&pf));
        }
        self.out = Some(out.clone());
        Ok(out)
    }

    pub fn start(&self) -> Result<CmdOutput, Problem> {
        Ok(self.rt().start(&self.id)?)
    }

    pub fn state(&self) -> Result<State, Problem> {
        Ok(self.rt().state_json(&self.id)?)
    }

    /// The raw `state` JSON.
    pub fn state_value(&self) -> Result<Value, Problem> {
        let out = self.rt().state(&self.id)?;
        ensure!(
            out.success(),
            "state failed ({}): {}",
            out.code,
            one_line(&out.stderr)
        );
        Ok(serde_json::from_str(&out.stdout)?)
    }

    pub fn status(&self) -> Result<String, Problem> {
        Ok(self.state()?.status)
    }

    /// Wait until `state` reports `status`.
    pub fn wait_status(&self, status: &str) -> Result<State, Problem> {
        Ok(self.rt().wait_status(&self.id, status, WAIT)?)
    }

    pub fn kill(&self, signal: &str) -> Result<CmdOutput, Problem> {
        Ok(self.rt().kill(&self.id, signal)?)
    }

    /// `delete` (without `--force`); a success marks the guard done.
    pub fn delete(&mut self) -> Result<CmdOutput, Problem> {
        let out = self.rt().delete(&self.id)?;
        if out.success() {
            self.deleted = true;
        }
        Ok(out)
    }

    /// `delete --force`; a success marks the guard done.
    pub fn delete_force(&mut self) -> Result<CmdOutput, Problem> {
        let out = self.rt().delete_force(&self.id)?;
        if out.success() {
            self.deleted = true;
        }
        Ok(out)
    }

    /// Delete the stopped container, ignoring the outcome (the guard forces
    /// it on drop if this failed).
    pub fn delete_quietly(&mut self) {
        let _ = self.delete();
    }

    /// The container's init PID (host view), when known.
    pub fn pid(&self) -> Option<i32> {
        self.pid.map(|(p, _)| p)
    }

    /// What the container wrote to the stdout and stderr it got at create.
    pub fn output(&self) -> (String, String) {
        self.out.as_ref().map(CmdOutput::reread).unwrap_or_default()
    }

    /// Whether the init process is gone (exited or a zombie).
    pub fn init_gone(&self) -> bool {
        match self.pid {
            None => true,
            Some((pid, start)) => match host::proc_stat(pid) {
                Some((st, _, s)) => s != start || st == 'Z' || st == 'X',
                None => true,
            },
        }
    }

    /// Wait for the init process to exit; its exit code when this process
    /// reaped it, None when someone else did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<Option<i32>, Problem> {
        let Some((pid, start)) = self.pid else {
            fail!("container {} has no known pid", self.id);
        };
        let t0 = Instant::now();
        loop {
            match sys::try_wait(pid) {
                Ok(sys::WaitOutcome::Exited(code)) => {
                    host::untrack(pid as u32);
                    self.pid = None;
                    return Ok(Some(code));
                }
                Ok(sys::WaitOutcome::NotChild) | Err(_) => match host::proc_stat(pid) {
                    Some((st, _, s)) if s == start && st != 'Z' && st != 'X' => {}
                    _ => {
                        host::untrack(pid as u32);
                        self.pid = None;
                        return Ok(None);
                    }
                },
                Ok(sys::WaitOutcome::Running) => {}
            }
            if t0.elapsed() > timeout {
                fail!(
                    "container {} (pid {pid}) still running after {timeout:?}",
                    self.id
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Ctr<'_> {
    fn drop(&mut self) {
        if !self.deleted {
            if self.pid.is_none() {
                self.learn_pid(Some(&self.pid_file()));
            }
            let _ = self.rt().delete_force(&self.id);
        }
        if let Some((pid, start)) = self.pid {
            if host::same_process(pid, start) {
                if !matches!(host::proc_stat(pid), Some(('Z', _, _))) {
                    let _ = sys::kill(pid, libc::SIGKILL);
                }
                for _ in 0..400 {
                    match sys::try_wait(pid) {
                        Ok(sys::WaitOutcome::Running) => {
                            std::thread::sleep(Duration::from_millis(5))
                        }
                        _ => break,
                    }
                }
            }
            host::untrack(pid as u32);
        }
        let _ = fs::remove_file(self.pid_file());
    }
}
