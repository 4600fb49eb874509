//! The container's root filesystem: mounts in the order given, devices and
//! their links, `pivot_root`, masked and read-only paths.
//!
//! Runs inside the container's new mount namespace. Every destination is
//! resolved with [`resolve`] so that no symlink in the rootfs can make a
//! mount land outside it. Must never touch the host's mount table: the first
//! step makes every mount a slave, so nothing propagates back.

pub mod cgroupfs;
pub mod devices;
pub mod options;
pub mod resolve;

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::statvfs::{statvfs, FsFlags};
use oci_spec::runtime::{Mount, Spec};

use self::options::MountOptions;
use self::resolve::{ensure_in_root, fd_path, open_in_root, Kind};

/// A failed step of the rootfs setup, naming the config entry.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("mounts[{index}] ({destination}): {op}: {source}")]
    Mount {
        index: usize,
        destination: PathBuf,
        op: String,
        source: io::Error,
    },
    #[error("{what} {path}: {source}")]
    Step {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

fn step(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(nix::Error) -> MountError {
    let path = path.into();
    move |e| MountError::Step {
        what,
        path,
        source: e.into(),
    }
}

/// Everything the rootfs setup needs to know.
#[derive(Debug)]
pub struct Rootfs<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    /// In a new user namespace: devices are bind-mounted, not created.
    pub userns: bool,
    /// A new cgroup namespace: cgroup filesystems are mounted, not bound.
    pub cgroupns: bool,
}

impl Rootfs<'_> {
    fn mounts(&self) -> &[Mount] {
        self.spec.mounts().as_deref().unwrap_or(&[])
    }

    /// Before the createRuntime hooks: all mounts and devices, still below
    /// the host's root. Returns an O_PATH fd of the new root.
    pub fn prepare(&self) -> Result<OwnedFd, MountError> {
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(step("make mounts slave", "/"))?;
        mount(
            Some(self.rootfs),
            self.rootfs,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(step("bind rootfs", self.rootfs))?;
        let root: OwnedFd = std::fs::File::open(self.rootfs)
            .map_err(|source| MountError::Step {
                what: "open rootfs",
                path: self.rootfs.into(),
                source,
            })?
            .into();
        for (index, m) in self.mounts().iter().enumerate() {
            self.mount_one(&root, index, m)?;
        }
        if !self.dev_is_bound() {
            devices::create_default(root.as_fd(), self.userns)?;
            devices::create_links(root.as_fd())?;
        }
        let devs = self
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.devices().clone())
            .unwrap_or_default();
        devices::create_configured(root.as_fd(), &devs, self.userns)?;
        Ok(root)
    }

    /// True if `/dev` comes from a bind mount, in which case runc creates no devices.
    fn dev_is_bound(&self) -> bool {
        self.mounts().iter().any(|m| {
            m.destination() == Path::new("/dev")
                && options::parse(m.options().as_deref().unwrap_or(&[])).is_bind()
        })
    }

    fn mount_one(&self, root: &OwnedFd, index: usize, m: &Mount) -> Result<(), MountError> {
        let dest = m.destination();
        let err = |op: &str| {
            let op = op.to_string();
            move |e: io::Error| MountError::Mount {
                index,
                destination: dest.clone(),
                op,
                source: e,
            }
        };
        let opts = options::parse(m.options().as_deref().unwrap_or(&[]));
        let typ = m.typ().as_deref().unwrap_or("");
        if typ == "cgroup" {
            return cgroupfs::mount_cgroup(root.as_fd(), dest, &opts, self.cgroupns)
                .map_err(err("mount cgroup"));
        }
        if opts.is_bind() {
            return self.bind_one(root, m, &opts).map_err(err("bind mount"));
        }
        let target =
            ensure_in_root(root.as_fd(), dest, Kind::Dir).map_err(err("resolve destination"))?;
        let source = m
            .source()
            .as_ref()
            .map(|s| s.as_os_str())
            .unwrap_or("none".as_ref());
        let mut data = opts.data.clone();
        if let Some(label) = self
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.mount_label().as_deref())
        {
            // SELinux: label what we mount (validated: only when SELinux is on).
            if !label.is_empty() && !matches!(typ, "proc" | "sysfs" | "mqueue") {
                data = if data.is_empty() {
                    format!("context={label:?}")
                } else {
                    format!("{data},context={label:?}")
                };
            }
        }
        let data = (!data.is_empty()).then_some(data.as_str());
        let flags = opts.flags.difference(MsFlags::MS_REMOUNT);
        let res = mount(Some(source), &fd_path(&target), Some(typ), flags, data);
        match res {
            Err(nix::Error::EPERM) if typ == "sysfs" => {
                // No new network namespace in a user namespace: bind the host's /sys, as runc does.
                let o = MountOptions {
                    flags: opts.flags | MsFlags::MS_BIND | MsFlags::MS_REC,
                    ..opts.clone()
                };
                bind_at(Path::new("/sys"), root, dest, &target, &o).map_err(err("bind /sys"))?;
            }
            other => other.map_err(|e| err(&format!("mount {typ}"))(e.into()))?,
        }
        drop(target);
        apply_propagation(root, dest, &opts).map_err(err("set propagation"))
    }

    fn bind_one(&self, root: &OwnedFd, m: &Mount, opts: &MountOptions) -> io::Result<()> {
        let src = m.source().clone().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "a bind mount needs a source")
        })?;
        let src = if src.is_absolute() {
            src
        } else {
            self.bundle.join(src)
        };
        let meta = std::fs::metadata(&src)
            .map_err(|e| io::Error::new(e.kind(), format!("source {}: {e}", src.display())))?;
        let kind = if meta.is_dir() { Kind::Dir } else { Kind::File };
        let target = ensure_in_root(root.as_fd(), m.destination(), kind)?;
        bind_at(&src, root, m.destination(), &target, opts)?;
        drop(target);
        apply_propagation(root, m.destination(), opts)
    }

    /// Moves into the new root: pivot_root, or MS_MOVE plus chroot with `--no-pivot`.
    pub fn enter(&self, root: OwnedFd, no_pivot: bool) -> Result<(), MountError> {
        nix::unistd::fchdir(root.as_fd()).map_err(step("chdir to rootfs", self.rootfs))?;
        drop(root);
        if no_pivot {
            mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
                .map_err(step("move rootfs to /", self.rootfs))?;
            nix::unistd::chroot(".").map_err(step("chroot", self.rootfs))?;
        } else {
            nix::unistd::pivot_root(".", ".").map_err(step("pivot_root", self.rootfs))?;
            // The old root now sits on top of ".". It is already a slave (the
            // first step of `prepare`), so detaching it cannot reach the host.
            // Making "." a slave here would hit the new root instead and undo
            // the propagation the config asked for.
            umount2(".", MntFlags::MNT_DETACH).map_err(step("unmount old root", "/"))?;
        }
        nix::unistd::chdir("/").map_err(step("chdir", "/"))?;
        Ok(())
    }

    /// After pivot_root: masked and read-only paths (sysctl must be written first).
    pub fn protect_paths(&self) -> Result<(), MountError> {
        let Some(linux) = self.spec.linux() else {
            return Ok(());
        };
        for p in linux.masked_paths().iter().flatten() {
            mask_path(Path::new(p))?;
        }
        for p in linux.readonly_paths().iter().flatten() {
            readonly_path(Path::new(p))?;
        }
        Ok(())
    }

    /// Last step: root propagation and `root.readonly`.
    pub fn finish(&self) -> Result<(), MountError> {
        if let Some(p) = self
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.rootfs_propagation().clone())
        {
            let flag = options::propagation_word(&p).ok_or_else(|| MountError::Step {
                what: "linux.rootfsPropagation",
                path: PathBuf::from(&p),
                source: io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "use shared, slave, private or unbindable",
                ),
            })?;
            mount(
                None::<&str>,
                "/",
                None::<&str>,
                flag | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(step("set rootfsPropagation", "/"))?;
        }
        if self
            .spec
            .root()
            .as_ref()
            .and_then(|r| r.readonly())
            .unwrap_or(false)
        {
            let flags = MsFlags::MS_BIND
                | MsFlags::MS_REMOUNT
                | MsFlags::MS_RDONLY
                | locked_flags(Path::new("/"));
            mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
                .map_err(step("remount root read-only", "/"))?;
        }
        Ok(())
    }
}

/// Bind-mounts `src` onto the resolved `target` (which is `dest` in `root`),
/// then remounts the new mount for its flags.
fn bind_at(
    src: &Path,
    root: &OwnedFd,
    dest: &Path,
    target: &OwnedFd,
    opts: &MountOptions,
) -> io::Result<()> {
    let bind = MsFlags::MS_BIND | (opts.flags & MsFlags::MS_REC);
    mount(
        Some(src),
        &fd_path(target),
        None::<&str>,
        bind,
        None::<&str>,
    )?;
    let extra = opts.remount_flags();
    if !extra.is_empty() {
        // `target` names the directory under the new mount: resolve again to reach its root.
        let top = open_in_root(root.as_fd(), dest)?;
        let path = fd_path(&top);
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | extra;
        match mount(None::<&str>, &path, None::<&str>, flags, None::<&str>) {
            Err(nix::Error::EPERM) => {
                // In a user namespace the source's nosuid/nodev/noexec are locked: keep them.
                let flags = flags | locked_flags(&path);
                mount(None::<&str>, &path, None::<&str>, flags, None::<&str>)?;
            }
            other => other?,
        }
    }
    Ok(())
}

fn apply_propagation(root: &OwnedFd, dest: &Path, opts: &MountOptions) -> io::Result<()> {
    if opts.rec_set != 0 || opts.rec_clr != 0 {
        let top = open_in_root(root.as_fd(), dest)?;
        let attr = crate::sys::MountAttr {
            attr_set: opts.rec_set,
            attr_clr: opts.rec_clr,
            ..Default::default()
        };
        crate::sys::mount_setattr(top.as_fd(), true, &attr)?;
    }
    if opts.propagation.is_empty() {
        return Ok(());
    }
    let target = open_in_root(root.as_fd(), dest)?;
    for p in &opts.propagation {
        mount(
            None::<&str>,
            &fd_path(&target),
            None::<&str>,
            *p,
            None::<&str>,
        )?;
    }
    Ok(())
}

/// The flags of the mount at `path` that a bind remount must keep.
fn locked_flags(path: &Path) -> MsFlags {
    let mut f = MsFlags::empty();
    if let Ok(st) = statvfs(path) {
        let fl = st.flags();
        for (from, to) in [
            (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
            (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
            (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
            (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
            (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
            (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
        ] {
            if fl.contains(from) {
                f |= to;
            }
        }
    }
    f
}

fn mask_path(p: &Path) -> Result<(), MountError> {
    let meta = match std::fs::symlink_metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(MountError::Step {
                what: "linux.maskedPaths",
                path: p.into(),
                source,
            })
        }
    };
    let res = if meta.is_dir() {
        mount(
            Some("tmpfs"),
            p,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None::<&str>,
        )
    } else {
        mount(
            Some("/dev/null"),
            p,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
    };
    res.map_err(step("linux.maskedPaths", p))
}

fn readonly_path(p: &Path) -> Result<(), MountError> {
    match std::fs::symlink_metadata(p) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(MountError::Step {
                what: "linux.readonlyPaths",
                path: p.into(),
                source,
            })
        }
    }
    mount(
        Some(p),
        p,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(step("linux.readonlyPaths", p))?;
    let flags = MsFlags::MS_BIND
        | MsFlags::MS_REMOUNT
        | MsFlags::MS_RDONLY
        | MsFlags::MS_REC
        | locked_flags(p);
    mount(None::<&str>, p, None::<&str>, flags, None::<&str>)
        .map_err(step("linux.readonlyPaths", p))
}
