//! Mount options as runc reads them: flag words (`ro`, `nosuid`, …),
//! propagation words (`rshared`, …), and everything else passed to the
//! filesystem as data (`size=64k`, `mode=755`).

use nix::mount::MsFlags;

/// The parsed form of one `mounts[].options` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags for mount(2) itself.
    pub flags: MsFlags,
    /// Flags applied afterwards, one call each: MS_SHARED, MS_SLAVE… with MS_REC.
    pub propagation: Vec<MsFlags>,
    /// Filesystem-specific options, comma-joined.
    pub data: String,
    /// Options keel recognises but handles itself (`tmpcopyup`, `idmap`…).
    pub extra: Vec<String>,
    /// Recursive attributes (`rro`, `rnosuid`, …): MOUNT_ATTR_* bits to set
    /// and to clear on the mount and every mount below it.
    pub rec_set: u64,
    pub rec_clr: u64,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            propagation: Vec::new(),
            data: String::new(),
            extra: Vec::new(),
            rec_set: 0,
            rec_clr: 0,
        }
    }
}

impl MountOptions {
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    /// Flags that need a remount when set on a bind mount.
    pub fn remount_flags(&self) -> MsFlags {
        self.flags
            .difference(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT)
    }
}

/// Parses an options list. Unknown words become filesystem data, as runc does.
pub fn parse(options: &[String]) -> MountOptions {
    let mut o = MountOptions::default();
    let mut data: Vec<&str> = Vec::new();
    for opt in options {
        let opt = opt.as_str();
        if let Some((clear, flag)) = flag_word(opt) {
            // `remove`/`difference` keep bits bitflags does not name
            // (MS_NOSYMFOLLOW); `& !x` would drop them.
            if clear {
                o.flags.remove(flag);
            } else {
                o.flags |= flag;
            }
        } else if let Some((clear, bit)) = recursive_word(opt) {
            if clear {
                o.rec_clr |= bit;
                o.rec_set &= !bit;
            } else {
                o.rec_set |= bit;
                o.rec_clr &= !bit;
            }
        } else if let Some(p) = propagation_word(opt) {
            o.propagation.push(p);
        } else if matches!(opt, "tmpcopyup" | "idmap" | "ridmap") {
            o.extra.push(opt.to_string());
        } else {
            data.push(opt);
        }
    }
    o.data = data.join(",");
    o
}

/// MS_NOSYMFOLLOW (Linux 5.10), which nix does not name.
pub const MS_NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(256);

/// `(clear?, flag)` for the words mount(8) knows.
pub fn flag_word(opt: &str) -> Option<(bool, MsFlags)> {
    Some(match opt {
        "async" => (true, MsFlags::MS_SYNCHRONOUS),
        "atime" => (true, MsFlags::MS_NOATIME),
        "bind" => (false, MsFlags::MS_BIND),
        "defaults" => (false, MsFlags::empty()),
        "dev" => (true, MsFlags::MS_NODEV),
        "diratime" => (true, MsFlags::MS_NODIRATIME),
        "dirsync" => (false, MsFlags::MS_DIRSYNC),
        "exec" => (true, MsFlags::MS_NOEXEC),
        "iversion" => (false, MsFlags::MS_I_VERSION),
        "lazytime" => (false, MsFlags::MS_LAZYTIME),
        "loud" => (true, MsFlags::MS_SILENT),
        "mand" => (false, MsFlags::MS_MANDLOCK),
        "noatime" => (false, MsFlags::MS_NOATIME),
        "nodev" => (false, MsFlags::MS_NODEV),
        "nodiratime" => (false, MsFlags::MS_NODIRATIME),
        "noexec" => (false, MsFlags::MS_NOEXEC),
        "noiversion" => (true, MsFlags::MS_I_VERSION),
        "nolazytime" => (true, MsFlags::MS_LAZYTIME),
        "nomand" => (true, MsFlags::MS_MANDLOCK),
        "norelatime" => (true, MsFlags::MS_RELATIME),
        "nostrictatime" => (true, MsFlags::MS_STRICTATIME),
        "nosuid" => (false, MsFlags::MS_NOSUID),
        "nosymfollow" => (false, MS_NOSYMFOLLOW),
        "symfollow" => (true, MS_NOSYMFOLLOW),
        "rbind" => (false, MsFlags::MS_BIND | MsFlags::MS_REC),
        "relatime" => (false, MsFlags::MS_RELATIME),
        "remount" => (false, MsFlags::MS_REMOUNT),
        "ro" => (false, MsFlags::MS_RDONLY),
        "rw" => (true, MsFlags::MS_RDONLY),
        "silent" => (false, MsFlags::MS_SILENT),
        "strictatime" => (false, MsFlags::MS_STRICTATIME),
        "suid" => (true, MsFlags::MS_NOSUID),
        "sync" => (false, MsFlags::MS_SYNCHRONOUS),
        _ => return None,
    })
}

/// `(clear?, MOUNT_ATTR_*)` for the recursive words (`rro`, `rnosuid`, …).
pub fn recursive_word(opt: &str) -> Option<(bool, u64)> {
    const RDONLY: u64 = 0x1;
    const NOSUID: u64 = 0x2;
    const NODEV: u64 = 0x4;
    const NOEXEC: u64 = 0x8;
    const NOATIME: u64 = 0x10;
    const NODIRATIME: u64 = 0x80;
    const NOSYMFOLLOW: u64 = 0x0020_0000;
    Some(match opt {
        "rro" => (false, RDONLY),
        "rrw" => (true, RDONLY),
        "rnosuid" => (false, NOSUID),
        "rsuid" => (true, NOSUID),
        "rnodev" => (false, NODEV),
        "rdev" => (true, NODEV),
        "rnoexec" => (false, NOEXEC),
        "rexec" => (true, NOEXEC),
        "rnoatime" => (false, NOATIME),
        "ratime" => (true, NOATIME),
        "rnodiratime" => (false, NODIRATIME),
        "rdiratime" => (true, NODIRATIME),
        "rnosymfollow" => (false, NOSYMFOLLOW),
        "rsymfollow" => (true, NOSYMFOLLOW),
        _ => return None,
    })
}

/// The propagation flags for `private`, `rshared` and the like.
pub fn propagation_word(opt: &str) -> Option<MsFlags> {
    Some(match opt {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn splits_flags_propagation_and_data() {
        let o = parse(&s(&[
            "nosuid",
            "rbind",
            "ro",
            "rslave",
            "size=65536k",
            "mode=755",
        ]));
        assert!(o.is_bind());
        assert!(o
            .flags
            .contains(MsFlags::MS_REC | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID));
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
        assert_eq!(o.data, "size=65536k,mode=755");
        assert_eq!(o.remount_flags(), MsFlags::MS_RDONLY | MsFlags::MS_NOSUID);
    }

    #[test]
    fn later_words_win() {
        let o = parse(&s(&["ro", "rw", "noexec", "exec"]));
        assert!(o.flags.is_empty());
        let o = parse(&s(&["newinstance", "ptmxmode=0666", "gid=5"]));
        assert_eq!(o.data, "newinstance,ptmxmode=0666,gid=5");
    }
}
