//! OOM notification without threads: an fd the caller polls alongside its
//! other fds, and a non-blocking [`OomWatcher::check`] to call when it is
//! readable.
//!
//! On v1 the fd is an eventfd registered for `memory.oom_control` through
//! `cgroup.event_control`; the kernel signals it on every OOM in the cgroup,
//! and once more when the cgroup is removed. On v2 it is an inotify watch
//! on `memory.events`, whose `oom_kill` counter is re-read on each wake-up.
//! For a one-off answer, re-read the counter with
//! [`super::Manager::oom_kill_count`] instead.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::error::{Error, Result};
use super::stats::parse_kv;
use super::sys;

/// What a [`OomWatcher::check`] saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OomCheck {
    /// OOM events since the previous check (v1: OOM notifications; v2: new
    /// `oom_kill` count).
    pub ooms: u64,
    /// The cgroup is gone; stop polling.
    pub gone: bool,
}

enum Kind {
    V1 { dir: PathBuf },
    V2 { events: PathBuf, last: Cell<u64> },
}

/// A pollable source of OOM events for one cgroup.
pub struct OomWatcher {
    fd: File,
    kind: Kind,
}

impl AsFd for OomWatcher {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl OomWatcher {
    /// Registers an eventfd for OOM notifications of the v1 memory cgroup
    /// `dir`.
    pub(crate) fn v1(dir: &Path) -> Result<OomWatcher> {
        let err = |source| Error::Oom {
            path: dir.to_path_buf(),
            source,
        };
        let efd: OwnedFd = sys::eventfd().map_err(err)?;
        let control = File::open(dir.join("memory.oom_control")).map_err(err)?;
        let line = format!("{} {}", efd.as_raw_fd(), control.as_raw_fd());
        std::fs::write(dir.join("cgroup.event_control"), line).map_err(err)?;
        Ok(OomWatcher {
            fd: File::from(efd),
            kind: Kind::V1 {
                dir: dir.to_path_buf(),
            },
        })
    }

    /// Watches the v2 cgroup `dir`'s `memory.events`.
    pub(crate) fn v2(dir: &Path) -> Result<OomWatcher> {
        let events = dir.join("memory.events");
        let err = |source| Error::Oom {
            path: dir.to_path_buf(),
            source,
        };
        let fd = sys::inotify_watch(
            &events,
            libc::IN_MODIFY | libc::IN_DELETE_SELF | libc::IN_IGNORED,
        )
        .map_err(err)?;
        let last = read_oom_kill(&events).map_err(err)?.unwrap_or(0);
        Ok(OomWatcher {
            fd: File::from(fd),
            kind: Kind::V2 {
                events,
                last: Cell::new(last),
            },
        })
    }

    /// Drains the fd without blocking and reports what happened. Takes
    /// `&self`, so the fd can stay borrowed in a poll set.
    pub fn check(&self) -> Result<OomCheck> {
        let mut buf = [0u8; 4096];
        let mut woke = 0u64;
        loop {
            match (&self.fd).read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if let Kind::V1 { .. } = self.kind {
                        if n >= 8 {
                            let mut c = [0u8; 8];
                            c.copy_from_slice(&buf[..8]);
                            woke = woke.saturating_add(u64::from_ne_bytes(c));
                        }
                    } else {
                        woke += 1;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(Error::Oom {
                        path: self.path().to_path_buf(),
                        source,
                    })
                }
            }
            if let Kind::V1 { .. } = self.kind {
                // An eventfd read returns the whole count at once.
                break;
            }
        }
        match &self.kind {
            Kind::V1 { dir } => {
                let gone = !dir.join("memory.oom_control").exists();
                // Removing the cgroup signals the eventfd once more.
                let ooms = if gone { woke.saturating_sub(1) } else { woke };
                Ok(OomCheck { ooms, gone })
            }
            Kind::V2 { events, last } => {
                let err = |source| Error::Oom {
                    path: events.clone(),
                    source,
                };
                match read_oom_kill(events).map_err(err)? {
                    None => Ok(OomCheck {
                        ooms: 0,
                        gone: true,
                    }),
                    Some(n) => {
                        let ooms = n.saturating_sub(last.get());
                        last.set(n);
                        Ok(OomCheck { ooms, gone: false })
                    }
                }
            }
        }
    }

    fn path(&self) -> &Path {
        match &self.kind {
            Kind::V1 { dir } => dir,
            Kind::V2 { events, .. } => events,
        }
    }
}

/// The `oom_kill` counter of a `memory.events` or `memory.oom_control`
/// file; `None` when the file is gone.
fn read_oom_kill(path: &Path) -> io::Result<Option<u64>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(parse_kv(&t).get("oom_kill").copied().unwrap_or(0))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(e),
    }
}
