//! Root integration tests for `keel_runtime::cgroups` on the real kernel.
//!
//! v1 tests create cgroups on this host's hierarchies (hybrid here) below
//! the test's own cgroup, put sleeping children in them, apply limits and
//! read them back, freeze and thaw, list pids, read stats, OOM-kill a child
//! and remove everything. The v2 test mounts cgroup2 in a private mount
//! namespace (the test thread's own) and drives it there, including the
//! eBPF device filter. Each test skips with a printed reason when it cannot
//! run (not root, wrong cgroup layout, kernel refusal), and every cgroup it
//! creates is removed by a guard, also on failure.

use std::io::{BufRead, BufReader, Write as _};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use keel_runtime::cgroups::{self, CgroupsPath, Layout, Manager, Mode};
use oci_spec::runtime::LinuxResources;
use serde_json::json;

static SEQ: AtomicUsize = AtomicUsize::new(0);

fn skip(why: &str) {
    eprintln!("SKIP: {why}");
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn res(v: serde_json::Value) -> LinuxResources {
    serde_json::from_value(v).unwrap()
}

fn unique(tag: &str) -> String {
    format!(
        "keel-cgtest-{tag}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

fn read(p: impl AsRef<Path>) -> String {
    std::fs::read_to_string(p.as_ref())
        .unwrap_or_else(|e| panic!("read {}: {e}", p.as_ref().display()))
        .trim()
        .to_string()
}

/// Kills the children and removes the cgroup, whatever happened.
struct Guard {
    mgr: Manager,
    children: Vec<Child>,
}

impl Guard {
    fn new(mgr: Manager) -> Guard {
        Guard {
            mgr,
            children: Vec::new(),
        }
    }

    fn kill_all(&mut self) {
        let _ = self.mgr.thaw();
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.children.clear();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.kill_all();
        if let Err(e) = self.mgr.destroy() {
            eprintln!("cleanup: {e}");
        }
    }
}

/// Reports whether /dev/zero can be read and /dev/null written.
const ZERO_AND_NULL: &str =
    "if head -c1 /dev/zero >/dev/null 2>&1; then echo zero-ok; else echo zero-denied; fi; \
                             if echo x >/dev/null; then echo null-ok; fi";

/// A shell that waits for a line on stdin, then runs `script`.
fn gated_shell(script: &str) -> (Child, ChildStdin, BufReader<ChildStdout>) {
    let mut c = Command::new("sh")
        .arg("-c")
        .arg(format!("read x; {script}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdin = c.stdin.take().unwrap();
    let stdout = BufReader::new(c.stdout.take().unwrap());
    (c, stdin, stdout)
}

fn sleeper() -> Child {
    Command::new("sleep").arg("1000").spawn().unwrap()
}

fn v1_manager(tag: &str) -> Option<Manager> {
    if !is_root() {
        skip("cgroup tests need root");
        return None;
    }
    let layout = match Layout::detect() {
        Ok(l) => l,
        Err(e) => {
            skip(&format!("no cgroup layout: {e}"));
            return None;
        }
    };
    if layout.mode == Mode::Unified {
        skip("this host is cgroup v2 only; the v1 tests need v1 or hybrid");
        return None;
    }
    let path = CgroupsPath::from_spec(Some(Path::new(&unique(tag))), "x").unwrap();
    Some(Manager::new(layout, &path).unwrap())
}

#[test]
fn v1_limits_freeze_pids_stats_and_destroy() {
    let Some(mgr) = v1_manager("v1") else { return };
    let mut g = Guard::new(mgr);
    g.mgr.create().unwrap();
    let child = sleeper();
    let pid = child.id() as i32;
    g.children.push(child);
    g.mgr.add_pid(pid).unwrap();

    // Same membership as runc gives its containers: every hierarchy.
    let proc_cgroup = read(format!("/proc/{pid}/cgroup"));
    let name = g
        .mgr
        .dir("pids")
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    for line in proc_cgroup.lines() {
        assert!(
            line.ends_with(&format!("/{name}")),
            "{line} is not in {name}"
        );
    }

    let mut devices = vec![json!({"allow": false, "access": "rwm"})];
    devices.extend(
        cgroups::runc_default_rules()
            .iter()
            .map(|r| serde_json::to_value(r).unwrap()),
    );
    let r = res(json!({
        "devices": devices,
        "memory": {"limit": 67108864, "swap": 134217728, "reservation": 33554432, "swappiness": 10},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 32},
        "blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 254, "minor": 0, "rate": 1048576}]}
    }));
    g.mgr.apply(&r).unwrap();
    let mem = g.mgr.dir("memory").unwrap().to_path_buf();
    assert_eq!(read(mem.join("memory.limit_in_bytes")), "67108864");
    if mem.join("memory.memsw.limit_in_bytes").exists() {
        assert_eq!(read(mem.join("memory.memsw.limit_in_bytes")), "134217728");
    }
    assert_eq!(read(mem.join("memory.soft_limit_in_bytes")), "33554432");
    assert_eq!(read(mem.join("memory.swappiness")), "10");
    let cpu = g.mgr.dir("cpu").unwrap().to_path_buf();
    assert_eq!(read(cpu.join("cpu.shares")), "512");
    assert_eq!(read(cpu.join("cpu.cfs_quota_us")), "50000");
    assert_eq!(read(cpu.join("cpu.cfs_period_us")), "100000");
    assert_eq!(read(g.mgr.dir("cpuset").unwrap().join("cpuset.cpus")), "0");
    assert_eq!(read(g.mgr.dir("pids").unwrap().join("pids.max")), "32");
    let list = read(g.mgr.dir("devices").unwrap().join("devices.list"));
    assert!(
        list.contains("c 1:3 rwm") && list.contains("c 136:* rwm"),
        "{list}"
    );
    assert!(!list.contains("a *:* rwm"), "{list}");
    let blkio = g
        .mgr
        .dir("blkio")
        .unwrap()
        .join("blkio.throttle.read_bps_device");
    assert!(read(&blkio).contains("254:0 1048576"), "{}", read(&blkio));

    // A bad update changes nothing.
    let bad = res(json!({"pids": {"limit": 7}, "memory": {"limit": -3}}));
    let e = g.mgr.update(&bad).unwrap_err().to_string();
    assert!(e.starts_with("linux.resources.memory.limit"), "{e}");
    assert_eq!(read(g.mgr.dir("pids").unwrap().join("pids.max")), "32");
    // A good one applies.
    g.mgr
        .update(&res(json!({"pids": {"limit": -1}, "cpu": {"shares": 256}})))
        .unwrap();
    assert_eq!(read(g.mgr.dir("pids").unwrap().join("pids.max")), "max");
    assert_eq!(read(cpu.join("cpu.shares")), "256");

    assert_eq!(g.mgr.pids().unwrap(), vec![pid]);
    g.mgr.freeze().unwrap();
    assert!(g.mgr.is_frozen().unwrap());
    assert_eq!(
        read(g.mgr.dir("freezer").unwrap().join("freezer.state")),
        "FROZEN"
    );
    g.mgr.thaw().unwrap();
    assert!(!g.mgr.is_frozen().unwrap());

    let s = g.mgr.stats().unwrap();
    assert_eq!(s.pids.current, 1);
    assert_eq!(s.memory.usage.limit, 67108864);
    assert_eq!(s.cpuset.cpus, vec![0]);
    let json = serde_json::to_value(&s).unwrap();
    for key in [
        "cpu",
        "cpuset",
        "memory",
        "pids",
        "blkio",
        "hugetlb",
        "intel_rdt",
        "network_interfaces",
    ] {
        assert!(json.get(key).is_some(), "stats lack {key}");
    }
    assert_eq!(g.mgr.oom_kill_count().unwrap(), 0);

    // Busy while the child lives; removed once it is dead.
    let e = g.mgr.destroy().unwrap_err().to_string();
    assert!(e.starts_with("cannot remove cgroup"), "{e}");
    g.kill_all();
    g.mgr.create().unwrap();
    g.mgr.destroy().unwrap();
    assert!(!g.mgr.exists());
}

#[test]
fn v1_device_rules_are_enforced_in_order() {
    let Some(mgr) = v1_manager("dev") else { return };
    let mut g = Guard::new(mgr);
    g.mgr.create().unwrap();
    let (child, mut stdin, mut out) = gated_shell(ZERO_AND_NULL);
    let pid = child.id() as i32;
    g.children.push(child);
    g.mgr.add_pid(pid).unwrap();
    // deny all, allow null and zero, then deny zero again: the last wins.
    g.mgr
        .apply(&res(json!({"devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"},
            {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rw"},
            {"allow": false, "type": "c", "major": 1, "minor": 5, "access": "rw"}
        ]})))
        .unwrap();
    writeln!(stdin).unwrap();
    let mut lines = Vec::new();
    for _ in 0..2 {
        let mut l = String::new();
        out.read_line(&mut l).unwrap();
        lines.push(l.trim().to_string());
    }
    assert_eq!(lines, ["zero-denied", "null-ok"]);
}

#[test]
fn v1_oom_kill_is_counted_and_signalled() {
    let Some(mgr) = v1_manager("oom") else { return };
    let mut g = Guard::new(mgr);
    g.mgr.create().unwrap();
    let (child, mut stdin, _out) = gated_shell("exec dd if=/dev/zero of=/dev/null bs=64M count=1");
    let pid = child.id() as i32;
    g.children.push(child);
    g.mgr.add_pid(pid).unwrap();
    g.mgr
        .apply(&res(
            json!({"memory": {"limit": 16777216, "swap": 16777216}}),
        ))
        .unwrap();
    let watcher = g.mgr.oom_watcher().unwrap();
    assert_eq!(watcher.check().unwrap().ooms, 0);
    writeln!(stdin).unwrap();
    let status = g.children[0].wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "dd was not OOM-killed: {status:?}"
    );
    let mut fds = [nix::poll::PollFd::new(
        watcher.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    let n = nix::poll::poll(&mut fds, 5000u16).unwrap();
    assert_eq!(n, 1, "the OOM eventfd did not become readable");
    let c = watcher.check().unwrap();
    assert!(c.ooms >= 1 && !c.gone, "{c:?}");
    assert!(g.mgr.oom_kill_count().unwrap() >= 1);
    g.children.clear();
    g.mgr.destroy().unwrap();
    // Removing the cgroup wakes the watcher once more, and says so.
    let n = nix::poll::poll(&mut fds, 2000u16).unwrap();
    assert_eq!(n, 1);
    let c = watcher.check().unwrap();
    assert!(c.gone && c.ooms == 0, "{c:?}");
}

/// A cgroup2 mount visible only to this test thread.
struct PrivateCgroup2 {
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl PrivateCgroup2 {
    fn mount() -> Result<PrivateCgroup2, String> {
        use nix::mount::{mount, MsFlags};
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
            .map_err(|e| format!("unshare(CLONE_NEWNS): {e}"))?;
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(|e| format!("make / private: {e}"))?;
        let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
        let dir = tmp.path().join("cg2");
        std::fs::create_dir(&dir).map_err(|e| e.to_string())?;
        mount(
            Some("none"),
            &dir,
            Some("cgroup2"),
            MsFlags::empty(),
            None::<&str>,
        )
        .map_err(|e| format!("mount -t cgroup2: {e}"))?;
        Ok(PrivateCgroup2 { dir, _tmp: tmp })
    }
}

impl Drop for PrivateCgroup2 {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.dir, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn v2_on_a_private_cgroup2_mount() {
    if !is_root() {
        return skip("cgroup tests need root");
    }
    // Run in a thread of our own: it gets the private mount namespace.
    std::thread::spawn(v2_body).join().unwrap();
}

fn v2_body() {
    let cg2 = match PrivateCgroup2::mount() {
        Ok(m) => m,
        Err(e) => return skip(&format!("no private cgroup2 mount: {e}")),
    };
    let own = read("/proc/self/cgroup")
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_string))
        .unwrap_or_else(|| "/".into());
    let layout = Layout::unified_at(&cg2.dir, &own);
    let name = unique("v2");
    let path = CgroupsPath::from_spec(Some(Path::new(&format!("/{name}"))), "x").unwrap();
    // Creating enables the root's controllers for children; restore them.
    let root_ctl = cg2.dir.join("cgroup.subtree_control");
    let before = read(&root_ctl);
    struct Restore(PathBuf, String);
    impl Drop for Restore {
        fn drop(&mut self) {
            let now = std::fs::read_to_string(&self.0).unwrap_or_default();
            for c in now.split_whitespace() {
                if !self.1.split_whitespace().any(|b| b == c) {
                    let _ = std::fs::write(&self.0, format!("-{c}"));
                }
            }
        }
    }
    let _restore = Restore(root_ctl, before);
    let mut g = Guard::new(Manager::new(layout, &path).unwrap());
    g.mgr.create().unwrap();
    let dir = g.mgr.dir("").unwrap().to_path_buf();
    assert_eq!(dir, cg2.dir.join(&name));

    let child = sleeper();
    let pid = child.id() as i32;
    g.children.push(child);
    g.mgr.add_pid(pid).unwrap();
    assert_eq!(g.mgr.pids().unwrap(), vec![pid]);

    g.mgr.freeze().unwrap();
    assert!(g.mgr.is_frozen().unwrap());
    assert!(read(dir.join("cgroup.events")).contains("frozen 1"));
    g.mgr.thaw().unwrap();
    assert!(read(dir.join("cgroup.events")).contains("frozen 0"));

    // This hybrid host's cgroup2 has no memory controller: a clear refusal.
    let ctrls = read(dir.join("cgroup.controllers"));
    if !ctrls.split_whitespace().any(|c| c == "memory") {
        let e = g
            .mgr
            .apply(&res(json!({"memory": {"limit": 1048576}})))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("the memory cgroup controller is not available in this cgroup"),
            "{e}"
        );
    }
    if ctrls.split_whitespace().any(|c| c == "hugetlb")
        && g.mgr.machine().hugepage_sizes.iter().any(|s| s == "2MB")
    {
        g.mgr
            .apply(&res(
                json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}),
            ))
            .unwrap();
        assert_eq!(read(dir.join("hugetlb.2MB.max")), "4194304");
        assert!(g.mgr.stats().unwrap().hugetlb.contains_key("2MB"));
    } else {
        skip("hugetlb is not available on this cgroup2 mount");
    }
    let s = g.mgr.stats().unwrap();
    if ctrls.split_whitespace().any(|c| c == "pids") {
        assert_eq!(s.pids.current, 1);
    }

    // Devices through eBPF: deny all, allow null, and allow then deny zero.
    let rules = res(json!({"devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"},
        {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rw"},
        {"allow": false, "type": "c", "major": 1, "minor": 5, "access": "rw"}
    ]}));
    let (child, mut stdin, mut out) = gated_shell(ZERO_AND_NULL);
    let pid = child.id() as i32;
    g.children.push(child);
    g.mgr.add_pid(pid).unwrap();
    match g.mgr.apply(&rules) {
        Ok(()) => {
            writeln!(stdin).unwrap();
            let mut lines = Vec::new();
            for _ in 0..2 {
                let mut l = String::new();
                out.read_line(&mut l).unwrap();
                lines.push(l.trim().to_string());
            }
            assert_eq!(lines, ["zero-denied", "null-ok"]);
            // A new rule list replaces the filter instead of stacking on it
            // (stacked filters must all allow, so zero would stay denied).
            g.mgr
                .apply(&res(json!({"devices": [{"allow": true, "access": "rwm"}]})))
                .unwrap();
            let (child, mut stdin, mut out) = gated_shell(ZERO_AND_NULL);
            let pid = child.id() as i32;
            g.children.push(child);
            g.mgr.add_pid(pid).unwrap();
            writeln!(stdin).unwrap();
            let mut l = String::new();
            out.read_line(&mut l).unwrap();
            assert_eq!(l.trim(), "zero-ok");
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with("linux.resources.devices: cannot"), "{msg}");
            skip(&format!("the kernel refused the device filter: {msg}"));
        }
    }
    g.kill_all();
    g.mgr.destroy().unwrap();
    assert!(!dir.exists());
}

#[test]
fn systemd_cgroup_is_refused_clearly_here() {
    let p = cgroups::SystemdPath::parse(Some("system.slice:docker:abc"), "abc").unwrap();
    let e = p.manager_error("system.slice:docker:abc").to_string();
    assert!(e.contains("--systemd-cgroup"), "{e}");
    assert!(!e.contains('\n'));
}
