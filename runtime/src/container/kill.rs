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
    if !all {
        return send(&[l.state.pid], sig);
    }
    signal_all(&l.state, sig)
}

fn send(pids: &[i32], sig: i32) -> Result<(), Error> {
    for &pid in pids {
        match crate::sys::kill_raw(pid, sig) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
            Err(e) => return Err(Error::io(format!("kill {pid}"))(e)),
        }
    }
    Ok(())
}

/// Signals every process of the container. With a cgroup: freeze it so no
/// process can fork away, signal every pid in it, thaw (runc's pattern).
pub fn signal_all(state: &StoredState, sig: i32) -> Result<(), Error> {
    let Some(cg) = super::cgroup_of(state)? else {
        return send(&container_pids(state), sig);
    };
    let frozen = cg.freeze().is_ok();
    let res = cg
        .pids()
        .map_err(Error::from)
        .and_then(|pids| send(&pids, sig));
    if frozen {
        cg.thaw()?;
    }
    res
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
