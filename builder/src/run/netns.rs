//! `RUN --network=none`: a new network namespace holding only a loopback
//! interface that is up (runtimes create the namespace but leave `lo`
//! down). A helper thread unshares its network namespace, sets `lo` up and
//! bind-mounts the namespace onto a file in the step's scratch dir; the
//! bundle joins it by path, so it works with any runtime.
//!
//! The bind mount is a guard: dropped, it is unmounted (lazily) and the
//! file removed. Must never change the network namespace of any thread but
//! its own helper.

use std::fs;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};

use super::RunError;

/// A network namespace pinned by a bind mount.
#[derive(Debug)]
pub struct NetNs {
    path: PathBuf,
    mounted: bool,
}

impl NetNs {
    /// Creates the namespace and pins it at `path` (a new file).
    pub fn create(path: &Path) -> Result<NetNs, RunError> {
        let err = |what: &'static str| {
            let path = path.to_owned();
            move |e: std::io::Error| RunError::Io {
                path,
                what,
                source: e,
            }
        };
        fs::File::create(path).map_err(err("create the network namespace file"))?;
        let mut ns = NetNs {
            path: path.to_owned(),
            mounted: false,
        };
        let target = path.to_owned();
        let res = std::thread::spawn(move || -> std::io::Result<()> {
            unshare(CloneFlags::CLONE_NEWNET)?;
            super::sys::loopback_up()?;
            mount(
                Some("/proc/thread-self/ns/net"),
                &target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )?;
            Ok(())
        })
        .join()
        .unwrap_or_else(|_| {
            Err(std::io::Error::other(
                "the network namespace thread panicked",
            ))
        });
        res.map_err(err("create a network namespace with loopback up"))?;
        ns.mounted = true;
        Ok(ns)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if self.mounted {
            if let Err(e) = umount2(&self.path, MntFlags::MNT_DETACH) {
                tracing::warn!(path = %self.path.display(), error = %e, "could not unmount a network namespace");
            }
        }
        let _ = fs::remove_file(&self.path);
    }
}
