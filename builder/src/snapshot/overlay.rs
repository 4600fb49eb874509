//! A step's root as an overlayfs mount, and whether overlayfs can be used.
//!
//! The mount is a guard: dropping it unmounts (lazily if the mount is
//! busy), so no error path leaves a mount behind. The options turn off the
//! overlay features the differ cannot read (`redirect_dir`, `metacopy`,
//! `index`) when the kernel has them.
//!
//! Must never mount anywhere but the target it is given.

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;

use super::SnapshotError;

/// How RUN steps get their root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotMode {
    /// An overlay of the unpacked layers; the upper dir is the change.
    Overlay,
    /// A copy of the tree, diffed against its recorded pre-state.
    Copy,
}

/// Whether overlayfs works here, probed once per process in `scratch`
/// (a directory on the store's filesystem). `HOIST_SNAPSHOTTER=copy` or
/// `=overlay` forces the choice.
pub fn overlay_usable(scratch: &Path) -> SnapshotMode {
    static MODE: OnceLock<SnapshotMode> = OnceLock::new();
    *MODE.get_or_init(|| match std::env::var("HOIST_SNAPSHOTTER").as_deref() {
        Ok("copy") => SnapshotMode::Copy,
        Ok("overlay") => SnapshotMode::Overlay,
        _ => match probe(scratch) {
            Ok(()) => SnapshotMode::Overlay,
            Err(e) => {
                tracing::warn!(error = %e, "overlayfs is not usable here: RUN steps copy the filesystem instead (slower)");
                SnapshotMode::Copy
            }
        },
    })
}

fn probe(scratch: &Path) -> Result<(), SnapshotError> {
    let dir = scratch.join(format!("overlay-probe-{}", std::process::id()));
    let res = (|| {
        let mk = |n: &str| -> Result<PathBuf, SnapshotError> {
            let p = dir.join(n);
            fs::create_dir_all(&p).map_err(SnapshotError::io(&p, "create an overlay probe dir"))?;
            Ok(p)
        };
        let (l1, l2, u, w, m) = (mk("l1")?, mk("l2")?, mk("u")?, mk("w")?, mk("m")?);
        fs::write(l2.join("f"), b"x").map_err(SnapshotError::io(&l2, "write a probe file"))?;
        let mnt = OverlayMount::mount(&[l1, l2], &u, &w, &m)?;
        fs::remove_file(m.join("f"))
            .map_err(SnapshotError::io(&m, "delete through the overlay"))?;
        mnt.unmount()
    })();
    let _ = fs::remove_dir_all(&dir);
    res
}

/// Extra options: the features that would hide changes from the differ.
fn feature_options() -> &'static [&'static str] {
    static OPTS: OnceLock<Vec<&'static str>> = OnceLock::new();
    OPTS.get_or_init(|| {
        let params = Path::new("/sys/module/overlay/parameters");
        [
            ("redirect_dir", "redirect_dir=off"),
            ("metacopy", "metacopy=off"),
            ("index", "index=off"),
        ]
        .iter()
        .filter(|(p, _)| params.join(p).exists())
        .map(|(_, o)| *o)
        .collect()
    })
}

/// A mounted overlay; unmounted on drop.
#[derive(Debug)]
pub struct OverlayMount {
    target: PathBuf,
    mounted: bool,
}

impl OverlayMount {
    /// Mounts `lowers` (top first, at least one), `upper` and `work` at
    /// `target`.
    pub fn mount(
        lowers: &[PathBuf],
        upper: &Path,
        work: &Path,
        target: &Path,
    ) -> Result<OverlayMount, SnapshotError> {
        let join = |ls: &[String]| ls.join(":");
        let plain: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
        let extra: String = feature_options().iter().map(|o| format!(",{o}")).collect();
        let tail = format!(
            ",upperdir={},workdir={}{extra}",
            upper.display(),
            work.display()
        );
        let mut options = format!("lowerdir={}{tail}", join(&plain));
        // The options must fit in a page: with many layers, name the lower
        // dirs through short /proc/self/fd paths (kept open until mounted).
        let mut _fds: Vec<OwnedFd> = Vec::new();
        if options.len() > 3800 {
            let mut short = Vec::new();
            for l in lowers {
                let fd = open(
                    l.as_path(),
                    OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| SnapshotError::Io {
                    path: l.clone(),
                    what: "open a lower dir",
                    source: e.into(),
                })?;
                short.push(format!("/proc/self/fd/{}", fd.as_raw_fd()));
                _fds.push(fd);
            }
            options = format!("lowerdir={}{tail}", join(&short));
        }
        mount(
            Some("overlay"),
            target,
            Some("overlay"),
            MsFlags::empty(),
            Some(options.as_str()),
        )
        .map_err(|source| SnapshotError::Mount {
            target: target.to_owned(),
            options: options.clone(),
            source,
        })?;
        Ok(OverlayMount {
            target: target.to_owned(),
            mounted: true,
        })
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Unmounts now, reporting a failure (drop would only log it).
    pub fn unmount(mut self) -> Result<(), SnapshotError> {
        self.mounted = false;
        unmount_path(&self.target)
    }
}

/// Unmounts `target`, lazily if it is busy.
pub(crate) fn unmount_path(target: &Path) -> Result<(), SnapshotError> {
    match umount2(target, MntFlags::empty()) {
        Ok(()) => Ok(()),
        Err(nix::Error::EBUSY) => {
            umount2(target, MntFlags::MNT_DETACH).map_err(|e| SnapshotError::Io {
                path: target.to_owned(),
                what: "unmount",
                source: e.into(),
            })
        }
        Err(e) => Err(SnapshotError::Io {
            path: target.to_owned(),
            what: "unmount",
            source: e.into(),
        }),
    }
}

impl Drop for OverlayMount {
    fn drop(&mut self) {
        if self.mounted {
            self.mounted = false;
            if let Err(e) = unmount_path(&self.target) {
                tracing::warn!(error = %e, "could not unmount a RUN step's root");
            }
        }
    }
}
