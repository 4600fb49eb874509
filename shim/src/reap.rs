//! Reaping as a child subreaper: every process of the container that is
//! orphaned is reparented to the shim, so `waitpid(-1)` collects them all,
//! and the container's init is told apart by its pid.
//!
//! This owns all of the process's children: a library caller must not have
//! children of its own that it wants to wait for (keel-shim is one process
//! per container for this reason).

use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::status::Termination;

/// The pid and termination a wait status reports, for exits and signal
/// deaths only (stops and continues are not ends).
pub fn ended(ws: WaitStatus) -> Option<(i32, Termination)> {
    match ws {
        WaitStatus::Exited(p, c) => Some((p.as_raw(), Termination::Exited(c))),
        WaitStatus::Signaled(p, s, _) => Some((p.as_raw(), Termination::Signaled(s as i32))),
        _ => None,
    }
}

/// The result of one non-blocking sweep.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    /// How `init` ended, if it was reaped in this sweep.
    pub init: Option<Termination>,
    /// Other processes reaped.
    pub others: usize,
    /// No children are left at all (ECHILD).
    pub none_left: bool,
}

/// Reaps every child that has ended, without blocking.
pub fn sweep(init: i32) -> Sweep {
    let mut s = Sweep::default();
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => return s,
            Ok(ws) => match ended(ws) {
                Some((pid, t)) if pid == init => s.init = Some(t),
                Some((pid, t)) => {
                    tracing::debug!(pid, ?t, "reaped an orphan");
                    s.others += 1;
                }
                None => {}
            },
            Err(Errno::EINTR) => {}
            Err(_) => {
                s.none_left = true;
                return s;
            }
        }
    }
}

/// Our children, from `/proc/self/task/*/children`.
pub fn children() -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for t in tasks.flatten() {
        if let Ok(text) = std::fs::read_to_string(t.path().join("children")) {
            out.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
    }
    out
}

/// After the container is deleted: reap what is left, waiting up to
/// `patience` for orphans to end by themselves (the runtime's delete kills
/// the container's processes), then SIGKILL the rest and reap them. Returns
/// how many were killed here.
pub fn reap_leftovers(init: i32, patience: Duration, mut wait_chld: impl FnMut(Duration)) -> usize {
    let deadline = Instant::now() + patience;
    loop {
        if sweep(init).none_left {
            return 0;
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        wait_chld((deadline - now).min(Duration::from_millis(100)));
    }
    let left = children();
    for &pid in &left {
        tracing::warn!(pid, "killing a leftover process of the container");
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while !sweep(init).none_left && Instant::now() < deadline {
        wait_chld(Duration::from_millis(20));
    }
    left.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_statuses() {
        let p = Pid::from_raw(7);
        assert_eq!(
            ended(WaitStatus::Exited(p, 3)),
            Some((7, Termination::Exited(3)))
        );
        assert_eq!(
            ended(WaitStatus::Signaled(p, Signal::SIGKILL, false)),
            Some((7, Termination::Signaled(9)))
        );
        assert_eq!(ended(WaitStatus::Stopped(p, Signal::SIGSTOP)), None);
        assert_eq!(ended(WaitStatus::Continued(p)), None);
        assert_eq!(ended(WaitStatus::StillAlive), None);
    }
}
