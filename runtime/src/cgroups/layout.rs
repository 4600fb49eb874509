//! Which cgroup filesystems this host has, and where the caller sits in them.
//!
//! [`Layout::parse`] reads `/proc/self/mountinfo` and `/proc/self/cgroup`
//! text and never touches the filesystem, so every layout (pure v1, hybrid,
//! unified, comounted `cpu,cpuacct`, bind-mounted sub-trees) is unit-tested.
//! Hybrid hosts (v1 controllers plus a cgroup2 mount, usually at
//! `/sys/fs/cgroup/unified`) are driven through v1, as runc does; the cgroup2
//! hierarchy is joined for membership only.
//!
//! [`Machine`] is what validation needs to know about the hardware: online
//! CPUs and memory nodes, and the huge page sizes.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::error::{Error, Result};

/// The cgroup versions a host mounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Only v1 hierarchies.
    Legacy,
    /// v1 controllers and a cgroup2 mount: resources go through v1.
    Hybrid,
    /// Only cgroup2 (at `/sys/fs/cgroup` on current distros).
    Unified,
}

/// One mounted hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted, e.g. `/sys/fs/cgroup/memory`.
    pub mountpoint: PathBuf,
    /// The cgroup shown at the mountpoint (mountinfo's root, usually `/`).
    pub root: String,
    /// v1 controllers (`cpu`, `cpuacct`) or a name (`name=systemd`);
    /// empty for cgroup2.
    pub controllers: Vec<String>,
    /// The calling process's cgroup in this hierarchy (`/a/b`).
    pub own: String,
}

impl Hierarchy {
    /// Whether this is the cgroup2 hierarchy.
    pub fn is_v2(&self) -> bool {
        self.controllers.is_empty()
    }

    /// Whether this v1 hierarchy carries `controller`.
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }

    /// The directory of the caller's own cgroup.
    pub fn own_dir(&self) -> Result<PathBuf> {
        let own = self.own.trim_end_matches(" (deleted)");
        let root = self.root.trim_end_matches('/');
        let rel = if root.is_empty() {
            Some(own)
        } else if own == root {
            Some("")
        } else {
            own.strip_prefix(root).filter(|r| r.starts_with('/'))
        };
        match rel {
            Some(rel) => Ok(self.mountpoint.join(rel.trim_start_matches('/'))),
            None => Err(Error::Path {
                path: own.to_string(),
                reason: format!(
                    "this process's cgroup is outside the part ({root}) of the hierarchy mounted at {}; use an absolute cgroupsPath",
                    self.mountpoint.display()
                ),
            }),
        }
    }
}

/// The host's cgroup mounts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub mode: Mode,
    /// The v1 hierarchies (controllers and `name=systemd`), then the cgroup2
    /// one if mounted.
    pub hierarchies: Vec<Hierarchy>,
}

impl Layout {
    /// Reads this process's mountinfo and cgroup membership.
    pub fn detect() -> Result<Layout> {
        let mi = "/proc/self/mountinfo";
        let pc = "/proc/self/cgroup";
        let mountinfo = std::fs::read_to_string(mi).map_err(|e| Error::read(mi, e))?;
        let proc_cgroup = std::fs::read_to_string(pc).map_err(|e| Error::read(pc, e))?;
        Layout::parse(&mountinfo, &proc_cgroup)
    }

    /// A unified layout with the cgroup2 hierarchy mounted at `mountpoint`
    /// and the caller in `own` (used to drive a private cgroup2 mount).
    pub fn unified_at(mountpoint: impl Into<PathBuf>, own: &str) -> Layout {
        Layout {
            mode: Mode::Unified,
            hierarchies: vec![Hierarchy {
                mountpoint: mountpoint.into(),
                root: "/".into(),
                controllers: Vec::new(),
                own: own.into(),
            }],
        }
    }

    /// Builds the layout from `/proc/self/mountinfo` and `/proc/self/cgroup`
    /// text.
    pub fn parse(mountinfo: &str, proc_cgroup: &str) -> Result<Layout> {
        let mounts = parse_mountinfo(mountinfo);
        let mut v1 = Vec::new();
        let mut v2 = None;
        for line in proc_cgroup.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_id), Some(ctrls), Some(own)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if ctrls.is_empty() {
                let m = pick(mounts.iter().filter(|m| m.fstype == "cgroup2"));
                if let Some(m) = m {
                    v2 = Some(Hierarchy {
                        mountpoint: m.mountpoint.clone(),
                        root: m.root.clone(),
                        controllers: Vec::new(),
                        own: own.to_string(),
                    });
                }
                continue;
            }
            let wanted: Vec<&str> = ctrls.split(',').collect();
            // Named hierarchies other than systemd's are someone else's.
            if wanted.iter().any(|c| c.starts_with("name=")) && !wanted.contains(&"name=systemd") {
                continue;
            }
            let m = pick(mounts.iter().filter(|m| {
                m.fstype == "cgroup" && wanted.iter().all(|w| m.options.iter().any(|o| o == w))
            }));
            if let Some(m) = m {
                v1.push(Hierarchy {
                    mountpoint: m.mountpoint.clone(),
                    root: m.root.clone(),
                    controllers: wanted.iter().map(|s| s.to_string()).collect(),
                    own: own.to_string(),
                });
            }
        }
        let has_v1_controller = v1
            .iter()
            .any(|h| h.controllers.iter().any(|c| !c.starts_with("name=")));
        let mode = match (has_v1_controller, v2.is_some()) {
            (true, true) => Mode::Hybrid,
            (true, false) => Mode::Legacy,
            (false, true) => {
                v1.clear();
                Mode::Unified
            }
            (false, false) => return Err(Error::NoCgroupFs),
        };
        v1.sort_by(|a, b| a.mountpoint.cmp(&b.mountpoint));
        let mut hierarchies = v1;
        hierarchies.extend(v2);
        Ok(Layout { mode, hierarchies })
    }

    /// The v1 hierarchy that carries `controller` (`name=systemd` included).
    pub fn v1(&self, controller: &str) -> Option<&Hierarchy> {
        if self.mode == Mode::Unified {
            return None;
        }
        self.hierarchies.iter().find(|h| h.has(controller))
    }

    /// The cgroup2 hierarchy, if mounted.
    pub fn unified(&self) -> Option<&Hierarchy> {
        self.hierarchies.iter().find(|h| h.is_v2())
    }

    /// Whether resources are applied through cgroup2.
    pub fn is_unified(&self) -> bool {
        self.mode == Mode::Unified
    }
}

struct Mount {
    root: String,
    mountpoint: PathBuf,
    fstype: String,
    options: Vec<String>,
}

/// Prefers the mount that shows the whole hierarchy under /sys/fs/cgroup.
fn pick<'a>(mut it: impl Iterator<Item = &'a Mount> + Clone) -> Option<&'a Mount> {
    it.clone()
        .find(|m| m.root == "/" && m.mountpoint.starts_with("/sys/fs/cgroup"))
        .or_else(|| it.clone().find(|m| m.root == "/"))
        .or_else(|| it.next())
}

fn parse_mountinfo(text: &str) -> Vec<Mount> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        if pre.len() < 6 || post.len() < 3 {
            continue;
        }
        if post[0] != "cgroup" && post[0] != "cgroup2" {
            continue;
        }
        out.push(Mount {
            root: unescape(pre[3]),
            mountpoint: PathBuf::from(unescape(pre[4])),
            fstype: post[0].to_string(),
            options: post[2].split(',').map(str::to_string).collect(),
        });
    }
    out
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A set of CPU or memory-node numbers, as in `0-3,8`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdSet(pub BTreeSet<u32>);

/// No machine has this many CPUs; larger numbers are refused before a set
/// is built, so input cannot make us allocate without bound.
const MAX_ID: u32 = 1 << 16;

impl IdSet {
    /// Parses the kernel's list format. Whitespace around the text is
    /// ignored; an empty text is the empty set.
    pub fn parse(text: &str) -> Result<IdSet, String> {
        let mut set = BTreeSet::new();
        let text = text.trim();
        if text.is_empty() {
            return Ok(IdSet(set));
        }
        for part in text.split(',') {
            let part = part.trim();
            let (lo, hi) = match part.split_once('-') {
                Some((a, b)) => (a, b),
                None => (part, part),
            };
            let num = |s: &str| -> Result<u32, String> {
                let n: u32 = s
                    .trim()
                    .parse()
                    .map_err(|_| format!("{part:?} is not a number or a range like 0-3"))?;
                if n >= MAX_ID {
                    return Err(format!("{n} is beyond any machine's numbering"));
                }
                Ok(n)
            };
            let (lo, hi) = (num(lo)?, num(hi)?);
            if lo > hi {
                return Err(format!("range {part:?} goes backwards"));
            }
            set.extend(lo..=hi);
        }
        Ok(IdSet(set))
    }

    /// The members not in `other`.
    pub fn missing_from(&self, other: &IdSet) -> Vec<u32> {
        self.0.difference(&other.0).copied().collect()
    }

    /// The members, for stats output.
    pub fn to_vec_u16(&self) -> Vec<u16> {
        self.0
            .iter()
            .filter_map(|&n| u16::try_from(n).ok())
            .collect()
    }
}

impl std::fmt::Display for IdSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        let mut iter = self.0.iter().copied().peekable();
        while let Some(lo) = iter.next() {
            let mut hi = lo;
            while iter.peek() == Some(&(hi + 1)) {
                hi += 1;
                iter.next();
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

/// What validation needs to know about the machine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Machine {
    /// Online CPUs (`/sys/devices/system/cpu/online`).
    pub cpus: IdSet,
    /// Online memory nodes (`/sys/devices/system/node/online`; node 0 when
    /// the kernel has no NUMA support).
    pub mems: IdSet,
    /// Huge page sizes in runc's notation (`2MB`, `1GB`).
    pub hugepage_sizes: Vec<String>,
}

impl Machine {
    /// Reads the machine's facts from sysfs.
    pub fn detect() -> Machine {
        let ids = |path: &str, fallback: &str| {
            let text = std::fs::read_to_string(path).unwrap_or_else(|_| fallback.to_string());
            IdSet::parse(&text).unwrap_or_default()
        };
        let mut hugepage_sizes = Vec::new();
        if let Ok(rd) = std::fs::read_dir("/sys/kernel/mm/hugepages") {
            for e in rd.flatten() {
                if let Some(size) = hugepage_dir_size(&e.file_name().to_string_lossy()) {
                    hugepage_sizes.push(size);
                }
            }
        }
        hugepage_sizes.sort();
        Machine {
            cpus: ids("/sys/devices/system/cpu/online", "0"),
            mems: ids("/sys/devices/system/node/online", "0"),
            hugepage_sizes,
        }
    }
}

/// `hugepages-2048kB` → `2MB`, as runc names page sizes.
pub fn hugepage_dir_size(name: &str) -> Option<String> {
    let kb: u64 = name
        .strip_prefix("hugepages-")?
        .strip_suffix("kB")?
        .parse()
        .ok()?;
    let units = ["KB", "MB", "GB", "TB", "PB"];
    let mut size = kb;
    let mut unit = 0;
    while size >= 1024 && size.is_multiple_of(1024) && unit + 1 < units.len() {
        size /= 1024;
        unit += 1;
    }
    Some(format!("{size}{}", units[unit]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const HYBRID_MI: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_PC: &str = "\
9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/02d0
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
";

    #[test]
    fn this_hosts_hybrid_layout() {
        let l = Layout::parse(HYBRID_MI, HYBRID_PC).unwrap();
        assert_eq!(l.mode, Mode::Hybrid);
        assert_eq!(l.hierarchies.len(), 10);
        let mem = l.v1("memory").unwrap();
        assert_eq!(mem.mountpoint, Path::new("/sys/fs/cgroup/memory"));
        assert_eq!(
            mem.own_dir().unwrap(),
            Path::new("/sys/fs/cgroup/memory/process_api/02d0")
        );
        assert_eq!(
            l.v1("cpuacct").unwrap().mountpoint,
            Path::new("/sys/fs/cgroup/cpuacct")
        );
        assert!(l.v1("name=systemd").is_some());
        assert!(l.v1("hugetlb").is_none());
        let u = l.unified().unwrap();
        assert_eq!(u.mountpoint, Path::new("/sys/fs/cgroup/unified"));
        assert_eq!(l.hierarchies.last().unwrap(), u);
        assert!(!l.is_unified());
    }

    #[test]
    fn comounted_cpu_cpuacct_is_one_hierarchy() {
        let mi = "\
25 20 0:22 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
26 20 0:23 / /sys/fs/cgroup/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio
27 20 0:24 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
";
        let pc = "3:net_cls,net_prio:/\n2:cpu,cpuacct:/user.slice\n1:memory:/user.slice\n0::/user.slice\n";
        let l = Layout::parse(mi, pc).unwrap();
        assert_eq!(l.mode, Mode::Legacy);
        let cpu = l.v1("cpu").unwrap();
        assert_eq!(cpu, l.v1("cpuacct").unwrap());
        assert_eq!(cpu.mountpoint, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(
            cpu.own_dir().unwrap(),
            Path::new("/sys/fs/cgroup/cpu,cpuacct/user.slice")
        );
        assert!(l.v1("net_prio").is_some());
        assert!(l.unified().is_none());
    }

    #[test]
    fn pure_unified() {
        let mi = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";
        let pc = "0::/user.slice/user-0.slice/session-1.scope\n";
        let l = Layout::parse(mi, pc).unwrap();
        assert_eq!(l.mode, Mode::Unified);
        assert!(l.is_unified());
        assert_eq!(
            l.unified().unwrap().own_dir().unwrap(),
            Path::new("/sys/fs/cgroup/user.slice/user-0.slice/session-1.scope")
        );
        assert!(l.v1("memory").is_none());
    }

    #[test]
    fn bind_mounted_subtree_and_escapes() {
        let mi = "40 31 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
                  41 31 0:33 / /mnt/my\\040cg rw - cgroup cgroup rw,pids\n";
        let pc = "2:pids:/x\n1:memory:/docker/abc/sub\n";
        let l = Layout::parse(mi, pc).unwrap();
        assert_eq!(
            l.v1("memory").unwrap().own_dir().unwrap(),
            Path::new("/sys/fs/cgroup/memory/sub")
        );
        assert_eq!(
            l.v1("pids").unwrap().own_dir().unwrap(),
            Path::new("/mnt/my cg/x")
        );
        let outside = Hierarchy {
            own: "/other".into(),
            ..l.v1("memory").unwrap().clone()
        };
        assert!(outside
            .own_dir()
            .unwrap_err()
            .to_string()
            .contains("outside"));
    }

    #[test]
    fn no_cgroupfs_is_an_error() {
        let e = Layout::parse("22 1 0:5 / /proc rw - proc proc rw\n", "0::/\n").unwrap_err();
        assert!(matches!(e, Error::NoCgroupFs));
    }

    #[test]
    fn id_sets() {
        let s = IdSet::parse("0-3, 8,10-11\n").unwrap();
        assert_eq!(s.to_string(), "0-3,8,10-11");
        assert_eq!(s.to_vec_u16(), vec![0, 1, 2, 3, 8, 10, 11]);
        assert_eq!(IdSet::parse("").unwrap(), IdSet::default());
        assert!(IdSet::parse("3-1").unwrap_err().contains("backwards"));
        assert!(IdSet::parse("a").is_err());
        assert!(IdSet::parse("0-4294967295").unwrap_err().contains("beyond"));
        let online = IdSet::parse("0-1").unwrap();
        assert_eq!(
            IdSet::parse("1-3").unwrap().missing_from(&online),
            vec![2, 3]
        );
    }

    #[test]
    fn hugepage_names() {
        assert_eq!(hugepage_dir_size("hugepages-2048kB").unwrap(), "2MB");
        assert_eq!(hugepage_dir_size("hugepages-1048576kB").unwrap(), "1GB");
        assert_eq!(hugepage_dir_size("hugepages-64kB").unwrap(), "64KB");
        assert_eq!(hugepage_dir_size("other"), None);
    }
}
