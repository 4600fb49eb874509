//! The `cgroup` mount type: what runc puts at `/sys/fs/cgroup`.
//!
//! On a pure cgroup v2 host that is one cgroup2 mount. On a v1 or hybrid host
//! (as on our CI machines) it is a tmpfs with one directory per hierarchy and
//! the host's alias symlinks (`cpu -> cpu,cpuacct`). With a new cgroup
//! namespace each hierarchy is mounted afresh; without one, the container's
//! own cgroup directory is bind-mounted, so the host tree stays hidden.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};

use super::options::MountOptions;
use super::resolve::{ensure_in_root, fd_path, open_in_root, Kind};

/// One cgroup filesystem mounted on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCgroup {
    pub mountpoint: PathBuf,
    /// `cgroup` (v1) or `cgroup2`.
    pub fstype: String,
    /// For v1: the controllers (and `name=…`) from the super options.
    pub controllers: Vec<String>,
}

/// Cgroup mounts under `/sys/fs/cgroup` from a mountinfo text.
pub fn parse_mountinfo(text: &str) -> Vec<HostCgroup> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 5 || r.len() < 3 {
            continue;
        }
        let fstype = r[0];
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        let mountpoint = PathBuf::from(l[4]);
        if !mountpoint.starts_with("/sys/fs/cgroup") {
            continue;
        }
        let controllers = if fstype == "cgroup" {
            r[2].split(',')
                .filter(|o| {
                    !matches!(*o, "rw" | "ro")
                        && !o.starts_with("release_agent")
                        && *o != "clone_children"
                        && *o != "xattr"
                })
                .map(str::to_string)
                .collect()
        } else {
            Vec::new()
        };
        out.push(HostCgroup {
            mountpoint,
            fstype: fstype.to_string(),
            controllers,
        });
    }
    out
}

/// This process's cgroup path in the hierarchy with these controllers
/// (empty list: the v2 unified hierarchy), from `/proc/self/cgroup` text.
pub fn own_path(proc_cgroup: &str, controllers: &[String]) -> Option<String> {
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        let list: Vec<&str> = if ctrls.is_empty() {
            Vec::new()
        } else {
            ctrls.split(',').collect()
        };
        let mut want: Vec<&str> = controllers.iter().map(String::as_str).collect();
        let mut have = list.clone();
        want.sort_unstable();
        have.sort_unstable();
        if want == have {
            return Some(path.to_string());
        }
    }
    None
}

/// Mounts the cgroup filesystem(s) at `dest` inside `root`.
pub fn mount_cgroup(
    root: BorrowedFd<'_>,
    dest: &Path,
    opts: &MountOptions,
    cgroupns: bool,
) -> io::Result<()> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
    let proc_cgroup = std::fs::read_to_string("/proc/self/cgroup")?;
    let hosts = parse_mountinfo(&mountinfo);
    let flags = opts.flags
        & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RELATIME);
    let ro = opts.flags.contains(MsFlags::MS_RDONLY);
    let pure_v2 = hosts
        .iter()
        .any(|h| h.fstype == "cgroup2" && h.mountpoint == Path::new("/sys/fs/cgroup"));
    if pure_v2 {
        let target = ensure_in_root(root, dest, Kind::Dir)?;
        let host = HostCgroup {
            mountpoint: "/sys/fs/cgroup".into(),
            fstype: "cgroup2".into(),
            controllers: vec![],
        };
        return mount_hierarchy(
            root,
            dest,
            &target,
            &host,
            &proc_cgroup,
            flags,
            ro,
            cgroupns,
        );
    }
    let target = ensure_in_root(root, dest, Kind::Dir)?;
    mount(
        Some("tmpfs"),
        &fd_path(&target),
        Some("tmpfs"),
        flags,
        Some("mode=755"),
    )?;
    drop(target);
    for h in &hosts {
        let Some(name) = h.mountpoint.file_name() else {
            continue;
        };
        let sub = dest.join(name);
        let target = ensure_in_root(root, &sub, Kind::Dir)?;
        mount_hierarchy(root, &sub, &target, h, &proc_cgroup, flags, ro, cgroupns)?;
    }
    // The host's aliases: cpu -> cpu,cpuacct and the like.
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        let dir = open_in_root(root, dest)?;
        for e in rd.flatten() {
            if let Ok(link) = std::fs::read_link(e.path()) {
                let _ = nix::unistd::symlinkat(&link, dir.as_fd(), e.file_name().as_os_str());
            }
        }
    }
    if ro {
        let top = open_in_root(root, dest)?;
        mount(
            None::<&str>,
            &fd_path(&top),
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | flags,
            Some("mode=755"),
        )?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn mount_hierarchy(
    root: BorrowedFd<'_>,
    dest: &Path,
    target: &std::os::fd::OwnedFd,
    h: &HostCgroup,
    proc_cgroup: &str,
    flags: MsFlags,
    ro: bool,
    cgroupns: bool,
) -> io::Result<()> {
    let rdonly = if ro {
        MsFlags::MS_RDONLY
    } else {
        MsFlags::empty()
    };
    if cgroupns {
        let data = h.controllers.join(",");
        let data = (!data.is_empty()).then_some(data.as_str());
        mount(
            Some(h.fstype.as_str()),
            &fd_path(target),
            Some(h.fstype.as_str()),
            flags | rdonly,
            data,
        )?;
        return Ok(());
    }
    let own = own_path(proc_cgroup, &h.controllers).unwrap_or_else(|| "/".into());
    let mut src = h.mountpoint.join(own.trim_start_matches('/'));
    if !src.exists() {
        src = h.mountpoint.clone();
    }
    mount(
        Some(&src),
        &fd_path(target),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )?;
    let top = open_in_root(root, dest)?;
    mount(
        None::<&str>,
        &fd_path(&top),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags | rdonly,
        None::<&str>,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
30 24 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
34 30 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct
35 30 0:31 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory
22 1 0:5 / /proc rw - proc proc rw";

    #[test]
    fn finds_hybrid_hierarchies() {
        let h = parse_mountinfo(HYBRID);
        assert_eq!(h.len(), 3);
        assert_eq!(h[0].fstype, "cgroup2");
        assert_eq!(h[1].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(h[2].mountpoint, PathBuf::from("/sys/fs/cgroup/memory"));
    }

    #[test]
    fn own_path_matches_controller_sets() {
        let pc = "5:memory:/a/b\n4:cpuacct,cpu:/c\n0::/u\n";
        assert_eq!(own_path(pc, &["memory".into()]).as_deref(), Some("/a/b"));
        assert_eq!(
            own_path(pc, &["cpu".into(), "cpuacct".into()]).as_deref(),
            Some("/c")
        );
        assert_eq!(own_path(pc, &[]).as_deref(), Some("/u"));
        assert_eq!(own_path(pc, &["pids".into()]), None);
    }
}
