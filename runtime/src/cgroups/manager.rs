//! [`Manager`]: one container's cgroup across every mounted hierarchy.
//!
//! It creates the directories (copying the parent's cpuset into new v1
//! cpuset cgroups, enabling v2 controllers in each ancestor's
//! `cgroup.subtree_control`), moves processes in, applies and updates
//! resources from a validated [`Plan`], freezes and thaws, lists pids,
//! reads stats and OOM counts, and removes the directories bottom-up.
//!
//! It never kills a process and never spawns a thread: `destroy` expects
//! the caller to have killed the container, and waiting (for the freezer,
//! for EBUSY on rmdir) is a short bounded sleep loop.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use super::error::{Error, Result};
use super::fs::{CgroupFs, HostFs};
use super::layout::{Hierarchy, Layout, Machine, Mode};
use super::oom::OomWatcher;
use super::path::CgroupsPath;
use super::plan::{self, Host, Plan, PlanOptions, Step, Write};
use super::stats::{self, parse_kv, Stats, V1Dirs};

/// How long freeze and thaw wait for the kernel before giving up.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(2);
/// rmdir retries on EBUSY (10 ms doubling: about 0.3 s in all).
const RMDIR_TRIES: u32 = 6;

/// The container's directory in one hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupDir {
    pub hierarchy: Hierarchy,
    /// The cgroup directory.
    pub dir: PathBuf,
}

/// One container's cgroup.
pub struct Manager<F: CgroupFs = HostFs> {
    fs: F,
    layout: Layout,
    machine: Machine,
    dirs: Vec<CgroupDir>,
}

impl Manager<HostFs> {
    /// The manager for `path` on this host's cgroup filesystems.
    pub fn new(layout: Layout, path: &CgroupsPath) -> Result<Manager<HostFs>> {
        Manager::with_fs(HostFs, layout, Machine::detect(), path)
    }

    /// Detects the layout and builds the manager for `path`.
    pub fn detect(path: &CgroupsPath) -> Result<Manager<HostFs>> {
        Manager::new(Layout::detect()?, path)
    }

    /// The manager for directories saved with [`Manager::paths`].
    pub fn from_paths(paths: &[PathBuf]) -> Result<Manager<HostFs>> {
        Manager::with_fs_from_paths(HostFs, Layout::detect()?, Machine::detect(), paths)
    }
}

impl<F: CgroupFs> Manager<F> {
    /// A manager over any [`CgroupFs`] (tests use the in-memory fake).
    pub fn with_fs(
        fs: F,
        layout: Layout,
        machine: Machine,
        path: &CgroupsPath,
    ) -> Result<Manager<F>> {
        let mut dirs = Vec::new();
        for h in &layout.hierarchies {
            let base = match path {
                CgroupsPath::Absolute(_) => h.mountpoint.clone(),
                CgroupsPath::Relative(_) => h.own_dir()?,
            };
            dirs.push(CgroupDir {
                hierarchy: h.clone(),
                dir: base.join(path.rel()),
            });
        }
        Ok(Manager {
            fs,
            layout,
            machine,
            dirs,
        })
    }

    /// Rebuilds a manager from [`Manager::paths`] saved at create time.
    /// Later commands must use this rather than the spec's path: a relative
    /// path was resolved against the cgroup of the process that created the
    /// container, and `delete` or `update` may run from another cgroup.
    pub fn with_fs_from_paths(
        fs: F,
        layout: Layout,
        machine: Machine,
        paths: &[PathBuf],
    ) -> Result<Manager<F>> {
        let mut dirs = Vec::new();
        for p in paths {
            let h = layout
                .hierarchies
                .iter()
                .filter(|h| p.starts_with(&h.mountpoint))
                .max_by_key(|h| h.mountpoint.as_os_str().len())
                .ok_or_else(|| Error::Path {
                    path: p.display().to_string(),
                    reason: "is not below any mounted cgroup hierarchy; was the container created on another host layout?"
                        .to_string(),
                })?;
            dirs.push(CgroupDir {
                hierarchy: h.clone(),
                dir: p.clone(),
            });
        }
        Ok(Manager {
            fs,
            layout,
            machine,
            dirs,
        })
    }

    /// The cgroup directories, one per hierarchy: save them in the
    /// container's state and rebuild with [`Manager::from_paths`].
    pub fn paths(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.dir.clone()).collect()
    }

    /// The host layout this manager drives.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The machine facts used for validation.
    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    /// The file-system access (for tests).
    pub fn fs(&self) -> &F {
        &self.fs
    }

    /// Whether resources go through cgroup v2.
    pub fn is_v2(&self) -> bool {
        self.layout.mode == Mode::Unified
    }

    /// The container's directory in every hierarchy, in layout order.
    pub fn dirs(&self) -> &[CgroupDir] {
        &self.dirs
    }

    /// The directory that holds `controller`'s files: the v1 hierarchy that
    /// carries it, or on v2 the one cgroup directory.
    pub fn dir(&self, controller: &str) -> Option<&Path> {
        if self.is_v2() {
            return self.dirs.first().map(|d| d.dir.as_path());
        }
        self.dirs
            .iter()
            .find(|d| d.hierarchy.has(controller))
            .map(|d| d.dir.as_path())
    }

    /// The cgroup2 directory (on hybrid hosts: membership only).
    pub fn unified_dir(&self) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|d| d.hierarchy.is_v2())
            .map(|d| d.dir.as_path())
    }

    /// The distinct cgroup directories (comounted controllers share one).
    pub fn unique_dirs(&self) -> Vec<&Path> {
        let mut seen = BTreeSet::new();
        self.dirs
            .iter()
            .filter(|d| seen.insert(d.dir.clone()))
            .map(|d| d.dir.as_path())
            .collect()
    }

    /// Whether the cgroup exists (in any hierarchy).
    pub fn exists(&self) -> bool {
        self.dirs.iter().any(|d| self.fs.exists(&d.dir))
    }

    // ---- create ---------------------------------------------------------

    /// Creates the cgroup directories (existing ones are fine). On v1, new
    /// cpuset cgroups get their parent's `cpus` and `mems`; on v2 every
    /// ancestor enables the controllers it has for its children.
    pub fn create(&self) -> Result<()> {
        for d in &self.dirs {
            let mp = &d.hierarchy.mountpoint;
            let rel = d.dir.strip_prefix(mp).unwrap_or(Path::new(""));
            let configure_v2 = d.hierarchy.is_v2() && self.is_v2();
            let mut cur = mp.clone();
            let mut chain = vec![cur.clone()];
            for c in rel.components() {
                if configure_v2 {
                    // The parent enables its controllers for the child.
                    self.enable_controllers(&cur);
                }
                cur.push(c);
                chain.push(cur.clone());
                if !self.fs.exists(&cur) {
                    match self.fs.mkdir(&cur) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(source) => return Err(Error::Create { path: cur, source }),
                    }
                }
            }
            if d.hierarchy.has("cpuset") {
                for w in chain.windows(2) {
                    self.copy_cpuset(&w[0], &w[1])?;
                }
            }
        }
        Ok(())
    }

    fn copy_cpuset(&self, parent: &Path, child: &Path) -> Result<()> {
        for f in ["cpuset.cpus", "cpuset.mems"] {
            let cp = child.join(f);
            let cur = self.fs.read(&cp).map_err(|e| Error::read(&cp, e))?;
            if !cur.trim().is_empty() {
                continue;
            }
            let pp = parent.join(f);
            let val = self.fs.read(&pp).map_err(|e| Error::read(&pp, e))?;
            self.write_raw(&cp, val.trim(), "")?;
        }
        Ok(())
    }

    /// Best effort, as runc: a cgroup with processes of its own cannot
    /// enable domain controllers; `apply` then names what is missing.
    fn enable_controllers(&self, dir: &Path) {
        let avail = self
            .fs
            .read(&dir.join("cgroup.controllers"))
            .unwrap_or_default();
        let on: BTreeSet<String> = self
            .fs
            .read(&dir.join("cgroup.subtree_control"))
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        for c in avail.split_whitespace().filter(|c| !on.contains(*c)) {
            if let Err(e) = self
                .fs
                .write(&dir.join("cgroup.subtree_control"), &format!("+{c}"))
            {
                tracing::debug!(dir = %dir.display(), controller = c, error = %e, "cannot enable controller");
            }
        }
    }

    /// Moves `pid` into the cgroup in every hierarchy.
    pub fn add_pid(&self, pid: i32) -> Result<()> {
        for dir in self.unique_dirs() {
            self.add_pid_at(pid, dir)?;
        }
        Ok(())
    }

    fn add_pid_at(&self, pid: i32, dir: &Path) -> Result<()> {
        let path = dir.join("cgroup.procs");
        self.fs
            .write(&path, &pid.to_string())
            .map_err(|source| Error::AddPid { pid, path, source })
    }

    /// Moves `pid` into sub-cgroups of the container's cgroup (`exec
    /// --cgroup`). Each entry is `(controllers, sub)`; empty controllers
    /// mean every hierarchy (on v2, the one directory). A hierarchy no entry
    /// names gets the container's own cgroup. Each sub-cgroup must exist.
    pub fn add_pid_to_subs(&self, pid: i32, subs: &[(Vec<String>, PathBuf)]) -> Result<()> {
        let mut rels = Vec::with_capacity(subs.len());
        for (ctrls, sub) in subs {
            rels.push((ctrls, CgroupsPath::from_spec(Some(sub), "")?));
        }
        for d in &self.dirs {
            let hit = rels
                .iter()
                .find(|(ctrls, _)| ctrls.is_empty() || ctrls.iter().any(|c| d.hierarchy.has(c)));
            let dir = match hit {
                Some((_, rel)) => d.dir.join(rel.rel()),
                None => d.dir.clone(),
            };
            if !self.fs.exists(&dir) {
                return Err(Error::SubCgroupMissing { dir });
            }
            self.add_pid_at(pid, &dir)?;
        }
        Ok(())
    }

    // ---- resources ------------------------------------------------------

    fn controllers_v2(&self) -> BTreeSet<String> {
        self.dirs
            .first()
            .and_then(|d| self.fs.read(&d.dir.join("cgroup.controllers")).ok())
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    fn host_description(&self) -> &'static str {
        match self.layout.mode {
            Mode::Unified => "in this cgroup (not in its cgroup.controllers)",
            Mode::Hybrid => {
                "on this host's cgroup v1 hierarchies (a hybrid host is driven through v1)"
            }
            Mode::Legacy => "on this host (not mounted)",
        }
    }

    /// Checks `r` against the machine without touching any cgroup: every
    /// value no kernel would accept is refused, naming the field. Controller
    /// availability is checked by `apply`, once the cgroup exists.
    pub fn validate(&self, r: &LinuxResources) -> Result<()> {
        let host = Host {
            machine: &self.machine,
            has_controller: None,
            what: self.host_description(),
        };
        plan::plan(r, self.is_v2(), &host, PlanOptions::default()).map(|_| ())
    }

    /// The plan `apply` (or `update`) would carry out.
    pub fn plan(&self, r: &LinuxResources, opts: PlanOptions) -> Result<Plan> {
        let v2_ctrls = if self.is_v2() {
            self.controllers_v2()
        } else {
            BTreeSet::new()
        };
        let has = |c: &str| -> bool {
            if c.is_empty() {
                return true;
            }
            if self.is_v2() {
                v2_ctrls.contains(c)
            } else {
                self.layout.v1(c).is_some()
            }
        };
        let host = Host {
            machine: &self.machine,
            has_controller: Some(&has),
            what: self.host_description(),
        };
        plan::plan(r, self.is_v2(), &host, opts)
    }

    /// Validates `r`, checks every file it needs exists, then writes it.
    /// Nothing is written when validation or the check fails.
    pub fn apply(&self, r: &LinuxResources) -> Result<()> {
        let plan = self.plan(r, PlanOptions::default())?;
        self.preflight(&plan)?;
        self.execute(&plan)
    }

    /// `keel update`: like [`Manager::apply`] but device rules are left as
    /// they are, and with `memory.checkBeforeUpdate` a limit below the
    /// current usage is refused.
    pub fn update(&self, r: &LinuxResources) -> Result<()> {
        let plan = self.plan(r, PlanOptions { update: true })?;
        if let Some(m) = r.memory() {
            if m.check_before_update() == Some(true) {
                if let Some(limit) = m.limit().filter(|&l| l > 0) {
                    let usage = self.memory_usage()?;
                    if (limit as u64) < usage {
                        return Err(Error::invalid(
                            plan::MEM_LIMIT,
                            format!("{limit} is below the current usage of {usage} bytes (checkBeforeUpdate is set); raise the limit"),
                        ));
                    }
                }
            }
        }
        self.preflight(&plan)?;
        self.execute(&plan)
    }

    fn memory_usage(&self) -> Result<u64> {
        let Some(dir) = self.dir("memory") else {
            return Ok(0);
        };
        let file = if self.is_v2() {
            "memory.current"
        } else {
            "memory.usage_in_bytes"
        };
        let path = dir.join(file);
        let t = self.fs.read(&path).map_err(|e| Error::read(&path, e))?;
        Ok(stats::parse_num(&t))
    }

    fn write_dir(&self, w: &Write) -> Result<&Path> {
        let dir = if self.is_v2() {
            self.dirs.first().map(|d| d.dir.as_path())
        } else {
            self.dir(&w.controller)
        };
        dir.ok_or_else(|| {
            Error::unsupported(
                &w.field,
                format!(
                    "the {} cgroup controller is not available {}; remove the setting",
                    w.controller,
                    self.host_description()
                ),
            )
        })
    }

    /// Every non-optional write must have its file.
    fn preflight(&self, plan: &Plan) -> Result<()> {
        for w in plan.writes() {
            let dir = self.write_dir(w)?;
            if w.optional || w.targets.iter().any(|(f, _)| self.fs.exists(&dir.join(f))) {
                continue;
            }
            let file = w.file();
            let reason = if file == "memory.memsw.limit_in_bytes" || file == "memory.swap.max" {
                format!("this kernel has no swap accounting ({file} is missing); remove the swap limit, or boot with swapaccount=1")
            } else if w.controller.is_empty() {
                format!(
                    "{file} does not exist in {}; check the name, and that its controller is in cgroup.controllers",
                    dir.display()
                )
            } else {
                format!(
                    "{file} does not exist in {}: this kernel lacks it; remove the setting",
                    dir.display()
                )
            };
            return Err(Error::unsupported(&w.field, reason));
        }
        Ok(())
    }

    fn execute(&self, plan: &Plan) -> Result<()> {
        for step in &plan.steps {
            match step {
                Step::Write(w) => self.write(w)?,
                Step::MemoryAndSwap {
                    memory,
                    swap,
                    swap_value,
                } => match (memory, swap) {
                    (Some(m), Some(s)) => {
                        let dir = self.write_dir(m)?;
                        let path = dir.join("memory.limit_in_bytes");
                        let current = self
                            .fs
                            .read(&path)
                            .map(|t| stats::parse_num(&t))
                            .unwrap_or(u64::MAX);
                        // memsw must stay ≥ memory at every moment.
                        if *swap_value == -1 || (*swap_value as u64) > current {
                            self.write(s)?;
                            self.write(m)?;
                        } else {
                            self.write(m)?;
                            self.write(s)?;
                        }
                    }
                    (m, s) => {
                        for w in m.iter().chain(s.iter()) {
                            self.write(w)?;
                        }
                    }
                },
                Step::PeriodQuota { period, quota } => {
                    let mut retry = None;
                    if let Some(p) = period {
                        match self.write(p) {
                            Ok(()) => {}
                            Err(Error::Write { source, .. })
                                if source.raw_os_error() == Some(libc::EINVAL)
                                    && quota.is_some() =>
                            {
                                retry = Some(p);
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    if let Some(q) = quota {
                        self.write(q)?;
                    }
                    if let Some(p) = retry {
                        self.write(p)?;
                    }
                }
                Step::DeviceFilter(prog) => {
                    let dir = self.dirs.first().map(|d| d.dir.clone()).unwrap_or_default();
                    self.fs
                        .set_device_filter(&dir, prog)
                        .map_err(|f| Error::Bpf {
                            op: f.op,
                            path: dir.clone(),
                            source: f.source,
                            log: f.log,
                        })?;
                }
            }
        }
        Ok(())
    }

    fn write(&self, w: &Write) -> Result<()> {
        let dir = self.write_dir(w)?;
        let Some((file, value)) = w.targets.iter().find(|(f, _)| self.fs.exists(&dir.join(f)))
        else {
            tracing::debug!(field = %w.field, file = w.file(), dir = %dir.display(), "kernel lacks the file; skipped");
            return Ok(());
        };
        let path = dir.join(file);
        self.fs.write(&path, value).map_err(|source| {
            let hint = self.hint(dir, file, &source);
            Error::Write {
                field: w.field.clone(),
                path,
                value: value.clone(),
                source,
                hint,
            }
        })
    }

    fn write_raw(&self, path: &Path, value: &str, field: &str) -> Result<()> {
        self.fs.write(path, value).map_err(|source| Error::Write {
            field: field.to_string(),
            path: path.to_path_buf(),
            value: value.to_string(),
            source,
            hint: String::new(),
        })
    }

    /// What to do about a failed write, where we can tell.
    fn hint(&self, dir: &Path, file: &str, e: &io::Error) -> String {
        match (file, e.raw_os_error()) {
            ("memory.limit_in_bytes" | "memory.max", Some(libc::EBUSY)) => {
                let usage = self.memory_usage().unwrap_or(0);
                format!("; the cgroup already uses {usage} bytes: raise the limit")
            }
            ("memory.memsw.limit_in_bytes", Some(libc::EINVAL)) => {
                "; memory+swap must be at least the memory limit".to_string()
            }
            ("memory.use_hierarchy", Some(libc::EINVAL)) => {
                "; this kernel always uses the hierarchy (since Linux 5.16): remove useHierarchy"
                    .to_string()
            }
            ("cpuset.cpus" | "cpuset.mems", Some(libc::EINVAL)) => {
                let parent = dir.parent().map(|p| p.join(file)).unwrap_or_default();
                let have = self.fs.read(&parent).unwrap_or_default();
                format!("; the parent cgroup only has {:?}", have.trim())
            }
            ("devices.allow", Some(libc::EPERM)) => {
                "; the parent cgroup does not allow that device".to_string()
            }
            ("cpu.rt_runtime_us", Some(libc::EINVAL)) => {
                "; the parent cgroup's cpu.rt_runtime_us is too small for this".to_string()
            }
            ("cpu.cfs_quota_us" | "cpu.cfs_period_us" | "cpu.max", Some(libc::EINVAL)) => {
                "; the parent cgroup's quota may be smaller".to_string()
            }
            _ => String::new(),
        }
    }

    // ---- freezer --------------------------------------------------------

    fn freezer_dir(&self) -> Result<&Path> {
        self.dir(if self.is_v2() { "" } else { "freezer" })
            .ok_or_else(|| Error::NoController {
                what: "pause and resume",
                controller: "freezer",
                reason: "is not mounted on this host".to_string(),
            })
    }

    /// Freezes every process in the cgroup and waits until the kernel says
    /// they are all frozen. On timeout the cgroup is thawed again.
    pub fn freeze(&self) -> Result<()> {
        let dir = self.freezer_dir()?;
        if self.is_v2() {
            self.write_raw(&dir.join("cgroup.freeze"), "1", "")?;
            return self.wait_v2_frozen(dir, true);
        }
        let state = dir.join("freezer.state");
        let start = Instant::now();
        let mut pause = Duration::from_micros(100);
        let mut round = 0u32;
        loop {
            round += 1;
            // Now and then let tasks stuck in FREEZING run to a safe point.
            if round.is_multiple_of(50) {
                self.write_raw(&state, "THAWED", "")?;
                std::thread::sleep(Duration::from_millis(10));
            }
            self.write_raw(&state, "FROZEN", "")?;
            let now = self.fs.read(&state).map_err(|e| Error::read(&state, e))?;
            match now.trim() {
                "FROZEN" => return Ok(()),
                "FREEZING" => {}
                other => {
                    return Err(Error::Parse {
                        path: state,
                        reason: format!("unexpected freezer state {other:?} while freezing"),
                    })
                }
            }
            if start.elapsed() > FREEZE_TIMEOUT {
                let _ = self.fs.write(&state, "THAWED");
                return Err(Error::FreezeTimeout {
                    path: dir.to_path_buf(),
                    want: "FROZEN",
                    waited_ms: start.elapsed().as_millis() as u64,
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
        }
    }

    /// Thaws the cgroup and waits until it is.
    pub fn thaw(&self) -> Result<()> {
        let dir = self.freezer_dir()?;
        if self.is_v2() {
            self.write_raw(&dir.join("cgroup.freeze"), "0", "")?;
            return self.wait_v2_frozen(dir, false);
        }
        let state = dir.join("freezer.state");
        let start = Instant::now();
        loop {
            self.write_raw(&state, "THAWED", "")?;
            let now = self.fs.read(&state).map_err(|e| Error::read(&state, e))?;
            if now.trim() == "THAWED" {
                return Ok(());
            }
            if start.elapsed() > FREEZE_TIMEOUT {
                return Err(Error::FreezeTimeout {
                    path: dir.to_path_buf(),
                    want: "THAWED",
                    waited_ms: start.elapsed().as_millis() as u64,
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn wait_v2_frozen(&self, dir: &Path, want: bool) -> Result<()> {
        let events = dir.join("cgroup.events");
        let start = Instant::now();
        let mut pause = Duration::from_micros(100);
        loop {
            let t = self.fs.read(&events).map_err(|e| Error::read(&events, e))?;
            if parse_kv(&t).get("frozen").copied().unwrap_or(0) == u64::from(want) {
                return Ok(());
            }
            if start.elapsed() > FREEZE_TIMEOUT {
                if want {
                    let _ = self.fs.write(&dir.join("cgroup.freeze"), "0");
                }
                return Err(Error::FreezeTimeout {
                    path: dir.to_path_buf(),
                    want: if want { "frozen" } else { "thawed" },
                    waited_ms: start.elapsed().as_millis() as u64,
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
        }
    }

    /// Whether the cgroup is frozen (paused). A cgroup that does not exist
    /// is not frozen.
    pub fn is_frozen(&self) -> Result<bool> {
        let dir = self.freezer_dir()?;
        let (file, frozen) = if self.is_v2() {
            ("cgroup.freeze", "1")
        } else {
            ("freezer.state", "FROZEN")
        };
        let path = dir.join(file);
        match self.fs.read(&path) {
            Ok(t) => Ok(t.trim() == frozen),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::read(path, e)),
        }
    }

    // ---- processes ------------------------------------------------------

    /// The hierarchy whose `cgroup.procs` lists the container's processes.
    fn procs_dir(&self) -> Option<&Path> {
        if self.is_v2() {
            return self.dirs.first().map(|d| d.dir.as_path());
        }
        [
            "pids",
            "freezer",
            "devices",
            "memory",
            "cpu",
            "cpuacct",
            "blkio",
            "cpuset",
            "name=systemd",
        ]
        .iter()
        .find_map(|c| self.dir(c))
    }

    /// Every process in the cgroup and its sub-cgroups, sorted. A cgroup
    /// that does not exist has none.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let Some(dir) = self.procs_dir() else {
            return Ok(Vec::new());
        };
        let mut out = BTreeSet::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let path = d.join("cgroup.procs");
            match self.fs.read(&path) {
                Ok(t) => out.extend(t.split_whitespace().filter_map(|p| p.parse::<i32>().ok())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::read(path, e)),
            }
            match self.fs.subdirs(&d) {
                Ok(subs) => stack.extend(subs),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::read(d, e)),
            }
        }
        Ok(out.into_iter().collect())
    }

    // ---- stats and OOM --------------------------------------------------

    /// Usage statistics in runc's `events --stats` shape.
    pub fn stats(&self) -> Result<Stats> {
        let main = self.procs_dir().ok_or(Error::NoCgroupFs)?;
        if !self.fs.exists(main) {
            return Err(Error::read(
                main,
                io::Error::from_raw_os_error(libc::ENOENT),
            ));
        }
        if self.is_v2() {
            stats::v2(&self.fs, main, &self.machine.hugepage_sizes)
        } else {
            stats::v1(&self.fs, self, &self.machine.hugepage_sizes)
        }
    }

    fn memory_dir(&self) -> Result<&Path> {
        self.dir("memory").ok_or_else(|| Error::NoController {
            what: "OOM reporting",
            controller: "memory",
            reason: "is not mounted on this host".to_string(),
        })
    }

    /// How many processes the kernel's OOM killer has killed in this cgroup
    /// (`oom_kill` in v1 `memory.oom_control` or v2 `memory.events`).
    pub fn oom_kill_count(&self) -> Result<u64> {
        let dir = self.memory_dir()?;
        let path = dir.join(if self.is_v2() {
            "memory.events"
        } else {
            "memory.oom_control"
        });
        let t = self.fs.read(&path).map_err(|e| Error::read(&path, e))?;
        Ok(parse_kv(&t).get("oom_kill").copied().unwrap_or(0))
    }

    /// A pollable OOM watcher (real cgroupfs only).
    pub fn oom_watcher(&self) -> Result<OomWatcher> {
        let dir = self.memory_dir()?;
        if self.is_v2() {
            OomWatcher::v2(dir)
        } else {
            OomWatcher::v1(dir)
        }
    }

    // ---- destroy --------------------------------------------------------

    /// Removes the cgroup and any sub-cgroups in every hierarchy, bottom-up,
    /// retrying briefly on EBUSY (exiting processes leave a cgroup a little
    /// after they die). Kills nothing: kill the container first. A cgroup
    /// that is already gone is fine. Every hierarchy is tried; the first
    /// error is returned.
    pub fn destroy(&self) -> Result<()> {
        let mut first = None;
        for dir in self.unique_dirs() {
            if let Err(e) = self.remove_tree(dir) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    fn remove_tree(&self, dir: &Path) -> Result<()> {
        let subs = match self.fs.subdirs(dir) {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(Error::Remove {
                    path: dir.to_path_buf(),
                    source,
                })
            }
        };
        for s in subs {
            self.remove_tree(&s)?;
        }
        let mut delay = Duration::from_millis(10);
        for attempt in 1..=RMDIR_TRIES {
            match self.fs.rmdir(dir) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < RMDIR_TRIES => {
                    std::thread::sleep(delay);
                    delay *= 2;
                }
                Err(source) => {
                    return Err(Error::Remove {
                        path: dir.to_path_buf(),
                        source,
                    })
                }
            }
        }
        Ok(())
    }
}

impl<F: CgroupFs> V1Dirs for Manager<F> {
    fn dir(&self, controller: &str) -> Option<&Path> {
        Manager::dir(self, controller)
    }
}
