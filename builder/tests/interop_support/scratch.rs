//! A test's private directory and everything an engine leaves outside it:
//! processes that name the directory, mounts under it, cgroup trees the
//! test chose, stale containerd shim sockets, and host paths the engine
//! created. All of it goes at `cleanup` (also on drop, after a panic).
//!
//! It must never touch what it did not create: a host path that existed
//! before is left, a shim socket someone still listens on is left, and
//! processes are only those whose command line names the private dir.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::say;

/// Where containerd shims (of any containerd, dockerd's too) put sockets.
const SHIM_SOCKETS: &str = "/run/containerd/s";

struct HostPath {
    path: PathBuf,
    existed: bool,
    /// Remove a directory with its contents (else only if empty).
    whole: bool,
}

pub struct Scratch {
    pub dir: PathBuf,
    cgroup_parents: Vec<String>,
    host_paths: Vec<HostPath>,
    shim_sockets_before: BTreeSet<PathBuf>,
    cleaned: bool,
}

impl Scratch {
    pub fn new(test: &str) -> Result<Scratch> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("hoist-interop-{test}-"))
            .tempdir()?
            .keep();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o711))?;
        Ok(Scratch {
            dir,
            cgroup_parents: Vec::new(),
            host_paths: Vec::new(),
            shim_sockets_before: shim_sockets(),
            cleaned: false,
        })
    }

    /// A subdirectory of the private dir, created.
    pub fn sub(&self, name: &str) -> Result<PathBuf> {
        let d = self.dir.join(name);
        fs::create_dir_all(&d)?;
        Ok(d)
    }

    /// Remember whether `path` exists now (call before starting the
    /// engine; parents before children).
    pub fn host_path(&mut self, path: &str, whole: bool) {
        let p = PathBuf::from(path);
        let existed = p.symlink_metadata().is_ok();
        self.host_paths.push(HostPath {
            path: p,
            existed,
            whole,
        });
    }

    /// A cgroup parent the engine's containers go under, removed at the
    /// end. One that exists already is someone else's and is left alone.
    pub fn cgroup_parent(&mut self, parent: &str) {
        if cgroup_dirs_under(parent).is_empty() {
            self.cgroup_parents.push(parent.to_string());
        }
    }

    /// Remove everything (once; again, or on drop, is a no-op).
    pub fn cleanup(&mut self) {
        if std::mem::replace(&mut self.cleaned, true) {
            return;
        }
        let dir = self.dir.clone();
        for pid in pids_mentioning(&dir.to_string_lossy()) {
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
        // Sockets of shims that were killed: new since the start, and
        // nobody listening on them any more.
        for sock in shim_sockets().difference(&self.shim_sockets_before) {
            if std::os::unix::net::UnixStream::connect(sock).is_err() {
                let _ = fs::remove_file(sock);
            }
        }
        for hp in self.host_paths.iter().rev() {
            if hp.existed {
                continue;
            }
            let Ok(md) = hp.path.symlink_metadata() else {
                continue;
            };
            let _ = if md.is_dir() && hp.whole {
                fs::remove_dir_all(&hp.path)
            } else if md.is_dir() {
                fs::remove_dir(&hp.path)
            } else {
                fs::remove_file(&hp.path)
            };
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

fn shim_sockets() -> BTreeSet<PathBuf> {
    fs::read_dir(SHIM_SOCKETS)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_socket()))
        .map(|e| e.path())
        .collect()
}

/// PIDs (not ours) whose command line contains `needle`.
pub fn pids_mentioning(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(cmdline) = fs::read(e.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmdline)
            .replace('\0', " ")
            .contains(needle)
        {
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

/// Every cgroup directory at or below `parent`, in each hierarchy (the v1
/// controllers and the unified one).
fn cgroup_dirs_under(parent: &str) -> Vec<PathBuf> {
    let rel = parent.trim_start_matches('/');
    let mut dirs = Vec::new();
    let roots: Vec<PathBuf> = fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .chain(std::iter::once(PathBuf::from("/sys/fs/cgroup")))
        .collect();
    for root in roots {
        let top = root.join(rel);
        if !top.is_dir() || top == root {
            continue;
        }
        let mut stack = vec![top];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).into_iter().flatten().flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(e.path());
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
