//! Pure parsing and comparison for keel-check: /proc formats, capability
//! names, mount options. Nothing here touches the system, so every rule is
//! unit-tested, including the ways each check can fail.

use std::collections::{BTreeMap, BTreeSet};

use super::spec::{Capabilities, IdMapping, Mount, TimeOffset};

/// One line of /proc/self/mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub id: u32,
    pub parent: u32,
    pub root: String,
    pub mount_point: String,
    pub mount_opts: Vec<String>,
    pub optional: Vec<String>,
    pub fstype: String,
    pub source: String,
    pub super_opts: Vec<String>,
}

impl MountEntry {
    pub fn has_opt(&self, opt: &str) -> bool {
        self.mount_opts.iter().any(|o| o == opt)
    }

    pub fn is_ro(&self) -> bool {
        self.has_opt("ro")
    }

    /// The value of `key=value` among the superblock options.
    pub fn super_opt(&self, key: &str) -> Option<&str> {
        self.super_opts
            .iter()
            .find_map(|o| o.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
    }
}

/// Undo mountinfo's octal escapes (`\040` for a space, …).
pub fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let digits = &b[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let v = (digits[0] - b'0') as u32 * 64
                    + (digits[1] - b'0') as u32 * 8
                    + (digits[2] - b'0') as u32;
                if v <= 255 {
                    out.push(v as u8);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse /proc/self/mountinfo. Malformed lines are an error naming the line.
pub fn parse_mountinfo(text: &str) -> Result<Vec<MountEntry>, String> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(' ').collect();
        let sep = fields
            .iter()
            .position(|f| *f == "-")
            .ok_or_else(|| format!("mountinfo line without separator: {line}"))?;
        if sep < 6 || fields.len() < sep + 3 {
            return Err(format!("short mountinfo line: {line}"));
        }
        let num = |s: &str| {
            s.parse::<u32>()
                .map_err(|_| format!("bad number {s:?} in mountinfo line: {line}"))
        };
        out.push(MountEntry {
            id: num(fields[0])?,
            parent: num(fields[1])?,
            root: unescape_octal(fields[3]),
            mount_point: unescape_octal(fields[4]),
            mount_opts: fields[5].split(',').map(str::to_string).collect(),
            optional: fields[6..sep].iter().map(|s| s.to_string()).collect(),
            fstype: fields[sep + 1].to_string(),
            source: unescape_octal(fields[sep + 2]),
            super_opts: fields
                .get(sep + 3)
                .map(|s| s.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
        });
    }
    Ok(out)
}

/// The topmost mount at exactly `path` (the last one listed), if any.
pub fn top_mount_at<'a>(mounts: &'a [MountEntry], path: &str) -> Option<&'a MountEntry> {
    let want = normalize_path(path);
    mounts.iter().rev().find(|m| m.mount_point == want)
}

/// Collapse duplicate and trailing slashes: "/a//b/" → "/a/b".
pub fn normalize_path(p: &str) -> String {
    let parts: Vec<&str> = p
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

/// A field of /proc/self/status, e.g. `status_field(s, "CapEff")`.
pub fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == key).then(|| v.trim())
    })
}

/// The capability names the kernel knows, indexed by bit number.
pub const CAP_NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The bit of a capability name ("CAP_KILL" or "kill", any case).
pub fn cap_bit(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    CAP_NAMES.iter().position(|n| *n == full).map(|i| i as u32)
}

/// The mask of a list of names; unknown names are returned separately.
pub fn cap_mask(names: &[String]) -> (u64, Vec<String>) {
    let mut mask = 0u64;
    let mut unknown = Vec::new();
    for n in names {
        match cap_bit(n) {
            Some(b) => mask |= 1 << b,
            None => unknown.push(n.clone()),
        }
    }
    (mask, unknown)
}

/// The names of the bits set in `mask`.
pub fn cap_names(mask: u64) -> Vec<String> {
    (0..64)
        .filter(|b| mask & (1u64 << b) != 0)
        .map(|b| {
            CAP_NAMES
                .get(b)
                .map(|s| s.to_string())
                .unwrap_or_else(|| format!("cap{b}"))
        })
        .collect()
}

/// The five capability sets as masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapSets {
    pub inh: u64,
    pub prm: u64,
    pub eff: u64,
    pub bnd: u64,
    pub amb: u64,
}

/// What /proc/self/status must show after the runtime applied `caps` and
/// exec'd a file without file capabilities as effective uid `euid`.
///
/// The kernel's execve rules: ambient survives only where it is also in
/// permitted and inheritable (it cannot be raised otherwise); for euid 0 the
/// new permitted set is `inheritable | bounding` and effective equals it; for
/// any other uid, permitted and effective become the ambient set.
pub fn expected_caps(caps: &Capabilities, euid: u32) -> CapSets {
    expected_caps_nnp(caps, euid, false)
}

/// Like [`expected_caps`], for a process exec'd with no_new_privs set: the
/// kernel then never grants root more than the permitted set it had before
/// execve.
pub fn expected_caps_nnp(caps: &Capabilities, euid: u32, nnp: bool) -> CapSets {
    let mut c = expected_caps_exec(caps, euid);
    if nnp && euid == 0 {
        let before = cap_mask(&caps.permitted).0;
        c.prm &= before;
        c.eff &= before;
    }
    c
}

fn expected_caps_exec(caps: &Capabilities, euid: u32) -> CapSets {
    let m = |v: &Vec<String>| cap_mask(v).0;
    let (bnd, inh, prm) = (m(&caps.bounding), m(&caps.inheritable), m(&caps.permitted));
    let amb = m(&caps.ambient) & prm & inh;
    if euid == 0 {
        let p = bnd | inh | amb;
        CapSets {
            inh,
            prm: p,
            eff: p,
            bnd,
            amb,
        }
    } else {
        CapSets {
            inh,
            prm: amb,
            eff: amb,
            bnd,
            amb,
        }
    }
}

/// The capability sets shown in /proc/self/status.
pub fn status_caps(status: &str) -> Result<CapSets, String> {
    let get = |k: &str| {
        let v = status_field(status, k).ok_or_else(|| format!("no {k} in /proc/self/status"))?;
        u64::from_str_radix(v, 16).map_err(|_| format!("bad {k} value {v:?}"))
    };
    Ok(CapSets {
        inh: get("CapInh")?,
        prm: get("CapPrm")?,
        eff: get("CapEff")?,
        bnd: get("CapBnd")?,
        amb: get("CapAmb")?,
    })
}

/// "missing [..] extra [..]" between an expected and an actual mask, or None.
pub fn mask_diff(expected: u64, actual: u64) -> Option<String> {
    if expected == actual {
        return None;
    }
    Some(format!(
        "missing {:?} extra {:?}",
        cap_names(expected & !actual),
        cap_names(actual & !expected)
    ))
}

/// The `RLIMIT_*` resource number of a spec rlimit type.
pub fn rlimit_resource(name: &str) -> Option<u32> {
    const NAMES: [&str; 16] = [
        "RLIMIT_CPU",
        "RLIMIT_FSIZE",
        "RLIMIT_DATA",
        "RLIMIT_STACK",
        "RLIMIT_CORE",
        "RLIMIT_RSS",
        "RLIMIT_NPROC",
        "RLIMIT_NOFILE",
        "RLIMIT_MEMLOCK",
        "RLIMIT_AS",
        "RLIMIT_LOCKS",
        "RLIMIT_SIGPENDING",
        "RLIMIT_MSGQUEUE",
        "RLIMIT_NICE",
        "RLIMIT_RTPRIO",
        "RLIMIT_RTTIME",
    ];
    NAMES.iter().position(|n| *n == name).map(|i| i as u32)
}

/// Parse /proc/self/uid_map or gid_map.
pub fn parse_id_map(text: &str) -> Result<Vec<IdMapping>, String> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let n: Vec<u32> = line
            .split_whitespace()
            .map(|s| s.parse::<u32>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("bad id map line {line:?}"))?;
        if n.len() != 3 {
            return Err(format!("bad id map line {line:?}"));
        }
        out.push(IdMapping {
            container_id: n[0],
            host_id: n[1],
            size: n[2],
        });
    }
    out.sort();
    Ok(out)
}

/// Parse /proc/self/timens_offsets: clock name → (secs, nanosecs).
pub fn parse_timens_offsets(text: &str) -> Result<BTreeMap<String, TimeOffset>, String> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 3 {
            return Err(format!("bad timens_offsets line {line:?}"));
        }
        let name = match f[0] {
            "1" => "monotonic",
            "7" => "boottime",
            other => other,
        };
        let secs = f[1]
            .parse()
            .map_err(|_| format!("bad seconds in {line:?}"))?;
        let nanosecs = f[2]
            .parse()
            .map_err(|_| format!("bad nanoseconds in {line:?}"))?;
        out.insert(name.to_string(), TimeOffset { secs, nanosecs });
    }
    Ok(out)
}

/// Parse a size option such as "65536k", "1m", "1048576" into bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.chars().last()? {
        'k' | 'K' => (&s[..s.len() - 1], 1u64 << 10),
        'm' | 'M' => (&s[..s.len() - 1], 1 << 20),
        'g' | 'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().ok().map(|n| n * mult)
}

/// Problems between a spec mount and the mount entries at and below its
/// destination (`entries[0]` is the topmost mount at the destination, the
/// rest are its submounts). Empty when everything matches.
pub fn mount_problems(spec: &Mount, top: &MountEntry, subs: &[&MountEntry]) -> Vec<String> {
    let mut p = Vec::new();
    let opts: Vec<&str> = spec.options.iter().map(String::as_str).collect();
    let has = |o: &str| opts.contains(&o);
    let kind = spec.kind.as_deref().unwrap_or("");
    let is_bind = kind == "bind" || has("bind") || has("rbind");
    // cgroup v1 (and the hybrid layout) is a tmpfs holding one cgroup mount
    // per controller; the flags then apply to the controller mounts.
    let cgroup_v1 = kind == "cgroup" && top.fstype == "tmpfs";
    if !is_bind {
        let ok = match kind {
            "" => true,
            "cgroup" => matches!(top.fstype.as_str(), "cgroup" | "cgroup2" | "tmpfs"),
            k => top.fstype == k,
        };
        if !ok {
            p.push(format!("fstype {} (want {kind})", top.fstype));
        }
    }
    let flag_targets: Vec<&MountEntry> = if cgroup_v1 { subs.to_vec() } else { vec![top] };
    if cgroup_v1 && flag_targets.is_empty() {
        p.push("cgroup tmpfs holds no controller mounts".to_string());
    }
    for m in &flag_targets {
        let want_ro = has("ro");
        if m.is_ro() != want_ro {
            p.push(format!(
                "{} is {} (want {})",
                m.mount_point,
                if m.is_ro() { "ro" } else { "rw" },
                if want_ro { "ro" } else { "rw" }
            ));
        }
        for (on, off, flag) in [
            ("nosuid", "suid", "nosuid"),
            ("nodev", "dev", "nodev"),
            ("noexec", "exec", "noexec"),
        ] {
            if has(on) && !m.has_opt(flag) {
                p.push(format!("{} lacks {flag}", m.mount_point));
            }
            if has(off) && m.has_opt(flag) {
                p.push(format!("{} has {flag} (want {off})", m.mount_point));
            }
        }
    }
    if !is_bind && !cgroup_v1 {
        for o in &opts {
            let Some((k, v)) = o.split_once('=') else {
                continue;
            };
            let have = top
                .super_opt(k)
                .or_else(|| default_super_opt(&top.fstype, k));
            let ok = match k {
                "size" => have.and_then(parse_size) == parse_size(v).map(round_pages),
                "mode" | "ptmxmode" => {
                    have.and_then(|h| u32::from_str_radix(h, 8).ok())
                        == u32::from_str_radix(v, 8).ok()
                }
                "nr_inodes" => have.and_then(parse_size) == parse_size(v),
                _ => continue,
            };
            if !ok {
                p.push(format!(
                    "option {k}={} (want {v})",
                    have.unwrap_or("<absent>")
                ));
            }
        }
    }
    p
}

/// The value the kernel leaves out of mountinfo because it is the default.
fn default_super_opt(fstype: &str, key: &str) -> Option<&'static str> {
    match (fstype, key) {
        ("tmpfs", "mode") => Some("1777"),
        ("devpts", "mode") => Some("600"),
        ("devpts", "ptmxmode") => Some("000"),
        _ => None,
    }
}

/// tmpfs rounds its size up to whole pages.
fn round_pages(b: u64) -> u64 {
    b.div_ceil(4096) * 4096
}

/// What is wrong with the propagation of `/` given its optional fields, or None.
pub fn propagation_problem(want: &str, optional: &[String]) -> Option<String> {
    let shared = optional.iter().any(|o| o.starts_with("shared:"));
    let master = optional.iter().any(|o| o.starts_with("master:"));
    let unbindable = optional.iter().any(|o| o == "unbindable");
    let ok = match want.trim_start_matches('r') {
        "shared" => shared,
        // A slave of a private host mount has no master: only demand it is
        // neither shared nor unbindable.
        "slave" => !shared && !unbindable,
        "private" => !shared && !master && !unbindable,
        "unbindable" => unbindable,
        _ => return Some(format!("unknown rootfsPropagation {want:?}")),
    };
    (!ok).then(|| format!("optional fields {optional:?} (want {want})"))
}

/// The inode in a namespace link such as "net:[4026531840]".
pub fn ns_inode(link: &str) -> Option<u64> {
    link.split_once(":[")?.1.strip_suffix(']')?.parse().ok()
}

/// Linux's encoding of a dev_t's major number.
pub fn dev_major(dev: u64) -> u64 {
    ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)
}

/// Linux's encoding of a dev_t's minor number.
pub fn dev_minor(dev: u64) -> u64 {
    (dev & 0xff) | ((dev >> 12) & !0xff)
}

/// The personality value of a spec domain.
pub fn personality_domain(domain: &str) -> Option<u64> {
    match domain {
        "LINUX" => Some(0),
        "LINUX32" => Some(8),
        _ => None,
    }
}

/// Spec env entries missing from, or different in, the actual environment.
pub fn env_problems(spec: &[String], actual: &[String]) -> Vec<String> {
    let mut have: BTreeMap<&str, &str> = BTreeMap::new();
    for kv in actual {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        have.entry(k).or_insert(v);
    }
    let mut want: BTreeMap<&str, &str> = BTreeMap::new();
    for kv in spec {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        want.insert(k, v);
    }
    want.iter()
        .filter_map(|(k, v)| match have.get(k) {
            Some(h) if h == v => None,
            Some(h) => Some(format!("{k}={h:?} (want {v:?})")),
            None => Some(format!("{k} missing")),
        })
        .collect()
}

/// Parse "0,1,2" into a set of descriptors.
pub fn parse_fd_list(s: &str) -> Result<BTreeSet<i32>, String> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| p.trim().parse::<i32>().map_err(|_| format!("bad fd {p:?}")))
        .collect()
}

/// Whether a raw getcwd answer names a directory inside the root.
pub fn cwd_is_inside(raw: &[u8]) -> bool {
    raw.first() == Some(&b'/') && !raw.starts_with(b"(unreachable)")
}

/// Compare a sysctl value as the kernel prints it with the spec's, ignoring
/// whitespace differences (multi-value sysctls are tab-separated).
pub fn sysctl_matches(actual: &str, want: &str) -> bool {
    let a: Vec<&str> = actual.split_whitespace().collect();
    let w: Vec<&str> = want.split_whitespace().collect();
    a == w
}

/// The syscalls keel-check probes with its own (path or buffer) arguments.
pub const PATH_SYSCALLS: &[&str] = &["uname", "getcwd", "mkdir", "mkdirat", "chmod"];

const ERRNOS: &[(&str, i32)] = &[
    ("EPERM", 1),
    ("ENOENT", 2),
    ("ESRCH", 3),
    ("EINTR", 4),
    ("EIO", 5),
    ("ENXIO", 6),
    ("E2BIG", 7),
    ("ENOEXEC", 8),
    ("EBADF", 9),
    ("ECHILD", 10),
    ("EAGAIN", 11),
    ("ENOMEM", 12),
    ("EACCES", 13),
    ("EFAULT", 14),
    ("EBUSY", 16),
    ("EEXIST", 17),
    ("EXDEV", 18),
    ("ENODEV", 19),
    ("ENOTDIR", 20),
    ("EISDIR", 21),
    ("EINVAL", 22),
    ("ENFILE", 23),
    ("EMFILE", 24),
    ("ENOTTY", 25),
    ("ENOSPC", 28),
    ("EROFS", 30),
    ("EMLINK", 31),
    ("EPIPE", 32),
    ("EDOM", 33),
    ("ERANGE", 34),
    ("ENOSYS", 38),
    ("ENOMSG", 42),
    ("EAFNOSUPPORT", 97),
];

/// The errno number of a name such as "EPERM".
pub fn errno_by_name(name: &str) -> Option<i32> {
    ERRNOS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// "EPERM (1)" for 1; the bare number for errnos without a known name.
pub fn errno_name(e: i32) -> String {
    match ERRNOS.iter().find(|(_, v)| *v == e) {
        Some((n, _)) => format!("{n} ({e})"),
        None => format!("errno {e}"),
    }
}

/// A decimal or 0x-prefixed hexadecimal u64.
pub fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// The lines of /proc/PID/cgroup as (controllers, path); the v2 line has
/// empty controllers.
pub fn parse_proc_cgroup(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let _id = it.next()?;
            let ctrls = it.next()?;
            let path = it.next()?;
            Some((ctrls.to_string(), path.to_string()))
        })
        .collect()
}

/// Whether a cgroup file's text matches the wanted value: the whole trimmed
/// text, or one of its lines (`memory.oom_control` has several).
pub fn cgroup_value_matches(have: &str, want: &str) -> bool {
    have.trim() == want.trim() || have.lines().any(|l| l.trim() == want.trim())
}

/// The options a mount shows: per-mount flags, superblock options, its
/// propagation (`shared`, `slave`, `unbindable` or `private`), and
/// `strictatime` when neither `relatime` nor `noatime` is set.
pub fn mount_tokens(m: &MountEntry) -> BTreeSet<String> {
    let mut t: BTreeSet<String> = m.mount_opts.iter().cloned().collect();
    t.extend(m.super_opts.iter().cloned());
    let mut prop = false;
    for o in &m.optional {
        if o.starts_with("shared:") {
            t.insert("shared".into());
            prop = true;
        } else if o.starts_with("master:") {
            t.insert("slave".into());
            prop = true;
        } else if o == "unbindable" {
            t.insert("unbindable".into());
            prop = true;
        }
    }
    if !prop {
        t.insert("private".into());
    }
    if !m.has_opt("relatime") && !m.has_opt("noatime") {
        t.insert("strictatime".into());
    }
    t
}

/// What is wrong with a mount given wanted options (`opt` present, `!opt`
/// absent), matched against [`mount_tokens`].
pub fn mount_opt_problems(m: &MountEntry, want: &[String]) -> Vec<String> {
    let t = mount_tokens(m);
    let mut p = Vec::new();
    for w in want.iter().filter(|w| !w.is_empty()) {
        match w.strip_prefix('!') {
            Some(neg) if t.contains(neg) => p.push(format!("{} has {neg}", m.mount_point)),
            Some(_) => {}
            None if !t.contains(w.as_str()) => p.push(format!(
                "{} lacks {w} (has {})",
                m.mount_point,
                t.iter().cloned().collect::<Vec<_>>().join(",")
            )),
            None => {}
        }
    }
    p
}

/// The interface names in /proc/net/dev.
pub fn parse_net_dev(text: &str) -> BTreeSet<String> {
    text.lines()
        .skip(2)
        .filter_map(|l| l.split_once(':').map(|(n, _)| n.trim().to_string()))
        .collect()
}

#[cfg(test)]
mod conformance_tests {
    use super::*;

    #[test]
    fn conformance_parsers() {
        assert_eq!(errno_by_name("EPERM"), Some(1));
        assert_eq!(errno_name(38), "ENOSYS (38)");
        assert_eq!(errno_name(4242), "errno 4242");
        assert_eq!(parse_u64("0x10"), Some(16));
        assert_eq!(parse_u64("x"), None);
        let cg = parse_proc_cgroup("4:memory:/a/b\n2:cpu,cpuacct:/\n0::/\n");
        assert_eq!(cg[0], ("memory".into(), "/a/b".into()));
        assert_eq!(cg[2], ("".into(), "/".into()));
        assert!(cgroup_value_matches(
            "oom_kill_disable 1\nunder_oom 0\n",
            "oom_kill_disable 1"
        ));
        assert!(!cgroup_value_matches(
            "oom_kill_disable 0\n",
            "oom_kill_disable 1"
        ));
        let devs = parse_net_dev("Inter-|   Receive\n face |bytes\n    lo: 0 0\n  eth0: 1 2\n");
        assert_eq!(devs.into_iter().collect::<Vec<_>>(), ["eth0", "lo"]);
        let mi = parse_mountinfo(
            "1 0 0:1 / /m rw,nosuid,noatime shared:3 - tmpfs t rw,size=1024k,sync\n\
             2 0 0:2 / /p rw - tmpfs t rw\n",
        )
        .unwrap();
        let want = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(mount_opt_problems(
            &mi[0],
            &want(&["nosuid", "noatime", "shared", "sync", "!ro"])
        )
        .is_empty());
        assert_eq!(
            mount_opt_problems(&mi[0], &want(&["private", "!shared", "strictatime"])).len(),
            3
        );
        assert!(
            mount_opt_problems(&mi[1], &want(&["private", "strictatime", "!slave"])).is_empty()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MI: &str = "\
65 43 254:0 /tmp/b/rootfs / rw,relatime shared:1 - ext4 /dev/vda rw,discard
66 65 0:40 / /proc rw,relatime - proc proc rw
67 65 0:41 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
68 67 0:42 / /dev/pts rw,nosuid,noexec,relatime - devpts devpts rw,gid=5,mode=620,ptmxmode=666
72 65 0:45 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,mode=755
73 72 0:29 / /sys/fs/cgroup/cpu ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpu
80 65 0:50 / /my\\040dir ro,relatime - tmpfs tmpfs ro
81 66 0:51 / /proc/sys ro,relatime - proc proc rw
";

    fn mounts() -> Vec<MountEntry> {
        parse_mountinfo(MI).unwrap()
    }

    fn mnt(dest: &str, kind: &str, opts: &[&str]) -> Mount {
        Mount {
            destination: dest.into(),
            kind: Some(kind.into()),
            source: None,
            options: opts.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn mountinfo_parses_and_unescapes() {
        let m = mounts();
        assert_eq!(m.len(), 8);
        assert_eq!(m[0].optional, vec!["shared:1"]);
        assert_eq!(m[6].mount_point, "/my dir");
        assert_eq!(m[2].super_opt("size"), Some("65536k"));
        assert!(parse_mountinfo("1 2 3:4 / /x rw\n").is_err());
        assert!(parse_mountinfo("a 2 3:4 / /x rw - t s rw\n").is_err());
        assert_eq!(top_mount_at(&m, "/proc/sys/").unwrap().id, 81);
        assert!(top_mount_at(&m, "/nope").is_none());
    }

    #[test]
    fn mount_flags_and_options_can_fail() {
        let m = mounts();
        let dev = top_mount_at(&m, "/dev").unwrap();
        let ok = mnt("/dev", "tmpfs", &["nosuid", "mode=0755", "size=65536k"]);
        assert!(mount_problems(&ok, dev, &[]).is_empty());
        let bad = mnt(
            "/dev",
            "tmpfs",
            &["nosuid", "nodev", "ro", "mode=0700", "size=1m"],
        );
        let p = mount_problems(&bad, dev, &[]);
        assert_eq!(p.len(), 4, "{p:?}");
        let wrong_type = mnt("/dev", "devpts", &[]);
        assert_eq!(mount_problems(&wrong_type, dev, &[]).len(), 1);
        let shm = mnt("/dev", "tmpfs", &["nosuid", "mode=1777"]);
        assert_eq!(mount_problems(&shm, dev, &[]).len(), 1, "mode=755 is shown");
        let mut dev_default = dev.clone();
        dev_default.super_opts.retain(|o| !o.starts_with("mode="));
        assert!(
            mount_problems(&shm, &dev_default, &[]).is_empty(),
            "1777 is the default"
        );
        let exec = mnt("/dev", "tmpfs", &["suid"]);
        assert_eq!(mount_problems(&exec, dev, &[]).len(), 1);
        let pts = top_mount_at(&m, "/dev/pts").unwrap();
        let pts_spec = mnt("/dev/pts", "devpts", &["nosuid", "noexec", "ptmxmode=0666"]);
        assert!(mount_problems(&pts_spec, pts, &[]).is_empty());
        let pts_bad = mnt("/dev/pts", "devpts", &["ptmxmode=0600"]);
        assert_eq!(mount_problems(&pts_bad, pts, &[]).len(), 1);
    }

    #[test]
    fn cgroup_v1_flags_apply_to_controllers() {
        let m = mounts();
        let top = top_mount_at(&m, "/sys/fs/cgroup").unwrap();
        let cpu = top_mount_at(&m, "/sys/fs/cgroup/cpu").unwrap();
        let spec = mnt("/sys/fs/cgroup", "cgroup", &["nosuid", "ro"]);
        assert!(mount_problems(&spec, top, &[cpu]).is_empty());
        assert!(!mount_problems(&spec, top, &[]).is_empty());
        let rw = mnt("/sys/fs/cgroup", "cgroup", &["rw"]);
        assert_eq!(mount_problems(&rw, top, &[cpu]).len(), 1);
    }

    #[test]
    fn bind_mounts_skip_fstype() {
        let m = mounts();
        let d = top_mount_at(&m, "/my dir").unwrap();
        assert!(mount_problems(&mnt("/my dir", "bind", &["rbind", "ro"]), d, &[]).is_empty());
        assert_eq!(
            mount_problems(&mnt("/my dir", "none", &["bind", "rw"]), d, &[]).len(),
            1
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("65536k"), Some(64 << 20));
        assert_eq!(parse_size("1m"), Some(1 << 20));
        assert_eq!(parse_size("12"), Some(12));
        assert_eq!(parse_size("x"), None);
        assert_eq!(round_pages(1), 4096);
    }

    #[test]
    fn caps_root_and_user() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let c = Capabilities {
            bounding: names(&["CAP_KILL", "CAP_CHOWN"]),
            effective: names(&["CAP_KILL"]),
            permitted: names(&["CAP_KILL", "CAP_CHOWN"]),
            inheritable: names(&["CAP_KILL"]),
            ambient: names(&["CAP_KILL", "CAP_CHOWN"]),
        };
        let kill = 1 << 5;
        let chown = 1;
        let root = expected_caps(&c, 0);
        assert_eq!(root.prm, kill | chown);
        assert_eq!(root.eff, kill | chown);
        assert_eq!(root.amb, kill, "ambient needs inheritable");
        let user = expected_caps(&c, 1000);
        assert_eq!(user.prm, kill);
        assert_eq!(user.eff, kill);
        assert_eq!(user.inh, kill);
        assert_eq!(user.bnd, kill | chown);
        assert_eq!(cap_bit("kill"), Some(5));
        assert_eq!(cap_bit("CAP_CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(cap_mask(&names(&["CAP_NOPE"])).1, vec!["CAP_NOPE"]);
        assert!(mask_diff(kill, kill).is_none());
        assert!(mask_diff(kill, chown).unwrap().contains("CAP_KILL"));
    }

    #[test]
    fn status_parsing() {
        let s = "Name:\tx\nCapInh:\t0000000000000000\nCapPrm:\t0000000000000020\n\
                 CapEff:\t0000000000000020\nCapBnd:\t0000000000000020\nCapAmb:\t0000000000000000\n\
                 NoNewPrivs:\t1\n";
        let c = status_caps(s).unwrap();
        assert_eq!(c.prm, 0x20);
        assert_eq!(status_field(s, "NoNewPrivs"), Some("1"));
        assert!(status_caps("CapInh:\tzz\n").is_err());
    }

    #[test]
    fn id_maps_and_time_offsets() {
        let m = parse_id_map("         0     100000      65536\n").unwrap();
        assert_eq!(
            m,
            vec![IdMapping {
                container_id: 0,
                host_id: 100000,
                size: 65536
            }]
        );
        assert!(parse_id_map("0 1\n").is_err());
        let t =
            parse_timens_offsets("monotonic     86400         0\nboottime          0         0\n")
                .unwrap();
        assert_eq!(t["monotonic"].secs, 86400);
        assert_eq!(t["boottime"].secs, 0);
        assert!(parse_timens_offsets("monotonic x 0\n").is_err());
    }

    #[test]
    fn propagation() {
        let o = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(propagation_problem("shared", &o(&["shared:3"])).is_none());
        assert!(propagation_problem("rshared", &o(&[])).is_some());
        assert!(propagation_problem("private", &o(&["master:1"])).is_some());
        assert!(propagation_problem("slave", &o(&["master:1"])).is_none());
        assert!(propagation_problem("unbindable", &o(&[])).is_some());
        assert!(propagation_problem("bogus", &o(&[])).is_some());
    }

    #[test]
    fn small_helpers() {
        assert_eq!(ns_inode("net:[4026531840]"), Some(4026531840));
        assert_eq!(ns_inode("net:4026531840"), None);
        // makedev(136, 300) as glibc encodes it.
        let dev: u64 = ((136 & 0xfff) << 8) | (300 & 0xff) | ((300 & !0xff) << 12);
        assert_eq!((dev_major(dev), dev_minor(dev)), (136, 300));
        assert_eq!(personality_domain("LINUX32"), Some(8));
        assert_eq!(personality_domain("BSD"), None);
        let env = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(env_problems(&env(&["A=1"]), &env(&["A=1", "B=2"])).is_empty());
        assert_eq!(env_problems(&env(&["A=1", "C=3"]), &env(&["A=2"])).len(), 2);
        assert_eq!(parse_fd_list("0,1,2").unwrap().len(), 3);
        assert!(parse_fd_list("0,x").is_err());
        assert!(cwd_is_inside(b"/tmp"));
        assert!(!cwd_is_inside(b"(unreachable)/sys/fs/cgroup"));
        assert!(sysctl_matches("4096\t8192 ", "4096 8192"));
        assert!(!sysctl_matches("1", "0"));
        assert_eq!(normalize_path("/a//b/"), "/a/b");
        assert_eq!(normalize_path("/"), "/");
        assert_eq!(unescape_octal("a\\040b\\"), "a b\\");
    }
}
