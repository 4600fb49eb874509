//! Host-side inspection and cleanup: mounts and processes that mention a
//! bundle, namespace inodes, and the registry that lets this process reap
//! orphaned container processes without stealing the exit status of a child
//! that std is waiting for.

use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::{Mutex, MutexGuard, OnceLock};

use crate::checker::parse;
use crate::error::{io_err, Error, Result};
use crate::sys;

fn spawned() -> MutexGuard<'static, HashSet<i32>> {
    static SPAWNED: OnceLock<Mutex<HashSet<i32>>> = OnceLock::new();
    SPAWNED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Spawn `cmd` and remember its PID until [`untrack`], so [`reap_orphans`]
/// never reaps it behind std's back.
pub fn spawn_tracked(cmd: &mut Command) -> std::io::Result<Child> {
    let mut reg = spawned();
    let child = cmd.spawn()?;
    reg.insert(child.id() as i32);
    Ok(child)
}

/// Register `pid` (a child, e.g. an orphaned container process reparented
/// to this subreaper) so [`reap_orphans`] leaves its exit status to whoever
/// waits for it; [`untrack`] it once reaped.
pub fn track(pid: i32) {
    spawned().insert(pid);
}

/// Forget a PID registered by [`spawn_tracked`], after it was waited for.
pub fn untrack(pid: u32) {
    spawned().remove(&(pid as i32));
}

/// Make this process a child subreaper, once. Orphaned container processes
/// then become our children, so their exit status can be collected and they
/// never linger as zombies under a PID 1 that does not reap.
pub fn become_subreaper() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = sys::set_child_subreaper();
    });
}

/// The fields of /proc/PID/stat after the command name: (state, ppid, starttime).
pub fn proc_stat(pid: i32) -> Option<(char, i32, u64)> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((
        f.first()?.chars().next()?,
        f.get(1)?.parse().ok()?,
        f.get(19)?.parse().ok()?,
    ))
}

/// Reap every zombie child of this process that std is not waiting for.
pub fn reap_orphans() {
    let me = std::process::id() as i32;
    let reg = spawned();
    let Ok(dir) = fs::read_dir("/proc") else {
        return;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if reg.contains(&pid) {
            continue;
        }
        if let Some(('Z', ppid, _)) = proc_stat(pid) {
            if ppid == me {
                let _ = sys::try_wait(pid);
            }
        }
    }
}

/// Lines of /proc/self/mountinfo that mention `needle`.
pub fn mounts_mentioning(needle: &str) -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| parse::unescape_octal(l).contains(needle))
        .map(str::to_string)
        .collect()
}

/// Lazily unmount everything mounted at or below `dir`, deepest first.
pub fn unmount_under(dir: &Path) {
    let dir = dir.to_string_lossy().into_owned();
    let prefix = format!("{}/", dir.trim_end_matches('/'));
    for _ in 0..8 {
        let Ok(text) = fs::read_to_string("/proc/self/mountinfo") else {
            return;
        };
        let Ok(all) = parse::parse_mountinfo(&text) else {
            return;
        };
        let mut points: Vec<String> = all
            .into_iter()
            .map(|m| m.mount_point)
            .filter(|p| *p == dir || p.starts_with(&prefix))
            .collect();
        if points.is_empty() {
            return;
        }
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        points.dedup();
        for p in points {
            let _ = sys::umount_detach(Path::new(&p));
        }
    }
}

/// Processes (other than this one) whose command line contains one of
/// `needles`, or whose cwd, root or exe lies under one of them. Each entry is
/// "PID: what matched".
pub fn processes_mentioning(needles: &[&str]) -> Vec<String> {
    let me = std::process::id();
    let mut out = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let cmdline = fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        let links: Vec<String> = ["cwd", "root", "exe"]
            .iter()
            .filter_map(|l| fs::read_link(format!("/proc/{pid}/{l}")).ok())
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        for n in needles.iter().filter(|n| !n.is_empty()) {
            if cmdline.contains(n) || links.iter().any(|l| l.starts_with(n)) {
                out.push(format!("{pid}: {} {links:?}", cmdline.trim()));
                break;
            }
        }
    }
    out
}

/// The inode of a namespace file such as /proc/self/ns/net.
pub fn ns_inode_of(path: &str) -> Result<u64> {
    let link = fs::read_link(path).map_err(io_err(format!("readlink {path}")))?;
    parse::ns_inode(&link.to_string_lossy())
        .ok_or_else(|| Error::Check(format!("{path} points to {}", link.display())))
}

/// Whether `pid` still names the process that had `starttime`, alive or not reaped.
pub fn same_process(pid: i32, starttime: u64) -> bool {
    proc_stat(pid).is_some_and(|(_, _, st)| st == starttime)
}
