//! Finding the container's memory cgroup and noticing OOM kills in it.
//!
//! The cgroup comes from `/proc/PID/cgroup` of the container's init (the v1
//! `memory` line, else the v2 `0::` line) joined to the matching mount in
//! `/proc/self/mountinfo`. On v1 an eventfd is registered on
//! `memory.oom_control` through `cgroup.event_control`; on v2 the
//! `memory.events` file itself is polled (POLLPRI, kernfs notifies on every
//! change). Either way the final answer comes from the `oom_kill` counter
//! (`memory.oom_control` on v1, `memory.events` on v2), read after init has
//! exited and before the runtime deletes the cgroup.
//!
//! The parsing is pure and unit-tested; this module never writes anything
//! but the v1 event registration.

use std::fs::File;
use std::io::{Read, Seek};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::poll::PollFlags;
use nix::sys::eventfd::{EfdFlags, EventFd};

/// The memory cgroup could not be found or watched.
#[derive(Debug, thiserror::Error)]
pub enum OomError {
    #[error("cannot read {path}: {source}; is the container's init (pid {pid}) still alive?")]
    ReadProc {
        pid: i32,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no memory cgroup for pid {pid} (no v1 memory line with a mounted hierarchy, no v2 cgroup with memory.events); OOM kills will not be reported")]
    NotFound { pid: i32 },
    #[error("cannot watch {path} for OOM events: {source}")]
    Watch {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A memory cgroup directory, by hierarchy version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemoryCgroup {
    V1(PathBuf),
    V2(PathBuf),
}

/// The cgroup paths of one process, from `/proc/PID/cgroup`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcCgroups {
    /// The v1 `memory` controller's path.
    pub v1_memory: Option<String>,
    /// The unified (`0::`) path.
    pub unified: Option<String>,
}

/// Parses `/proc/PID/cgroup` (`ID:CONTROLLERS:PATH` lines).
pub fn parse_proc_cgroup(text: &str) -> ProcCgroups {
    let mut out = ProcCgroups::default();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if id == "0" && ctrls.is_empty() {
            out.unified = Some(path.to_string());
        } else if ctrls.split(',').any(|c| c == "memory") {
            out.v1_memory = Some(path.to_string());
        }
    }
    out
}

/// A cgroup filesystem mount, from `/proc/self/mountinfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupMount {
    /// The cgroup path mounted there (field 4, usually `/`).
    pub root: String,
    pub mount_point: PathBuf,
    /// `true` for cgroup2; else a v1 hierarchy with `controllers`.
    pub unified: bool,
    pub controllers: Vec<String>,
}

/// The cgroup and cgroup2 mounts of a `mountinfo` text.
pub fn parse_mountinfo(text: &str) -> Vec<CgroupMount> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let fields: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        if fields.len() < 5 || right.len() < 3 {
            continue;
        }
        let (root, mount_point) = (unescape(fields[3]), unescape(fields[4]));
        match right[0] {
            "cgroup2" => out.push(CgroupMount {
                root,
                mount_point: mount_point.into(),
                unified: true,
                controllers: Vec::new(),
            }),
            "cgroup" => out.push(CgroupMount {
                root,
                mount_point: mount_point.into(),
                unified: false,
                controllers: right[2].split(',').map(str::to_string).collect(),
            }),
            _ => {}
        }
    }
    out
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let n = b[i + 1..i + 4]
                .iter()
                .fold(0u32, |n, c| n * 8 + u32::from(c - b'0'));
            out.push(n as u8);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `path` (a cgroup path) under a mount of `root` at `mount_point`.
fn under_mount(m: &CgroupMount, path: &str) -> Option<PathBuf> {
    let rel = if m.root == "/" {
        path
    } else {
        let r = path.strip_prefix(m.root.as_str())?;
        if !(r.is_empty() || r.starts_with('/')) {
            return None;
        }
        r
    };
    Some(m.mount_point.join(rel.trim_start_matches('/')))
}

/// The memory cgroup directory: the v1 memory hierarchy when the process
/// has a memory line and the hierarchy is mounted, else the v2 cgroup when
/// it has `memory.events`. `exists` is asked about candidate files.
pub fn find_memory_cgroup(
    procs: &ProcCgroups,
    mounts: &[CgroupMount],
    exists: impl Fn(&Path) -> bool,
) -> Option<MemoryCgroup> {
    if let Some(p) = &procs.v1_memory {
        for m in mounts
            .iter()
            .filter(|m| !m.unified && m.controllers.iter().any(|c| c == "memory"))
        {
            if let Some(dir) = under_mount(m, p) {
                if exists(&dir.join("memory.oom_control")) {
                    return Some(MemoryCgroup::V1(dir));
                }
            }
        }
    }
    if let Some(p) = &procs.unified {
        for m in mounts.iter().filter(|m| m.unified) {
            if let Some(dir) = under_mount(m, p) {
                if exists(&dir.join("memory.events")) {
                    return Some(MemoryCgroup::V2(dir));
                }
            }
        }
    }
    None
}

/// The `oom_kill` counter of a v1 `memory.oom_control` or a v2
/// `memory.events` text (both are `key value` lines). `None` if absent
/// (v1 kernels before 4.13).
pub fn parse_oom_kill(text: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == "oom_kill").then(|| v.trim().parse().ok()).flatten()
    })
}

/// Looks up the memory cgroup of `pid` on this host.
pub fn memory_cgroup_of(pid: i32) -> Result<MemoryCgroup, OomError> {
    let read = |path: PathBuf| {
        std::fs::read_to_string(&path).map_err(|source| OomError::ReadProc { pid, path, source })
    };
    let procs = parse_proc_cgroup(&read(format!("/proc/{pid}/cgroup").into())?);
    let mounts = parse_mountinfo(&read("/proc/self/mountinfo".into())?);
    find_memory_cgroup(&procs, &mounts, |p| p.exists()).ok_or(OomError::NotFound { pid })
}

/// A pollable source of OOM events for one memory cgroup.
pub struct OomWatch {
    cgroup: MemoryCgroup,
    kind: WatchKind,
    /// OOM events seen through the fd (v1 notifications; v2 counter rises).
    seen: u64,
    /// The counter when the watch started (v2; v1 when available).
    base: Option<u64>,
}

enum WatchKind {
    V1 { efd: EventFd },
    V2 { events: File },
}

impl AsFd for OomWatch {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.kind {
            WatchKind::V1 { efd } => efd.as_fd(),
            WatchKind::V2 { events } => events.as_fd(),
        }
    }
}

impl OomWatch {
    /// Starts watching `cgroup`.
    pub fn new(cgroup: MemoryCgroup) -> Result<OomWatch, OomError> {
        match &cgroup {
            MemoryCgroup::V1(dir) => {
                let control = dir.join("memory.oom_control");
                let err = |source| OomError::Watch {
                    path: control.clone(),
                    source,
                };
                let efd = EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
                    .map_err(|e| err(e.into()))?;
                let ctl = File::open(&control).map_err(err)?;
                let line = format!("{} {}", efd.as_fd().as_raw_fd(), ctl.as_raw_fd());
                std::fs::write(dir.join("cgroup.event_control"), line).map_err(err)?;
                let base = std::fs::read_to_string(&control)
                    .ok()
                    .and_then(|t| parse_oom_kill(&t));
                Ok(OomWatch {
                    kind: WatchKind::V1 { efd },
                    cgroup,
                    seen: 0,
                    base,
                })
            }
            MemoryCgroup::V2(dir) => {
                let path = dir.join("memory.events");
                let mut events = File::open(&path).map_err(|source| OomError::Watch {
                    path: path.clone(),
                    source,
                })?;
                let base = read_counter(&mut events);
                Ok(OomWatch {
                    kind: WatchKind::V2 { events },
                    cgroup,
                    seen: 0,
                    base,
                })
            }
        }
    }

    pub fn cgroup(&self) -> &MemoryCgroup {
        &self.cgroup
    }

    /// The events to poll the fd for.
    pub fn poll_flags(&self) -> PollFlags {
        match self.kind {
            WatchKind::V1 { .. } => PollFlags::POLLIN,
            WatchKind::V2 { .. } => PollFlags::POLLPRI,
        }
    }

    /// Call when the fd is ready: whether a new OOM event arrived.
    pub fn on_ready(&mut self) -> bool {
        match &mut self.kind {
            WatchKind::V1 { efd } => match efd.read() {
                Ok(n) if n > 0 => {
                    self.seen += n;
                    true
                }
                _ => false,
            },
            WatchKind::V2 { events } => {
                let now = read_counter(events).unwrap_or(0);
                let before = self.base.unwrap_or(0) + self.seen;
                if now > before {
                    self.seen = now - self.base.unwrap_or(0);
                    true
                } else {
                    false
                }
            }
        }
    }

    /// The final answer, read while the cgroup still exists: whether any
    /// process of the cgroup was OOM-killed since the watch started. Falls
    /// back to the events seen when the counter is missing.
    pub fn oom_killed(&mut self) -> bool {
        let _ = self.on_ready();
        let now = match &mut self.kind {
            WatchKind::V1 { .. } => {
                let MemoryCgroup::V1(dir) = &self.cgroup else {
                    return self.seen > 0;
                };
                std::fs::read_to_string(dir.join("memory.oom_control"))
                    .ok()
                    .and_then(|t| parse_oom_kill(&t))
            }
            WatchKind::V2 { events } => read_counter(events),
        };
        match (now, self.base) {
            (Some(now), Some(base)) => now > base,
            (Some(now), None) => now > 0,
            _ => self.seen > 0,
        }
    }
}

fn read_counter(f: &mut File) -> Option<u64> {
    f.rewind().ok()?;
    let mut s = String::new();
    f.read_to_string(&mut s).ok()?;
    parse_oom_kill(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_PROC: &str = "12:pids:/keel/c1\n11:memory:/keel/c1\n10:cpu,cpuacct:/keel/c1\n1:name=systemd:/init.scope\n0::/keel/c1\n";
    const V2_PROC: &str = "0::/system.slice/keel-c1.scope\n";
    const HYBRID_MOUNTS: &str = "\
25 30 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
31 25 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
32 25 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,cpu,cpuacct
";
    const V2_MOUNTS: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    #[test]
    fn proc_cgroup_lines() {
        let p = parse_proc_cgroup(HYBRID_PROC);
        assert_eq!(p.v1_memory.as_deref(), Some("/keel/c1"));
        assert_eq!(p.unified.as_deref(), Some("/keel/c1"));
        let p = parse_proc_cgroup(V2_PROC);
        assert_eq!(p.v1_memory, None);
        assert_eq!(p.unified.as_deref(), Some("/system.slice/keel-c1.scope"));
        // A path may contain ':'.
        let p = parse_proc_cgroup("0::/a:b\n");
        assert_eq!(p.unified.as_deref(), Some("/a:b"));
        assert_eq!(parse_proc_cgroup("garbage\n"), ProcCgroups::default());
    }

    #[test]
    fn mountinfo_cgroup_mounts() {
        let m = parse_mountinfo(HYBRID_MOUNTS);
        assert_eq!(m.len(), 3);
        assert!(m[0].unified);
        assert_eq!(m[1].mount_point, Path::new("/sys/fs/cgroup/memory"));
        assert_eq!(m[1].controllers, ["rw", "memory"]);
        assert_eq!(m[2].controllers, ["rw", "cpu", "cpuacct"]);
        let m = parse_mountinfo("40 25 0:30 /a\\040b /mnt/c\\040g rw - cgroup2 cgroup2 rw\n");
        assert_eq!(m[0].root, "/a b");
        assert_eq!(m[0].mount_point, Path::new("/mnt/c g"));
    }

    #[test]
    fn hybrid_prefers_the_v1_memory_hierarchy() {
        let procs = parse_proc_cgroup(HYBRID_PROC);
        let mounts = parse_mountinfo(HYBRID_MOUNTS);
        let got = find_memory_cgroup(&procs, &mounts, |_| true);
        assert_eq!(
            got,
            Some(MemoryCgroup::V1("/sys/fs/cgroup/memory/keel/c1".into()))
        );
        // Without the v1 file, the unified cgroup is used only if it has
        // memory.events (here: hybrid's unified lacks the controller).
        let got = find_memory_cgroup(&procs, &mounts, |p| {
            p.ends_with("memory.events") && p.starts_with("/sys/fs/cgroup/unified")
        });
        assert_eq!(
            got,
            Some(MemoryCgroup::V2("/sys/fs/cgroup/unified/keel/c1".into()))
        );
        assert_eq!(find_memory_cgroup(&procs, &mounts, |_| false), None);
    }

    #[test]
    fn pure_v2_host() {
        let procs = parse_proc_cgroup(V2_PROC);
        let mounts = parse_mountinfo(V2_MOUNTS);
        assert_eq!(
            find_memory_cgroup(&procs, &mounts, |p| p.ends_with("memory.events")),
            Some(MemoryCgroup::V2(
                "/sys/fs/cgroup/system.slice/keel-c1.scope".into()
            ))
        );
    }

    #[test]
    fn v2_against_a_fake_directory() {
        let dir = tempfile::tempdir().unwrap();
        let cg = dir.path().join("system.slice/keel-c1.scope");
        std::fs::create_dir_all(&cg).unwrap();
        let events = cg.join("memory.events");
        std::fs::write(
            &events,
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\noom_group_kill 0\n",
        )
        .unwrap();
        let mounts = parse_mountinfo(&format!(
            "30 22 0:26 / {} rw - cgroup2 cgroup2 rw\n",
            dir.path().display()
        ));
        let procs = parse_proc_cgroup(V2_PROC);
        let found = find_memory_cgroup(&procs, &mounts, |p| p.exists()).unwrap();
        assert_eq!(found, MemoryCgroup::V2(cg.clone()));

        let mut w = OomWatch::new(found).unwrap();
        assert_eq!(w.poll_flags(), PollFlags::POLLPRI);
        assert!(!w.on_ready());
        assert!(!w.oom_killed());
        std::fs::write(&events, "low 0\nhigh 0\nmax 9\noom 2\noom_kill 1\n").unwrap();
        assert!(w.on_ready());
        assert!(!w.on_ready(), "the same count is not a new event");
        assert!(w.oom_killed());
    }

    #[test]
    fn v2_counts_only_kills_after_the_watch_started() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("memory.events"), "oom 4\noom_kill 2\n").unwrap();
        let mut w = OomWatch::new(MemoryCgroup::V2(dir.path().into())).unwrap();
        assert!(!w.oom_killed());
        std::fs::write(dir.path().join("memory.events"), "oom 5\noom_kill 3\n").unwrap();
        assert!(w.oom_killed());
    }

    #[test]
    fn cgroup_namespace_roots() {
        let mounts = parse_mountinfo(
            "31 25 0:28 /keel /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
        );
        let procs = parse_proc_cgroup("5:memory:/keel/c1\n");
        assert_eq!(
            find_memory_cgroup(&procs, &mounts, |_| true),
            Some(MemoryCgroup::V1("/sys/fs/cgroup/memory/c1".into()))
        );
        // A path outside the mount's root is not under that mount.
        let procs = parse_proc_cgroup("5:memory:/keelish/c1\n");
        assert_eq!(find_memory_cgroup(&procs, &mounts, |_| true), None);
    }

    #[test]
    fn oom_kill_counters() {
        assert_eq!(
            parse_oom_kill("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"),
            Some(3)
        );
        assert_eq!(parse_oom_kill("oom_kill_disable 0\nunder_oom 0\n"), None);
        assert_eq!(
            parse_oom_kill("low 0\noom 1\noom_kill 0\noom_group_kill 0"),
            Some(0)
        );
    }
}
