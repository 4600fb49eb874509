//! Device nodes in the container's `/dev`: the defaults every runtime
//! provides, `linux.devices`, and the `/dev/fd`, `/dev/std*` and `/dev/ptmx`
//! links. In a user namespace nodes cannot be made, so the host's node is
//! bind-mounted onto an empty file instead, as runc does.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::AtFlags;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{makedev, mknodat, Mode, SFlag};
use nix::unistd::{fchownat, Gid, Uid};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::resolve::{ensure_in_root, fd_path, Kind};
use super::MountError;

/// One node to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub path: PathBuf,
    pub kind: SFlag,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The devices runc always creates.
pub fn defaults() -> Vec<Node> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .into_iter()
    .map(|(n, major, minor)| Node {
        path: PathBuf::from("/dev").join(n),
        kind: SFlag::S_IFCHR,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

/// Converts a `linux.devices` entry.
pub fn from_spec(index: usize, d: &LinuxDevice) -> Result<Node, MountError> {
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => {
            return Err(MountError::Step {
                what: "linux.devices type",
                path: format!("linux.devices[{index}] {}", d.path().display()).into(),
                source: io::Error::new(io::ErrorKind::InvalidInput, "type must be c, b, u or p"),
            })
        }
    };
    Ok(Node {
        path: d.path().clone(),
        kind,
        major: d.major() as u64,
        minor: d.minor() as u64,
        mode: d.file_mode().unwrap_or(0o666) & 0o7777,
        uid: d.uid().unwrap_or(0),
        gid: d.gid().unwrap_or(0),
    })
}

pub fn create_default(root: BorrowedFd<'_>, userns: bool) -> Result<(), MountError> {
    for n in defaults() {
        create(root, &n, userns)?;
    }
    Ok(())
}

pub fn create_configured(
    root: BorrowedFd<'_>,
    devs: &[LinuxDevice],
    userns: bool,
) -> Result<(), MountError> {
    for (i, d) in devs.iter().enumerate() {
        create(root, &from_spec(i, d)?, userns)?;
    }
    Ok(())
}

fn create(root: BorrowedFd<'_>, n: &Node, userns: bool) -> Result<(), MountError> {
    let err = |source: io::Error| MountError::Step {
        what: "create device",
        path: n.path.clone(),
        source,
    };
    let parent_path = n.path.parent().unwrap_or(Path::new("/"));
    let name = n
        .path
        .file_name()
        .ok_or_else(|| err(io::Error::from(io::ErrorKind::InvalidInput)))?;
    let parent = ensure_in_root(root, parent_path, Kind::Dir).map_err(err)?;
    // Replace whatever the image had there.
    let _ = nix::unistd::unlinkat(
        parent.as_fd(),
        name,
        nix::unistd::UnlinkatFlags::NoRemoveDir,
    );
    if userns {
        let target = ensure_in_root(root, &n.path, Kind::File).map_err(err)?;
        return mount(
            Some(&n.path),
            &fd_path(&target),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| err(e.into()));
    }
    mknodat(
        parent.as_fd(),
        name,
        n.kind,
        Mode::from_bits_truncate(n.mode),
        makedev(n.major, n.minor),
    )
    .map_err(|e| err(e.into()))?;
    fchownat(
        parent.as_fd(),
        name,
        Some(Uid::from_raw(n.uid)),
        Some(Gid::from_raw(n.gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(|e| err(e.into()))
}

/// `/dev/fd`, `/dev/stdin`, `/dev/stdout`, `/dev/stderr`, `/dev/core` and `/dev/ptmx`.
pub fn create_links(root: BorrowedFd<'_>) -> Result<(), MountError> {
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    let dev =
        ensure_in_root(root, Path::new("/dev"), Kind::Dir).map_err(|source| MountError::Step {
            what: "create",
            path: "/dev".into(),
            source,
        })?;
    let err = |name: &str| {
        let path = PathBuf::from("/dev").join(name);
        move |e: nix::Error| MountError::Step {
            what: "create link",
            path,
            source: e.into(),
        }
    };
    for (target, name) in links {
        match nix::unistd::symlinkat(target, dev.as_fd(), name) {
            Ok(()) | Err(nix::Error::EEXIST) => {}
            Err(e) => return Err(err(name)(e)),
        }
    }
    match nix::unistd::unlinkat(dev.as_fd(), "ptmx", nix::unistd::UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(nix::Error::ENOENT) => {}
        Err(e) => return Err(err("ptmx")(e)),
    }
    nix::unistd::symlinkat("pts/ptmx", dev.as_fd(), "ptmx").map_err(err("ptmx"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceBuilder;

    #[test]
    fn defaults_are_runcs() {
        let d = defaults();
        assert_eq!(d.len(), 6);
        assert!(d.iter().all(|n| n.mode == 0o666));
        assert_eq!(d[0].path, PathBuf::from("/dev/null"));
    }

    #[test]
    fn spec_devices_convert() {
        let d = LinuxDeviceBuilder::default()
            .path("/dev/fuse")
            .typ(LinuxDeviceType::C)
            .major(10)
            .minor(229)
            .file_mode(0o20666u32)
            .uid(1u32)
            .build()
            .unwrap();
        let n = from_spec(0, &d).unwrap();
        assert_eq!((n.major, n.minor, n.mode, n.uid), (10, 229, 0o666, 1));
        let bad = LinuxDeviceBuilder::default()
            .path("/dev/x")
            .typ(LinuxDeviceType::A)
            .build()
            .unwrap();
        assert!(from_spec(3, &bad).is_err());
    }
}
