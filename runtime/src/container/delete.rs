//! `keel delete`: remove a stopped container's resources, then run the
//! poststop hooks.
//!
//! Deliberate difference from runc: per runtime-spec, deleting a container
//! that is not `stopped` (including `created`) fails unless `--force` is
//! given. runc and crun silently kill a `created` container instead.

use std::time::{Duration, Instant};

use super::{cgroup_of, hook_state, kill::signal_all, load, Error, Globals};
use crate::hooks::run_hooks;
use crate::state::{StateError, Status};

/// Deletes the container.
pub fn delete(g: &Globals, id: &str, force: bool) -> Result<(), Error> {
    let l = match load(g, id) {
        Err(Error::State(StateError::NotFound { .. })) if force => return Ok(()),
        other => other?,
    };
    match l.status {
        Status::Stopped => {}
        Status::Creating if !l.state.init_alive() => {}
        s if !force => {
            return Err(Error::InvalidStatus {
                op: "delete",
                id: id.into(),
                status: s,
                hint: "; stop it first or use --force",
            })
        }
        _ => {
            signal_all(&l.state, libc::SIGKILL)?;
            wait_stopped(&l.state, Duration::from_secs(10))?;
        }
    }
    let state = l.state;
    if let Some(cg) = cgroup_of(&state)? {
        // Processes the init left behind (no pid namespace) die with it.
        if cg.pids().is_ok_and(|p| !p.is_empty()) {
            signal_all(&state, libc::SIGKILL)?;
        }
        cg.destroy()?;
    }
    l.dir.remove()?;
    if let Some(h) = state
        .config
        .hooks()
        .as_ref()
        .and_then(|h| h.poststop().clone())
    {
        if let Err(e) = run_hooks("poststop", &h, &hook_state(&state, Status::Stopped)) {
            tracing::warn!("{e}");
        }
    }
    Ok(())
}

fn wait_stopped(state: &crate::state::StoredState, limit: Duration) -> Result<(), Error> {
    let deadline = Instant::now() + limit;
    let mut nap = Duration::from_micros(100);
    while state.init_alive() {
        if Instant::now() > deadline {
            return Err(Error::Init(format!(
                "container {} init {} did not die after SIGKILL",
                state.id, state.pid
            )));
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(10));
    }
    Ok(())
}
