//! `keel kill`: send a signal to the init process, or with `--all` to every
//! process of the container.

use std::os::unix::fs::MetadataExt;

use super::{load, Error, Globals};
use crate::signal::parse_signal;
use crate::state::{Status, StoredState};

/// Sends `signal` (a name or number) to the container.
pub fn kill(g: &Globals, id: &str, signal: &str, all: bool) -> Result<(), Error> {
    let sig = parse_signal(signal)?;
    let l = load(g, id)?;
    if matches!(l.status, Status::Stopped | Status::Creating) {
        return Err(Error::InvalidStatus {
            op: "kill",
            id: id.into(),
            status: l.status,
            hint: ": container not running",
        });
    }
    let pids = if all {
        container_pids(&l.state)
    } else {
        vec![l.state.pid]
    };
    for pid in pids {
        match crate::sys::kill_raw(pid, sig) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
            Err(e) => return Err(Error::io(format!("kill {pid}"))(e)),
        }
    }
    Ok(())
}

/// Every process of the container: all processes in init's pid namespace
/// when it has its own, otherwise init alone.
pub fn container_pids(state: &StoredState) -> Vec<i32> {
    let ns = |pid: i32| {
        std::fs::metadata(format!("/proc/{pid}/ns/pid"))
            .map(|m| m.ino())
            .ok()
    };
    let (Some(init_ns), Some(own_ns)) = (ns(state.pid), ns(std::process::id() as i32)) else {
        return vec![state.pid];
    };
    if init_ns == own_ns {
        return vec![state.pid];
    }
    let mut pids: Vec<i32> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|pid| ns(*pid) == Some(init_ns))
        .collect();
    pids.sort_unstable();
    pids
}
